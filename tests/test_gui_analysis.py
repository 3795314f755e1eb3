"""The numeric helpers behind the views (no window): spectrogram columns, times."""

from __future__ import annotations

import numpy as np
import pytest

from simdps_studio.gui.analysis import (
    FrequencyScale,
    SpectrogramSettings,
    format_time,
    frequency_map,
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


def _sine_reader(freq_hz: float, sr: int, n: int):
    x = (0.5 * np.sin(2 * np.pi * freq_hz * np.arange(n) / sr)).astype(np.float32)

    def read(a, b):
        out = np.zeros(b - a, np.float32)
        lo, hi = max(a, 0), min(b, n)
        out[lo - a : hi - a] = x[lo:hi]
        return out

    return read


@pytest.mark.parametrize("name", ["log", "linear", "mel"])
def test_each_frequency_scale_maps_hz_to_the_axis_and_back(name):
    scale = FrequencyScale(name)
    hz = np.array([30.0, 100.0, 1000.0, 15000.0])
    np.testing.assert_allclose(scale.to_hz(scale.to_axis(hz)), hz, rtol=1e-12)
    assert np.all(np.diff(scale.to_axis(hz)) > 0)
    lo, hi = scale.axis_range(44100)
    assert scale.to_hz(lo) == pytest.approx(30.0 if name == "log" else 0.0, abs=1e-9)
    assert scale.to_hz(hi) == pytest.approx(22050.0)
    assert FrequencyScale("mel").to_axis(1000.0) == pytest.approx(1000.0, rel=1e-3)  # HTK


@pytest.mark.parametrize("name", ["linear", "mel"])
@pytest.mark.parametrize("n_fft", [512, 8192])
def test_linear_and_mel_rows_are_equal_steps_and_find_a_sine(name, n_fft):
    sr, n = 44100, 2 * 44100
    scale = FrequencyScale(name)
    m = frequency_map(sr, n_fft, scale)
    steps = np.diff(scale.to_axis(m.row_hz))
    np.testing.assert_allclose(steps, steps[0], rtol=1e-9)  # equally tall on the scale
    assert m.row_hz[0] < 40.0  # from 0 Hz, not from the log scale's 30 Hz
    db, used = spectrogram_columns(
        _sine_reader(1000.0, sr, n), n, sr, 0, n, 40, freq_map=m, n_fft=n_fft
    )
    assert used == n_fft
    # The loudest row's band holds 1 kHz (give or take a bin: the Hann window's main lobe).
    y = scale.to_axis(m.row_hz[np.argmax(db[20])])
    band_lo, band_hi = scale.to_hz([y - steps[0] / 2, y + steps[0] / 2])
    bin_hz = sr / n_fft
    assert band_lo - bin_hz <= 1000.0 <= band_hi + bin_hz
    assert -7.6 < db[20].max() < -5.9  # a row never loses a lone bin's level


def test_the_fft_size_setting_fixes_the_fft_length_and_auto_follows_the_zoom():
    auto = SpectrogramSettings()
    assert auto.n_fft(44100, 100.0) == 2048 and auto.n_fft(44100, 5000.0) == 4096
    fixed = SpectrogramSettings(512, "linear")
    assert fixed.n_fft(44100, 100.0) == fixed.n_fft(44100, 5000.0) == 512
    assert fixed.frequency_scale == FrequencyScale("linear")
    with pytest.raises(ValueError, match="FFT size 500"):
        SpectrogramSettings(500)
    with pytest.raises(ValueError, match="unknown frequency scale"):
        SpectrogramSettings(0, "bark")
    # Stored values that make no sense (an edited settings file) fall back to the defaults.
    assert SpectrogramSettings.from_stored("8192", "mel") == SpectrogramSettings(8192, "mel")
    assert SpectrogramSettings.from_stored("lots", "bark") == SpectrogramSettings()
    assert SpectrogramSettings.from_stored(None, None) == SpectrogramSettings()
