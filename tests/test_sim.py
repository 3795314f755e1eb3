"""Sim repair (search/sim.py): the candidate pasted into the gap with crossfades outside it."""

from __future__ import annotations

import numpy as np
import pytest

from simdps_studio.core.errors import InputError
from simdps_studio.core.types import Audio
from simdps_studio.search.candidates import Candidate, CorpusTrack
from simdps_studio.search.sim import (
    candidate_samples,
    corpus_source,
    fade_in,
    sim_fill,
    sim_fill_samples,
)
from simdps_studio.search.testsignals import piano_music, snr_db, sustained_tone

SR = 44100
MARGIN = 441  # 10 ms at 44.1 kHz


@pytest.fixture(scope="module")
def noise() -> np.ndarray:
    """Stereo white noise: every sample differs, so misplaced samples show."""
    return (0.1 * np.random.default_rng(3).standard_normal((2, 4 * SR))).astype(np.float32)


def plant(x: np.ndarray, s: int, e: int, t: int, margin: int = MARGIN) -> np.ndarray:
    """Copy the candidate passage with its margins over the gap and its margins."""
    y = x.copy()
    y[:, s - margin : e + margin] = x[:, t - margin : t + (e - s) + margin]
    return y


def test_fade_weights_are_raised_cosine_and_complementary():
    for n in (1, 2, 441, 1000):
        w = fade_in(n)
        assert np.all((w > 0) & (w < 1))
        np.testing.assert_allclose(w + w[::-1], 1.0, atol=1e-12)
        assert np.all(np.diff(w) > 0)
    w = fade_in(441)
    i = np.arange(441) + 0.5
    np.testing.assert_allclose(w, np.sin(np.pi * i / 882) ** 2, atol=1e-12)


def test_span_is_gap_plus_10ms_margins_and_inner_part_is_the_candidate(noise):
    s, e, t = SR, SR + 2205, 2 * SR
    span_start, fill = sim_fill(noise, SR, s, e, t)
    assert span_start == s - MARGIN
    assert fill.shape == (2, (e - s) + 2 * MARGIN)
    assert fill.dtype == np.float32
    np.testing.assert_array_equal(fill[:, MARGIN : MARGIN + e - s], noise[:, t : t + e - s])
    # Another crossfade length moves the span edges, never the gap's contents.
    span_start, fill5 = sim_fill(noise, SR, s, e, t, crossfade_s=0.005)
    assert span_start == s - 220 and fill5.shape[1] == (e - s) + 2 * 220
    np.testing.assert_array_equal(fill5[:, 220:-220], fill[:, MARGIN:-MARGIN])
    # No crossfade: the span is the gap.
    span_start, fill0 = sim_fill(noise, SR, s, e, t, crossfade_s=0.0)
    assert span_start == s and fill0.shape[1] == e - s


def test_margins_crossfade_original_into_candidate_with_complementary_weights():
    n = 2 * SR
    s, e, t = 20_000, 25_000, 50_000
    length = e - s
    # Original = 1 around the gap, candidate (with its margins) = 0 ...
    a = np.ones((1, n), np.float32)
    a[:, t - MARGIN : t + length + MARGIN] = 0.0
    # ... and the reverse.
    b = 1.0 - a
    _, fa = sim_fill(a, SR, s, e, t)
    _, fb = sim_fill(b, SR, s, e, t)
    w = fade_in(MARGIN)
    np.testing.assert_allclose(fb[0, :MARGIN], w, atol=1e-6)  # candidate fades in
    np.testing.assert_allclose(fb[0, -MARGIN:], w[::-1], atol=1e-6)  # and out again
    np.testing.assert_allclose(fa[0, :MARGIN], 1.0 - w, atol=1e-6)  # original fades out
    np.testing.assert_allclose(fa + fb, 1.0, atol=1e-6)  # weights sum to one everywhere
    assert np.all(fb[0, MARGIN:-MARGIN] == 1.0)


