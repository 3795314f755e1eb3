"""The main window: layout and wiring (docs/architecture.md, sections 1, 2 and 4).

The window lays out the toolbar, the track views, the side panels, the transport and the status
bar, and wires them to a :class:`~simdps_studio.session.workspace.Workspace` (the session and the
per-gap working state, with one event per kind of change). It composes the parts that hold the
logic:

- the action table (:mod:`~simdps_studio.gui.actions`);
- file handling (:class:`~simdps_studio.gui.files.FileController`);
- repairs (:class:`~simdps_studio.gui.repair_controller.RepairController`);
- the status bar's seam and null-test badges (:class:`~simdps_studio.gui.badges.Badges`);
- the model, precision, warm start and device
  (:class:`~simdps_studio.gui.model_controller.ModelController`);
- the remembered settings (:class:`~simdps_studio.gui.settings_store.SettingsStore`);
- the selected gap's candidates: search, fit check, choice, audition
  (:class:`~simdps_studio.gui.candidate_controller.CandidateController`);
- dropout detection (:class:`~simdps_studio.gui.dropouts.DropoutController`);
- gap editing, the marks and the cursor (:class:`~simdps_studio.gui.gap_editor.GapEditor`);
- the transport: play, loop, A/B, seek, the playhead
  (:class:`~simdps_studio.gui.transport_controller.TransportController`, beside the sound's
  :class:`~simdps_studio.gui.playback.PlaybackController`);
- the History list (:class:`~simdps_studio.gui.history_panel.HistoryPanel`, a dock) and the
  spectrogram's settings (:class:`~simdps_studio.gui.spectrogram_dialog.SpectrogramDialog`).

Every long operation (open, search, repair, export, dropout detection, spectrogram) runs on a
worker thread through :class:`~simdps_studio.gui.workers.TaskRunner`; the GUI thread only draws
and edits the document.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QRect, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSizePolicy,
    QSplitter,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from simdps_studio.core.types import Gap
from simdps_studio.gui.actions import (
    ACTIONS,
    ActionState,
    apply_rules,
    build_actions,
    build_menus,
    fill_toolbar,
    gap_and_idle,
)
from simdps_studio.gui.analysis import SpectrogramSettings, format_time
from simdps_studio.gui.badges import Badges
from simdps_studio.gui.candidate_controller import TOP_K as TOP_K
from simdps_studio.gui.candidate_controller import CandidateController
from simdps_studio.gui.dialogs import (
    AboutDialog,
    DetectDialog,
    ExportOptions,
    GapTimesDialog,
    ShortcutsDialog,
)
from simdps_studio.gui.dropouts import DropoutController
from simdps_studio.gui.file_dialogs import ask_open_path
from simdps_studio.gui.files import AUDIO_FILTER, FileController
from simdps_studio.gui.gap_editor import GapEditor
from simdps_studio.gui.history_panel import HistoryPanel
from simdps_studio.gui.model_controller import DEFAULT_GPU_TAKES as DEFAULT_GPU_TAKES
from simdps_studio.gui.model_controller import ModelController
from simdps_studio.gui.panels import (
    CandidatesPanel,
    GapsPanel,
    RepairPanel,
    TransportBar,
    format_length,
)
from simdps_studio.gui.playback import PlaybackController, patches_from
from simdps_studio.gui.repair_controller import RepairController
from simdps_studio.gui.settings_store import PREFERRED_SIZE as PREFERRED_SIZE
from simdps_studio.gui.settings_store import SettingsStore
from simdps_studio.gui.settings_store import first_launch_geometry as first_launch_geometry
from simdps_studio.gui.spectrogram_dialog import SpectrogramDialog
from simdps_studio.gui.theme import icon
from simdps_studio.gui.transport_controller import TransportController
from simdps_studio.gui.views import RepairSpan, TrackView
from simdps_studio.gui.workers import TaskRunner
from simdps_studio.session import checks, engines, recovery
from simdps_studio.session.document import Session
from simdps_studio.session.workspace import Change, Workspace, measure_seams

log = logging.getLogger(__name__)


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
        self.runner = TaskRunner(self)
        self.files = FileController(
            self,
            self.settings,
            self.runner,
            Path(recovery_dir) if recovery_dir else recovery.recovery_dir(),
        )
        self.model_controller = ModelController(self, self.settings, self.runner)
        self.settings_store = SettingsStore(self, self.settings)
        #: The open session and its per-gap working state (None: no file open).
        self.workspace: Workspace | None = None
        self.pyramid = None
        self.path: Path | None = None
        self.cursor_sample = 0
        self.mark_in: int | None = None
        self.mark_out: int | None = None
        self.last_error = ""
        self.last_preview = None
        self._closing = False
        #: First launch: the geometry given, to fit the frame to the screen once shown
        #: (unless the window was resized meanwhile).
        self._first_geometry: QRect | None = None
        self._modal_boxes: list[QMessageBox] = []

        self.setWindowTitle("SimDPS Studio")
        self.setWindowIcon(icon("simdps-studio"))
        self.setAcceptDrops(True)
        self._build_ui()
        self._build_actions()
        self.playback = PlaybackController(self, enabled=playback)
        self.playback.position.connect(self.transport_controller.playhead_moved)
        self.playback.levels.connect(self.transport.meter.set_levels)
        self.playback.state.connect(self.transport_controller.playback_state)
        self.playback.failed.connect(self.transport_controller.playback_failed)
        self.transport_controller.update_playback_message()
        self.settings_store.restore()
        self.update_actions()
        self.model_controller.probe_device()

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

    @property
    def model_name(self) -> str | None:
        """The model repairs use (a name or a folder; None: the default)."""
        return self.model_controller.model_name

    @property
    def precision(self) -> str:
        """The precision repairs run in ("auto", "fp32" or "bf16")."""
        return self.model_controller.precision

    @property
    def start_sigma(self) -> float | None:
        """The warm start of SimDPS repairs (None: from noise)."""
        return self.model_controller.start_sigma

    def set_model(self, name_or_dir: str | None) -> None:
        """Repair with ``name_or_dir`` (None: the default model); remembered."""
        self.model_controller.set_model(name_or_dir)

    def _search(self, gap: Gap) -> None:
        """Search ``gap``'s candidates (:meth:`CandidateController.search`; tests replace this)."""
        self.candidate_controller.search(gap)

    def _current_candidate(self):
        return self.candidate_controller.current_candidate()

    def _candidate_chosen(self, rank: int) -> None:
        self.candidate_controller.candidate_chosen(rank)

    def audition_candidate(self, rank: int) -> None:
        """Play the candidate of ``rank`` in place (:meth:`CandidateController.audition_candidate`)."""
        self.candidate_controller.audition_candidate(rank)

    def _device_ready(self, label: str) -> None:
        self.model_controller.device_ready(label)

    def _fill_model_menu(self) -> None:
        self.model_controller.fill_model_menu()

    # ================================================================================ UI

    def _build_ui(self) -> None:
        self.track = TrackView(self.runner)
        self.gaps_panel = GapsPanel()
        self.cands_panel = CandidatesPanel()
        self.repair_panel = RepairPanel()
        self.transport = TransportBar()
        self.repair_controller = RepairController(
            self, self.runner, self.repair_panel, self.settings
        )
        self.candidate_controller = CandidateController(self, self.runner, self.cands_panel)
        self.dropout_controller = DropoutController(self, self.runner)
        self.gap_editor = GapEditor(self)
        self.transport_controller = TransportController(self)

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
        self.history_panel = HistoryPanel(self)
        self.addDockWidget(Qt.LeftDockWidgetArea, self.history_panel)
        self.history_panel.hide()  # View → History (or the stored setting) shows it

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
            "(≈0 dB: invisible seam); and whether the fill's level falls inside the gap "
            f"({checks.LEVEL_WARN_DB:.0f} dB or more below the quietest music around it: "
            "the fill fades)."
        )
        self.null_badge.setToolTip(
            "Null test after the last repair or export: every sample outside the repaired spans "
            "is bit-identical to the source."
        )
        self.badges = Badges(self, self.seam_badge, self.null_badge)

        # Signals.
        self.track.gap_drawn.connect(self.gap_editor.gap_drawn)
        self.track.gap_clicked.connect(self.gap_editor.select_gap)
        self.track.gap_edited.connect(self.gap_editor.gap_edited)
        self.track.seek.connect(self.transport_controller.seek)
        self.gaps_panel.selected.connect(self.gap_editor.select_gap)
        self.gaps_panel.enable_toggled.connect(self.gap_editor.toggle_repair)
        self.gaps_panel.delete_requested.connect(self.gap_editor.delete_gap)
        self.cands_panel.chosen.connect(self.candidate_controller.candidate_chosen)
        self.cands_panel.audition.connect(self.candidate_controller.audition_candidate)
        self.repair_panel.run.connect(lambda: self.run_repair())
        self.repair_panel.compare_sim.connect(lambda: self.run_repair(method="sim"))
        self.repair_panel.choose_model.connect(self.model_controller.popup_model_menu)
        self.repair_panel.stop.connect(self.repair_controller.stop_repair)
        self.repair_panel.take_chosen.connect(self.repair_controller.take_chosen)
        self.repair_panel.settings_changed.connect(self.settings_store.repair_settings_changed)
        self.repair_panel.omega.taken_over.connect(
            lambda: self.status(
                "ω set by hand: Auto is off (tick Auto to let the candidate choose)"
            )
        )
        self.repair_panel.takes.valueChanged.connect(self.settings_store.takes_edited)
        self.transport.play_toggled.connect(self.transport_controller.toggle_play)
        self.transport.variant_changed.connect(self.transport_controller.variant_changed)
        self.transport.roll_changed.connect(self.transport_controller.restart_if_playing)
        self.history_panel.step_chosen.connect(self.go_to_step)

    def _build_actions(self) -> None:
        """The actions of :data:`actions.ACTIONS` (as ``act_<name>``), the menus and the toolbar."""
        self.acts = build_actions(self, self.track)
        for name, action in self.acts.items():
            setattr(self, f"act_{name}", action)
        self.cursor_actions = [self.acts[s.name] for s in ACTIONS if s.track]
        places = {
            "recent": self._add_recent_menu,
            "model": self._add_model_menu,
            "speed": self.model_controller.build_speed_menus,
        }
        build_menus(self.menuBar(), self.acts, places)
        self.precision_actions = self.model_controller.precision_actions
        self.warm_start_actions = self.model_controller.warm_start_actions
        # The transport's Loop button is the menu's action: one checked and enabled state.
        self.transport.loop_btn.setDefaultAction(self.act_loop)
        # View → History stays ticked while the dock is shown (closed by its own button too).
        self.history_panel.toggleViewAction().toggled.connect(self.act_history.setChecked)
        self._build_toolbar()
        self.files.update_recent_menu()

    def _add_recent_menu(self, menu: QMenu) -> None:
        self.recent_menu = menu.addMenu("Open &recent")

    def _add_model_menu(self, menu: QMenu) -> None:
        self.model_menu = menu.addMenu("&Model")
        self.model_menu.aboutToShow.connect(self._fill_model_menu)

    def _build_toolbar(self) -> None:
        tb = QToolBar("Main")
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        tb.setIconSize(QSize(18, 18))
        tb.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        fill_toolbar(tb, self.acts)
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
        # An icon (its name in the tooltip): with its text, the device line pushed it off a
        # 1280-px window.
        tb.widgetForAction(self.act_help).setToolButtonStyle(Qt.ToolButtonIconOnly)
        self.addToolBar(Qt.TopToolBarArea, tb)
        self.toolbar = tb

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

    def choose_suggestions(self, items: list[dict]) -> list[dict]:
        """Let the user pick which detected regions become gaps (tests replace this method)."""
        sr = self.session.audio.sr
        existing = [(g.start_sample / sr, g.end_sample / sr) for g in self.session.gaps]
        dlg = DetectDialog(items, self, existing=existing)
        return dlg.checked() if dlg.exec() == QDialog.Accepted else []

    def locate_source(self, name: str) -> Path | None:
        """Ask where a recording went (tests replace this, as they do :meth:`ask`)."""
        start = str(self.settings.value("files/last_dir", str(Path.home())))
        path = ask_open_path(self, f"Where is {name} now?", start, AUDIO_FILTER)
        return Path(path) if path else None

    def ask_gap_times(self, start_s: float, end_s: float, *, new: bool):
        """(start_s, end_s) from :class:`GapTimesDialog`, or None when cancelled (tests replace
        this, as they do :meth:`ask`)."""
        audio = self.session.audio
        dialog = GapTimesDialog(
            start_s,
            end_s,
            audio.duration_s,
            new=new,
            parent=self,
            sr=audio.sr,
            old=None if new else self.selected_gap,
            n_samples=audio.n_samples,
        )
        return dialog.times() if dialog.exec() == QDialog.Accepted else None

    # ================================================================================ files

    def open_path(self, path: str | os.PathLike) -> None:
        """Open an audio file (with its saved project, if any) or a ``.simdps.json`` project."""
        self.files.open_path(path)

    def save(self) -> bool:
        """Save the project beside the audio; True on success."""
        return self.files.save()

    def export(self, options: ExportOptions) -> None:
        """Export in the background; ``export_finished`` carries the provenance record."""
        self.files.export(options)

    def autosave_now(self) -> Path | None:
        """Write the autosave now (the timer does after edits)."""
        return self.files.autosave_now()

    def offer_recovery(self) -> bool:
        """After a crash: offer the orphaned autosaves (:meth:`FileController.offer_recovery`)."""
        return self.files.offer_recovery()

    def for_this_file(self, fn: Callable[..., None]) -> Callable[..., None]:
        """``fn`` for a background task's callback, dropped once another file was opened."""
        session = self.session

        def call(*args: Any) -> None:
            if self.session is session:
                fn(*args)

        return call

    def install_session(self, session: Session, pyramid) -> None:
        """Show ``session`` (just opened or recovered), dropping the previous file's work."""
        self.playback.stop()
        # Work on the previous file must not reach this one (its gaps may lie at the same
        # samples); the callbacks check the session too (for_this_file), for a result already
        # on its way.
        for name in ("search", "fit", "preview", "detect", "seams"):
            self.runner.cancel(name)
        if self.runner.cancel("repair"):
            self.repair_panel.set_progress(0.0, "stopped: another file was opened")
        else:
            self.repair_panel.clear_progress()  # the last run's summary was of the old file
        self.files.drop_autosave()
        if self.workspace is not None:
            self.workspace.close()
        self.workspace, self.pyramid = Workspace(session), pyramid  # lists a project's takes
        self.path = session.source_path
        self._forget_file_views()
        self._subscribe(self.workspace)
        self.track.set_audio(session.audio, pyramid)
        self.playback.set_audio(session.audio)
        self.transport.set_position(0.0, session.audio.duration_s)
        self.transport_controller.update_playback_message()
        if session.gaps:
            self.workspace.select(session.gaps[0])
        self._refresh()
        if self.selected_gap is not None:
            self.select_gap(self.selected_gap)
        self._measure_seams()
        self.files.watch(session)

    def _measure_seams(self) -> None:
        """Grade the seams of a reopened project's takes in the background (not saved: the
        takes list shows each grade as it arrives)."""
        takes = self.workspace.unmeasured_takes()
        if takes:
            self.runner.start(
                "seams",
                measure_seams,
                self.session.audio,
                takes,
                on_result=self.for_this_file(self.workspace.add_seams),
                on_error=lambda message: log.warning("seam grades failed: %s", message),
            )

    def close_file(self) -> None:
        if not self.files.confirm_discard():
            return
        self.playback.stop()
        self.playback.set_audio(None)
        self.runner.cancel("search")
        self.runner.cancel("repair")
        self.files.drop_autosave()
        if self.workspace is not None:
            self.workspace.close()
        self.workspace = self.pyramid = self.path = None
        self.track.audio = None
        self.track.set_enabled_views(False)
        self.repair_panel.clear_progress()
        self.transport.set_position(0.0, 0.0)
        self._forget_file_views()
        self._refresh()

    def _forget_file_views(self) -> None:
        """Drop what the views show of the previous file that the workspace does not redraw
        (the candidate list, the cursor, marks, the last preview); ``_refresh`` then draws the
        rest, the badges and the gap numbers included, from the new workspace."""
        self.cursor_sample = 0
        self.mark_in = self.mark_out = None
        self.last_preview = None
        self.cands_panel.clear()
        self.repair_panel.set_takes([], None)

    # ================================================================================ drop

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
        self.update_actions()
        self.update_title()
        self._show_history()
        self.files.edited()

    def _on_selection(self, change: Change) -> None:
        if change.vanished:  # deleted or undone: the panels must not go on describing it
            self.cands_panel.clear()
            self.track.set_candidate(None)
        self._draw_gaps_and_state()
        self.update_actions()

    def _on_candidates(self, change: Change) -> None:
        if change.gap == self.selected_gap:
            self.candidate_controller.show_candidate_mark()
            self.repair_controller.update_takes()  # the labels name candidates by rank
        self.update_actions()

    def _on_takes(self, change: Change) -> None:
        if change.gap == self.selected_gap:
            self.repair_controller.update_takes()

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
        self._name_selected_gap()
        self.candidate_controller.show_candidate_mark()
        self.repair_controller.update_takes()
        self.badges.update_seam_badge()
        if not self.repair_panel.running:
            self.repair_panel.set_fit_warning(self.gap_fit_warning(self.selected_gap))

    def _name_selected_gap(self) -> None:
        """The panels' headers: the selected gap's number (and length), else nothing."""
        gap, s = self.selected_gap, self.session
        if s is None or gap not in s.gaps:
            self.cands_panel.set_title(None)
            self.repair_panel.hint.setText("")
            return
        number, sr = list(s.gaps).index(gap) + 1, s.audio.sr  # time order: the start names it
        self.cands_panel.set_title(number, gap.start_s(sr))
        self.repair_panel.hint.setText(
            f"gap #{number} at {format_time(gap.start_s(sr))} · {format_length(gap.duration_s(sr))}"
        )

    def _refresh(self) -> None:
        """Bring every view in line with the session."""
        self.badges.update_null_badge()
        self._show_history()
        if self.session is None:
            self.gaps_panel.set_gaps([], 44100, {}, None)
            self.track.set_gaps([], None, set())
            self.repair_panel.omega.show_auto_value(None)
            self._name_selected_gap()
            self.badges.update_seam_badge()
            self.update_actions()
            self.update_title()
            return
        self._draw_repairs()
        self.update_actions()
        self.update_title()

    def gap_fit_warning(self, gap: Gap | None) -> str | None:
        """The warning for ``gap``: its repair's, else the fit measured on selection, else None."""
        if self.workspace is None:
            return None
        return self.workspace.fit_warning(gap, self.model_name)

    def update_title(self) -> None:
        name = self.path.name if self.path else "no file"
        dirty = "•" if self.session is not None and self.session.dirty else ""
        self.setWindowTitle(f"{dirty}{name} — SimDPS Studio")

    def update_actions(self) -> None:
        """Enable the actions by their rules (:data:`actions.ACTIONS`), then the widgets that
        follow the same facts."""
        state = self._action_state()
        apply_rules(self.acts, state)
        self.repair_controller.update_estimate()
        self.repair_panel.run_btn.setEnabled(gap_and_idle(state))
        self.transport.play_btn.setEnabled(state.file_open and state.can_play)
        for w in (self.transport.a_btn, self.transport.b_btn):
            w.setEnabled(state.file_open)
        if state.file_open:
            label = self._label(self.session.state.label) if self.session.can_undo else ""
            self.act_undo.setToolTip(f"Undo {label} (Ctrl+Z)".replace("  ", " "))

    def _action_state(self) -> ActionState:
        """The facts the actions' enabled-when rules read."""
        session, gap = self.session, self.selected_gap
        repairing = self.runner.running("repair")
        if session is None:
            return ActionState(
                repairing=repairing,
                can_play=self.playback.available,
                playing=self.playback.playing,
            )
        repair = session.repair_for(gap) if gap is not None else None
        return ActionState(
            file_open=True,
            can_undo=session.can_undo,
            can_redo=session.can_redo,
            gap_selected=gap is not None,
            repairing=repairing,
            repaired=repair is not None,
            bypassed=repair is not None and not repair.enabled,
            candidates=gap is not None and bool(self.workspace.candidates(gap)),
            can_play=self.playback.available,
            playing=self.playback.playing,
            marks_set=self.mark_in is not None and self.mark_out is not None,
        )

    @staticmethod
    def _label(text: str) -> str:
        return text if len(text) < 40 else text[:37] + "…"

    def undo(self) -> None:
        if self.session is not None and self.session.undo():
            self.status(f"Undone: {self.session.redo_stack[-1].label}")

    def redo(self) -> None:
        if self.session is not None and self.session.redo():
            self.status(f"Redone: {self.session.state.label}")

    def go_to_step(self, index: int) -> None:
        """History list: undo or redo to step ``index`` in one change; the views follow as
        after undo and redo (the workspace's events)."""
        if self.session is not None and self.session.go_to(index):
            self.status(f"Went to step: {self.session.history()[index].label}")

    def show_history(self, visible: bool) -> None:
        """View → History: show or hide the History list."""
        self.history_panel.setVisible(visible)

    def _show_history(self) -> None:
        self.history_panel.set_history(self.session.history() if self.session else [])

    def spectrogram_settings(self) -> SpectrogramDialog:
        """View → Spectrogram settings (non-modal: the spectrogram shows each change)."""
        sr = self.session.audio.sr if self.session is not None else None
        dialog = SpectrogramDialog(self.track.spec_settings, sr, self)
        dialog.settings_changed.connect(self.set_spectrogram_settings)
        dialog.setAttribute(Qt.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def set_spectrogram_settings(self, settings: SpectrogramSettings) -> None:
        """Compute the spectrogram with ``settings`` from now on, and keep them."""
        self.track.set_spectrogram_settings(settings)
        self.settings_store.spectrogram_settings_changed(settings)

    # ================================================================================ gaps

    def add_gap(self, gap: Gap) -> bool:
        """Add ``gap`` and select it (:meth:`GapEditor.add_gap`); False when refused."""
        return self.gap_editor.add_gap(gap)

    def _gap_edited(self, old: Gap, new: Gap) -> None:
        self.gap_editor.gap_edited(old, new)

    def delete_gap(self, gap: Gap) -> None:
        self.gap_editor.delete_gap(gap)

    def select_gap(self, gap: Gap | None) -> None:
        """Make ``gap`` the one the panels work on (:meth:`GapEditor.select_gap`)."""
        self.gap_editor.select_gap(gap)

    def _bypass_selected(self) -> None:
        self.gap_editor.bypass_selected()

    def _toggle_repair(self, gap: Gap, enabled: bool) -> None:
        self.gap_editor.toggle_repair(gap, enabled)

    def _cursor_to(self, sample: int | None) -> None:
        self.gap_editor.cursor_to(sample)

    # ================================================================================ repair

    def request(self) -> engines.RepairRequest:
        """The RepairRequest the panel describes (with the chosen candidate)."""
        return self.repair_controller.request()

    def run_repair(self, method: str | None = None) -> None:
        """Repair the selected gap in the background (with ``method`` instead of the panel's)."""
        self.repair_controller.run_repair(method)

    def stop_all(self) -> None:
        """Esc: stop playback, else cancel a running repair."""
        if self.playback.playing:
            self.playback.stop()
        else:
            self.repair_controller.stop_repair()

    # ================================================================================ playback

    def toggle_play(self) -> None:
        """Play or stop (:meth:`TransportController.toggle_play`; tests replace this)."""
        self.transport_controller.toggle_play()

    def _seek(self, sample: int) -> None:
        self.transport_controller.seek(sample)

    # ================================================================================ help

    def shortcut_actions(self) -> list[QAction]:
        """The actions with keys, as Help > Keyboard shortcuts lists them."""
        return [a for a in self.actions() + self.track.actions() if a.shortcuts()]

    def show_shortcuts(self) -> None:
        ShortcutsDialog(self.shortcut_actions(), self).exec()

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

    # ================================================================================ settings

    def available_geometry(self) -> QRect:
        """The screen area the window may take (without panels and docks)."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        return screen.availableGeometry()

    def showEvent(self, ev) -> None:
        super().showEvent(ev)
        if self._first_geometry is not None:
            QTimer.singleShot(0, self._fit_frame_to_screen)  # once the frame is known

    def _fit_frame_to_screen(self) -> None:
        """Shrink the first window by its title bar and borders, so the frame fits the
        available area too (the first geometry could only fit the window's contents)."""
        first, self._first_geometry = self._first_geometry, None
        if first is None or self.size() != first.size():  # resized by the caller: leave it
            return
        available, frame = self.available_geometry(), self.frameGeometry()
        extra_w, extra_h = frame.width() - self.width(), frame.height() - self.height()
        size = self.size().boundedTo(
            QSize(available.width() - extra_w, available.height() - extra_h)
        )
        if size != self.size():
            self.resize(size)
        frame = self.frameGeometry()
        frame.moveCenter(available.center())
        self.move(frame.topLeft())

    def closeEvent(self, ev):
        if not self.files.confirm_discard():
            ev.ignore()
            return
        self._closing = True
        self.playback.close()
        self.settings_store.save()
        self.runner.shutdown()
        self.files.drop_autosave()
        ev.accept()
