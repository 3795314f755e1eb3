"""Speed and size of the score-network presets: prints a Markdown table.

For each preset: parameter count, sample rate, segment length, GFLOP per forward (torch's flop
counter: convolutions and matrix products), the best of ``--repeats`` wall-clock times for a forward
pass (no gradient) and for a forward pass plus the gradient to the input (what one DPS guidance call
costs; weights are frozen as ``load_model`` freezes them), one training step (EDM loss, backward,
gradient clipping and Adam on ``--train-batch`` crops; 0 skips it), and the peak resident memory
of the process. Every preset runs in its own subprocess so its peak memory is its own.

Each timing is taken in every precision of ``--precisions`` (default ``fp32,bf16``: the network
under ``torch.autocast(dtype=torch.bfloat16)``, weights and Adam state fp32), the precisions
alternating call by call so that load on a shared machine hits them alike; the table gives each
time and its ratio to the first precision's, and the header the processor's bf16-relevant flags
(AMX, AVX512-BF16) and what ``--precision auto`` chooses here.

Usage::

    .venv/bin/python benchmarks/model_speed.py                 # tiny and small on the CPU
    .venv/bin/python benchmarks/model_speed.py --presets tiny,small,paper --device cuda
    .venv/bin/python benchmarks/model_speed.py --presets paper --forward-only paper --repeats 1
    .venv/bin/python benchmarks/model_speed.py --presets small --precisions fp32 --train-batch 0

The CPU may be shared: the minimum over repeats is reported, and the GFLOP column does not depend
on the load. On CUDA, peak memory is the GPU's (``torch.cuda.max_memory_allocated``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def measure(
    preset: str,
    device: str,
    batch: int,
    repeats: int,
    with_grad: bool = True,
    threads: int = 0,
    precisions: tuple[str, ...] = ("fp32", "bf16"),
    train_batch: int = 0,
) -> dict:
    """Measure one preset in this process and return the numbers (times per precision)."""
    # Import the package first, as the app does: it sets the OpenMP wait policy before torch loads.
    importlib.import_module("simdps_studio.inpaint")
    import torch

    if threads > 0:
        torch.set_num_threads(threads)
    from torch.utils.flop_counter import FlopCounterMode

    from simdps_studio.inpaint.device import autocast_dtype
    from simdps_studio.inpaint.precond import build_denoiser
    from simdps_studio.inpaint.train import edm_loss

    wait_policy = os.environ.get("OMP_WAIT_POLICY", "")

    torch.manual_seed(0)
    dev = torch.device(device)
    model = build_denoiser(preset).eval().requires_grad_(False).to(dev)
    n = model.segment_length
    gen = torch.Generator().manual_seed(1)
    x = (0.1 * torch.randn(batch, n, generator=gen)).to(dev)
    sigma = torch.full((batch,), 0.3, device=dev)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def amp(precision: str):
        dtype = autocast_dtype(dev, precision)
        return torch.autocast(dev.type, dtype=dtype, enabled=dtype is not None)

    def forward(precision: str) -> None:
        with torch.no_grad(), amp(precision):
            model(x, sigma)
        sync()

    def forward_grad(precision: str) -> None:
        xg = x.clone().requires_grad_(True)
        with amp(precision):
            out = model(xg, sigma)
        torch.autograd.grad(out.float().square().sum(), xg)
        sync()

    # Training: a trainable copy per precision with its own Adam (fp32 master weights).
    trainers = {}
    if train_batch > 0:
        xt = (0.1 * torch.randn(train_batch, n, generator=gen)).to(dev)
        noise = torch.randn(train_batch, n, generator=gen).to(dev)
        sig_t = torch.exp(torch.randn(train_batch, generator=gen) * 1.2 - 1.2).to(dev)
        for p in precisions:
            torch.manual_seed(0)
            net = build_denoiser(preset).train().to(dev)
            trainers[p] = (net, torch.optim.Adam(net.parameters(), lr=1e-4))

    def train_step(precision: str) -> None:
        net, opt = trainers[precision]
        opt.zero_grad(set_to_none=True)
        with amp(precision):
            loss = edm_loss(net, xt, sig_t, noise, net.sigma_data)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sync()

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x[:1], sigma[:1])
    gflop = counter.get_total_flops() / 1e9

    def best(fn) -> dict[str, float]:
        """Fastest of ``repeats`` calls per precision, the precisions alternating."""
        for p in precisions:
            fn(p)  # warm-up: filters, allocator, oneDNN kernels
        times: dict[str, list[float]] = {p: [] for p in precisions}
        for _ in range(repeats):
            for p in precisions:
                t0 = time.perf_counter()
                fn(p)
                times[p].append(time.perf_counter() - t0)
        return {p: min(t) for p, t in times.items()}

    nan = {p: float("nan") for p in precisions}
    t_fwd = best(forward)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t_grad = best(forward_grad) if with_grad else nan
    t_train = best(train_step) if trainers else nan
    if dev.type == "cuda":
        peak_mib = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "preset": preset,
        "params": model.n_parameters,
        "sample_rate": model.sample_rate,
        "segment_length": n,
        "gflop": gflop * 1,
        "forward_s": t_fwd,
        "forward_grad_s": t_grad,
        "train_step_s": t_train,
        "train_batch": train_batch,
        "precisions": list(precisions),
        "peak_mib": peak_mib,
        "batch": batch,
        "device": device,
        "threads": torch.get_num_threads(),
        "omp_wait_policy": wait_policy,
    }


def _fmt(seconds: float) -> str:
    return "-" if seconds != seconds else f"{seconds:.3f}"  # NaN: not measured


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="tiny,small")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    parser.add_argument(
        "--precisions", default="fp32,bf16", help="side by side, the first is the reference"
    )
    parser.add_argument(
        "--train-batch",
        type=int,
        default=4,
        help="crops per timed training step (the CPU runs' batch; 0: no training column)",
    )
    parser.add_argument(
        "--forward-only",
        default="",
        help="comma-separated presets to time without the gradient (memory), e.g. paper on a CPU",
    )
    parser.add_argument("--_one", help=argparse.SUPPRESS)
    parser.add_argument("--_no_grad", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._one:
        result = measure(
            args._one,
            args.device,
            args.batch,
            args.repeats,
            not args._no_grad,
            args.threads,
            tuple(args.precisions.split(",")),
            args.train_batch,
        )
        print(json.dumps(result))
        return 0
    rows = []
    for preset in args.presets.split(","):
        cmd = [sys.executable, __file__, "--_one", preset, "--device", args.device]
        cmd += ["--batch", str(args.batch), "--repeats", str(args.repeats)]
        cmd += ["--threads", str(args.threads), "--precisions", args.precisions]
        if preset in args.forward_only.split(","):
            cmd += ["--_no_grad", "--train-batch", "0"]
        else:
            cmd += ["--train-batch", str(args.train_batch)]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        crashed = ""
        if res.returncode != 0 and args.train_batch > 0:
            # A bf16 training step can crash the process (a segfault in torch 2.13's bf16 weight
            # gradients on an AVX512-BF16 CPU): measure the rest without it, and say so.
            crashed = f"training step failed (exit {res.returncode})"
            print(f"{preset}: {crashed}; timing without it", file=sys.stderr)
            cmd[cmd.index("--train-batch") + 1] = "0"
            res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            print(f"{preset}: failed\n{res.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.append({**json.loads(res.stdout.strip().splitlines()[-1]), "note": crashed})
    if not rows:
        return 1
    r0 = rows[0]
    mem = "peak GPU MiB" if args.device.startswith("cuda") else "peak RSS MiB"
    print(
        f"Device: {args.device} ({platform.processor() or platform.machine()}, "
        f"{r0['threads']} threads, OMP_WAIT_POLICY={r0['omp_wait_policy']}), "
        f"batch {args.batch}, training steps at batch {args.train_batch}, best of {args.repeats}"
    )
    print(_auto_line(args.device, [r["preset"] for r in rows]) + "\n")
    precisions = r0["precisions"]
    ref = precisions[0]
    cols = []
    for what in ("forward s", "forward+grad s", "train step s"):
        cols += [f"{what} {p}" for p in precisions] + [f"{p}/{ref}" for p in precisions[1:]]
    print(f"| preset | params | segment | GFLOP/fwd | {' | '.join(cols)} | {mem} |")
    print("| --- | ---: | ---: | ---: |" + " ---: |" * len(cols) + " ---: |")
    for r in rows:
        seg = f"{r['segment_length']} ({r['segment_length'] / r['sample_rate']:.2f} s)"
        cells = []
        for key in ("forward_s", "forward_grad_s", "train_step_s"):
            t = r[key]
            cells += [_fmt(t[p]) for p in precisions]
            cells += [_ratio(t[ref], t[p]) for p in precisions[1:]]
        print(
            f"| {r['preset']} | {r['params'] / 1e6:.2f} M | {seg} | {r['gflop']:.1f} | "
            f"{' | '.join(cells)} | {r['peak_mib']:.0f} |"
        )
    for r in rows:
        if r.get("note"):
            print(f"\n{r['preset']}: {r['note']} (train step columns not measured)")
    return 0


def _ratio(reference: float, other: float) -> str:
    """How many times faster ``other`` is than ``reference`` (``1.90×``), or ``-``."""
    if reference != reference or other != other or other <= 0:
        return "-"
    return f"{reference / other:.2f}×"


def _auto_line(device: str, presets: list[str]) -> str:
    """The processor's flags and what ``--precision auto`` picks per preset (from the cache)."""
    import torch

    from simdps_studio.inpaint.precision import cpu_flags_line, resolve_precision

    dev = torch.device(device)
    head = f"Processor: {cpu_flags_line()}" if dev.type == "cpu" else f"Device: {device}"
    picks = "; ".join(f"{p}: {resolve_precision('auto', dev, preset=p).reason}" for p in presets)
    return f"{head}. --precision auto: {picks}"


if __name__ == "__main__":
    sys.exit(main())
