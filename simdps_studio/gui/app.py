"""Start the desktop app: ``simdps-studio [FILE]`` calls :func:`run_app`."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QSettings, QTimer
from PySide6.QtWidgets import QApplication

from simdps_studio import __version__

ORGANIZATION = "SimDPS"
APPLICATION = "SimDPS Studio"
#: Printed to stderr once the window is up and the file it was started with has loaded (or
#: failed to); packaging/smoke_test.py waits for it.
READY_LINE = "simdps-studio: ready"
_THEMED = "simdps_themed"


def create_app(argv: list[str] | None = None) -> QApplication:
    """The QApplication, themed (created and themed once; reused when one exists)."""
    from simdps_studio.gui.theme import apply_theme, icon

    app = QApplication.instance()
    if app is None:
        QCoreApplication.setOrganizationName(ORGANIZATION)
        QCoreApplication.setApplicationName(APPLICATION)
        QCoreApplication.setApplicationVersion(__version__)
        app = QApplication(argv if argv is not None else sys.argv[:1])
    # Theme once: setStyle() on a live app deletes the old QStyle while widgets awaiting
    # deleteLater still point at it, which crashed a later window (a segfault in CI).
    if not app.property(_THEMED):
        apply_theme(app)
        app.setWindowIcon(icon("simdps-studio"))
        app.setProperty(_THEMED, True)
    return app


def run_app(path: str | os.PathLike | None = None) -> int:
    """Open the main window (with ``path`` when given) and run the event loop.

    Returns
    -------
    int
        The application's exit status (0 after a normal quit).
    """
    from simdps_studio.gui.mainwindow import MainWindow

    app = create_app()
    window = MainWindow(QSettings())
    window.show()
    _close_on_signals(app, window)

    def start() -> None:
        ready = _ready_announcer(window)
        recovered = window.offer_recovery()
        if path is not None and not recovered:
            window.open_path(Path(path))
            if not window.runner.running("open"):  # refused at once, e.g. no such file
                ready(f"not opened: {window.last_error}")
        elif not recovered:
            ready("")

    QTimer.singleShot(0, start)
    return int(app.exec())


def _ready_announcer(window):
    """A function that prints the ready line once; it is also called when the file being opened on
    a worker thread is shown, or when that task ends without showing it."""
    done = []

    def once(detail: str) -> None:
        if not done:
            done.append(True)
            print(READY_LINE + (f" ({detail})" if detail else ""), file=sys.stderr, flush=True)

    def task_finished(name: str) -> None:
        if name == "open":  # after its result or error was delivered
            once(f"not opened: {window.last_error or 'cancelled'}")

    window.file_opened.connect(lambda p: once(f"opened {Path(p).name}"))
    window.runner.task_finished.connect(task_finished)
    return once


def _close_on_signals(app: QApplication, window) -> None:
    """SIGTERM and SIGINT close the window as the user would (settings saved, workers stopped).

    Python runs signal handlers only between bytecodes, never inside Qt's event loop, so a timer
    gives the interpreter a turn four times a second.
    """

    def close(signum, frame) -> None:
        QTimer.singleShot(0, window.close)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, close)
    timer = QTimer(app)
    timer.timeout.connect(lambda: None)
    timer.start(250)
