"""The main window (DESIGN.md section 9): toolbar, track views, side panels, transport, status.

The window observes a :class:`~simdps_studio.session.workspace.Workspace` (the session and the
per-gap working state, with one event per kind of change) and turns user actions into session
edits and background tasks. Every long operation (open,
search, repair, export, dropout detection, spectrogram) runs on a worker thread through
:class:`~simdps_studio.gui.workers.TaskRunner`; the GUI thread only draws and edits the document.
"""

from __future__ import annotations

import dataclasses
import html
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSizePolicy,
    QSplitter,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from simdps_studio.core.errors import InputError, SimDPSError
from simdps_studio.core.progress import format_duration, sub_progress
from simdps_studio.core.types import Gap
from simdps_studio.gui.analysis import format_time
from simdps_studio.gui.dialogs import (
    AboutDialog,
    DetectDialog,
    ExportDialog,
    ExportOptions,
    GapTimesDialog,
    ShortcutsDialog,
    gap_from_times,
)
from simdps_studio.gui.panels import (
    CandidatesPanel,
    GapsPanel,
    RepairPanel,
    TransportBar,
    format_length,
    method_label,
)
from simdps_studio.gui.playback import PlaybackController, patches_from
from simdps_studio.gui.theme import icon
from simdps_studio.gui.views import RepairSpan, TrackView
from simdps_studio.gui.workers import TaskRunner
from simdps_studio.session import engines, recovery
from simdps_studio.session.about import split_device_label
from simdps_studio.session.checks import VerifiedRepair, repair_and_verify
from simdps_studio.session.document import Session
from simdps_studio.session.pace import PaceRecord, estimate_seconds
from simdps_studio.session.project import (
    PROJECT_SUFFIX,
    load_project,
    project_path_for,
    save_project,
)
from simdps_studio.session.workspace import Change, Workspace

log = logging.getLogger(__name__)

#: Audio files the open dialog lists.
AUDIO_FILTER = (
    "Audio and projects (*.wav *.flac *.aif *.aiff *.ogg *.mp3 *.w64 *.caf *.simdps.json)"
)
#: Candidates searched per gap.
TOP_K = 8
#: Recent files kept.
MAX_RECENT = 10
#: Takes per run on a CUDA device when the user has not chosen a number (on a CPU: one).
DEFAULT_GPU_TAKES = 2
#: Seconds of inactivity before an autosave.
AUTOSAVE_S = 20
#: Cursor keys in the track: Left/Right move by this fraction of the visible width, with Shift
#: by the larger one (about 10 and 100 pixels of a full-width view).
CURSOR_STEP = 0.01
CURSOR_BIG_STEP = 0.1


def _loader(path: Path, project: Path | None, *, progress=None, cancel=None):
    """Open a recording (or a project) and build its peak pyramid: the open task.

    Returns the session, its pyramid, a note for the status bar and, when the recording's
    project could not be used, why (else None).
    """
    from simdps_studio.audio.peaks import PeakPyramid

    note, project_error = "", None
    if project is not None:
        try:
            session = load_project(
                project,
                # The recording opened is the source, also when it is a copy of the project's.
                source_path=None if path.name.endswith(PROJECT_SUFFIX) else path,
                progress=sub_progress(progress, 0, 0.7),
                cancel=cancel,
            )
            note = f"opened project {project.name}"
        except SimDPSError as e:
            if path.name.endswith(PROJECT_SUFFIX):
                raise
            project_error = str(e)
            note = f"project not used: {e}"
            session = Session.open(path, progress=sub_progress(progress, 0, 0.7), cancel=cancel)
    else:
        session = Session.open(path, progress=sub_progress(progress, 0, 0.7), cancel=cancel)
    pyramid = PeakPyramid(session.audio, progress=sub_progress(progress, 0.7, 1.0), cancel=cancel)
    note = " · ".join([t for t in (note, *session.audio.meta.get("warnings", ())) if t])
    return session, pyramid, note, project_error


def _export_job(session, options: ExportOptions, *, progress=None, cancel=None):
    from simdps_studio.session.render import export

    progress and progress(0.05, "rendering")
    return export(
        session,
        options.path,
        format=options.format,
        subtype=options.subtype,
        dither=options.dither,
        write_provenance=options.provenance,
    )


def _device_label(
    precision: str = "auto", model: str | None = None, progress=None, cancel=None
) -> str:
    """The device and the precision repairs will run in, and why (``about.device_label``)."""
    from simdps_studio.session.about import device_label

    return device_label(precision, model)


def _stored_start_sigma(value: Any) -> float | None:
    """The remembered warm start: one of :data:`WARM_START_ITEMS`' levels, else None (off)."""
    try:
        sigma = float(value)
    except (TypeError, ValueError):
        return None
    levels = [v for _label, v in WARM_START_ITEMS if v is not None]
    return min(levels, key=lambda v: abs(v - sigma)) if 0 < sigma < 1 else None


#: Repair → Precision: the menu's entries and the settings' values.
PRECISION_ITEMS = (
    ("&Auto (bf16 where measured faster)", "auto"),
    ("fp&32", "fp32"),
    ("&bf16", "bf16"),
)
#: Repair → Warm start: off (from noise at σ 1) or from the candidate at these noise levels.
WARM_START_ITEMS = (
    ("&Off (from noise)", None),
    ("From the candidate at σ &0.3", 0.3),
    ("From the candidate at σ 0.&1", 0.1),
    ("From the candidate at σ 0.0&3", 0.03),
)


