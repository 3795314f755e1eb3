"""The quality benchmark's plots: each metric's mean against gap length, one line per method."""

from __future__ import annotations

from pathlib import Path

from simdps_studio.bench.config import BenchConfig
from simdps_studio.bench.rows import row_ok
from simdps_studio.bench.summary import (
    METRIC_LABEL,
    METRICS,
    capped_mean,
    table_by,
    unique_seam_ref,
)

# ----------------------------------------------------------------------------- plots


def write_plots(rows: list[dict], config: BenchConfig, out: Path) -> dict[str, Path]:
    """PNG plots of each metric's mean against gap length, one line per method.

    Returns
    -------
    dict
        ``{"png_<metric>": path}``; empty when matplotlib is missing.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return {}
    ok_rows = [r for r in rows if row_ok(r)]
    methods = list(dict.fromkeys(m.name for m in config.methods))
    gaps = list(config.gaps_s)
    paths = {}
    for metric in METRICS:
        table = table_by(ok_rows, "gap_s", metric, methods, gaps)
        fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
        for i, m in enumerate(methods):
            ys = [table[m][g] for g in gaps]
            style = "--" if m in ("lpc", "sim") else "-"
            ax.plot(gaps, ys, style, marker="o", label=m, color=f"C{i % 10}")
        if metric == "seam":
            ref = [
                capped_mean(unique_seam_ref([r for r in ok_rows if r["gap_s"] == g])) for g in gaps
            ]
            ax.plot(gaps, ref, ":", color="black", label="clean reference")
        ax.set_xscale("log")
        ax.set_xticks(gaps)
        ax.set_xticklabels([f"{g:g}" for g in gaps])
        ax.minorticks_off()
        ax.set_xlabel("gap length (s)")
        ax.set_ylabel(METRIC_LABEL[metric].split(" (")[0])
        ax.set_title(METRIC_LABEL[metric], fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        path = out / f"quality_{metric.split('_')[0]}.png"
        fig.savefig(path)
        plt.close(fig)
        paths[f"png_{metric}"] = path
    return paths
