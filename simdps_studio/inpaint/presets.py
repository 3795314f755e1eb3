"""Model configurations: the JSON-serialisable :class:`ModelConfig` and the size presets.

Presets (measured numbers in ``benchmarks/model_speed.py`` and the README):

- ``tiny``: tests and smoke runs; 22 050 Hz, 32 768 samples (1.49 s), six octaves (172 Hz up; the
  lowpass band holds the rest), about 0.12 M parameters and 2.5 GFLOP per forward.
- ``small``: the CPU default; 22 050 Hz and 81 920 samples (3.72 s = 5 * 2^14, FFT friendly and
  divisible by 2^10 for the low octaves' frames), so a 2-s gap fits with 0.86 s of context on each
  side. Nine octaves from 21.5 Hz (below the piano's A0 = 27.5 Hz) to Nyquist in groups of
  3 / 4 / 2 octaves with 8 / 16 / 32 bins per octave. 2.8 M parameters, 85 GFLOP per forward;
  measured on the 2-core development CPU: 0.3 s per forward, 0.6 s per forward plus gradient to
  the input (the budget for one guided call is 1.3 s), 1.7 GiB peak memory.
- ``paper``: the published MR-CQTdiff scale for GPUs; 44 100 Hz, 262 144 samples (5.94 s), the same
  octave groups (43 Hz to Nyquist), 41.7 M parameters, 3.8 TFLOP per forward.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from simdps_studio.core.errors import ModelError
from simdps_studio.inpaint.cqt import normalize_groups

#: Version of the architecture code; bumped when weights of older versions no longer fit.
ARCH_VERSION = 1


@dataclass(frozen=True)
class ModelConfig:
    """Architecture and data format of a score model.

    Attributes
    ----------
    preset : str
        Name of the preset it came from (informational once overrides are applied).
    sample_rate : int
        Model rate in Hz.
    segment_length : int
        Samples per model window.
    sigma_data : float
        Standard deviation of the (normalised) training audio, used by the EDM preconditioning.
    octave_groups : tuple of (n_octaves, bins_per_octave)
        CQT octave groups, lowest first (see :mod:`simdps_studio.inpaint.cqt`).
    channels : tuple of int
        Feature channels of each U-Net level; one level per octave, level 0 holds the top octave.
    blocks_per_level : int
        Residual blocks per level in the encoder (the decoder has the same number).
    mid_blocks : int
        Extra residual blocks at the deepest level.
    freq_dilations : tuple of int
        Frequency dilations of the blocks' second convolutions: block ``j`` of level ``l`` (encoder
        blocks first, then decoder blocks) uses entry ``(l + j) % len``.
    mid_time_dilations : tuple of int
        Time dilations of the second convolution of the deepest level's extra blocks (cycled).
    fourier_dim : int
        Fourier features of the noise level.
    emb_dim : int
        Width of the noise-level embedding MLP.
    arch_version : int
        Version of the network code the weights belong to.
    """

    preset: str = "custom"
    sample_rate: int = 22050
    segment_length: int = 81920
    sigma_data: float = 0.08
    octave_groups: tuple[tuple[int, int], ...] = ((3, 8), (4, 16), (2, 32))
    channels: tuple[int, ...] = (16, 16, 24, 32, 48, 64, 80, 96, 112)
    blocks_per_level: int = 1
    mid_blocks: int = 2
    freq_dilations: tuple[int, ...] = (1, 2, 4, 8)
    mid_time_dilations: tuple[int, ...] = (2, 8)
    fourier_dim: int = 64
    emb_dim: int = 128
    arch_version: int = ARCH_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "octave_groups", normalize_groups(self.octave_groups))
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        object.__setattr__(self, "freq_dilations", tuple(int(d) for d in self.freq_dilations))
        object.__setattr__(
            self, "mid_time_dilations", tuple(int(d) for d in self.mid_time_dilations)
        )
        self.validate()

    @property
    def n_octaves(self) -> int:
        """Octaves covered by the CQT (= U-Net levels)."""
        return sum(n for n, _ in self.octave_groups)

    def validate(self) -> None:
        """Raise ``ValueError`` with a one-line reason when the configuration cannot work."""
        if self.sample_rate < 1000:
            raise ValueError(f"sample_rate must be at least 1000 Hz, got {self.sample_rate}")
        if self.segment_length < 256 or self.segment_length % 2:
            raise ValueError(f"segment_length must be even and >= 256, got {self.segment_length}")
        if not 0 < self.sigma_data < 10:
            raise ValueError(f"sigma_data must be in (0, 10), got {self.sigma_data}")
        if len(self.channels) != self.n_octaves:
            raise ValueError(
                f"channels needs one entry per octave ({self.n_octaves}), got {len(self.channels)}"
            )
        if any(c < 4 or c % 4 for c in self.channels):
            raise ValueError(f"channels must be positive multiples of 4, got {self.channels}")
        if self.blocks_per_level < 1 or self.mid_blocks < 0:
            raise ValueError("blocks_per_level must be >= 1 and mid_blocks >= 0")
        if not self.freq_dilations or any(d < 1 for d in self.freq_dilations):
            raise ValueError(f"freq_dilations must be positive, got {self.freq_dilations}")
        if not self.mid_time_dilations or any(d < 1 for d in self.mid_time_dilations):
            raise ValueError(f"mid_time_dilations must be positive, got {self.mid_time_dilations}")
        if self.fourier_dim < 2 or self.fourier_dim % 2 or self.emb_dim < 1:
            raise ValueError("fourier_dim must be even and >= 2, emb_dim positive")
        if self.arch_version != ARCH_VERSION:
            raise ValueError(
                f"architecture version {self.arch_version} is not supported "
                f"(this program has version {ARCH_VERSION})"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dictionary (tuples become lists)."""
        d = asdict(self)
        d["octave_groups"] = [list(g) for g in self.octave_groups]
        d["channels"] = list(self.channels)
        d["freq_dilations"] = list(self.freq_dilations)
        d["mid_time_dilations"] = list(self.mid_time_dilations)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        if not isinstance(data, dict):
            raise ValueError("model configuration must be a JSON object")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown model configuration keys: {', '.join(unknown)}")
        kwargs = dict(data)
        for key in ("octave_groups", "channels", "freq_dilations", "mid_time_dilations"):
            if key in kwargs:
                value = kwargs[key]
                if key == "octave_groups":
                    kwargs[key] = tuple(tuple(g) for g in value)
                else:
                    kwargs[key] = tuple(value)
        try:
            return cls(**kwargs)
        except TypeError as exc:
            raise ValueError(f"bad model configuration: {exc}") from None

    def replace(self, **overrides: Any) -> ModelConfig:
        """Copy with some fields changed (validated)."""
        return replace(self, **overrides)


