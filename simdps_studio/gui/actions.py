"""The window's actions as one table: text, keys, icon, tip, slot, when each is enabled, and
where the menus and the toolbar place them (docs/architecture.md, section 9).

:data:`ACTIONS` is in the order the Help → Keyboard shortcuts list shows (the window's actions
in that order, then the track's); :data:`MENUS` and :data:`TOOLBAR` place them by name.
:func:`apply_rules` applies every spec's enabled-when (and checked-when) rule to an
:class:`ActionState`, the few facts the rules read, which the window gathers once per update.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QMenuBar, QToolBar, QWidget

from simdps_studio.gui.theme import icon

#: Cursor keys in the track: Left/Right move by this fraction of the visible width, with Shift
#: by the larger one (about 10 and 100 pixels of a full-width view).
CURSOR_STEP = 0.01
CURSOR_BIG_STEP = 0.1

K = QKeySequence.StandardKey
#: A key: a portable sequence ("Ctrl+E") or one of Qt's standard keys (the platform's own).
Key = str | QKeySequence.StandardKey


@dataclass(frozen=True)
class ActionState:
    """What the enabled-when rules read: the window's state at one update."""

    file_open: bool = False
    can_undo: bool = False
    can_redo: bool = False
    gap_selected: bool = False
    #: A repair runs in the background.
    repairing: bool = False
    #: The selected gap has a repair; ``bypassed``: it is switched off.
    repaired: bool = False
    bypassed: bool = False
    #: The selected gap's candidates are known and there is at least one.
    candidates: bool = False
    #: An audio output is open (``playback.available``); ``playing``: it plays now.
    can_play: bool = False
    playing: bool = False
    #: Both marks (I and O) are set.
    marks_set: bool = False


#: An enabled-when (or checked-when) rule.
Rule = Callable[[ActionState], bool]


def file_open(s: ActionState) -> bool:
    return s.file_open


def gap_selected(s: ActionState) -> bool:
    return s.gap_selected


def gap_and_idle(s: ActionState) -> bool:
    """A gap to repair and no repair running."""
    return s.gap_selected and not s.repairing


@dataclass(frozen=True)
class ActionSpec:
    """One action of the window.

    ``slot`` is called with the window. ``enabled_when`` None: always enabled. ``track``: the
    keys work while the track views (or a menu) have the focus, not in the whole window (the
    arrows belong to lists, sliders and fields elsewhere).
    """

    name: str
    text: str
    slot: Callable[[Any], object]
    keys: tuple[Key, ...] = ()
    icon: str | None = None
    tip: str | None = None
    checkable: bool = False
    enabled_when: Rule | None = None
    checked_when: Rule | None = None
    track: bool = False


def _spec(name, text, slot, keys=(), **kwargs) -> ActionSpec:
    return ActionSpec(name, text, slot, tuple(keys), **kwargs)


