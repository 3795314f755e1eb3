"""The window tells the truth about the open file (issue 26, findings 1–5): nothing of the last
file stays on screen, the first window fits the screen, takes say what they are, no message
claims what a running repair will not do, and auditioning a candidate does not choose it.

Uses the window fixtures and the planted-repeat test track of ``test_gui.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from test_gui import (  # noqa: E402  (fixtures and helpers of the window tests)
    SR,
    _sim_repair,
    make_window,  # noqa: F401
    open_file,
    select_gap_by_drag,
    wav_path,  # noqa: F401
)


@pytest.fixture
def plain_wav(tmp_path) -> Path:
    """Another recording, 8 s, without gaps or project."""
    import soundfile as sf
    from conftest import piano_like

    path = tmp_path / "plain.wav"
    sf.write(path, piano_like(SR, 8.0, seed=11, channels=2).T, SR, subtype="PCM_16")
    return path


# ------------------------------------------------------------------------------ 1. stale state


def test_opening_another_file_keeps_nothing_of_the_last_one(
    qtbot, make_window, wav_path, plain_wav
):
    w = make_window()
    open_file(qtbot, w, wav_path)
    gap, _ = select_gap_by_drag(qtbot, w)
    _sim_repair(qtbot, w, gap)
    p = w.repair_panel
    # What the issue saw before opening the next file.
    assert w.cands_panel.hint.text() == "gap #1" and p.hint.text().startswith("gap #1 · ")
    assert "unchanged" in w.null_badge.text() and "seam" in w.seam_badge.text()
    assert p.progress_label.text().startswith("Sim · 1 take")
    w.session.dirty = False
    open_file(qtbot, w, plain_wav)
    assert w.session.gaps == ()
    # Nothing describes a gap, a repair or a check of the file before.
    assert w.cands_panel.hint.text() == ""
    assert p.hint.text() == ""
    assert w.null_badge.text() == "null test: –"
    assert w.seam_badge.text() == "seams: –"
    assert p.progress_label.text() == "" and p.progress_label.isHidden()
    assert p.takes_list.count() == 0 and w.cands_panel.tree.topLevelItemCount() == 0
    assert w.transport.position.text() == "0:00.000 / 0:08.000"
    assert w.track._candidate is None and w.last_preview is None


def test_an_export_of_the_last_file_does_not_grade_the_open_one(
    qtbot, make_window, wav_path, plain_wav, tmp_path
):
    from simdps_studio.gui.dialogs import ExportOptions
    from simdps_studio.gui.files import _loader

    w = make_window()
    open_file(qtbot, w, wav_path)
    gap, _ = select_gap_by_drag(qtbot, w)
    _sim_repair(qtbot, w, gap)
    w.session.dirty = False
    session, pyramid, _note, _error = _loader(plain_wav, None)
    with qtbot.waitSignal(w.export_finished, timeout=30000) as blocker:
        w.export(ExportOptions(tmp_path / "out.wav", "WAV", None, True, False))
        # Another file opens before the export's result reaches the GUI thread.
        w.install_session(session, pyramid)
    assert blocker.args[0]["null_test_outside_spans"] is True  # true of the exported file...
    assert w.null_badge.text() == "null test: –"  # ...which is not the open one
    assert w.workspace.null_ok is None
