"""Progress reporting and cooperative cancellation for long work.

Long operations take ``progress=`` (a callable ``(fraction, message) -> None``) and ``cancel=`` (a
:class:`CancelToken`) keyword arguments. The GUI calls them from worker threads, the CLI from the main
thread with a progress bar.
"""

from __future__ import annotations

import threading
from typing import Protocol

from simdps_studio.core.errors import CancelledError


class Progress(Protocol):
    """Callable that receives a fraction in [0, 1] and a short status message."""

    def __call__(self, fraction: float, message: str = "") -> None: ...


def null_progress(fraction: float, message: str = "") -> None:
    """Progress callback that ignores everything."""


class CancelToken:
    """Thread-safe cancellation flag, checked by long work at least once per step."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the work to stop at its next check."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` has been called."""
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        """Raise :class:`CancelledError` when cancellation was requested."""
        if self._event.is_set():
            raise CancelledError("cancelled by the user")


def check_cancel(cancel: CancelToken | None) -> None:
    """Raise :class:`CancelledError` if ``cancel`` is set; accept ``None`` for "never cancelled"."""
    if cancel is not None:
        cancel.raise_if_cancelled()


def sub_progress(progress: Progress | None, start: float, stop: float) -> Progress:
    """Map a child's [0, 1] progress onto ``[start, stop]`` of the parent's."""

    def report(fraction: float, message: str = "") -> None:
        if progress is not None:
            progress(start + (stop - start) * min(max(fraction, 0.0), 1.0), message)

    return report


def monotonic_progress(progress: Progress | None) -> Progress | None:
    """``progress`` that never goes back: a fraction below the last one reported is raised to it
    (work retried with other settings reports its range again; a bar must not jump back)."""
    if progress is None:
        return None
    last = [0.0]

    def report(fraction: float, message: str = "") -> None:
        last[0] = max(last[0], fraction)
        progress(last[0], message)

    return report


class RemainingTime:
    """Estimate of the time a job has left, from its progress reports.

    The rate is measured from the first report with a fraction above 0 on, so a slow start (the
    model loading, the candidate search) does not dilute it; diffusion steps all cost about the
    same, so a linear extrapolation is good. No estimate is given before ``min_elapsed_s`` have
    passed since that first report.

    Parameters
    ----------
    min_elapsed_s : float
        Seconds of measured progress needed before the first estimate.
    """

    def __init__(self, min_elapsed_s: float = 2.0) -> None:
        self.min_elapsed_s = float(min_elapsed_s)
        self._start: tuple[float, float] | None = None

    def reset(self) -> None:
        """Forget the measured rate (a new job starts)."""
        self._start = None

    def update(self, fraction: float, now_s: float) -> float | None:
        """Seconds left after a report of ``fraction`` at time ``now_s``, or ``None`` if unknown.

        Parameters
        ----------
        fraction : float
            Progress in [0, 1].
        now_s : float
            A monotonic clock reading in seconds.
        """
        fraction = min(max(float(fraction), 0.0), 1.0)
        if self._start is None:
            if fraction > 0.0:
                self._start = (fraction, now_s)
            return None
        f0, t0 = self._start
        elapsed_s = now_s - t0
        if fraction >= 1.0:
            return 0.0
        if elapsed_s < self.min_elapsed_s or fraction <= f0:
            return None
        return elapsed_s * (1.0 - fraction) / (fraction - f0)


def format_duration(seconds: float) -> str:
    """``"about 3 min"``-style text for a positive duration (5-s steps below a minute)."""
    if seconds < 60:
        return f"about {max(5, round(seconds / 5) * 5):.0f} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min"
    return f"about {minutes // 60} h {minutes % 60} min"


def format_remaining(seconds: float | None) -> str:
    """``"about 3 min left"``-style text for a remaining time; ``""`` when it is unknown."""
    if seconds is None or seconds <= 0:
        return ""
    return f"{format_duration(seconds)} left"
