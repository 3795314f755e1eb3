"""Speed and size of the score-network presets: prints a Markdown table.

For each preset: parameter count, sample rate, segment length, GFLOP per forward (torch's flop
counter: convolutions and matrix products), the best of ``--repeats`` wall-clock times for a forward
pass (no gradient) and for a forward pass plus the gradient to the input (what one DPS guidance call
costs; weights are frozen as ``load_model`` freezes them), and the peak resident memory of the
process. Every preset runs in its own subprocess so its peak memory is its own.

Usage::

    .venv/bin/python benchmarks/model_speed.py                 # tiny and small on the CPU
    .venv/bin/python benchmarks/model_speed.py --presets tiny,small,paper --device cuda
    .venv/bin/python benchmarks/model_speed.py --presets paper --forward-only paper --repeats 1

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
    preset: str, device: str, batch: int, repeats: int, with_grad: bool = True, threads: int = 0
) -> dict:
    """Measure one preset in this process and return the numbers."""
    # Import the package first, as the app does: it sets the OpenMP wait policy before torch loads.
    importlib.import_module("simdps_studio.inpaint")
    import torch

    if threads > 0:
        torch.set_num_threads(threads)
    from torch.utils.flop_counter import FlopCounterMode

    from simdps_studio.inpaint.precond import build_denoiser

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

    def forward() -> None:
        with torch.no_grad():
            model(x, sigma)
        sync()

    def forward_grad() -> None:
        xg = x.clone().requires_grad_(True)
        out = model(xg, sigma)
        torch.autograd.grad(out.square().sum(), xg)
        sync()

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x[:1], sigma[:1])
    gflop = counter.get_total_flops() / 1e9

    def best(fn) -> float:
        fn()  # warm-up: filters, allocator, oneDNN kernels
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    t_fwd = best(forward)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t_grad = best(forward_grad) if with_grad else float("nan")
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
        "--forward-only",
        default="",
        help="comma-separated presets to time without the gradient (memory), e.g. paper on a CPU",
    )
    parser.add_argument("--_one", help=argparse.SUPPRESS)
    parser.add_argument("--_no_grad", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._one:
        result = measure(
            args._one, args.device, args.batch, args.repeats, not args._no_grad, args.threads
        )
        print(json.dumps(result))
        return 0
    rows = []
    for preset in args.presets.split(","):
        cmd = [sys.executable, __file__, "--_one", preset, "--device", args.device]
        cmd += ["--batch", str(args.batch), "--repeats", str(args.repeats)]
        cmd += ["--threads", str(args.threads)]
        if preset in args.forward_only.split(","):
            cmd.append("--_no_grad")
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            print(f"{preset}: failed\n{res.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
    if not rows:
        return 1
    r0 = rows[0]
    mem = "peak GPU MiB" if args.device.startswith("cuda") else "peak RSS MiB"
    print(
        f"Device: {args.device} ({platform.processor() or platform.machine()}, "
        f"{r0['threads']} threads, OMP_WAIT_POLICY={r0['omp_wait_policy']}), "
        f"batch {args.batch}, best of {args.repeats}\n"
    )
    print(
        f"| preset | params | sample rate | segment | GFLOP/fwd | forward s | forward+grad s | {mem} |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        seg = f"{r['segment_length']} ({r['segment_length'] / r['sample_rate']:.2f} s)"
        print(
            f"| {r['preset']} | {r['params'] / 1e6:.2f} M | {r['sample_rate']} Hz | {seg} | "
            f"{r['gflop']:.1f} | {r['forward_s']:.3f} | {_fmt(r['forward_grad_s'])} | "
            f"{r['peak_mib']:.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
