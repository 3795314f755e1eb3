"""The open and save dialogs: readable columns in Qt's own file dialog (issue 26, finding 9).

Offscreen there is no native dialog, so these tests see the one that users without a platform
theme see. Before, File → Open used the static ``QFileDialog.getOpenFileName`` at its default
630×410 pixels, which cut the *Type* and *Date Modified* columns ("FLA…dio").
"""

from __future__ import annotations

import os

import pytest

pytest.importorskip("pytestqt")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import test_gui
from PySide6.QtWidgets import QDialog, QFileDialog, QTreeView

from simdps_studio.gui.file_dialogs import DIALOG_SIZE_PX

make_window = test_gui.make_window
wav_path = test_gui.wav_path


def _capture_dialog(monkeypatch, qtbot, on_shown):
    """Replace ``QFileDialog.exec``: show the dialog, let ``on_shown`` look at it, cancel."""
    seen = []

    def exec_(dialog):
        dialog.show()
        view = dialog.findChild(QTreeView)
        qtbot.waitUntil(lambda: view.model().rowCount(view.rootIndex()) > 0, timeout=5000)
        seen.append(on_shown(dialog, view))
        return QDialog.Rejected

    monkeypatch.setattr(QFileDialog, "exec", exec_)
    return seen


def _columns_fit(dialog, view):
    header = view.header()
    cut = [
        header.model().headerData(c, header.orientation())
        for c in range(1, header.count())
        if not header.isSectionHidden(c) and header.sectionSize(c) < view.sizeHintForColumn(c)
    ]
    return dialog.width(), cut


def test_the_open_dialog_shows_whole_columns(qtbot, make_window, wav_path, monkeypatch):
    w = make_window()
    w.settings.setValue("files/last_dir", str(wav_path.parent))
    seen = _capture_dialog(monkeypatch, qtbot, _columns_fit)
    w.files.open_dialog()
    assert len(seen) == 1, "File → Open did not show the window's own dialog"
    width, cut = seen[0]
    room = w.screen().availableGeometry().width() - 40
    assert width >= min(DIALOG_SIZE_PX[0], room) > 640  # wider than Qt's default
    assert cut == []
    assert w.session is None  # cancelled: nothing opened


def test_a_cancelled_dialog_returns_no_path(qtbot, tmp_path, monkeypatch):
    from simdps_studio.gui.file_dialogs import ask_open_path, ask_save_path

    (tmp_path / "a.wav").write_bytes(b"")
    _capture_dialog(monkeypatch, qtbot, lambda d, v: None)
    assert ask_open_path(None, "Open", str(tmp_path), "Audio (*.wav)") == ""
    assert ask_save_path(None, "Save", str(tmp_path), "Audio (*.wav)") == ""
