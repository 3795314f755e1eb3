"""Band-limited (spectral) repair: the band split, the band's checks, ``make_repairs`` with a band,
the band null test, the project file and the CLI's ``--band``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from simdps_studio.audio.dsp import band_pass_taps, fir_full
from simdps_studio.cli import main
from simdps_studio.core.errors import InputError
from simdps_studio.core.types import Audio, Gap
from simdps_studio.session import engines
from simdps_studio.session.band import (
    BAND_NULL_TOLERANCE,
    BAND_STOP_DB,
    band_limit,
    band_null_residual,
    check_band,
    parse_band,
)
from simdps_studio.session.checks import repair_and_verify
from simdps_studio.session.document import Session
from simdps_studio.session.project import load_project, save_project
from simdps_studio.session.render import render
from simdps_studio.session.repair import Repair

SR = 22050
BAND = (700.0, 1400.0)
IN_HZ, OUT_HZ = 1000.0, 3000.0  # the tone in the band, the one outside it and its crossfades
GAP = Gap(SR, SR + SR // 4)


def _response(taps: np.ndarray, hz: float, sr: int) -> float:
    """|H(hz)| of a zero-phase FIR."""
    k = np.arange(len(taps)) - len(taps) // 2
    return float(abs(np.sum(taps * np.exp(-2j * np.pi * hz / sr * k))))


def _tones(n: int) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(n) / SR
    return 0.3 * np.sin(2 * np.pi * IN_HZ * t), 0.3 * np.sin(2 * np.pi * OUT_HZ * t + 0.4)


def _damaged(n: int = 3 * SR) -> tuple[Audio, np.ndarray]:
    """Two tones; in the gap the in-band one fades out and back (10 ms raised-cosine edges, so the
    damage itself stays in the band). Returns the damaged track and the truth, (1, n)."""
    inside, outside = _tones(n)
    keep = np.ones(n)
    edge = int(0.010 * SR)
    ramp = 0.5 + 0.5 * np.cos(np.pi * np.arange(edge) / edge)  # 1 -> 0
    keep[GAP.start_sample : GAP.start_sample + edge] = ramp
    keep[GAP.start_sample + edge : GAP.end_sample - edge] = 0.0
    keep[GAP.end_sample - edge : GAP.end_sample] = ramp[::-1]
    source = (inside * keep + outside)[None].astype(np.float32)
    return Audio(source, SR), (inside + outside)[None]


def _outside_band_rms(change: np.ndarray, band, transition: float) -> float:
    """RMS over the gap of the part of ``change`` (zero outside a finite stretch) outside the
    band and its crossfades: an exact DFT of the whole stretch, the band's bins zeroed."""
    spectrum = np.fft.rfft(change, axis=-1)
    hz = np.fft.rfftfreq(change.shape[-1], 1 / SR)
    spectrum[:, (hz > band[0] - transition) & (hz < band[1] + transition)] = 0
    rest = np.fft.irfft(spectrum, n=change.shape[-1], axis=-1)
    return float(np.sqrt(np.sum(rest**2) / GAP.length))


# ----------------------------------------------------------------------------- the band split


def test_band_pass_is_zero_phase_with_its_stopband_and_crossfades():
    taps = band_pass_taps(*BAND, SR, transition_hz=200.0, stop_db=BAND_STOP_DB)
    assert len(taps) % 2 == 1 and np.allclose(taps, taps[::-1], atol=0)  # symmetric: zero phase
    assert abs(_response(taps, IN_HZ, SR) - 1) < 2e-5
    for edge in BAND:  # the band's edges are the crossfades' middles
        assert abs(_response(taps, edge, SR) - 0.5) < 1e-3
    floor = 10 ** (-(BAND_STOP_DB - 1) / 20)
    for hz in (0.0, 500.0, 599.0, 1501.0, OUT_HZ, SR / 2):
        assert _response(taps, hz, SR) < floor, hz


def test_band_pass_low_and_high_pass_ends():
    low = band_pass_taps(0.0, 1000.0, SR, transition_hz=200.0, stop_db=BAND_STOP_DB)
    high = band_pass_taps(1000.0, SR / 2, SR, transition_hz=200.0, stop_db=BAND_STOP_DB)
    assert abs(_response(low, 0.0, SR) - 1) < 2e-5 and _response(low, 2000.0, SR) < 2e-5
    assert abs(_response(high, SR / 2, SR) - 1) < 2e-5 and _response(high, 0.0, SR) < 2e-5
    # complementary: low + high is the unit impulse (to float rounding)
    impulse = np.zeros(len(low))
    impulse[len(low) // 2] = 1.0
    assert np.allclose(low + high, impulse, atol=1e-12)


def test_fir_full_centres_a_zero_phase_filter():
    x = np.zeros((2, 50))
    x[:, 20] = 1.0
    taps = np.array([0.25, 0.5, 0.25])
    y = fir_full(x, taps)
    assert y.shape == (2, 52)
    assert np.allclose(y[:, 1 : 1 + 50][:, 19:22], [[0.25, 0.5, 0.25]] * 2)


# ----------------------------------------------------------------------------- the band's checks


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("300-3000", "--band must be LO:HI in Hz"),
        ("a:b", "--band must be LO:HI in Hz"),
        ("1:2:3", "--band must be LO:HI in Hz"),
        ("3000:300", "LO must be below HI"),
        ("300:300", "LO must be below HI"),
        ("-5:300", "cannot be negative"),
        ("nan:300", "must be finite"),
    ],
)
def test_parse_band_refuses(text, message):
    with pytest.raises(InputError, match=message):
        parse_band(text)


