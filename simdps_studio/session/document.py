"""The session document: one source recording, its gaps and repairs, with undo/redo.

The state is immutable (tuples of frozen objects), so an undo entry is just the previous state and
costs no copy of audio: fills are shared between states. Every edit goes through :meth:`_commit`,
which is what makes undo cover every edit. The project file stores the undo and redo stacks too, so
they survive a restart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from simdps_studio.core.errors import InputError
from simdps_studio.core.types import Audio, Gap, validate_gaps
from simdps_studio.session.repair import METHOD_LABELS, Repair

#: Undo entries kept (states share fills, so this bounds metadata only).
MAX_UNDO = 200

#: Where a step of the history stands: before the current one, the current one, or undone
#: (redo brings it back until a new edit drops it).
HISTORY_STATUSES = ("past", "current", "undone")


def repairs_clear_of(
    repairs: tuple[Repair, ...] | list[Repair], gaps: tuple[Gap, ...] | list[Gap]
) -> tuple[Repair, ...]:
    """The repairs whose span (gap plus crossfade margins) overlaps no other gap."""
    return tuple(
        r
        for r in repairs
        if not any(
            g != r.gap and g.start_sample < r.span_end_sample and r.span_start_sample < g.end_sample
            for g in gaps
        )
    )


@dataclass(frozen=True)
class State:
    """Gaps (sorted) and the repairs made for them (at most one per gap)."""

    gaps: tuple[Gap, ...] = ()
    repairs: tuple[Repair, ...] = ()
    label: str = ""

    def repair_for(self, gap: Gap) -> Repair | None:
        """The repair of ``gap``, if any."""
        return next((r for r in self.repairs if r.gap == gap), None)


@dataclass(frozen=True)
class HistoryEntry:
    """One step of the undo history, as the History list shows it.

    Attributes
    ----------
    index : int
        Position in :meth:`Session.history` (0: the oldest step kept); :meth:`Session.go_to`
        takes it.
    label : str
        What the step did ("Add gap …", "SimDPS repair"); the first step says which file was
        opened.
    status : str
        One of :data:`HISTORY_STATUSES`.
    """

    index: int
    label: str
    status: str


@dataclass
class Session:
    """A recording being repaired. Qt-free; the GUI observes it through :attr:`listeners`.

    Parameters
    ----------
    audio : Audio
        The source recording (never modified).
    source_path : Path or None
        Where the source came from (``None`` for audio built in memory).
    source_sha256 : str
        Hash of the source file's bytes (empty for in-memory audio).
    """

    audio: Audio
    source_path: Path | None = None
    source_sha256: str = ""
    state: State = field(default_factory=State)
    undo_stack: list[State] = field(default_factory=list)
    redo_stack: list[State] = field(default_factory=list)
    listeners: list[Callable[[Session], None]] = field(default_factory=list)
    dirty: bool = False
    #: (mtime_ns, size) of the project file as this session last read or wrote it: a save over
    #: a file that changed since (another window saved it) keeps that one as a backup.
    project_stamp: tuple[int, int] | None = None

    # ----------------------------------------------------------------- construction

    @classmethod
    def open(cls, path: str | Path, *, progress=None, cancel=None) -> Session:
        """Load a recording from ``path`` (no project file is read; see ``project.load_project``)."""
        from simdps_studio.audio.io import file_sha256, load

        path = Path(path)
        audio = load(path, progress=progress, cancel=cancel)
        digest = file_sha256(path)
        audio.meta.setdefault("sha256", digest)  # keys the search's feature cache
        audio.meta.setdefault("path", str(path))
        return cls(audio=audio, source_path=path, source_sha256=digest)

    # ----------------------------------------------------------------- queries

    @property
    def gaps(self) -> tuple[Gap, ...]:
        """Gaps sorted by start."""
        return self.state.gaps

    @property
    def repairs(self) -> tuple[Repair, ...]:
        """Repairs in gap order."""
        return self.state.repairs

    def repair_for(self, gap: Gap) -> Repair | None:
        """The repair of ``gap``, if any."""
        return self.state.repair_for(gap)

    def other_gaps(self, gap: Gap) -> list[Gap]:
        """Every gap but ``gap``: their samples are missing too, so no repair reads them."""
        return [g for g in self.state.gaps if g != gap]

    @property
    def can_undo(self) -> bool:
        return bool(self.undo_stack)

    @property
    def can_redo(self) -> bool:
        return bool(self.redo_stack)

    def timeline(self) -> list[State]:
        """Every state of the history, oldest first: the undo stack, the current state, then
        the undone ones in the order redo brings them back."""
        return [*self.undo_stack, self.state, *reversed(self.redo_stack)]

    def history(self) -> list[HistoryEntry]:
        """The undo history as named steps, oldest first, each marked past, current or undone.

        The state before any edit has no label of its own; it is named after the opened file.
        """
        current = len(self.undo_stack)
        opened = f"Opened {self.source_path.name}" if self.source_path else "Opened recording"
        return [
            HistoryEntry(
                i,
                state.label or opened,
                "past" if i < current else "current" if i == current else "undone",
            )
            for i, state in enumerate(self.timeline())
        ]

    @property
    def history_index(self) -> int:
        """The current step's index in :meth:`history`."""
        return len(self.undo_stack)

    # ----------------------------------------------------------------- edits

    def add_gap(self, gap: Gap) -> Gap:
        """Add a gap after validating it against the track and the other gaps.

        A repair whose crossfade margin reaches into the new gap is dropped (undo brings it
        back): its span would overwrite part of the new gap's fill with the damaged audio.
        """
        gaps = tuple(self._with_new_gap(self.state.gaps, gap))
        self._commit(
            State(
                gaps,
                repairs_clear_of(self.state.repairs, gaps),
                f"Add gap {gap.describe(self.audio.sr)}",
            )
        )
        return gap

    def add_gaps(self, gaps: list[Gap], label: str = "Add gaps") -> list[Gap]:
        """Add the gaps that are valid and overlap nothing, as one undo step; return those.

        For the detector's suggestions: one Ctrl+Z takes them all back.
        """
        kept = list(self.state.gaps)
        added = []
        for gap in gaps:
            try:
                kept = self._with_new_gap(kept, gap)
            except InputError:
                continue
            added.append(gap)
        if added:
            self._commit(State(tuple(kept), repairs_clear_of(self.state.repairs, kept), label))
        return added

    def remove_gap(self, gap: Gap) -> None:
        """Remove a gap and its repair."""
        self._require(gap)
        gaps = tuple(g for g in self.state.gaps if g != gap)
        repairs = tuple(r for r in self.state.repairs if r.gap != gap)
        self._commit(State(gaps, repairs, f"Remove gap {gap.describe(self.audio.sr)}"))

    def move_gap(self, gap: Gap, new_gap: Gap) -> Gap:
        """Change a gap's edges; its repair no longer fits and is dropped (undo brings it back)."""
        self._require(gap)
        others = [g for g in self.state.gaps if g != gap]
        gaps = self._with_new_gap(others, new_gap)
        repairs = repairs_clear_of(tuple(r for r in self.state.repairs if r.gap != gap), gaps)
        self._commit(State(tuple(gaps), repairs, f"Move gap to {new_gap.describe(self.audio.sr)}"))
        return new_gap

    def set_repair(self, repair: Repair) -> None:
        """Attach ``repair`` to its gap, replacing any earlier repair of that gap."""
        self._require(repair.gap)
        if not repairs_clear_of((repair,), self.state.gaps):
            raise InputError("the repair's crossfade reaches into another gap; repair it again")
        if repair.span_start_sample < 0 or repair.span_end_sample > self.audio.n_samples:
            raise InputError("repair span lies outside the track")
        if repair.fill.shape[0] != self.audio.channels:
            raise InputError(
                f"repair has {repair.fill.shape[0]} channels, the track {self.audio.channels}"
            )
        repairs = tuple(
            sorted(
                (*(r for r in self.state.repairs if r.gap != repair.gap), repair),
                key=lambda r: r.gap,
            )
        )
        self._commit(
            replace(
                self.state,
                repairs=repairs,
                label=f"{METHOD_LABELS.get(repair.method, repair.method)} repair",
            )
        )

    def set_repair_enabled(self, gap: Gap, enabled: bool) -> None:
        """Toggle whether a gap's repair is applied (for A/B comparison)."""
        current = self.repair_for(gap)
        if current is None:
            raise InputError(f"gap {gap.describe(self.audio.sr)} has no repair")
        repairs = tuple(r.with_enabled(enabled) if r.gap == gap else r for r in self.state.repairs)
        label = "Apply repair" if enabled else "Bypass repair"
        self._commit(replace(self.state, repairs=repairs, label=label))

    def remove_repair(self, gap: Gap) -> None:
        """Drop a gap's repair, keeping the gap."""
        if self.repair_for(gap) is None:
            raise InputError(f"gap {gap.describe(self.audio.sr)} has no repair")
        repairs = tuple(r for r in self.state.repairs if r.gap != gap)
        self._commit(replace(self.state, repairs=repairs, label="Remove repair"))

    def undo(self) -> bool:
        """Go back one edit; return False when there is nothing to undo."""
        if not self.undo_stack:
            return False
        self.redo_stack.append(self.state)
        self.state = self.undo_stack.pop()
        self._changed()
        return True

    def redo(self) -> bool:
        """Redo the last undone edit; return False when there is nothing to redo."""
        if not self.redo_stack:
            return False
        self.undo_stack.append(self.state)
        self.state = self.redo_stack.pop()
        self._changed()
        return True

    def go_to(self, index: int) -> bool:
        """Undo or redo to step ``index`` of :meth:`history` in one change (the listeners are
        called once); False when it is the current step already.

        Nothing is lost: the steps after ``index`` become the redo stack, until a new edit.

        Raises
        ------
        InputError
            If there is no step ``index``.
        """
        states = self.timeline()
        if not 0 <= index < len(states):
            raise InputError(f"no step {index} in the history (0 to {len(states) - 1})")
        if index == self.history_index:
            return False
        self.undo_stack = states[:index]
        self.state = states[index]
        self.redo_stack = states[index + 1 :][::-1]
        self._changed()
        return True

    # ----------------------------------------------------------------- internals

    def _with_new_gap(self, gaps, new: Gap) -> list[Gap]:
        """``gaps`` and ``new``, validated and sorted; ``new`` may not overlap or touch another.

        Gaps that already touch (saved by an earlier version, which allowed it) stay as they are.
        """
        for g in gaps:
            if g.end_sample == new.start_sample or new.end_sample == g.start_sample:
                a, b = sorted((g, new))
                sr = self.audio.sr
                raise InputError(
                    f"gaps {a.describe(sr)} and {b.describe(sr)} touch: make them one gap"
                )
        return validate_gaps([*gaps, new], self.audio.n_samples, self.audio.sr, allow_touching=True)

    def _require(self, gap: Gap) -> None:
        if gap not in self.state.gaps:
            raise InputError(f"no gap at {gap.describe(self.audio.sr)}")

    def _commit(self, new_state: State) -> None:
        self.undo_stack.append(self.state)
        del self.undo_stack[:-MAX_UNDO]
        self.redo_stack.clear()
        self.state = new_state
        self._changed()

    def _changed(self) -> None:
        self.dirty = True
        for listener in list(self.listeners):
            listener(self)
