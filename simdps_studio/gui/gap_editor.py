"""Gap editing for the main window: add, move, delete and select gaps, the keyboard marks, typed
gap times, bypassing a repair and the cursor (docs/architecture.md, section 2, steps 1 and 2).

Every edit goes through the window's :class:`~simdps_studio.session.document.Session` (one undo
step each); the views follow through the workspace's events, which the window subscribes them to.
The cursor and the marks stay the window's (``cursor_sample``, ``mark_in``, ``mark_out``): the
action rules and the transport read them too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from simdps_studio.core.errors import InputError
from simdps_studio.core.types import Gap
from simdps_studio.gui.analysis import format_time
from simdps_studio.gui.dialogs import gap_from_times
from simdps_studio.gui.window_part import WindowPart

if TYPE_CHECKING:
    from simdps_studio.gui.mainwindow import MainWindow


class GapEditor(WindowPart):
    """The user's edits of the gaps, and the cursor.

    Parameters
    ----------
    window : MainWindow
        The document (``session``, ``workspace``, ``selected_gap``), the cursor and the marks, the
        track, the candidates panel, the transport (``transport_controller``), the prompts
        (``ask_gap_times``, which tests replace, and ``_search``) and the status line.
    """

    def __init__(self, window: MainWindow) -> None:
        self.window = window

    def gap_drawn(self, start: int, end: int) -> None:
        self.add_gap(Gap(start, end))

    def add_gap(self, gap: Gap) -> bool:
        if self.session is None:
            return False
        repairs_before = len(self.session.repairs)
        try:
            self.window.selected_gap = gap
            self.session.add_gap(gap)
        except InputError as e:
            self.window.selected_gap = None
            self.window._refresh()
            self.window.show_error(str(e))
            return False
        dropped = repairs_before - len(self.session.repairs)
        self.window.status(
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

    def gap_edited(self, old: Gap, new: Gap) -> None:
        if self.session is None:
            return
        try:
            self.window.selected_gap = new
            self.session.move_gap(old, new)
        except InputError as e:
            self.window.selected_gap = old
            self.window.track.restore_gap(old)  # the dragged region goes back where the gap is
            self.window._refresh()
            self.window.show_error(str(e))
            return
        self.select_gap(new)

    def delete_gap(self, gap: Gap) -> None:
        if self.session is not None and gap in self.session.gaps:
            self.session.remove_gap(gap)
            self.window.status("Gap removed (Ctrl+Z brings it back)")

    def delete_selected(self) -> None:
        if self.window.selected_gap is not None:
            self.delete_gap(self.window.selected_gap)

    def step_gap(self, step: int) -> None:
        if self.session is None or not self.session.gaps:
            return
        gaps = list(self.session.gaps)
        selected = self.window.selected_gap
        i = gaps.index(selected) + step if selected in gaps else 0
        self.select_gap(gaps[i % len(gaps)])
        self.zoom_to_gap()

    def select_gap(self, gap: Gap | None) -> None:
        """Make ``gap`` the one the panels work on; search its candidates if not done yet."""
        if self.session is None or gap not in self.session.gaps:
            return
        if gap == self.window.selected_gap:
            self.window._draw_gaps_and_state()
            self.window.update_actions()
        else:
            self.window.workspace.select(gap)  # the views that show the selection follow
        if self.window.workspace.has_candidates(gap):
            self.window.cands_panel.set_candidates(
                self.window.workspace.candidates(gap), self.window.workspace.chosen_rank(gap)
            )
            self.window.candidate_controller.show_candidate_mark()
            self.window.candidate_controller.check_fit(gap)
        else:
            self.window._search(gap)  # then the fit: the two would only slow each other down

    def zoom_to_gap(self) -> None:
        gap = self.window.selected_gap
        if gap is not None:
            self.window.track.zoom_to_samples(gap.start_sample, gap.end_sample)

    def set_mark_in(self) -> None:
        self.window.mark_in = self.window.transport_controller.playhead_or_cursor()
        self.window.status(f"Mark in at {format_time(self.window.mark_in / self.session.audio.sr)}")
        self.window.update_actions()

    def set_mark_out(self) -> None:
        self.window.mark_out = self.window.transport_controller.playhead_or_cursor()
        self.window.status(
            f"Mark out at {format_time(self.window.mark_out / self.session.audio.sr)}"
        )
        self.window.update_actions()

    def add_gap_from_marks(self) -> None:
        if self.window.mark_in is None or self.window.mark_out is None:
            return
        a, b = sorted((self.window.mark_in, self.window.mark_out))
        if self.add_gap(Gap(a, b)):
            self.window.mark_in = self.window.mark_out = None

    def edit_gap_times(self) -> None:
        """Edit > Gap times: move the selected gap's edges, or add a gap, by typing its times.

        A new gap starts from the marks when both are set, else from the cursor (0.5 s long).
        """
        if self.session is None:
            return
        sr = self.session.audio.sr
        old = self.window.selected_gap
        if old is not None:
            start, end = old.start_sample, old.end_sample
        elif self.window.mark_in is not None and self.window.mark_out is not None:
            start, end = sorted((self.window.mark_in, self.window.mark_out))
        else:  # half a second from the cursor, inside the track
            n = self.session.audio.n_samples
            start = max(min(self.window.transport_controller.playhead_or_cursor(), n - sr // 2), 0)
            end = min(start + sr // 2, n)
        times = self.window.ask_gap_times(start / sr, end / sr, new=old is None)
        if times is None:
            return
        gap = gap_from_times(*times, sr, old, n_samples=self.session.audio.n_samples)
        if old is None:
            if self.add_gap(gap):
                self.window.mark_in = self.window.mark_out = None
        elif gap != old:
            self.gap_edited(old, gap)

    def bypass_selected(self) -> None:
        gap = self.window.selected_gap
        if self.session is not None and gap is not None:
            repair = self.session.repair_for(gap)
            if repair is not None:
                self.toggle_repair(gap, not repair.enabled)
                self.window.status("Repair bypassed" if repair.enabled else "Repair applied")

    def toggle_repair(self, gap: Gap, enabled: bool) -> None:
        if self.session is not None and self.session.repair_for(gap) is not None:
            self.session.set_repair_enabled(gap, enabled)

    def move_cursor(self, fraction: float) -> None:
        """Move the cursor by ``fraction`` of the visible width (at least one sample)."""
        if self.session is None:
            return
        t0, t1 = self.window.track.visible_range_s()
        step = round(fraction * (t1 - t0) * self.session.audio.sr) or (1 if fraction > 0 else -1)
        self.cursor_to(self.window.transport_controller.playhead_or_cursor() + step)

    def cursor_to(self, sample: int | None) -> None:
        """Put the cursor at ``sample`` (None: the end of the track) and keep it in view."""
        if self.session is None:
            return
        n = self.session.audio.n_samples
        sample = n if sample is None else min(max(int(sample), 0), n)
        self.window.transport_controller.seek(sample)
        self.window.track.set_playhead(sample, follow=True)