class MainWindow(QMainWindow):
    """SimDPS Studio's main window.

    Parameters
    ----------
    settings : QSettings, optional
        Where preferences live (tests pass a temporary INI file).
    playback : bool
        Open an audio output (False: playback disabled, e.g. for screenshots).
    recovery_dir : Path, optional
        Folder for autosaves (default under the cache folder).

    Signals (mostly for tests and scripts)
    --------------------------------------
    file_opened(str), candidates_ready(object), repair_finished(object),
    repair_cancelled(), repair_failed(str), export_finished(object), error_shown(str)
    """

    file_opened = Signal(str)
    candidates_ready = Signal(object)
    repair_finished = Signal(object)
    repair_cancelled = Signal()
    repair_failed = Signal(str)
    export_finished = Signal(object)
    preview_ready = Signal(object)
    dropouts_detected = Signal(int)
    error_shown = Signal(str)

    def __init__(
        self,
        settings: QSettings | None = None,
        *,
        playback: bool = True,
        recovery_dir: Path | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings or QSettings()
        self.recovery_folder = Path(recovery_dir) if recovery_dir else recovery.recovery_dir()
        self.runner = TaskRunner(self)
        #: The open session and its per-gap working state (None: no file open).
        self.workspace: Workspace | None = None
        self.pyramid = None
        self.path: Path | None = None
        self._takes_chosen = False  # set by a remembered or edited Takes value
        self.cursor_sample = 0
        self.mark_in: int | None = None
        self.mark_out: int | None = None
        self.model_name: str | None = self.settings.value("repair/model", None) or None
        precision = str(self.settings.value("repair/precision", "auto"))
        self.precision = precision if precision in dict(map(reversed, PRECISION_ITEMS)) else "auto"
        self.start_sigma: float | None = _stored_start_sigma(
            self.settings.value("repair/start_sigma", "")
        )
        self.autosave_file: Path | None = None
        self.last_error = ""
        self._autosave_warned = False
        self.last_preview = None
        self._closing = False
        self._modal_boxes: list[QMessageBox] = []
        self._confirmed_state = None  # the state the last "save first?" answer was about

        self.setWindowTitle("SimDPS Studio")
        self.setWindowIcon(icon("simdps-studio"))
        self.setAcceptDrops(True)
        self._build_ui()
        self._build_actions()
        self.playback = PlaybackController(self, enabled=playback)
        self.playback.position.connect(self._playhead_moved)
        self.playback.levels.connect(self.transport.meter.set_levels)
        self.playback.state.connect(self._playback_state)
        self.playback.failed.connect(self._playback_failed)
        self._update_playback_message()
        self._autosave_timer = QTimer(self)
        self._autosave_timer.setSingleShot(True)
        self._autosave_timer.setInterval(
            int(self.settings.value("autosave/seconds", AUTOSAVE_S)) * 1000
        )
        self._autosave_timer.timeout.connect(self.autosave_now)
        self._restore_settings()
        self._update_actions()
        self._probe_device()

    @property
    def session(self) -> Session | None:
        """The open document (None: no file open)."""
        return self.workspace.session if self.workspace is not None else None

    @property
    def selected_gap(self) -> Gap | None:
        """The gap the panels work on."""
        return self.workspace.selected_gap if self.workspace is not None else None

    @selected_gap.setter
    def selected_gap(self, gap: Gap | None) -> None:
        if self.workspace is not None:
            self.workspace.select(gap)

    def _probe_device(self) -> None:
        """Find the device and the precision repairs will run in (a worker: ``auto`` measures
        bf16 once per host and model preset)."""
        self.runner.start(
            "device",
            _device_label,
            self.precision,
            self.model_name,
            on_result=self._device_ready,
        )

    # ================================================================================ UI

    def _build_ui(self) -> None:
        self.track = TrackView(self.runner)
        self.gaps_panel = GapsPanel()
        self.cands_panel = CandidatesPanel()
        self.repair_panel = RepairPanel()
        self.transport = TransportBar()

        side = QSplitter(Qt.Vertical)
        side.setChildrenCollapsible(False)
        side.addWidget(self.gaps_panel)
        side.addWidget(self.cands_panel)
        side.addWidget(self.repair_panel)
        side.setStretchFactor(0, 2)
        side.setStretchFactor(1, 3)
        side.setStretchFactor(2, 4)
        side_box = QWidget()
        sl = QVBoxLayout(side_box)
        sl.setContentsMargins(6, 6, 6, 6)
        sl.addWidget(side)
        side.setHandleWidth(6)
        self.side_splitter = side

        self.main_splitter = QSplitter(Qt.Horizontal)
        self.main_splitter.setChildrenCollapsible(False)
        self.main_splitter.addWidget(self.track)
        self.main_splitter.addWidget(side_box)
        self.main_splitter.setStretchFactor(0, 1)
        self.main_splitter.setStretchFactor(1, 0)
        side_box.setMinimumWidth(self.fontMetrics().horizontalAdvance("M") * 32)

        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.main_splitter, 1)
        lay.addWidget(self.transport)
        self.setCentralWidget(central)

        # Status bar: last action on the left, the two repair checks on the right.
        sb = self.statusBar()
        sb.setSizeGripEnabled(False)
        self.seam_badge = QLabel("seams: –")
        self.null_badge = QLabel("null test: –")
        for badge in (self.seam_badge, self.null_badge):
            badge.setObjectName("badge")
            badge.setProperty("state", "none")
            sb.addPermanentWidget(badge)
        self.seam_badge.setToolTip(
            "Seam smoothness of the selected gap's repair: the energy a seam adds to a short "
            "linear predictor's residual at the span edges, over its surroundings "
            "(≈0 dB: invisible seam)."
        )
        self.null_badge.setToolTip(
            "Null test after the last repair or export: every sample outside the repaired spans "
            "is bit-identical to the source."
        )

        # Signals.
        self.track.gap_drawn.connect(self._gap_drawn)
        self.track.gap_clicked.connect(self.select_gap)
        self.track.gap_edited.connect(self._gap_edited)
        self.track.seek.connect(self._seek)
        self.gaps_panel.selected.connect(self.select_gap)
        self.gaps_panel.enable_toggled.connect(self._toggle_repair)
        self.gaps_panel.delete_requested.connect(self.delete_gap)
        self.cands_panel.chosen.connect(self._candidate_chosen)
        self.cands_panel.audition.connect(self.audition_candidate)
        self.repair_panel.run.connect(lambda: self.run_repair())
        self.repair_panel.compare_sim.connect(lambda: self.run_repair(method="sim"))
        self.repair_panel.choose_model.connect(self._popup_model_menu)
        self.repair_panel.stop.connect(self.stop_repair)
        self.repair_panel.take_chosen.connect(self._take_chosen)
        self.repair_panel.settings_changed.connect(self._repair_settings_changed)
        self.repair_panel.takes.valueChanged.connect(self._takes_edited)
        self.transport.play_toggled.connect(self.toggle_play)
        self.transport.variant_changed.connect(self._variant_changed)
        self.transport.loop_toggled.connect(lambda _on: self._restart_if_playing())
        self.transport.roll_changed.connect(self._restart_if_playing)

    def _action(self, text, slot, keys=(), *, icon_name=None, tip=None, checkable=False) -> QAction:
        a = QAction(text, self)
        if icon_name:
            a.setIcon(icon(icon_name))
        if keys:
            a.setShortcuts([QKeySequence(k) for k in keys])
        a.setShortcutContext(Qt.WindowShortcut)
        a.setCheckable(checkable)
        if tip:
            a.setToolTip(tip)
            a.setStatusTip(tip)
        a.triggered.connect(slot)
        self.addAction(a)
        return a

    def _track_action(self, text: str, slot, keys) -> QAction:
        """An action whose keys work while the track views (or a menu) have the focus."""
        a = QAction(text, self.track)
        a.setShortcuts([QKeySequence(k) for k in keys])
        a.setShortcutContext(Qt.WidgetWithChildrenShortcut)
        a.triggered.connect(slot)
        self.track.addAction(a)
        return a

    def _build_actions(self) -> None:
        A = self._action
        K = QKeySequence
        self.act_open = A(
            "&Open…",
            self.open_dialog,
            [K.Open],
            icon_name="open",
            tip="Open audio or a project (Ctrl+O)",
        )
        self.act_save = A(
            "&Save project",
            self.save,
            [K.Save],
            icon_name="save",
            tip="Save the project beside the audio (Ctrl+S)",
        )
        self.act_export = A(
            "&Export…",
            self.export_dialog,
            ["Ctrl+E"],
            icon_name="export",
            tip="Export the repaired audio (Ctrl+E)",
        )
        self.act_close = A("&Close file", self.close_file, [K.Close])
        # Ctrl+Q everywhere (Qt's standard Quit key is empty on Windows; on macOS this is Cmd+Q).
        self.act_quit = A("&Quit", self.close, ["Ctrl+Q"])
        self.act_undo = A("&Undo", self.undo, ["Ctrl+Z"], icon_name="undo", tip="Undo (Ctrl+Z)")
        self.act_redo = A(
            "&Redo",
            self.redo,
            ["Ctrl+Shift+Z", "Ctrl+Y"],
            icon_name="redo",
            tip="Redo (Ctrl+Shift+Z)",
        )
        self.act_delete = A("&Delete gap", self._delete_selected, [K.Delete])
        self.act_detect = A(
            "De&tect dropouts",
            self.detect_dropouts,
            ["Ctrl+D"],
            icon_name="detect",
            tip="Find digital silence, level drops and clipping (Ctrl+D)",
        )
        self.act_mark_in = A("Mark &in at playhead", self._mark_in, ["I"])
        self.act_mark_out = A("Mark &out at playhead", self._mark_out, ["O"])
        self.act_add_gap = A("&Add gap from marks", self._add_gap_from_marks, ["G"])
        self.act_gap_times = A(
            "Gap ti&mes…",
            self.edit_gap_times,
            ["Ctrl+G"],
            tip="Type the selected gap's start and end, or a new gap's (Ctrl+G)",
        )
        self.act_prev_gap = A("&Previous gap", lambda: self._step_gap(-1), ["["])
        self.act_next_gap = A("&Next gap", lambda: self._step_gap(1), ["]"])
        self.act_zoom_in = A("Zoom &in", lambda: self.track.zoom_by(0.5), ["=", "Ctrl+="])
        self.act_zoom_out = A("Zoom &out", lambda: self.track.zoom_by(2.0), ["-", "Ctrl+-"])
        self.act_zoom_fit = A("Zoom to &fit", self.track.zoom_full, ["0", "Ctrl+0"])
        self.act_zoom_gap = A("Zoom to &gap", self.zoom_to_gap, ["F"], icon_name="zoom_gap")
        self.act_scroll_l = A("Scroll &left", lambda: self.track.scroll_by(-0.25), [","])
        self.act_scroll_r = A("Scroll &right", lambda: self.track.scroll_by(0.25), ["."])
        # The cursor's keys work where the track has the focus (Tab to the waveform): elsewhere
        # the arrows belong to lists, sliders and fields.
        T = self._track_action
        self.cursor_actions = [
            T("Cursor &back", lambda: self._move_cursor(-CURSOR_STEP), ["Left"]),
            T("Cursor &forward", lambda: self._move_cursor(CURSOR_STEP), ["Right"]),
            T("Cursor back &more", lambda: self._move_cursor(-CURSOR_BIG_STEP), ["Shift+Left"]),
            T("Cursor forward m&ore", lambda: self._move_cursor(CURSOR_BIG_STEP), ["Shift+Right"]),
            T("Cursor to &start", lambda: self._cursor_to(0), ["Home"]),
            T("Cursor to &end", lambda: self._cursor_to(None), ["End"]),
        ]
        self.act_play = A("&Play / stop", self.toggle_play, ["Space"])
        self.act_loop = A("&Loop gap", self._toggle_loop, ["L"])
        self.act_ab = A("Toggle &A/B", self.toggle_ab, ["B"])
        self.act_audition = A("Au&dition candidate", self._audition_current, ["P"])
        self.act_run = A("&Run repair", lambda: self.run_repair(), ["Ctrl+R"])  # not (checked)
        self.act_stop = A("&Stop", self.stop_all, ["Esc"])
        self.act_compare_sim = A(
            "Repair with Sim to &compare",
            lambda: self.run_repair(method="sim"),
            tip="Paste the chosen candidate (Sim) into the selected gap; the panel's settings stay",
        )
        self.act_bypass = A(
            "&Bypass repair",
            self._bypass_selected,
            ["Ctrl+B"],
            checkable=True,
            tip="Hear and export the selected gap without its repair (Ctrl+B)",
        )
        self.act_model = A("Other model &folder…", self.choose_model, [])
        self.act_check_fit = A(
            "Check the model's &fit on selection",
            self._toggle_check_fit,
            checkable=True,
            tip="When a gap is selected, measure how well the model knows the music around it "
            "(one network call): the warning and Auto's ω show before the first repair",
        )
        self.act_help = A(
            "&Keyboard shortcuts", self.show_shortcuts, [K.HelpContents, "?"], icon_name="help"
        )
        self.act_about = A("&About SimDPS Studio", self.about, [])

        mb = self.menuBar()
        m = mb.addMenu("&File")
        for a in (self.act_open,):
            m.addAction(a)
        self.recent_menu = m.addMenu("Open &recent")
        m.addSeparator()
        for a in (self.act_save, self.act_export):
            m.addAction(a)
        m.addSeparator()
        m.addAction(self.act_close)
        m.addAction(self.act_quit)
        m = mb.addMenu("&Edit")
        for a in (
            self.act_undo,
            self.act_redo,
            None,
            self.act_mark_in,
            self.act_mark_out,
            self.act_add_gap,
            self.act_gap_times,
            self.act_delete,
            None,
            self.act_prev_gap,
            self.act_next_gap,
            None,
            self.act_detect,
        ):
            m.addSeparator() if a is None else m.addAction(a)
        m = mb.addMenu("&View")
        for a in (
            self.act_zoom_in,
            self.act_zoom_out,
            self.act_zoom_fit,
            self.act_zoom_gap,
            self.act_scroll_l,
            self.act_scroll_r,
        ):
            m.addAction(a)
        m.addSeparator()
        cursor_menu = m.addMenu("&Cursor")
        for a in self.cursor_actions:
            cursor_menu.addAction(a)
        m = mb.addMenu("&Playback")
        for a in (self.act_play, self.act_loop, self.act_ab, self.act_audition):
            m.addAction(a)
        m = mb.addMenu("&Repair")
        for a in (self.act_run, self.act_stop, self.act_compare_sim, self.act_bypass, None):
            m.addSeparator() if a is None else m.addAction(a)
        # The installed models by name (filled when the menu opens), then a folder elsewhere.
        self.model_menu = m.addMenu("&Model")
        self.model_menu.aboutToShow.connect(self._fill_model_menu)
        m.addAction(self.act_check_fit)
        self._build_speed_menus(m)
        m = mb.addMenu("&Help")
        m.addAction(self.act_help)
        m.addAction(self.act_about)

        tb = QToolBar("Main")
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        tb.setIconSize(QSize(18, 18))
        tb.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        for a in (
            self.act_open,
            self.act_save,
            self.act_export,
            None,
            self.act_undo,
            self.act_redo,
            None,
            self.act_detect,
            self.act_zoom_gap,
        ):
            tb.addSeparator() if a is None else tb.addAction(a)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)
        tb.addWidget(spacer)
        self.device_label = QLabel("device: …")
        self.device_label.setObjectName("dim")
        self.device_label.setToolTip("Where diffusion sampling runs")
        box = QWidget()
        bl = QHBoxLayout(box)
        bl.setContentsMargins(0, 0, 8, 0)
        bl.addWidget(self.device_label)
        tb.addWidget(box)
        tb.addAction(self.act_help)
        self.addToolBar(Qt.TopToolBarArea, tb)
        self.toolbar = tb
        self._update_recent_menu()

    # ================================================================================ prompts

    def ask(self, title: str, text: str, buttons, default):
        """A modal question (tests replace this method)."""
        return QMessageBox.question(self, title, text, buttons, default)

    def show_error(self, message: str) -> None:
        """One line in the status bar and a non-blocking message box."""
        self.last_error = message
        log.info("error shown: %s", message)
        self.statusBar().showMessage(f"⚠ {message}", 15000)
        self.error_shown.emit(message)
        if self._closing or os.environ.get("SIMDPS_NO_DIALOGS"):
            return
        # The box reads as a sentence; the status line keeps the message as it is.
        text = message[:1].upper() + message[1:]
        if not text.endswith((".", "!", "?", ")")):
            text += "."
        box = QMessageBox(QMessageBox.Warning, "SimDPS Studio", text, QMessageBox.Ok, self)
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.open()

    def status(self, message: str, ms: int = 8000) -> None:
        self.statusBar().showMessage(message, ms)

    # ================================================================================ files

    def open_dialog(self) -> None:
        start = str(self.settings.value("files/last_dir", str(Path.home())))
        path, _ = QFileDialog.getOpenFileName(self, "Open audio or project", start, AUDIO_FILTER)
        if path:
            self.open_path(path)

    def _confirm_discard(self) -> bool:
        """Ask to stop a running repair and to save unsaved work; False when the user cancels."""
        if self.runner.running("repair"):
            answer = self.ask(
                "A repair is running",
                "A repair is still running. Stop it?",
                QMessageBox.Yes | QMessageBox.Cancel,
                QMessageBox.Cancel,
            )
            if answer == QMessageBox.Cancel:
                return False
        self._confirmed_state = None if self.session is None else self.session.state
        if self.session is None or not self.session.dirty:
            return True
        answer = self.ask(
            "Unsaved changes",
            f"Save the project of {self.path.name if self.path else 'this file'} first?",
            QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel,
            QMessageBox.Save,
        )
        if answer == QMessageBox.Cancel:
            return False
        if answer == QMessageBox.Save:
            return self.save()
        return True

    def open_path(self, path: str | os.PathLike) -> None:
        """Open an audio file (with its saved project, if any) or a ``.simdps.json`` project."""
        p = Path(path).expanduser()
        if not p.exists():
            self.show_error(f"cannot open {p.name}: there is no such file ({p.parent})")
            return
        if not self._confirm_discard():
            return
        project = None
        if p.name.endswith(PROJECT_SUFFIX):
            project = p
        elif project_path_for(p).is_file():
            project = project_path_for(p)
        self.status(f"Opening {p.name}…", 0)
        self.runner.start(
            "open",
            _loader,
            p,
            project,
            on_result=lambda value, p=p: self._opened(p, *value),
            on_error=lambda message, p=p: self.show_error(
                message if p.name in message else f"cannot open {p.name}: {message}"
            ),
            on_progress=lambda f, m: self.status(f"{m or 'opening'}… {f * 100:.0f} %", 0),
        )

    def _opened(
        self, path: Path, session: Session, pyramid, note: str, project_error: str | None
    ) -> None:
        # The window stayed editable while the file loaded: edits made since the question must
        # be asked about again, not dropped.
        if (
            self.session is not None
            and self.session.state is not self._confirmed_state
            and self.session.dirty
            and not self._confirm_discard()
        ):
            self.status(f"Opening {path.name} cancelled")
            return
        self._install_session(session, pyramid)
        self._remember_recent(path)
        if project_error:
            self.show_error(
                f"The saved project of this file was not opened ({project_error}). It stays on "
                "disk; saving keeps it as a .bak file beside the new one."
            )
        # A note (a project not used, a truncated file) stays up longer than the plain message.
        self.status(
            f"Opened {session.source_path.name}" + (f" · {note}" if note else ""),
            30000 if note else 8000,
        )
        self.file_opened.emit(str(path))

    def _for_this_file(self, fn: Callable[..., None]) -> Callable[..., None]:
        """``fn`` for a background task's callback, dropped once another file was opened."""
        session = self.session

        def call(*args: Any) -> None:
            if self.session is session:
                fn(*args)

        return call

    def _install_session(self, session: Session, pyramid) -> None:
        self.playback.stop()
        # Work on the previous file must not reach this one (its gaps may lie at the same
        # samples); the callbacks check the session too (_for_this_file), for a result already
        # on its way.
        for name in ("search", "fit", "preview", "detect"):
            self.runner.cancel(name)
        if self.runner.cancel("repair"):
            self.repair_panel.set_progress(0.0, "stopped: another file was opened")
        self._drop_autosave()
        if self.workspace is not None:
            self.workspace.close()
        self.workspace, self.pyramid = Workspace(session), pyramid  # lists a project's takes
        self.path = session.source_path
        self.cursor_sample = 0
        self.mark_in = self.mark_out = None
        self._subscribe(self.workspace)
        self.track.set_audio(session.audio, pyramid)
        self.playback.set_audio(session.audio)
        self._update_playback_message()
        self.cands_panel.clear()
        self.repair_panel.set_takes([], None)
        if session.gaps:
            self.workspace.select(session.gaps[0])
        self._refresh()
        if self.selected_gap is not None:
            self.select_gap(self.selected_gap)
        if self.session.source_path:
            self.autosave_file = recovery.autosave_path_for(session, self.recovery_folder)
        if session.dirty:
            self._autosave_timer.start()

    def close_file(self) -> None:
        if not self._confirm_discard():
            return
        self.playback.stop()
        self.playback.set_audio(None)
        self.runner.cancel("search")
        self.runner.cancel("repair")
        self._drop_autosave()
        if self.workspace is not None:
            self.workspace.close()
        self.workspace = self.pyramid = self.path = None
        self.track.audio = None
        self.track.set_enabled_views(False)
        self.cands_panel.clear()
        self._refresh()

    def save(self) -> bool:
        """Save the project beside the audio; True on success."""
        if self.session is None:
            return False
        kept: list[Path] = []
        try:
            target = save_project(self.session, on_kept=kept.append)
        except SimDPSError as e:
            self.show_error(str(e))
            return False
        self._drop_autosave()
        if kept:
            self.status(
                f"Saved project {target.name}; the earlier one was kept as {kept[0].name}", 20000
            )
        else:
            self.status(f"Saved project {target.name}")
        self._update_title()
        return True

    def export_dialog(self) -> None:
        if self.session is None:
            return
        a = self.session.audio
        dlg = ExportDialog(self.session.source_path, a.subtype, a.format, self)
        if dlg.exec() == QDialog.Accepted and self._may_replace(dlg.options().path):
            self.export(dlg.options())

    def _may_replace(self, path: Path) -> bool:
        """Ask before an export replaces an existing file (a typed name gets no file-dialog
        question); refusals of the source itself come from the export."""
        if not path.is_file():
            return True
        answer = self.ask(
            "Replace file?",
            f"{path.name} already exists in {path.parent}. Replace it with this export?",
            QMessageBox.Yes | QMessageBox.No,
            QMessageBox.No,
        )
        return answer == QMessageBox.Yes

    def export(self, options: ExportOptions) -> None:
        """Export in the background; ``export_finished`` carries the provenance record."""
        if self.session is None:
            return
        snapshot = Session(
            self.session.audio,
            self.session.source_path,
            self.session.source_sha256,
            self.session.state,
        )
        self.status(f"Exporting {options.path.name}…", 0)
        self.runner.start(
            "export",
            _export_job,
            snapshot,
            options,
            on_result=self._exported,
            on_error=self.show_error,
        )

    def _exported(self, record: dict) -> None:
        null = record.get("null_test_outside_spans")
        if null is None:  # the export converted the samples: no bit-exact comparison
            notes = record.get("conversion_notes") or ["sample format converted"]
            result = "; ".join(notes)
        else:
            self._set_null_badge(bool(null))
            result = "outside samples unchanged" if null else "NULL TEST FAILED"
        self.status(f"Exported {Path(record['output']).name} · {result}", 15000 if null else 30000)
        self.export_finished.emit(record)

    # ================================================================================ recent, drop

    def _remember_recent(self, path: Path) -> None:
        recent = [str(path.resolve())] + [p for p in self._recent() if p != str(path.resolve())]
        self.settings.setValue("files/recent", recent[:MAX_RECENT])
        self.settings.setValue("files/last_dir", str(path.resolve().parent))
        self._update_recent_menu()

    def _recent(self) -> list[str]:
        value = self.settings.value("files/recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _update_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self._recent()
        for p in recent:
            a = self.recent_menu.addAction(Path(p).name)
            a.setToolTip(p)
            a.triggered.connect(lambda _=False, p=p: self.open_path(p))
        self.recent_menu.setEnabled(bool(recent))

    def dragEnterEvent(self, ev):
        if ev.mimeData().hasUrls():
            ev.acceptProposedAction()

    def dropEvent(self, ev):
        urls = [u.toLocalFile() for u in ev.mimeData().urls() if u.isLocalFile()]
        if urls:
            ev.acceptProposedAction()
            self.open_path(urls[0])

    # ================================================================================ session

    def _subscribe(self, workspace: Workspace) -> None:
        """Each view listens to what it shows (docs/architecture.md, section 2)."""
        workspace.subscribe("selection", self._on_selection)
        workspace.subscribe("gaps", lambda _change: self._draw_gaps_and_state())
        workspace.subscribe("repairs", lambda _change: self._draw_repairs())
        workspace.subscribe("candidates", self._on_candidates)
        workspace.subscribe("takes", self._on_takes)
        workspace.subscribe("document", self._on_document)

    def _on_document(self, _change: Change) -> None:
        self._update_actions()
        self._update_title()
        self._autosave_timer.start()

    def _on_selection(self, change: Change) -> None:
        if change.vanished:  # deleted or undone: the panels must not go on describing it
            self.cands_panel.clear()
            self.cands_panel.set_title(None)
            self.repair_panel.hint.setText("")
            self.track.set_candidate(None)
        self._draw_gaps_and_state()
        self._update_actions()

    def _on_candidates(self, change: Change) -> None:
        if change.gap == self.selected_gap:
            self._show_candidate_mark()
        self._update_actions()

    def _on_takes(self, change: Change) -> None:
        if change.gap == self.selected_gap:
            self._update_takes()

    def _spans(self) -> list[RepairSpan]:
        if self.session is None:
            return []
        return [
            RepairSpan(r.gap, r.span_start_sample, r.fill, r.enabled) for r in self.session.repairs
        ]

    def _draw_repairs(self) -> None:
        """The repaired spans (waveform, spectrogram, playback), then the gaps and the selected
        gap's state (the gap marks show which gaps are repaired)."""
        spans = self._spans()
        self.track.set_spans(spans)  # before set_gaps: it draws the spans' margins
        self.playback.set_patches(patches_from(spans))
        self._draw_gaps_and_state()

    def _draw_gaps_and_state(self) -> None:
        """The gap marks and list, and what describes the selected gap."""
        s = self.session
        repairs = {r.gap: r for r in s.repairs}
        self.track.set_gaps(s.gaps, self.selected_gap, set(repairs))
        self.gaps_panel.set_gaps(s.gaps, s.audio.sr, repairs, self.selected_gap)
        self._show_candidate_mark()
        self._update_takes()
        self._update_seam_badge()
        if not self.repair_panel.running:
            self.repair_panel.set_fit_warning(self._gap_fit_warning(self.selected_gap))

    def _refresh(self) -> None:
        """Bring every view in line with the session."""
        if self.session is None:
            self.gaps_panel.set_gaps([], 44100, {}, None)
            self.track.set_gaps([], None, set())
            self.repair_panel.omega.show_auto_value(None)
            self._update_actions()
            self._update_title()
            return
        self._draw_repairs()
        self._update_actions()
        self._update_title()

    def _gap_fit_warning(self, gap: Gap | None) -> str | None:
        """The warning for ``gap``: its repair's, else the fit measured on selection, else None."""
        if self.workspace is None:
            return None
        return self.workspace.fit_warning(gap, self.model_name)

    def _update_title(self) -> None:
        name = self.path.name if self.path else "no file"
        dirty = "•" if self.session is not None and self.session.dirty else ""
        self.setWindowTitle(f"{dirty}{name} — SimDPS Studio")

    def _update_actions(self) -> None:
        has = self.session is not None
        gap = self.selected_gap is not None
        running = self.runner.running("repair")
        for a in (
            self.act_save,
            self.act_export,
            self.act_detect,
            self.act_zoom_fit,
            self.act_zoom_in,
            self.act_zoom_out,
            self.act_close,
            self.act_mark_in,
            self.act_mark_out,
            self.act_scroll_l,
            self.act_scroll_r,
            self.act_gap_times,
            *self.cursor_actions,
        ):
            a.setEnabled(has)
        self.act_undo.setEnabled(has and self.session.can_undo)
        self.act_redo.setEnabled(has and self.session.can_redo)
        for a in (self.act_delete, self.act_zoom_gap, self.act_loop):
            a.setEnabled(gap)
        self._update_estimate()
        self.act_run.setEnabled(gap and not running)
        self.act_compare_sim.setEnabled(gap and not running)
        repair = self.session.repair_for(self.selected_gap) if gap else None
        self.act_bypass.setEnabled(repair is not None)
        self.act_bypass.setChecked(repair is not None and not repair.enabled)
        self.repair_panel.run_btn.setEnabled(gap and not running)
        self.act_audition.setEnabled(gap and bool(self.workspace.candidates(self.selected_gap)))
        self.act_play.setEnabled(has and self.playback.available)
        for w in (self.transport.play_btn, self.transport.loop_btn):
            w.setEnabled(has and self.playback.available)
        for w in (self.transport.a_btn, self.transport.b_btn):
            w.setEnabled(has)
        self.act_stop.setEnabled(running or self.playback.playing)
        self.act_add_gap.setEnabled(has and self.mark_in is not None and self.mark_out is not None)
        if has:
            label = self._label(self.session.state.label) if self.session.can_undo else ""
            self.act_undo.setToolTip(f"Undo {label} (Ctrl+Z)".replace("  ", " "))

    @staticmethod
    def _label(text: str) -> str:
        return text if len(text) < 40 else text[:37] + "…"

    def undo(self) -> None:
        if self.session is not None and self.session.undo():
            self.status(f"Undone: {self.session.redo_stack[-1].label}")

    def redo(self) -> None:
        if self.session is not None and self.session.redo():
            self.status(f"Redone: {self.session.state.label}")

    # ================================================================================ gaps

    def _gap_drawn(self, start: int, end: int) -> None:
        self.add_gap(Gap(start, end))

    def add_gap(self, gap: Gap) -> bool:
        if self.session is None:
            return False
        repairs_before = len(self.session.repairs)
        try:
            self.selected_gap = gap
            self.session.add_gap(gap)
        except InputError as e:
            self.selected_gap = None
            self._refresh()
            self.show_error(str(e))
            return False
        dropped = repairs_before - len(self.session.repairs)
        self.status(
            f"Added gap {gap.describe(self.session.audio.sr)}"
            + (
                "; the repair beside it was removed (its crossfade reached into the new gap: "
                "run it again, or Ctrl+Z)"
                if dropped
                else ""
            ),
            20000 if dropped else 8000,
        )
        self.select_gap(gap)
        return True

    def _gap_edited(self, old: Gap, new: Gap) -> None:
        if self.session is None:
            return
        try:
            self.selected_gap = new
            self.session.move_gap(old, new)
        except InputError as e:
            self.selected_gap = old
            self.track.restore_gap(old)  # the dragged region goes back where the gap is
            self._refresh()
            self.show_error(str(e))
            return
        self.select_gap(new)

    def delete_gap(self, gap: Gap) -> None:
        if self.session is not None and gap in self.session.gaps:
            self.session.remove_gap(gap)
            self.status("Gap removed (Ctrl+Z brings it back)")

    def _delete_selected(self) -> None:
        if self.selected_gap is not None:
            self.delete_gap(self.selected_gap)

    def _step_gap(self, step: int) -> None:
        if self.session is None or not self.session.gaps:
            return
        gaps = list(self.session.gaps)
        i = gaps.index(self.selected_gap) + step if self.selected_gap in gaps else 0
        self.select_gap(gaps[i % len(gaps)])
        self.zoom_to_gap()

    def select_gap(self, gap: Gap | None) -> None:
        """Make ``gap`` the one the panels work on; search its candidates if not done yet."""
        if self.session is None or gap not in self.session.gaps:
            return
        if gap == self.selected_gap:
            self._draw_gaps_and_state()
            self._update_actions()
        else:
            self.workspace.select(gap)  # the views that show the selection follow
        number = list(self.session.gaps).index(gap) + 1
        self.cands_panel.set_title(number)
        self.repair_panel.hint.setText(
            f"gap #{number} · {format_length(gap.duration_s(self.session.audio.sr))}"
        )
        if self.workspace.has_candidates(gap):
            self.cands_panel.set_candidates(
                self.workspace.candidates(gap), self.workspace.chosen_rank(gap)
            )
            self._show_candidate_mark()
            self._check_fit(gap)
        else:
            self._search(gap)  # then the fit: the two would only slow each other down

    def zoom_to_gap(self) -> None:
        if self.selected_gap is not None:
            self.track.zoom_to_samples(self.selected_gap.start_sample, self.selected_gap.end_sample)

    def _mark_in(self) -> None:
        self.mark_in = self._playhead_or_cursor()
        self.status(f"Mark in at {format_time(self.mark_in / self.session.audio.sr)}")
        self._update_actions()

    def _mark_out(self) -> None:
        self.mark_out = self._playhead_or_cursor()
        self.status(f"Mark out at {format_time(self.mark_out / self.session.audio.sr)}")
        self._update_actions()

    def _add_gap_from_marks(self) -> None:
        if self.mark_in is None or self.mark_out is None:
            return
        a, b = sorted((self.mark_in, self.mark_out))
        if self.add_gap(Gap(a, b)):
            self.mark_in = self.mark_out = None

    def ask_gap_times(self, start_s: float, end_s: float, *, new: bool):
        """(start_s, end_s) from :class:`GapTimesDialog`, or None when cancelled (tests replace
        this, as they do :meth:`ask`)."""
        dialog = GapTimesDialog(start_s, end_s, self.session.audio.duration_s, new=new, parent=self)
        return dialog.times() if dialog.exec() == QDialog.Accepted else None

    def edit_gap_times(self) -> None:
        """Edit > Gap times: move the selected gap's edges, or add a gap, by typing its times.

        A new gap starts from the marks when both are set, else from the cursor (0.5 s long).
        """
        if self.session is None:
            return
        sr = self.session.audio.sr
        old = self.selected_gap
        if old is not None:
            start, end = old.start_sample, old.end_sample
        elif self.mark_in is not None and self.mark_out is not None:
            start, end = sorted((self.mark_in, self.mark_out))
        else:  # half a second from the cursor, inside the track
            n = self.session.audio.n_samples
            start = max(min(self._playhead_or_cursor(), n - sr // 2), 0)
            end = min(start + sr // 2, n)
        times = self.ask_gap_times(start / sr, end / sr, new=old is None)
        if times is None:
            return
        gap = gap_from_times(*times, sr, old, n_samples=self.session.audio.n_samples)
        if old is None:
            if self.add_gap(gap):
                self.mark_in = self.mark_out = None
        elif gap != old:
            self._gap_edited(old, gap)

    def _bypass_selected(self) -> None:
        gap = self.selected_gap
        if self.session is not None and gap is not None:
            repair = self.session.repair_for(gap)
            if repair is not None:
                self._toggle_repair(gap, not repair.enabled)
                self.status("Repair bypassed" if repair.enabled else "Repair applied")

    def _move_cursor(self, fraction: float) -> None:
        """Move the cursor by ``fraction`` of the visible width (at least one sample)."""
        if self.session is None:
            return
        t0, t1 = self.track.visible_range_s()
        step = round(fraction * (t1 - t0) * self.session.audio.sr) or (1 if fraction > 0 else -1)
        self._cursor_to(self._playhead_or_cursor() + step)

    def _cursor_to(self, sample: int | None) -> None:
        """Put the cursor at ``sample`` (None: the end of the track) and keep it in view."""
        if self.session is None:
            return
        n = self.session.audio.n_samples
        sample = n if sample is None else min(max(int(sample), 0), n)
        self._seek(sample)
        self.track.set_playhead(sample, follow=True)

    # ================================================================================ candidates

    def _search(self, gap: Gap) -> None:
        audio = self.session.audio
        others = self.session.other_gaps(gap)
        self.cands_panel.clear("Searching the track for similar passages…")
        self.cands_panel.set_busy("Searching the track for similar passages…", 0.0)

        def done(cands, gap=gap):
            self.workspace.set_candidates(gap, cands)  # the candidate mark follows
            if gap == self.selected_gap:
                if cands:
                    self.cands_panel.set_candidates(cands, self.workspace.chosen_rank(gap))
                else:
                    self.cands_panel.clear("No candidate found for this gap.")
                self._check_fit(gap)
            self.candidates_ready.emit(cands)

        def failed(message, gap=gap):
            self.workspace.set_candidates(gap, [])
            if gap == self.selected_gap:
                self.cands_panel.clear(message)
            self.candidates_ready.emit([])

        self.runner.start(
            "search",
            engines.find_candidates,
            audio,
            gap,
            other_gaps=others,
            top_k=TOP_K,
            on_result=self._for_this_file(done),
            on_error=self._for_this_file(failed),
            on_progress=self._for_this_file(
                lambda f, m: self.cands_panel.set_busy(m or "Searching…", f)
            ),
        )

    def _check_fit(self, gap: Gap) -> None:
        """Measure the model's fit around ``gap`` in the background (once per gap and model).

        Skipped when switched off, without an installed model, and while a repair runs (the
        repair measures it first)."""
        if (
            self.session is None
            or not self.act_check_fit.isChecked()
            or not engines.model_installed(self.model_name)
            or self.runner.running("repair")
        ):
            return
        self.runner.start(
            "fit",
            engines.measure_fit,
            self.session.audio,
            gap,
            self.model_name,
            other_gaps=self.session.other_gaps(gap),
            on_result=self._for_this_file(lambda record, gap=gap: self._fit_measured(gap, record)),
            # Not worth a dialog: the repair measures it again and reports what goes wrong.
            on_error=lambda message: log.warning("prior-fit check failed: %s", message),
        )

    def _fit_measured(self, gap: Gap, record: dict | None) -> None:
        if self.session is None or gap != self.selected_gap or gap not in self.session.gaps:
            return  # shown by _refresh when that gap is selected again
        self._show_candidate_mark()  # Auto's ω may now copy
        if self.repair_panel.running:
            return
        warning = self._gap_fit_warning(gap)
        self.repair_panel.set_fit_warning(warning)
        if warning and self.session.repair_for(gap) is None:
            self.status(f"{warning[0].upper()}{warning[1:]}", 20000)

    def _build_speed_menus(self, menu) -> None:
        """Repair → Precision and Repair → Warm start: choices kept in the settings."""
        self.precision_actions: dict[str, QAction] = {}
        self.warm_start_actions: dict[float | None, QAction] = {}
        for title, items, chosen, store, on_pick in (
            (
                "&Precision",
                PRECISION_ITEMS,
                self.precision,
                self.precision_actions,
                self.set_precision,
            ),
            (
                "&Warm start",
                WARM_START_ITEMS,
                self.start_sigma,
                self.warm_start_actions,
                self.set_start_sigma,
            ),
        ):
            sub = menu.addMenu(title)
            group = QActionGroup(sub)
            for label, value in items:
                a = QAction(label, sub, checkable=True)
                a.setChecked(value == chosen)
                a.triggered.connect(lambda _on=False, v=value, f=on_pick: f(v))
                group.addAction(a)
                sub.addAction(a)
                store[value] = a
        self.precision_actions["auto"].setToolTip(
            "bf16 where this processor has bf16 matrix support and a one-off measurement found "
            "it at least 1.2× faster; fp32 otherwise"
        )

    def set_precision(self, precision: str) -> None:
        """Run repairs in ``precision`` ("auto", "fp32" or "bf16"); remembered."""
        self.precision = precision
        self.settings.setValue("repair/precision", precision)
        self.precision_actions[precision].setChecked(True)
        self.device_label.setText("device: …")
        self._probe_device()

    def set_start_sigma(self, start_sigma: float | None) -> None:
        """Warm-start SimDPS at ``start_sigma`` (None: from noise); remembered."""
        self.start_sigma = start_sigma
        self.settings.setValue("repair/start_sigma", "" if start_sigma is None else start_sigma)
        self.warm_start_actions[start_sigma].setChecked(True)
        self._update_estimate()

    def _toggle_check_fit(self, on: bool) -> None:
        self.settings.setValue("repair/check_fit", bool(on))
        if (
            self.selected_gap is not None
            and on
            and self.workspace.has_candidates(self.selected_gap)
        ):
            self._check_fit(self.selected_gap)

    def _current_candidate(self):
        return self.workspace.current_candidate() if self.workspace is not None else None

    def _show_candidate_mark(self) -> None:
        """Mark the current candidate on the track and show the ω Auto would take from it."""
        c = self._current_candidate() if self.selected_gap is not None else None
        # After a diffusion repair of this gap the prior's fit is known, and Auto may copy.
        fit = (
            engines.known_fit(
                self.model_name,
                self.session.audio,
                self.selected_gap,
                self.session.other_gaps(self.selected_gap),
            )
            if c is not None and self.session is not None
            else None
        )
        poor = bool(fit and fit["poor"])
        self.repair_panel.omega.show_auto_value(
            engines.resolve_omega("auto", c, poor_fit=poor) if c is not None else None
        )
        if c is None or getattr(c, "source", None):
            self.track.set_candidate(None)
        else:
            self.track.set_candidate(c.start_sample, self.selected_gap.length)

    def _candidate_chosen(self, rank: int) -> None:
        if self.selected_gap is None:
            return
        self.workspace.choose_candidate(self.selected_gap, rank)  # the candidate mark follows
        c = self._current_candidate()
        if c is not None:
            self.status(
                f"Candidate {rank} at {format_time(c.start_s)} (score {c.score:.2f}) will guide the repair"
            )

    def _audition_current(self) -> None:
        if self.workspace is None:
            return
        rank = self.cands_panel.current_rank() or self.workspace.chosen_rank(
            self.selected_gap, default=None
        )
        if rank:
            self.audition_candidate(rank)

    def audition_candidate(self, rank: int) -> None:
        """Play the candidate in place: pre-roll, the candidate with Sim's crossfades, post-roll."""
        gap = self.selected_gap
        if self.session is None or gap is None:
            return
        self.workspace.choose_candidate(gap, rank)  # the candidate mark follows
        self.cands_panel.select_rank(rank)
        cand = self._current_candidate()
        if cand is None:
            return
        audio = self.session.audio
        self.runner.start(
            "preview",
            lambda progress=None, cancel=None: engines.preview_candidate(audio, gap, cand),
            on_result=self._for_this_file(lambda rep, rank=rank: self._play_preview(rep, rank)),
            on_error=self.show_error,
        )

    def _play_preview(self, repair, rank: int) -> None:
        from simdps_studio.audio.player import Patch

        self.last_preview = repair
        self.preview_ready.emit(repair)
        if not self.playback.available:
            self.status(f"Candidate {rank} ready — {self.playback.message}")
            return
        self.transport.set_b(True)
        start, end = self._roll_range(repair.gap)
        self.playback.play(
            start,
            end,
            loop=self.transport.loop_btn.isChecked(),
            extra_patches=[Patch(repair.span_start_sample, repair.fill)],
        )
        self.status(f"Auditioning candidate {rank} in place")

    # ================================================================================ repair

    def request(self):
        """The RepairRequest the panel describes (with the chosen candidate)."""
        p = self.repair_panel
        return engines.RepairRequest(
            method=p.method_name(),
            omega="auto" if p.omega.is_auto() else p.omega.value(),
            steps=p.steps.value(),
            takes=p.takes.value(),
            seed=p.seed.value(),
            candidate_rank=self.workspace.chosen_rank(self.selected_gap) if self.workspace else 1,
            model=self.model_name,
            draft=p.draft.isChecked(),
            precision=self.precision,
            start_sigma=self.start_sigma,
            margin_ms=p.margin.value(),
        )

    def run_repair(self, method: str | None = None) -> None:
        """Repair the selected gap in the background (with ``method`` instead of the panel's)."""
        if self.session is None or self.selected_gap is None or self.runner.running("repair"):
            return
        gap = self.selected_gap
        request = self.request()
        if method is not None:  # the panel keeps its settings for the next run
            request = dataclasses.replace(request, method=method)
        others_gaps = self.session.other_gaps(gap)
        others = [r for r in self.session.repairs if r.gap != gap]
        self.runner.cancel("fit")  # the repair measures the fit itself (or reads it, if done)
        self.repair_panel.set_running(True)
        self.repair_panel.set_progress(0.0, "starting…")
        self.runner.start(
            "repair",
            repair_and_verify,
            self.session.audio,
            gap,
            request,
            other_gaps=others_gaps,
            others=others,
            on_result=lambda made, gap=gap, session=self.session: self._repaired(
                gap, made, session=session
            ),
            on_error=self._for_this_file(self._repair_error),
            on_cancelled=self._for_this_file(self._repair_cancelled),
            on_progress=self._for_this_file(self.repair_panel.set_progress),
            on_done=self._repair_done,
        )
        self._update_actions()

    def _repaired(self, gap: Gap, made: VerifiedRepair, *, session: Session) -> None:
        repairs = list(made.repairs)
        if self.session is not session:
            self.repair_panel.set_progress(0.0, "dropped: another file was opened")
            return
        # Earlier runs on this gap stay listed (newest last), so a SimDPS fill and a Sim fill,
        # or two ω values, can be compared by selecting them: each is undoable.
        if not self.workspace.add_takes(gap, made):
            message = "the gap or its neighbours changed while it was repaired: result dropped"
            self.repair_panel.set_progress(1.0, message)
            self.status(f"Repair finished, but {message}")
            self.repair_failed.emit(message)
            return
        self._record_pace(repairs[0])
        self._set_null_badge(made.null_ok)
        secs = repairs[0].info.seconds
        method = repairs[0].method
        # make_repairs stores the number it used, also when the request said "auto".
        omega = repairs[0].info.omega if method == "simdps" else None
        label = method_label(method)
        with_omega = f"{label} ω {omega:.3f}" if isinstance(omega, (int, float)) else label
        self.repair_panel.set_progress(
            1.0,
            f"{with_omega} · {len(repairs)} take{'s' if len(repairs) != 1 else ''}"
            + (f" · {secs:.1f} s" if secs else ""),
        )
        self.transport.set_b(True)
        warning = engines.fit_warning(repairs[0].info)
        if gap == self.selected_gap:  # else it shows when that gap is selected (_refresh)
            self.repair_panel.set_fit_warning(warning)
        self._show_candidate_mark()  # Auto's value may now know the prior's fit
        done = f"Repaired gap with {with_omega}" + (f" in {secs:.1f} s" if secs else "")
        self.status(f"{done}: {warning}" if warning else done, 20000 if warning else 8000)
        self.repair_finished.emit(repairs)

    # Pace of diffusion repairs on this machine (session/pace.py), kept in the settings.

    def _pace_record(self) -> PaceRecord:
        return PaceRecord.from_json(str(self.settings.value("repair/pace", "{}")))

    def _record_pace(self, repair) -> None:
        record = self._pace_record()
        if record.record(self.model_name, repair):
            self.settings.setValue("repair/pace", record.to_json())
        # The label follows in _repair_done's _update_actions.

    def _update_estimate(self) -> None:
        self.repair_panel.estimate.setText(self._estimate_text())

    def _estimate_text(self) -> str:
        """What a diffusion repair of the selected gap with the panel's settings should take."""
        gap, session = getattr(self, "selected_gap", None), getattr(self, "session", None)
        if gap is None or session is None:
            return ""
        request = self.request()
        # The pace of the precision that will run (the device line says which).
        device, precision = split_device_label(self.device_label.text().removeprefix("device: "))
        pace = self._pace_record().pace(self.model_name, device, precision)
        expected = estimate_seconds(pace, session.audio, gap, request, self.repair_panel.steps_for)
        if expected is None:
            return ""
        if expected.seconds is None:
            return "time estimate after the first diffusion repair"
        text = f"expected {format_duration(expected.seconds)} here"
        if not request.draft:  # point at the fast path
            text += f" (Draft {format_duration(expected.draft_seconds)})"
        return text

    def _repair_error(self, message: str) -> None:
        self.repair_panel.set_progress(0.0, "failed")
        self.show_error(message)
        self.repair_failed.emit(message)

    def _repair_cancelled(self) -> None:
        self.repair_panel.set_progress(0.0, "cancelled")
        self.status("Repair cancelled")
        self.repair_cancelled.emit()

    def _repair_done(self) -> None:
        self.repair_panel.set_running(False)
        # What was selected, undone or cancelled while it ran decides the warning now.
        self.repair_panel.set_fit_warning(self._gap_fit_warning(self.selected_gap))
        self._update_actions()

    def stop_repair(self) -> None:
        if self.runner.cancel("repair"):
            self.repair_panel.progress_label.setText("stopping…")

    def stop_all(self) -> None:
        """Esc: stop playback, else cancel a running repair."""
        if self.playback.playing:
            self.playback.stop()
        else:
            self.stop_repair()

    def _update_takes(self) -> None:
        gap = self.selected_gap
        takes = self.workspace.takes(gap) if self.workspace is not None else []
        current = self.session.repair_for(gap) if (gap is not None and self.session) else None
        labels = []
        for i, r in enumerate(takes, start=1):
            seam = self.workspace.known_seam(r)
            seed = r.info.seed
            text = f"Take {i} · {method_label(r.method)}"
            omega = r.info.omega
            if r.method == "simdps" and isinstance(omega, (int, float)):
                text += f" ω {omega:.3f}"
            if r.info.draft:
                text += " draft"
            if seed is not None:
                text += f" · seed {seed}"
            if seam is not None:
                text += f" · seam {seam[1]:+.1f} dB"
            labels.append(text)
        cur = next(
            (
                i
                for i, r in enumerate(takes)
                if current is not None and r.repair_id == current.repair_id
            ),
            None,
        )
        self.repair_panel.set_takes(labels, cur)

    def _take_chosen(self, index: int) -> None:
        if self.workspace is None or self.selected_gap is None:
            return
        try:
            used = self.workspace.use_take(self.selected_gap, index)
        except InputError as e:  # e.g. its crossfade reaches a gap added since
            self._update_takes()  # the list goes back to the take in use
            self.show_error(f"take {index + 1} no longer fits: {e}")
            return
        if used:
            self.status(f"Using take {index + 1}")

    def _toggle_repair(self, gap: Gap, enabled: bool) -> None:
        if self.session is not None and self.session.repair_for(gap) is not None:
            self.session.set_repair_enabled(gap, enabled)

    def _update_seam_badge(self) -> None:
        r = (
            self.session.repair_for(self.selected_gap)
            if (self.session and self.selected_gap)
            else None
        )
        if r is None:
            self._badge(self.seam_badge, "none", "seams: –")
            return
        grade, db = self.workspace.seam(r)
        text = {"ok": "seams smooth", "warn": "seams: listen", "bad": "seam click"}[grade]
        self._badge(self.seam_badge, grade, f"{'✓' if grade == 'ok' else '!'} {text} {db:+.1f} dB")

    def _set_null_badge(self, ok: bool | None) -> None:
        if self.workspace is not None:
            self.workspace.null_ok = ok
        if ok is None:
            self._badge(self.null_badge, "none", "null test: –")
        elif ok:
            self._badge(self.null_badge, "ok", "✓ outside samples unchanged")
        else:
            self._badge(self.null_badge, "bad", "✗ outside samples changed")

    @staticmethod
    def _badge(label: QLabel, state: str, text: str) -> None:
        label.setText(text)
        label.setProperty("state", state)
        label.style().unpolish(label)
        label.style().polish(label)

    def _repair_settings_changed(self) -> None:
        self._update_estimate()
        if getattr(self, "_restoring", False):
            return
        p = self.repair_panel
        s = self.settings
        s.setValue("repair/method", p.method_name())
        s.setValue("repair/omega", p.omega.value())
        s.setValue("repair/omega_auto", p.omega.is_auto())
        s.setValue("repair/steps", p.steps_for(False))
        s.setValue("repair/draft_steps", p.steps_for(True))
        if self._takes_chosen:  # else the device's default applies next time too
            s.setValue("repair/takes", p.takes.value())
        s.setValue("repair/draft", p.draft.isChecked())
        s.setValue("repair/margin_ms", p.margin.value())
        self._update_model_label()

    def _fill_model_menu(self) -> None:
        menu = self.model_menu
        menu.clear()
        current = self.model_name or engines.DEFAULT_MODEL
        installed = engines.installed_models()
        for name in installed:
            label = name + (" (default)" if name == engines.DEFAULT_MODEL else "")
            a = menu.addAction(label, lambda name=name: self.set_model(name))
            a.setCheckable(True)
            a.setChecked(name == current)
        if current not in installed:  # a folder chosen elsewhere
            a = menu.addAction(Path(current).name, lambda: None)
            a.setCheckable(True)
            a.setChecked(True)
            a.setToolTip(current)
        menu.addSeparator()
        menu.addAction(self.act_model)

    def _popup_model_menu(self) -> None:
        """The Repair → Model menu, under the panel's model line (its link)."""
        label = self.repair_panel.model
        self.model_menu.popup(label.mapToGlobal(label.rect().bottomLeft()))

    def choose_model(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Model folder (config.json + weights)")
        if path:
            self.set_model(path)

    def set_model(self, name_or_dir: str | None) -> None:
        self.model_name = name_or_dir or None
        self.settings.setValue("repair/model", self.model_name or "")
        self._update_model_label()
        self._probe_device()  # the precision is measured per model preset
        if self.session is not None and self.selected_gap is not None:
            self._refresh()  # the warning and Auto's ω belong to the model
            if self.workspace.has_candidates(self.selected_gap):
                self._check_fit(self.selected_gap)

    def _update_model_label(self) -> None:
        name = self.model_name or engines.DEFAULT_MODEL
        short = Path(name).name if os.sep in name else name
        installed = engines.model_installed(self.model_name)
        self.repair_panel.model.setText(
            f'model: <a href="model">{html.escape(short)}</a>'
            + ("" if installed else " (not installed)")
        )
        self.repair_panel.model.setToolTip(
            (
                name
                if installed
                else f"{name} is not installed: Auto uses Sim; SimDPS/DPS need a model"
            )
            + "\nClick to choose another model"
        )

    def _takes_edited(self) -> None:
        self._takes_chosen = True

    def _device_ready(self, label: str) -> None:
        self.device_label.setText(f"device: {label}")
        takes = self.repair_panel.takes
        if label.startswith("CUDA") and not self._takes_chosen and takes.value() == 1:
            takes.setValue(DEFAULT_GPU_TAKES)  # a batch of takes costs little more on a GPU
            self._takes_chosen = False  # the device's choice, not the user's: not remembered
        self._update_estimate()  # the pace is remembered per device

    # ================================================================================ detect

    def detect_dropouts(self) -> None:
        if self.session is None:
            return
        self.status("Detecting dropouts…", 0)
        self.runner.start(
            "detect",
            engines.detect_dropouts,
            self.session.audio,
            on_result=self._for_this_file(self._detected),
            on_error=self.show_error,
        )

    def _detected(self, found: list) -> None:
        items = [d.to_dict() if hasattr(d, "to_dict") else dict(d) for d in found]
        if not items:
            self.status("No dropouts found")
            self.dropouts_detected.emit(0)
            return
        added = self.add_suggestions(self.choose_suggestions(items))
        self.dropouts_detected.emit(added)

    def choose_suggestions(self, items: list[dict]) -> list[dict]:
        """Let the user pick which detected regions become gaps (tests replace this method)."""
        sr = self.session.audio.sr
        existing = [(g.start_sample / sr, g.end_sample / sr) for g in self.session.gaps]
        dlg = DetectDialog(items, self, existing=existing)
        return dlg.checked() if dlg.exec() == QDialog.Accepted else []

    def add_suggestions(self, items: list[dict]) -> int:
        """Add detected regions as gaps (overlapping ones are skipped); returns how many."""
        sr = self.session.audio.sr
        gaps = [
            Gap(
                int(d.get("start_sample", round(d["start_s"] * sr))),
                int(d.get("end_sample", round(d["end_s"] * sr))),
            )
            for d in items
        ]
        added = self.session.add_gaps(gaps, label="detected dropouts")  # one undo step
        self.status(
            f"Added {len(added)} gap(s) from the detector"
            + (" (Ctrl+Z takes them back)" if added else "")
        )
        if added:
            self.select_gap(added[0])
            self.zoom_to_gap()
        return len(added)

    # ================================================================================ playback

    def _update_playback_message(self) -> None:
        if self.playback.available:
            self.transport.set_playback_message("")
        else:
            self.transport.set_playback_message(self.playback.message)
        for w in (self.transport.play_btn, self.transport.loop_btn):
            w.setEnabled(self.playback.available and self.session is not None)
        self.act_play.setEnabled(self.playback.available and self.session is not None)

    def _playback_failed(self, message: str) -> None:
        self._update_playback_message()
        self.show_error(message)

    def _roll_range(self, gap: Gap) -> tuple[int, int]:
        sr = self.session.audio.sr
        start = max(0, gap.start_sample - int(self.transport.pre.value() * sr))
        end = min(
            self.session.audio.n_samples, gap.end_sample + int(self.transport.post.value() * sr)
        )
        return start, end

    def toggle_play(self) -> None:
        if self.session is None:
            return
        if self.playback.playing:
            self.playback.stop()
            return
        if not self.playback.available:
            self.status(self.playback.message)
            return
        if self.transport.loop_btn.isChecked() and self.selected_gap is not None:
            start, end = self._roll_range(self.selected_gap)
            self.playback.play(start, end, loop=True)
        else:
            self.playback.play(0, None, from_sample=self.cursor_sample)

    def _restart_if_playing(self) -> None:
        if self.playback.playing:
            self.playback.stop()
            self.toggle_play()

    def _toggle_loop(self) -> None:
        self.transport.loop_btn.toggle()

    def toggle_ab(self) -> None:
        self.transport.set_b(not self.transport.is_b())

    def _variant_changed(self, b: bool) -> None:
        self.playback.set_variant_b(b)
        self.track.set_show_repairs(b)
        self.status("B: repaired" if b else "A: original")

    def _seek(self, sample: int) -> None:
        self.cursor_sample = sample
        self.track.set_playhead(sample)
        if self.session is not None:
            self.transport.set_position(
                sample / self.session.audio.sr, self.session.audio.duration_s
            )
        if self.playback.playing and not self.transport.loop_btn.isChecked():
            self.playback.stop()
            self.playback.play(0, None, from_sample=sample)

    def _playhead_or_cursor(self) -> int:
        return self.playback.position_sample() if self.playback.playing else self.cursor_sample

    def _playhead_moved(self, sample: int) -> None:
        if self.session is None:
            return
        self.track.set_playhead(sample, follow=not self.transport.loop_btn.isChecked())
        self.transport.set_position(sample / self.session.audio.sr, self.session.audio.duration_s)

    def _playback_state(self, playing: bool) -> None:
        self.transport.set_playing(playing)
        self._update_actions()  # Stop (Esc) follows playback
        if not playing and self.session is not None:
            self.track.set_playhead(self.cursor_sample)
            self.transport.set_position(
                self.cursor_sample / self.session.audio.sr, self.session.audio.duration_s
            )

    # ================================================================================ help

    def show_shortcuts(self) -> None:
        actions = [a for a in self.actions() + self.track.actions() if a.shortcuts()]
        ShortcutsDialog(actions, self).exec()

    def about(self) -> AboutDialog:
        """Help > About: version, model, device (non-modal; the device label comes from the probe
        started with the window, so the GUI thread never waits for torch)."""
        from simdps_studio.session.about import build_info

        device = self.device_label.text().removeprefix("device: ")
        audio = self.playback.message if not self.playback.available else None
        info = build_info(
            self.model_name, device="still detecting" if device == "…" else device, audio=audio
        )
        dialog = AboutDialog(info, self)
        dialog.setAttribute(Qt.WA_DeleteOnClose)
        dialog.open()
        return dialog

    # ================================================================================ autosave

    def autosave_now(self) -> Path | None:
        """Write the autosave (called by the timer after edits)."""
        if self.session is None or self.autosave_file is None or not self.session.dirty:
            return None
        try:
            self.recovery_folder.mkdir(parents=True, exist_ok=True)
            return recovery.write_autosave(self.session, self.autosave_file)
        except (SimDPSError, OSError) as e:
            reason = getattr(e, "strerror", None) or str(e)
            if not self._autosave_warned:  # once per window: it would fail on every edit
                self._autosave_warned = True
                self.show_error(
                    f"Autosave failed ({reason}) in {self.recovery_folder}: unsaved work cannot "
                    "be recovered after a crash. Save the project (Ctrl+S) to keep it."
                )
            else:
                self.status(f"autosave failed: {reason}")
            return None

    def _drop_autosave(self) -> None:
        self._autosave_timer.stop()
        if self.autosave_file is not None:
            recovery.remove_autosave(self.autosave_file)

    def offer_recovery(self) -> bool:
        """After a crash: offer the orphaned autosaves, newest first, until one is accepted; True
        when its recovery started (``file_opened`` follows once it is loaded, on a worker thread).

        A declined one is removed; the ones not asked about (after an accepted one) stay and are
        offered the next time the app starts: one window holds one file.
        """
        orphans = recovery.find_orphans(self.recovery_folder)
        for i, orphan in enumerate(orphans):
            answer = self.ask(
                "Recover unsaved work",
                f"SimDPS Studio did not close properly. Recover the unsaved work on "
                f"{Path(orphan.source).name}?",
                QMessageBox.Yes | QMessageBox.No,
                QMessageBox.Yes,
            )
            if answer == QMessageBox.Yes:
                self._recover(orphan, waiting=len(orphans) - i - 1)
                return True
            orphan.remove()
        return False

    def locate_source(self, name: str) -> Path | None:
        """Ask where a recording went (tests replace this, as they do :meth:`ask`)."""
        start = str(self.settings.value("files/last_dir", str(Path.home())))
        path, _ = QFileDialog.getOpenFileName(self, f"Where is {name} now?", start, AUDIO_FILTER)
        return Path(path) if path else None

    def _recover(self, orphan: recovery.Autosave, *, waiting: int) -> None:
        name = Path(orphan.source).name
        source = Path(orphan.source)
        if not source.exists():
            # Moved or renamed since the crash: the user can point at it (its hash is checked).
            source = self.locate_source(name)
            if source is None:
                self.show_error(
                    f"Cannot recover the unsaved work on {name}: the recording is not where it "
                    f"was. Its autosave is kept: {orphan.project}"
                )
                return

        def recovered(value) -> None:
            session, pyramid, _note, project_error = value
            if project_error:  # the plain recording opened instead: keep the unsaved work
                self.show_error(
                    f"Cannot recover the unsaved work on {name} ({project_error}). Its autosave "
                    f"is kept: {orphan.project}"
                )
                return
            session.dirty = True
            self._install_session(session, pyramid)
            # The crashed session's autosave goes only once this one's is written.
            if self.autosave_now() is not None and orphan.project != self.autosave_file:
                orphan.remove()
            more = (
                f"; {waiting} more will be offered the next time SimDPS Studio starts"
                if waiting
                else ""
            )
            self.status(f"Recovered unsaved work on {name}{more}", 20000 if waiting else 8000)
            self.file_opened.emit(orphan.source)

        self.status("Recovering unsaved work…", 0)
        self.runner.start(
            "open",
            _loader,
            source,
            orphan.project,
            on_result=recovered,
            on_error=lambda m: self.show_error(f"cannot recover {name}: {m}"),
        )

    # ================================================================================ settings

    def _restore_settings(self) -> None:
        self._restoring = True
        try:
            self._restore_settings_now()
        finally:
            self._restoring = False

    def _restore_settings_now(self) -> None:
        s = self.settings
        geom = s.value("window/geometry")
        if geom is not None:
            self.restoreGeometry(geom)
        else:
            self.resize(1440, 900)
        state = s.value("window/main_splitter")
        if state is not None:
            self.main_splitter.restoreState(state)
        else:
            em = self.fontMetrics().horizontalAdvance("M")
            self.main_splitter.setSizes([self.width() - 40 * em, 40 * em])
        side = s.value("window/side_splitter")
        if side is not None:
            self.side_splitter.restoreState(side)
        else:
            row = self.fontMetrics().height() + 8
            # Room for three gaps, the eight candidates and the repair panel.
            self.side_splitter.setSizes([7 * row, 14 * row, 17 * row])
        p = self.repair_panel
        p.set_method(str(s.value("repair/method", "auto")))
        try:
            p.omega.set_value(float(s.value("repair/omega", 0.15)))
            saved_takes = s.value("repair/takes")
            if saved_takes is not None:
                p.takes.setValue(int(saved_takes))
                self._takes_chosen = True
            p.margin.setValue(float(s.value("repair/margin_ms", engines.DIFFUSION_MARGIN_MS)))
            self.transport.pre.setValue(float(s.value("transport/pre_s", 2.0)))
            self.transport.post.setValue(float(s.value("transport/post_s", 1.5)))
        except (TypeError, ValueError):
            pass
        p.draft.setChecked(str(s.value("repair/draft", "false")).lower() == "true")
        self.act_check_fit.setChecked(str(s.value("repair/check_fit", "true")).lower() == "true")
        try:
            p.set_steps(
                int(s.value("repair/steps", engines.FULL_STEPS)),
                int(s.value("repair/draft_steps", engines.DRAFT_STEPS)),
            )
        except (TypeError, ValueError):
            pass
        # Auto is the default: the measured best for good matches, looser for poor ones.
        p.omega.set_auto(str(s.value("repair/omega_auto", "true")).lower() == "true")
        self._update_model_label()

    def _save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/main_splitter", self.main_splitter.saveState())
        s.setValue("window/side_splitter", self.side_splitter.saveState())
        s.setValue("transport/pre_s", self.transport.pre.value())
        s.setValue("transport/post_s", self.transport.post.value())
        self._repair_settings_changed()
        s.sync()

    def closeEvent(self, ev):
        if not self._confirm_discard():
            ev.ignore()
            return
        self._closing = True
        self.playback.close()
        self._save_settings()
        self.runner.shutdown()
        self._drop_autosave()
        ev.accept()