PRESETS: dict[str, ModelConfig] = {
    "tiny": ModelConfig(
        preset="tiny",
        sample_rate=22050,
        segment_length=32768,
        octave_groups=((2, 4), (2, 8), (2, 12)),
        channels=(8, 8, 8, 12, 16, 24),
        blocks_per_level=1,
        mid_blocks=1,
        freq_dilations=(1, 2),
        fourier_dim=32,
        emb_dim=64,
    ),
    "small": ModelConfig(preset="small"),
    # `small` with twice the channels at every level (about 4x the parameters and FLOPs): the
    # recipe comparison's "wider" arm (docs/training.md).
    "small-wide": ModelConfig(
        preset="small-wide", channels=(32, 32, 48, 64, 96, 128, 160, 192, 224), emb_dim=256
    ),
    "paper": ModelConfig(
        preset="paper",
        sample_rate=44100,
        segment_length=262144,
        octave_groups=((3, 8), (4, 16), (2, 32)),
        channels=(32, 48, 64, 96, 128, 192, 256, 288, 320),
        blocks_per_level=2,
        mid_blocks=2,
        freq_dilations=(1, 2, 4, 8, 16),
        fourier_dim=128,
        emb_dim=512,
    ),
}


def preset_names() -> list[str]:
    """Names of the built-in presets."""
    return list(PRESETS)


def get_config(preset: str = "tiny", **overrides: Any) -> ModelConfig:
    """The configuration of a preset, optionally with fields overridden.

    Raises
    ------
    ModelError
        For an unknown preset name, an unknown field or an invalid value.
    """
    if preset not in PRESETS:
        raise ModelError(f"unknown model preset {preset!r} (choose {', '.join(PRESETS)})")
    cfg = PRESETS[preset]
    if not overrides:
        return cfg
    try:
        return cfg.replace(**overrides)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"bad model option: {exc}") from None
