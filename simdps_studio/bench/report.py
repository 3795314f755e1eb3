"""The quality benchmark's report: ``quality.md`` (settings, material, method, tables, plots).

:func:`markdown_report` writes it for a finished (or interrupted) run; :func:`refresh_report`
rebuilds its results part from ``quality.csv`` alone, with the current report code.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simdps_studio.bench.config import (
    DEFAULT_MODEL,
    DEFAULT_STEPS,
    BenchConfig,
    parse_method,
)
from simdps_studio.bench.estimate import format_seconds, model_config
from simdps_studio.bench.material import (
    DEFAULT_CENTRE_FRACTION,
    GAP_CENTRE_FRACTION,
    MIN_EDGE_S,
    MaterialInfo,
)
from simdps_studio.bench.plots import write_plots
from simdps_studio.bench.resume import RUN_FILE
from simdps_studio.bench.rows import read_rows, row_ok
from simdps_studio.bench.summary import (
    MEAN_CAP,
    METRIC_LABEL,
    METRICS,
    assign_bins,
    capped_mean,
    material_fit,
    paired_wins,
    table_by,
    unique_seam_ref,
)
from simdps_studio.core.errors import InputError
from simdps_studio.session.engines import POOR_FIT_RATIO


@dataclass
class BenchResult:
    """A finished (or interrupted) run: rows, materials, where the outputs are, and timing."""

    config: BenchConfig
    rows: list[dict[str, Any]]
    materials: list[MaterialInfo]
    paths: dict[str, Path]
    seconds: float
    estimate_s: float
    started: str
    prepare_s: float = 0.0
    complete: bool = True
    devices: set = field(default_factory=set)
    bin_cuts: tuple[float, float] | None = None
    kept: int = 0


def _cell(v: float, digits: int = 2) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def _md_table(header: list[str], body: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return lines


def _hardware() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    threads = ""
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        threads = f", torch {torch.__version__} with {torch.get_num_threads()} threads"
    return (
        f"{cpu}, {os.cpu_count()} logical CPUs{threads}; {platform.system()} {platform.release()}"
    )


def _model_line(config: BenchConfig) -> str:
    cfg = model_config(config.model)
    if not cfg:
        return f"`{config.model}` (not used or not readable)"
    training = cfg.get("training", {}) or {}
    metrics = cfg.get("metrics") or {}
    steps = training.get("steps", metrics.get("step", "?"))
    val_loss = float(metrics.get("val_loss", math.nan))
    return (
        f"`{config.model}`: preset {cfg.get('preset', '?')}, {cfg.get('n_parameters', '?')} "
        f"parameters, {cfg.get('sample_rate', '?')} Hz, window {cfg.get('segment_length', '?')} "
        f"samples; trained {steps} steps (validation loss {_cell(val_loss, 4)})"
    )


def markdown_report(result: BenchResult, command: str) -> str:
    """The ``quality.md`` text: settings, material, tables and the plots."""
    config, rows = result.config, result.rows
    gaps = list(config.gaps_s)
    ok_rows = [r for r in rows if row_ok(r)]
    resumed = (
        f" (resumed: {result.kept} repairs kept from earlier chunks of this run, whose time is "
        f"not in the run time; the seconds columns are each repair's own)"
        if result.kept
        else ""
    )
    lines = [
        "# Gap-repair quality: LPC, Sim, DPS and SimDPS",
        "",
        f"- **Command:** `{command}`",
        f"- **Date:** {result.started}{resumed}; **run time:** {format_seconds(result.seconds)} "
        f"for the repairs (estimate {format_seconds(result.estimate_s)}) + "
        f"{format_seconds(result.prepare_s)} preparing material"
        + ("" if result.complete else " — **interrupted: partial results**"),
        f"- **Model:** {_model_line(config) if config.needs_model else 'none (no diffusion method)'}",
        f"- **Sampling:** {config.steps} steps, seed {config.seed}"
        + (", all diffusion methods in draft mode (`--quick`)" if config.quick else "")
        + f"; device: {', '.join(sorted(result.devices)) or config.device}"
        + f"; precision: {config.precision}"
        + (f"; warm start at σ {config.start_sigma:g}" if config.start_sigma else ""),
        f"- **Hardware:** {_hardware()}",
        "",
        "## Material",
        "",
    ]
    for m in result.materials:
        if m.skipped:
            lines.append(f"- **{m.material}:** skipped ({m.skipped})")
            continue
        lines.append(f"- **{m.material}:** {m.description}. Licence: {m.licence}.")
        for t in m.tracks:
            lines.append(f"  - `{t.name}` ({t.duration_s:.1f} s, {t.sr} Hz): {t.source}")
    lines += [
        "",
        "## Method",
        "",
        "Each gap is cut alone (its samples set to zero) at a fixed place: its centre at "
        + ", ".join(f"{GAP_CENTRE_FRACTION.get(g, DEFAULT_CENTRE_FRACTION):.2f}" for g in gaps)
        + f" of the track for the {', '.join(f'{g:g}' for g in gaps)}-s gaps, kept at least "
        f"{MIN_EDGE_S:g} s from either end. Every repair goes through the session layer "
        "(`make_repairs` + `render`, as the app and the CLI do); the candidate is the search's "
        "rank 1, the same for Sim and every SimDPS variant (checked: `cand_same` in the CSV). "
        "Metrics inside the gap against the clean track (`simdps_studio/bench/metrics.py`): "
        "log-spectral distance (Hann ~46 ms, hop 1/4, floor 60 dB below the loudest bin), "
        "SNR, chroma similarity (frame-wise cosine, ~93-ms frames, mean over frames), level "
        "error (RMS, dB), and seam smoothness: the largest spectral flux (log-magnitude over "
        "a 60-dB range, ~23-ms frames) at a gap edge over the median of the same statistic in "
        "the 1 s of context beside it, worse edge; 1 or less = no more change than the music "
        "makes anyway (the clean track's own value is the "
        "*reference* row). Tables show means over tracks (an infinite SNR, a fill identical to the "
        f"original, counts as {MEAN_CAP:g} dB).",
        "",
    ]
    n_err = sum(1 for r in rows if r.get("error"))
    n_null = sum(1 for r in ok_rows if r.get("null_ok") is False)
    n_other_cand = sum(1 for r in ok_rows if r.get("cand_same") is False)
    lines.append(
        f"{len(rows)} repairs, {n_err} failed"
        + (
            f", **{n_null} changed samples outside their span**"
            if n_null
            else "; every repair left the samples outside its span bit-identical (null test)"
        )
        + "."
        + (
            f" **{n_other_cand} repairs used another candidate than the rank-1 search result.**"
            if n_other_cand
            else ""
        )
    )
    lines.append("")
    return "\n".join(lines + results_markdown(result))


#: The heading where the part of ``quality.md`` computed from the rows alone begins.
RESULTS_HEADING = "## Overall (mean over all gaps)"


def results_markdown(result: BenchResult) -> list[str]:
    """The lines of ``quality.md`` from :data:`RESULTS_HEADING` on: tables, bins, plots.

    They depend only on the rows, the methods and gap lengths, the candidate bins and the plots'
    paths, so :func:`refresh_report` can rebuild them from a run's CSV.
    """
    config, rows = result.config, result.rows
    methods = list(dict.fromkeys(m.name for m in config.methods))
    gaps = list(config.gaps_s)
    ok_rows = [r for r in rows if row_ok(r)]
    # Overall by method.
    lines = [RESULTS_HEADING, ""]
    body = []
    for m in methods:
        mr = [r for r in ok_rows if r["method"] == m]
        body.append(
            [
                m,
                str(len(mr)),
                _cell(capped_mean([r["lsd_db"] for r in mr])),
                _cell(capped_mean([r["seam"] for r in mr])),
                _cell(capped_mean([r["snr_db"] for r in mr])),
                _cell(capped_mean([r["chroma_sim"] for r in mr]), 3),
                _cell(capped_mean([abs(r["level_db"]) for r in mr])),
                _cell(capped_mean([r["seconds"] for r in mr]), 1),
            ]
        )
    body.append(
        [
            "*reference*",
            "",
            "0.00",
            _cell(capped_mean(unique_seam_ref(ok_rows))),
            "∞",
            "1.000",
            "0.00",
            "",
        ]
    )
    lines += _md_table(
        ["method", "n", "LSD dB", "seam", "SNR dB", "chroma", "abs level dB", "seconds"], body
    )
    lines.append("")

    # Per metric: method x gap length.
    lines += ["## By gap length", ""]
    for metric in (*METRICS, "seconds"):
        lines += [f"**{METRIC_LABEL[metric]}**", ""]
        table = table_by(ok_rows, "gap_s", metric, methods, gaps)
        digits = 3 if metric == "chroma_sim" else (1 if metric == "seconds" else 2)
        body = [[m] + [_cell(table[m][g], digits) for g in gaps] for m in methods]
        if metric == "seam":
            ref = [
                _cell(capped_mean(unique_seam_ref([r for r in ok_rows if r["gap_s"] == g])))
                for g in gaps
            ]
            body.append(["*reference*", *ref])
        lines += _md_table(["method", *[f"{g:g} s" for g in gaps]], body)
        lines.append("")

    lines += _material_section(ok_rows, methods)
    lines += _comparisons(ok_rows, methods, gaps)
    lines += _bin_section(rows, ok_rows, methods, result.bin_cuts)
    lines += _auto_omega_section(ok_rows, methods)

    errors = [r for r in rows if r.get("error")]
    if errors:
        lines += ["## Failed repairs", ""]
        for r in errors:
            lines.append(f"- `{r['track']}` gap {r['gap_s']:g} s, {r['method']}: {r['error']}")
        lines.append("")
    pngs = [p for k, p in result.paths.items() if k.startswith("png")]
    if pngs:
        lines += ["## Plots", ""]
        lines += [f"![{p.stem}]({p.name})" for p in pngs]
        lines.append("")
    lines += [
        "Raw numbers (one row per track x gap x method, with the candidate, ω and seconds): "
        "`quality.csv`.",
        "",
    ]
    return lines


def refresh_report(out: Path) -> Path:
    """Rebuild the results part of ``OUT/quality.md`` from ``OUT/quality.csv`` (no repairs run).

    The header (command, date, run time, model, hardware, material, method) is kept as written
    by the run; everything from :data:`RESULTS_HEADING` on is recomputed from the CSV with the
    current report code, and the plots are redrawn. For fixing how a finished run is
    summarised, never what it measured. The CSV holds rounded values (5 decimals), so a mean's
    last printed digit can differ from the one the run printed from its unrounded rows.

    Raises
    ------
    InputError
        ``OUT`` holds no finished run (no CSV or no ``quality.md`` with a results part).
    """
    csv_path, md_path = out / "quality.csv", out / "quality.md"
    if not csv_path.is_file() or not md_path.is_file():
        raise InputError(f"no finished run in {out} (quality.csv and quality.md are needed)")
    head, sep, _ = md_path.read_text(encoding="utf-8").partition(RESULTS_HEADING)
    rows = read_rows(csv_path)
    if not sep or not rows:
        raise InputError(f"{md_path} has no results part to rebuild")
    methods = [parse_method(m) for m in dict.fromkeys(r["method"] for r in rows)]
    gaps = sorted({float(r["gap_s"]) for r in rows})
    try:
        settings = json.loads((out / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        settings = {}
    config = BenchConfig(
        materials=list(dict.fromkeys(r["material"] for r in rows)),
        gaps_s=gaps,
        methods=methods,
        model=str(settings.get("model") or DEFAULT_MODEL),
        steps=int(settings.get("steps") or DEFAULT_STEPS),
        seed=int(settings.get("seed") or 0),
        quick=bool(settings.get("quick", False)),
        out_dir=out,
    )
    result = BenchResult(
        config=config,
        rows=rows,
        materials=[],
        paths={"csv": csv_path},
        seconds=0.0,
        estimate_s=0.0,
        started="",
        bin_cuts=assign_bins(rows),
    )
    result.paths.update(write_plots(rows, config, out))
    md_path.write_text(head + "\n".join(results_markdown(result)), encoding="utf-8")
    return md_path


def _material_section(ok_rows: list[dict], methods: list[str]) -> list[str]:
    """Mean LSD / seam per method and material: a prior trained on piano may help on piano and
    hurt elsewhere, which the overall means hide. Empty for a single material."""
    materials = list(dict.fromkeys(r["material"] for r in ok_rows))
    if len(materials) < 2:
        return []
    lsd = table_by(ok_rows, "material", "lsd_db", methods, materials)
    seam = table_by(ok_rows, "material", "seam", methods, materials)
    n_gaps = {
        mat: len({(r["track"], r["gap_s"]) for r in ok_rows if r["material"] == mat})
        for mat in materials
    }
    body = [
        [m] + [f"{_cell(lsd[m][mat])} / {_cell(seam[m][mat])}" for mat in materials]
        for m in methods
    ]
    fit = material_fit(ok_rows, materials)
    lines = []
    if fit:
        body.append(
            ["*prior fit*"]
            + [
                f"{_cell(fit[mat][0], 2)} ({fit[mat][1]}/{n_gaps[mat]} poor)" if mat in fit else "–"
                for mat in materials
            ]
        )
        lines = [
            "",
            "*Prior fit*: the diffusion prior's denoising loss on the context before each gap over "
            "its validation loss (mean ratio; *poor* above "
            f"{POOR_FIT_RATIO:g}, where the model does not know the music, automatic ω copies and "
            "the app warns).",
        ]
    return [
        "## By material",
        "",
        "Mean log-spectral distance (dB) / mean seam over each material's gaps:",
        "",
        *_md_table(["method", *[f"{mat} ({n_gaps[mat]} gaps)" for mat in materials]], body),
        *lines,
        "",
    ]


def _comparisons(ok_rows: list[dict], methods: list[str], gaps: list[float]) -> list[str]:
    """DPS vs LPC and SimDPS (0.15) vs Sim per gap length (the model card's questions)."""
    pairs = [
        (a, b)
        for a, b in (
            ("dps", "lpc"),
            ("simdps-0.15", "sim"),
            ("simdps-0.04", "sim"),
            ("simdps-auto", "sim"),
            ("draft-0.15", "sim"),
        )
        if a in methods and b in methods
    ]
    if not pairs:
        return []
    lines = [
        "## Head to head (same gaps)",
        "",
        "Mean log-spectral distance and seam of each method, and on how many of the gaps the first "
        "method is better (lower) than the second.",
        "",
    ]
    body = []
    for a, b in pairs:
        for g in [*gaps, None]:
            rs = ok_rows if g is None else [r for r in ok_rows if r["gap_s"] == g]
            lsd = table_by(rs, "method", "lsd_db", [a, b], [a, b])
            seam = table_by(rs, "method", "seam", [a, b], [a, b])
            wl, nl = paired_wins(rs, a, b, "lsd_db")
            ws, ns = paired_wins(rs, a, b, "seam")
            body.append(
                [
                    f"{a} vs {b}",
                    "all" if g is None else f"{g:g} s",
                    f"{_cell(lsd[a][a])} vs {_cell(lsd[b][b])}",
                    f"{wl}/{nl}",
                    f"{_cell(seam[a][a])} vs {_cell(seam[b][b])}",
                    f"{ws}/{ns}",
                ]
            )
    lines += _md_table(["pair", "gap", "LSD dB", "LSD wins", "seam", "seam wins"], body)
    lines.append("")
    return lines


def _bin_section(
    rows: list[dict], ok_rows: list[dict], methods: list[str], cuts: tuple[float, float] | None
) -> list[str]:
    costs = {
        (r["track"], r["gap_s"]): r["cand_cost"]
        for r in rows
        if isinstance(r.get("cand_cost"), float)
    }
    if not costs or cuts is None:
        return []
    cand_methods = methods
    values = list(costs.values())
    lo, hi = cuts
    bins = ["good", "fair", "poor"]
    lines = [
        "## By candidate quality",
        "",
        "Gaps binned by the similarity cost of their rank-1 candidate (terciles of this run's "
        f"{len(values)} gaps: good ≤ {lo:.3f} < fair ≤ {hi:.3f} < poor; cost 0 = identical "
        "contexts, ~1 = a typical position). Mean log-spectral distance (dB) / mean seam:",
        "",
    ]
    body = []
    for b in bins:
        rs = [r for r in ok_rows if r.get("cand_bin") == b]
        n_gaps = len({(r["track"], r["gap_s"]) for r in rs})
        score = capped_mean(list({(r["track"], r["gap_s"]): r["cand_score"] for r in rs}.values()))
        cells = []
        for m in cand_methods:
            mr = [r for r in rs if r["method"] == m]
            lsd, seam = capped_mean([r["lsd_db"] for r in mr]), capped_mean([r["seam"] for r in mr])
            cells.append(f"{_cell(lsd)} / {_cell(seam)}")
        body.append([b, str(n_gaps), _cell(score, 3), *cells])
    lines += _md_table(["bin", "gaps", "mean score", *cand_methods], body)
    lines.append("")
    sims = [m for m in cand_methods if m.startswith("simdps")]
    if "sim" in cand_methods and sims:
        lines += [
            "Where SimDPS improves on Sim (gaps where SimDPS has the lower value, LSD; seam):",
            "",
        ]
        body = []
        for b in bins:
            rs = [r for r in ok_rows if r.get("cand_bin") == b]
            cells = []
            for m in sims:
                wl, nl = paired_wins(rs, m, "sim", "lsd_db")
                ws, ns = paired_wins(rs, m, "sim", "seam")
                cells.append(f"{wl}/{nl}; {ws}/{ns}")
            body.append([b, *cells])
        lines += _md_table(["bin", *[f"{m} vs sim" for m in sims]], body)
        lines.append("")
    return lines


def _best(values: dict[str, float]) -> str:
    """The key with the lowest finite value ('' when none is finite)."""
    finite = [(v, k) for k, v in values.items() if math.isfinite(v)]
    return min(finite)[1] if finite else ""


def _auto_omega_section(ok_rows: list[dict], methods: list[str]) -> list[str]:
    """Does ``--omega auto`` pick what the best fixed ω would have given, per bin?"""
    fixed = [m for m in methods if m == "dps" or (m.startswith("simdps-") and m != "simdps-auto")]
    if "simdps-auto" not in methods or len(fixed) < 2:
        return []
    from simdps_studio.session.engines import AUTO_OMEGA_RULE

    omega_of = {m: (0.0 if m == "dps" else float(m.split("-", 1)[1])) for m in fixed}
    lines = [
        "## Automatic ω",
        "",
        f"`--omega auto` chooses ω from the candidate's similarity score: {AUTO_OMEGA_RULE}. "
        "Per bin: the mean ω it chose and the fixed ω nearest to it; the fixed ω "
        "(DPS counts as ω 0) with the lowest mean log-spectral distance and with the lowest mean "
        "seam (its value in brackets), and auto's own values. *Match* says whether auto's nearest "
        "fixed ω is the best one by LSD.",
        "",
    ]
    body = []
    for b in ("good", "fair", "poor", None):
        rs = [r for r in ok_rows if (b is None or r.get("cand_bin") == b)]
        auto = [r for r in rs if r["method"] == "simdps-auto"]
        if not auto:
            continue
        w_auto = capped_mean([float(r["omega"]) for r in auto if r.get("omega") not in ("", None)])
        lsd = {m: capped_mean([r["lsd_db"] for r in rs if r["method"] == m]) for m in fixed}
        seam = {m: capped_mean([r["seam"] for r in rs if r["method"] == m]) for m in fixed}
        best_lsd, best_seam = _best(lsd), _best(seam)
        nearest = (
            min(fixed, key=lambda m: abs(omega_of[m] - w_auto)) if math.isfinite(w_auto) else ""
        )
        body.append(
            [
                b or "all",
                f"{_cell(w_auto, 3)} (≈ {omega_of[nearest]:g})" if nearest else "–",
                f"{omega_of[best_lsd]:g} ({_cell(lsd[best_lsd])})" if best_lsd else "–",
                _cell(capped_mean([r["lsd_db"] for r in auto])),
                f"{omega_of[best_seam]:g} ({_cell(seam[best_seam])})" if best_seam else "–",
                _cell(capped_mean([r["seam"] for r in auto])),
                ("yes" if nearest == best_lsd else "no") if nearest and best_lsd else "–",
            ]
        )
    header = ["bin", "auto ω (mean)", "best fixed ω by LSD", "auto LSD", "best fixed ω by seam"]
    lines += _md_table([*header, "auto seam", "match"], body)
    lines.append("")
    return lines
