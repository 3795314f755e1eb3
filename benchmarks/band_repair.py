"""Band-limited repair (issue 26): a tone in the band repaired, a tone outside it kept.

The material: 6 s of two steady tones, 1 kHz (inside the band 700:1400 Hz) and 3 kHz (outside it
and its 200-Hz crossfades), both at 0.3, over white noise at -50 dBFS (detail no method can
predict, so a full-band fill visibly changes what lies outside the band). In a 0.25-s gap at 2 s
the 1-kHz tone drops out (10-ms raised-cosine edges inside the gap, so the damage itself stays in
the band); the 3-kHz tone and the noise go on. Each method repairs the gap once over the whole
spectrum and once with ``band_hz=(700, 1400)``, through ``session.checks.repair_and_verify`` as
the CLI does.

Columns:

* ``outside dB``: the change the repair made outside the band and its crossfades (an exact DFT of
  the change, the bins from 500 to 1600 Hz zeroed), RMS over the gap, in dB re the 3-kHz tone's
  RMS: what the repair did to the music outside the band;
* ``3k error dB``: the change's amplitude at 3 kHz (its DTFT there, exact since the change is
  zero outside the span, as an amplitude over the gap), in dB re the tone: how far the tone
  outside the band moved;
* ``1k level dB``: the 1-kHz tone's amplitude in the gap's middle (the filter's length away from
  its edges) against the truth's: 0 dB is fully restored, far below is still missing;
* ``gap error dB``: RMS of output minus truth in the gap's middle, re the 1-kHz tone;
* ``span ms``, ``outside span``: the repaired span and the samples outside it that differ from the
  source (0: bit-identical), ``band null``: ``session.band.band_null_residual``.

    nice -n 5 .venv/bin/python benchmarks/band_repair.py                 # lpc, sim
    nice -n 5 .venv/bin/python benchmarks/band_repair.py --methods lpc,sim,dps,simdps --draft
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simdps_studio.core.types import Audio, Gap
from simdps_studio.session.band import band_transition_hz
from simdps_studio.session.checks import repair_and_verify
from simdps_studio.session.engines import RepairRequest
from simdps_studio.session.render import render

SR = 44100
BAND = (700.0, 1400.0)
IN_HZ, OUT_HZ, AMP = 1000.0, 3000.0, 0.3
NOISE_DBFS = -50.0
GAP = Gap(2 * SR, 2 * SR + SR // 4)
DURATION_S = 6.0


def material(seed: int = 0) -> tuple[Audio, np.ndarray, np.ndarray]:
    """The damaged track, the truth and the source's 3-kHz tone, each (1, n)."""
    n = int(DURATION_S * SR)
    t = np.arange(n) / SR
    inside = AMP * np.sin(2 * np.pi * IN_HZ * t)
    outside = AMP * np.sin(2 * np.pi * OUT_HZ * t + 0.4)
    noise = 10 ** (NOISE_DBFS / 20) * np.random.default_rng(seed).standard_normal(n)
    keep = np.ones(n)
    edge = int(0.010 * SR)
    ramp = 0.5 + 0.5 * np.cos(np.pi * np.arange(edge) / edge)
    g0, g1 = GAP.start_sample, GAP.end_sample
    keep[g0 : g0 + edge], keep[g0 + edge : g1 - edge], keep[g1 - edge : g1] = ramp, 0, ramp[::-1]
    source = (inside * keep + outside + noise)[None].astype(np.float32)
    return Audio(source, SR), (inside + outside + noise)[None], outside[None]


def amplitudes(x: np.ndarray, start: int) -> tuple[complex, complex]:
    """Complex amplitudes of the 1-kHz and the 3-kHz sinusoid in ``x`` (1-D, first sample
    ``start``): least squares on both tones' cosine and sine together, so that neither leaks
    into the other over a window that holds no whole number of periods."""
    t = (start + np.arange(len(x))) / SR
    basis = np.stack(
        [f(2 * np.pi * hz * t) for hz in (IN_HZ, OUT_HZ) for f in (np.cos, np.sin)], axis=1
    )
    (c1, s1, c3, s3), *_ = np.linalg.lstsq(basis, x, rcond=None)
    return complex(c1, s1), complex(c3, s3)


