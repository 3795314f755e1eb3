"""Headless command-line interface (DESIGN.md section 5). Imports everything except ``gui``.

Exit status: 0 on success, 2 for bad arguments or unusable input (one line ``error: ...`` on stderr,
no traceback, no partial output file), 1 otherwise.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from simdps_studio.core.errors import CancelledError, InputError, SimDPSError
from simdps_studio.core.paths import ensure_numba_cache
from simdps_studio.core.progress import CancelToken, sub_progress
from simdps_studio.core.types import Gap, validate_gaps

COMMANDS = ("repair", "candidates", "detect", "train", "model", "data", "bench")
#: Largest seed of a take (torch's generators take signed 64-bit seeds).
MAX_SEED = 2**63 - 1


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument as one ``error:`` line (exit 2) instead of usage text."""

    def error(self, message: str):  # type: ignore[override]
        raise InputError(message)


class _VersionAction(argparse.Action):
    """``--version``: the version, the model repairs will use and the compute device."""

    def __init__(
        self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None
    ):
        super().__init__(option_strings, dest, nargs=0, default=default, help=help)
        self.help = help or "show the version, model and compute device, then exit"

    def __call__(self, parser, namespace, values, option_string=None):
        from simdps_studio.session.about import build_info, format_build_info

        print(format_build_info(build_info()))
        parser.exit(0)


def _progress_bar(desc: str):
    """A tqdm progress callback on an interactive stderr, else a silent one."""
    if not sys.stderr.isatty():
        return None, lambda: None
    from tqdm import tqdm

    bar = tqdm(total=100, desc=desc, unit="%", leave=False, file=sys.stderr)

    def progress(fraction: float, message: str = "") -> None:
        bar.n = round(100 * fraction, 1)
        if message:
            bar.set_postfix_str(message, refresh=False)
        bar.refresh()

    return progress, bar.close


def progress_shares(gaps: Sequence[Gap]) -> list[tuple[float, float]]:
    """Each gap's range of a progress bar: its share of the samples to fill (a 10-ms gap is not
    worth as much of the bar as a 20-s one)."""
    total = sum(g.length for g in gaps) or 1
    edges = [0, *itertools.accumulate(g.length for g in gaps)]
    return [(a / total, b / total) for a, b in itertools.pairwise(edges)]


def _gaps(texts: Sequence[str], sr: int, n_samples: int) -> list[Gap]:
    return validate_gaps([Gap.parse(t, sr) for t in texts], n_samples, sr)


def _load(path: str):
    from simdps_studio.audio.io import load

    return _noted(load(Path(path)))


def _noted(audio):
    """Print what loading found worth telling (e.g. a truncated file) as ``note:`` lines."""
    for warning in audio.meta.get("warnings", ()):
        print(f"note: {warning}", file=sys.stderr)
    return audio


def _print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


# ----------------------------------------------------------------------------- repair


def _load_corpus(folder: str | None, input_path: str, audio) -> tuple:
    """The recordings of ``--corpus DIR`` as Audio, without the input itself.

    The input (or an identical copy of it) would offer the damaged gap as its own best match.
    """
    if not folder:
        return ()
    import numpy as np

    from simdps_studio.audio.io import load
    from simdps_studio.session.render import same_path

    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"--corpus is not a folder: {folder}")
    suffixes = {".wav", ".flac", ".ogg", ".aiff", ".aif", ".mp3"}
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in suffixes)
    if not files:
        raise InputError(f"--corpus folder has no audio files: {folder}")
    corpus = []
    for path in files:
        if same_path(path, Path(input_path)):
            print(f"note: --corpus: skipped {path} (the input itself)", file=sys.stderr)
            continue
        item = load(path)
        if item.sr == audio.sr and np.array_equal(item.samples, audio.samples):
            print(f"note: --corpus: skipped {path} (a copy of the input)", file=sys.stderr)
            continue
        corpus.append(item)
    if not corpus:
        raise InputError(f"--corpus folder has no recordings other than the input: {folder}")
    return tuple(corpus)


