"""Which precision the score network runs in: fp32, or bf16 where it is measurably faster.

``--precision auto`` (the default of repairs, training and the quality benchmark) decides per
device:

- **CUDA:** bf16 where the GPU supports it (its tensor cores), fp32 otherwise.
- **CPU:** bf16 only where the processor has bf16 matrix instructions (``amx_bf16`` and
  ``amx_tile``: AMX; ``avx512_bf16``: AVX512-BF16; ``bf16`` on ARM; elsewhere, without
  ``/proc/cpuinfo``, oneDNN's own bf16 check) **and** a short one-off measurement on this host
  shows the guided network call (forward + input gradient) at least :data:`MIN_SPEEDUP` times
  faster under ``torch.autocast(dtype=torch.bfloat16)`` than in fp32. The flags alone are not
  enough: a processor may decode the instructions yet run them slowly, and then bf16 costs
  precision for nothing.

The measurement (:func:`measure_bf16_speedup`, a few seconds) is cached as JSON in the user's
cache folder (``bf16-speed.json`` under ``cache_dir("precision")``, or ``$SIMDPS_PRECISION_CACHE``),
keyed by the host (processor model, flags, threads) and the torch version, and made again when
either changes. Training (``training=True``) also needs one bf16 training step to survive in a
child process: on this project's AVX512-BF16 host (AMD EPYC, no AMX) torch 2.13's bf16 weight
gradients of the ``small`` network crash the process (a segmentation fault inside a
``vdpbf16ps`` kernel), while inference with bf16 runs fine; the probe's verdict is cached with
the measurement. Only the network forward runs in bf16: the guidance arithmetic, the CQT (FFTs,
which autocast leaves in fp32; the network's head casts back to fp32 before the inverse CQT) and
the splice stay fp32, so every sample outside a repaired span is untouched whatever runs.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from simdps_studio.core.errors import InputError

#: What a user may ask for (``fp16`` stays a CUDA-only option of the library and training).
USER_PRECISIONS = ("auto", "fp32", "bf16")
#: ``auto`` takes bf16 on a CPU only when the guided network call is at least this much faster.
MIN_SPEEDUP = 1.2
#: The preset measured when none (or a custom one) is named: the default model's. Each preset is
#: measured on its own (``tiny``'s small convolutions gain little from bf16: 1.1× here).
MEASURE_PRESET = "small"
#: Cache file name inside ``cache_dir("precision")``.
CACHE_NAME = "bf16-speed.json"
#: Environment variable that names another cache file (tests, read-only homes).
CACHE_ENV = "SIMDPS_PRECISION_CACHE"

_LOCK = threading.Lock()  # the GUI's device probe and a repair may ask at the same time


@dataclass(frozen=True)
class PrecisionChoice:
    """The precision that will run and why.

    Attributes
    ----------
    precision : {"fp32", "bf16", "fp16"}
        What the network forward runs in.
    reason : str
        For people, starting with the precision: ``bf16: AVX512-BF16, 1.9× measured``,
        ``fp32: no bf16 matrix support``, ``fp32: bf16 measured 0.9×``, ``fp32: asked for``.
    speedup : float or None
        The measured fp32/bf16 time ratio of the guided call, when one was measured.
    """

    precision: str
    reason: str
    speedup: float | None = None


@dataclass(frozen=True)
class CpuInfo:
    """The processor as far as precision is concerned: its model name and feature flags."""

    model: str
    flags: frozenset[str]


def read_cpu_info(text: str | None = None) -> CpuInfo | None:
    """Model name and flags of the first processor in ``/proc/cpuinfo`` (Linux).

    Parameters
    ----------
    text : str, optional
        The file's contents (tests); read from ``/proc/cpuinfo`` when None.

    Returns
    -------
    CpuInfo or None
        None where there is no ``/proc/cpuinfo`` (macOS, Windows) or it lists no flags.
    """
    if text is None:
        try:
            text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
    model, flags = "", None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "cpu model", "hardware") and not model:
            model = value.strip()
        elif key in ("flags", "features") and flags is None:  # x86 "flags", ARM "Features"
            flags = frozenset(value.split())
    if flags is None:
        return None
    return CpuInfo(model or platform.processor() or platform.machine(), flags)


def bf16_support(cpu: CpuInfo | None) -> str | None:
    """The processor's bf16 matrix support by name, or None.

    ``AMX`` (``amx_bf16`` and ``amx_tile``), ``AVX512-BF16`` (``avx512_bf16``), ``ARM BF16``
    (``bf16``); without flags to read, ``oneDNN bf16`` when torch's oneDNN reports bf16 support.
    """
    if cpu is None:
        return "oneDNN bf16" if _onednn_bf16() else None
    if {"amx_bf16", "amx_tile"} <= cpu.flags:
        return "AMX"
    if "avx512_bf16" in cpu.flags:
        return "AVX512-BF16"
    if "bf16" in cpu.flags:
        return "ARM BF16"
    return None


def _onednn_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def cpu_flags_line(cpu: CpuInfo | None = None) -> str:
    """The processor and its precision-relevant flags, for benchmark headers.

    E.g. ``AMD EPYC; flags avx512f avx512_bf16 avx512_vnni (no amx)``.
    """
    cpu = read_cpu_info() if cpu is None else cpu
    if cpu is None:
        return f"{platform.processor() or platform.machine()}; flags unknown"
    wanted = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16", "bf16")
    shown = [f for f in wanted if f in cpu.flags]
    amx = "" if "amx_tile" in cpu.flags else " (no amx)"
    return f"{cpu.model}; flags {' '.join(shown) or 'none of interest'}{amx}"


def host_key(cpu: CpuInfo | None, preset: str = MEASURE_PRESET) -> str:
    """What a cached measurement is valid for: processor, flags, threads, torch, preset."""
    flags = " ".join(sorted(cpu.flags)) if cpu is not None else "no flags"
    digest = hashlib.sha256(flags.encode()).hexdigest()[:12]
    model = cpu.model if cpu is not None else platform.processor() or platform.machine()
    return (
        f"{model} | flags {digest} | {torch.get_num_threads()} threads | "
        f"torch {torch.__version__} | {preset}"
    )


def cache_path() -> Path:
    """The measurement cache: ``$SIMDPS_PRECISION_CACHE`` or ``cache_dir("precision")``."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override)
    from simdps_studio.core.paths import cache_dir

    return cache_dir("precision") / CACHE_NAME


