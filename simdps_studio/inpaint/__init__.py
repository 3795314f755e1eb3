"""Diffusion inpainting: CQT transform, score network, EDM sampler, guidance, checkpoints (torch).

Importing this package imports nothing heavy: the names below load their module on first use, so
``import simdps_studio.inpaint`` stays cheap and submodules never import each other by accident.
Two submodules import no torch at all and are read by the torch-free layers too: ``settings``
(the sampler's and the repair's defaults) and ``registry`` (where models live, which are installed).
"""

from __future__ import annotations

import importlib
import os
from typing import Any

# OpenMP threads that spin while waiting (GNU OpenMP's default) slow every torch operation down
# many times over when another process wants the same cores, and steal time from the GUI and the
# audio callback. Passive waiting costs little on an idle machine. Only effective if set before
# torch is first imported, and never overrides a value the user chose.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

#: Public name -> submodule that defines it (loaded lazily on first attribute access).
_LAZY = {
    "MultiResCQT": "cqt",
    "ModelConfig": "presets",
    "get_config": "presets",
    "preset_names": "presets",
    "Denoiser": "precond",
    "build_denoiser": "precond",
    "load_model": "checkpoint",
    "save_model": "checkpoint",
    "model_info": "checkpoint",
    "models_dir": "registry",
    "installed_models": "registry",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