ACTIONS: tuple[ActionSpec, ...] = (
    _spec(
        "open",
        "&Open…",
        lambda w: w.files.open_dialog(),
        [K.Open],
        icon="open",
        tip="Open audio or a project (Ctrl+O)",
    ),
    _spec(
        "save",
        "&Save project",
        lambda w: w.save(),
        [K.Save],
        icon="save",
        tip="Save the project beside the audio (Ctrl+S)",
        enabled_when=file_open,
    ),
    _spec(
        "export",
        "&Export…",
        lambda w: w.files.export_dialog(),
        ["Ctrl+E"],
        icon="export",
        tip="Export the repaired audio (Ctrl+E)",
        enabled_when=file_open,
    ),
    _spec("close", "&Close file", lambda w: w.close_file(), [K.Close], enabled_when=file_open),
    # Ctrl+Q everywhere (Qt's standard Quit key is empty on Windows; on macOS this is Cmd+Q).
    _spec("quit", "&Quit", lambda w: w.close(), ["Ctrl+Q"]),
    _spec(
        "undo",
        "&Undo",
        lambda w: w.undo(),
        ["Ctrl+Z"],
        icon="undo",
        tip="Undo (Ctrl+Z)",
        enabled_when=lambda s: s.file_open and s.can_undo,
    ),
    _spec(
        "redo",
        "&Redo",
        lambda w: w.redo(),
        ["Ctrl+Shift+Z", "Ctrl+Y"],
        icon="redo",
        tip="Redo (Ctrl+Shift+Z)",
        enabled_when=lambda s: s.file_open and s.can_redo,
    ),
    _spec(
        "delete",
        "&Delete gap",
        lambda w: w.gap_editor.delete_selected(),
        [K.Delete],
        enabled_when=gap_selected,
    ),
    _spec(
        "detect",
        "De&tect dropouts",
        lambda w: w.dropout_controller.detect_dropouts(),
        ["Ctrl+D"],
        icon="detect",
        tip="Find digital silence, level drops and clipping (Ctrl+D)",
        enabled_when=file_open,
    ),
    _spec(
        "mark_in",
        "Mark &in at playhead",
        lambda w: w.gap_editor.set_mark_in(),
        ["I"],
        enabled_when=file_open,
    ),
    _spec(
        "mark_out",
        "Mark &out at playhead",
        lambda w: w.gap_editor.set_mark_out(),
        ["O"],
        enabled_when=file_open,
    ),
    _spec(
        "add_gap",
        "&Add gap from marks",
        lambda w: w.gap_editor.add_gap_from_marks(),
        ["G"],
        enabled_when=lambda s: s.file_open and s.marks_set,
    ),
    _spec(
        "gap_times",
        "Gap ti&mes…",
        lambda w: w.gap_editor.edit_gap_times(),
        ["Ctrl+G"],
        tip="Type the selected gap's start and end, or a new gap's (Ctrl+G)",
        enabled_when=file_open,
    ),
    _spec("prev_gap", "&Previous gap", lambda w: w.gap_editor.step_gap(-1), ["["]),
    _spec("next_gap", "&Next gap", lambda w: w.gap_editor.step_gap(1), ["]"]),
    _spec(
        "zoom_in",
        "Zoom &in",
        lambda w: w.track.zoom_by(0.5),
        ["=", "Ctrl+="],
        enabled_when=file_open,
    ),
    _spec(
        "zoom_out",
        "Zoom &out",
        lambda w: w.track.zoom_by(2.0),
        ["-", "Ctrl+-"],
        enabled_when=file_open,
    ),
    _spec(
        "zoom_fit",
        "Zoom to &fit",
        lambda w: w.track.zoom_full(),
        ["0", "Ctrl+0"],
        enabled_when=file_open,
    ),
    _spec(
        "zoom_gap",
        "Zoom to &gap",
        lambda w: w.gap_editor.zoom_to_gap(),
        ["F"],
        icon="zoom_gap",
        enabled_when=gap_selected,
    ),
    _spec(
        "scroll_l",
        "Scroll &left",
        lambda w: w.track.scroll_by(-0.25),
        [","],
        enabled_when=file_open,
    ),
    _spec(
        "scroll_r",
        "Scroll &right",
        lambda w: w.track.scroll_by(0.25),
        ["."],
        enabled_when=file_open,
    ),
    _spec(
        "history",
        "&History",
        lambda w: w.show_history(w.act_history.isChecked()),
        ["Ctrl+Shift+H"],
        checkable=True,
        tip="Show the undo history as a list: a click goes back (or forward) to a step "
        "(Ctrl+Shift+H)",
    ),
    _spec(
        "spectrogram_settings",
        "S&pectrogram settings…",
        lambda w: w.spectrogram_settings(),
        tip="FFT size (time against frequency detail) and frequency scale: log, linear or mel",
    ),
    _spec(
        "play",
        "&Play / stop",
        lambda w: w.toggle_play(),
        ["Space"],
        enabled_when=lambda s: s.file_open and s.can_play,
    ),
    # The transport's Loop button shows this action (its default action): one enabled state.
    _spec(
        "loop",
        "&Loop gap",
        lambda w: w.transport_controller.restart_if_playing(),
        ["L"],
        icon="loop",
        tip="Loop the selected gap with pre- and post-roll (L)",
        checkable=True,
        enabled_when=lambda s: s.gap_selected and s.can_play,
    ),
    _spec("ab", "Toggle &A/B", lambda w: w.transport_controller.toggle_ab(), ["B"]),
    _spec(
        "audition",
        "Au&dition candidate",
        lambda w: w.candidate_controller.audition_current(),
        ["P"],
        enabled_when=lambda s: s.gap_selected and s.candidates,
    ),
    # Not checkable: the panel's Run button shows whether a repair runs.
    _spec("run", "&Run repair", lambda w: w.run_repair(), ["Ctrl+R"], enabled_when=gap_and_idle),
    _spec(
        "stop",
        "&Stop",
        lambda w: w.stop_all(),
        ["Esc"],
        enabled_when=lambda s: s.repairing or s.playing,
    ),
    _spec(
        "compare_sim",
        "Repair with Sim to &compare",
        lambda w: w.run_repair(method="sim"),
        tip="Paste the chosen candidate (Sim) into the selected gap; the panel's settings stay",
        enabled_when=gap_and_idle,
    ),
    _spec(
        "bypass",
        "&Bypass repair",
        lambda w: w.gap_editor.bypass_selected(),
        ["Ctrl+B"],
        checkable=True,
        tip="Hear and export the selected gap without its repair (Ctrl+B)",
        enabled_when=lambda s: s.repaired,
        checked_when=lambda s: s.repaired and s.bypassed,
    ),
    _spec("model", "Other model &folder…", lambda w: w.model_controller.choose_model()),
    _spec(
        "check_fit",
        "Check the model's &fit on selection",
        lambda w: w.model_controller.toggle_check_fit(w.act_check_fit.isChecked()),
        checkable=True,
        tip="When a gap is selected, measure how well the model knows the music around it "
        "(one network call): the warning and Auto's ω show before the first repair",
    ),
    _spec(
        "help",
        "&Keyboard shortcuts",
        lambda w: w.show_shortcuts(),
        [K.HelpContents, "?"],
        icon="help",
    ),
    _spec("about", "&About SimDPS Studio", lambda w: w.about()),
    # The cursor's keys work where the track has the focus (Tab to the waveform).
    _spec(
        "cursor_back",
        "Cursor &back",
        lambda w: w.gap_editor.move_cursor(-CURSOR_STEP),
        ["Left"],
        track=True,
        enabled_when=file_open,
    ),
    _spec(
        "cursor_forward",
        "Cursor &forward",
        lambda w: w.gap_editor.move_cursor(CURSOR_STEP),
        ["Right"],
        track=True,
        enabled_when=file_open,
    ),
    _spec(
        "cursor_back_more",
        "Cursor back &more",
        lambda w: w.gap_editor.move_cursor(-CURSOR_BIG_STEP),
        ["Shift+Left"],
        track=True,
        enabled_when=file_open,
    ),
    _spec(
        "cursor_forward_more",
        "Cursor forward m&ore",
        lambda w: w.gap_editor.move_cursor(CURSOR_BIG_STEP),
        ["Shift+Right"],
        track=True,
        enabled_when=file_open,
    ),
    _spec(
        "cursor_start",
        "Cursor to &start",
        lambda w: w.gap_editor.cursor_to(0),
        ["Home"],
        track=True,
        enabled_when=file_open,
    ),
    _spec(
        "cursor_end",
        "Cursor to &end",
        lambda w: w.gap_editor.cursor_to(None),
        ["End"],
        track=True,
        enabled_when=file_open,
    ),
)