def test_margins_are_clipped_at_the_track_ends(noise):
    n = noise.shape[1]
    start, fill = sim_fill(noise, SR, 0, 1000, 2 * SR)
    assert start == 0 and fill.shape[1] == 1000 + MARGIN
    np.testing.assert_array_equal(fill[:, :1000], noise[:, 2 * SR : 2 * SR + 1000])
    start, fill = sim_fill(noise, SR, n - 200, n, SR)
    assert start == n - 200 - MARGIN and fill.shape[1] == 200 + MARGIN
    np.testing.assert_array_equal(fill[:, MARGIN:], noise[:, SR : SR + 200])
    # A margin of 100 samples where only 100 samples lie before the gap.
    start, fill = sim_fill(noise, SR, 100, 600, SR)
    assert start == 0 and fill.shape[1] == 100 + 500 + MARGIN


def test_margins_stay_inside_the_bounds(noise):
    # Halfway to a neighbouring gap 100 samples before and right after (adjacent) this one.
    start, fill = sim_fill(noise, SR, 2000, 3000, 2 * SR, bounds=(1950, 3000))
    assert start == 1950 and fill.shape[1] == 50 + 1000
    start, fill = sim_fill_samples(
        noise, SR, 2000, 3000, noise[:, SR : 2 * SR], bounds=(2000, 3010)
    )
    assert start == 2000 and fill.shape[1] == 1000 + 10
    with pytest.raises(InputError, match="do not hold the gap"):
        sim_fill(noise, SR, 2000, 3000, 2 * SR, bounds=(2100, 4000))


def test_planted_repeat_is_reconstructed_exactly(noise):
    s, e, t = SR + 123, 2 * SR + 456, 100_789  # a 1-s gap; its copy lies after it
    clean = plant(noise, s, e, t)
    damaged = clean.copy()
    damaged[:, s:e] = 0.0
    start, fill = sim_fill(damaged, SR, s, e, t)
    np.testing.assert_allclose(fill, clean[:, start : start + fill.shape[1]], atol=1e-7)
    repaired = damaged.copy()
    repaired[:, start : start + fill.shape[1]] = fill
    assert snr_db(clean, repaired) > 100.0


def test_gain_is_applied_to_the_candidate_only(noise):
    s, e, t = SR, SR + 4410, 2 * SR
    for gain_db in (-6.0, 4.0):
        g = 10.0 ** (gain_db / 20.0)
        _, fill = sim_fill(noise, SR, s, e, t, gain_db=gain_db)
        np.testing.assert_allclose(fill[:, MARGIN:-MARGIN], g * noise[:, t : t + e - s], rtol=1e-6)
        # The margins' first sample is almost all original, the last almost all (scaled) candidate.
        w = fade_in(MARGIN)
        expect = (1 - w) * noise[:, s - MARGIN : s] + w * g * noise[:, t - MARGIN : t]
        np.testing.assert_allclose(fill[:, :MARGIN], expect, atol=1e-6)
    # A -4 dB copy pasted with +4 dB is the original passage again.
    clean = noise.copy()
    t = 2 * SR
    clean[:, t - MARGIN : t + 5000 + MARGIN] = clean[:, s - MARGIN : s + 5000 + MARGIN] * 10 ** (
        -4 / 20
    )
    _, fill = sim_fill(clean, SR, s, s + 5000, t, gain_db=4.0)
    assert snr_db(clean[:, s : s + 5000], fill[:, MARGIN:-MARGIN]) > 100.0


def test_candidate_from_another_recording_with_other_channels():
    track = piano_music(6.0, SR, seed=2, channels=2)
    s, e = 2 * SR, 2 * SR + 22050
    mono = piano_music(5.0, SR, seed=7, channels=1)
    t = SR
    start, fill = sim_fill(track, SR, s, e, t, source=mono)
    assert start == s - MARGIN and fill.shape == (2, (e - s) + 2 * MARGIN)
    for ch in range(2):
        np.testing.assert_allclose(fill[ch, MARGIN:-MARGIN], mono[0, t : t + e - s], atol=1e-7)
    # A six-channel source: its mean goes into every channel of the stereo track.
    six = np.concatenate([mono, -mono, 2 * mono, mono, mono, 0 * mono])
    _, fill6 = sim_fill(track, SR, s, e, t, source=six)
    np.testing.assert_allclose(fill6[:, MARGIN:-MARGIN], fill[:, MARGIN:-MARGIN] * 4 / 6, atol=1e-6)
    # Its margins come from the other recording, not from the track.
    w = fade_in(MARGIN)
    expect = (1 - w) * track[0, s - MARGIN : s] + w * mono[0, t - MARGIN : t]
    np.testing.assert_allclose(fill[0, :MARGIN], expect, atol=1e-6)
    # The candidate may start anywhere in another recording, even where the gap is in the track.
    _, fill_same_pos = sim_fill(track, SR, s, e, s, source=mono)
    np.testing.assert_allclose(fill_same_pos[0, MARGIN:-MARGIN], mono[0, s:e], atol=1e-7)