def cmd_repair(args: argparse.Namespace) -> int:
    from simdps_studio.session.document import Session
    from simdps_studio.session.engines import (
        RepairRequest,
        check_margin_ms,
        fit_warning,
        make_repairs,
        resolve_omega,
    )
    from simdps_studio.session.render import (
        check_output_path,
        conversion_notes,
        export,
        output_format,
        provenance_path,
        write_text_file,
    )

    out = check_output_path(args.output, args.input, protected={"--guide file": args.guide})
    # Checked now, like the output: a failure must not come after minutes of work.
    check_output_path(
        provenance_path(out),
        args.input,
        label="provenance file",
        protected={"--guide file": args.guide},
    )
    if args.report is not None:
        check_output_path(
            args.report,
            args.input,
            label="--report",
            protected={
                "output": out,
                "output's provenance file": provenance_path(out),
                "--guide file": args.guide,
            },
        )
    if args.omega.lower() != "auto":
        resolve_omega(args.omega, None)  # fail on a bad value before any work
    if (args.steps is not None and args.steps < 1) or args.takes < 1:
        raise InputError("--steps and --takes must be at least 1")
    if not 0.0 <= args.omega_y <= 10.0:  # also refuses nan
        raise InputError(f"--omega-y must lie between 0 and 10, not {args.omega_y}")
    margin_ms = None if args.margin_ms is None else check_margin_ms(args.margin_ms)
    if not 0 <= args.seed <= MAX_SEED - args.takes:
        raise InputError(f"--seed must lie between 0 and {MAX_SEED - args.takes}, not {args.seed}")
    for note in _unused_options(args):
        print(f"note: {note}", file=sys.stderr)
    session = Session.open(args.input)
    audio = _noted(session.audio)
    # An unwritable format fails now, not after the repair; a converting one says so now.
    for note in conversion_notes(audio, *output_format(out, audio)):
        print(f"note: {note}", file=sys.stderr)
    gaps = _gaps(args.gap, audio.sr, audio.n_samples)
    guide = None
    if args.guide:
        from simdps_studio.audio.dsp import resample

        g = _load(args.guide)
        guide = resample(g.to_float(), g.sr, audio.sr)  # a copy when the rates already match
    request = RepairRequest(
        method=args.method,
        omega=args.omega,
        omega_y=args.omega_y,
        steps=args.steps,
        takes=args.takes,
        seed=args.seed,
        candidate_rank=args.candidate,
        guide=guide,
        model=args.model,
        device=args.device,
        draft=args.draft,
        corpus=_load_corpus(args.corpus, args.input, audio),
        margin_ms=margin_ms,
    )
    for g in gaps:
        session.add_gap(g)
    report = []
    progress, close = _progress_bar("repair")
    try:
        for g, (lo, hi) in zip(gaps, progress_shares(gaps), strict=True):
            gap_progress = sub_progress(progress, lo, hi)
            repairs = make_repairs(
                audio, g, request, other_gaps=[o for o in gaps if o != g], progress=gap_progress
            )
            session.set_repair(repairs[0])  # the first take is exported; all are reported
            warning = fit_warning(repairs[0].params)
            if warning:
                a, b = g.start_s(audio.sr), g.end_s(audio.sr)
                print(f"note: gap {a:.3f}–{b:.3f} s: {warning}", file=sys.stderr)
            for r in repairs:
                report.append(_report_entry(r, audio.sr))
    finally:
        close()
    record = export(session, out)
    if record["null_test_outside_spans"] is False:
        raise SimDPSError("internal error: samples outside the repaired spans changed")
    if args.report:
        text = json.dumps({"input": args.input, "output": str(out), "gaps": report}, indent=1)
        try:
            write_text_file(args.report, text)
        except SimDPSError:
            # All or nothing: no output without the report that was asked for.
            out.unlink(missing_ok=True)
            provenance_path(out).unlink(missing_ok=True)
            raise
    methods = ", ".join(sorted({e["method"] for e in report}))
    print(f"repaired {len(gaps)} gap(s) with {methods} -> {out}")
    return 0


def _unused_options(args: argparse.Namespace) -> list[str]:
    """Options given that the chosen method does not use: said, not silently dropped."""
    from simdps_studio.session.engines import RepairRequest

    default = RepairRequest()  # what the options mean when not given
    notes = []
    method = args.method
    if method in ("sim", "lpc"):
        given = [
            opt
            for opt, used in (
                ("--takes", args.takes != default.takes),
                ("--steps", args.steps is not None),
                ("--draft", args.draft),
                ("--model", args.model is not None),
                ("--device", args.device != default.device),
                ("--omega", args.omega != str(default.omega)),
                ("--omega-y", args.omega_y != default.omega_y),
                ("--margin-ms", args.margin_ms is not None),
            )
            if used
        ]
        if method == "lpc":
            given += [
                opt
                for opt, used in (
                    ("--candidate", args.candidate != default.candidate_rank),
                    ("--guide", bool(args.guide)),
                    ("--corpus", bool(args.corpus)),
                )
                if used
            ]
        if given:
            what = "one fill, without a model" if method == "sim" else "no candidate and no model"
            notes.append(f"{', '.join(given)} not used by --method {method} ({what})")
    elif args.draft and args.omega_y != default.omega_y:
        notes.append(
            "--omega-y not used with --draft (the observed samples are put back, not guided)"
        )
    return notes


