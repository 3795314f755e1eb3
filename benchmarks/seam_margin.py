"""Seam treatments of diffusion fills (issue 28): LSD and seam per variant, on fixed gaps.

Gaps: the model card's (three held-out rendered pieces, one 0.5-s and one 2-s gap each) and the
quick benchmark's other material (one real excerpt, the demo), cut where the quality benchmark
cuts them (``session.evaluate.gap_position``). Modes: DPS, SimDPS ω 0.15 and SimDPS automatic ω,
with the rank-1 candidate and the prior-fit rule exactly as ``session.engines.make_repairs``
applies them; 30 Heun steps, seed 0 (as the model card).

Variants, all made by ``inpaint.pipeline.seam_fill`` from the model's raw output (one sampling run
per gap and mode serves every post-processing variant):

* ``taper``: today's seams, no margin, the 5-ms inside taper;
* ``mN-amp`` / ``mN-pow`` (N = 5, 10, 20 ms): the model's output cross-faded with the source over
  N ms outside each gap edge (amplitude- or power-complementary raised cosine), no inside taper;
  ``mN-amp+taper`` / ``mN-pow+taper``: the same with the inside taper fitted on the faded context;
* ``smoothN-...``: separate runs with the data-consistency mask Hann-smoothed over N ms (the
  observation replaced gradually during sampling), then the ``mN-amp`` crossfade or ``taper``;
* ``sim``: Sim's repair (10-ms crossfade) of the same gap, for reference.

The seam is measured at the gap edges with the variant's margin kept out of the context, as the
quality benchmark measures Sim. Rows go to ``OUT/seam_margin.csv`` as they are made (a run can be
resumed: finished runs are skipped); ``--summary`` prints the tables from that file.

    nice -n 5 .venv/bin/python benchmarks/seam_margin.py --out /tmp/margin > /tmp/margin/log 2>&1
    .venv/bin/python benchmarks/seam_margin.py --out /tmp/margin --summary
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simdps_studio.core.types import Audio, Gap

MARGINS_MS = (5.0, 10.0, 20.0)
MODES = (("dps", 0.0), ("simdps-0.15", 0.15), ("simdps-auto", "auto"))
GAPS_S = (0.5, 2.0)
STEPS = 30
MODEL = "piano-small"
COLUMNS = (
    "track",
    "gap_s",
    "mode",
    "omega",
    "run",
    "variant",
    "margin_ms",
    "lsd_db",
    "seam",
    "seam_ref",
    "snr_db",
    "seconds",
)


def load_tracks(n_rendered: int) -> list:
    """The model card's rendered tracks, then the quick benchmark's real excerpt and the demo."""
    from simdps_studio.session import evaluate

    infos = [evaluate.prepare_rendered(n_rendered)] if n_rendered > 0 else []
    for prepare in (lambda: evaluate.prepare_real(1), evaluate.prepare_demo):
        try:
            infos.append(prepare())
        except Exception as exc:  # a material that cannot be had is reported, not fatal
            print(f"skipped a material: {exc}", flush=True)
    return [t for info in infos for t in info.tracks]


def done_runs(path: Path) -> set[tuple[str, str, str, str]]:
    """(track, gap_s, mode, run) of the runs already in the CSV."""
    if not path.is_file():
        return set()
    with path.open(newline="") as f:
        return {(r["track"], r["gap_s"], r["mode"], r["run"]) for r in csv.DictReader(f)}


def append_rows(path: Path, rows: list[dict]) -> None:
    new = not path.is_file()
    with path.open("a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        if new:
            w.writeheader()
        w.writerows(rows)


def score(
    reference: np.ndarray,
    damaged: np.ndarray,
    sr: int,
    gap: Gap,
    span_start: int,
    fill: np.ndarray,
    margin: int,
) -> dict:
    """Metrics of one variant: the fill written over its span of the damaged track."""
    from simdps_studio.session.metrics import gap_metrics

    y = damaged.copy()
    y[:, span_start : span_start + fill.shape[1]] = fill
    outside = np.ones(y.shape[1], bool)
    outside[span_start : span_start + fill.shape[1]] = False
    assert np.array_equal(y[:, outside], damaged[:, outside])  # the null test
    m = gap_metrics(reference, y, sr, gap.start_sample, gap.end_sample, margin_samples=margin)
    return {k: round(float(m[k]), 5) for k in ("lsd_db", "seam", "seam_ref", "snr_db")}


def variants(
    model_out: np.ndarray, track: np.ndarray, sr: int, gap: Gap, m_max: int, ms_list
) -> list[tuple[str, float, int, np.ndarray]]:
    """(name, margin_ms, span_start, fill) of every post-processing variant of one run.

    ``model_out`` covers ``[gap.start - m_max, gap.end + m_max)``; ``track`` is the damaged track
    (the source outside the gap).
    """
    from simdps_studio.inpaint.pipeline import SEAM_TAPER_S, seam_fill

    model = track.copy()
    model[:, gap.start_sample - m_max : gap.end_sample + m_max] = model_out
    s, e = gap.start_sample, gap.end_sample
    taper = int(round(SEAM_TAPER_S * sr))
    out = [("taper", 0.0, s, seam_fill(model, track, s, e, taper_samples=taper))]
    for ms in ms_list:
        m = int(round(ms / 1000.0 * sr))
        for fade in ("amplitude", "power"):
            for inside in (False, True):
                name = f"m{ms:g}-{fade[:3]}" + ("+taper" if inside else "")
                fill = seam_fill(
                    model, track, s, e, margins=(m, m), fade=fade, taper=inside, taper_samples=taper
                )
                out.append((name, ms, s - m, fill))
    return out


def run(args: argparse.Namespace) -> None:
    import torch

    from simdps_studio.inpaint import checkpoint, pipeline
    from simdps_studio.search import sim
    from simdps_studio.session import engines
    from simdps_studio.session.evaluate import gap_position
    from simdps_studio.session.render import render

    torch.manual_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)  # on a busy shared CPU one thread is faster
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "seam_margin.csv"
    done = done_runs(csv_path)
    tracks = load_tracks(args.rendered)
    print(f"tracks: {[t.name for t in tracks]}", flush=True)
    denoiser = checkpoint.load_model(args.model, device="cpu")
    smooth_ms = [float(v) for v in args.smooth.split(",") if v.strip()] if args.smooth else []
    phases = [] if args.no_hard else [("hard", None)]
    phases += [(f"smooth{ms:g}", ms) for ms in smooth_ms]
    modes = [m for m in MODES if not args.modes or m[0] in args.modes.split(",")]
    cases = []
    for t in tracks[: args.max_tracks]:
        for gap_s in GAPS_S:
            cases.append((t, gap_s))
    for run_name, smooth in phases:
        for t, gap_s in cases:
            reference = t.samples.astype(np.float32)
            sr = t.sr
            gap = gap_position(reference.shape[1], sr, gap_s)
            damaged_x = reference.copy()
            damaged_x[:, gap.start_sample : gap.end_sample] = 0.0
            damaged = Audio(damaged_x, sr, "FLOAT", "WAV")
            key = (t.name, f"{gap_s:g}")
            if run_name == "hard" and (*key, "sim", "sim") not in done:
                r = engines.make_repairs(damaged, gap, engines.RepairRequest(method="sim"))[0]
                y = render(damaged, [r]).to_float()
                row = score(
                    reference,
                    damaged_x,
                    sr,
                    gap,
                    r.span_start_sample,
                    y[:, r.span_start_sample : r.span_end_sample],
                    r.margin_before,
                )
                append_rows(
                    csv_path,
                    [
                        {
                            "track": t.name,
                            "gap_s": f"{gap_s:g}",
                            "mode": "sim",
                            "omega": "",
                            "run": "sim",
                            "variant": "sim",
                            "margin_ms": 10,
                            **row,
                            "seconds": "",
                        }
                    ],
                )
            cands = engines.find_candidates(damaged, gap)
            cand = cands[0]
            a, kw = engines._sim_args(damaged, gap, cand, ())
            cand_x = sim.candidate_samples(*a, **kw)
            fit = engines.measure_fit(damaged, gap, args.model, denoiser=denoiser)
            poor = bool(fit and fit["poor"])
            for mode, omega_req in modes:
                if (*key, mode, run_name) in done:
                    continue
                omega = (
                    0.0 if mode == "dps" else engines.resolve_omega(omega_req, cand, poor_fit=poor)
                )
                ms_list = MARGINS_MS if smooth is None else (smooth,)
                m_max = int(round(max(ms_list) / 1000.0 * sr))
                opts = {"keep_model_output": True}
                if smooth is not None:
                    opts["dc_ramp_samples"] = int(round(smooth / 1000.0 * denoiser.sample_rate))
                # The excerpt make_repairs reads (the same windows, so the same fills).
                pad = int(math.ceil(denoiser.segment_length * sr / denoiser.sample_rate)) + sr
                w0 = max(gap.start_sample - pad, 0)
                w1 = min(gap.end_sample + pad, reference.shape[1])
                t0 = time.perf_counter()
                res = pipeline.inpaint_gap(
                    damaged_x[:, w0:w1],
                    sr,
                    gap.start_sample - w0,
                    gap.end_sample - w0,
                    denoiser=denoiser,
                    candidate=cand_x if mode != "dps" else None,
                    margins=(m_max, m_max),
                    omega=omega,
                    steps=args.steps,
                    seed=0,
                    sampler_options=opts,
                )
                seconds = time.perf_counter() - t0
                take = res.takes[0]
                rows = []
                for name, ms, span_start, fill in variants(
                    take.model_output, damaged_x, sr, gap, m_max, ms_list
                ):
                    if smooth is not None and not (name == "taper" or name == f"m{smooth:g}-amp"):
                        continue
                    if name == f"m{max(ms_list):g}-{pipeline.MARGIN_FADE_DEFAULT[:3]}" + (
                        "+taper" if pipeline.MARGIN_TAPER_DEFAULT else ""
                    ):
                        # The pipeline's own fill is this variant: the same code, the same samples.
                        # (float32 against float64 rounding of the model's output; with
                        # several windows the pipeline also joins them inside the gap.)
                        assert res.n_windows > 1 or np.allclose(
                            fill, take.fill, atol=1e-6, rtol=1e-5
                        ), name
                    m = int(round(ms / 1000.0 * sr))
                    row = score(reference, damaged_x, sr, gap, span_start, fill, m)
                    variant = name if smooth is None else f"{run_name}-{name}"
                    rows.append(
                        {
                            "track": t.name,
                            "gap_s": f"{gap_s:g}",
                            "mode": mode,
                            "omega": round(omega, 4),
                            "run": run_name,
                            "variant": variant,
                            "margin_ms": ms,
                            **row,
                            "seconds": round(seconds, 1),
                        }
                    )
                append_rows(csv_path, rows)
                base = next(
                    r for r in rows if r["variant"].endswith("taper") and r["margin_ms"] == 0
                )
                print(
                    f"{t.name} {gap_s:g}s {mode} {run_name}: {seconds:.0f} s; taper LSD "
                    f"{base['lsd_db']:.3f} seam {base['seam']:.3f}",
                    flush=True,
                )


def summary(path: Path) -> str:
    """Markdown tables: per mode and variant, mean LSD and seam over the gaps, and the worst."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    sim = {(r["track"], r["gap_s"]): r for r in rows if r["mode"] == "sim"}
    lines = []
    for mode in [m for m, _ in MODES]:
        mine = [r for r in rows if r["mode"] == mode]
        if not mine:
            continue
        names = list(dict.fromkeys(r["variant"] for r in mine))
        base = {(r["track"], r["gap_s"]): r for r in mine if r["variant"] == "taper"}
        lines += [
            f"\n**{mode}**\n",
            "| variant | n | LSD dB | ΔLSD vs taper | seam | max seam "
            "| Sim's seam, same gaps | seam ≤ Sim's |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name in names:
            rs = [r for r in mine if r["variant"] == name]
            keys = [(r["track"], r["gap_s"]) for r in rs]
            lsd = np.mean([float(r["lsd_db"]) for r in rs])
            d_lsd = np.mean(
                [
                    float(r["lsd_db"]) - float(base[k]["lsd_db"])
                    for r, k in zip(rs, keys)
                    if k in base
                ]
            )
            seams = [float(r["seam"]) for r in rs]
            sim_seams = [float(sim[k]["seam"]) for k in keys if k in sim]
            wins = sum(
                1
                for r, k in zip(rs, keys)
                if k in sim and float(r["seam"]) <= float(sim[k]["seam"])
            )
            lines.append(
                f"| {name} | {len(rs)} | {lsd:.2f} | {d_lsd:+.2f} | {np.mean(seams):.3f} | "
                f"{max(seams):.2f} | {np.mean(sim_seams):.3f} | {wins}/{len(sim_seams)} |"
            )
    ref = [float(r["seam_ref"]) for r in rows if r["mode"] == "sim"]
    if ref:
        lines.append(
            f"\nClean recordings at the same edges (seam_ref, 10-ms context guard): "
            f"mean {np.mean(ref):.3f} over {len(ref)} gaps."
        )
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(
        prog="benchmarks/seam_margin.py", description=__doc__.split("\n")[0]
    )
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--rendered", type=int, default=3, help="rendered tracks (the model card's 3)")
    p.add_argument("--smooth", default="10", help="margins (ms) of the smoothed-mask runs, or ''")
    p.add_argument("--model", default=MODEL, metavar="NAME|DIR")
    p.add_argument("--steps", type=int, default=STEPS, help=f"Heun steps (default {STEPS})")
    p.add_argument("--modes", help="only these of dps,simdps-0.15,simdps-auto")
    p.add_argument("--max-tracks", type=int, default=None, help="only the first N tracks")
    p.add_argument("--no-hard", action="store_true", help="only the smoothed-mask runs")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: its default)")
    p.add_argument("--summary", action="store_true", help="print the tables of OUT's CSV only")
    args = p.parse_args()
    if args.summary:
        print(summary(Path(args.out) / "seam_margin.csv"))
        return 0
    run(args)
    print(summary(Path(args.out) / "seam_margin.csv"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
