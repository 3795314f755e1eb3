"""PyInstaller runtime hook: make ``sounddevice`` load the PortAudio library inside the bundle.

On Linux ``sounddevice`` asks ``ctypes.util.find_library("portaudio")``, which only consults the
system's linker cache and never looks inside the bundle, so the bundled ``libportaudio.so.2`` would
go unused (and the app would have no playback on a machine without PortAudio). This hook runs before
the app's code and answers that one question with the bundled copy. macOS and Windows builds use the
library shipped inside ``_sounddevice_data`` and need nothing here.
"""

import ctypes.util
import os
import sys


def _install() -> None:
    bundled = os.path.join(getattr(sys, "_MEIPASS", ""), "libportaudio.so.2")
    if not (sys.platform.startswith("linux") and os.path.isfile(bundled)):
        return
    system_find = ctypes.util.find_library

    def find_library(name):
        return bundled if name == "portaudio" else system_find(name)

    ctypes.util.find_library = find_library


_install()
