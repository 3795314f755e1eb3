"""Quality benchmark: LPC, Sim, DPS and SimDPS on rendered piano, real recordings and the demo.

The command line of ``simdps-studio bench quality`` and ``benchmarks/quality.py`` (the same
options): :func:`add_arguments`, :func:`config_from_args`, :func:`run_from_args`, :func:`main`.
For every track of the chosen material, gaps of fixed lengths are cut (zeroed) one at a time at
fixed positions (:mod:`~simdps_studio.bench.material`); each gap is repaired by every method
through the session layer and scored against the clean track (:mod:`~simdps_studio.bench.runner`,
:mod:`~simdps_studio.bench.metrics`). Results go to ``quality.csv`` (one row per track x gap x
method, written as the run goes), ``quality.md`` (:mod:`~simdps_studio.bench.report`) and PNG
plots (:mod:`~simdps_studio.bench.plots`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from simdps_studio.bench.config import (
    DEFAULT_GAPS_S,
    DEFAULT_METHODS,
    DEFAULT_MODEL,
    DEFAULT_OUT,
    DEFAULT_STEPS,
    QUICK_GAPS_S,
    QUICK_OUT,
    QUICK_STEPS,
    BenchConfig,
    parse_gaps,
    parse_materials,
    parse_methods,
    quick_variant,
)
from simdps_studio.bench.material import MATERIALS, REAL_INSTALL, RENDER_SEED
from simdps_studio.core.errors import InputError, SimDPSError


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    """A :class:`BenchConfig` from parsed :func:`add_arguments` options (``--quick`` defaults)."""
    quick = bool(args.quick)
    methods = parse_methods(args.methods or ",".join(DEFAULT_METHODS))
    if quick:
        # Diffusion samples in draft mode; a method that becomes another one's twin is dropped.
        seen, unique = set(), []
        for m in map(quick_variant, methods):
            if (m.engine, m.omega, m.draft) not in seen:
                seen.add((m.engine, m.omega, m.draft))
                unique.append(m)
        methods = unique
    steps = args.steps if args.steps is not None else (QUICK_STEPS if quick else DEFAULT_STEPS)
    if not 1 <= steps <= 1000:
        raise InputError(f"--steps must be between 1 and 1000, not {steps}")
    tracks = args.tracks if args.tracks is not None else 1
    if not 1 <= tracks <= 100:
        raise InputError(f"--tracks must be between 1 and 100, not {tracks}")
    return BenchConfig(
        materials=parse_materials(args.material or ",".join(MATERIALS)),
        gaps_s=parse_gaps(
            args.gaps or ",".join(f"{g:g}" for g in (QUICK_GAPS_S if quick else DEFAULT_GAPS_S))
        ),
        methods=methods,
        model=args.model or DEFAULT_MODEL,
        steps=int(steps),
        tracks=int(tracks),
        seed=int(args.seed),
        out_dir=Path(args.out or (QUICK_OUT if quick else DEFAULT_OUT)),
        quick=quick,
        device=args.device,
        resume=bool(getattr(args, "resume", False)),
        render_seed=int(getattr(args, "render_seed", None) or RENDER_SEED),
        render_piano=getattr(args, "render_piano", None) or "soundfont",
        precision=getattr(args, "precision", "auto"),
        start_sigma=_start_sigma(getattr(args, "start_sigma", None)),
    )


def _start_sigma(value: float | None) -> float | None:
    """``--start-sigma``: None or 1 is off (a cold start from noise)."""
    if value is None:
        return None
    if not 0.0 < value <= 1.0:  # refuses nan too
        raise InputError(f"--start-sigma must lie in (0, 1] (1: off), not {value}")
    return None if value >= 1.0 else float(value)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The benchmark's options (shared by ``simdps-studio bench quality`` and the script)."""
    p.add_argument(
        "--quick",
        action="store_true",
        help=(
            "a few minutes: one track per material, gaps 0.5 and 2 s, diffusion in draft mode "
            f"at {QUICK_STEPS} steps"
        ),
    )
    p.add_argument("--material", metavar="LIST", help="rendered,real,demo (default: all)")
    p.add_argument(
        "--gaps", metavar="SECONDS", help="gap lengths, e.g. 0.5,2 (default 0.25,0.5,1,2,4)"
    )
    p.add_argument(
        "--methods",
        metavar="LIST",
        help=f"default {','.join(DEFAULT_METHODS)}; also simdps-<ω>, draft-<ω>, draft-auto",
    )
    p.add_argument("--model", metavar="NAME|DIR", help=f"diffusion model (default {DEFAULT_MODEL})")
    p.add_argument(
        "--steps",
        type=int,
        help=(
            f"sampler steps (default {DEFAULT_STEPS}, quick {QUICK_STEPS}; "
            "the app samples 35, 20 in draft mode)"
        ),
    )
    p.add_argument("--tracks", type=int, help="tracks per material (default 1; the demo has one)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument(
        "--render-seed",
        type=int,
        metavar="N",
        help=(
            f"seed of the rendered material (default {RENDER_SEED}, the measuring pieces; "
            "another seed renders separate pieces to select checkpoints and settings on)"
        ),
    )
    p.add_argument(
        "--render-piano",
        choices=["soundfont", "salamander", "mix"],
        help=(
            "piano of the rendered material (default soundfont; salamander needs "
            "`simdps-studio data fetch-salamander`)"
        ),
    )
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "fp32", "bf16"],
        help="network precision of the diffusion methods (default auto: as repairs choose)",
    )
    p.add_argument(
        "--start-sigma",
        type=float,
        default=None,
        metavar="S",
        help="warm start of the SimDPS methods at noise level S (default: off, from noise)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help=f"output folder (default {DEFAULT_OUT}; with --quick {QUICK_OUT})",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help=(
            "keep the finished rows of OUT/quality.csv made by the same repair code, model "
            "weights, steps and seed, and run only the rest (a long run in chunks)"
        ),
    )
    p.add_argument(
        "--no-install",
        action="store_true",
        help=(
            "kept for older command lines: nothing is ever installed (real material needs "
            f"`{REAL_INSTALL}`)"
        ),
    )
    p.add_argument(
        "--refresh-report",
        action="store_true",
        help=(
            "run nothing: rebuild the tables and plots of OUT/quality.md from OUT/quality.csv "
            "with the current report code"
        ),
    )


# ----------------------------------------------------------------------------- entry point


def build_parser(prog: str = "benchmarks/quality.py") -> argparse.ArgumentParser:
    """Stand-alone parser (the script's); the CLI adds the same options to its sub-command."""
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    add_arguments(p)
    return p


def run_from_args(args: argparse.Namespace, *, prog: str = "simdps-studio bench quality") -> int:
    """Run from parsed options; returns the exit status (0 when every repair succeeded or failed
    as a recorded row)."""
    from simdps_studio.bench.report import refresh_report
    from simdps_studio.bench.runner import run_benchmark

    config = config_from_args(args)
    if getattr(args, "refresh_report", False):
        print(f"rebuilt {refresh_report(config.out_dir)}", flush=True)
        return 0

    def log(message: str) -> None:
        print(message, flush=True)

    run_benchmark(config, log=log, prog=prog)
    return 0


def main(argv: Sequence[str] | None = None, *, prog: str = "benchmarks/quality.py") -> int:
    """``benchmarks/quality.py``: parse, run, report errors as one ``error:`` line (exit 2)."""
    args = build_parser(prog).parse_args(argv)
    try:
        return run_from_args(args, prog=f"python {prog}")
    except SimDPSError as e:
        print(f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
        return e.exit_code
