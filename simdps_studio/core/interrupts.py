"""Stop signals as :class:`KeyboardInterrupt`, and short stretches that must not be cut in two.

The command line turns SIGTERM (a scheduler, ``kill``) and SIGHUP (a closed terminal) into the
same exception as Ctrl+C, so the ``except BaseException`` clean-ups that remove temporary files
run for every way of being stopped. The renames that put an export and its provenance in place
run in :func:`interrupts_deferred`: a stop that arrives meanwhile takes effect right after them,
so the pair is never split. Standard library only.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: The signals that stop a command: Ctrl+C, ``kill``, a closed terminal (POSIX only).
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class Interrupted(KeyboardInterrupt):
    """A stop signal, raised by :func:`raise_interrupt`; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def signal_name(self) -> str:
        """``"SIGTERM"``, ``"SIGHUP"``, ...."""
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"


_held = 0
_pending: list[int] = []


def raise_interrupt(signum: int, _frame: object = None) -> None:
    """Signal handler: raise :class:`Interrupted`, or hold it while a deferred stretch runs."""
    if _held:
        _pending.append(signum)
        return
    raise Interrupted(signum)


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Run a few quick steps that belong together (renames) without a stop between them.

    Only the handlers :func:`stop_on_signals` installs are held; elsewhere this does nothing.
    """
    global _held
    _held += 1
    try:
        yield
    finally:
        _held -= 1
        pending = list(_pending) if not _held else []
        if not _held:
            _pending.clear()
    if pending:
        raise Interrupted(pending[0])


def stop_on_signals() -> Callable[[], None]:
    """Make Ctrl+C, SIGTERM and SIGHUP raise :class:`Interrupted` (unless they were ignored
    when the process started, as ``nohup`` does), and ignore SIGXFSZ.

    SIGXFSZ (a file passing ``ulimit -f``) would otherwise kill the process mid-write without a
    word; ignored, the write fails with EFBIG and is reported. Call from the main thread.

    Returns
    -------
    callable
        Restores the previous handlers.
    """
    previous = {}
    for sig in STOP_SIGNALS:
        if signal.getsignal(sig) == signal.SIG_IGN:
            continue  # ignored on purpose (nohup, a background job of a script): stays so
        previous[sig] = signal.signal(sig, raise_interrupt)
    if hasattr(signal, "SIGXFSZ"):
        previous[signal.SIGXFSZ] = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)

    return restore
