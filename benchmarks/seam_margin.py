"""Seam treatments of diffusion fills (issue 28): LSD and seam per variant, on fixed gaps.

Gaps: the model card's (three held-out rendered pieces, one 0.5-s and one 2-s gap each) and the
quick benchmark's other material (one real excerpt, the demo), cut where the quality benchmark
cuts them (``bench.material.gap_position``). Modes: DPS, SimDPS ω 0.15 and SimDPS automatic ω,
with the rank-1 candidate and the prior-fit rule exactly as ``session.engines.make_repairs``
applies them; 30 Heun steps, seed 0 (as the model card).

Sampling runs (``--runs``, in order) and the variants made from each:

* ``today``: no margin, the 5-ms inside taper (variant ``taper``); without such a run the summary
  takes today's rows of the model card's own run (docs/benchmarks/model-card/quality.csv);
* ``release``: data consistency left out over 20 ms beside each edge
  (``inpaint.pipeline.MARGIN_RELEASE_S``); from its one output ``inpaint.pipeline.seam_fill``
  makes ``mN-amp`` / ``mN-pow`` (N = 5, 10, 20 ms: the model's output cross-faded with the source
  over N ms outside each gap edge, amplitude- or power-complementary raised cosine, no inside
  taper) and ``mN-amp+taper`` / ``mN-pow+taper`` (the inside taper fitted on the faded context);
* ``smoothN``: the data-consistency mask Hann-smoothed over N ms instead (nothing released):
  its output over the span as it is, with the margin cross-fade, and today's taper on it;
* ``sim``: Sim's repair (10-ms crossfade) of the same gap, for reference, always.

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
from simdps_studio.inpaint.settings import DEFAULT_MODEL

MARGINS_MS = (5.0, 10.0, 20.0)
MODES = (("dps", 0.0), ("simdps-0.15", 0.15), ("simdps-auto", "auto"))
GAPS_S = (0.5, 2.0)
STEPS = 30
MODEL = DEFAULT_MODEL
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
    "seam_db",
    "snr_db",
    "seconds",
)


def load_tracks(n_rendered: int, render_seed: int | None = None, quick: bool = True) -> list:
    """The model card's rendered tracks (or those of selection seed ``render_seed``), then (with
    ``quick``) the quick benchmark's real excerpt and the demo."""
    from simdps_studio.bench import material

    seed = material.RENDER_SEED if render_seed is None else render_seed
    infos = [material.prepare_rendered(n_rendered, seed=seed)] if n_rendered > 0 else []
    for prepare in (lambda: material.prepare_real(1), material.prepare_demo)[: 2 * quick]:
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
    """Metrics of one variant: the fill written over its span of the damaged track.

    ``seam`` is the quality benchmark's spectral-flux seam (at the gap edges, the margin kept out
    of its context); ``seam_db`` the app's seam grade (an LPC-residual click detector,
    ``seam_ratio_db``), the worst of the gap edges and the span's outer edges: a one-sample step
    that the spectral flux does not see stands out there.
    """
    from simdps_studio.bench.metrics import gap_metrics
    from simdps_studio.session.checks import seam_ratio_db

    y = damaged.copy()
    y[:, span_start : span_start + fill.shape[1]] = fill
    outside = np.ones(y.shape[1], bool)
    outside[span_start : span_start + fill.shape[1]] = False
    assert np.array_equal(y[:, outside], damaged[:, outside])  # the null test
    m = gap_metrics(reference, y, sr, gap.start_sample, gap.end_sample, margin_samples=margin)
    edges = {gap.start_sample, gap.end_sample, span_start, span_start + fill.shape[1]}
    m["seam_db"] = max(seam_ratio_db(y, e) for e in edges)
    return {k: round(float(m[k]), 5) for k in ("lsd_db", "seam", "seam_ref", "seam_db", "snr_db")}


def variants(
    model_out: np.ndarray, track: np.ndarray, sr: int, gap: Gap, m_max: int, ms_list
) -> list[tuple[str, float, int, np.ndarray]]:
    """(name, margin_ms, span_start, fill) of the margin variants of one released run.

    ``model_out`` covers ``[gap.start - m_max, gap.end + m_max)``; ``track`` is the damaged track
    (the source outside the gap).
    """
    from simdps_studio.inpaint.pipeline import SEAM_TAPER_S, seam_fill

    model = track.copy()
    model[:, gap.start_sample - m_max : gap.end_sample + m_max] = model_out
    s, e = gap.start_sample, gap.end_sample
    taper = int(round(SEAM_TAPER_S * sr))
    out = []
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


