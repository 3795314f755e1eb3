"""How strictly does SimDPS follow the candidate? A sweep of ω_x̃ on held-out rendered piano.

For each held-out rendered piece of the quality benchmark (``simdps-studio bench quality``'s
``rendered`` material, :func:`simdps_studio.bench.material.prepare_rendered`), one gap of the
given length is cut at the benchmark's fixed position, the rank-1 candidate is found as the app
finds it, and the gap is filled by :func:`simdps_studio.inpaint.pipeline.inpaint_gap` once per ω
(and mode). Printed per gap and ω:

- ``LSD``: log-spectral distance of the fill to the clean original (dB, lower is better);
- ``to cand``: LSD of the fill to the candidate itself (0 = the candidate, copied);
- ``bias``: mean level difference original - fill in four bands (0-0.5, 0.5-2, 2-5 and
  5-11 kHz; positive = the fill is quieter there);
- ``seam``: the benchmark's seam smoothness (1 = no more change at the edges than the music makes).

Sim (the candidate pasted with 10 ms crossfades) is the reference row. docs/omega.md discusses a
run of it.

Usage::

    .venv/bin/python benchmarks/omega_sweep.py --gap 2 --omegas 0.15,0.3,0.5
    .venv/bin/python benchmarks/omega_sweep.py --gap 2 --omegas 0.15,0.5 --draft
    .venv/bin/python benchmarks/omega_sweep.py --gap 2 --omegas 0,0.5 --solver euler --seed 1
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from simdps_studio.bench import material
from simdps_studio.bench.metrics import (
    _frames_power,
    gap_metrics,
    log_spectral_distance_db,
    stft_size,
)
from simdps_studio.core.types import Audio
from simdps_studio.inpaint.checkpoint import load_model
from simdps_studio.inpaint.pipeline import inpaint_gap
from simdps_studio.search import sim
from simdps_studio.session import engines
from simdps_studio.session.render import render

BANDS_HZ = ((0, 500), (500, 2000), (2000, 5000), (5000, 11025))


def band_bias_db(reference: np.ndarray, estimate: np.ndarray, sr: int) -> list[float]:
    """Mean of ``10 log10 P_ref - 10 log10 P_est`` per band of :data:`BANDS_HZ` (dB)."""
    n_fft, hop = stft_size(sr, 0.046)
    pr = _frames_power(reference[None], n_fft, hop)[0]
    pe = _frames_power(estimate[None], n_fft, hop)[0]
    floor = max(float(pr.max()) * 1e-6, 1e-20)
    diff = 10 * (np.log10(np.maximum(pr, floor)) - np.log10(np.maximum(pe, floor)))
    freqs = np.fft.rfftfreq(n_fft, 1 / sr)
    return [float(diff[(freqs >= lo) & (freqs < hi)].mean()) for lo, hi in BANDS_HZ]


def report(
    totals: dict[str, list[float]],
    name: str,
    track: material.Track,
    gap,
    cand_x: np.ndarray,
    full: np.ndarray,
    margin: int,
    seconds: float,
) -> None:
    """Score one repaired track (``full``, shape (1, n)) inside the gap and print its row."""
    truth = track.samples[0, gap.start_sample : gap.end_sample]
    fill = full[0, gap.start_sample : gap.end_sample]
    lsd = log_spectral_distance_db(truth, fill, track.sr)
    seam = gap_metrics(
        track.samples, full, track.sr, gap.start_sample, gap.end_sample, margin_samples=margin
    )["seam"]
    to_cand = log_spectral_distance_db(cand_x[0], fill, track.sr)
    bias = " ".join(f"{b:+5.1f}" for b in band_bias_db(truth, fill, track.sr))
    totals.setdefault(name, []).append(lsd)
    print(
        f"{track.name[-40:]:<40} {name:>12} {lsd:6.2f} {to_cand:8.2f} {seam:6.2f}  {bias}"
        f"  {seconds:.0f}",
        flush=True,
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gap", type=float, default=2.0, help="gap length in seconds")
    ap.add_argument("--omegas", default="0.15,0.5", help="comma-separated ω_x̃ values")
    ap.add_argument("--draft", action="store_true", help="draft mode (no backpropagation)")
    ap.add_argument(
        "--ramp-s",
        type=float,
        default=0.0,
        help="fade the candidate term in from the gap edges over this many seconds",
    )
    ap.add_argument("--steps", type=int, default=35)
    ap.add_argument(
        "--solver",
        choices=("heun", "euler"),
        default=None,
        help="sampler (default: the pipeline's, Heun; Euler in draft mode)",
    )
    ap.add_argument("--seed", type=int, default=0, help="sampling seed")
    ap.add_argument(
        "--sampler-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a number for the pipeline's sampler options, e.g. s_churn=5 (repeatable)",
    )
    ap.add_argument("--tracks", type=int, default=3)
    ap.add_argument("--model", default="piano-small")
    args = ap.parse_args()
    omegas = [float(w) for w in args.omegas.split(",")]

    options: dict = {"candidate_ramp_s": args.ramp_s}
    if args.solver:
        options["solver"] = args.solver
    for item in args.sampler_option:
        key, _, value = item.partition("=")
        try:
            options[key.strip()] = float(value)
        except ValueError:
            ap.error(f"--sampler-option wants KEY=NUMBER, not {item!r}")
    extra = "".join(f"/{item}" for item in args.sampler_option)
    denoiser = load_model(args.model)
    tracks = material.prepare_rendered(args.tracks).tracks
    print(
        f"# ω sweep: {args.gap:g}-s gaps, {args.steps} steps, "
        f"{'draft' if args.draft else 'full'} mode, candidate ramp {args.ramp_s * 1000:g} ms, "
        f"solver {args.solver or 'default'}, seed {args.seed}, model {args.model}"
        + "".join(f", {item}" for item in args.sampler_option)
    )
    print(f"{'track':<40} {'method':>12} {'LSD':>6} {'to cand':>8} {'seam':>6}  bias dB by band  s")
    totals: dict[str, list[float]] = {}
    for track in tracks:
        gap = material.gap_position(track.samples.shape[1], track.sr, args.gap)
        damaged = track.samples.copy()
        damaged[:, gap.start_sample : gap.end_sample] = 0.0
        audio = Audio.from_float(damaged, track.sr)
        x = audio.to_float()
        request = engines.RepairRequest(method="simdps")
        cand = engines._choose_candidate(audio, gap, (), request, None, None)
        sim_args, sim_kwargs = engines._sim_args(x, audio, gap, cand, ())
        cand_x = sim.candidate_samples(*sim_args, **sim_kwargs)

        sim_repair = engines.make_repairs(audio, gap, engines.RepairRequest(method="sim"))[0]
        sim_full = render(audio, [sim_repair]).to_float()
        report(totals, "sim", track, gap, cand_x, sim_full, sim_repair.margin_before, 0.0)
        print(f"{'':<40} {'(score)':>12} {cand.score:6.2f}")
        for omega in omegas:
            t0 = time.perf_counter()
            result = inpaint_gap(
                x,
                track.sr,
                gap.start_sample,
                gap.end_sample,
                denoiser=denoiser,
                candidate=cand_x,
                omega=omega,
                steps=args.steps,
                draft=args.draft,
                seed=args.seed,
                device="cpu",
                sampler_options=options,
            )
            full = x.copy()
            full[:, gap.start_sample : gap.end_sample] = result.fills[0]
            name = f"{'draft' if args.draft else 'simdps'}-{omega:g}"
            if args.ramp_s:
                name += f"/r{args.ramp_s * 1000:g}ms"
            if args.solver:
                name += f"/{args.solver}"
            name += extra
            report(totals, name, track, gap, cand_x, full, 0, time.perf_counter() - t0)
    print()
    for name, values in totals.items():
        print(f"mean LSD {name:>12}: {np.mean(values):.2f} dB over {len(values)} gaps")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