def _default_margin_ms() -> float:
    from simdps_studio.session.engines import DIFFUSION_MARGIN_MS

    return DIFFUSION_MARGIN_MS


def _report_entry(repair, sr: int) -> dict[str, Any]:
    p = repair.params
    cand = p.get("candidate") or {}
    return {
        "gap_s": [repair.gap.start_sample / sr, repair.gap.end_sample / sr],
        "method": repair.method,
        "candidate_start_sample": cand.get("start_sample"),
        "candidate_start_s": cand.get("start_s"),
        "candidate_cost": cand.get("cost"),
        "candidate_source": cand.get("source"),
        "omega": p.get("omega"),
        "omega_y": p.get("omega_y"),
        "steps": p.get("steps"),
        "seed": p.get("seed"),
        "take": p.get("take", 1),
        "model": p.get("model"),
        "device": p.get("device"),
        "seconds": p.get("seconds"),
        "prior_fit": p.get("prior_fit"),
        "span_samples": [repair.span_start_sample, repair.span_end_sample],
        "margin_ms": p.get("margin_ms"),
    }


# ----------------------------------------------------------------------------- candidates / detect


def cmd_candidates(args: argparse.Namespace) -> int:
    from simdps_studio.session.document import Session
    from simdps_studio.session.engines import find_candidates

    audio = _noted(Session.open(args.input).audio)
    gaps = _gaps(args.gap, audio.sr, audio.n_samples)
    if args.top < 1:
        raise InputError("--top must be at least 1")
    corpus = _load_corpus(args.corpus, args.input, audio)
    result = []
    for g in gaps:
        others = [o for o in gaps if o != g]
        cands = find_candidates(audio, g, other_gaps=others, top_k=args.top, corpus=corpus)
        result.append(
            {
                "gap_s": [g.start_s(audio.sr), g.end_s(audio.sr)],
                "candidates": [c.to_dict() for c in cands],
            }
        )
    if args.json:
        _print_json(result if len(result) > 1 else result[0])
    else:
        for entry in result:
            a, b = entry["gap_s"]
            print(f"gap {a:.3f}–{b:.3f} s")
            print("  rank  start_s     score   cost     gain_db  source")
            for c in entry["candidates"]:
                print(
                    f"  {c['rank']:>4}  {c['start_s']:>9.3f}  {c['score']:.3f}  "
                    f"{c['cost']:.4f}  {c['gain_db']:+.2f}    {c.get('source') or 'this track'}"
                )
    return 0


def cmd_detect(args: argparse.Namespace) -> int:
    from simdps_studio.session.engines import _engine

    detect = _engine("simdps_studio.search.detect", "dropout detection")
    audio = _load(args.input)
    found = detect.detect_dropouts(audio.to_float(), audio.sr)
    if args.json:
        _print_json([d.to_dict() for d in found])
    else:
        if not found:
            print("no dropouts found")
        for d in found:
            dd = d.to_dict()
            print(f"{dd['kind']:<11} {dd['start_s']:.3f}–{dd['end_s']:.3f} s")
    return 0


# ----------------------------------------------------------------------------- models / training


def _preset_info(name: str) -> dict[str, Any]:
    """Architecture facts of an (untrained) preset."""
    from simdps_studio.inpaint.precond import build_denoiser

    d = build_denoiser(name)
    return {
        "preset": name,
        "trained": False,
        "n_parameters": d.n_parameters,
        "sample_rate": d.sample_rate,
        "segment_length": d.segment_length,
        "segment_s": round(d.segment_length / d.sample_rate, 3),
        "sigma_data": d.sigma_data,
    }


