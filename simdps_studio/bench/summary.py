"""Summaries of a run's rows: means, tables by gap length or material, paired wins, bins.

Pure functions on the rows of :mod:`simdps_studio.bench.rows` (numbers, no files); the report and
the plots are drawn from them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from simdps_studio.bench.rows import row_ok
from simdps_studio.session.engines import POOR_FIT_RATIO

METRICS = ("lsd_db", "seam", "snr_db", "chroma_sim", "level_db")
METRIC_LABEL = {
    "lsd_db": "log-spectral distance (dB, lower is better)",
    "seam": "seam smoothness (flux ratio, 1 = like the context, lower is better)",
    "snr_db": "SNR (dB, higher is better)",
    "chroma_sim": "chroma similarity (higher is better)",
    "level_db": "level error (dB, 0 is right)",
    "seconds": "wall time per repair (s; without the once-per-gap prior-fit check)",
}


def assign_bins(rows: list[dict[str, Any]]) -> tuple[float, float] | None:
    """Candidate-quality bins by the rank-1 candidate's cost, terciles over the run's gaps.

    Each distinct (track, gap) counts once; ``good`` is the lowest third of the costs, ``poor``
    the highest. Sets ``cand_bin`` on every row with a candidate and returns the two cut costs
    (None when no gap had a candidate).
    """
    costs = {}
    for r in rows:
        if isinstance(r.get("cand_cost"), float):
            costs[(r["track"], r["gap_s"])] = r["cand_cost"]
    if not costs:
        return None
    values = np.array(sorted(costs.values()))
    lo, hi = (float(v) for v in np.quantile(values, [1 / 3, 2 / 3]))
    for r in rows:
        c = r.get("cand_cost")
        if isinstance(c, float):
            r["cand_bin"] = "good" if c <= lo else ("fair" if c <= hi else "poor")
    return lo, hi


#: Infinite values (an SNR of a fill identical to the original) count as this much in means.
MEAN_CAP = 100.0


def capped_mean(values: list[float]) -> float:
    """Mean of the numbers in ``values``; NaN and non-numbers are left out, infinities count as
    :data:`MEAN_CAP` (finite values are never clipped: a 200-s repair is 200 s)."""
    nums = [
        math.copysign(MEAN_CAP, v) if math.isinf(v) else float(v)
        for v in values
        if isinstance(v, (int, float)) and not math.isnan(v)
    ]
    return float(np.mean(nums)) if nums else math.nan


def table_by(
    rows: list[dict], key: str, metric: str, methods: list[str], keys: list
) -> dict[str, dict[Any, float]]:
    """``{method: {key value: mean metric}}`` over the successful rows."""
    out: dict[str, dict[Any, float]] = {}
    for m in methods:
        out[m] = {}
        for k in keys:
            vals = [r[metric] for r in rows if r["method"] == m and r.get(key) == k and row_ok(r)]
            out[m][k] = capped_mean(vals)
    return out


def paired_wins(rows: list[dict], a: str, b: str, metric: str, lower_better: bool = True):
    """How often method ``a`` beats ``b`` on ``metric`` on the same gap: (wins, n)."""
    by = {}
    for r in rows:
        if row_ok(r):
            by[(r["track"], r["gap_s"], r["method"])] = r[metric]
    wins = n = 0
    for (track, gap_s, m), va in by.items():
        if m != a or (track, gap_s, b) not in by:
            continue
        vb = by[(track, gap_s, b)]
        if math.isnan(va) or math.isnan(vb):
            continue
        n += 1
        wins += (va < vb) if lower_better else (va > vb)
    return wins, n


def material_fit(rows: list[dict], materials: list[str]) -> dict[str, tuple[float, int]]:
    """Per material: mean prior-fit ratio over its gaps and how many were poor (runs that
    recorded it; each gap counted once, from its first diffusion row)."""
    per_gap: dict[tuple, tuple[str, float]] = {}
    for r in rows:
        ratio = r.get("fit_ratio")
        if isinstance(ratio, float) and math.isfinite(ratio):
            per_gap.setdefault((r["track"], r["gap_s"]), (r["material"], ratio))
    out = {}
    for mat in materials:
        ratios = [ratio for m, ratio in per_gap.values() if m == mat]
        if ratios:
            out[mat] = (float(np.mean(ratios)), sum(x > POOR_FIT_RATIO for x in ratios))
    return out


def unique_seam_ref(rows: list[dict]) -> list[float]:
    """The clean track's own seam value, once per (track, gap) (from rows without a margin)."""
    seen = {}
    for r in rows:
        if r.get("margin_samples", 0) == 0 and isinstance(r.get("seam_ref"), float):
            seen[(r["track"], r["gap_s"])] = r["seam_ref"]
    return list(seen.values())
