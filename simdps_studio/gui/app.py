"""Start the desktop app: ``simdps-studio [FILE]`` calls :func:`run_app`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QSettings, QTimer
from PySide6.QtWidgets import QApplication

from simdps_studio import __version__

ORGANIZATION = "SimDPS"
APPLICATION = "SimDPS Studio"


def create_app(argv: list[str] | None = None) -> QApplication:
    """The QApplication, themed (created once; reused when one exists)."""
    from simdps_studio.gui.theme import apply_theme, icon

    app = QApplication.instance()
    if app is None:
        QCoreApplication.setOrganizationName(ORGANIZATION)
        QCoreApplication.setApplicationName(APPLICATION)
        QCoreApplication.setApplicationVersion(__version__)
        app = QApplication(argv if argv is not None else sys.argv[:1])
    apply_theme(app)
    app.setWindowIcon(icon("app"))
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

    def start() -> None:
        recovered = window.offer_recovery()
        if path is not None and not recovered:
            window.open_path(Path(path))

    QTimer.singleShot(0, start)
    return int(app.exec())