def cmd_model(args: argparse.Namespace) -> int:
    from simdps_studio.session.engines import DEFAULT_MODEL, _engine, model_installed

    checkpoint = _engine("simdps_studio.inpaint.checkpoint", "diffusion models")
    presets = _engine("simdps_studio.inpaint.presets", "diffusion models")
    name = args.name or DEFAULT_MODEL
    if model_installed(name) or (args.name and name not in presets.preset_names()):
        info = checkpoint.model_info(name)  # raises a one-line ModelError saying what is wrong
        # The config can look right over truncated, corrupt or NaN weights: load them as a
        # repair would (about a second), so "info" also answers "will this model work?".
        checkpoint.load_model(name)
        info["weights"]["verified"] = True
    elif name in presets.preset_names():
        info = _preset_info(name)
    else:
        info = {
            "installed_models": checkpoint.available_models(),
            "default_model": f"{DEFAULT_MODEL} (not installed: SimDPS and DPS need a trained model)",
            "presets": {p: _preset_info(p) for p in presets.preset_names() if p != "paper"},
        }
    if args.json:
        _print_json(info)
    else:
        for k, v in info.items():
            print(f"{k}: {v}")
    return 0


def _stop_on_signals(cancel: CancelToken) -> Callable[[], None]:
    """Turn SIGINT and SIGTERM into ``cancel.cancel()``; returns what restores the handlers."""
    previous = {}

    def handler(signum, _frame) -> None:
        if cancel.cancelled and signum == signal.SIGINT:
            raise KeyboardInterrupt  # asked twice: stop now
        print("\nstopping after this step (writing a checkpoint)…", file=sys.stderr, flush=True)
        cancel.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler)

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


