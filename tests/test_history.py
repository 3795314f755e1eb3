"""The undo history as a list (issue 26): named steps, a jump to any of them in one change, the
redo branch kept until a new edit, and the whole list saved with the project. Qt-free."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from simdps_studio.core.errors import InputError
from simdps_studio.core.types import Gap
from simdps_studio.session import Repair, Session
from simdps_studio.session.project import load_project, save_project

SR = 22050


@pytest.fixture
def wav(tmp_path, piano):
    path = tmp_path / "take 3.wav"
    sf.write(path, piano(SR, 2.0, channels=2).T, SR, subtype="PCM_16")
    return path


def _repair(gap: Gap, method: str = "sim", value: float = 0.1) -> Repair:
    fill = np.full((2, gap.length), value, dtype=np.float32)
    return Repair(gap, method, gap.start_sample, fill, {"seed": 1})


def _edited(wav) -> tuple[Session, list[str]]:
    """A session with five steps after opening; the labels the history should show."""
    s = Session.open(wav)
    g = s.add_gap(Gap(4000, 6000))
    s.set_repair(_repair(g))
    s.set_repair_enabled(g, False)
    s.add_gap(Gap(20000, 21000))
    s.set_repair(_repair(Gap(20000, 21000), "lpc", 0.2))
    labels = [
        "Opened take 3.wav",
        f"Add gap {g.describe(SR)}",
        "Sim repair",
        "Bypass repair",
        f"Add gap {Gap(20000, 21000).describe(SR)}",
        "LPC repair",
    ]
    return s, labels


def _view(session: Session) -> list[tuple[int, str, str]]:
    return [(e.index, e.label, e.status) for e in session.history()]


def test_the_history_names_every_step_and_marks_the_current_one(wav):
    s, labels = _edited(wav)
    assert [e.label for e in s.history()] == labels
    assert [e.status for e in s.history()] == ["past"] * 5 + ["current"]
    s.undo()
    s.undo()
    assert [e.status for e in s.history()] == ["past"] * 3 + ["current", "undone", "undone"]
    assert s.history_index == 3 and s.history()[3].label == "Bypass repair"


def test_go_to_jumps_in_one_change_and_keeps_the_redo_branch(wav):
    s, labels = _edited(wav)
    states = s.timeline()
    calls = []
    s.listeners.append(lambda session: calls.append(session.state))
    assert s.go_to(1)  # back four steps at once
    assert calls == [states[1]] and s.state is states[1]
    assert s.gaps == (Gap(4000, 6000),) and s.repairs == ()
    assert [e.label for e in s.history()] == labels  # nothing lost
    assert [e.status for e in s.history()] == ["past", "current"] + ["undone"] * 4
    # Redo walks the same branch; a jump forward lands on the very same states.
    assert s.redo() and s.state is states[2]
    assert s.go_to(5) and s.state is states[5] and not s.can_redo
    assert s.go_to(0) and s.state is states[0] and s.gaps == () and not s.can_undo
    assert len(calls) == 4
    assert not s.go_to(0)  # already there: no change, no call
    assert len(calls) == 4
    with pytest.raises(InputError, match="no step 6"):
        s.go_to(6)
    with pytest.raises(InputError, match="no step -1"):
        s.go_to(-1)


def test_a_new_edit_after_a_jump_drops_the_undone_steps(wav):
    s, labels = _edited(wav)
    s.go_to(2)
    s.add_gap(Gap(30000, 31000))
    assert [e.label for e in s.history()] == [
        *labels[:3],
        f"Add gap {Gap(30000, 31000).describe(SR)}",
    ]
    assert s.history()[-1].status == "current" and not s.can_redo


def test_the_history_survives_save_and_reopen(wav):
    s, labels = _edited(wav)
    s.go_to(3)  # two undone steps must come back as undone
    before = _view(s)
    t = load_project(save_project(s))
    assert _view(t) == before
    assert [e.label for e in t.history()] == labels
    # The reopened history works: jump to the end and find the last repair's fill.
    assert t.go_to(5)
    assert np.array_equal(t.repair_for(Gap(20000, 21000)).fill, np.full((2, 1000), 0.2, np.float32))
    assert [e.label for e in t.history()] == labels
