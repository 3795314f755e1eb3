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