def db(x: float) -> float:
    return 20 * math.log10(max(x, 1e-12))


def outside_band_rms(change: np.ndarray, transition: float) -> float:
    spectrum = np.fft.rfft(change, axis=-1)
    hz = np.fft.rfftfreq(change.shape[-1], 1 / SR)
    spectrum[:, (hz > BAND[0] - transition) & (hz < BAND[1] + transition)] = 0
    rest = np.fft.irfft(spectrum, n=change.shape[-1], axis=-1)
    return float(np.sqrt(np.sum(rest**2) / GAP.length))


def row(method: str, band, audio: Audio, truth: np.ndarray, request: RepairRequest) -> dict:
    t0 = time.perf_counter()
    made = repair_and_verify(audio, GAP, request)
    seconds = time.perf_counter() - t0
    repair = made.repairs[0]
    source = audio.to_float().astype(np.float64)
    out = render(audio, [repair]).to_float().astype(np.float64)
    change = out - source
    s0, s1 = repair.span_start_sample, repair.span_end_sample
    transition = band_transition_hz(*BAND, SR)
    guard = int(0.040 * SR)  # the band filter's length and more from the gap's edges
    mid = slice(GAP.start_sample + guard, GAP.end_sample - guard)
    truth_in, _ = amplitudes(truth[0, mid], mid.start)
    out_in, _ = amplitudes(out[0, mid], mid.start)
    # The change is zero outside the span: its DTFT at 3 kHz is exact (no window leaks into it).
    n = np.arange(change.shape[1])
    change_3k = abs(np.sum(change[0] * np.exp(-2j * np.pi * OUT_HZ / SR * n))) * 2 / GAP.length
    tone_rms = AMP / math.sqrt(2)
    return {
        "method": method,
        "band": "full" if band is None else f"{band[0]:g}:{band[1]:g}",
        "outside dB": db(outside_band_rms(change, transition) / tone_rms),
        "3k error dB": db(change_3k / AMP),
        "1k level dB": db(abs(out_in) / abs(truth_in)),
        "gap error dB": db(float(np.sqrt(np.mean((out[:, mid] - truth[:, mid]) ** 2))) / tone_rms),
        "span ms": 1000 * (s1 - s0) / SR,
        "outside span": int(
            np.count_nonzero(out[:, :s0] != source[:, :s0])
            + np.count_nonzero(out[:, s1:] != source[:, s1:])
        ),
        "band null": made.band_residual,
        "seconds": seconds,
    }


def print_table(rows: list[dict]) -> None:
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |")
    print("|" + "|".join("---" for _ in cols) + "|")
    for r in rows:
        cells = []
        for c in cols:
            v = r[c]
            if v is None:
                cells.append("–")
            elif c == "band null":
                cells.append(f"{v:.1e}")
            elif isinstance(v, float):
                cells.append(f"{v:.1f}")
            else:
                cells.append(str(v))
        print("| " + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--methods", default="lpc,sim", help="comma-separated: lpc, sim, dps, simdps")
    p.add_argument("--draft", action="store_true", help="DPS/SimDPS: draft sampling")
    p.add_argument("--steps", type=int, default=None)
    args = p.parse_args(argv)
    audio, truth, _ = material()
    rows = []
    for method in args.methods.split(","):
        for band in (None, BAND):
            request = RepairRequest(method=method, band_hz=band, draft=args.draft, steps=args.steps)
            rows.append(row(method, band, audio, truth, request))
            print(f"done: {method} {rows[-1]['band']}", file=sys.stderr, flush=True)
    print(
        f"Band-limited repair: 1 kHz tone missing in a {GAP.length / SR:.2f}-s gap, band "
        f"{BAND[0]:g}:{BAND[1]:g} Hz, 3 kHz tone and noise at {NOISE_DBFS:g} dBFS outside it "
        f"({SR} Hz)\n"
    )
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
