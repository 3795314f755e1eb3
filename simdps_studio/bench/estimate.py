"""The quality benchmark's time model: how long a run's repairs should take, and the time left.

Budgets on the idle 2-core development machine with ``piano-small`` (the plan and its estimate are
printed first): the default run (one track per material, five gap lengths, seven methods, 30
steps) 49.7 minutes of repairs plus 1.7 minutes preparing the material, measured 2026-12-01 (2.2
hours on a host that ran the network 3 times slower);
``--quick`` (gaps 0.5 and 2 s, diffusion in draft mode at 12 steps) 3.4-3.75 minutes measured on
the slower host (not measured on the faster one); material preparation once (rendering the
corpus: a few minutes).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from simdps_studio.bench.config import BenchConfig, MethodSpec
from simdps_studio.session.engines import n_windows

# ----------------------------------------------------------------------------- settings

#: Budget of a full run on the 2-core development machine, minutes.
FULL_BUDGET_MIN = 60.0

#: Seconds per sampler step and model window, mono, ``small`` preset, idle 2-core development
#: CPU (measured with this benchmark: a DPS or SimDPS repair of one window at 35 steps took
#: 52-53 s; draft from the README's sampling benchmark, 0.27 s, plus margin). Other presets are
#: scaled by :data:`PRESET_SPEED`.
STEP_S = {"dps": 1.46, "simdps": 1.47, "draft": 0.29}
PRESET_SPEED = {"tiny": 0.1, "small": 1.0, "paper": 40.0}
#: One forward + input-gradient pass, batch 1, on the machine :data:`STEP_S` was measured on
#: (``benchmarks/model_speed.py``), seconds: the plan scales its estimate by this host's own.
REFERENCE_CALL_S = {"tiny": 0.05, "small": 0.58}
#: Seconds per repair besides sampling (search, model load, render, metrics), and for LPC.
OVERHEAD_S = 1.0
LPC_S = 0.3
SIM_S = 0.2


# ----------------------------------------------------------------------------- estimate


def model_config(model: str) -> dict:
    """The model's ``config.json`` (empty when it cannot be read)."""
    from simdps_studio.core.paths import models_dir

    p = Path(model)
    folder = (
        p
        if (os.sep in model or model.startswith((".", "~")) or p.is_dir())
        else models_dir() / model
    )
    try:
        return json.loads((folder.expanduser() / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def case_seconds(
    spec: MethodSpec, gap_s: float, steps: int, model_cfg: dict, speed: float = 1.0
) -> float:
    """Expected wall time of one repair (mono track), seconds: on the idle 2-core reference
    machine, the sampling scaled by ``speed`` (:func:`host_speed_factor`)."""
    if not spec.diffusion:
        return LPC_S if spec.engine == "lpc" else SIM_S
    window_s = float(model_cfg.get("segment_length", 81920)) / float(
        model_cfg.get("sample_rate", 22050)
    )
    preset_speed = PRESET_SPEED.get(str(model_cfg.get("preset", "small")), 1.0)
    per_step = STEP_S["draft"] if spec.draft else STEP_S[spec.engine]
    return n_windows(gap_s, window_s) * steps * per_step * preset_speed * speed + OVERHEAD_S


def host_speed_factor(config: BenchConfig, model_cfg: dict) -> float:
    """This CPU's time for the run's network against the reference machine's (> 1: slower).

    Measured with :func:`simdps_studio.inpaint.precond.network_call_seconds` (a few seconds);
    1.0 when nothing is sampled, the run is on CUDA or the preset has no reference time.
    """
    preset = str(model_cfg.get("preset", ""))
    if not config.needs_model or preset not in REFERENCE_CALL_S:
        return 1.0
    from simdps_studio.inpaint.device import resolve_device
    from simdps_studio.inpaint.precond import network_call_seconds

    if resolve_device(config.device).type != "cpu":
        return 1.0
    return network_call_seconds(preset) / REFERENCE_CALL_S[preset]


def estimate_seconds(
    config: BenchConfig, track_count: int, model_cfg: dict | None = None, speed: float = 1.0
) -> dict[str, float]:
    """Expected wall time of a run's repairs, seconds, by part: on the idle 2-core reference
    machine, the sampling scaled by ``speed`` (:func:`host_speed_factor`).

    Per diffusion repair: model windows (:func:`n_windows`) x steps x seconds per step
    (:data:`STEP_S`, scaled by :data:`PRESET_SPEED`) + :data:`OVERHEAD_S`.

    Returns
    -------
    dict
        ``diffusion``, ``other`` and ``total`` seconds, and ``repairs`` (their number).
    """
    cfg = model_config(config.model) if model_cfg is None else model_cfg
    diffusion = other = 0.0
    for gap_s in config.gaps_s:
        for m in config.methods:
            t = track_count * case_seconds(m, gap_s, config.steps, cfg, speed)
            if m.diffusion:
                diffusion += t
            else:
                other += t
    return {
        "diffusion": diffusion,
        "other": other,
        "total": diffusion + other,
        "repairs": float(track_count * len(config.gaps_s) * len(config.methods)),
    }


def format_seconds(seconds: float) -> str:
    """``"42 s"`` below 90 s, else ``"1.5 min"`` (negative counts as 0)."""
    seconds = max(0.0, float(seconds))
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


class Eta:
    """Time left: the estimate of the remaining diffusion and other repairs, each scaled by how
    long the finished ones of its kind took against their estimate (1 until one finished)."""

    def __init__(self, diffusion_s: float, other_s: float) -> None:
        self.left = {True: diffusion_s, False: other_s}
        self.estimated = {True: 0.0, False: 0.0}
        self.took = {True: 0.0, False: 0.0}

    def record(self, diffusion: bool, estimated_s: float, took_s: float) -> None:
        """A repair finished: estimated at ``estimated_s``, it took ``took_s``."""
        self.left[diffusion] = max(0.0, self.left[diffusion] - estimated_s)
        self.estimated[diffusion] += estimated_s
        self.took[diffusion] += took_s

    def skip(self, diffusion: bool, estimated_s: float) -> None:
        """A repair kept from an earlier run: no longer ahead, and not timed now."""
        self.left[diffusion] = max(0.0, self.left[diffusion] - estimated_s)

    def remaining(self) -> float:
        """Seconds left, by the estimate corrected by the pace so far."""
        return sum(
            left * (self.took[k] / self.estimated[k] if self.estimated[k] > 0 else 1.0)
            for k, left in self.left.items()
        )