def measure_bf16_speedup(preset: str = MEASURE_PRESET, *, repeats: int = 3) -> dict[str, float]:
    """Time one guided network call (forward + input gradient) in fp32 and under bf16 autocast.

    Batch 1, half a model window where the network supports it (the ratio is the same as on a
    whole one, at half the cost), randomly initialised weights (speed does not depend on them);
    the two precisions alternate so that load on a shared machine hits both alike, and the
    fastest of three calls each counts (one call each, under load from other processes, once
    measured 0.92× where three measure 1.5×). About 5 s for ``small`` on 2 idle cores (building
    the model included).

    Parameters
    ----------
    preset : str
        Size preset (:mod:`.presets`).
    repeats : int
        Timed calls of each precision after one warm-up each; the fastest counts.

    Returns
    -------
    dict
        ``fp32_s``, ``bf16_s`` (seconds per call) and ``speedup`` (their ratio).
    """
    from simdps_studio.inpaint.precond import build_denoiser

    gen_state = torch.random.get_rng_state()
    try:
        model = build_denoiser(preset).eval().requires_grad_(False)
        n = model.segment_length // 2
        if n % 4096 or not model.supports_length(n):
            n = model.segment_length
        x = torch.zeros(1, n).normal_(0.0, 0.1)
    finally:
        torch.random.set_rng_state(gen_state)  # the caller's random stream stays as it was
    sigma = torch.full((1,), 0.5)

    def call(dtype: torch.dtype | None) -> float:
        x_in = x.clone().requires_grad_(True)
        t0 = time.perf_counter()
        if dtype is None:
            out = model(x_in, sigma)
        else:
            with torch.autocast("cpu", dtype=dtype):
                out = model(x_in, sigma)
        torch.autograd.grad(out.float().square().sum(), x_in)
        return time.perf_counter() - t0

    best = {"fp32_s": math.inf, "bf16_s": math.inf}
    for i in range(repeats + 1):
        t32, t16 = call(None), call(torch.bfloat16)
        if i > 0:
            best["fp32_s"] = min(best["fp32_s"], t32)
            best["bf16_s"] = min(best["bf16_s"], t16)
    best["speedup"] = best["fp32_s"] / best["bf16_s"]
    return best


