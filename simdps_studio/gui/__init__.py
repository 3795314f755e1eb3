"""The desktop app (PySide6 + pyqtgraph): the only package that imports Qt.

Start it with :func:`simdps_studio.gui.app.run_app` (``simdps-studio [FILE]``).

PySide6 is pinned below 6.12: 6.12.0 loses a reference to ``True``/``None`` on every Python-side
``Signal.emit`` and Python 3.11 aborts after a few thousand emits (seen here with the progress and
playhead signals).
"""
