"""A repair: the fill of one gap, as an immutable object the session can toggle, compare or drop.

A repair replaces the *repaired span* ``[span_start_sample, span_end_sample)``: the gap plus the
declared crossfade margin on each side (DESIGN.md section 4). Every sample outside the span keeps the
source's value.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from simdps_studio.core.types import Gap

#: Methods a repair can be made with.
METHODS = ("lpc", "sim", "dps", "simdps")
#: How the app and the undo history name them.
METHOD_LABELS = {"lpc": "LPC", "sim": "Sim", "dps": "DPS", "simdps": "SimDPS"}


@dataclass(frozen=True, eq=False)
class Repair:
    """The fill of one gap.

    Parameters
    ----------
    gap : Gap
        The gap it repairs.
    method : str
        One of :data:`METHODS`.
    span_start_sample : int
        First sample the fill replaces (``gap.start_sample - margin``, clipped at 0).
    fill : numpy.ndarray, shape (channels, span_length)
        Float32 samples at the track's rate for the whole repaired span.
    params : dict
        What produced it (candidate, ω, steps, seed, model, device, seconds, ...): JSON-serialisable.
    enabled : bool
        Whether render/export applies it (a disabled repair is kept for A/B comparison).
    repair_id : str
        Stable identifier, used to store the fill beside the project file.
    """

    gap: Gap
    method: str
    span_start_sample: int
    fill: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    repair_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def __post_init__(self) -> None:
        if self.fill.ndim != 2:
            raise ValueError(f"fill must be (channels, n), got shape {self.fill.shape}")
        if not (
            self.span_start_sample <= self.gap.start_sample
            and self.span_end_sample >= self.gap.end_sample
        ):
            raise ValueError("a repair's span must cover its gap")
        self.fill.setflags(write=False)

    @property
    def span_end_sample(self) -> int:
        """One past the last sample the fill replaces."""
        return self.span_start_sample + int(self.fill.shape[1])

    @property
    def margin_before(self) -> int:
        """Crossfade margin before the gap, in samples."""
        return self.gap.start_sample - self.span_start_sample

    @property
    def margin_after(self) -> int:
        """Crossfade margin after the gap, in samples."""
        return self.span_end_sample - self.gap.end_sample

    def with_enabled(self, enabled: bool) -> Repair:
        """Copy with ``enabled`` changed (same id and fill)."""
        return replace(self, enabled=enabled)

    def to_json(self) -> dict[str, Any]:
        """JSON description without the fill samples (stored separately)."""
        return {
            "id": self.repair_id,
            "gap": [self.gap.start_sample, self.gap.end_sample],
            "method": self.method,
            "span": [self.span_start_sample, self.span_end_sample],
            "enabled": self.enabled,
            "params": self.params,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any], fill: np.ndarray) -> Repair:
        """Inverse of :meth:`to_json` given the stored fill."""
        span = d["span"]
        if span[1] - span[0] != fill.shape[1]:
            raise ValueError(f"stored fill of repair {d['id']} has the wrong length")
        return cls(
            gap=Gap(*d["gap"]),
            method=d["method"],
            span_start_sample=int(span[0]),
            fill=np.asarray(fill, dtype=np.float32),
            params=dict(d.get("params", {})),
            enabled=bool(d.get("enabled", True)),
            repair_id=str(d["id"]),
        )
