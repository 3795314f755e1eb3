"""Gap-repair metrics (bench/metrics.py): known answers on synthetic signals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simdps_studio.bench import metrics as M

SR = 22050


def _tone(duration_s: float, *, f_hz: float = 440.0, phase: float = 0.0) -> np.ndarray:
    t = np.arange(int(duration_s * SR)) / SR
    return (
        0.3 * np.sin(2 * np.pi * f_hz * t + phase) * (1 + 0.2 * np.sin(2 * np.pi * 3 * t))
    ).astype(np.float64)


@pytest.fixture
def music(piano):
    return piano(SR, 8.0, seed=5)[0].astype(np.float64)


def test_identical_signals_score_perfectly(music):
    s, e = int(3.0 * SR), int(4.0 * SR)
    m = M.gap_metrics(music, music, SR, s, e)
    assert m["snr_db"] == math.inf
    assert m["lsd_db"] == pytest.approx(0.0, abs=1e-9)
    assert m["chroma_sim"] == pytest.approx(1.0, abs=1e-9)
    assert m["level_db"] == pytest.approx(0.0, abs=1e-9)
    assert m["seam"] == pytest.approx(m["seam_ref"])


def test_a_copy_6_db_down_has_level_error_minus_6_db(music):
    s, e = int(3.0 * SR), int(4.0 * SR)
    quiet = music.copy()
    quiet[s:e] *= 0.5
    m = M.gap_metrics(music, quiet, SR, s, e)
    assert m["level_db"] == pytest.approx(-6.02, abs=0.01)
    assert m["snr_db"] == pytest.approx(6.02, abs=0.01)  # the error is the other half
    assert m["chroma_sim"] == pytest.approx(1.0, abs=1e-6)  # same harmony, other level
    assert 2.0 < m["lsd_db"] < 6.1  # bins are 6 dB off, except those under the floor


def test_a_hard_discontinuity_at_the_seam_scores_far_worse_than_a_smooth_continuation():
    x = _tone(6.0)
    s, e = int(2.5 * SR), int(3.5 * SR)
    flipped = x.copy()
    flipped[s:e] = _tone(6.0, phase=np.pi)[s:e]  # same sound, a jump at both edges
    smooth = M.seam_smoothness(x, SR, s, e)
    jump = M.seam_smoothness(flipped, SR, s, e)
    assert smooth < 1.5  # no more change than in the context (a steady tone: far less)
    assert jump > 10
    # The spectra inside the gap are identical: only the seam metric sees the jump.
    assert M.log_spectral_distance_db(x[s:e], flipped[s:e], SR) < 0.01


def test_a_silent_fill_is_a_bad_seam_and_far_too_quiet():
    x = _tone(6.0)
    s, e = int(2.5 * SR), int(3.5 * SR)
    y = x.copy()
    y[s:e] = 0.0
    m = M.gap_metrics(x, y, SR, s, e)
    assert m["seam"] > 10
    assert m["level_db"] < -60
    assert m["chroma_sim"] == 0.0
    assert m["snr_db"] == pytest.approx(0.0, abs=1e-9)


def test_white_noise_against_a_tone_has_low_chroma_similarity_and_large_lsd():
    tone = _tone(1.0)
    noise = 0.1 * np.random.default_rng(0).standard_normal(tone.size)
    assert M.chroma_similarity(tone, noise, SR) < 0.5
    assert M.chroma_similarity(tone, tone * 0.3, SR) > 0.999
    assert M.log_spectral_distance_db(tone, noise, SR) > 20


def test_unrelated_music_is_worse_than_the_original_on_every_metric(music):
    s, e = int(5.0 * SR), int(6.0 * SR)
    pasted = music.copy()
    pasted[s:e] = music[s - int(3.3 * SR) : e - int(3.3 * SR)]
    good = M.gap_metrics(music, music, SR, s, e)
    bad = M.gap_metrics(music, pasted, SR, s, e)
    assert bad["lsd_db"] > good["lsd_db"] + 3
    assert bad["snr_db"] < 3
    assert bad["chroma_sim"] < 0.9


def test_multichannel_and_shape_checks(music):
    st = np.stack([music, 0.5 * music])
    s, e = int(3.0 * SR), int(4.0 * SR)
    m = M.gap_metrics(st, st, SR, s, e)
    assert m["lsd_db"] == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError):
        M.snr_db(music[:100], music[:101])
    with pytest.raises(ValueError):
        M.seam_smoothness(music, SR, 10, 5)


def test_stft_sizes_follow_the_rate():
    assert M.stft_size(22050, M.LSD_WINDOW_S) == (1024, 256)
    assert M.stft_size(44100, M.LSD_WINDOW_S) == (2048, 512)
    assert M.stft_size(44100, M.FLUX_WINDOW_S)[0] == 1024
