"""Pack what one short call on a lent GPU machine needs into ``.gpukit/`` (git-ignored).

The device machine has PyTorch with CUDA but not this project's audio libraries, cannot reach
any registry, and receives at most 64 MiB of working tree per call. So this script

- downloads the wheels the GPU checks and training need there (soundfile, its cffi and
  pycparser, soxr) for the device's Python, and
- copies a subset of a rendered piano corpus (every held-out file, then training files taken in
  turn from each category until the size budget is spent) with a manifest listing only those.

``scripts/gpu_session.sh`` then runs on the device (see docs/gpu-session.md)::

    .venv/bin/python scripts/gpu_kit.py --data /work/data/piano --max-data-mib 36
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

WHEELS = ("soundfile==0.13.1", "cffi==2.1.1", "pycparser==3.12", "soxr==1.1.0")
DEVICE_PYTHON = "3.12"
PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
)


def download_wheels(dest: Path) -> list[Path]:
    """Fetch :data:`WHEELS` for the device's CPython into ``dest``; returns the wheel files."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
    cmd += ["--python-version", DEVICE_PYTHON, "--implementation", "cp", "-d", str(dest)]
    for platform in PLATFORMS:
        cmd += ["--platform", platform]
    subprocess.run([*cmd, *WHEELS], check=True)
    return sorted(dest.glob("*.whl"))


def pick_subset(items: list[dict], root: Path, max_bytes: int) -> list[dict]:
    """Every held-out file, then training files round-robin over categories, within ``max_bytes``.

    Parameters
    ----------
    items : list of dict
        The corpus manifest's ``files`` entries (``path`` relative to ``root``, ``split``).
    root : Path
        The corpus folder.
    max_bytes : int
        Size budget for the copied audio.

    Returns
    -------
    list of dict
        The chosen entries, manifest order kept.
    """
    size = {it["path"]: (root / it["path"]).stat().st_size for it in items}
    chosen = {it["path"] for it in items if it.get("split") == "val"}
    used = sum(size[p] for p in chosen)
    queues: dict[str, list[str]] = defaultdict(list)
    for it in items:
        if it.get("split") != "val":
            queues[str(it.get("category", ""))].append(it["path"])
    while any(queues.values()):
        for cat in sorted(queues):
            if queues[cat]:
                path = queues[cat].pop(0)
                if used + size[path] <= max_bytes:
                    chosen.add(path)
                    used += size[path]
    return [it for it in items if it["path"] in chosen]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="a `data render-piano` corpus folder")
    parser.add_argument("--max-data-mib", type=float, default=36.0)
    parser.add_argument("--out", default=".gpukit")
    parser.add_argument("--no-wheels", action="store_true", help="skip the wheel download")
    args = parser.parse_args()

    root, out = Path(args.data), Path(args.out)
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    subset = pick_subset(manifest["files"], root, int(args.max_data_mib * 2**20))
    if not any(it.get("split") != "val" for it in subset):
        sys.exit("error: the size budget leaves no training file; raise --max-data-mib")
    data_out = out / "data"
    if data_out.exists():
        shutil.rmtree(data_out)
    for it in subset:
        (data_out / it["path"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / it["path"], data_out / it["path"])
    hours = sum(float(it.get("seconds", 0.0)) for it in subset) / 3600
    manifest = {**manifest, "files": subset, "subset_of": str(root), "subset_hours": hours}
    (data_out / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    n_val = sum(it.get("split") == "val" for it in subset)
    mib = sum((data_out / it["path"]).stat().st_size for it in subset) / 2**20
    print(f"data: {len(subset)} files ({n_val} held out), {hours:.2f} h, {mib:.1f} MiB")
    if not args.no_wheels:
        wheels = download_wheels(out / "whl")
        print(f"wheels: {', '.join(w.name for w in wheels)}")


if __name__ == "__main__":
    main()
