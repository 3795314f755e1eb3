"""Gap and time syntax of the CLI (docs/architecture.md, section 3): what is accepted and what is refused."""

from __future__ import annotations

import pytest

from simdps_studio.core.errors import InputError
from simdps_studio.core.types import Gap, parse_time_s

SR = 1000


@pytest.mark.parametrize(
    ("text", "start_s", "end_s"),
    [
        ("12.5:14.5", 12.5, 14.5),
        ("0:12.5-0:14.5", 12.5, 14.5),
        ("0:12.5..0:14.5", 12.5, 14.5),
        ("1:02:1:04", 62.0, 64.0),
        ("1e-3:0.5", 0.001, 0.5),  # an exponent's dash is not the range's
        (".5:1", 0.5, 1.0),
        (" 3 : 4 ", 3.0, 4.0),
    ],
)
def test_accepted_gaps(text, start_s, end_s):
    assert Gap.parse(text, SR) == Gap(round(start_s * SR), round(end_s * SR))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-1:2", "times cannot be negative"),
        ("1--2", "times cannot be negative"),
        ("1_0:2", "not a time: '1_0'"),  # float() would read 10
        ("１:２", "not a time"),  # full-width digits, which float() reads too
        ("a:b", "not a time: 'a'"),
        ("1:2:3", "not a gap"),
        ("1e:2", "not a time: '1e'"),
        ("nan:2", "not a time"),
        ("inf:2", "not a time"),
        ("1:", "not a time"),
        ("", "not a gap"),
        ("0:61-0:62", "not a valid time"),
    ],
)
def test_refused_gaps(text, message):
    with pytest.raises(InputError, match=message):
        Gap.parse(text, SR)


def test_times():
    assert parse_time_s("1:02:03.5") == 3723.5
    assert parse_time_s("12") == 12.0
    with pytest.raises(InputError, match="negative"):
        parse_time_s("-3")


def test_to_float_is_a_copy_and_the_source_is_read_only():
    import numpy as np

    from simdps_studio.core.types import Audio

    for samples in (np.zeros((2, 100), np.float32), np.zeros((2, 100), np.int16)):
        audio = Audio(samples, 8000, "FLOAT" if samples.dtype.kind == "f" else "PCM_16")
        x = audio.to_float(10, 20)
        x[:] = 0.5  # what a caller does with it (e.g. writes a fill in)
        assert not np.any(audio.samples)
        with pytest.raises(ValueError, match="read-only"):
            audio.samples[0, 0] = 1