def _read_cache(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def cached_speedup(
    key: str,
    measure: Callable[[], dict[str, float]],
    *,
    path: Path | None = None,
) -> dict[str, Any]:
    """The bf16 measurement for ``key``, from the cache or measured now (and cached).

    Parameters
    ----------
    key : str
        :func:`host_key`: a changed processor or torch version makes a new key.
    measure : callable
        Returns :func:`measure_bf16_speedup`'s dict; called only on a cache miss.
    path : Path, optional
        The cache file (default :func:`cache_path`). A cache that cannot be written only costs
        a new measurement next time.

    Returns
    -------
    dict
        The measurement with ``key``, ``measured_at`` (UTC, ISO 8601) and ``cached`` (whether it
        came from the file).
    """
    path = cache_path() if path is None else Path(path)
    with _LOCK:
        data = _read_cache(path)
        entry = data.get(key)
        if isinstance(entry, dict) and isinstance(entry.get("speedup"), (int, float)):
            return {**entry, "cached": True}
        result = dict(measure())
        entry = {
            "fp32_s": round(float(result["fp32_s"]), 4),
            "bf16_s": round(float(result["bf16_s"]), 4),
            "speedup": round(float(result["speedup"]), 3),
            "key": key,
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        data[key] = entry
        _write_cache(path, data)
        return {**entry, "cached": False}


def _write_cache(path: Path, data: dict[str, Any]) -> None:
    """Write the cache atomically; a cache that cannot be written only costs a new measurement."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass


def _bf16_train_step(preset: str) -> None:
    """One bf16-autocast training step (EDM loss, backward, Adam) of ``preset``: the body of
    :func:`probe_bf16_training`, run in a child process."""
    from simdps_studio.inpaint.precond import build_denoiser
    from simdps_studio.inpaint.train import edm_loss

    torch.manual_seed(0)
    net = build_denoiser(preset).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    x = 0.1 * torch.randn(2, net.segment_length)
    noise = torch.randn(2, net.segment_length)
    sigma = torch.tensor([0.05, 1.0])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = edm_loss(net, x, sigma, noise, net.sigma_data)
    loss.backward()
    opt.step()


def probe_bf16_training(preset: str = MEASURE_PRESET, *, timeout_s: float = 900.0) -> bool:
    """Whether a bf16 training step of ``preset`` completes here (run in a child process, so a
    crash in the bf16 kernels cannot take the caller with it). False inside the bundled app,
    which cannot start a Python child."""
    if getattr(sys, "frozen", False):
        return False
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    code = "import sys; from simdps_studio.inpaint.precision import _bf16_train_step as f; f(sys.argv[1])"
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, preset],
            capture_output=True,
            timeout=timeout_s,
            env=env,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def cached_training_ok(key: str, probe: Callable[[], bool], *, path: Path | None = None) -> bool:
    """:func:`probe_bf16_training`'s verdict for ``key``, from the cache or probed now."""
    path = cache_path() if path is None else Path(path)
    key = f"{key} | training"
    with _LOCK:
        data = _read_cache(path)
        entry = data.get(key)
        if isinstance(entry, dict) and isinstance(entry.get("training_ok"), bool):
            return entry["training_ok"]
        ok = bool(probe())
        data[key] = {
            "training_ok": ok,
            "key": key,
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        _write_cache(path, data)
        return ok


def resolve_precision(
    requested: str = "auto",
    device: torch.device | str = "cpu",
    *,
    measure: Callable[[], dict[str, float]] | None = None,
    cpu: CpuInfo | str | None = "read",
    cache: Path | None = None,
    preset: str | None = None,
    training: bool = False,
    train_probe: Callable[[], bool] | None = None,
) -> PrecisionChoice:
    """The precision a network call on ``device`` runs in, and why.

    Parameters
    ----------
    requested : {"auto", "fp32", "bf16", "fp16"}
        The user's choice; ``fp16`` is honoured on CUDA only (fp32 on the CPU).
    device : torch.device or str
        Where the network runs.
    measure : callable, optional
        Replaces :func:`measure_bf16_speedup` (tests inject a result so that they do not depend
        on the test machine's processor).
    cpu : CpuInfo or None, optional
        The processor (None: unknown); read from ``/proc/cpuinfo`` by default.
    cache : Path, optional
        The measurement cache file (default :func:`cache_path`).
    preset : str, optional
        The size preset of the model that will run (measured and cached per preset); None or a
        custom one: :data:`MEASURE_PRESET`.
    training : bool
        For training: ``auto`` on a CPU also needs a bf16 training step to complete here
        (:func:`probe_bf16_training`, cached).
    train_probe : callable, optional
        Replaces :func:`probe_bf16_training` (tests).

    Returns
    -------
    PrecisionChoice

    Raises
    ------
    InputError
        For an unknown precision name.
    """
    key = str(requested).strip().lower()
    if key not in (*USER_PRECISIONS, "fp16"):
        raise InputError(f"unknown precision {requested!r} (choose auto, fp32 or bf16)")
    device = torch.device(device)
    if device.type == "cuda":
        return _resolve_cuda(key)
    if key == "fp32":
        return PrecisionChoice("fp32", "fp32: asked for")
    if key == "fp16":
        return PrecisionChoice("fp32", "fp32: fp16 runs on CUDA only")
    info = read_cpu_info() if cpu == "read" else cpu
    support = bf16_support(info)  # type: ignore[arg-type]
    if key == "bf16":
        how = support or "no bf16 matrix support, likely slower"
        return PrecisionChoice("bf16", f"bf16: asked for ({how})")
    if support is None:
        return PrecisionChoice("fp32", "fp32: no bf16 matrix support")
    preset = _measured_preset(preset)
    try:
        result = cached_speedup(
            host_key(info, preset),  # type: ignore[arg-type]
            measure or (lambda: measure_bf16_speedup(preset)),
            path=cache,
        )
        speedup = float(result["speedup"])
    except Exception as exc:  # a failed measurement must never stop a repair: fp32 always works
        return PrecisionChoice("fp32", f"fp32: bf16 could not be measured ({type(exc).__name__})")
    if not math.isfinite(speedup) or speedup < MIN_SPEEDUP:
        return PrecisionChoice("fp32", f"fp32: bf16 measured {speedup:.2f}×", speedup)
    if training and info is not None and not {"amx_bf16", "amx_tile"} <= info.flags:
        # torch 2.13's AVX512-BF16 (no AMX) backward kernels read out of bounds: training
        # segfaults after a varying number of steps (seen on AMD Zen 4 after 0 to ~40 steps), so
        # a probe that survives proves nothing. Inference never crashed there.
        return PrecisionChoice("fp32", "fp32: bf16 training crashes without AMX (torch 2.13)")
    if training and not cached_training_ok(
        host_key(info, preset),  # type: ignore[arg-type]
        train_probe or (lambda: probe_bf16_training(preset)),
        path=cache,
    ):
        return PrecisionChoice("fp32", "fp32: a bf16 training step crashed here", speedup)
    return PrecisionChoice("bf16", f"bf16: {support}, {speedup:.1f}× measured", speedup)


def _measured_preset(preset: str | None) -> str:
    from simdps_studio.inpaint.presets import preset_names

    return preset if preset in preset_names() else MEASURE_PRESET


def _resolve_cuda(key: str) -> PrecisionChoice:
    bf16_ok = torch.cuda.is_bf16_supported()
    if key == "fp32":
        return PrecisionChoice("fp32", "fp32: asked for")
    if key == "fp16":
        return PrecisionChoice("fp16", "fp16: asked for")
    if key == "bf16":
        return (
            PrecisionChoice("bf16", "bf16: asked for")
            if bf16_ok
            else PrecisionChoice("fp16", "fp16: asked for bf16, which this GPU lacks")
        )
    if bf16_ok:
        return PrecisionChoice("bf16", "bf16: CUDA bf16 support")
    return PrecisionChoice("fp32", "fp32: this GPU has no bf16")


__all__ = [
    "MIN_SPEEDUP",
    "USER_PRECISIONS",
    "CpuInfo",
    "PrecisionChoice",
    "bf16_support",
    "cache_path",
    "cached_speedup",
    "cpu_flags_line",
    "host_key",
    "measure_bf16_speedup",
    "probe_bf16_training",
    "read_cpu_info",
    "resolve_precision",
]
