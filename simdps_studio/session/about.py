"""What this build is: version, the model repairs will use, the compute device, library versions.

Shared by ``simdps-studio --version`` and the app's About dialog. Qt-free; the model is described
from its ``config.json`` alone (no torch), and only the device probe imports torch (through
``inpaint.device``), so ``--version`` costs about one torch import.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from typing import Any

from simdps_studio import __version__
from simdps_studio.inpaint.registry import installed_models, model_installed, resolve_model_dir
from simdps_studio.inpaint.settings import DEFAULT_MODEL

APP_NAME = "SimDPS Studio"


def model_summary(model: str | None = None) -> dict[str, Any]:
    """Describe the model a repair would use, from its ``config.json`` (weights are not loaded).

    Parameters
    ----------
    model : str, optional
        A model name or folder; None for the default model (``settings.DEFAULT_MODEL``).

    Returns
    -------
    dict
        ``name``, ``path``, ``default`` (bool), ``installed`` (bool), ``status`` (``"installed"``,
        ``"not installed"`` or ``"unreadable: ..."``), ``preset``, ``n_parameters`` and
        ``sample_rate`` (None when unknown).
    """
    name = model or DEFAULT_MODEL
    folder = resolve_model_dir(name)
    info: dict[str, Any] = {
        "name": folder.name if os.sep in name else name,
        "path": str(folder),
        "default": model is None or model == DEFAULT_MODEL,
        "installed": False,
        "status": "not installed",
        "preset": None,
        "n_parameters": None,
        "sample_rate": None,
    }
    if not model_installed(folder):
        return info
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        if not isinstance(config, dict):
            raise ValueError("config.json is not an object")
    except (OSError, ValueError) as e:
        info["status"] = f"unreadable: {' '.join(str(e).split())[:120]}"
        return info
    n_params = config.get("n_parameters")
    rate = config.get("sample_rate")
    info.update(
        installed=True,
        status="installed",
        preset=config.get("preset") if isinstance(config.get("preset"), str) else None,
        n_parameters=n_params if isinstance(n_params, int) else None,
        sample_rate=rate if isinstance(rate, int) else None,
    )
    return info


#: Between the device and the precision in :func:`device_label`.
PRECISION_SEPARATOR = " · "


def device_label(precision: str = "auto", model: str | None = None) -> str:
    """Where diffusion sampling runs with ``--device auto`` and in which precision, and why, e.g.
    ``CUDA (NVIDIA H100 80GB HBM3) · bf16: CUDA bf16 support`` or ``CPU (2 threads) · bf16:
    AVX512-BF16, 1.9× measured`` (imports torch; ``auto`` on a CPU with bf16 instructions
    measures bf16 once per host, torch version and model preset (``model``'s, the default
    model's when None), a few seconds, then reads the cache)."""
    try:
        from simdps_studio.inpaint.device import device_name, resolve_device
        from simdps_studio.inpaint.precision import resolve_precision
    except ImportError as e:
        return f"CPU (diffusion unavailable: {e.name or 'torch'} is not installed)"
    try:
        device = resolve_device("auto")
        choice = resolve_precision(precision, device, preset=model_summary(model)["preset"])
        return f"{device_name(device)}{PRECISION_SEPARATOR}{choice.reason}"
    except Exception as e:  # a broken CUDA driver must not break --version or the About dialog
        return f"unknown ({' '.join(str(e).split())[:120]})"


def split_device_label(label: str) -> tuple[str, str]:
    """A :func:`device_label` as (device, precision): ``("CPU (2 threads)", "bf16")``; a label
    without a precision (torch missing, an older label) is fp32."""
    device, _, reason = label.partition(PRECISION_SEPARATOR)
    precision = reason.split(":", 1)[0].strip()
    return device, precision if precision in ("fp32", "bf16", "fp16") else "fp32"


def audio_label() -> str:
    """The PortAudio library and the default output, e.g. ``PortAudio V19.6.0-devel: default
    (ALSA)``, or why playback is off (``PortAudio V19.6.0-devel: playback is off: no audio output
    device ...``, ``playback is off: the PortAudio library is missing ...``)."""
    from simdps_studio.audio.player import playback_available

    _ok, message = playback_available()
    sd = sys.modules.get("sounddevice")  # loaded by the check above when PortAudio was found
    try:
        version = sd.get_portaudio_version()[1].split(",")[0] if sd is not None else ""
    except Exception:  # an odd PortAudio build: the version is a nicety
        version = ""
    return f"{version}: {message}" if version else message


def build_info(
    model: str | None = None, *, device: str | None = None, audio: str | None = None
) -> dict[str, Any]:
    """Version, model, device and library versions of this build.

    Parameters
    ----------
    model : str, optional
        The model name or folder the caller will use; None for the default model.
    device : str, optional
        An already known device label (the app probes it on a worker thread at start-up); None
        probes it now, which imports torch.
    audio : str, optional
        An already known playback description; None asks PortAudio now (:func:`audio_label`).

    Returns
    -------
    dict
        ``app``, ``version``, ``model`` (:func:`model_summary`), ``installed_models``, ``device``,
        ``audio``, ``torch`` (version or None), ``python``, ``platform`` and ``bundled`` (True
        inside the PyInstaller app).
    """
    label = device if device is not None else device_label()
    torch = sys.modules.get("torch")  # imported by the device probe, if at all
    return {
        "app": APP_NAME,
        "version": __version__,
        "model": model_summary(model),
        "installed_models": installed_models(),
        "device": label,
        "audio": audio if audio is not None else audio_label(),
        "torch": getattr(torch, "__version__", None) if torch is not None else None,
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "bundled": bool(getattr(sys, "frozen", False)),
    }


def format_model(model: dict[str, Any]) -> str:
    """One line for a :func:`model_summary`, e.g. ``piano-small (default): preset small, 2,840,096
    parameters, 22050 Hz`` or ``piano-small (default): not installed``."""
    head = model["name"] + (" (default)" if model.get("default") else "")
    if not model.get("installed"):
        status = model.get("status", "not installed")
        if status == "not installed":
            status += " (SimDPS/DPS need a trained model; Auto uses Sim)"
        return f"{head}: {status}"
    parts = []
    if model.get("preset"):
        parts.append(f"preset {model['preset']}")
    if model.get("n_parameters") is not None:
        parts.append(f"{model['n_parameters']:,} parameters")
    if model.get("sample_rate"):
        parts.append(f"{model['sample_rate']} Hz")
    return f"{head}: {', '.join(parts) or 'installed'}"


def format_libraries(info: dict[str, Any]) -> str:
    """``torch 2.13.0+cpu · Qt 6.11.3 · Python 3.11.2 · Linux x86_64 · bundled``."""
    parts = [f"torch {info['torch']}" if info.get("torch") else "torch not loaded"]
    if info.get("qt"):
        parts.append(f"Qt {info['qt']}")
    parts.append(f"Python {info['python']}")
    parts.append(info["platform"])
    if info.get("bundled"):
        parts.append("bundled app")
    return " · ".join(parts)


def format_build_info(info: dict[str, Any]) -> str:
    """The text ``simdps-studio --version`` prints: one line each for version, model, installed
    models, device, audio and libraries."""
    others = ", ".join(info.get("installed_models") or []) or "none"
    return "\n".join(
        [
            f"{info['app']} {info['version']}",
            f"model:     {format_model(info['model'])}",
            f"installed: {others}",
            f"device:    {info['device']}",
            f"audio:     {info.get('audio', 'unknown')}",
            f"libraries: {format_libraries(info)}",
        ]
    )
