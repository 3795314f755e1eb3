"""The candidates of the main window's selected gap: search them, measure the model's fit
around the gap, choose one, show it on the track with the ω Auto would take, and audition one in
place (docs/architecture.md, section 2, steps 3 and 4).

The search ("search"), the fit check ("fit") and the audition ("preview") run on the window's
:class:`~simdps_studio.gui.workers.TaskRunner`; their callbacks run on the GUI thread and are
dropped once another file is open (``MainWindow.for_this_file``). The candidates themselves
live in the window's :class:`~simdps_studio.session.workspace.Workspace`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from simdps_studio.core.types import Gap
from simdps_studio.gui.analysis import format_time
from simdps_studio.gui.panels import CandidatesPanel
from simdps_studio.gui.window_part import WindowPart
from simdps_studio.gui.workers import TaskRunner
from simdps_studio.session import engines

if TYPE_CHECKING:
    from simdps_studio.gui.mainwindow import MainWindow

log = logging.getLogger(__name__)

#: Candidates searched per gap.
TOP_K = 8


class CandidateController(WindowPart):
    """The selected gap's candidates: search, fit check, choice, mark and audition.

    Parameters
    ----------
    window : MainWindow
        The document (``session``, ``workspace``, ``selected_gap``), the model, the fit check
        (``act_check_fit``), the track, the repair panel (Auto's ω, the fit warning), playback
        and the transport, the status line and the signals (``candidates_ready``,
        ``preview_ready``).
    runner : TaskRunner
        The window's background tasks ("search", "fit", "preview").
    cands_panel : CandidatesPanel
        The candidate list.
    """

    def __init__(
        self, window: MainWindow, runner: TaskRunner, cands_panel: CandidatesPanel
    ) -> None:
        self.window = window
        self.runner = runner
        self.cands_panel = cands_panel

    def search(self, gap: Gap) -> None:
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
                self.check_fit(gap)
            self.window.candidates_ready.emit(cands)

        def failed(message, gap=gap):
            self.workspace.set_candidates(gap, [])
            if gap == self.selected_gap:
                self.cands_panel.clear(message)
            self.window.candidates_ready.emit([])

        self.runner.start(
            "search",
            engines.find_candidates,
            audio,
            gap,
            other_gaps=others,
            top_k=TOP_K,
            on_result=self.window.for_this_file(done),
            on_error=self.window.for_this_file(failed),
            on_progress=self.window.for_this_file(
                lambda f, m: self.cands_panel.set_busy(m or "Searching…", f)
            ),
        )

    def check_fit(self, gap: Gap) -> None:
        """Measure the model's fit around ``gap`` in the background (once per gap and model).

        Skipped when switched off, without an installed model, and while a repair runs (the
        repair measures it first)."""
        if (
            self.session is None
            or not self.window.act_check_fit.isChecked()
            or not engines.model_installed(self.window.model_name)
            or self.runner.running("repair")
        ):
            return
        self.runner.start(
            "fit",
            engines.measure_fit,
            self.session.audio,
            gap,
            self.window.model_name,
            other_gaps=self.session.other_gaps(gap),
            on_result=self.window.for_this_file(
                lambda record, gap=gap: self._fit_measured(gap, record)
            ),
            # Not worth a dialog: the repair measures it again and reports what goes wrong.
            on_error=lambda message: log.warning("prior-fit check failed: %s", message),
        )

    def _fit_measured(self, gap: Gap, record: dict | None) -> None:
        if self.session is None or gap != self.selected_gap or gap not in self.session.gaps:
            return  # shown by _refresh when that gap is selected again
        self.show_candidate_mark()  # Auto's ω may now copy
        if self.window.repair_panel.running:
            return
        warning = self.window.gap_fit_warning(gap)
        self.window.repair_panel.set_fit_warning(warning)
        if warning and self.session.repair_for(gap) is None:
            self.window.status(f"{warning[0].upper()}{warning[1:]}", 20000)

    def current_candidate(self):
        return self.workspace.current_candidate() if self.workspace is not None else None

    def show_candidate_mark(self) -> None:
        """Mark the current candidate on the track and show the ω Auto would take from it."""
        c = self.current_candidate() if self.selected_gap is not None else None
        # After a diffusion repair of this gap the prior's fit is known, and Auto may copy.
        fit = (
            engines.known_fit(
                self.window.model_name,
                self.session.audio,
                self.selected_gap,
                self.session.other_gaps(self.selected_gap),
            )
            if c is not None and self.session is not None
            else None
        )
        poor = bool(fit and fit["poor"])
        self.window.repair_panel.omega.show_auto_value(
            engines.resolve_omega("auto", c, poor_fit=poor) if c is not None else None
        )
        if c is None or getattr(c, "source", None):
            self.window.track.set_candidate(None)
        else:
            self.window.track.set_candidate(c.start_sample, self.selected_gap.length)

    def candidate_chosen(self, rank: int) -> None:
        if self.selected_gap is None:
            return
        self.workspace.choose_candidate(self.selected_gap, rank)  # the candidate mark follows
        c = self.current_candidate()
        if c is not None:
            self.window.status(
                f"Candidate {rank} at {format_time(c.start_s)} (score {c.score:.2f}) "
                + self._what_a_candidate_guides(self.selected_gap)
            )

    def _what_a_candidate_guides(self, gap: Gap) -> str:
        """The end of the message for a candidate chosen for ``gap``: a running repair keeps the
        candidate it started with (its request is made), so a choice made meanwhile is for the
        next run."""
        running = self.window.repair_controller.running
        if running is None:
            return "will guide the repair"
        run_gap, request = running
        method = engines.resolve_method(request, run_gap, self.session.audio.sr)
        if run_gap == gap and method in ("sim", "simdps") and request.guide is None:
            return (
                f"will guide the next run (the one running uses candidate {request.candidate_rank})"
            )
        return "will guide the next run"

    def audition_current(self) -> None:
        if self.workspace is None:
            return
        rank = self.cands_panel.current_rank() or self.workspace.chosen_rank(
            self.selected_gap, default=None
        )
        if rank:
            self.audition_candidate(rank)

    def audition_candidate(self, rank: int) -> None:
        """Play the candidate in place: pre-roll, the candidate with Sim's crossfades, post-roll.

        Listening commits nothing: the chosen candidate (and so Auto's ω) stays; choosing is a
        click on the row.
        """
        gap = self.selected_gap
        if self.session is None or gap is None:
            return
        cand = next((c for c in self.workspace.candidates(gap) if c.rank == rank), None)
        if cand is None:
            return
        audio = self.session.audio
        self.runner.start(
            "preview",
            lambda progress=None, cancel=None: engines.preview_candidate(audio, gap, cand),
            on_result=self.window.for_this_file(
                lambda rep, rank=rank: self._play_preview(rep, rank)
            ),
            on_error=self.window.show_error,
        )

    def _play_preview(self, repair, rank: int) -> None:
        from simdps_studio.audio.player import Patch

        self.window.last_preview = repair
        self.window.preview_ready.emit(repair)
        if not self.window.playback.available:
            self.window.status(f"Candidate {rank} ready — {self.window.playback.message}")
            return
        self.window.transport.set_b(True)
        start, end = self.window.transport_controller.roll_range(repair.gap)
        self.window.playback.play(
            start,
            end,
            loop=self.window.transport.loop_btn.isChecked(),
            extra_patches=[Patch(repair.span_start_sample, repair.fill)],
        )
        chosen = self.workspace.chosen_rank(repair.gap) if self.workspace is not None else None
        self.window.status(
            f"Auditioning candidate {rank} in place"
            + ("" if rank == chosen else " (click its row to use it)")
        )
