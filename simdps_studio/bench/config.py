"""What a quality-benchmark run measures: gap lengths, methods, model, steps, seeds, output folder.

:class:`BenchConfig` holds every setting a run depends on; :func:`command_line` spells it out as the
command that reproduces it. The methods are named as on the command line (:func:`parse_method`).
The command-line options themselves are in :mod:`simdps_studio.bench.cli`.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from simdps_studio.bench.material import MATERIALS, RENDER_SEED
from simdps_studio.core.errors import InputError

# ----------------------------------------------------------------------------- settings

#: Gap lengths of a full run, seconds.
DEFAULT_GAPS_S = (0.25, 0.5, 1.0, 2.0, 4.0)
#: Gap lengths of a ``--quick`` run.
QUICK_GAPS_S = (0.5, 2.0)

DEFAULT_MODEL = "piano-small"
#: Sampler steps of a run, for every diffusion method (draft included). The app samples 35 steps
#: (20 in draft mode); the full run takes 30 so that it fits its 60-minute budget on the 2-core
#: development host (49.7 minutes of repairs measured; about 66 minutes at 35 steps; 2.2 hours at
#: 30 on a host that ran the network 3 times slower). Pass ``--steps 35`` to measure exactly the
#: app's full sampler.
DEFAULT_STEPS = 30
#: ``--quick``: draft sampling at fewer steps, one track per material, two gap lengths. 12 steps
#: scored as 20 did (same mean LSD for automatic ω, 5.79 dB; seams 1.43 vs 1.41) in 3.4-3.75
#: instead of 7.3 minutes on the slower host, inside the 5-minute budget there.
QUICK_STEPS = 12
#: Output folders (relative to the working directory): a full run, a quick one.
DEFAULT_OUT = "docs/benchmarks"
QUICK_OUT = "docs/benchmarks/quick"


# ----------------------------------------------------------------------------- methods


@dataclass(frozen=True)
class MethodSpec:
    """One benchmarked method: a name and the :class:`RepairRequest` settings it stands for.

    Attributes
    ----------
    name : str
        ``lpc``, ``sim``, ``dps``, ``simdps-<ω>``, ``simdps-auto`` or ``draft-<ω>``.
    engine : str
        The session's method (``lpc``, ``sim``, ``dps``, ``simdps``).
    omega : float or str
        ω_x̃ (``"auto"`` for the automatic rule); unused by LPC, Sim and DPS.
    draft : bool
        Draft sampling (no backpropagation).
    """

    name: str
    engine: str
    omega: float | str = 0.15
    draft: bool = False

    @property
    def diffusion(self) -> bool:
        """Whether the method samples the diffusion model."""
        return self.engine in ("dps", "simdps")

    @property
    def uses_candidate(self) -> bool:
        """Whether the method uses the rank-1 candidate."""
        return self.engine in ("sim", "simdps")


DEFAULT_METHODS = (
    "lpc",
    "sim",
    "dps",
    "simdps-0.04",
    "simdps-0.15",
    "simdps-auto",
    "draft-0.15",
)


def parse_method(name: str) -> MethodSpec:
    """The :class:`MethodSpec` of a method name (see :data:`DEFAULT_METHODS`).

    Raises
    ------
    InputError
        An unknown name or a bad ω.
    """
    key = name.strip().lower()
    if key in ("lpc", "sim", "dps"):
        return MethodSpec(key, key, 0.0 if key == "dps" else 0.15)
    for prefix, draft in (("simdps-", False), ("draft-", True)):
        if key.startswith(prefix):
            tail = key[len(prefix) :]
            if tail == "auto":
                return MethodSpec(key, "simdps", "auto", draft)
            try:
                omega = float(tail)
            except ValueError:
                break
            if not 0.0 <= omega <= 10.0:
                break
            return MethodSpec(f"{prefix}{omega:g}", "simdps", omega, draft)
    if key == "simdps":
        return MethodSpec("simdps-0.15", "simdps", 0.15)
    raise InputError(
        f"unknown method {name!r} (lpc, sim, dps, simdps-<ω>, simdps-auto, draft-<ω>, draft-auto)"
    )


def _parse_list(text: str | Sequence[Any], option: str, parse_item: Callable[[Any], Any]) -> list:
    """Items of a comma-separated option, parsed, duplicates removed, order kept."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out: list = []
    for item in items:
        if isinstance(item, str) and not item.strip():
            continue
        value = parse_item(item)
        if value not in out:
            out.append(value)
    if not out:
        raise InputError(f"{option} names nothing")
    return out