def test_check_band_against_the_track():
    assert check_band(parse_band("300:3000"), SR) == (300.0, 3000.0)
    assert check_band(None, SR) is None
    assert check_band((0.0, SR / 2), SR) is None  # the full band
    assert check_band((0.0, 500.0), SR) == (0.0, 500.0)  # a low-pass
    assert check_band((5000.0, SR / 2), SR) == (5000.0, SR / 2)  # a high-pass
    with pytest.raises(InputError, match=r"above the Nyquist frequency .*11025 Hz"):
        check_band((300.0, 12000.0), SR)
    for narrow in ((1000.0, 1010.0), (5.0, 300.0), (300.0, SR / 2 - 5)):
        with pytest.raises(InputError, match="too narrow for its crossfades"):
            check_band(narrow, SR)


# ----------------------------------------------------------------------------- band_limit


def test_band_limit_replaces_the_band_and_keeps_the_rest():
    audio, truth = _damaged()
    # A full-band fill that is right in the band and wrong outside it (two extra tones).
    g0, g1 = GAP.start_sample, GAP.end_sample
    t = np.arange(g0, g1) / SR
    wrong = 0.2 * np.sin(2 * np.pi * 5000.0 * t) + 0.1 * np.sin(2 * np.pi * 300.0 * t)
    full = Repair(GAP, "lpc", g0, (truth[:, g0:g1] + wrong).astype(np.float32), {"x": 1})
    banded = band_limit(audio, full, BAND, (0, audio.n_samples))

    assert banded.params == {"x": 1, "band_hz": {"lo": 700.0, "hi": 1400.0, "transition": 200.0}}
    half = int(0.0165 * SR)  # the filter's half-length (32 ms long)
    assert g0 - half < banded.span_start_sample < g0 and g1 < banded.span_end_sample < g1 + half
    out = render(audio, [banded]).to_float().astype(np.float64)
    s0, s1 = banded.span_start_sample, banded.span_end_sample
    source = audio.to_float()
    assert np.array_equal(out[:, :s0], source[:, :s0]) and np.array_equal(
        out[:, s1:], source[:, s1:]
    )

    change = out - source
    # Outside the band's crossfades the source is kept to the stopband level (float32 storage).
    outside = _outside_band_rms(change, BAND, 200.0)
    assert outside < 1e-5 * 0.3, outside
    # The full-band fill changed it by the extra tones.
    full_change = render(audio, [full]).to_float().astype(np.float64) - source
    assert _outside_band_rms(full_change, BAND, 200.0) > 0.1
    # In the band, away from the gap's edges (the filter's length), the truth is back.
    mid = slice(g0 + 2 * half, g1 - 2 * half)
    assert np.max(np.abs(out[:, mid] - truth[:, mid])) < 1e-4
    # The band null test: what changed outside the band and its crossfades, relative to the peak.
    residual = band_null_residual(audio, banded)
    assert residual is not None and residual < BAND_NULL_TOLERANCE
    assert band_null_residual(audio, full) is None


def test_band_limit_of_a_fill_equal_to_the_source_is_the_source_exactly():
    audio, _ = _damaged()
    same = Repair(GAP, "lpc", GAP.start_sample, audio.to_float(GAP.start_sample, GAP.end_sample))
    banded = band_limit(audio, same, BAND, (0, audio.n_samples))
    # No change: nothing rings, the span stays the gap, and the fill is the source bit for bit.
    assert (banded.span_start_sample, banded.span_end_sample) == (GAP.start_sample, GAP.end_sample)
    assert np.array_equal(banded.fill, same.fill)
    assert band_null_residual(audio, banded) == 0.0


