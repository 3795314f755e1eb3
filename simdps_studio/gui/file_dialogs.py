"""Open and save dialogs sized so their columns are readable.

Where the desktop offers a native file dialog, Qt uses it and these helpers only pass the title,
folder and filter. Where it does not (no platform theme: many Linux window managers, remote
sessions), Qt's own dialog opens at about 630×410 pixels with the *Type* and *Date Modified*
columns cut ("FLA…dio"); here it opens wider and sizes those columns to their contents once the
folder has been read.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QFileSystemModel,
    QHeaderView,
    QSplitter,
    QTreeView,
    QWidget,
)

#: Size of Qt's own file dialog (pixels), clipped to the screen.
DIALOG_SIZE_PX = (900, 560)
#: Width of its places list (pixels).
SIDEBAR_PX = 150


def make_file_dialog(
    parent: QWidget | None, title: str, start: str, name_filter: str, *, save: bool = False
) -> QFileDialog:
    """A file dialog for opening (``save`` False) or saving one file, not yet shown."""
    dialog = QFileDialog(parent, title, start, name_filter)
    dialog.setFileMode(QFileDialog.AnyFile if save else QFileDialog.ExistingFile)
    dialog.setAcceptMode(QFileDialog.AcceptSave if save else QFileDialog.AcceptOpen)
    _size_to_screen(dialog)
    view = dialog.findChild(QTreeView)
    if view is not None:  # Qt's own dialog (a native one has no widgets to size)
        dialog.setViewMode(QFileDialog.Detail)
        model = dialog.findChild(QFileSystemModel)  # reads folders in the background
        if model is not None:
            model.directoryLoaded.connect(lambda _folder: fit_columns(view))
        fit_columns(view)
        _widen_sidebar(dialog)
    return dialog


def fit_columns(view: QTreeView) -> None:
    """Size every column but the name to its contents; the name column takes the rest."""
    header = view.header()
    for column in range(1, header.count()):
        view.resizeColumnToContents(column)
    header.setSectionResizeMode(0, QHeaderView.Stretch)
    header.setStretchLastSection(False)


def ask_open_path(parent: QWidget | None, title: str, start: str, name_filter: str) -> str:
    """The file the user chose to open, or "" when cancelled."""
    return _run(make_file_dialog(parent, title, start, name_filter))


def ask_save_path(parent: QWidget | None, title: str, start: str, name_filter: str) -> str:
    """The file name the user chose to save as, or "" when cancelled."""
    return _run(make_file_dialog(parent, title, start, name_filter, save=True))


def _run(dialog: QFileDialog) -> str:
    try:
        if dialog.exec() != QDialog.Accepted:
            return ""
        chosen = dialog.selectedFiles()
        return chosen[0] if chosen else ""
    finally:
        dialog.deleteLater()


def _widen_sidebar(dialog: QFileDialog) -> None:
    """Room for the places list ("Computer", home) left of the files."""
    splitter = dialog.findChild(QSplitter)
    if splitter is not None and splitter.count() == 2:
        total = sum(splitter.sizes()) or dialog.width()
        splitter.setSizes([SIDEBAR_PX, max(total - SIDEBAR_PX, 1)])


def _size_to_screen(dialog: QFileDialog) -> None:
    width, height = DIALOG_SIZE_PX
    screen = dialog.screen()
    if screen is not None:
        room = screen.availableGeometry()
        width, height = min(width, room.width() - 40), min(height, room.height() - 80)
    dialog.resize(width, height)
