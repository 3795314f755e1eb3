from __future__ import annotations

import pytest

from simdps_studio.core.progress import (
    RemainingTime,
    format_duration,
    format_remaining,
    sub_progress,
)


def test_remaining_time_extrapolates_from_the_first_measured_progress():
    est = RemainingTime(min_elapsed_s=2.0)
    # A slow start (10 s before the first report above 0) is not part of the rate.
    assert est.update(0.0, 0.0) is None
    assert est.update(0.1, 10.0) is None
    assert est.update(0.2, 11.0) is None  # only 1 s measured
    # 0.1 -> 0.3 in 4 s: 0.05 per s, 0.7 left -> 14 s.
    assert est.update(0.3, 14.0) == pytest.approx(14.0)
    assert est.update(1.0, 20.0) == 0.0


def test_remaining_time_reset_and_stalled_progress():
    est = RemainingTime(min_elapsed_s=0.0)
    est.update(0.5, 0.0)
    assert est.update(0.5, 5.0) is None  # no progress since the start: no rate yet
    est.reset()
    assert est.update(0.2, 100.0) is None
    assert est.update(0.6, 104.0) == pytest.approx(4.0)


def test_format_remaining():
    assert format_remaining(None) == ""
    assert format_remaining(0.0) == ""
    assert format_remaining(1.0) == "about 5 s left"
    assert format_remaining(42.0) == "about 40 s left"
    assert format_remaining(150.0) == "about 2 min left"
    assert format_remaining(3900.0) == "about 1 h 5 min left"


def test_format_duration():
    assert format_duration(3.0) == "about 5 s"
    assert format_duration(58.0) == "about 60 s"
    assert format_duration(490.0) == "about 8 min"
    assert format_duration(7300.0) == "about 2 h 2 min"


def test_sub_progress_maps_and_clamps():
    seen = []
    child = sub_progress(lambda f, m="": seen.append((f, m)), 0.2, 0.6)
    child(0.5, "half")
    child(2.0)
    assert seen == [(pytest.approx(0.4), "half"), (pytest.approx(0.6), "")]
