"""LPC gap filling (search/lpc.py) on synthesised piano-like tones with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from simdps_studio.core.errors import InputError
from simdps_studio.search.lpc import ar_extrapolate, default_order, lpc_fill
from simdps_studio.search.testsignals import piano_tone, snr_db, sustained_tone

SR = 44100


def seam_ratio(y: np.ndarray, edge_sample: int, sr: int) -> float:
    """Click metric at ``edge_sample``: the first-difference jump across the edge relative to the
    95th percentile of |first difference| over the 10 ms before and after it (1 = typical)."""
    w = int(0.01 * sr)
    d = np.diff(np.asarray(y, dtype=np.float64))
    jump = abs(d[edge_sample - 1])
    around = np.r_[d[edge_sample - 1 - w : edge_sample - 1], d[edge_sample : edge_sample + w]]
    return float(jump / np.percentile(np.abs(around), 95))


@pytest.fixture(scope="module")
def tone() -> np.ndarray:
    return sustained_tone(SR, 6.0)[None, :]


def test_default_order_scales_with_rate():
    assert 200 <= default_order(44100) <= 600
    assert default_order(88200) == pytest.approx(2 * default_order(44100), abs=1)
    assert default_order(8000) >= 8


def test_20ms_gap_on_sustained_tone_reaches_20db(tone):
    s = int(1.5 * SR)
    e = s + int(0.02 * SR)
    fill = lpc_fill(tone, s, e, SR)
    assert fill.shape == (1, e - s)
    assert fill.dtype == np.float32
    assert snr_db(tone[:, s:e], fill) >= 20.0


def test_two_second_gap_has_no_clicks_at_edges(tone):
    s, e = 2 * SR, 4 * SR
    fill = lpc_fill(tone, s, e, SR)
    y = tone[0].copy()
    y[s:e] = fill[0]
    assert np.all(np.isfinite(fill))
    assert np.max(np.abs(fill)) <= 1.5 * np.max(np.abs(tone[0, s - SR : s]))
    assert seam_ratio(y, s, SR) < 1.5
    assert seam_ratio(y, e, SR) < 1.5
    # The metric itself flags a hard cut: silence spliced in at a loud point.
    cut = tone[0].copy()
    k = s + int(np.argmax(np.abs(tone[0, s : s + 200])))
    cut[k:e] = 0.0
    assert seam_ratio(cut, k, SR) > 5.0


def test_stereo_channels_are_filled_independently():
    x = np.stack([sustained_tone(SR, 3.0, f0_hz=220.0), sustained_tone(SR, 3.0, f0_hz=330.0)])
    s = int(1.2 * SR)
    e = s + int(0.02 * SR)
    fill = lpc_fill(x, s, e, SR)
    assert fill.shape == (2, e - s)
    for ch in range(2):
        assert snr_db(x[ch, s:e], fill[ch]) >= 20.0
    # Swapping the channels swaps the fill.
    swapped = lpc_fill(x[::-1], s, e, SR)
    np.testing.assert_allclose(swapped, fill[::-1], atol=1e-6)


def test_one_dimensional_input_gives_one_dimensional_fill(tone):
    fill = lpc_fill(tone[0], 50_000, 50_100, SR)
    assert fill.shape == (100,)


def test_gap_at_track_start_uses_backward_prediction_only():
    # Start mid-note so that the samples before the track start are a smooth continuation.
    x = sustained_tone(SR, 3.0)[None, SR:]
    e = int(0.02 * SR)
    fill = lpc_fill(x, 0, e, SR)
    assert fill.shape == (1, e)
    assert snr_db(x[:, :e], fill) >= 20.0
    y = x[0].copy()
    y[:e] = fill[0]
    assert seam_ratio(y, e, SR) < 1.5


def test_gap_at_track_end_uses_forward_prediction_only(tone):
    n = tone.shape[1] - int(1.0 * SR)  # end the track mid-note
    x = tone[:, :n]
    s = n - int(0.02 * SR)
    fill = lpc_fill(x, s, n, SR)
    assert snr_db(x[:, s:n], fill) >= 20.0


def test_short_silent_and_nan_contexts_are_handled():
    x = np.zeros((1, 10_000), dtype=np.float32)
    assert np.all(lpc_fill(x, 4000, 6000, SR) == 0.0)
    # Only a few samples of context on each side: still a finite fill.
    t = piano_tone(440.0, 0.2, SR)[None, :]
    fill = lpc_fill(t[:, :1000], 5, 995, SR)
    assert fill.shape == (1, 990)
    assert np.all(np.isfinite(fill))
    # NaN/Inf in the context are ignored rather than propagated.
    bad = sustained_tone(SR, 1.0)[None, :].copy()
    bad[0, 20_000:20_010] = np.nan
    bad[0, 20_500] = np.inf
    assert np.all(np.isfinite(lpc_fill(bad, 21_000, 22_000, SR)))


def test_context_stops_at_the_bounds(tone):
    sr = 44100
    s, e = 22050, 22050 + 441
    near = e + 1764  # a neighbouring gap 40 ms after this one, inside the default context
    x = np.array(tone, dtype=np.float64, copy=True)
    damaged = x.copy()
    damaged[..., near : near + 4410] = 0.0  # a dropout there
    clean_fill = lpc_fill(x, s, e, sr, bounds=(0, near))
    assert np.array_equal(lpc_fill(damaged, s, e, sr, bounds=(0, near)), clean_fill)
    # Without the bounds the dropout leaks into the fill.
    assert not np.array_equal(lpc_fill(damaged, s, e, sr), lpc_fill(x, s, e, sr))


def test_unstable_model_falls_back_gracefully():
    # An exponentially growing context would make any AR fit explode over a long stretch.
    ctx = 1.002 ** np.arange(3000) * np.sin(0.05 * np.arange(3000)) * 1e-3
    pred = ar_extrapolate(ctx, 20_000, 300)
    assert np.all(np.isfinite(pred))
    assert np.max(np.abs(pred)) <= 2.0 * np.max(np.abs(ctx))


@pytest.mark.parametrize(("s", "e"), [(100, 100), (200, 100), (-1, 10), (10, 10_001)])
def test_bad_gaps_raise_input_error(s, e):
    with pytest.raises(InputError):
        lpc_fill(np.zeros((1, 10_000)), s, e, SR)


def test_lpc_stops_when_cancelled_between_channels():
    from simdps_studio.core.errors import CancelledError
    from simdps_studio.core.progress import CancelToken

    x = np.random.default_rng(4).standard_normal((2, 8000)).astype(np.float32)
    checks = []

    class CancelOnSecondCheck(CancelToken):
        def raise_if_cancelled(self) -> None:
            checks.append(1)
            if len(checks) >= 2:  # after the first channel's forward extrapolation
                raise CancelledError("cancelled by the user")

    with pytest.raises(CancelledError):
        lpc_fill(x, 3000, 4000, 8000, cancel=CancelOnSecondCheck())
    assert len(checks) == 2
    assert lpc_fill(x, 3000, 4000, 8000, cancel=CancelToken()).shape == (2, 1000)
