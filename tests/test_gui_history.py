"""The History list and the spectrogram settings in the window (issue 26), under pytest-qt
(offscreen): the list names every step and follows every edit, undo, redo, open and close; a
click or Enter goes to a step in one change; it is saved with the project; the spectrogram's FFT
size and frequency scale change what is computed and survive a new window.

Uses the window fixtures and the test track of ``test_gui.py``.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

pytest.importorskip("pytestqt")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import test_gui
from PySide6.QtCore import Qt
from test_gui import SR, open_file

from simdps_studio.core.types import Gap
from simdps_studio.gui.analysis import FrequencyScale, SpectrogramSettings
from simdps_studio.session import Repair

make_window = test_gui.make_window
wav_path = test_gui.wav_path

A, B = Gap(2 * SR, int(2.4 * SR)), Gap(6 * SR, int(6.3 * SR))


@pytest.fixture
def song(wav_path, tmp_path):
    """A copy of the test track (its project files land beside it, in this test's folder)."""
    path = tmp_path / "song.wav"
    shutil.copyfile(wav_path, path)
    return path


def _edit(w) -> None:
    """Four steps after opening: two gaps, a repair of the first, its bypass."""
    w._search = lambda gap: None  # the list is about the steps, not about candidates
    assert w.add_gap(A) and w.add_gap(B)
    fill = np.full((2, A.length), 0.05, np.float32)
    w.session.set_repair(Repair(A, "lpc", A.start_sample, fill, {"seed": 1}))
    w._toggle_repair(A, False)


def _rows(w) -> list[tuple[str, str]]:
    """Each row's text and look: "current" (bold), "undone" (dimmed) or "past"."""
    lst = w.history_panel.list
    out = []
    for i in range(lst.count()):
        item = lst.item(i)
        dim = item.foreground().color().alpha() < 255 and item.foreground().style() != Qt.NoBrush
        out.append((item.text(), "current" if item.font().bold() else "undone" if dim else "past"))
    return out


LABELS = [
    "Opened song.wav",
    f"Add gap {A.describe(SR)}",
    f"Add gap {B.describe(SR)}",
    "LPC repair",
    "Bypass repair",
]


def test_the_history_list_follows_every_change_and_goes_to_a_clicked_step(qtbot, make_window, song):
    w = make_window()
    assert w.history_panel.isHidden() and not w.act_history.isChecked()
    w.act_history.trigger()  # View → History (Ctrl+Shift+H)
    assert w.history_panel.isVisible() and w.act_history.isChecked()
    assert w.history_panel.list.count() == 0  # no file
    open_file(qtbot, w, song)
    assert _rows(w) == [("Opened song.wav", "current")]
    _edit(w)
    assert _rows(w) == [*((t, "past") for t in LABELS[:-1]), (LABELS[-1], "current")]
    w.undo()
    assert _rows(w)[-2:] == [("LPC repair", "current"), ("Bypass repair", "undone")]
    w.redo()
    assert _rows(w)[-1] == ("Bypass repair", "current")
    # A click on the first gap's step: three steps back in one change, the views with it.
    documents = []
    w.workspace.subscribe("document", documents.append)
    lst = w.history_panel.list
    rect = lst.visualItemRect(lst.item(1))
    qtbot.mouseClick(lst.viewport(), Qt.LeftButton, pos=rect.center())
    assert len(documents) == 1
    assert w.session.gaps == (A,) and w.session.repairs == ()
    assert [r[1] for r in _rows(w)] == ["past", "current", "undone", "undone", "undone"]
    assert w.gaps_panel.tree.topLevelItemCount() == 1
    assert {r.gap for r in w.track.gap_regions()} == {A}
    assert w.act_undo.isEnabled() and w.act_redo.isEnabled()
    assert "Went to step: Add gap" in w.statusBar().currentMessage()
    # Enter on the last step goes forward again: the bypassed repair is back.
    lst.setCurrentRow(4)
    qtbot.keyClick(lst, Qt.Key_Return)
    assert w.session.gaps == (A, B) and not w.session.repair_for(A).enabled
    assert w.gaps_panel.tree.topLevelItemCount() == 2 and not w.act_redo.isEnabled()
    # Back to the start, then a new edit: the undone steps go, as after an undo.
    w.go_to_step(0)
    assert w.session.gaps == () and not w.act_undo.isEnabled()
    w.add_gap(B)
    assert _rows(w) == [("Opened song.wav", "past"), (LABELS[2], "current")]
    # A hidden list catches up when shown again.
    w.act_history.trigger()
    assert w.history_panel.isHidden() and not w.act_history.isChecked()
    w.undo()
    w.act_history.trigger()
    assert _rows(w) == [("Opened song.wav", "current"), (LABELS[2], "undone")]
    # Closing the file empties the list; closing the dock unticks View → History.
    w.session.dirty = False
    w.close_file()
    assert w.history_panel.list.count() == 0
    w.history_panel.close()
    assert not w.act_history.isChecked()


def test_the_history_is_saved_with_the_project(qtbot, make_window, song):
    w = make_window()
    open_file(qtbot, w, song)
    _edit(w)
    w.show_history(True)  # the dock's visibility is remembered too
    w.go_to_step(2)  # two steps undone: they come back as undone
    shown = _rows(w)
    assert len(shown) == 5
    assert w.save()
    w.close()
    w2 = make_window()
    assert w2.history_panel.isVisible() and w2.act_history.isChecked()
    open_file(qtbot, w2, song)
    assert _rows(w2) == shown
    assert [t for t, _ in shown] == LABELS
    w2._search = lambda gap: None
    w2.go_to_step(4)  # the undone steps still work
    assert not w2.session.repair_for(A).enabled
    assert w2.gaps_panel.tree.topLevelItem(0).text(3) == "LPC"


def test_spectrogram_settings_change_what_is_computed_and_survive_a_new_window(
    qtbot, make_window, wav_path
):
    w = make_window()
    open_file(qtbot, w, wav_path)
    view = w.track
    qtbot.waitUntil(lambda: view._spec_image is not None, timeout=10000)
    assert view.spec_settings == SpectrogramSettings() and view.spec_n_fft in (1024, 2048)  # auto
    assert view.spec_info.text() == f"log frequency, Hz · FFT {view.spec_n_fft} (auto)"
    log_low = view.spec_vb.viewRange()[1][0]
    assert log_low == pytest.approx(np.log10(30.0))
    dialog = w.spectrogram_settings()
    dialog.fft.setCurrentIndex(dialog.fft.findData(512))
    dialog.scale.setCurrentIndex(dialog.scale.findData("mel"))
    assert view.spec_settings == SpectrogramSettings(512, "mel")
    qtbot.waitUntil(lambda: view.spec_n_fft == 512, timeout=10000)
    # The rows are mel bands from 0 Hz; the axis and its labels are in mel, named in Hz.
    mel = FrequencyScale("mel")
    lo, hi = view.spec_vb.viewRange()[1]
    assert (lo, hi) == pytest.approx(mel.axis_range(SR))
    assert (SR, 512, "mel") in view._spec_maps
    assert view._spec_maps[(SR, 512, "mel")].row_hz[0] < 30.0  # below the log scale's floor
    ticks = view.hz_axis.tickValues(lo, hi, 3000)[0][1]
    labels = ["50", "100", "200", "500", "1k", "2k", "5k", "10k"]
    assert view.hz_axis.tickStrings(ticks, 1, 1) == labels
    assert ticks[1] == pytest.approx(mel.to_axis(100.0))
    # A short axis leaves out the labels crowded at the bottom, not those at the top.
    short = view.hz_axis.tickStrings(view.hz_axis.tickValues(lo, hi, 150)[0][1], 1, 1)
    assert short[-3:] == ["2k", "5k", "10k"] and "50" not in short
    assert view.spec_info.text() == "mel frequency, Hz · FFT 512"
    # The readout turns the pointer's height into Hz on the new scale.
    assert view.level_at(5.0, 1000.0) is not None
    dialog.close()
    w.close()
    w2 = make_window()
    assert w2.track.spec_settings == SpectrogramSettings(512, "mel")
    assert w2.track.hz_axis.freq_scale == mel
    open_file(qtbot, w2, wav_path)
    qtbot.waitUntil(lambda: w2.track.spec_n_fft == 512, timeout=10000)
    assert w2.track.spec_vb.viewRange()[1] == pytest.approx(mel.axis_range(SR))


def test_the_frequency_axis_labels_each_scale_in_hz(qtbot):
    from simdps_studio.gui.views import FrequencyAxis

    axis = FrequencyAxis("left")
    linear = FrequencyScale("linear")
    axis.set_frequency_scale(linear)
    lo, hi = linear.axis_range(44100)

    def labels(size_px: int) -> list[str]:
        return axis.tickStrings(axis.tickValues(lo, hi, size_px)[0][1], 1, 1)

    # Even steps, as many as fit 28 px apart.
    assert labels(300) == ["0", "5k", "10k", "15k", "20k"]
    assert labels(600) == [f"{k}k" if k else "0" for k in range(0, 23, 2)]
    log = FrequencyScale("log")
    axis.set_frequency_scale(log)
    lo, hi = log.axis_range(44100)
    assert labels(1000) == ["50", "100", "200", "500", "1k", "2k", "5k", "10k", "20k"]
    assert labels(60)[-1] == "20k" and len(labels(60)) < 5  # a short axis: fewer, readable