def test_candidate_from_a_recording_at_another_rate_and_from_an_audio_object():
    import soxr

    track = piano_music(6.0, SR, seed=4, channels=2)
    s, e = 2 * SR, 2 * SR + SR // 2
    truth = track[:, s:e].copy()
    damaged = track.copy()
    damaged[:, s:e] = np.nan  # NaN in the gap must not matter
    src48 = soxr.resample(track.T, SR, 48000).T.astype(np.float32)
    t48 = 2 * 48000
    start, fill = sim_fill(damaged, SR, s, e, t48, source=src48, source_sr=48000)
    assert start == s - MARGIN and fill.shape == (2, (e - s) + 2 * MARGIN)
    assert snr_db(truth, fill[:, MARGIN:-MARGIN]) >= 60.0  # no fractional-sample shift
    # The same source as an Audio object (native PCM_24) brings its own rate.
    audio48 = Audio.from_float(src48, 48000, subtype="PCM_24")
    _, fill_a = sim_fill(damaged, SR, s, e, t48, source=audio48)
    np.testing.assert_allclose(fill_a, fill, atol=1e-5)
    with pytest.raises(InputError):
        sim_fill(damaged, SR, s, e, t48, source=audio48, source_sr=44100)
    # An Audio source at the track's own rate: samples exactly as stored.
    audio = Audio.from_float(track, SR, subtype="PCM_16")
    _, fill16 = sim_fill(damaged, SR, s, e, SR, source=audio)
    np.testing.assert_array_equal(fill16[:, MARGIN:-MARGIN], audio.to_float(SR, SR + e - s))


def test_candidate_margin_inside_the_gap_keeps_the_original(noise):
    # Candidate starts right after the gap: its left margin would be gap samples.
    s, e = SR, SR + 3000
    damaged = noise.copy()
    damaged[:, s:e] = 0.0
    _, fill = sim_fill(damaged, SR, s, e, e)
    np.testing.assert_allclose(fill[:, :MARGIN], damaged[:, s - MARGIN : s], atol=1e-7)
    np.testing.assert_array_equal(fill[:, MARGIN:-MARGIN], damaged[:, e : e + 3000])
    # And one that ends right before the gap: its right margin would be gap samples.
    _, fill = sim_fill(damaged, SR, s, e, s - 3000)
    np.testing.assert_allclose(fill[:, -MARGIN:], damaged[:, e : e + MARGIN], atol=1e-7)


def test_nan_and_inf_do_not_propagate(noise):
    s, e, t = SR, SR + 2000, 2 * SR
    x = noise.copy()
    x[:, s:e] = np.nan  # the gap itself
    x[0, s - 10] = np.inf  # the original inside a margin
    x[1, t + 50] = np.nan  # the candidate
    x[0, t - 5] = -np.inf  # the candidate's margin
    _, fill = sim_fill(x, SR, s, e, t)
    assert np.all(np.isfinite(fill))
    assert fill[1, MARGIN + 50] == 0.0
    _, fill = sim_fill_samples(x, SR, s, e, x[:, t : t + 2000])
    assert np.all(np.isfinite(fill))