#: A menu entry: an action's name, None (a separator), a submenu ``(title, entries)``, or
#: ``"@name"``: a place the window fills itself (a submenu whose items change).
Entry = str | None | tuple[str, tuple["Entry", ...]]

MENUS: tuple[tuple[str, tuple[Entry, ...]], ...] = (
    ("&File", ("open", "@recent", None, "save", "export", None, "close", "quit")),
    (
        "&Edit",
        (
            "undo",
            "redo",
            None,
            "mark_in",
            "mark_out",
            "add_gap",
            "gap_times",
            "delete",
            None,
            "prev_gap",
            "next_gap",
            None,
            "detect",
        ),
    ),
    (
        "&View",
        (
            "zoom_in",
            "zoom_out",
            "zoom_fit",
            "zoom_gap",
            "scroll_l",
            "scroll_r",
            None,
            (
                "&Cursor",
                (
                    "cursor_back",
                    "cursor_forward",
                    "cursor_back_more",
                    "cursor_forward_more",
                    "cursor_start",
                    "cursor_end",
                ),
            ),
            None,
            "history",
            "spectrogram_settings",
        ),
    ),
    ("&Playback", ("play", "loop", "ab", "audition")),
    # The installed models by name (filled when the menu opens), then a folder elsewhere.
    ("&Repair", ("run", "stop", "compare_sim", "bypass", None, "@model", "check_fit", "@speed")),
    ("&Help", ("help", "about")),
)

