"""Background work: plain functions with ``progress=``/``cancel=`` run on worker QThreads.

A :class:`Worker` is a QObject moved to its own QThread; it calls the function once and reports
through signals (``progress``, ``result``, ``error``, ``cancelled``, then ``finished``). The
:class:`TaskRunner` owns the threads: it starts a task under a name (cancelling any earlier task of
that name), relays the signals to callbacks on the GUI thread, and on shutdown cancels every task
and waits for its thread. Cancelling only sets the task's :class:`CancelToken`; the work stops at
its next check. ``QThread.terminate()`` is never used.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from simdps_studio.core.errors import CancelledError, SimDPSError
from simdps_studio.core.progress import CancelToken

log = logging.getLogger(__name__)

#: Progress signals are throttled to this many per second (the GUI repaints at about that rate).
PROGRESS_HZ = 30.0


class Worker(QObject):
    """Runs ``fn(*args, progress=..., cancel=..., **kwargs)`` once, on the thread it was moved to."""

    progress = Signal(float, str)
    result = Signal(object)
    error = Signal(str)
    cancelled = Signal()
    finished = Signal()

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.token = CancelToken()
        self._last_emit = 0.0

    def report(self, fraction: float, message: str = "") -> None:
        """The ``progress=`` callback handed to the function (any thread; throttled)."""
        now = time.monotonic()
        if fraction >= 1.0 or now - self._last_emit >= 1.0 / PROGRESS_HZ:
            self._last_emit = now
            self.progress.emit(float(min(max(fraction, 0.0), 1.0)), str(message))

    @Slot()
    def run(self) -> None:
        try:
            value = self.fn(*self.args, progress=self.report, cancel=self.token, **self.kwargs)
        except CancelledError:
            self.cancelled.emit()
        except SimDPSError as e:
            self.error.emit(str(e))
        except MemoryError:
            self.error.emit("not enough memory for this operation")
        except Exception as e:  # a bug: keep the app alive, log the traceback, tell the user
            log.error("background task failed:\n%s", traceback.format_exc())
            self.error.emit(f"internal error: {type(e).__name__}: {e}")
        else:
            if self.token.cancelled:
                self.cancelled.emit()
            else:
                self.result.emit(value)
        finally:
            self.finished.emit()


@dataclass
class _Callbacks:
    on_result: Callable[[Any], None] | None
    on_error: Callable[[str], None] | None
    on_progress: Callable[[float, str], None] | None
    on_cancelled: Callable[[], None] | None
    on_done: Callable[[], None] | None


class _Relay(QObject):
    """Lives on the GUI thread; receives a worker's queued signals and calls the callbacks."""

    def __init__(self, callbacks: _Callbacks, parent: QObject) -> None:
        super().__init__(parent)
        self.cb = callbacks
        self.superseded = False  # a newer task of the same name exists: drop results
        self.on_thread_end: Callable[[], None] | None = None

    @Slot()
    def thread_ended(self) -> None:
        if self.on_thread_end is not None:
            self.on_thread_end()

    @Slot(float, str)
    def progress(self, fraction: float, message: str) -> None:
        if not self.superseded and self.cb.on_progress:
            self.cb.on_progress(fraction, message)

    @Slot(object)
    def result(self, value: object) -> None:
        if not self.superseded and self.cb.on_result:
            self.cb.on_result(value)

    @Slot(str)
    def error(self, message: str) -> None:
        if not self.superseded and self.cb.on_error:
            self.cb.on_error(message)

    @Slot()
    def cancelled(self) -> None:
        if not self.superseded and self.cb.on_cancelled:
            self.cb.on_cancelled()


@dataclass
class Task:
    """A running task: its thread, worker and relay."""

    name: str
    thread: QThread
    worker: Worker
    relay: _Relay

    def cancel(self) -> None:
        self.worker.token.cancel()


class TaskRunner(QObject):
    """Starts named background tasks and keeps their threads until they end.

    Signals
    -------
    busy_changed(bool)
        True when the first task starts, False when the last one ends.
    task_finished(str)
        A task's name after its thread ended (results were delivered before).
    """

    busy_changed = Signal(bool)
    task_finished = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tasks: dict[str, Task] = {}  # newest task per name
        self._all: list[Task] = []  # every task whose thread is still alive
        self.closed = False  # after shutdown() no task starts (the window is going away)

    def start(
        self,
        name: str,
        fn: Callable[..., Any],
        *args: Any,
        on_result: Callable[[Any], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_progress: Callable[[float, str], None] | None = None,
        on_cancelled: Callable[[], None] | None = None,
        on_done: Callable[[], None] | None = None,
        **kwargs: Any,
    ) -> Task | None:
        """Run ``fn`` on a new thread; an earlier task of the same ``name`` is cancelled and its
        results are dropped. Callbacks run on the GUI thread. Returns None after :meth:`shutdown`."""
        if self.closed:
            return None
        old = self._tasks.get(name)
        if old is not None:
            old.relay.superseded = True
            old.cancel()
        worker = Worker(fn, *args, **kwargs)
        thread = QThread(self)
        thread.setObjectName(f"simdps-{name}")
        worker.moveToThread(thread)
        relay = _Relay(_Callbacks(on_result, on_error, on_progress, on_cancelled, on_done), self)
        worker.progress.connect(relay.progress)
        worker.result.connect(relay.result)
        worker.error.connect(relay.error)
        worker.cancelled.connect(relay.cancelled)
        thread.started.connect(worker.run)
        worker.finished.connect(thread.quit)
        task = Task(name, thread, worker, relay)
        # The relay lives on the GUI thread: the thread's end is handled there (queued).
        relay.on_thread_end = lambda t=task: self._ended(t)
        thread.finished.connect(relay.thread_ended)
        self._tasks[name] = task
        self._all.append(task)
        if len(self._all) == 1:
            self.busy_changed.emit(True)
        thread.start()
        return task

    def _ended(self, task: Task) -> None:
        if task in self._all:
            self._all.remove(task)
        if self._tasks.get(task.name) is task:
            del self._tasks[task.name]
        if not task.relay.superseded and task.relay.cb.on_done:
            task.relay.cb.on_done()
        task.worker.deleteLater()
        task.thread.deleteLater()
        task.relay.deleteLater()
        self.task_finished.emit(task.name)
        if not self._all:
            self.busy_changed.emit(False)

    def running(self, name: str) -> bool:
        """Whether a task of this name is running."""
        return name in self._tasks

    def cancel(self, name: str) -> bool:
        """Ask the task ``name`` to stop; False when none runs."""
        task = self._tasks.get(name)
        if task is None:
            return False
        task.cancel()
        return True

    def thread_count(self) -> int:
        """Threads still alive."""
        return sum(1 for t in self._all if t.thread.isRunning())

    def shutdown(self, timeout_s: float = 30.0) -> bool:
        """Cancel everything and wait for every thread; True when all ended in time.

        No task starts afterwards: a QThread must never be destroyed (with its window) while it
        runs, and views may still ask for work while the window closes."""
        self.closed = True
        for task in list(self._all):
            task.relay.superseded = True
            task.cancel()
        deadline = time.monotonic() + timeout_s
        ok = True
        for task in list(self._all):
            left_ms = max(0, int((deadline - time.monotonic()) * 1000))
            task.thread.quit()
            ok = task.thread.wait(left_ms) and ok
        return ok
