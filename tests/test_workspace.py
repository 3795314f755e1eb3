"""The working state around a session (session/workspace.py), without Qt: selection, candidates,
takes, seam grades, and the events each change sends."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from simdps_studio.core.errors import InputError
from simdps_studio.core.types import Audio, Gap
from simdps_studio.session.checks import SeamGrade, VerifiedRepair, seam_of
from simdps_studio.session.document import Session
from simdps_studio.session.repair import Repair
from simdps_studio.session.workspace import (
    MAX_TAKES,
    TOPICS,
    Workspace,
    measure_seams,
    rank_used,
    takes_in_history,
)

SR = 8000


@dataclass(frozen=True)
class Cand:
    rank: int
    start_sample: int


@pytest.fixture
def session(piano) -> Session:
    return Session(Audio.from_float(piano(SR, 4.0), SR, subtype="PCM_16"))


def _take(gap: Gap, value: float = 0.1, **params) -> Repair:
    return Repair(gap, "sim", gap.start_sample, np.full((1, gap.length), value, np.float32), params)


def _made(*repairs: Repair, null_ok: bool = True) -> VerifiedRepair:
    return VerifiedRepair(
        tuple(repairs), tuple(SeamGrade("ok", float(i)) for i in range(len(repairs))), null_ok
    )


def _recorder(ws: Workspace) -> list[tuple[str, Gap | None, bool]]:
    seen: list[tuple[str, Gap | None, bool]] = []
    for topic in TOPICS:
        ws.subscribe(topic, lambda c: seen.append((c.topic, c.gap, c.vanished)))
    return seen


def test_each_edit_sends_only_the_topics_it_changes(session):
    ws = Workspace(session)
    seen = _recorder(ws)
    gap, other = Gap(SR, SR + 400), Gap(2 * SR, 2 * SR + 400)
    session.add_gap(gap)
    assert [t for t, *_ in seen] == ["gaps", "document"]  # no repair changed
    seen.clear()
    session.set_repair(_take(gap))
    assert [t for t, *_ in seen] == ["repairs", "document"]
    seen.clear()
    session.set_repair_enabled(gap, False)  # a bypass is a repairs change too
    assert [t for t, *_ in seen] == ["repairs", "document"]
    seen.clear()
    ws.select(gap)
    ws.select(gap)  # no change, no event
    assert seen == [("selection", gap, False)]
    seen.clear()
    session.add_gap(other)
    session.undo()
    assert [t for t, *_ in seen] == ["gaps", "document", "gaps", "document"]


def test_a_selected_gap_that_goes_away_is_deselected_first(session):
    ws = Workspace(session)
    gap = Gap(SR, SR + 400)
    session.add_gap(gap)
    ws.select(gap)
    seen = _recorder(ws)
    session.remove_gap(gap)
    assert seen == [
        ("selection", None, True),  # before the views redraw the gaps
        ("gaps", None, False),
        ("document", None, False),
    ]
    assert ws.selected_gap is None
    # A gap selected before the edit that adds it stays selected through that edit.
    new = Gap(3 * SR, 3 * SR + 400)
    ws.select(new)
    session.add_gap(new)
    assert ws.selected_gap == new


def test_candidates_remember_the_choice_and_a_reopened_repairs_candidate(session):
    ws = Workspace(session)
    gap = Gap(SR, SR + 400)
    session.add_gap(gap)
    session.set_repair(_take(gap, candidate={"start_sample": 500}))
    seen = _recorder(ws)
    assert not ws.has_candidates(gap) and ws.candidates(gap) == [] and ws.chosen_rank(gap) == 1
    cands = [Cand(1, 100), Cand(2, 300), Cand(3, 500)]
    ws.set_candidates(gap, cands)
    assert ws.has_candidates(gap) and ws.chosen_rank(gap) == 3  # the repair's, where it ranks
    ws.choose_candidate(gap, 2)
    ws.set_candidates(gap, cands)  # a new search keeps the user's choice
    assert ws.chosen_rank(gap) == 2 and seen == [("candidates", gap, False)] * 3
    ws.select(gap)
    assert ws.current_candidate() == Cand(2, 300)
    assert rank_used(None, cands) == 1
    assert rank_used(_take(gap, candidate={"source": "guide.wav", "start_sample": 500}), cands) == 1


def test_takes_are_listed_used_and_kept_to_a_limit(session):
    ws = Workspace(session)
    gap = Gap(SR, SR + 400)
    session.add_gap(gap)
    seen = _recorder(ws)
    first, second = _take(gap, 0.1), _take(gap, 0.2)
    assert ws.add_takes(gap, _made(first, second, null_ok=True))
    assert ws.takes(gap) == [first, second] and session.repair_for(gap) is first
    assert ws.null_ok is True and ws.known_seam(second) == SeamGrade("ok", 1.0)
    assert ("takes", gap, False) in seen and ("repairs", None, False) in seen
    session.set_repair_enabled(gap, False)
    assert ws.use_take(gap, 1)  # the bypass stays on for the take chosen
    assert session.repair_for(gap).repair_id == second.repair_id
    assert not session.repair_for(gap).enabled
    assert not ws.use_take(gap, 1) and not ws.use_take(gap, 5)  # in use already; no such take
    for _ in range(MAX_TAKES):
        ws.add_takes(gap, _made(_take(gap)))
    assert len(ws.takes(gap)) == MAX_TAKES and first not in ws.takes(gap)


def test_a_result_for_a_gap_that_changed_is_not_listed(session):
    ws = Workspace(session)
    gap = Gap(SR, SR + 400)
    assert not ws.add_takes(gap, _made(_take(gap)))  # not (or no longer) a gap
    session.add_gap(gap)
    wide = Repair(gap, "sim", gap.start_sample - 200, np.zeros((1, 800), np.float32))
    session.add_gap(Gap(gap.start_sample - 100, gap.start_sample - 50))  # in its crossfade
    seen = _recorder(ws)
    assert not ws.add_takes(gap, _made(wide))
    assert ws.takes(gap) == [] and session.repair_for(gap) is None
    assert seen == [("takes", gap, False)]


def test_a_take_that_no_longer_fits_raises(session):
    ws = Workspace(session)
    gap = Gap(SR, SR + 400)
    session.add_gap(gap)
    wide = Repair(gap, "sim", gap.start_sample - 200, np.zeros((1, 800), np.float32))
    ws.add_takes(gap, _made(_take(gap), wide))
    session.add_gap(Gap(gap.start_sample - 100, gap.start_sample - 50))
    with pytest.raises(InputError):
        ws.use_take(gap, 1)


def test_a_reopened_history_lists_its_takes_and_grades_their_seams_on_demand(session):
    gap = Gap(SR, SR + 400)
    session.add_gap(gap)
    a, b = _take(gap, 0.1), _take(gap, 0.2)
    session.set_repair(a)
    session.set_repair(b)
    session.undo()  # b is in the redo stack: still a take
    assert takes_in_history(session) == {gap: [a, b]}
    ws = Workspace(session)
    assert ws.takes(gap) == [a, b]
    assert ws.known_seam(a) is None
    assert ws.seam(a) == seam_of(session.audio, a) and ws.known_seam(a) == ws.seam(a)


def test_a_reopened_historys_seams_are_measured_in_one_job_and_announced(session):
    gap = Gap(SR, SR + 400)
    session.add_gap(gap)
    a, b = _take(gap, 0.1), _take(gap, 0.2)
    session.set_repair(a)
    session.set_repair(b)
    ws = Workspace(session)
    seen = _recorder(ws)
    assert ws.unmeasured_takes() == [a, b]
    grades = measure_seams(session.audio, ws.unmeasured_takes())  # the worker's part
    assert grades == {
        a.repair_id: seam_of(session.audio, a),
        b.repair_id: seam_of(session.audio, b),
    }
    ws.add_seams(grades)
    assert seen == [("takes", gap, False)]  # one event for the gap
    assert ws.known_seam(a) == grades[a.repair_id] and ws.unmeasured_takes() == []
    ws.add_seams(grades)  # known already: nothing new to tell
    assert seen == [("takes", gap, False)]


def test_close_stops_listening(session):
    ws = Workspace(session)
    seen = _recorder(ws)
    ws.close()
    session.add_gap(Gap(SR, SR + 400))
    assert seen == [] and session.listeners == []
    with pytest.raises(ValueError, match="unknown topic"):
        ws.subscribe("everything", print)


def test_the_fit_warning_is_the_repairs_once_there_is_one(session):
    ws = Workspace(session)
    gap = Gap(SR, SR + 400)
    session.add_gap(gap)
    assert ws.fit_warning(None, None) is None
    assert ws.fit_warning(gap, "no-such-model") is None  # nothing measured
    record = {"poor": True, "loss": 2.0, "model_loss": 1.0, "ratio": 2.0}
    session.set_repair(_take(gap, prior_fit=record, model="m"))
    from simdps_studio.session import engines

    warning = ws.fit_warning(gap, None)
    assert warning == engines.fit_warning(session.repair_for(gap).info)
    assert "'m' does not know this kind of music" in warning
