"""Keyboard-only and screen-reader use of the real window (pytest-qt, offscreen): making and
adjusting a gap without a mouse, bypassing a repair, the ω slider's marked settings, accessible
names, menu mnemonics, visible focus, and where focus goes when a repair starts.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("pytestqt")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["SIMDPS_NO_DIALOGS"] = "1"

import test_gui
from PySide6.QtCore import Qt
from PySide6.QtGui import QAccessible
from PySide6.QtWidgets import QApplication, QComboBox, QWidget
from test_gui import GAP_S, SR, open_file, select_gap_by_drag

from simdps_studio.core.types import Gap

# The window and the test track of test_gui.py (fixtures, shared by name).
make_window = test_gui.make_window
wav_path = test_gui.wav_path


def _focus(qtbot, widget: QWidget) -> None:
    widget.window().activateWindow()
    widget.setFocus(Qt.TabFocusReason)
    qtbot.waitUntil(widget.hasFocus, timeout=2000)


def test_gap_from_times_keeps_an_edge_that_was_not_changed():
    from simdps_studio.gui.dialogs import gap_from_times

    old = Gap(44101, 88203)  # edges off the millisecond grid
    # Start typed anew, end left as shown (2.000 s): only the start moves.
    assert gap_from_times(0.5, round(88203 / 44100, 3), 44100, old) == Gap(22050, 88203)
    assert gap_from_times(round(44101 / 44100, 3), 3.0, 44100, old) == Gap(44101, 132300)
    assert gap_from_times(1.0, 2.0, 44100, None) == Gap(44100, 88200)
    # The track's end, shown rounded to the millisecond either way, is its last sample.
    for n in (441_022, 441_035):  # 10.0005 s and 10.0008 s
        shown_end = round(n / 44100, 3)
        assert gap_from_times(9.75, shown_end, 44100, n_samples=n).end_sample == n
        assert gap_from_times(9.75, shown_end + 0.001, 44100, n_samples=n).end_sample == n


def test_a_gap_is_made_and_adjusted_without_a_mouse(qtbot, make_window, wav_path):
    w = make_window()
    open_file(qtbot, w, wav_path)
    wave = w.track.wave
    _focus(qtbot, wave)
    qtbot.keyClick(wave, Qt.Key_End)
    assert w.cursor_sample == w.session.audio.n_samples
    qtbot.keyClick(wave, Qt.Key_Home)
    assert w.cursor_sample == 0
    w.track.set_visible_range(0.0, 4.0)
    qtbot.keyClick(wave, Qt.Key_Right)
    assert w.cursor_sample == round(0.01 * 4.0 * SR)  # 1 % of the visible width
    qtbot.keyClick(wave, Qt.Key_Right, Qt.ShiftModifier)
    assert w.cursor_sample == round(0.01 * 4.0 * SR) + round(0.1 * 4.0 * SR)
    qtbot.keyClick(wave, Qt.Key_Left)
    start = w.cursor_sample
    assert start == round(0.1 * 4.0 * SR)
    # Past the view's right edge: the view follows the cursor.
    for _ in range(12):
        qtbot.keyClick(wave, Qt.Key_Right, Qt.ShiftModifier)
    t0, t1 = w.track.visible_range_s()
    assert t0 <= w.cursor_sample / SR <= t1
    # Mark in, move, mark out, add: I, arrows, O, G.
    _focus(qtbot, wave)
    qtbot.keyClick(w.track.wave, Qt.Key_Home)
    for _ in range(3):
        qtbot.keyClick(wave, Qt.Key_Right, Qt.ShiftModifier)
    mark_in = w.cursor_sample
    qtbot.keyClick(wave, Qt.Key_I)
    qtbot.keyClick(wave, Qt.Key_Right, Qt.ShiftModifier)
    mark_out = w.cursor_sample
    qtbot.keyClick(wave, Qt.Key_O)
    qtbot.keyClick(wave, Qt.Key_G)
    assert w.session.gaps == (Gap(mark_in, mark_out),)
    assert w.selected_gap == Gap(mark_in, mark_out)
    # Ctrl+G types the selected gap's times: the edges move to exactly what was typed.
    asked = []

    def ask(start_s, end_s, *, new):
        asked.append((round(start_s * SR), round(end_s * SR), new))
        return GAP_S

    w.ask_gap_times = ask
    qtbot.keyClick(w, Qt.Key_G, Qt.ControlModifier)
    assert asked == [(mark_in, mark_out, False)]
    moved = Gap(round(GAP_S[0] * SR), round(GAP_S[1] * SR))
    assert w.session.gaps == (moved,) and w.selected_gap == moved
    # With no gap selected, Ctrl+G adds one (starting from the cursor).
    w.selected_gap = None
    w._cursor_to(SR)
    w.ask_gap_times = lambda start_s, end_s, *, new: (start_s, end_s + 0.25) if new else None
    qtbot.keyClick(w, Qt.Key_G, Qt.ControlModifier)
    assert Gap(SR, round(1.75 * SR)) in w.session.gaps
    # At the track's end the proposal still has a length (it ends there).
    proposals = []
    w.ask_gap_times = lambda start_s, end_s, *, new: proposals.append((start_s, end_s))
    w.selected_gap = None
    w._cursor_to(None)
    qtbot.keyClick(w, Qt.Key_G, Qt.ControlModifier)
    n = w.session.audio.n_samples
    assert proposals == [((n - SR // 2) / SR, n / SR)]
    # Cancelled: nothing changes.
    before = w.session.gaps
    w.ask_gap_times = lambda *a, **k: None
    qtbot.keyClick(w, Qt.Key_G, Qt.ControlModifier)
    assert w.session.gaps == before


def test_a_repair_is_bypassed_and_sim_compared_from_the_menu_keys(qtbot, make_window, wav_path):
    w = make_window()
    open_file(qtbot, w, wav_path)
    gap, _ = select_gap_by_drag(qtbot, w)
    assert not w.act_bypass.isEnabled()  # nothing to bypass yet
    w.repair_panel.set_method("lpc")
    finished = []
    w.repair_finished.connect(finished.append)
    w.act_compare_sim.trigger()  # Repair > Repair with Sim to compare
    qtbot.waitUntil(lambda: bool(finished), timeout=30000)
    assert w.session.repair_for(gap).method == "sim"
    assert w.repair_panel.method_name() == "lpc"  # the panel's settings stay
    assert w.act_bypass.isEnabled() and not w.act_bypass.isChecked()
    qtbot.keyClick(w, Qt.Key_B, Qt.ControlModifier)
    assert not w.session.repair_for(gap).enabled and w.act_bypass.isChecked()
    assert w.gaps_panel.tree.topLevelItem(0).checkState(4) == Qt.Unchecked
    qtbot.keyClick(w, Qt.Key_B, Qt.ControlModifier)
    assert w.session.repair_for(gap).enabled and not w.act_bypass.isChecked()
    # The fit warning's and the model line's links are reachable with Tab and Enter.
    for label in (w.repair_panel.fit_warning, w.repair_panel.model):
        assert label.textInteractionFlags() & Qt.LinksAccessibleByKeyboard


def test_omega_keyboard_steps_stop_at_the_marked_settings(qtbot):
    from simdps_studio.gui.panels import OmegaControl, omega_to_position, snap_position

    assert snap_position(omega_to_position(0.15), omega_to_position(0.15) + 5) == 505
    assert snap_position(255, 260) == omega_to_position(0.04)
    assert snap_position(950, 900) == omega_to_position(0.5)
    o = OmegaControl()
    qtbot.addWidget(o)
    o.set_auto(False)
    o.show()
    _focus(qtbot, o.slider)
    qtbot.keyClick(o.slider, Qt.Key_Home)
    reached = set()
    for _ in range(220):
        qtbot.keyClick(o.slider, Qt.Key_Right)
        reached.add(o.value())
    assert {0.04, 0.15, 0.5} <= reached and o.value() == 0.6
    qtbot.keyClick(o.slider, Qt.Key_Home)
    pages = []
    for _ in range(25):
        qtbot.keyClick(o.slider, Qt.Key_PageUp)
        pages.append(o.value())
    assert {0.04, 0.15, 0.5} <= set(pages)
    # A screen reader hears ω and its mark, not the slider's position.
    o.set_value(0.15)
    name = QAccessible.queryAccessibleInterface(o.slider).text(QAccessible.Name)
    assert "0.150" in name and "strict" in name
    qtbot.keyClick(o.slider, Qt.Key_Right)
    assert f"{o.value():.3f}" in QAccessible.queryAccessibleInterface(o.slider).text(
        QAccessible.Name
    )


def _tab_stops(qtbot, window, first: QWidget) -> list[QWidget]:
    """The widgets Tab visits, in order, from ``first`` round to it again."""
    _focus(qtbot, first)
    stops = [first]
    for _ in range(80):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key_Tab)
        f = QApplication.focusWidget()
        if f is first:
            return stops
        if f not in stops:  # a label with a link takes two presses: the label, then its link
            stops.append(f)
    raise AssertionError(f"Tab never came back to the start: {stops}")


def _named(widget: QWidget) -> bool:
    name = QAccessible.queryAccessibleInterface(widget).text(QAccessible.Name).strip()
    if isinstance(widget, QComboBox):  # on Linux Qt names a combo box by its current text
        return bool(name and widget.accessibleName())
    return bool(name)


def test_every_tab_stop_has_an_accessible_name(qtbot, make_window, wav_path):
    w = make_window()
    open_file(qtbot, w, wav_path)
    select_gap_by_drag(qtbot, w)
    w.repair_panel.omega.set_auto(False)
    stops = _tab_stops(qtbot, w, w.gaps_panel.tree)
    assert len(stops) > 15
    nameless = [f"{type(s).__name__} {s.objectName()!r}" for s in stops if not _named(s)]
    assert nameless == [], nameless
    # The track is one Tab stop (the waveform), not four.
    assert [s for s in stops if w.track.isAncestorOf(s)] == [w.track.wave]
    for widget in (w.repair_panel.run_btn, w.repair_panel.omega.slider, w.transport.pre):
        assert widget in stops
    play = w.cands_panel.tree.itemWidget(w.cands_panel.tree.topLevelItem(0), 6)
    assert QAccessible.queryAccessibleInterface(play).text(QAccessible.Name).startswith("Play")


def test_menu_items_have_distinct_mnemonics(make_window):
    w = make_window()
    for menu_action in w.menuBar().actions():
        menu = menu_action.menu()
        menus = [menu] + [a.menu() for a in menu.actions() if a.menu() is not None]
        for m in menus:
            texts = [a.text() for a in m.actions() if not a.isSeparator() and a.text()]
            if m is w.recent_menu:
                continue
            letters = [t[t.index("&") + 1].lower() for t in texts if "&" in t]
            assert len(letters) == len(texts), f"{m.title()}: an item without a mnemonic"
            assert len(set(letters)) == len(letters), f"{m.title()}: {texts}"


def test_typing_in_the_method_box_chooses_a_method(qtbot, make_window, wav_path):
    w = make_window()
    open_file(qtbot, w, wav_path)
    select_gap_by_drag(qtbot, w)  # with a gap and an output, L (loop) is live
    w.playback.available = True  # as far as the actions go (no output is opened)
    w.update_actions()
    assert w.act_loop.isEnabled()
    p = w.repair_panel
    _focus(qtbot, p.method)
    loop_before = w.transport.loop_btn.isChecked()
    qtbot.keyClick(p.method, Qt.Key_L)
    assert p.method_name() == "lpc"
    assert w.transport.loop_btn.isChecked() == loop_before  # L did not toggle the loop


def test_focus_moves_from_run_to_stop_and_back(qtbot):
    from simdps_studio.gui.panels import RepairPanel

    p = RepairPanel()
    qtbot.addWidget(p)
    p.show()
    _focus(qtbot, p.run_btn)
    p.set_running(True)
    assert p.stop_btn.hasFocus() and not p.run_btn.isEnabled()
    p.set_running(False)
    assert p.run_btn.hasFocus() and not p.stop_btn.isEnabled()


def _pixels(widget: QWidget) -> np.ndarray:
    img = widget.grab().toImage()
    ptr = img.constBits()
    return np.frombuffer(ptr, np.uint8, img.sizeInBytes()).copy()


def test_focus_is_visible_on_the_run_button_check_boxes_and_waveform(qtbot, make_window, wav_path):
    w = make_window()
    open_file(qtbot, w, wav_path)
    select_gap_by_drag(qtbot, w)
    for widget in (w.repair_panel.run_btn, w.repair_panel.omega.auto, w.track.wave):
        w.transport.pre.setFocus()  # somewhere else
        qtbot.waitUntil(lambda widget=widget: not widget.hasFocus(), timeout=2000)
        before = _pixels(widget)
        _focus(qtbot, widget)
        after = _pixels(widget)
        assert before.shape == after.shape
        assert np.count_nonzero(before != after) > 50, type(widget).__name__


def test_deleting_the_selected_gap_clears_the_panels(qtbot, make_window, wav_path):
    w = make_window()
    open_file(qtbot, w, wav_path)
    select_gap_by_drag(qtbot, w)
    assert w.cands_panel.tree.topLevelItemCount() > 0
    qtbot.keyClick(w, Qt.Key_Delete)
    assert w.session.gaps == () and w.selected_gap is None
    assert w.cands_panel.tree.topLevelItemCount() == 0
    assert w.cands_panel.hint.text() == "" and w.repair_panel.hint.text() == ""


def test_the_shortcuts_dialog_lists_keys_for_every_row(make_window):
    from simdps_studio.gui.dialogs import ShortcutsDialog

    w = make_window()

    actions = [a for a in w.actions() + w.track.actions() if a.shortcuts()]
    dlg = ShortcutsDialog(actions, w)
    rows = {
        dlg.tree.topLevelItem(i).text(0): dlg.tree.topLevelItem(i).text(1)
        for i in range(dlg.tree.topLevelItemCount())
    }
    assert rows["Quit"] == "Ctrl+Q"
    assert rows["Cursor back"] == "Left" and rows["Gap times"] == "Ctrl+G"
    assert all(keys for what, keys in rows.items() if what != "Mouse")
    dlg.deleteLater()


def test_the_omega_slider_is_named_with_its_value_from_the_start(qtbot):
    from simdps_studio.gui.panels import RepairPanel

    p = RepairPanel()
    qtbot.addWidget(p)
    name = QAccessible.queryAccessibleInterface(p.omega.slider).text(QAccessible.Name)
    assert name == "Candidate weight omega 0.150 (strict), automatic"


def test_space_after_clicking_a_or_b_is_play_stop_not_the_button(qtbot, make_window, wav_path):
    w = make_window()
    open_file(qtbot, w, wav_path)
    _focus(qtbot, w.track.wave)
    # No output here (Play is off): Space must not click the A/B button instead.
    assert not w.act_play.isEnabled()
    for button in (w.transport.b_btn, w.transport.a_btn):
        qtbot.mouseClick(button, Qt.LeftButton)
        assert not button.hasFocus()  # the transport's buttons keep no keyboard focus
    assert not w.transport.is_b()
    qtbot.keyClick(QApplication.focusWidget() or w, Qt.Key_B)  # B by key: the repair
    assert w.transport.is_b()
    qtbot.keyClick(QApplication.focusWidget() or w, Qt.Key_Space)
    assert w.transport.is_b()  # Space did not click A
    # With an output, Space after a click on B plays (and stops).
    w.playback.available = True  # as far as the actions go (no output is opened)
    played = []
    w.toggle_play = lambda: played.append(True)
    w.update_actions()
    qtbot.mouseClick(w.transport.b_btn, Qt.LeftButton)
    qtbot.keyClick(QApplication.focusWidget() or w, Qt.Key_Space)
    assert played == [True] and w.transport.is_b()
