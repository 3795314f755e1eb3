"""The numeric helpers behind the views (no window): spectrogram columns, times."""

from __future__ import annotations

import numpy as np
import pytest

from simdps_studio.gui.analysis import (
    format_time,
    log_frequency_map,
    spectrogram_columns,
)


def test_format_time():
    assert format_time(0) == "0:00.000"
    assert format_time(75.5) == "1:15.500"
    assert format_time(3723.25, decimals=1) == "1:02:03.2"
    assert format_time(59.9996) == "1:00.000"


def test_log_frequency_rows_interpolate_low_and_take_band_maxima_high():
    m = log_frequency_map(44100, 4096, n_rows=200)
    assert m.weights.shape == (200, 2049)
    narrow = np.setdiff1d(np.arange(200), m.wide_rows)
    np.testing.assert_allclose(m.weights[narrow].sum(axis=1), 1.0, rtol=1e-5)
    assert len(narrow) > 20 and len(m.wide_rows) > 20  # both kinds at 4096 / 44.1 kHz
    assert m.row_hz[0] == pytest.approx(30 * (22050 / 30) ** (0.5 / 200), rel=1e-6)
    assert np.all(np.diff(m.row_hz) > 0) and np.all(np.diff(m.wide_starts) > 0)
    # A lone bin keeps its value in whichever row holds it.
    power = np.zeros((1, 2049))
    power[0, 1500] = 4.0
    assert m.apply(power).max() == pytest.approx(4.0)


@pytest.mark.parametrize("freq_hz", [110.0, 1000.0, 8000.0])
def test_spectrogram_peaks_at_a_sines_frequency_and_level(freq_hz):
    sr = 44100
    n = 10 * sr
    x = (0.5 * np.sin(2 * np.pi * freq_hz * np.arange(n) / sr)).astype(np.float32)

    def read(a, b):
        out = np.zeros(b - a, np.float32)
        lo, hi = max(a, 0), min(b, n)
        out[lo - a : hi - a] = x[lo:hi]
        return out

    m = log_frequency_map(sr, 4096)
    hz = m.row_hz
    db, _ = spectrogram_columns(read, n, sr, 0, n, 300, freq_map=m, n_fft=4096)
    assert db.shape == (300, len(hz))
    col = db[150]
    peak = hz[np.argmax(col)]
    assert abs(np.log2(peak / freq_hz)) < 0.05  # within a quarter tone
    # A 0.5-amplitude sine reads -6 dB re full scale (less up to 1.5 dB of Hann scalloping).
    assert -7.6 < col.max() < -5.9
