"""The working state around an open session: selection, candidates, takes, seam grades, fit.

A :class:`~simdps_studio.session.document.Session` holds what is saved and undone (gaps and the
repair in use for each). Editing needs more that is neither: the gap being worked on, each gap's
candidates and the one chosen, every take made on a gap (the history of runs, so a SimDPS take
and a Sim take can be compared), the seam grade of each take, and the prior's fit around a gap.
:class:`Workspace` keeps all of it in one place, Qt-free, and tells listeners what changed, one
topic at a time (:data:`TOPICS`), so a view redraws only what it shows: the waveform does not
recompute its spectrogram because a gap was added. See docs/architecture.md, sections 2 and 4.

Listeners run synchronously on the thread that made the change (the app's GUI thread: every
session edit is made there).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simdps_studio.core.errors import InputError
from simdps_studio.core.types import Gap
from simdps_studio.session import engines
from simdps_studio.session.checks import SeamGrade, VerifiedRepair, seam_of
from simdps_studio.session.document import Session, State
from simdps_studio.session.repair import Repair

#: Takes listed per gap, over all runs on it (the oldest drop out).
MAX_TAKES = 16

#: What a listener can subscribe to:
#: ``document`` every session edit, undo and redo (after the topics below);
#: ``gaps`` the gaps changed; ``repairs`` a repair was set, toggled or dropped;
#: ``selection`` another gap is worked on (or none: ``Change.vanished`` when it was removed);
#: ``candidates`` a gap's candidates arrived or another one was chosen;
#: ``takes`` a gap's list of takes changed.
TOPICS = ("document", "gaps", "repairs", "selection", "candidates", "takes")


@dataclass(frozen=True)
class Change:
    """What a listener is told.

    Attributes
    ----------
    topic : str
        One of :data:`TOPICS`.
    gap : Gap or None
        The gap it concerns (``candidates``, ``takes``; the new selection), if one.
    vanished : bool
        For ``selection``: the selected gap was removed from the session (deleted, moved, undone).
    """

    topic: str
    gap: Gap | None = None
    vanished: bool = False


Listener = Callable[[Change], None]


def takes_in_history(session: Session) -> dict[Gap, list[Repair]]:
    """Each gap's repairs found in the session's undo history, oldest first (at most
    :data:`MAX_TAKES`): the takes a reopened project lists again."""
    takes: dict[Gap, list[Repair]] = {}
    seen: set[str] = set()
    for state in (*session.undo_stack, session.state, *reversed(session.redo_stack)):
        for r in state.repairs:
            if r.repair_id not in seen:
                seen.add(r.repair_id)
                takes.setdefault(r.gap, []).append(r)
    return {gap: found[-MAX_TAKES:] for gap, found in takes.items()}


def rank_used(repair: Repair | None, cands: list) -> int:
    """Rank in ``cands`` of the track candidate ``repair`` used (matched by its start), else 1."""
    used = repair.info.used_candidate if repair is not None else {}
    if used.get("source") is not None:  # a guide file or another recording
        return 1
    start = used.get("start_sample")
    return next((c.rank for c in cands if start is not None and c.start_sample == start), 1)


def _repairs_differ(old: State, new: State) -> bool:
    """Whether another repair is in use, or one was toggled (repairs are compared by id)."""
    return [(r.repair_id, r.enabled) for r in old.repairs] != [
        (r.repair_id, r.enabled) for r in new.repairs
    ]


class Workspace:
    """An open session and the per-gap working state around it.

    Parameters
    ----------
    session : Session
        The document; the workspace listens to it until :meth:`close`. The takes of a reopened
        project are read from its undo history.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self._selected: Gap | None = None
        self._candidates: dict[Gap, list] = {}
        self._chosen_rank: dict[Gap, int] = {}
        self._takes: dict[Gap, list[Repair]] = takes_in_history(session)
        self._seams: dict[str, SeamGrade] = {}  # by repair_id
        #: Null test of the last repair or export (None: none since the file was opened).
        self.null_ok: bool | None = None
        self._listeners: dict[str, list[Listener]] = {t: [] for t in TOPICS}
        self._state = session.state
        session.listeners.append(self._session_changed)

    # ------------------------------------------------------------------------- events

    def subscribe(self, topic: str, listener: Listener) -> None:
        """Call ``listener(change)`` after each change of ``topic`` (one of :data:`TOPICS`)."""
        if topic not in self._listeners:
            raise ValueError(f"unknown topic {topic!r} (one of {', '.join(TOPICS)})")
        self._listeners[topic].append(listener)

    def unsubscribe(self, topic: str, listener: Listener) -> None:
        self._listeners[topic].remove(listener)

    def close(self) -> None:
        """Stop listening to the session and drop every listener (another file was opened)."""
        if self._session_changed in self.session.listeners:
            self.session.listeners.remove(self._session_changed)
        for listeners in self._listeners.values():
            listeners.clear()

    def _emit(self, topic: str, gap: Gap | None = None, *, vanished: bool = False) -> None:
        change = Change(topic, gap, vanished)
        for listener in list(self._listeners[topic]):
            listener(change)

    def _session_changed(self, session: Session) -> None:
        old, new = self._state, session.state
        self._state = new
        if self._selected is not None and self._selected not in new.gaps:
            self._selected = None  # the panels must not go on describing it
            self._emit("selection", None, vanished=True)
        if old.gaps != new.gaps:
            self._emit("gaps")
        if _repairs_differ(old, new):
            self._emit("repairs")
        self._emit("document")

    # ------------------------------------------------------------------------- selection

    @property
    def selected_gap(self) -> Gap | None:
        """The gap the panels work on (None: none)."""
        return self._selected

    def select(self, gap: Gap | None) -> None:
        """Work on ``gap``; it may be one about to be added, so the edit that adds it shows it
        selected (a selection the session does not hold is dropped at its next edit)."""
        if gap != self._selected:
            self._selected = gap
            self._emit("selection", gap)

    # ------------------------------------------------------------------------- candidates

    def has_candidates(self, gap: Gap | None) -> bool:
        """Whether the search for ``gap`` has finished (with or without a candidate)."""
        return gap in self._candidates

    def candidates(self, gap: Gap | None) -> list:
        """``gap``'s ranked candidates ([] before or without any)."""
        return self._candidates.get(gap) or []

    def set_candidates(self, gap: Gap, cands: list) -> None:
        """Store the search's result; a reopened repair's candidate is the chosen one again,
        wherever it now ranks (a choice made before stays)."""
        self._candidates[gap] = list(cands)
        self._chosen_rank.setdefault(gap, rank_used(self.session.repair_for(gap), cands))
        self._emit("candidates", gap)

    def chosen_rank(self, gap: Gap | None, default: int | None = 1) -> int | None:
        """Rank of the candidate chosen to guide ``gap``'s repair (``default`` unless chosen)."""
        return self._chosen_rank.get(gap, default)

    def choose_candidate(self, gap: Gap, rank: int) -> None:
        self._chosen_rank[gap] = rank
        self._emit("candidates", gap)

    def current_candidate(self, gap: Gap | None = None) -> Any:
        """The chosen candidate of ``gap`` (default: the selected gap), None when not known."""
        gap = self._selected if gap is None else gap
        rank = self.chosen_rank(gap)
        return next((c for c in self.candidates(gap) if c.rank == rank), None)

    # ------------------------------------------------------------------------- takes

    def takes(self, gap: Gap | None) -> list[Repair]:
        """Every take made on ``gap`` (or found in the reopened history), oldest first."""
        return list(self._takes.get(gap, [])) if gap is not None else []

    def add_takes(self, gap: Gap, made: VerifiedRepair) -> bool:
        """List a finished run's takes with their seam grades and use take 1 (an undoable edit);
        False when the result no longer fits: the gap changed, or a gap added meanwhile lies in
        the new fill's crossfade. Earlier runs on the gap stay listed (newest last)."""
        if gap not in self.session.gaps:
            return False
        for r, seam in zip(made.repairs, made.seams, strict=True):
            self._seams[r.repair_id] = seam
        earlier = self._takes.get(gap, [])
        self._takes[gap] = (earlier + list(made.repairs))[-MAX_TAKES:]
        try:
            self.session.set_repair(made.repairs[0])
        except InputError:
            self._takes[gap] = earlier
            self._emit("takes", gap)
            return False
        self.null_ok = made.null_ok
        self._emit("takes", gap)
        return True

    def use_take(self, gap: Gap, index: int) -> bool:
        """Make take ``index`` (from 0) ``gap``'s repair (an undoable edit; a bypass stays on);
        False when it already is or there is no such take. Raises InputError when it no longer
        fits (its crossfade reaches a gap added since)."""
        takes = self._takes.get(gap, [])
        if not 0 <= index < len(takes):
            return False
        current = self.session.repair_for(gap)
        take = takes[index]
        if current is not None and current.repair_id == take.repair_id:
            return False
        if current is not None and take.enabled != current.enabled:
            take = dataclasses.replace(take, enabled=current.enabled)
        self.session.set_repair(take)
        return True

    def seam(self, repair: Repair) -> SeamGrade:
        """``repair``'s seam grade: the one its run measured, else measured now (a reopened
        project's repairs) and kept."""
        if repair.repair_id not in self._seams:
            self._seams[repair.repair_id] = seam_of(self.session.audio, repair)
        return self._seams[repair.repair_id]

    def known_seam(self, repair: Repair) -> SeamGrade | None:
        """``repair``'s seam grade if measured, without measuring it."""
        return self._seams.get(repair.repair_id)

    # ------------------------------------------------------------------------- prior fit

    def fit_record(self, gap: Gap, model: str | None) -> dict[str, Any] | None:
        """The prior's fit around ``gap`` if measured (``engines.known_fit``; the engines keep
        the measurements, per model files, gap and context)."""
        return engines.known_fit(model, self.session.audio, gap, self.session.other_gaps(gap))

    def fit_warning(self, gap: Gap | None, model: str | None) -> str | None:
        """The warning for ``gap``: its repair's, else the fit measured on selection, else None."""
        if gap is None:
            return None
        r = self.session.repair_for(gap)
        if r is not None:
            return engines.fit_warning(r.info)
        return engines.fit_warning_before(self.fit_record(gap, model), model)