def cmd_train(args: argparse.Namespace) -> int:
    from simdps_studio.session.engines import _engine

    train = _engine("simdps_studio.inpaint.train", "training")
    if args.resume and not train.has_state(args.out) and os.environ.get("RANK", "0") == "0":
        # A mistyped --out would otherwise start over without a word.
        print(
            f"note: --resume: {args.out} holds no training state; starting a new run",
            file=sys.stderr,
        )
    if args.max_minutes is not None and not (
        math.isfinite(args.max_minutes) and args.max_minutes > 0
    ):
        raise InputError("--max-minutes must be a positive number")
    progress, close = _progress_bar("train")

    def log(entry: dict[str, Any]) -> None:
        if "note" in entry:
            print(f"note: {entry['note']}", file=sys.stderr, flush=True)
        elif not sys.stderr.isatty():  # a log line per report when there is no progress bar
            print(json.dumps(entry), file=sys.stderr, flush=True)

    # Ctrl+C or SIGTERM (timeout, a scheduler) stops after the current step with a checkpoint,
    # as --max-minutes does; a second Ctrl+C stops at once. One process only: under torchrun
    # the ranks must stop at the same step, which a signal per process cannot promise.
    cancel = CancelToken()
    restore = _stop_on_signals(cancel) if os.environ.get("WORLD_SIZE", "1") == "1" else None
    try:
        result = train.train(
            args.data,
            args.out,
            preset=args.preset,
            steps=args.steps,
            batch_size=args.batch_size,
            lr=args.lr,
            warmup_steps=args.warmup_steps,
            lr_decay_steps=args.lr_decay_steps,
            ema_decay=args.ema_decay,
            resume=args.resume,
            init_from=args.init,
            device=args.device,
            max_seconds=args.max_minutes * 60 if args.max_minutes is not None else None,
            checkpoint_every_s=None
            if args.checkpoint_minutes is None
            else args.checkpoint_minutes * 60,
            val_every=args.val_every,
            seed=args.seed,
            progress=progress,
            cancel=cancel,
            on_log=log,
        )
    except CancelledError:
        close()
        print(f"stopped: checkpoint saved in {args.out}; continue with --resume", file=sys.stderr)
        return 130
    finally:
        close()
        if restore is not None:
            restore()
    if os.environ.get("RANK", "0") == "0":  # under torchrun only the first process reports
        print(f"model written to {args.out} (step {getattr(result, 'step', '?')})")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from simdps_studio.session.engines import _engine

    render = _engine("simdps_studio.data.render", "training-data rendering")
    progress, close = _progress_bar("render")
    try:
        out = render.render_corpus(
            args.out_dir,
            hours=args.hours,
            seed=args.seed,
            sample_rate=args.sample_rate,
            soundfonts=args.soundfont or None,
            workers=args.workers,
            progress=progress,
        )
    finally:
        close()
    print(f"corpus written to {out}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from simdps_studio.session import evaluate

    return evaluate.run_from_args(args, prog="simdps-studio bench quality")


# ----------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The ``simdps-studio`` sub-command parser."""
    p = _Parser(prog="simdps-studio", description="Repair long gaps in music recordings.")
    p.add_argument("--version", action=_VersionAction)
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    r = sub.add_parser("repair", help="repair gaps and write a new file")
    r.add_argument("input", metavar="IN")
    r.add_argument("-o", "--output", required=True, metavar="OUT")
    r.add_argument(
        "--gap",
        action="append",
        required=True,
        metavar="A:B",
        help="gap in seconds (12.5:14.5) or mm:ss.sss (0:12.5-0:14.5); repeatable",
    )
    r.add_argument("--method", default="auto", choices=["auto", "simdps", "dps", "sim", "lpc"])
    r.add_argument(
        "--omega",
        default="auto",
        help=(
            "candidate weight ω_x̃: auto (the default: from the candidate's similarity score and "
            "the model's fit), a number, strict (0.15, the paper's), relaxed (0.04) or copy (0.5)"
        ),
    )
    r.add_argument("--omega-y", type=float, default=0.25, help="observation weight ω_y")
    r.add_argument("--steps", type=int, default=None, help="sampler steps (35; 20 in --draft mode)")
    r.add_argument("--takes", type=int, default=1)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--candidate", type=int, default=1, metavar="RANK")
    r.add_argument("--guide", metavar="FILE", help="use FILE's first gap-length samples as x̃")
    r.add_argument("--corpus", metavar="DIR", help="also search the recordings in DIR")
    r.add_argument("--model", metavar="NAME|DIR")
    r.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    r.add_argument("--draft", action="store_true", help="fast sampling without backpropagation")
    r.add_argument(
        "--margin-ms",
        metavar="MS",
        help=(
            "DPS and SimDPS: cross-fade the model's output with the source over MS milliseconds "
            f"outside each gap edge (default {_default_margin_ms():g}; 0: meet the source at the "
            "gap edge); the repaired span grows by the margins, as Sim's does"
        ),
    )
    r.add_argument("--report", metavar="FILE.json")
    r.set_defaults(func=cmd_repair)

    c = sub.add_parser("candidates", help="list ranked candidates for a gap")
    c.add_argument("input", metavar="IN")
    c.add_argument("--gap", action="append", required=True, metavar="A:B")
    c.add_argument("--top", type=int, default=5, metavar="K")
    c.add_argument("--corpus", metavar="DIR")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_candidates)

    d = sub.add_parser("detect", help="find dropouts (silence, level drops, clipping)")
    d.add_argument("input", metavar="IN")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_detect)

    m = sub.add_parser("model", help="model information")
    m.add_argument("action", choices=["info"])
    m.add_argument("name", nargs="?", metavar="NAME")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=cmd_model)

    t = sub.add_parser("train", help="train a diffusion model on a folder of audio")
    t.add_argument(
        "--data", required=True, metavar="DIR", help="render-piano corpus or any audio folder"
    )
    t.add_argument("--out", required=True, metavar="DIR")
    t.add_argument(
        "--preset",
        default=None,
        choices=["tiny", "small", "paper"],
        help="architecture of a new model (default small; a resumed run keeps its own)",
    )
    # Hyper-parameters default to None: a resumed run keeps the values it was started with.
    kept = "; a resumed run keeps its own"
    t.add_argument("--steps", type=int, default=None, help=f"total optimiser steps (100000{kept})")
    t.add_argument("--batch-size", type=int, default=None, help=f"crops per step (8{kept})")
    t.add_argument("--lr", type=float, default=None, help=f"learning rate (2e-4{kept})")
    t.add_argument(
        "--warmup-steps", type=int, default=None, help=f"learning-rate warm-up steps (1000{kept})"
    )
    t.add_argument(
        "--lr-decay-steps",
        type=int,
        default=None,
        help=(
            "let the learning rate fall (half cosine) to zero over the last N of --steps, to "
            f"finish a run; 0 keeps it constant (0{kept})"
        ),
    )
    t.add_argument(
        "--ema-decay",
        type=float,
        default=None,
        help=f"decay of the exported weights' moving average (0.999{kept})",
    )
    t.add_argument(
        "--resume",
        action="store_true",
        help="continue from OUT's last checkpoint, with the run's own options unless given",
    )
    t.add_argument(
        "--init",
        metavar="MODEL",
        default=None,
        help="start from a saved model's weights and training record (no training state needed)",
    )
    t.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        help="stop cleanly (with a checkpoint) after this long: train in chunks",
    )
    t.add_argument(
        "--checkpoint-minutes",
        type=float,
        default=None,
        help=f"minutes between checkpoints (5{kept})",
    )
    t.add_argument("--val-every", type=int, default=None, help=f"validation interval (1000{kept})")
    t.add_argument(
        "--seed",
        type=int,
        default=None,
        help=f"seed of the weights, data order and noise (0{kept})",
    )
    t.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    t.set_defaults(func=cmd_train)

    dt = sub.add_parser("data", help="make training data")
    dsub = dt.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    rp = dsub.add_parser("render-piano", help="render a piano corpus with FluidSynth")
    rp.add_argument("out_dir", metavar="OUT_DIR")
    rp.add_argument("--hours", type=float, default=1.0)
    rp.add_argument("--seed", type=int, default=0)
    rp.add_argument("--sample-rate", type=int, default=22050)
    rp.add_argument("--workers", type=int, default=1, help="render in N processes")
    rp.add_argument("--soundfont", action="append", metavar="FILE", help="SoundFont(s) to use")
    rp.set_defaults(func=cmd_data)

    from simdps_studio.session.evaluate import add_arguments as add_bench_arguments

    bn = sub.add_parser("bench", help="benchmarks")
    bsub = bn.add_subparsers(dest="bench_command", required=True, parser_class=_Parser)
    bq = bsub.add_parser(
        "quality", help="gap-repair quality of LPC, Sim, DPS and SimDPS (docs/benchmarks/)"
    )
    add_bench_arguments(bq)
    bq.set_defaults(func=cmd_bench)
    return p


