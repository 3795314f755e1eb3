"""Resampling, quantisation, fades, levels and the waveform peak pyramid."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from simdps_studio.audio import PeakPyramid, raised_cosine, resample, rms_db, to_mono
from simdps_studio.audio.dsp import SILENCE_DB, quantize, tpdf_dither_quantize
from simdps_studio.core.errors import CancelledError, InputError
from simdps_studio.core.progress import CancelToken
from simdps_studio.core.types import Audio, native_to_float


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    noise = np.sum((reference - estimate) ** 2)
    return float(10 * np.log10(np.sum(reference**2) / noise))


# --------------------------------------------------------------------------------- resampling


def test_resample_round_trip_snr():
    sr = 44100
    t = np.arange(sr) / sr
    x = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    down = resample(x, sr, 22050)
    assert down.shape == (22050,) and down.dtype == np.float32
    # Halfway: the same sine at the new rate (no delay, no level change).
    t2 = np.arange(22050) / 22050
    assert snr_db(0.5 * np.sin(2 * np.pi * 1000 * t2[2000:-2000]), down[2000:-2000]) > 60
    up = resample(down, 22050, sr)
    assert up.shape == (sr,)
    edge = sr // 20
    assert snr_db(x[edge:-edge], up[edge:-edge]) > 60


def test_resample_shapes_and_channels():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 4800)).astype(np.float32)
    y = resample(x, 48000, 16000)
    assert y.shape == (3, 2, 1600) and y.dtype == np.float32
    # Every channel is resampled on its own, like a 1-D call.
    assert np.allclose(y[2, 1], resample(x[2, 1], 48000, 16000), atol=1e-6)
    assert resample(x[0], 48000, 96000).shape == (2, 9600)
    same = resample(x, 48000, 48000)
    assert np.array_equal(same, x) and same is not x
    assert resample(np.zeros((2, 0), np.float32), 44100, 48000).shape == (2, 0)
    with pytest.raises(InputError):
        resample(x, 0, 44100)


# --------------------------------------------------------------------------- quantise, dither


@pytest.mark.parametrize(("subtype", "lsb"), [("PCM_16", 1), ("PCM_24", 256), ("PCM_U8", 256)])
def test_quantize_rounds_to_the_subtype_lsb(subtype, lsb):
    bits = {"PCM_16": 16, "PCM_24": 24, "PCM_U8": 8}[subtype]
    x = np.random.default_rng(1).uniform(-1.2, 1.2, (2, 10000))
    q = quantize(x, subtype)
    assert q.dtype == (np.int32 if bits == 24 else np.int16)
    assert not np.any(q % lsb)
    steps = q.astype(np.float64) / lsb
    inside = np.abs(x) < 0.99
    err = steps[inside] - x[inside] * 2 ** (bits - 1)
    assert np.abs(err).max() <= 0.5
    assert steps.max() == 2 ** (bits - 1) - 1 and steps.min() == -(2 ** (bits - 1))


def test_tpdf_dither_statistics_and_float_passthrough():
    x = np.random.default_rng(2).uniform(-0.5, 0.5, 200_000)
    q = tpdf_dither_quantize(x, "PCM_24", rng=np.random.default_rng(0))
    assert not np.any(q % 256)
    err = q / 256.0 - x * 2**23
    assert np.abs(err).max() <= 1.5
    assert err.var() == pytest.approx(0.25, rel=0.03)
    assert abs(err.mean()) < 0.01
    f = tpdf_dither_quantize(x, "FLOAT", rng=np.random.default_rng(0))
    assert f.dtype == np.float32 and np.array_equal(f, x.astype(np.float32))


def test_tpdf_dither_keeps_samples_already_on_the_grid():
    lsb = 1.0 / 32768
    on_grid = np.array([[0.0, 0.0, 5 * lsb, -7 * lsb, 0.0]])
    q = tpdf_dither_quantize(on_grid, "PCM_16", rng=np.random.default_rng(3))
    assert q.tolist() == [[0, 0, 5, -7, 0]]  # silence stays silence, copies stay copies
    # A 24-bit source's samples on the 16-bit grid survive a reduction to 16 bits exactly.
    x = np.array([256 * 100, 256 * 100 + 1]) / 2.0**23
    q = tpdf_dither_quantize(np.tile(x, 1000)[None], "PCM_16", rng=np.random.default_rng(4))
    assert np.all(q[0, 0::2] == 100) and len(np.unique(q[0, 1::2])) > 1  # the other: dithered
    between = np.full(4000, 0.3 * lsb)  # needs rounding: dithered, its level kept on average
    q = tpdf_dither_quantize(between, "PCM_16", rng=np.random.default_rng(3))
    assert set(np.unique(q)) <= {-1, 0, 1} and abs(q.mean() - 0.3) < 0.05


def test_tpdf_dither_keeps_identical_channels_identical():
    x = np.random.default_rng(5).uniform(-0.5, 0.5, 50_000)
    other = np.random.default_rng(6).uniform(-0.5, 0.5, 50_000)
    both = np.stack([x, x, other, x])
    both[3, :100] = other[:100]  # the fourth channel is a copy of the first after 100 samples
    q = tpdf_dither_quantize(both, "PCM_16", rng=np.random.default_rng(0))
    assert np.array_equal(q[0], q[1])  # dual mono stays dual mono
    assert np.array_equal(q[3, 100:], q[0, 100:]) and np.array_equal(q[3, :100], q[2, :100])
    # A channel that differs keeps dither of its own: its error is independent of channel 0's.
    err = q / 32768.0 - both
    assert abs(np.corrcoef(err[0], err[2])[0, 1]) < 0.02
    assert np.corrcoef(err[0], err[1])[0, 1] == pytest.approx(1.0)


# ------------------------------------------------------------------------- fades, mono, level


@pytest.mark.parametrize("n", [1, 2, 441, 1000])
def test_raised_cosine(n):
    r = raised_cosine(n)
    assert r.shape == (n,) and r.dtype == np.float32
    assert np.allclose(r + r[::-1], 1.0, atol=1e-6)
    assert np.all(np.diff(r) > 0)
    assert 0 < r[0] < 0.5 / n * 4 and r[-1] > 1 - 4 * 0.5 / n
    assert raised_cosine(0).shape == (0,)


def test_to_mono_and_rms_db():
    x = np.stack([np.ones(100), -np.ones(100) * 0.5]).astype(np.float32)
    assert np.allclose(to_mono(x), 0.25)
    assert to_mono(np.zeros((4, 3, 2, 10))).shape == (4, 3, 10)
    assert to_mono(x[0]) is not None and to_mono(x[0]).shape == (100,)
    sine = np.sin(2 * np.pi * np.arange(48000) / 48)
    assert rms_db(sine) == pytest.approx(-3.0103, abs=1e-3)
    assert rms_db(0.1 * sine) == pytest.approx(-23.0103, abs=1e-3)
    per_channel = rms_db(np.stack([sine, 0.01 * sine]), axis=-1)
    assert per_channel.shape == (2,) and per_channel[1] == pytest.approx(-43.0103, abs=1e-3)
    assert rms_db(np.zeros(10)) == SILENCE_DB and rms_db(np.zeros(0)) == SILENCE_DB


# -------------------------------------------------------------------------------- peak pyramid


def brute_force(samples: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = native_to_float(samples)
    spans = [(a, max(b, a + 1)) for a, b in itertools.pairwise(edges)]
    assert all(a < b for a, b in spans)
    mins = np.stack([f[:, a:b].min(axis=1) for a, b in spans], axis=1)
    maxs = np.stack([f[:, a:b].max(axis=1) for a, b in spans], axis=1)
    return mins, maxs


def _signal(dtype: str, channels: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    t = np.arange(n)
    x = 0.6 * np.sin(2 * np.pi * t / 5000.0 + np.arange(channels)[:, None])
    x = x * (1 + 0.3 * np.sin(t / 777.0)) * 0.7 + 0.05 * rng.standard_normal((channels, n))
    x[:, n // 2] = 0.999  # a lone peak the overview must not miss
    if dtype == "float32":
        return x.astype(np.float32)
    return Audio.from_float(x, 48000, subtype="PCM_16" if dtype == "int16" else "PCM_24").samples


@pytest.mark.parametrize(
    ("dtype", "base_block", "factor"),
    [("int16", 256, 4), ("int32", 256, 4), ("float32", 256, 4), ("int32", 16, 2), ("int16", 8, 4)],
)
def test_peak_pyramid_matches_brute_force(dtype, base_block, factor):
    n = 300_007
    samples = _signal(dtype, 2, n)
    audio = Audio(samples, 48000, "FLOAT" if dtype == "float32" else "PCM_24")
    pyramid = PeakPyramid(audio, base_block=base_block, factor=factor)
    if base_block == 256:
        assert pyramid.nbytes < 0.02 * samples.shape[0] * n * 4
    assert pyramid.levels[-1][0].shape == (2, 1)
    used_levels = set()
    views = [
        (0, n, 100),
        (0, n, 7),
        (3, n - 5, 50),
        (1000, 250_001, 31),
        (0, n, 1000),  # whole file: coarse levels
        (0, n, 1),
        (12_345, 298_765, 777),  # unaligned range
        (100_000, 100_900, 1200),  # more pixels than samples
        (5, 300_000, 333),
        (150_000 - 3000, 150_000 + 3000, 50),  # contains the lone peak
        (n - 1000, n, 10),  # partial last block
        (1, 257, 1),  # one pixel, no whole block
    ]
    for start, end, n_pixels in views:
        used_levels.add(pyramid._grid_level(start, end, n_pixels))
        mins, maxs = pyramid.query(start, end, n_pixels)
        edges = pyramid.pixel_edges(start, end, n_pixels)
        # Edges are where a plain even split puts them, up to 1/16 pixel.
        even = start + np.arange(n_pixels + 1) * (end - start) // n_pixels
        assert np.all(np.abs(edges - even) <= (end - start) / n_pixels / 16)
        ref_min, ref_max = brute_force(samples, edges)
        assert mins.shape == maxs.shape == (2, n_pixels)
        assert mins.dtype == np.float32
        assert np.array_equal(mins, ref_min), (start, end, n_pixels)
        assert np.array_equal(maxs, ref_max), (start, end, n_pixels)
    assert -1 in used_levels and len(used_levels) >= 3  # raw and at least two grid levels
    whole_max = pyramid.query(0, n, 3)[1].max()
    assert whole_max == native_to_float(samples).max()


def test_peak_pyramid_multichannel_small_and_update():
    samples = _signal("float32", 6, 5000)
    pyramid = PeakPyramid(samples, base_block=16, factor=2)
    for start, end, n_pixels in [(0, 5000, 100), (7, 4999, 13), (0, 5000, 5000)]:
        mins, maxs = pyramid.query(start, end, n_pixels)
        ref_min, ref_max = brute_force(samples, pyramid.pixel_edges(start, end, n_pixels))
        assert np.array_equal(mins, ref_min) and np.array_equal(maxs, ref_max)
    changed = samples.copy()
    changed[:, 1000:1300] *= -3.0
    pyramid.update(changed, 1000, 1300)
    rebuilt = PeakPyramid(changed, base_block=16, factor=2)
    for (lo, hi), (rlo, rhi) in zip(pyramid.levels, rebuilt.levels):
        assert np.array_equal(lo, rlo) and np.array_equal(hi, rhi)
    with pytest.raises(InputError):
        pyramid.query(10, 10, 5)


def test_peak_pyramid_progress_and_cancel():
    samples = np.zeros((1, 3_000_000), np.int16)
    fractions = []
    PeakPyramid(samples, progress=lambda f, m="": fractions.append(f))
    assert fractions[-1] == 1.0 and fractions == sorted(fractions) and len(fractions) > 2
    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        PeakPyramid(samples, cancel=token)


def test_raised_cosine_falls_and_starts_where_asked():
    from simdps_studio.audio.dsp import raised_cosine_at

    n = 8
    fall = raised_cosine(n, falling=True, dtype=np.float64)
    np.testing.assert_allclose(fall, 1.0 - raised_cosine(n, dtype=np.float64), atol=1e-15)
    at_starts = raised_cosine(n, falling=True, offset=0.0, dtype=np.float64)
    assert at_starts[0] == 1.0 and at_starts.dtype == np.float64
    np.testing.assert_allclose(at_starts, 0.5 + 0.5 * np.cos(np.pi * np.arange(n) / n), atol=1e-15)
    assert raised_cosine(n, falling=True, offset=1.0, dtype=np.float64)[-1] == 0.0
    np.testing.assert_allclose(raised_cosine_at([-1.0, 0.0, 0.5, 1.0, 2.0]), [0, 0, 0.5, 1, 1])


@pytest.mark.parametrize("fit", ["burg", "least-squares"])
def test_ar_extrapolate_continues_a_tone_and_holds_its_offset(fit):
    from simdps_studio.audio.dsp import ar_extrapolate

    sr, n_ctx, n = 22050, 2048, 220
    t = np.arange(n_ctx + n) / sr
    x = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 1250 * t + 1.0) + 0.05
    pred = ar_extrapolate(x[:n_ctx], n, 16, fit=fit)
    assert pred.shape == (n,) and pred.dtype == np.float64
    # Two partials and the offset, 10 ms ahead (Burg with its -80 dB noise floor: 0.012 of 0.45).
    assert np.max(np.abs(pred - x[n_ctx:])) < 0.02
    # Too short or silent to fit: the last sample is held (no step where the prediction starts).
    np.testing.assert_array_equal(ar_extrapolate(np.array([0.2, 0.4]), 3, 8, fit=fit), [0.4] * 3)
    np.testing.assert_array_equal(ar_extrapolate(np.full(100, 0.25), 3, 8, fit=fit), [0.25] * 3)
    assert ar_extrapolate(np.zeros(0), 4, 8, fit=fit).tolist() == [0.0] * 4
    with pytest.raises(InputError, match="AR fit"):
        ar_extrapolate(x, 3, 8, fit="yule")