#: The toolbar's left part; the device line and Help sit at its right end.
TOOLBAR: tuple[str | None, ...] = (
    "open",
    "save",
    "export",
    None,
    "undo",
    "redo",
    None,
    "detect",
    "zoom_gap",
)


def make_action(spec: ActionSpec, window: QWidget, owner: QWidget) -> QAction:
    """The QAction of ``spec``, added to ``owner`` (the window, or the track for ``track``
    actions); its slot is called with ``window``."""
    a = QAction(spec.text, owner)
    if spec.icon:
        a.setIcon(icon(spec.icon))
    if spec.keys:
        a.setShortcuts([QKeySequence(k) for k in spec.keys])
    a.setShortcutContext(Qt.WidgetWithChildrenShortcut if spec.track else Qt.WindowShortcut)
    a.setCheckable(spec.checkable)
    if spec.tip:
        a.setToolTip(spec.tip)
        a.setStatusTip(spec.tip)
    a.triggered.connect(lambda _checked=False, slot=spec.slot: slot(window))
    owner.addAction(a)
    return a


def build_actions(window: QWidget, track: QWidget) -> dict[str, QAction]:
    """Every action of :data:`ACTIONS` by name, in the table's order."""
    return {s.name: make_action(s, window, track if s.track else window) for s in ACTIONS}


def fill_menu(
    menu: QMenu,
    entries: Sequence[Entry],
    actions: Mapping[str, QAction],
    places: Mapping[str, Callable[[QMenu], object]],
) -> None:
    """Add ``entries`` to ``menu``; ``places`` fills each ``"@name"`` entry."""
    for entry in entries:
        if entry is None:
            menu.addSeparator()
        elif isinstance(entry, tuple):
            title, sub_entries = entry
            fill_menu(menu.addMenu(title), sub_entries, actions, places)
        elif entry.startswith("@"):
            places[entry[1:]](menu)
        else:
            menu.addAction(actions[entry])


def build_menus(
    bar: QMenuBar,
    actions: Mapping[str, QAction],
    places: Mapping[str, Callable[[QMenu], object]],
) -> None:
    """The menu bar of :data:`MENUS`."""
    for title, entries in MENUS:
        fill_menu(bar.addMenu(title), entries, actions, places)


def fill_toolbar(toolbar: QToolBar, actions: Mapping[str, QAction]) -> None:
    """The toolbar's actions of :data:`TOOLBAR`."""
    for name in TOOLBAR:
        toolbar.addSeparator() if name is None else toolbar.addAction(actions[name])


def apply_rules(actions: Mapping[str, QAction], state: ActionState) -> None:
    """Enable (and check) each action by its spec's rules."""
    for spec in ACTIONS:
        if spec.enabled_when is not None:
            actions[spec.name].setEnabled(spec.enabled_when(state))
        if spec.checked_when is not None:
            actions[spec.name].setChecked(spec.checked_when(state))


def key_texts(spec: ActionSpec) -> list[str]:
    """The spec's keys as the shortcuts list writes them (a standard key: the platform's first
    binding, the one ``QKeySequence`` takes)."""
    sequences = (QKeySequence(k) for k in spec.keys)
    return [q.toString(QKeySequence.NativeText) for q in sequences if not q.isEmpty()]
