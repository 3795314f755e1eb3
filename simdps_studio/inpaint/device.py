"""Compute device selection for sampling: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.

The network forward may run under bf16 autocast (on the CPU too, where the processor has bf16
matrix support: :mod:`.precision` decides ``auto``) or fp16 autocast (CUDA only); guidance
arithmetic stays in float32 either way.
"""

from __future__ import annotations

import torch

from simdps_studio.core.errors import InputError

DEVICE_CHOICES = ("auto", "cpu", "cuda")
PRECISION_CHOICES = ("fp32", "bf16", "fp16")


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """Turn a user's device choice into a :class:`torch.device`.

    Parameters
    ----------
    name : {"auto", "cpu", "cuda"} or torch.device
        ``auto`` picks CUDA when available, else the CPU. ``cuda:N`` selects a GPU by index.

    Returns
    -------
    torch.device

    Raises
    ------
    InputError
        For an unknown name, or ``cuda`` on a machine without CUDA.
    """
    if isinstance(name, torch.device):
        name = str(name)
    key = str(name).strip().lower()
    if key == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if key == "cpu":
        return torch.device("cpu")
    if key == "cuda" or key.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise InputError("CUDA is not available on this machine")
        device = torch.device(key)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise InputError(f"no CUDA device {device.index} on this machine")
        return device
    raise InputError(f"unknown device {name!r} (choose auto, cpu or cuda)")


def device_name(device: torch.device | str) -> str:
    """Human-readable device description, e.g. ``CUDA (NVIDIA H100 80GB HBM3)``, ``CPU (2 threads)``."""
    device = torch.device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"CUDA ({torch.cuda.get_device_name(index)})"
    threads = torch.get_num_threads()
    return f"CPU ({threads} thread{'s' if threads != 1 else ''})"


def autocast_dtype(device: torch.device, precision: str = "fp32") -> torch.dtype | None:
    """The autocast dtype for the network forward, or None for plain float32.

    Parameters
    ----------
    device : torch.device
        Where the network runs. The CPU runs bf16 (autocast) but not fp16, which stays fp32.
    precision : {"fp32", "bf16", "fp16"}
        Requested precision (already resolved: ``auto`` is :func:`.precision.resolve_precision`'s
        business); ``bf16`` falls back to fp16 on GPUs without bf16 support.

    Raises
    ------
    InputError
        For an unknown precision name.
    """
    key = precision.strip().lower()
    if key not in PRECISION_CHOICES:
        raise InputError(f"unknown precision {precision!r} (choose fp32, bf16 or fp16)")
    if key == "fp32":
        return None
    if device.type != "cuda":
        return torch.bfloat16 if key == "bf16" else None
    if key == "bf16":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float16
