"""Dropout detection for the main window: find dropouts on a worker, let the user pick the
regions, add them as gaps in one undo step (docs/architecture.md, section 2, step 1).

The detector (:func:`~simdps_studio.session.engines.detect_dropouts`) runs on the "detect" task
of the window's :class:`~simdps_studio.gui.workers.TaskRunner`; the choice goes through the
window's prompt ``MainWindow.choose_suggestions`` (the Detect dialog), which tests replace.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from simdps_studio.core.types import Gap
from simdps_studio.gui.window_part import WindowPart
from simdps_studio.gui.workers import TaskRunner
from simdps_studio.session import engines

if TYPE_CHECKING:
    from simdps_studio.gui.mainwindow import MainWindow


class DropoutController(WindowPart):
    """Edit → Detect dropouts: the detector's regions become gaps.

    Parameters
    ----------
    window : MainWindow
        The document (``session``), the prompt (``choose_suggestions``), the status line, the
        selection and the ``dropouts_detected`` signal.
    runner : TaskRunner
        The window's background tasks ("detect").
    """

    def __init__(self, window: MainWindow, runner: TaskRunner) -> None:
        self.window = window
        self.runner = runner

    def detect_dropouts(self) -> None:
        if self.session is None:
            return
        self.window.status("Detecting dropouts…", 0)
        self.runner.start(
            "detect",
            engines.detect_dropouts,
            self.session.audio,
            on_result=self.window.for_this_file(self._detected),
            on_error=self.window.show_error,
        )

    def _detected(self, found: list) -> None:
        items = [d.to_dict() if hasattr(d, "to_dict") else dict(d) for d in found]
        if not items:
            self.window.status("No dropouts found")
            self.window.dropouts_detected.emit(0)
            return
        added = self.add_suggestions(self.window.choose_suggestions(items))
        self.window.dropouts_detected.emit(added)

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
        added = self.session.add_gaps(gaps, label="Add detected dropouts")  # one undo step
        self.window.status(
            f"Added {len(added)} gap(s) from the detector"
            + (" (Ctrl+Z takes them back)" if added else "")
        )
        if added:
            self.window.select_gap(added[0])
            self.window.gap_editor.zoom_to_gap()
        return len(added)
