#!/usr/bin/env python3
"""Plot validation-loss curves of several training runs side by side (e.g. fp32 against bf16).

Each run is the JSON-lines log that ``simdps-studio train`` writes on stderr when it is not a
terminal (one history entry per line; the ``val_loss`` entries are plotted). Also prints a
Markdown table of the validation losses by step::

    python scripts/plot_loss_curves.py --run fp32=/tmp/train-fp32.log --run bf16=/tmp/train-bf16.log \\
        --out docs/bf16/train_val_loss.png --title "small, batch 1, 200 steps"
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def read_val_losses(path: Path) -> list[tuple[int, float]]:
    """(step, validation loss) pairs from a training log's JSON lines (other lines skipped)."""
    points = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and "val_loss" in entry and "step" in entry:
            points.append((int(entry["step"]), float(entry["val_loss"])))
    return points


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", required=True, metavar="LABEL=LOG")
    parser.add_argument("--out", required=True, metavar="PNG")
    parser.add_argument("--title", default="")
    args = parser.parse_args(argv)
    runs = {}
    for item in args.run:
        label, _, path = item.partition("=")
        runs[label] = read_val_losses(Path(path))
        if not runs[label]:
            print(f"error: no validation losses in {path}", file=sys.stderr)
            return 2

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 3.6), dpi=110)
    for label, points in runs.items():
        steps, losses = zip(*points)
        ax.plot(steps, losses, marker="o", markersize=3, label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("validation loss (EMA weights, fp32)")
    ax.set_title(args.title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)

    steps = sorted({s for points in runs.values() for s, _ in points})
    by_run = {label: dict(points) for label, points in runs.items()}
    print("| step | " + " | ".join(runs) + " |")
    print("|---|" + "---|" * len(runs))
    for s in steps:
        cells = [f"{by_run[label][s]:.4f}" if s in by_run[label] else "" for label in runs]
        print(f"| {s} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