def smooth_variants(
    model_out: np.ndarray, track: np.ndarray, sr: int, gap: Gap, m: int, ms: float
) -> list[tuple[str, float, int, np.ndarray]]:
    """The variants of a smoothed-mask run: its output over the span as it is, the same with the
    margin cross-fade, and today's taper without a margin."""
    from simdps_studio.inpaint.pipeline import SEAM_TAPER_S, seam_fill

    model = track.copy()
    model[:, gap.start_sample - m : gap.end_sample + m] = model_out
    s, e = gap.start_sample, gap.end_sample
    taper = int(round(SEAM_TAPER_S * sr))
    return [
        (f"smooth{ms:g}-raw", ms, s - m, model_out),
        (
            f"smooth{ms:g}-m{ms:g}-amp",
            ms,
            s - m,
            seam_fill(model, track, s, e, margins=(m, m), taper_samples=taper),
        ),
        (f"smooth{ms:g}-taper", 0.0, s, seam_fill(model, track, s, e, taper_samples=taper)),
    ]


def run(args: argparse.Namespace) -> None:
    import torch

    from simdps_studio.bench.material import gap_position
    from simdps_studio.inpaint import checkpoint, pipeline
    from simdps_studio.search import sim
    from simdps_studio.session import engines
    from simdps_studio.session.render import render

    torch.manual_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)  # on a busy shared CPU one thread is faster
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "seam_margin.csv"
    done = done_runs(csv_path)
    tracks = load_tracks(args.rendered, args.render_seed, quick=not args.rendered_only)
    print(f"tracks: {[t.name for t in tracks]}", flush=True)
    denoiser = checkpoint.load_model(args.model, device="cpu")
    phases = [p.strip() for p in args.runs.split(",") if p.strip()]
    modes = [m for m in MODES if not args.modes or m[0] in args.modes.split(",")]
    gaps_s = [float(g) for g in args.gaps.split(",")] if args.gaps else list(GAPS_S)
    cases = []
    for t in tracks[: args.max_tracks]:
        for gap_s in gaps_s:
            cases.append((t, gap_s))
    for run_name in phases:
        smooth = float(run_name[len("smooth") :]) if run_name.startswith("smooth") else None
        for t, gap_s in cases:
            reference = t.samples.astype(np.float32)
            sr = t.sr
            gap = gap_position(reference.shape[1], sr, gap_s)
            damaged_x = reference.copy()
            damaged_x[:, gap.start_sample : gap.end_sample] = 0.0
            damaged = Audio(damaged_x, sr, "FLOAT", "WAV")
            key = (t.name, f"{gap_s:g}")
            if (*key, "sim", "sim") not in done:
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
            auto = any(not isinstance(o, float) for _m, o in modes)
            fit = engines.measure_fit(damaged, gap, args.model, denoiser=denoiser) if auto else None
            poor = bool(fit and fit["poor"])
            for mode, omega_req in modes:
                if (*key, mode, run_name) in done:
                    continue
                omega = (
                    0.0 if mode == "dps" else engines.resolve_omega(omega_req, cand, poor_fit=poor)
                )
                if run_name == "today":
                    ms_list, opts = (0.0,), {}
                elif run_name == "release":
                    ms_list, opts = MARGINS_MS, {}
                else:  # the observation replaced gradually over the margin, nothing released
                    ramp = int(round(smooth / 1000.0 * denoiser.sample_rate))
                    ms_list, opts = (smooth,), {"dc_ramp_samples": ramp, "margin_release_s": 0.0}
                m_max = int(round(max(ms_list) / 1000.0 * sr))
                opts["keep_model_output"] = True
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
                    draft=args.draft,
                    seed=0,
                    sampler_options=opts,
                )
                seconds = time.perf_counter() - t0
                take = res.takes[0]
                if run_name == "today":
                    made = [("taper", 0.0, gap.start_sample, take.fill)]
                    own = "taper"
                elif run_name == "release":
                    made = variants(take.model_output, damaged_x, sr, gap, m_max, ms_list)
                    own = f"m{max(ms_list):g}-{pipeline.MARGIN_FADE_DEFAULT[:3]}" + (
                        "+taper" if pipeline.MARGIN_TAPER_DEFAULT else ""
                    )
                else:
                    made = smooth_variants(take.model_output, damaged_x, sr, gap, m_max, smooth)
                    own = f"smooth{smooth:g}-m{smooth:g}-amp"
                rows = []
                for name, ms, span_start, fill in made:
                    if name == own:
                        # The pipeline's own fill is this variant: the same code, the same samples.
                        # (float32 against float64 rounding of the model's output; with
                        # several windows the pipeline also joins them inside the gap.)
                        assert res.n_windows > 1 or np.allclose(
                            fill, take.fill, atol=1e-6, rtol=1e-5
                        ), name
                    m = int(round(ms / 1000.0 * sr))
                    row = score(reference, damaged_x, sr, gap, span_start, fill, m)
                    rows.append(
                        {
                            "track": t.name,
                            "gap_s": f"{gap_s:g}",
                            "mode": mode,
                            "omega": round(omega, 4),
                            "run": run_name,
                            "variant": name,
                            "margin_ms": ms,
                            **row,
                            "seconds": round(seconds, 1),
                        }
                    )
                append_rows(csv_path, rows)
                base = next(r for r in rows if r["variant"] == own)
                print(
                    f"{t.name} {gap_s:g}s {mode} {run_name}: {seconds:.0f} s; {base['variant']} LSD "
                    f"{base['lsd_db']:.3f} seam {base['seam']:.3f}",
                    flush=True,
                )