@pytest.mark.parametrize(
    ("s", "e", "t", "kwargs"),
    [
        (1000, 1000, 5000, {}),  # zero-length gap
        (2000, 1000, 5000, {}),  # reversed
        (-5, 1000, 5000, {}),  # before the start
        (1000, 4 * SR + 1, 5000, {}),  # past the end
        (1000, 2000, -1, {}),  # candidate before the start
        (1000, 2000, 4 * SR - 999, {}),  # candidate past the end
        (1000, 2000, 1500, {}),  # candidate overlaps the gap
        (1000, 2000, 5000, {"crossfade_s": -0.01}),
        (1000, 2000, 5000, {"crossfade_s": float("nan")}),
        (1000, 2000, 5000, {"source": np.zeros((2, 1500))}),  # candidate off the other source
        (1000, 2000, 5000, {"source": np.zeros((1, 2, 3))}),
        (1000, 2000, 5000, {"source": np.array(["a"] * 10000)}),
    ],
)
def test_invalid_arguments_raise_input_error(noise, s, e, t, kwargs):
    with pytest.raises(InputError):
        sim_fill(noise, SR, s, e, t, **kwargs)


def test_invalid_track_shape_or_rate_raise_input_error(noise):
    with pytest.raises(InputError):
        sim_fill(np.zeros((1, 2, 3000)), SR, 100, 200, 1000)
    with pytest.raises(InputError):
        sim_fill(noise, 0, 100, 200, 1000)
    with pytest.raises(InputError):
        sim_fill_samples(noise, SR, 100, 200, np.zeros(99))  # shorter than the gap
    with pytest.raises(InputError):
        sim_fill_samples(noise, SR, 200, 100, np.zeros(200))
    with pytest.raises(InputError):
        candidate_samples(noise, SR, 100, 200, noise.shape[1])


def test_mono_track_given_as_1d_array(noise):
    _, fill = sim_fill(noise[0], SR, SR, SR + 100, 2 * SR)
    assert fill.shape == (1, 100 + 2 * MARGIN)
    np.testing.assert_array_equal(fill[0, MARGIN:-MARGIN], noise[0, 2 * SR : 2 * SR + 100])


# ----------------------------------------------------------------------------- arbitrary arrays


def test_sim_fill_samples_pastes_the_array_exactly_with_outside_margins(noise):
    s, e = SR, SR + 3000
    guide = np.random.default_rng(1).standard_normal((2, 5000)).astype(np.float32)
    start, fill = sim_fill_samples(noise, SR, s, e, guide, gain_db=-3.0)
    assert start == s - MARGIN and fill.shape == (2, 3000 + 2 * MARGIN)
    g = 10 ** (-3 / 20)
    np.testing.assert_allclose(fill[:, MARGIN:-MARGIN], g * guide[:, :3000], rtol=1e-6)  # first L
    # The margins start as (almost) the original and are finite.
    assert np.all(np.isfinite(fill))
    assert abs(fill[0, 0] - noise[0, s - MARGIN]) < 0.02
    assert abs(fill[0, -1] - noise[0, e + MARGIN - 1]) < 0.02
    # A mono guide on a stereo track goes into both channels; integers are native PCM.
    _, fill_m = sim_fill_samples(noise, SR, s, e, guide[0])
    np.testing.assert_allclose(fill_m[0, MARGIN:-MARGIN], fill_m[1, MARGIN:-MARGIN])
    pcm = (guide[:, :3000] * 8192).astype(np.int16)
    _, fill_i = sim_fill_samples(noise, SR, s, e, pcm)
    np.testing.assert_allclose(fill_i[:, MARGIN:-MARGIN], pcm / 32768.0, atol=1e-7)


def test_sim_fill_samples_extends_the_array_smoothly_into_the_margins():
    # The guide is the true content of the gap of a sustained tone: the AR extension of the guide
    # into the margins must match the tone there, so the whole span is close to the original.
    tone = sustained_tone(SR, 3.0)[None, :]
    s, e = int(1.2 * SR), int(1.2 * SR) + SR // 4
    damaged = tone.copy()
    damaged[:, s:e] = 0.0
    start, fill = sim_fill_samples(damaged, SR, s, e, tone[:, s:e])
    assert start == s - MARGIN
    np.testing.assert_array_equal(fill[:, MARGIN:-MARGIN], tone[:, s:e])
    span = tone[:, start : start + fill.shape[1]]
    assert snr_db(span[:, :MARGIN], fill[:, :MARGIN]) >= 30.0
    assert snr_db(span[:, -MARGIN:], fill[:, -MARGIN:]) >= 30.0
    # No click: the largest step in the repaired signal is no larger than the tone's own.
    repaired = damaged.copy()
    repaired[:, start : start + fill.shape[1]] = fill
    steps = np.abs(np.diff(repaired[0, start - 1000 : start + fill.shape[1] + 1000]))
    assert steps.max() <= 1.1 * np.abs(np.diff(tone[0, start - 1000 : e + 1000])).max()