def open_app(argv: Sequence[str]) -> int:
    """``simdps-studio [FILE]``: open the desktop app, optionally with FILE."""
    first = argv[0] if argv else ""
    # A mistyped command reads as a file name (and its arguments as unknown ones): say both.
    unknown = InputError(
        f"no such file or command: {first} (commands: {', '.join(COMMANDS)}; "
        "or an audio file or project to open)"
    )
    p = _Parser(prog="simdps-studio", description="Open the desktop app.")
    p.add_argument("file", nargs="?", metavar="FILE")
    p.add_argument("--version", action=_VersionAction)
    try:
        args = p.parse_args(argv)
    except InputError:
        if first and not first.startswith("-") and not Path(first).exists():
            raise unknown from None
        raise
    if args.file is not None and not Path(args.file).exists():
        raise unknown
    try:
        from simdps_studio.gui.app import run_app
    except ImportError as e:
        raise InputError(
            f"the desktop app cannot start: {e} (the command-line tools still work; "
            "see `simdps-studio --help`)"
        ) from None
    return run_app(args.file)


class _GuardedStdout:
    """The standard output, whose write failures (a full disk, ``> /dev/full``) become one-line
    errors; a closed pipe (``| head``) stays BrokenPipeError, ended quietly by :func:`main`."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def _guard(self, method: str, *args):
        try:
            return getattr(self.stream, method)(*args)
        except BrokenPipeError:
            raise
        except OSError as e:
            _silence_stdout()  # the interpreter's last flush must not fail again
            raise SimDPSError(f"cannot write the standard output: {e.strerror or e}") from None

    def write(self, text: str) -> int:
        return self._guard("write", text)

    def flush(self) -> None:
        self._guard("flush")

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


def _silence_stdout() -> None:
    """Point stdout at the null device so the interpreter's last flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (tests capture stdout)
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``simdps-studio`` command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    ensure_numba_cache()
    sys.stdout = _GuardedStdout(sys.stdout)
    try:
        if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "--version")):
            return open_app(argv)
        args = build_parser().parse_args(argv)
        if not getattr(args, "func", None):
            build_parser().print_help()
            return 2
        status = args.func(args)
        sys.stdout.flush()  # a closed or full standard output fails here, not at exit
        return status
    except SimDPSError as e:
        if isinstance(e, CancelledError):
            print("cancelled", file=sys.stderr)
        else:
            print(
                f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr
            )
        return e.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader went away (`| head`): nothing left to say
        _silence_stdout()
        return 1
    except OSError as e:  # what no engine turned into a SimDPSError: the system's own failure
        reason = e.strerror or str(e)
        print(f"error: {reason}" + (f": {e.filename}" if e.filename else ""), file=sys.stderr)
        return 1
    except MemoryError:
        print("error: out of memory", file=sys.stderr)
        return 1
    finally:
        if isinstance(sys.stdout, _GuardedStdout):
            sys.stdout = sys.stdout.stream


if __name__ == "__main__":
    sys.exit(main())
