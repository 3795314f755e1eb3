"""Entry point of the bundled app (PyInstaller runs this file as ``__main__``).

``simdps-studio`` or ``simdps-studio FILE`` opens the window, ``simdps-studio COMMAND ...`` runs
the command-line interface: :func:`simdps_studio.cli.main` dispatches exactly as the installed
console script does.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable


def run(entry: Callable[[], int] | None = None) -> int:
    """Run the CLI's ``main`` (or ``entry``) and return its exit status.

    The bundle leaves some packages out (music21, matplotlib, ...: see simdps-studio.spec). A
    feature that imports one of them late, e.g. ``data render-piano``, gets the CLI's one-line
    ``error:`` (exit status 1) instead of a traceback.
    """
    if entry is None:
        from simdps_studio.cli import main as entry
    try:
        return entry()
    except ModuleNotFoundError as e:
        package = (e.name or "?").split(".")[0]
        print(
            f"error: this feature needs the Python package {package!r}, which the bundled app "
            "does not include (use a source checkout: see packaging/README.md)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    # Worker processes of a frozen app re-run this executable; this lets them do their job and exit
    # (needed where multiprocessing spawns, i.e. Windows and macOS).
    multiprocessing.freeze_support()
    sys.exit(run())
