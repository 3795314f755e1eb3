"""Dropout detection (search/detect.py): planted damage is found, clean music gives nothing."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from simdps_studio.core.errors import CancelledError, InputError
from simdps_studio.core.progress import CancelToken
from simdps_studio.core.types import Audio, Gap
from simdps_studio.search.detect import Dropout, detect_dropouts
from simdps_studio.search.testsignals import piano_music, piano_tone

SR = 44100
MS = SR / 1000
MARGIN = 441  # default 10 ms


@functools.lru_cache(maxsize=8)
def _music(seed: int, duration_s: float, channels: int) -> np.ndarray:
    return piano_music(duration_s, SR, seed=seed, channels=channels)


def music(seed: int, duration_s: float = 12.0, channels: int = 2) -> np.ndarray:
    """Synthesised piano-like music, shape (channels, n); a fresh copy the test may damage."""
    return _music(seed, duration_s, channels).copy()


def pcm16(x: np.ndarray) -> np.ndarray:
    """Round trip through 16-bit PCM, as a file would hold it."""
    return Audio.from_float(x, SR, subtype="PCM_16").to_float()


def loud_spot(x: np.ndarray, near_s: float) -> int:
    """A sample near ``near_s`` where the music is loud (a dropout there is abrupt)."""
    a = int(near_s * SR)
    env = np.abs(x[:, a : a + SR // 2]).max(axis=0)
    return a + int(np.argmax(env > 0.5 * env.max()))


def only(found: list[Dropout], kind: str) -> Dropout:
    assert len(found) == 1, [d.to_dict() for d in found]
    assert found[0].kind == kind
    return found[0]


def assert_covers(d: Dropout, a: int, b: int, tol_s: float) -> None:
    """The damaged stretch is found within ``tol_s`` and the suggested gap covers it with a margin."""
    tol = tol_s * SR
    assert abs(d.core_start_sample - a) <= tol
    assert abs(d.core_end_sample - b) <= tol
    assert d.start_sample <= a - MARGIN + tol and d.end_sample >= b + MARGIN - tol
    assert d.start_sample <= d.core_start_sample and d.end_sample >= d.core_end_sample
    assert d.core_start_sample - d.start_sample == MARGIN
    assert d.end_sample - d.core_end_sample == MARGIN


# ----------------------------------------------------------------------------- planted damage


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("length_s", [0.005, 0.02, 0.5])
def test_zero_runs_are_found_exactly(seed, length_s):
    x = music(seed)
    a = loud_spot(x, 4.0 + seed)
    b = a + int(round(length_s * SR))
    x[:, a:b] = 0.0
    d = only(detect_dropouts(x, SR), "silence")
    assert_covers(d, a, b, 0.0)  # digital silence is found to the sample
    assert 0 < d.confidence <= 1
    gap = d.to_gap()
    assert isinstance(gap, Gap) and gap.length == b - a + 2 * MARGIN


def test_a_dropout_in_one_channel_is_found():
    x = music(3)
    a = loud_spot(x, 5.0)
    b = a + int(0.4 * SR)
    x[0, a:b] = 0.0  # the left channel drops out, the right plays on
    assert_covers(only(detect_dropouts(x, SR), "silence"), a, b, 0.001)
    # A track with one channel silent throughout (a mono source on the left) is no dropout.
    mono_left = music(3)
    mono_left[1] = 0.0
    assert detect_dropouts(mono_left, SR) == []
    # Nor is a hard-panned gated part (chiptune-style square notes on the right, digital
    # silence between them) over unrelated music on the left.
    t = np.arange(x.shape[1]) / SR
    gated = np.stack([music(4)[0], 0.3 * np.sign(np.sin(2 * np.pi * 330 * t)) * ((t % 0.5) < 0.3)])
    assert detect_dropouts(gated, SR) == []


def test_zero_runs_shorter_than_5ms_are_ignored():
    x = music(3)
    a = loud_spot(x, 5.0)
    x[:, a : a + int(0.004 * SR)] = 0.0  # 4 ms
    assert detect_dropouts(x, SR) == []


def test_near_silence_and_nan_runs_count_as_silence():
    x = music(4)
    a = loud_spot(x, 3.0)
    b = a + int(0.1 * SR)
    x[:, a:b] = 1e-5 * np.random.default_rng(0).standard_normal((2, b - a))  # -100 dB noise
    # (music samples next to the run that are just as small join it: within a few ms)
    assert_covers(only(detect_dropouts(x, SR), "silence"), a, b, 0.003)
    y = music(4)
    y[:, a:b] = np.nan
    assert_covers(only(detect_dropouts(y, SR), "silence"), a, b, 0.0)


@pytest.mark.parametrize("seed", [1, 5])
@pytest.mark.parametrize("length_s", [0.02, 0.1, 1.0])
def test_40db_level_drops_are_found_within_a_few_ms(seed, length_s):
    x = music(seed)
    a = loud_spot(x, 6.0)
    b = a + int(round(length_s * SR))
    x[:, a:b] *= 0.01  # -40 dB
    d = only(detect_dropouts(x, SR), "level_drop")
    assert_covers(d, a, b, 0.006)


def test_level_drop_in_16_bit_audio():
    x = music(6)
    a = loud_spot(x, 2.0)
    b = a + int(0.25 * SR)
    x[:, a:b] *= 0.01
    assert_covers(only(detect_dropouts(pcm16(x), SR), "level_drop"), a, b, 0.006)


@pytest.mark.parametrize("quantise", [False, True])
def test_clipped_stretch_is_found(quantise):
    x = music(7)
    a = loud_spot(x, 5.0)
    b = a + int(0.2 * SR)
    x[:, a:b] *= 6.0  # an overloaded passage, cut at the converter's rails
    x = np.clip(x, -1.0, 32767 / 32768)
    if quantise:
        x = pcm16(x)
    d = only(detect_dropouts(x, SR), "clipping")
    assert_covers(d, a, b, 0.02)


def test_several_dropouts_in_one_track_are_found_sorted_and_described():
    x = music(8, duration_s=20.0)
    planted = []
    a = loud_spot(x, 3.0)
    x[:, a : a + 2205] = 0.0
    planted.append(("silence", a, a + 2205))
    a = loud_spot(x, 9.0)
    x[:, a : a + 4410] *= 0.01
    planted.append(("level_drop", a, a + 4410))
    a = loud_spot(x, 15.0)
    x[:, a : a + 8820] = np.clip(6.0 * x[:, a : a + 8820], -0.99, 0.99)
    x = np.clip(x, -0.99, 0.99)
    planted.append(("clipping", a, a + 8820))
    found = detect_dropouts(x, SR)
    assert [d.kind for d in found] == [k for k, _, _ in planted]
    for d, (_, a, b) in zip(found, planted):
        assert_covers(d, a, b, 0.02)
        info = d.to_dict()
        assert {"kind", "start_s", "end_s", "start_sample", "end_sample", "confidence"} <= set(info)
        assert info["start_s"] == pytest.approx(d.start_sample / SR)
        assert info["end_s"] == pytest.approx(d.end_sample / SR)
        assert info["duration_s"] == pytest.approx((d.end_sample - d.start_sample) / SR)
    assert [d.start_sample for d in found] == sorted(d.start_sample for d in found)


def test_margin_is_configurable_and_clipped_at_the_track_ends():
    x = music(9, duration_s=4.0)
    a = 100  # a dropout just after the start: the margin cannot reach before sample 0
    x[:, :a] = np.clip(x[:, :a] + 0.3, -1, 1)  # loud up to the dropout
    x[:, a : a + 1000] = 0.0
    d = only(detect_dropouts(x, SR, margin_s=0.05), "silence")
    assert d.start_sample == 0 and d.core_start_sample == a
    assert d.end_sample == a + 1000 + int(0.05 * SR)


def test_mono_input_and_audio_float_conversion():
    x = music(10, channels=1)
    a = loud_spot(x, 4.0)
    x[:, a : a + 441] = 0.0
    assert_covers(only(detect_dropouts(x[0], SR), "silence"), a, a + 441, 0.0)


# ----------------------------------------------------------------------------- clean material


def with_edges(x: np.ndarray) -> np.ndarray:
    """Add 0.5 s of leading and 1 s of trailing digital silence and a 3-s fade-out to zero."""
    y = x.copy()
    y[:, -3 * SR :] *= np.linspace(1.0, 0.0, 3 * SR) ** 2
    pad0 = np.zeros((x.shape[0], SR // 2), np.float32)
    pad1 = np.zeros((x.shape[0], SR), np.float32)
    return np.concatenate([pad0, y, pad1], axis=1)


@pytest.mark.parametrize("seed", [0, 11, 12, 13, 14])
def test_clean_music_gives_nothing(seed):
    x = with_edges(music(seed, duration_s=15.0))
    assert detect_dropouts(x, SR) == []
    assert detect_dropouts(pcm16(x), SR) == []  # nor once it is quantised like a file


def test_natural_decays_pauses_and_loud_music_give_nothing():
    # Notes that ring out into digital silence (a rest in rendered MIDI), then start again.
    note = piano_tone(220.0, 1.5, SR, decay_s=0.3)
    rest = np.zeros(SR // 3, np.float32)
    y = np.concatenate([note, rest, note, np.zeros(10, np.float32), note, rest])[None, :]
    assert detect_dropouts(y, SR) == []
    # Quiet music (16-bit, around -40 dBFS) and music normalised to full scale.
    quiet = pcm16(piano_music(10.0, SR, seed=15, level=0.005))
    assert detect_dropouts(quiet, SR) == []
    loud = piano_music(10.0, SR, seed=16, level=0.5, channels=2)
    assert detect_dropouts(pcm16(loud), SR) == []


def test_slow_quantised_peaks_are_not_clipping():
    # A low sine at 16 bits sits at its top value for several samples at every peak.
    t = np.arange(2 * SR) / SR
    for f in (20.0, 30.0, 55.0):
        x = pcm16(0.95 * np.sin(2 * np.pi * f * t)[None, :])
        assert detect_dropouts(x, SR) == []


def test_all_silent_and_empty_tracks():
    assert detect_dropouts(np.zeros((2, SR)), SR) == []
    assert detect_dropouts(np.zeros((2, 0)), SR) == []


def test_bad_arguments_raise_input_error():
    with pytest.raises(InputError):
        detect_dropouts(np.zeros((1, 2, 100)), SR)
    with pytest.raises(InputError):
        detect_dropouts(np.zeros((1, 100)), 0)


def test_progress_and_cancel():
    x = music(17, duration_s=4.0)
    seen = []
    detect_dropouts(x, SR, progress=lambda f, m="": seen.append(f))
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        detect_dropouts(x, SR, cancel=token)