def model_card_rows() -> list[dict]:
    """Today's seams on the model card's gaps, from its own run (30 steps, seed 0): the
    ``taper`` baseline where this benchmark did not sample it again."""
    path = Path(__file__).resolve().parents[1] / "docs/benchmarks/model-card/quality.csv"
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["method"] in dict(MODES)]
    return [
        {
            "track": r["track"],
            "gap_s": f"{float(r['gap_s']):g}",
            "mode": r["method"],
            "variant": "taper",
            "margin_ms": "0",
            "lsd_db": r["lsd_db"],
            "seam": r["seam"],
        }
        for r in rows
    ]


def summary(path: Path) -> str:
    """Markdown tables: per mode and variant, mean LSD and seam over the gaps that have every
    variant, against today's taper and Sim's seam on the same gaps."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    sim = {(r["track"], r["gap_s"]): r for r in rows if r["mode"] == "sim"}
    lines = []
    for mode in [m for m, _ in MODES]:
        mine = [r for r in rows if r["mode"] == mode]
        if not mine:
            continue
        base = {(r["track"], r["gap_s"]): r for r in model_card_rows() if r["mode"] == mode}
        base.update({(r["track"], r["gap_s"]): r for r in mine if r["variant"] == "taper"})
        names = ["taper", *dict.fromkeys(r["variant"] for r in mine if r["variant"] != "taper")]
        lines += [
            f"\n**{mode}**\n",
            "| variant | gaps | LSD dB | ΔLSD vs taper | seam | max seam | Sim's seam | "
            "seam ≤ Sim's | grade dB | max grade dB | Sim's grade dB |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for name in names:
            rs = [r for r in mine if r["variant"] == name] if name != "taper" else []
            if name == "taper":
                keys = sorted({(r["track"], r["gap_s"]) for r in mine} & set(base))
                rs = [base[k] for k in keys]
            keys = [(r["track"], r["gap_s"]) for r in rs]
            if not rs:
                continue
            lsd = np.mean([float(r["lsd_db"]) for r in rs])
            d_lsd = [
                float(r["lsd_db"]) - float(base[k]["lsd_db"]) for r, k in zip(rs, keys) if k in base
            ]
            seams = [float(r["seam"]) for r in rs]
            sim_seams = [float(sim[k]["seam"]) for k in keys if k in sim]
            wins = sum(
                1
                for r, k in zip(rs, keys)
                if k in sim and float(r["seam"]) <= float(sim[k]["seam"])
            )
            d = f"{np.mean(d_lsd):+.2f}" if d_lsd else "–"
            grades = [float(r["seam_db"]) for r in rs if r.get("seam_db")]
            sim_grades = [float(sim[k]["seam_db"]) for k in keys if sim.get(k, {}).get("seam_db")]
            lines.append(
                f"| {name} | {len(rs)} | {lsd:.2f} | {d} | {np.mean(seams):.3f} | "
                f"{max(seams):.2f} | {np.mean(sim_seams):.3f} | {wins}/{len(sim_seams)} | "
                + (f"{np.mean(grades):.1f} | {max(grades):.1f} |" if grades else "– | – |")
                + (f" {np.mean(sim_grades):.1f} |" if sim_grades else " – |")
            )
    ref = [float(r["seam_ref"]) for r in rows if r["mode"] == "sim"]
    if ref:
        lines.append(
            f"\nThe clean recordings at the same edges (seam_ref with a 10-ms guard): mean "
            f"{np.mean(ref):.3f} over {len(ref)} gaps."
        )
    return "\n".join(lines)


def per_gap(path: Path, names=("taper", "m10-amp", "m20-amp", "m20-amp+taper")) -> str:
    """Seam (and LSD) per gap of a few variants beside Sim's, one row per gap and mode."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    sim = {(r["track"], r["gap_s"]): r for r in rows if r["mode"] == "sim"}
    card = {(r["track"], r["gap_s"], r["mode"]): r for r in model_card_rows()}
    head = "| gap | mode | " + " | ".join(names) + " | Sim | clean |"
    lines = [head, "|" + "---|" * (len(names) + 4)]
    keys = dict.fromkeys((r["track"], r["gap_s"], r["mode"]) for r in rows if r["mode"] != "sim")
    for track, gap_s, mode in keys:
        got = {
            r["variant"]: r
            for r in rows
            if (r["track"], r["gap_s"], r["mode"]) == (track, gap_s, mode)
        }
        got.setdefault("taper", card.get((track, gap_s, mode)))
        cells = [
            f"{float(got[n]['seam']):.2f} ({float(got[n]['lsd_db']):.2f})" if got.get(n) else "–"
            for n in names
        ]
        ref = sim.get((track, gap_s))
        lines.append(
            f"| {track.split(':')[1].split('/')[-1]} {gap_s} s | {mode} | "
            + " | ".join(cells)
            + (
                f" | {float(ref['seam']):.2f} | {float(ref['seam_ref']):.2f} |"
                if ref
                else " | – | – |"
            )
        )
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(
        prog="benchmarks/seam_margin.py", description=__doc__.split("\n")[0]
    )
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--rendered", type=int, default=3, help="rendered tracks (the model card's 3)")
    p.add_argument(
        "--render-seed",
        type=int,
        default=None,
        help="rendered material of this seed (202: the selection material, docs/training.md); "
        "default the measuring seed",
    )
    p.add_argument(
        "--rendered-only", action="store_true", help="leave out the real excerpt and the demo"
    )
    p.add_argument(
        "--runs",
        default="release,smooth10",
        help="sampling runs, in order: today (no margin), release (20-ms release, margins of "
        "5/10/20 ms), smoothN (data consistency Hann-smoothed over N ms)",
    )
    p.add_argument("--gaps", help="only these gap lengths, e.g. 2")
    p.add_argument("--model", default=MODEL, metavar="NAME|DIR")
    p.add_argument("--steps", type=int, default=STEPS, help=f"Heun steps (default {STEPS})")
    p.add_argument("--draft", action="store_true", help="draft sampling (the quick benchmark's)")
    p.add_argument("--modes", help="only these of dps,simdps-0.15,simdps-auto")
    p.add_argument("--max-tracks", type=int, default=None, help="only the first N tracks")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: its default)")
    p.add_argument("--summary", action="store_true", help="print the tables of OUT's CSV only")
    args = p.parse_args()
    if args.summary:
        print(summary(Path(args.out) / "seam_margin.csv"))
        print()
        print(per_gap(Path(args.out) / "seam_margin.csv"))
        return 0
    run(args)
    print(summary(Path(args.out) / "seam_margin.csv"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
