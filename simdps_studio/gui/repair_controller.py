"""The repair controller of the main window: run a repair of the selected gap in the
background, take its result into the workspace, cancel it, choose among the gap's takes, and
show the time a repair should take (docs/architecture.md, sections 2 and 4).

The job is :func:`~simdps_studio.session.checks.repair_and_verify` on the "repair" task of the
window's :class:`~simdps_studio.gui.workers.TaskRunner`; its callbacks run on the GUI thread.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings

from simdps_studio.core.errors import InputError
from simdps_studio.core.progress import format_duration
from simdps_studio.core.types import Gap
from simdps_studio.gui.panels import RepairPanel, method_label
from simdps_studio.gui.window_part import WindowPart
from simdps_studio.gui.workers import TaskRunner
from simdps_studio.session import engines
from simdps_studio.session.about import split_device_label
from simdps_studio.session.checks import VerifiedRepair, repair_and_verify
from simdps_studio.session.document import Session
from simdps_studio.session.pace import PaceRecord, estimate_seconds
from simdps_studio.session.repair import Repair

if TYPE_CHECKING:
    from simdps_studio.gui.mainwindow import MainWindow


def candidate_text(repair: Repair, cands: list) -> str | None:
    """The candidate a Sim or SimDPS repair used, as the panels name it (``"cand 3"``: its rank
    in ``cands``, the gap's list, else the rank it had when the repair ran), or None."""
    used = repair.info.used_candidate if repair.method in ("sim", "simdps") else None
    if not used:
        return None
    source = used.get("source")
    if source == "guide file":
        return "guide file"
    start = used.get("start_sample")
    rank = next((c.rank for c in cands if not source and c.start_sample == start), used.get("rank"))
    text = f"cand {rank}" if rank is not None else "candidate"
    return f"{text} ({Path(source).name})" if source else text


def settings_text(repair: Repair, cands: list) -> str:
    """What made ``repair``: method (with ω and Draft for SimDPS), candidate and seed."""
    info = repair.info
    text = method_label(repair.method)
    if repair.method == "simdps" and isinstance(info.omega, (int, float)):
        text += f" ω {info.omega:.3f}"
    if info.draft:
        text += " draft"
    cand = candidate_text(repair, cands)
    if cand:
        text += f" · {cand}"
    seed = info.seed
    if seed is not None:
        text += f" · seed {seed}"
    return text


def take_label(number: int, repair: Repair, cands: list, seam=None) -> str:
    """A line of the takes list: ``"Take 2 · Sim · cand 3 · seam ok +1.2 dB"``."""
    text = f"Take {number} · {settings_text(repair, cands)}"
    if seam is not None:
        text += f" · seam {seam[0]} {seam[1]:+.1f} dB"
    return text


class RepairController(WindowPart):
    """Repairs of the window's selected gap, its takes and the time estimate.

    Parameters
    ----------
    window : MainWindow
        The document (``session``, ``workspace``, ``selected_gap``), the model, precision and
        warm start chosen, the status line, the badges and the signals (``repair_finished``,
        ``repair_failed``, ``repair_cancelled``).
    runner : TaskRunner
        The window's background tasks ("repair").
    repair_panel : RepairPanel
        The settings, the progress, the takes list and the estimate line.
    settings : QSettings
        ``repair/pace``: the pace of diffusion repairs on this machine.
    """

    def __init__(
        self,
        window: MainWindow,
        runner: TaskRunner,
        repair_panel: RepairPanel,
        settings: QSettings,
    ) -> None:
        self.window = window
        self.runner = runner
        self.repair_panel = repair_panel
        self.settings = settings
        #: The gap and request of the repair running now (None: none runs).
        self.running: tuple[Gap, engines.RepairRequest] | None = None

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
            model=self.window.model_name,
            draft=p.draft.isChecked(),
            precision=self.window.precision,
            start_sigma=self.window.start_sigma,
            margin_ms=p.margin.value(),
            band_hz=self._band_hz(),
        )

    def _band_hz(self) -> tuple[float, float] | None:
        """The panel's band with an empty edge filled in (0 Hz, the open file's Nyquist)."""
        band = self.repair_panel.band_hz()
        if band is None:
            return None
        lo, hi = band
        nyquist = self.session.audio.sr / 2 if self.session is not None else math.inf
        return (0.0 if lo is None else lo, nyquist if hi is None else hi)

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
        self.running = (gap, request)
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
            on_error=self.window.for_this_file(self._repair_error),
            on_cancelled=self.window.for_this_file(self._repair_cancelled),
            on_progress=self.window.for_this_file(self.repair_panel.set_progress),
            on_done=self._repair_done,
        )
        self.window.update_actions()

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
            self.window.status(f"Repair finished, but {message}")
            self.window.repair_failed.emit(message)
            return
        self._record_pace(repairs[0])
        self.window.badges.set_null_badge(made.null_ok)
        secs = repairs[0].info.seconds
        method = repairs[0].method
        # make_repairs stores the number it used, also when the request said "auto".
        omega = repairs[0].info.omega if method == "simdps" else None
        label = method_label(method)
        with_omega = f"{label} ω {omega:.3f}" if isinstance(omega, (int, float)) else label
        cand = candidate_text(repairs[0], self.workspace.candidates(gap))
        self.repair_panel.set_progress(
            1.0,
            with_omega
            + (f" · {cand}" if cand else "")
            + f" · {len(repairs)} take{'s' if len(repairs) != 1 else ''}"
            + (f" · {secs:.1f} s" if secs else ""),
        )
        self.window.transport.set_b(True)
        warning = engines.fit_warning(repairs[0].info)
        if gap == self.selected_gap:  # else it shows when that gap is selected (_refresh)
            self.repair_panel.set_fit_warning(warning)
        self.window.candidate_controller.show_candidate_mark()  # Auto's value may now know the prior's fit
        done = f"Repaired gap with {with_omega}" + (f" in {secs:.1f} s" if secs else "")
        self.window.status(f"{done}: {warning}" if warning else done, 20000 if warning else 8000)
        self.window.repair_finished.emit(repairs)

    # Pace of diffusion repairs on this machine (session/pace.py), kept in the settings.

    def _pace_record(self) -> PaceRecord:
        return PaceRecord.from_json(str(self.settings.value("repair/pace", "{}")))

    def _record_pace(self, repair) -> None:
        record = self._pace_record()
        if record.record(self.window.model_name, repair):
            self.settings.setValue("repair/pace", record.to_json())
        # The label follows in _repair_done's update_actions.

    def update_estimate(self) -> None:
        """The panel's estimate line for the selected gap and the panel's settings."""
        self.repair_panel.set_estimate(self._estimate_text())

    def _estimate_text(self) -> str:
        """What a diffusion repair of the selected gap with the panel's settings should take."""
        gap, session = getattr(self, "selected_gap", None), getattr(self, "session", None)
        if gap is None or session is None:
            return ""
        request = self.request()
        # The pace of the precision that will run (the device line says which).
        device, precision = split_device_label(
            self.window.device_label.text().removeprefix("device: ")
        )
        pace = self._pace_record().pace(self.window.model_name, device, precision)
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
        self.window.show_error(message)
        self.window.repair_failed.emit(message)

    def _repair_cancelled(self) -> None:
        self.repair_panel.set_progress(0.0, "cancelled")
        self.window.status("Repair cancelled")
        self.window.repair_cancelled.emit()

    def _repair_done(self) -> None:
        self.running = None
        self.repair_panel.set_running(False)
        # What was selected, undone or cancelled while it ran decides the warning now.
        self.repair_panel.set_fit_warning(self.window.gap_fit_warning(self.selected_gap))
        self.window.update_actions()

    def stop_repair(self) -> None:
        """Cancel the running repair (it stops at its next checkpoint)."""
        if self.runner.cancel("repair"):
            self.repair_panel.progress_label.setText("stopping…")

    def update_takes(self) -> None:
        """The panel's takes list for the selected gap, the take in use selected."""
        gap = self.selected_gap
        takes = self.workspace.takes(gap) if self.workspace is not None else []
        current = self.session.repair_for(gap) if (gap is not None and self.session) else None
        cands = self.workspace.candidates(gap) if self.workspace is not None else []
        # A reopened project's grades arrive from the "seams" task (MainWindow._measure_seams).
        labels = [
            take_label(i, r, cands, self.workspace.known_seam(r))
            for i, r in enumerate(takes, start=1)
        ]
        cur = next(
            (
                i
                for i, r in enumerate(takes)
                if current is not None and r.repair_id == current.repair_id
            ),
            None,
        )
        self.repair_panel.set_takes(labels, cur)

    def take_chosen(self, index: int) -> None:
        """Use take ``index`` (0-based) of the selected gap: an undoable edit."""
        if self.workspace is None or self.selected_gap is None:
            return
        try:
            used = self.workspace.use_take(self.selected_gap, index)
        except InputError as e:  # e.g. its crossfade reaches a gap added since
            self.update_takes()  # the list goes back to the take in use
            self.window.show_error(f"take {index + 1} no longer fits: {e}")
            return
        if used:
            self.show_take_summary(index)
            self.window.status(f"Using take {index + 1}")

    def show_take_summary(self, index: int) -> None:
        """The panel's summary line: take ``index`` (0-based) of the selected gap, now in use
        (the line described the last run, which may have made another take)."""
        takes = self.workspace.takes(self.selected_gap)
        if not 0 <= index < len(takes) or self.repair_panel.running:
            return
        take = takes[index]
        secs = take.info.seconds
        cands = self.workspace.candidates(self.selected_gap)
        self.repair_panel.set_summary(
            f"Take {index + 1} · {settings_text(take, cands)}"
            + (f" · {secs:.1f} s" if secs else "")
        )
