"""How fast diffusion repairs run on this machine, and what the next one should take.

The app learns the pace from every finished diffusion repair (seconds per network item call, per
model, device and precision, for full and draft sampling; ``engines.RepairPace``) and keeps it
between runs as JSON: ``{"model|device[|precision]": {"gradient": s, "draft": s}}``. fp32 keeps
the key it had before precisions were chosen. The repair panel shows :func:`estimate_seconds`.
Qt-free: the window stores the JSON text where it keeps its settings.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from simdps_studio.core.types import Audio, Gap
from simdps_studio.session import engines
from simdps_studio.session.repair import Repair


def pace_key(model: str | None, device: str, precision: str = "fp32") -> str:
    """The record's key for ``model`` (None: the default model) on ``device`` in ``precision``."""
    key = f"{model or engines.DEFAULT_MODEL}|{device}"
    return key if precision == "fp32" else f"{key}|{precision}"


@dataclass
class PaceRecord:
    """Every pace measured here, by :func:`pace_key`: ``{"gradient": s, "draft": s}``."""

    entries: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, text: str) -> PaceRecord:
        """The record stored as ``text``; an unreadable one is an empty record."""
        try:
            data = json.loads(text)
        except ValueError:
            return cls()
        return cls(data if isinstance(data, dict) else {})

    def to_json(self) -> str:
        return json.dumps(self.entries)

    def pace(self, model: str | None, device: str, precision: str = "fp32") -> engines.RepairPace:
        """The pace measured for ``model`` on ``device`` (empty before any measurement)."""
        entry = self.entries.get(pace_key(model, device, precision), {})
        known = {
            k: float(v)
            for k, v in (entry.items() if isinstance(entry, dict) else ())
            if k in ("gradient", "draft") and isinstance(v, (int, float)) and v > 0
        }
        return engines.RepairPace(known)

    def record(self, model: str | None, repair: Repair) -> bool:
        """Learn the pace of a finished repair; False when it says nothing about it (no
        diffusion sampling, or no device or timing recorded)."""
        info = repair.info
        calls = info.network_item_calls
        seconds = info.sampling_seconds
        device = info.device
        precision = str(info.precision or "fp32")
        if not calls or not seconds or not device:
            return False
        pace = self.pace(model, str(device), precision)
        pace.record(draft=bool(info.draft), seconds=float(seconds), calls=calls)
        self.entries[pace_key(model, str(device), precision)] = pace.seconds_per_call
        return True


@dataclass(frozen=True)
class Estimate:
    """Expected sampling seconds of a diffusion repair (None before any measurement)."""

    seconds: float | None
    draft_seconds: float | None


def estimate_seconds(
    pace: engines.RepairPace,
    audio: Audio,
    gap: Gap,
    request: engines.RepairRequest,
    steps_for: Callable[[bool], int],
) -> Estimate | None:
    """What repairing ``gap`` with ``request`` should take at ``pace``, with the request's draft
    setting and in draft mode; None when it is no diffusion repair or the model is unknown.

    Parameters
    ----------
    steps_for : callable(draft) -> int
        The sampler steps of each mode (the panel keeps one number per mode).
    """
    sr = audio.sr
    window_s = engines.model_window_s(request.model)
    method = engines.resolve_method(request, gap, sr)
    if method not in ("simdps", "dps") or not window_s:
        return None
    items = engines.model_items(audio, gap, window_s)
    warm = method == "simdps"

    def calls(draft: bool) -> int:
        steps = steps_for(draft)
        return engines.network_item_calls(
            gap.duration_s(sr),
            window_s,
            steps=engines.warm_start_steps(steps, request.start_sigma) if warm else steps,
            takes=request.takes,
            items=items,
            draft=draft,
        )

    return Estimate(
        pace.estimate(draft=request.draft, calls=calls(request.draft)),
        pace.estimate(draft=True, calls=calls(True)),
    )