def test_sim_fill_samples_at_track_ends_and_for_short_gaps(noise):
    n = noise.shape[1]
    guide = np.ones((2, 300), np.float32) * 0.1
    start, fill = sim_fill_samples(noise, SR, 0, 300, guide)
    assert start == 0 and fill.shape[1] == 300 + MARGIN
    start, fill = sim_fill_samples(noise, SR, n - 300, n, guide)
    assert start == n - 300 - MARGIN and fill.shape[1] == 300 + MARGIN
    np.testing.assert_allclose(fill[:, MARGIN:], guide, rtol=1e-6)
    start, fill = sim_fill_samples(noise, SR, SR, SR + 2, guide)  # a two-sample guide
    assert fill.shape[1] == 2 + 2 * MARGIN and np.all(np.isfinite(fill))


# ----------------------------------------------------------------------------- candidate samples


def test_candidate_samples_match_the_sim_fill_inner_part(noise):
    s, e, t = SR, SR + 4000, 2 * SR
    c = candidate_samples(noise, SR, s, e, t, gain_db=2.0)
    _, fill = sim_fill(noise, SR, s, e, t, gain_db=2.0)
    assert c.shape == (2, e - s) and c.dtype == np.float32
    np.testing.assert_array_equal(c, fill[:, MARGIN:-MARGIN])
    mono = noise[:1]
    np.testing.assert_allclose(
        candidate_samples(noise, SR, s, e, t, source=mono), np.repeat(mono[:, t : t + 4000], 2, 0)
    )


def test_corpus_source_fetches_the_recording_of_a_corpus_candidate(noise):
    a = Audio.from_float(noise, 48000)
    b = noise[:1] * 0.5
    corpus = (a, CorpusTrack("b.wav", b, 22050), ("c.flac", noise, SR), ("d", a))

    def cand(index):
        return Candidate(1, 1000, 0.1, 0.1, 0.9, 0.1, 0.1, 0.0, "x", index)

    assert corpus_source(corpus, cand(None)) == (None, None)
    src, sr = corpus_source(corpus, cand(0))
    assert src is a and sr == 48000
    src, sr = corpus_source(corpus, cand(1))
    assert src is b and sr == 22050
    src, sr = corpus_source(corpus, cand(2))
    assert src is noise and sr == SR
    src, sr = corpus_source(corpus, cand(3))
    assert src is a
    with pytest.raises(InputError):
        corpus_source(corpus, cand(4))
    # What the session does with it: the candidate's samples at the track's rate.
    src, sr = corpus_source(corpus, cand(1))
    x = candidate_samples(noise, SR, SR, SR + 1000, 1000, source=src, source_sr=sr)
    assert x.shape == (2, 1000) and np.all(np.isfinite(x))


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.float32, np.float64])
def test_the_track_as_audio_gives_the_same_fill_as_its_float_copy(dtype):
    """The app passes the Audio itself (read a stretch at a time), never a whole float copy."""
    from conftest import piano_like

    sr = 44100
    x = piano_like(sr, 6.0, seed=2, channels=2) * 0.5
    if np.dtype(dtype).kind == "i":
        x = x * (2**15 if dtype == np.int16 else 2**31)
    subtype = {np.int16: "PCM_16", np.int32: "PCM_24", np.float32: "FLOAT", np.float64: "DOUBLE"}
    audio = Audio(x.astype(dtype), sr, subtype[dtype], "WAV", {})
    s, e, t = int(3.0 * sr), int(3.4 * sr), int(1.0 * sr)
    as_float = sim_fill(audio.to_float(), sr, s, e, t, gain_db=1.5)
    as_audio = sim_fill(audio, sr, s, e, t, gain_db=1.5)
    assert as_float[0] == as_audio[0] and np.array_equal(as_float[1], as_audio[1])
