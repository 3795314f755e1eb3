"""The window's action table (gui/actions.py): unique keys, the shortcuts list it gives, menus
and toolbar that place every action, and enabled-when rules applied as written."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("pytestqt")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["SIMDPS_NO_DIALOGS"] = "1"

import test_gui

from simdps_studio.gui.actions import (
    ACTIONS,
    MENUS,
    TOOLBAR,
    ActionState,
    apply_rules,
    build_actions,
    key_texts,
)

make_window = test_gui.make_window


def _menu_names(entries) -> list[str]:
    names = []
    for entry in entries:
        if isinstance(entry, tuple):
            names += _menu_names(entry[1])
        elif entry is not None and not entry.startswith("@"):
            names.append(entry)
    return names


def test_the_table_s_keys_are_unique(qtbot):
    keys = [k for spec in ACTIONS for k in key_texts(spec)]
    assert len(keys) > 30
    assert len(set(keys)) == len(keys), sorted(k for k in keys if keys.count(k) > 1)
    names = [spec.name for spec in ACTIONS]
    assert len(set(names)) == len(names)


def test_the_shortcuts_list_is_the_table(make_window):
    from simdps_studio.gui.dialogs import ShortcutsDialog

    w = make_window()
    dlg = ShortcutsDialog(w.shortcut_actions(), w)
    rows = [
        (dlg.tree.topLevelItem(i).text(0), dlg.tree.topLevelItem(i).text(1))
        for i in range(dlg.tree.topLevelItemCount())
    ]
    listed = rows[: [what for what, _keys in rows].index("Mouse")]
    expected = [
        (spec.text.replace("&", "").replace("…", ""), " or ".join(key_texts(spec)))
        for spec in ACTIONS
        if spec.keys
    ]
    assert listed == expected
    assert ("Redo", "Ctrl+Shift+Z or Ctrl+Y") in listed and ("Cursor to end", "End") in listed
    dlg.deleteLater()


def test_menus_and_toolbar_place_every_action_once(make_window):
    w = make_window()
    in_menus = [name for _title, entries in MENUS for name in _menu_names(entries)]
    # "Other model folder…" is added to Repair > Model when that menu opens.
    assert sorted(in_menus) == sorted(spec.name for spec in ACTIONS if spec.name != "model")
    assert set(TOOLBAR) - {None} <= set(in_menus)
    assert [a.title() for a in (m.menu() for m in w.menuBar().actions())] == [
        title for title, _entries in MENUS
    ]
    w._fill_model_menu()
    assert w.act_model in w.model_menu.actions()
    for spec in ACTIONS:  # the window's attributes are the table's actions
        assert getattr(w, f"act_{spec.name}") is w.acts[spec.name]
        assert (w.acts[spec.name] in w.cursor_actions) == spec.track


def test_actions_follow_their_rules(qtbot):
    from PySide6.QtWidgets import QWidget

    window, track = QWidget(), QWidget()
    qtbot.addWidget(window)
    qtbot.addWidget(track)
    actions = build_actions(window, track)
    states = [
        ActionState(),
        ActionState(file_open=True, can_play=True),
        ActionState(file_open=True, gap_selected=True, repairing=True, playing=True),
        ActionState(file_open=True, gap_selected=True, repaired=True, bypassed=True),
        ActionState(file_open=True, gap_selected=True, candidates=True, marks_set=True),
    ]
    for state in states:
        apply_rules(actions, state)
        for spec in ACTIONS:
            rule = spec.enabled_when
            assert actions[spec.name].isEnabled() == (rule is None or rule(state)), spec.name
    # The rules say what the window's hand-written list said.
    enabled = {n for n, a in actions.items() if a.isEnabled()}  # the last state
    assert {"run", "compare_sim", "audition", "add_gap", "delete"} <= enabled
    # Play and Loop gap need an output (the transport's Loop button is the same action).
    assert not {"undo", "redo", "bypass", "stop", "play", "loop"} & enabled
    apply_rules(actions, states[0])
    enabled = {n for n, a in actions.items() if a.isEnabled()}
    # Without a file: the History list (empty) and the spectrogram's settings (kept for later).
    assert enabled == {"open", "quit", "prev_gap", "next_gap", "ab", "model", "check_fit"} | {
        "help",
        "about",
        "history",
        "spectrogram_settings",
    }
    apply_rules(actions, states[2])
    assert not actions["run"].isEnabled() and actions["stop"].isEnabled()
    assert not actions["bypass"].isEnabled() and not actions["bypass"].isChecked()
    apply_rules(actions, states[3])
    assert actions["bypass"].isEnabled() and actions["bypass"].isChecked()