def test_band_limit_stays_within_its_bounds_and_fades_there():
    audio, truth = _damaged()
    g0, g1 = GAP.start_sample, GAP.end_sample
    full = Repair(GAP, "lpc", g0, truth[:, g0:g1].astype(np.float32))
    bounds = (g0 - 40, g1 + 40)  # neighbouring gaps close by: the tails are cut
    banded = band_limit(audio, full, BAND, bounds)
    span = (banded.span_start_sample, banded.span_end_sample)
    # up to the bounds (the fade's first or last sample may be below a 24-bit step and dropped)
    assert bounds[0] <= span[0] <= bounds[0] + 2 and bounds[1] - 2 <= span[1] <= bounds[1]
    change = banded.fill - audio.to_float(*span)
    # faded to (nearly) nothing at the cut instead of stepping
    assert np.max(np.abs(change[:, :1])) < 1e-3 and np.max(np.abs(change[:, -1:])) < 1e-3


# ----------------------------------------------------------------------------- the engine path


def test_make_repairs_with_a_band_limits_the_repair(monkeypatch):
    audio, truth = _damaged()
    other = Gap(2 * SR, 2 * SR + 100)
    request = engines.RepairRequest(method="lpc", band_hz=BAND)
    made = repair_and_verify(audio, GAP, request, other_gaps=[other])
    (repair,) = made.repairs
    assert repair.method == "lpc" and repair.params["band_hz"]["lo"] == 700.0
    assert made.null_ok and made.band_null_ok and made.band_residual < BAND_NULL_TOLERANCE
    assert repair.span_start_sample < GAP.start_sample
    assert repair.span_end_sample <= engines.margin_bounds(GAP, [other], audio.n_samples)[1]
    change = render(audio, [repair]).to_float().astype(np.float64) - audio.to_float()
    assert _outside_band_rms(change, BAND, 200.0) < 1e-5 * 0.3
    # the in-band tone is back in the middle of the gap (LPC continues a steady tone well)
    mid = slice(GAP.start_sample + 2000, GAP.end_sample - 2000)
    out = audio.to_float()[:, mid] + change[:, mid]
    assert np.max(np.abs(out - truth[:, mid])) < 0.03

    # A bad band fails before any work: the method is never called.
    def never(*a, **k):
        raise AssertionError("the repair ran")

    monkeypatch.setattr(engines, "_full_band_repairs", never)
    with pytest.raises(InputError, match="Nyquist"):
        engines.make_repairs(audio, GAP, engines.RepairRequest(method="lpc", band_hz=(0, 2e4)))


def test_a_band_limited_repair_survives_the_project_file(tmp_path):
    audio, _ = _damaged()
    path = tmp_path / "tones.wav"
    sf.write(path, audio.samples.T, SR, subtype="FLOAT")
    s = Session.open(path)
    gap = s.add_gap(GAP)
    (repair,) = engines.make_repairs(
        s.audio, gap, engines.RepairRequest(method="lpc", band_hz=BAND)
    )
    s.set_repair(repair)
    t = load_project(save_project(s))
    (loaded,) = t.repairs
    assert loaded.to_json() == repair.to_json() and loaded.params["band_hz"]["hi"] == 1400.0
    assert np.array_equal(loaded.fill, repair.fill)


# ----------------------------------------------------------------------------- the CLI


@pytest.fixture
def tones_wav(tmp_path):
    audio, _ = _damaged()
    path = tmp_path / "tones.wav"
    sf.write(path, audio.samples.T, SR, subtype="PCM_16")
    return path


@pytest.mark.parametrize(
    ("band", "message"),
    [
        ("1400:700", "band 1400:700 Hz: LO must be below HI"),
        ("-5:300", "frequencies cannot be negative"),
        ("300:12000", "HI is above the Nyquist frequency of this track"),
        ("300", "--band must be LO:HI in Hz"),
        ("1000:1010", "too narrow for its crossfades"),
    ],
)
def test_cli_band_refused_before_any_work(tmp_path, tones_wav, capsys, band, message):
    out = tmp_path / "out.wav"
    argv = ["repair", str(tones_wav), "-o", str(out), "--gap", "1:1.25", "--method", "lpc"]
    assert main([*argv, f"--band={band}"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert not out.exists()


def test_cli_band_repair_reports_its_band(tmp_path, tones_wav):
    out, report = tmp_path / "out.wav", tmp_path / "report.json"
    argv = ["repair", str(tones_wav), "-o", str(out), "--gap", "1:1.25", "--method", "lpc"]
    assert main([*argv, "--band", "700:1400", "--report", str(report)]) == 0
    (entry,) = json.loads(report.read_text())["gaps"]
    assert entry["band_hz"] == {"lo": 700.0, "hi": 1400.0, "transition": 200.0}
    assert entry["band_null_residual"] < BAND_NULL_TOLERANCE
    a, b = entry["span_samples"]
    x, y = sf.read(tones_wav, dtype="int16")[0], sf.read(out, dtype="int16")[0]
    assert a < GAP.start_sample and np.array_equal(x[:a], y[:a]) and np.array_equal(x[b:], y[b:])
    provenance = json.loads(out.with_name(out.name + ".provenance.json").read_text())
    assert "700" in json.dumps(provenance) and "band_hz" in json.dumps(provenance)
