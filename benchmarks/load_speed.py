"""Load speed and peak memory for a long recording (issue 2: 60 min, 48 kHz, stereo, 24-bit).

Generates the test file once (blockwise, so generating needs little memory) and caches it in
``~/.cache/simdps-studio/bench/``. The measurement runs in a fresh Python process started by this
light, stdlib-only one (Linux carries the parent's peak RSS over into the child's ``ru_maxrss`` at
exec, so the parent must stay small; the file is generated in a process of its own). Both
``ru_maxrss`` and the process's own high-water mark (``VmHWM``) are reported. Prints a Markdown table;
the target is a peak RSS of at most 2.5 × the decoded float32 size (frames × channels × 4 bytes).

    .venv/bin/python benchmarks/load_speed.py             # 60 minutes
    .venv/bin/python benchmarks/load_speed.py --minutes 2 # quick run
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = (
    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "simdps-studio/bench"
)
TARGET_RATIO = 2.5
MIB = 1 << 20

# Runs in the child process: import, load, build the pyramid, write back; report peaks as JSON.
CHILD = r"""
import json, resource, sys, time
from pathlib import Path
import numpy as np
from simdps_studio.audio import PeakPyramid, load, write

def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB

def hwm():
    try:
        with open("/proc/self/status") as f:
            line = next(x for x in f if x.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024
    except (OSError, StopIteration):
        return 0

def current():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize()
    except OSError:
        return 0

src, out = Path(sys.argv[1]), sys.argv[2]
report = {"rss_imports": peak(), "cur_imports": current()}
t0 = time.perf_counter()
audio = load(src)
report["load_s"] = time.perf_counter() - t0
report["rss_load"] = peak()
report["hwm_load"] = hwm()
report["cur_load"] = current()
report["frames"], report["channels"] = audio.n_samples, audio.channels
report["dtype"], report["subtype"] = str(audio.samples.dtype), audio.subtype
t0 = time.perf_counter()
pyramid = PeakPyramid(audio)
report["pyramid_s"] = time.perf_counter() - t0
report["pyramid_bytes"] = pyramid.nbytes
report["rss_pyramid"] = peak()
if out:
    t0 = time.perf_counter()
    write(out, audio)
    report["write_s"] = time.perf_counter() - t0
    report["rss_write"] = peak()
report["hwm_end"] = hwm()
print(json.dumps(report))
"""


def make_test_file(path: Path, minutes: float, sr: int, channels: int) -> None:
    """Write a synthetic PCM_24 WAV of ``minutes`` blockwise (10 s at a time)."""
    import numpy as np
    import soundfile as sf

    n_total = int(round(minutes * 60 * sr))
    tmp = path.with_name(path.name + ".partial")
    rng = np.random.default_rng(0)
    block = 10 * sr
    freqs = np.array([110.0, 220.0, 330.0, 440.0, 554.4, 659.3])
    with sf.SoundFile(tmp, "w", sr, channels, subtype="PCM_24", format="WAV") as f:
        for start in range(0, n_total, block):
            n = min(block, n_total - start)
            t = (start + np.arange(n)) / sr
            tone = sum(
                np.sin(2 * np.pi * fr * t) * (0.5 + 0.5 * np.sin(2 * np.pi * t / (7 + k)))
                for k, fr in enumerate(freqs)
            )
            x = 0.1 * tone[:, None] + 0.02 * rng.standard_normal((n, channels))
            f.write(x)
    os.replace(tmp, path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def generate(path: Path, minutes: float, sr: int, channels: int) -> None:
    """Generate the file in a child process (keeps this process's peak RSS small)."""
    args = [str(path), str(minutes), str(sr), str(channels)]
    subprocess.run([sys.executable, __file__, "--_generate", *args], check=True, env=_env())


def measure(path: Path, out: Path | None) -> dict:
    run = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(out) if out else ""],
        capture_output=True,
        text=True,
        env=_env(),
        check=False,
    )
    if run.returncode != 0:
        sys.exit(f"error: the measuring process failed:\n{run.stderr}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--_generate"]:
        path, minutes, sr, channels = argv[1:5]
        make_test_file(Path(path), float(minutes), int(sr), int(channels))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="length of the test file")
    parser.add_argument("--sr", type=int, default=48000)
    parser.add_argument("--channels", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where the file is kept")
    parser.add_argument("--no-write", action="store_true", help="skip the write-back measurement")
    args = parser.parse_args(argv)

    args.cache.mkdir(parents=True, exist_ok=True)
    path = args.cache / f"bench_{args.minutes:g}min_{args.sr}Hz_{args.channels}ch_pcm24.wav"
    if not path.exists():
        print(f"generating {path} ...", file=sys.stderr)
        t0 = time.perf_counter()
        generate(path, args.minutes, args.sr, args.channels)
        print(f"generated in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    out = None if args.no_write else args.cache / "bench_write_back.wav"
    try:
        r = measure(path, out)
        same_bytes = out is not None and _sha256(out) == _sha256(path)
    finally:
        if out is not None:
            out.unlink(missing_ok=True)

    decoded_f32 = r["frames"] * r["channels"] * 4
    file_mib = path.stat().st_size / MIB
    rows = [
        ("file", f"{path.name} ({file_mib:.0f} MiB, {r['subtype']}, loaded as {r['dtype']})"),
        ("decoded float32 size", f"{decoded_f32 / MIB:.0f} MiB"),
        ("load time", f"{r['load_s']:.2f} s ({file_mib / r['load_s']:.0f} MiB/s)"),
        (
            "RSS after imports (peak / current)",
            f"{r['rss_imports'] / MIB:.0f} / {r['cur_imports'] / MIB:.0f} MiB",
        ),
        ("current RSS holding the audio", f"{r['cur_load'] / MIB:.0f} MiB"),
        (
            "peak RSS after load (ru_maxrss / VmHWM)",
            f"{r['rss_load'] / MIB:.0f} / {r['hwm_load'] / MIB:.0f} MiB",
        ),
        (
            "peak RSS / decoded float32",
            f"{r['rss_load'] / decoded_f32:.2f} (target ≤ {TARGET_RATIO})",
        ),
        ("PeakPyramid build", f"{r['pyramid_s']:.2f} s, {r['pyramid_bytes'] / MIB:.1f} MiB"),
        ("peak RSS after pyramid", f"{r['rss_pyramid'] / MIB:.0f} MiB"),
    ]
    if "write_s" in r:
        rows += [
            (
                "write back",
                f"{r['write_s']:.2f} s, file byte-identical to the source: {same_bytes}",
            ),
            ("peak RSS after write", f"{r['rss_write'] / MIB:.0f} MiB"),
        ]
    overall = max(r.get(k, 0) for k in ("rss_load", "rss_pyramid", "rss_write", "hwm_end"))
    overall /= decoded_f32
    rows.append(("overall peak (load + pyramid + write) / decoded float32", f"{overall:.2f}"))
    print(f"\n### Load benchmark: {args.minutes:g} min, {args.sr} Hz, {args.channels} ch\n")
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    ok = r["rss_load"] / decoded_f32 <= TARGET_RATIO
    print(f"\n{'PASS' if ok else 'FAIL'}: peak RSS after load within {TARGET_RATIO} × float32 size")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
