"""Sampling speed of the gap-repair pipeline: seconds per sampler step and per 2-s gap.

For each preset (randomly initialised: speed does not depend on the weights) and each mode, the
real pipeline (:func:`simdps_studio.inpaint.pipeline.inpaint_gap`) repairs a 2-s gap in a 10-s mono
track at 44.1 kHz with a candidate taken from elsewhere in the track:

- ``SimDPS``: the default, omega = 0.15, omega_y = 0.25, Heun (one forward and one fused backward
  pass a call, 69 calls);
- ``SimDPS exact``: the same with the exact per-term normalisation (two backward passes a call);
- ``DPS``: omega = 0 (one forward, one backward pass a call);
- ``draft``: no backpropagation, Euler (one forward a call), at draft mode's 20 steps (20 calls).

Each mode runs the app's default steps (35, draft 20). Steps are timed from the pipeline's
progress reports. ``full`` runs all steps and reports the
measured wall time of the whole call; ``probe`` cancels after a few steps and extrapolates the gap
time as setup + steps × the median step time (Heun's last step makes one network call instead of
two, which is counted; a gap longer than the model's window takes several windows of those steps
each, and "s / step" is per window step). Presets are probed when a full run would exceed ``--max-full-s``.

On CUDA the peak GPU memory (``torch.cuda.max_memory_allocated``) and the device name are reported.

Precisions (``--precision``, default ``fp32,bf16``) run side by side in one run: each mode is
probed ``--rounds`` times (default 2) with the precisions alternating and the fastest probe per
precision counts (network forward under bf16 autocast; the guidance stays fp32), with the ratio of
their gap times; the header names the processor and its bf16-relevant flags (AMX,
AVX512-BF16), which decide whether bf16 can be faster at all, and what ``--precision auto`` would
choose here.

Usage::

    .venv/bin/python benchmarks/sampling_speed.py                    # tiny and small, CPU
    .venv/bin/python benchmarks/sampling_speed.py --presets tiny,small,paper --device cuda
    .venv/bin/python benchmarks/sampling_speed.py --modes SimDPS,draft --max-full-s 0   # probe only
    .venv/bin/python benchmarks/sampling_speed.py --presets small --modes SimDPS --channels 2 \
        --takes 2 --max-batch 0          # the app's default (stereo, 2 takes) as one batch of 4

``--channels 2`` repairs a stereo track (two model items per take, mid and side), ``--takes``
samples several takes in one batch, ``--max-batch`` sets how many items one network call takes
(the pipeline's default: 2 on the CPU, all on CUDA).

Targets (issue 4), ``small`` on the 2-core CPU: SimDPS ≤ 90 s and draft ≤ 15 s per 2-s gap; on an
H100 the default ≤ 3 s. The CPU may be shared with other work: besides the measured (or median-
based) gap time, the table gives the fastest step and the gap time extrapolated from it, which is
what an otherwise idle machine approaches.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simdps_studio.core.errors import CancelledError
from simdps_studio.core.progress import CancelToken
from simdps_studio.inpaint.device import device_name, resolve_device
from simdps_studio.inpaint.pipeline import inpaint_gap, plan_windows
from simdps_studio.inpaint.precision import cpu_flags_line, resolve_precision
from simdps_studio.inpaint.precond import build_denoiser
from simdps_studio.session.engines import default_steps

TRACK_SR = 44100
TRACK_S = 10.0
GAP_START_S, GAP_S = 5.0, 2.0
MODES = {
    "SimDPS": {"omega": 0.15},
    "SimDPS exact": {"omega": 0.15, "sampler_options": {"fused_backward": False}},
    "DPS": {"omega": 0.0},
    "draft": {"omega": 0.15, "draft": True},
}
TARGETS_CPU = {("small", "SimDPS"): 90.0, ("small", "draft"): 15.0}
TARGETS_CUDA = {("small", "SimDPS"): 3.0}


def synth_track(sr: int, duration_s: float, seed: int = 0) -> np.ndarray:
    """Piano-like test audio: decaying harmonic notes, shape (1, n), float32."""
    rng = np.random.default_rng(seed)
    n = int(sr * duration_s)
    t = np.arange(n) / sr
    out = np.zeros(n)
    for k in range(int(duration_s / 0.25)):
        f0 = 110.0 * 2 ** (rng.integers(0, 30) / 12)
        s = int(k * 0.25 * sr)
        tt = t[s:] - t[s]
        for h in range(1, 7):
            out[s:] += (0.3 / h) * np.exp(-3 * tt) * np.sin(2 * np.pi * f0 * h * tt)
    return (0.5 * out / np.abs(out).max())[None].astype(np.float32)


def time_mode(model, x, start, end, cand, device, mode, *, full: bool, probe_steps: int, **extra):
    """Run one mode; return its timings as a dict (seconds)."""
    stamps: list[float] = []
    last_of_window: list[bool] = []  # a window's last step makes one network call, not two
    token = CancelToken()

    def progress(fraction: float, message: str = "") -> None:
        if "step" in message or message == "starting":
            stamps.append(time.perf_counter())
            i, n = message.rsplit("step ", 1)[-1].split("/") if "step" in message else ("0", "1")
            last_of_window.append(int(i) == int(n))
            if not full and len(stamps) > probe_steps:
                token.cancel()

    kwargs = {**MODES[mode], **extra}
    kwargs["sampler_options"] = {
        **MODES[mode].get("sampler_options", {}),
        **extra.get("sampler_options", {}),
    }
    windows = len(
        plan_windows(start, end, x.shape[1], model.segment_length * TRACK_SR // model.sample_rate)
    )
    n_steps = mode_steps(mode)
    t0 = time.perf_counter()
    try:
        inpaint_gap(
            x, TRACK_SR, start, end, denoiser=model, candidate=cand, steps=n_steps, seed=0,
            device=device, progress=progress, cancel=token, **kwargs,
        )  # fmt: skip
        total = time.perf_counter() - t0
    except CancelledError:
        total = None
    if device.type == "cuda":
        torch.cuda.synchronize()
    steps = np.diff(stamps)  # stamps[0] is "starting": steps[0] includes the first step's setup
    full_steps = [d for d, last in zip(steps, last_of_window[1:]) if not last]
    timed = full_steps[1:] if len(full_steps) > 1 else full_steps
    median, fastest = float(statistics.median(timed)), float(np.min(timed))
    setup = stamps[0] - t0
    # In units of a step's time: Heun's last step makes one call instead of two; Euler's all one.
    step_units = n_steps if MODES[mode].get("draft") else n_steps - 0.5
    calls = windows * step_units
    return {
        "median": median,
        "min": fastest,
        "total": total if total is not None else setup + calls * median,
        "at_min": setup + calls * fastest,
        "how": "full" if total is not None else "probe",
        "windows": windows,
    }


def probes_by_precision(model, x, start, end, cand, device, args, precisions):
    """Probe each mode in every precision, ``--rounds`` times with the precisions alternating
    (so that load from other processes hits them alike); yields (mode, precision, fastest probe)."""
    for mode in args.modes.split(","):
        best: dict[str, dict] = {}
        for _round in range(max(args.rounds, 1)):
            for precision in precisions:
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
                extra = {"precision": precision, "takes": args.takes}
                if args.max_batch >= 0:
                    extra["sampler_options"] = {"max_batch": args.max_batch}
                t = time_mode(
                    model, x, start, end, cand, device, mode, full=False,
                    probe_steps=args.probe_steps, **extra,
                )  # fmt: skip
                if precision not in best or t["total"] < best[precision]["total"]:
                    best[precision] = t
        for precision in precisions:
            yield mode, precision, best[precision]


def mode_steps(mode: str) -> int:
    """The app's default steps for a mode: 35, or 20 in draft mode."""
    return default_steps(bool(MODES[mode].get("draft")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default="tiny,small")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--precision",
        default="fp32,bf16",
        help="comma-separated, side by side: fp32, bf16, fp16 (CUDA only), auto",
    )
    parser.add_argument("--probe-steps", type=int, default=3)
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="probes per mode and precision, alternating precisions; the fastest counts",
    )
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--channels", type=int, choices=(1, 2), default=1)
    parser.add_argument("--takes", type=int, default=1)
    parser.add_argument(
        "--max-batch", type=int, default=-1, help="items per network call (-1: the default)"
    )
    parser.add_argument(
        "--max-full-s",
        type=float,
        default=200.0,
        help="run all steps when the probe predicts at most this many seconds",
    )
    args = parser.parse_args()
    unknown = [m for m in args.modes.split(",") if m not in MODES]
    if unknown:
        parser.error(f"unknown mode {unknown[0]!r}; choose from {', '.join(MODES)}")

    if args.threads > 0:
        # On a CPU shared with other work, fewer threads than cores avoids OpenMP spin-waiting.
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    x = np.concatenate([synth_track(TRACK_SR, TRACK_S, seed=c) for c in range(args.channels)])
    start, end = int(GAP_START_S * TRACK_SR), int((GAP_START_S + GAP_S) * TRACK_SR)
    cand = x[:, int(1.0 * TRACK_SR) : int(1.0 * TRACK_SR) + (end - start)].copy()
    precisions = args.precision.split(",")
    print(f"device: {device_name(device)}, torch {torch.__version__}, precisions {precisions}")
    if device.type == "cpu":
        print(f"processor: {cpu_flags_line()}")
    layout = "mono" if args.channels == 1 else "stereo"
    print(
        f"track: {TRACK_S:.0f} s {layout} at {TRACK_SR} Hz, gap {GAP_S:.0f} s, "
        f"{mode_steps('SimDPS')} steps ({mode_steps('draft')} in draft mode), "
        f"{args.takes} take(s), max batch "
        f"{'default' if args.max_batch < 0 else args.max_batch or 'all'}\n"
    )
    shape = ""
    if args.channels > 1 or args.takes > 1 or args.max_batch >= 0:
        shape = f" ({args.channels} ch × {args.takes} takes"
        shape += f", max batch {args.max_batch or 'all'})" if args.max_batch >= 0 else ")"
    rows = []
    gap_s: dict[tuple[str, str, str], float] = {}
    targets = TARGETS_CUDA if device.type == "cuda" else TARGETS_CPU
    for preset in args.presets.split(","):
        torch.manual_seed(0)
        model = build_denoiser(preset).eval()
        n_params = sum(p.numel() for p in model.parameters())
        print(
            f"{preset}: --precision auto -> {resolve_precision('auto', device, preset=preset).reason}"
        )
        for mode, precision, t in probes_by_precision(
            model, x, start, end, cand, device, args, precisions
        ):
            extra = {"precision": precision, "takes": args.takes}
            if args.max_batch >= 0:
                extra["sampler_options"] = {"max_batch": args.max_batch}
            if t["total"] <= args.max_full_s:
                t = time_mode(
                    model, x, start, end, cand, device, mode, full=True,
                    probe_steps=args.probe_steps, **extra,
                )  # fmt: skip
            peak = (
                f"{torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB"
                if device.type == "cuda"
                else "-"
            )
            target = None if shape or precision != "fp32" else targets.get((preset, mode))
            verdict = "" if target is None else f" (target ≤ {target:g})"
            gap_s[(preset, mode, precision)] = t["total"]
            base = gap_s.get((preset, mode, precisions[0]))
            ratio = f"{t['total'] / base:.2f}" if base else "-"
            rows.append(
                f"| {preset} | {n_params / 1e6:.2f} M | {device_name(device)} | {mode}{shape} | "
                f"{precision} | {t['median']:.3f} | {t['min']:.3f} | {t['total']:.1f} | "
                f"{t['at_min']:.1f}{verdict} | {ratio} | {t['how']} | {t['windows']} | {peak} |"
            )
            print(rows[-1], flush=True)
        model.to("cpu")
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
    print()
    print(
        "| preset | parameters | device | mode | precision | s / step (median) | s / step (min) "
        f"| s / 2-s gap | s / 2-s gap at min step | gap time / {precisions[0]}'s | how | windows "
        "| peak GPU memory |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
