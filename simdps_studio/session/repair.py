"""A repair: the fill of one gap, as an immutable object the session can toggle, compare or drop.

A repair replaces the *repaired span* ``[span_start_sample, span_end_sample)``: the gap plus the
declared crossfade margin on each side (docs/architecture.md, section 2). Every sample outside the
span keeps the source's value. :class:`RepairInfo` is the typed record of what produced a fill; a
:class:`Repair` stores it in its serialised form, ``params`` (the project file's and the
provenance's JSON), and code reads it through :attr:`Repair.info`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from simdps_studio.core.types import Gap

#: Methods a repair can be made with.
METHODS = ("lpc", "sim", "dps", "simdps")
#: How the app and the undo history name them.
METHOD_LABELS = {"lpc": "LPC", "sim": "Sim", "dps": "DPS", "simdps": "SimDPS"}


@dataclass(frozen=True)
class RepairInfo:
    """What produced a repair's fill: the typed form of :attr:`Repair.params`.

    Every field is optional (None: not recorded; a Sim repair has no ω, an LPC one no candidate,
    and older project files lack later fields). :meth:`to_params` writes the recorded fields in
    the order below, which is the order the engine records them in, so a record read with
    :meth:`from_params` and written again is the same JSON.

    Attributes
    ----------
    method_requested : str
        The method asked for (``"auto"`` or one of :data:`METHODS`).
    candidate : dict
        The candidate used: ``search.candidates.Candidate.to_dict()`` (``start_sample``,
        ``start_s``, ``cost``, ``score``, ...), or ``{"source": "guide file"}``.
    prior_fit : dict
        The prior's fit to the context (``loss``, ``reference``, ``ratio``, ``poor``;
        ``session.engines.fit_record``); a diffusion repair records None when it was not measured.
    prior_fit_seconds : float
        Time of the fit check (benchmarks take it out of a method's time).
    omega_auto : dict
        Automatic ω only: ``from_score`` (ω the candidate's score gave) and
        ``raised_for_poor_fit``.
    omega, omega_y : float
        Candidate and observation weights used (ω is 0 for DPS).
    steps : int
        Sampler steps asked for.
    draft : bool
        Whether the draft mode ran.
    model, device, precision, precision_reason : str
        Model name or folder, device description, network precision and why it was chosen.
    start_sigma : float
        The warm start's noise level; a diffusion repair records None for a start from noise.
    sampling_seconds : float
        Time of the sampling alone (the app's pace estimate).
    network_item_calls : int
        Network calls times items sampled.
    margin_ms : float
        Crossfade margin asked for (diffusion).
    margin_samples : list of int
        Margins the fill covers, ``[before, after]`` (diffusion).
    seed, take : int
        Seed of this take and its number (1-based).
    seconds : float
        Wall time of the whole repair.
    preview : bool
        True for a candidate's audition (never stored as a repair of the project).
    band_hz : dict
        A band-limited repair's band (``session.band.band_limit``): ``lo``, ``hi`` and the
        crossfades' width ``transition``, in Hz.
    extra : dict
        Recorded keys this version does not know (from other versions), written back unchanged.
    nulls : frozenset of str
        Fields recorded as JSON null instead of left out (see ``prior_fit``, ``start_sigma``).
    """

    method_requested: str | None = None
    candidate: dict[str, Any] | None = None
    prior_fit: dict[str, Any] | None = None
    prior_fit_seconds: float | None = None
    omega_auto: dict[str, Any] | None = None
    omega: float | None = None
    omega_y: float | None = None
    steps: int | None = None
    draft: bool | None = None
    model: str | None = None
    device: str | None = None
    precision: str | None = None
    precision_reason: str | None = None
    start_sigma: float | None = None
    sampling_seconds: float | None = None
    network_item_calls: int | None = None
    margin_ms: float | None = None
    margin_samples: list[int] | None = None
    seed: int | None = None
    take: int | None = None
    seconds: float | None = None
    preview: bool | None = None
    band_hz: dict[str, float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    nulls: frozenset[str] = frozenset()

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> RepairInfo:
        """Read a ``params`` record (a project file's, of any version); values are kept as stored.

        Parameters
        ----------
        params : mapping
            JSON object, as :meth:`to_params` writes it.

        Returns
        -------
        RepairInfo
        """
        known = _RECORD_FIELDS
        return cls(
            **{k: v for k, v in params.items() if k in known},
            extra={k: v for k, v in params.items() if k not in known},
            nulls=frozenset(k for k, v in params.items() if k in known and v is None),
        )

    def to_params(self) -> dict[str, Any]:
        """The JSON record: recorded fields in declaration order, then :attr:`extra`."""
        out = {
            name: getattr(self, name)
            for name in _RECORD_FIELDS
            if getattr(self, name) is not None or name in self.nulls
        }
        out.update(self.extra)
        return out

    @property
    def poor_fit(self) -> bool:
        """Whether the prior was found to fit the gap's context poorly."""
        return bool(isinstance(self.prior_fit, dict) and self.prior_fit.get("poor"))

    @property
    def raised_for_poor_fit(self) -> bool:
        """Whether automatic ω was raised because the prior fits the context poorly."""
        return bool((self.omega_auto or {}).get("raised_for_poor_fit"))

    @property
    def used_candidate(self) -> dict[str, Any]:
        """The candidate record, empty when none was used."""
        return dict(self.candidate or {})


_RECORD_FIELDS = tuple(f.name for f in fields(RepairInfo) if f.name not in ("extra", "nulls"))


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
        What produced it, serialised (:meth:`RepairInfo.to_params`; the project file stores it
        as is): read it through :attr:`info`.
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
    def info(self) -> RepairInfo:
        """What produced the fill, typed (read from :attr:`params`)."""
        return RepairInfo.from_params(self.params)

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