def parse_methods(text: str | Sequence[str]) -> list[MethodSpec]:
    """Method specs from ``"lpc,sim,..."`` (duplicates removed, order kept)."""
    return _parse_list(text, "--methods", parse_method)


def quick_variant(spec: MethodSpec) -> MethodSpec:
    """The ``--quick`` form of a method: diffusion methods sample in draft mode."""
    return replace(spec, draft=True) if spec.diffusion else spec


def _gap_length(item: Any) -> float:
    try:
        value = float(item)
    except (TypeError, ValueError):
        raise InputError(f"--gaps: not a number of seconds: {item!r}") from None
    if not 0.0 < value <= 30.0:
        raise InputError(f"--gaps: a gap length must lie in (0, 30] s, not {value}")
    return value


def parse_gaps(text: str | Sequence[float]) -> list[float]:
    """Gap lengths in seconds from ``"0.5,2"``; each must lie in (0, 30]."""
    return _parse_list(text, "--gaps", _gap_length)


def _material(item: str) -> str:
    key = item.strip().lower()
    if key not in MATERIALS:
        raise InputError(f"unknown material {item!r} (rendered, real or demo)")
    return key


def parse_materials(text: str | Sequence[str]) -> list[str]:
    """Material names from ``"rendered,real,demo"``."""
    return _parse_list(text, "--material", _material)


# ----------------------------------------------------------------------------- configuration


@dataclass
class BenchConfig:
    """Everything a run depends on (the command-line options)."""

    materials: list[str] = field(default_factory=lambda: list(MATERIALS))
    gaps_s: list[float] = field(default_factory=lambda: list(DEFAULT_GAPS_S))
    methods: list[MethodSpec] = field(
        default_factory=lambda: [parse_method(m) for m in DEFAULT_METHODS]
    )
    model: str = DEFAULT_MODEL
    steps: int = DEFAULT_STEPS
    tracks: int = 1
    seed: int = 0
    out_dir: Path = Path(DEFAULT_OUT)
    quick: bool = False
    install: bool = True
    device: str = "auto"
    resume: bool = False
    #: Seed of the rendered material: :data:`RENDER_SEED` measures; another seed gives separate
    #: pieces to select checkpoints and settings on (docs/training.md).
    render_seed: int = RENDER_SEED
    #: The rendered material's piano: "soundfont" measures; "salamander" or "mix" for selection.
    render_piano: str = "soundfont"
    precision: str = "auto"
    start_sigma: float | None = None  # warm start of the diffusion methods (None: off)

    @property
    def needs_model(self) -> bool:
        """Whether any method samples the diffusion model."""
        return any(m.diffusion for m in self.methods)


def command_line(config: BenchConfig, prog: str = "simdps-studio bench quality") -> str:
    """The full command that reproduces ``config`` (every option spelled out)."""
    parts: list[str] = []
    if config.quick:
        parts.append("--quick")
    parts += ["--material", ",".join(config.materials)]
    parts += ["--gaps", ",".join(f"{g:g}" for g in config.gaps_s)]
    names = [m.name for m in config.methods]
    parts += ["--methods", ",".join(dict.fromkeys(names))]
    parts += ["--model", config.model, "--steps", str(config.steps), "--tracks", str(config.tracks)]
    if config.seed:
        parts += ["--seed", str(config.seed)]
    if config.device != "auto":
        parts += ["--device", config.device]
    if config.render_seed != RENDER_SEED:
        parts += ["--render-seed", str(config.render_seed)]
    if config.render_piano != "soundfont":
        parts += ["--render-piano", config.render_piano]
    if config.precision != "auto":
        parts += ["--precision", config.precision]
    if config.start_sigma is not None:
        parts += ["--start-sigma", f"{config.start_sigma:g}"]
    parts += ["--out", str(config.out_dir)]
    return f"{prog} {shlex.join(parts)}"
