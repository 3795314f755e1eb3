"""Gap repair with a diffusion model: track region -> model window -> guided sampling -> fill.

:func:`inpaint_gap` fills one gap ``[gap_start_sample, gap_end_sample)`` of a track. Per window:

1. cut a window of the model's segment length (converted to the track rate) around the part of the
   gap still to fill, with context on both sides (centred where the track allows, shifted inside the
   track at its edges, zero-padded only when the track is shorter than the window); options let a
   gap use a shorter or longer window (:func:`model_window_length`: cheaper for short gaps, but
   measurably worse, so off by default);
2. convert channels to the model's batch (mono as is, stereo as mid and side, more channels one by
   one) and resample to the model rate, with the context mirrored into the gap so the resampler
   smears no step into the observed samples; the candidate goes through the same path;
3. normalise each batch item so its observed context has the model's ``sigma_data`` RMS;
4. run the stochastic Heun sampler with DPS / SimDPS guidance (or the draft mode), all takes in one
   batch, each take with its own seed;
5. undo the normalisation and the channel transform, resample back to the track rate and, where the
   model rate is below the track rate, take the band above the model's Nyquist from the candidate
   (complementary crossover filters);
6. make each edge of the fill continue from the source's neighbouring sample (:func:`taper_seams`:
   the model's error on the last context sample, faded out over 5 ms inside the gap), or, with
   declared margins, cross-fade the model's own output with the source over the margins outside
   the gap (:func:`seam_fill`).

Gaps longer than one window are filled window by window from left to right; each window treats the
fill before it as observed context. The result covers only the repaired span (the gap, plus the
margins when asked for): :func:`splice` puts it into the track, leaving every other sample
bit-identical.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import scipy.signal
import torch

from simdps_studio.audio.dsp import (
    ar_extrapolate,
    audible_rows,
    from_model_channels,
    raised_cosine,
    resample,
    to_model_channels,
)
from simdps_studio.core.errors import InputError
from simdps_studio.core.progress import CancelToken, Progress, check_cancel
from simdps_studio.core.types import float_to_native
from simdps_studio.inpaint.device import autocast_dtype, device_name, resolve_device
from simdps_studio.inpaint.guidance import (
    DC_RAMP_SAMPLES_DEFAULT,
    OMEGA_STRICT,
    OMEGA_Y_DEFAULT,
    GuidanceConfig,
    guided_denoiser,
)
from simdps_studio.inpaint.precision import PrecisionChoice, resolve_precision
from simdps_studio.inpaint.sampler import (
    DEFAULT_RHO,
    DEFAULT_S_CHURN,
    DEFAULT_SIGMA_MAX,
    DEFAULT_SIGMA_MIN,
    DEFAULT_STEPS,
    SAMPLERS,
    edm_sigmas,
    generators_for_seeds,
    randn_like_seeded,
    start_at,
)
from simdps_studio.inpaint.settings import CONTEXT_FRACTION

#: Window lengths (at the model rate) a short gap may use are multiples of this many samples.
WINDOW_QUANTUM = 4096
#: Short windows are off by default: on held-out piano 0.5-s gaps they saved 40 % of the time but
#: cost 0.6-0.7 dB of log-spectral distance (docs/sampler.md).
SHORT_WINDOWS_DEFAULT = False
#: Length of the cross-fade from the source's continuation into the fill at each edge (seconds).
SEAM_TAPER_S = 0.005
#: How the model's output and the source share a declared margin outside the gap: "amplitude"
#: (raised-cosine weights summing to 1, as Sim's crossfades) or "power" (their square roots,
#: squares summing to 1). Measured in docs/sampler.md, *Crossfade margins*.
MARGIN_FADES = ("amplitude", "power")
MARGIN_FADE_DEFAULT = "amplitude"
#: Whether the inside taper (:func:`taper_seams`) still runs when the gap has margins: yes, fitted
#: on the faded context (chosen on the selection material, docs/sampler.md, *Crossfade margins*).
MARGIN_TAPER_DEFAULT = True
#: Beside an edge with a margin, data consistency leaves the model's estimate alone over this
#: long (or the margin, if longer; the observation term still pulls it towards the source), so
#: the model has an output of its own there to cross-fade: with the replacement everywhere
#: outside the gap its output outside would be the source itself. One length for every margin,
#: so the margins compared in docs/sampler.md are cross-fades of one sampling run. 0 releases
#: nothing (the margins then fade the source into itself; for the smoothed-mask comparison).
MARGIN_RELEASE_S = 0.02
#: With a margin, the candidate term fades in over this long from each gap edge (the
#: ``candidate_ramp_s`` option, unless given): switched on at the edge at full weight, its pull
#: leaves a step in the model's own output there, which a margin (unlike the inside taper)
#: passes on to the fill (the demo at 44.1 kHz, SimDPS ω 0.15: +17 and +14 dB on the seam grade
#: at the gap edges; with the fade -1 to +1 dB; docs/sampler.md, *Crossfade margins*).
MARGIN_CANDIDATE_RAMP_S = 0.01
#: Crossover frequency for band completion, as a fraction of the model's Nyquist frequency.
CROSSOVER_FRACTION = 0.9
#: Normalisation floor: contexts quieter than this RMS are treated as this loud.
MIN_CONTEXT_RMS = 1e-5
#: Network calls on the CPU take at most this many items (takes x mid/side) at a time: with
#: `small` on 2 cores, forward + gradient cost 1.46, 1.53, 1.55 and 2.12 s per item at batch 1,
#: 2, 3 and 4 (`benchmarks/model_speed.py --batch N`; batch 4 falls out of the caches). On CUDA
#: the whole batch goes in.
CPU_MAX_BATCH = 2


@dataclass
class InpaintTake:
    """One sampled fill of a gap.

    Attributes
    ----------
    seed : int
        The seed that reproduces this take.
    fill : numpy.ndarray, shape (channels, span_length), float32
        The samples for the repaired span (the gap and its margins), at the track's rate.
    model_output : numpy.ndarray, shape (channels, span_length), float32, optional
        The model's own output over the span before the seams were made (only when asked for
        with the ``keep_model_output`` option: for measuring seam treatments without sampling
        again, :func:`seam_fill`).
    """

    seed: int
    fill: np.ndarray
    model_output: np.ndarray | None = None


@dataclass
class InpaintResult:
    """Fills for one gap, one per take, with what produced them.

    Attributes
    ----------
    takes : list of InpaintTake
    sr : int
        Track sample rate (Hz) of the fills.
    gap_start_sample, gap_end_sample : int
        The gap in the track, ``[start, end)``.
    method : str
        ``"simdps"`` (with a candidate and ``omega > 0``) or ``"dps"``.
    omega, omega_y : float
        Candidate and observation weights actually used (omega is 0 for DPS).
    steps : int
        Sampler steps per window.
    draft : bool
        Whether the no-backpropagation draft mode ran.
    device : str
        Device description, e.g. ``CPU (2 threads)``.
    seconds : float
        Wall time of the whole call.
    model_sample_rate, segment_length : int
        The model's rate (Hz) and the length of the model windows used (samples at that rate):
        the training segment unless the windowing options chose another.
    n_windows : int
        Number of model windows the gap needed.
    sampled_items : int
        Model items (takes x channels, or x mid and side) sampled, summed over the windows;
        items that were silence are not sampled (``audio.dsp.SILENT_PEAK``). The network calls
        made are this times the sampler's calls per item.
    options : dict
        Schedule, sampler and guidance options (for reports and reproduction).
    margins : (int, int)
        Samples before and after the gap that the fills also cover (the declared crossfade
        margins; (0, 0) without): each fill starts at ``gap_start_sample - margins[0]``.
    """

    takes: list[InpaintTake]
    sr: int
    gap_start_sample: int
    gap_end_sample: int
    method: str
    omega: float
    omega_y: float
    steps: int
    draft: bool
    device: str
    seconds: float
    model_sample_rate: int
    segment_length: int
    n_windows: int
    sampled_items: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    margins: tuple[int, int] = (0, 0)

    @property
    def span_start_sample(self) -> int:
        """First track sample the fills replace (the gap's start less the left margin)."""
        return self.gap_start_sample - self.margins[0]

    @property
    def seeds(self) -> list[int]:
        """Seeds of the takes, in order."""
        return [t.seed for t in self.takes]

    @property
    def fills(self) -> list[np.ndarray]:
        """Fills of the takes, in order, each (channels, span_length) float32."""
        return [t.fill for t in self.takes]

    def metadata(self) -> dict[str, Any]:
        """Everything except the samples, as JSON-friendly values."""
        meta = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "takes"}
        meta["seeds"] = self.seeds
        meta["margins"] = list(self.margins)
        # JSON has no infinity (s_tmax defaults to inf): write None instead.
        meta["options"] = {
            k: (None if isinstance(v, float) and math.isinf(v) else v)
            for k, v in self.options.items()
        }
        return meta


def splice(x: np.ndarray, gap_start_sample: int, fill: np.ndarray) -> np.ndarray:
    """Copy of ``x`` with ``fill`` written at ``gap_start_sample``; every other sample is untouched.

    Parameters
    ----------
    x : numpy.ndarray, shape (channels, n_samples)
        The track, float or native integer samples.
    gap_start_sample : int
        Where the fill starts.
    fill : numpy.ndarray, shape (channels, gap_length)
        Float samples; converted to ``x``'s dtype (rounded and clipped for integer formats).

    Returns
    -------
    numpy.ndarray
        Same shape and dtype as ``x``.
    """
    x = np.asarray(x)
    fill = np.asarray(fill)
    if x.ndim != 2 or fill.ndim != 2 or fill.shape[0] != x.shape[0]:
        raise InputError(
            f"cannot splice a fill of shape {fill.shape} into audio of shape {x.shape}"
        )
    start, end = int(gap_start_sample), int(gap_start_sample) + fill.shape[1]
    if start < 0 or end > x.shape[1]:
        raise InputError("the fill does not fit inside the track")
    out = x.copy()
    out[:, start:end] = float_to_native(fill, x.dtype)
    return out


# ----------------------------------------------------------------------------------------------
# Window planning (track-rate samples).


@dataclass(frozen=True)
class _Window:
    start: int  # first track sample of the window (may be < 0 or end past the track: padding)
    fill_start: int  # first gap sample this window fills
    fill_end: int  # end of what this window keeps
    open_end: int  # end of the unobserved region inside the window (>= fill_end)


def plan_windows(
    gap_start_sample: int,
    gap_end_sample: int,
    n_samples: int,
    window_samples: int,
    *,
    context_fraction: float = CONTEXT_FRACTION,
) -> list[tuple[int, int, int]]:
    """Split a gap into model windows, left to right.

    Parameters
    ----------
    gap_start_sample, gap_end_sample : int
        The gap ``[start, end)``.
    n_samples : int
        Track length.
    window_samples : int
        Model window length at the track rate.
    context_fraction : float
        Minimum share of the window kept as context on each side of the part being filled.

    Returns
    -------
    list of (window_start, fill_start, fill_end)
        Windows lie inside the track; only a track shorter than the window gets a window starting
        at 0 that runs past its end (zero padding). Fill ranges tile the gap.
    """
    windows = _plan(
        gap_start_sample,
        gap_end_sample,
        n_samples,
        window_samples,
        context_fraction=context_fraction,
    )
    return [(w.start, w.fill_start, w.fill_end) for w in windows]


def _plan(
    gap_start_sample: int,
    gap_end_sample: int,
    n_samples: int,
    window_samples: int,
    *,
    context_fraction: float = CONTEXT_FRACTION,
) -> list[_Window]:
    w = window_samples
    context = max(int(w * context_fraction), 1)
    step = w - 2 * context
    if step < 1:
        raise ValueError("window too short for its context")
    windows = []
    a = gap_start_sample
    while a < gap_end_sample:
        remaining = gap_end_sample - a
        if remaining <= step:
            # Last window: centre what is left, shift inside the track.
            start = a - (w - remaining) // 2
            fill_end = gap_end_sample
        else:
            # Keep `step` samples; the rest of the window after them is open (lookahead).
            start = a - context
            fill_end = a + step
        start = _shift_inside(start, w, n_samples)
        open_end = min(gap_end_sample, start + w)
        windows.append(_Window(start, a, fill_end, open_end))
        a = fill_end
    return windows


def model_window_length(
    gap_model_samples: int,
    segment_length: int,
    supports_length: Callable[[int], bool] | None,
    *,
    min_context_fraction: float = CONTEXT_FRACTION,
    allow_shorter: bool = True,
    max_length: int | None = None,
) -> int:
    """Model window for a gap: the shortest allowed one with enough context, else the segment.

    The network's cost grows with the window, so a 0.5-s gap need not pay for a 3.7-s window;
    and a gap that leaves little context in the training segment may get a longer window. Each
    side keeps at least ``min_context_fraction * segment_length`` samples of context (by default
    :data:`CONTEXT_FRACTION`: the least a gap that fills a full window gets).

    Parameters
    ----------
    gap_model_samples : int
        Gap length at the model rate.
    segment_length : int
        The model's training segment (the full window).
    supports_length : callable or None
        ``supports_length(n)``, whether the network runs on ``n`` samples; None allows only the
        full window.
    min_context_fraction : float
        Least context per side, as a fraction of ``segment_length``.
    allow_shorter : bool
        Whether windows shorter than the segment may be chosen.
    max_length : int, optional
        Longest window to consider (default ``segment_length``).

    Returns
    -------
    int
        Window length in model samples: a multiple of :data:`WINDOW_QUANTUM` or
        ``segment_length`` (also when no allowed window has enough context; the gap is then
        filled window by window).
    """
    if supports_length is None:
        return segment_length
    need = gap_model_samples + 2 * int(math.ceil(min_context_fraction * segment_length))
    n = int(math.ceil(need / WINDOW_QUANTUM)) * WINDOW_QUANTUM
    if not allow_shorter and n < segment_length:
        return segment_length
    longest = segment_length if max_length is None else max(int(max_length), segment_length)
    while n <= longest:
        if n == segment_length or supports_length(n):
            return n
        n += WINDOW_QUANTUM
    return segment_length


def _shift_inside(start: int, w: int, n_samples: int) -> int:
    """Move a window [start, start + w) inside [0, n_samples) where the track is long enough."""
    if n_samples <= w:
        return 0
    return min(max(start, 0), n_samples - w)


def _slice_padded(x: np.ndarray, start: int, length: int) -> np.ndarray:
    """``x[:, start:start+length]`` with zeros where the range leaves the track."""
    out = np.zeros((x.shape[0], length), dtype=np.float32)
    lo, hi = max(start, 0), min(start + length, x.shape[1])
    if hi > lo:
        out[:, lo - start : hi - start] = x[:, lo:hi]
    return out


def mirror_into_gap(x: np.ndarray, start: int, end: int) -> np.ndarray:
    """Copy of ``x`` whose ``[start, end)`` holds the context mirrored at each edge.

    The first half of the range mirrors the samples before ``start``, the second half those from
    ``end`` on (zeros where the context runs out), so the signal has no step at either edge.

    Parameters
    ----------
    x : numpy.ndarray, shape (channels, n)
    start, end : int
        The range to overwrite, ``0 <= start <= end <= n``.

    Returns
    -------
    numpy.ndarray, shape (channels, n)
    """
    out = np.array(x, copy=True)
    out[:, start:end] = 0.0
    half = (end - start) // 2
    n_left = min(half, start)
    if n_left:
        out[:, start : start + n_left] = x[:, start - n_left : start][:, ::-1]
    n_right = min(end - start - half, x.shape[1] - end)
    if n_right:
        out[:, end - n_right : end] = x[:, end : end + n_right][:, ::-1]
    return out


def _fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """Crop or zero-pad the last axis to ``n``."""
    if x.shape[-1] >= n:
        return x[..., :n]
    return np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, n - x.shape[-1])])


def _crossover_lowpass(sr: int, cutoff_hz: float) -> np.ndarray:
    """Linear-phase FIR lowpass for band completion (odd length, unity DC gain)."""
    transition_hz = max(0.1 * cutoff_hz, 200.0)
    n_taps = int(math.ceil(4.0 * sr / transition_hz)) | 1
    return scipy.signal.firwin(n_taps, cutoff_hz, fs=sr, window="blackman").astype(np.float64)


def _lowpass(x: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Zero-phase FIR filtering along the last axis (odd symmetric taps, 'same' alignment)."""
    return scipy.signal.fftconvolve(x.astype(np.float64), taps[None, :], mode="same", axes=-1)


def in_chunks(
    denoiser: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], max_batch: int
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``denoiser`` run on at most ``max_batch`` batch items per call (0: the whole batch).

    The items are independent, so only speed changes (see :data:`CPU_MAX_BATCH`); autograd
    splits the backward pass the same way.

    Parameters
    ----------
    denoiser : callable
        ``D(x, sigma) -> x0_hat`` with x (B, n), sigma (B,) or scalar, x0_hat (B, n).
    max_batch : int
        Items per call, >= 0.

    Returns
    -------
    callable
        The same contract as ``denoiser``.
    """
    if max_batch <= 0:
        return denoiser

    def run(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        if x.shape[0] <= max_batch:
            return denoiser(x, sigma)
        sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).expand(x.shape[0])
        return torch.cat(
            [
                denoiser(x[i : i + max_batch], sigma[i : i + max_batch])
                for i in range(0, x.shape[0], max_batch)
            ]
        )

    return run


@contextmanager
def _frozen(module: torch.nn.Module):
    """Disable parameter gradients while sampling (only the input's gradient is needed)."""
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, f in zip(module.parameters(), flags):
            p.requires_grad_(f)


# ----------------------------------------------------------------------------------------------
# Options of a call (frozen; :func:`inpaint_gap` also reads them from a flat mapping of the same
# names, :meth:`InpaintOptions.from_mapping`).


@dataclass(frozen=True)
class SamplerOptions:
    """Noise schedule and solver (``sampler.edm_sigmas``, ``sampler.sample_heun``).

    Attributes
    ----------
    sigma_min, sigma_max, rho : float
        The EDM schedule.
    s_churn : float
        Total stochasticity of the solver.
    s_tmin, s_tmax, s_noise : float, optional
        Churn range and noise scale (None: the solver's defaults 0, inf and 1).
    solver : {"heun", "euler"}, optional
        None: "euler" in the draft mode (one network call a step), "heun" otherwise.
    heun_sigma_min, heun_sigma_max : float, optional
        Heun only: correct only the steps ending in this noise range (measured, off).
    warm_start : bool
        SimDPS only: start from the context with the candidate in the gap plus noise at
        ``sigma_max`` (SDEdit-style) instead of from noise.
    start_sigma : float, optional
        SimDPS only: begin at this noise level from the context with the candidate in the gap,
        the schedule's levels above it dropped (fewer steps run; docs/sampler.md). At or above
        ``sigma_max`` (or None): off.
    max_batch : int, optional
        Network calls on at most this many items (0: the whole batch; None:
        :data:`CPU_MAX_BATCH` on the CPU, the whole batch on CUDA).
    """

    sigma_min: float = DEFAULT_SIGMA_MIN
    sigma_max: float = DEFAULT_SIGMA_MAX
    rho: float = DEFAULT_RHO
    s_churn: float = DEFAULT_S_CHURN
    s_tmin: float | None = None
    s_tmax: float | None = None
    s_noise: float | None = None
    solver: str | None = None
    heun_sigma_min: float | None = None
    heun_sigma_max: float | None = None
    warm_start: bool = False
    start_sigma: float | None = None
    max_batch: int | None = None

    def __post_init__(self) -> None:
        if self.max_batch is not None and self.max_batch < 0:
            raise InputError("max_batch must be >= 0")
        if self.solver is not None and self.solver not in SAMPLERS:
            raise InputError(f"unknown solver {self.solver!r} (choose {', '.join(SAMPLERS)})")
        if self.start_sigma is not None and not (
            math.isfinite(self.start_sigma) and self.start_sigma > 0
        ):
            raise InputError(f"start_sigma must be a positive number, not {self.start_sigma}")

    def schedule(self) -> dict[str, float]:
        """Keyword arguments of ``sampler.edm_sigmas``."""
        return {"sigma_min": self.sigma_min, "sigma_max": self.sigma_max, "rho": self.rho}

    def solver_name(self, draft: bool) -> str:
        """The solver that runs (see :attr:`solver`)."""
        return self.solver or ("euler" if draft else "heun")

    def solver_kwargs(self, solver: str) -> dict[str, float]:
        """Keyword arguments of the solver: ``s_churn`` and the options that were set."""
        churn = {k: getattr(self, k) for k in ("s_tmin", "s_tmax", "s_noise")}
        heun = {k: getattr(self, k) for k in ("heun_sigma_min", "heun_sigma_max")}
        heun = {k: v for k, v in heun.items() if v is not None}
        if heun and solver != "heun":
            raise InputError(f"{', '.join(heun)} apply to the Heun solver only")
        return {
            "s_churn": self.s_churn,
            **{k: v for k, v in churn.items() if v is not None},
            **heun,
        }


@dataclass(frozen=True)
class WindowOptions:
    """How a gap is cut into model windows (:func:`plan_windows`, :func:`model_window_length`).

    Attributes
    ----------
    context_fraction : float
        Least share of each window kept as context on each side of the part being filled.
    short_windows : bool
        Run a short gap's network calls on a shorter window (faster, measured worse; off).
    min_context_fraction : float
        With ``short_windows`` or ``max_window_fraction``: least context per side, as a
        fraction of the model's segment.
    max_window_fraction : float
        Above 1 a gap may get a window up to this many segments long (more context).
    """

    context_fraction: float = CONTEXT_FRACTION
    short_windows: bool = SHORT_WINDOWS_DEFAULT
    min_context_fraction: float = CONTEXT_FRACTION
    max_window_fraction: float = 1.0

    def model_length(self, segment_length: int, gap_model_samples: int, denoiser: Any) -> int:
        """The model window for a gap of ``gap_model_samples`` (the segment unless asked)."""
        if not (self.short_windows or self.max_window_fraction > 1.0):
            return segment_length
        return model_window_length(
            gap_model_samples,
            segment_length,
            getattr(denoiser, "supports_length", None),
            min_context_fraction=self.min_context_fraction,
            allow_shorter=self.short_windows,
            max_length=int(self.max_window_fraction * segment_length),
        )


@dataclass(frozen=True)
class GuidanceOptions:
    """Tuning of the DPS / SimDPS guidance (``guidance.GuidanceConfig``).

    Attributes
    ----------
    fused_backward : bool
        One backward pass for both terms (default) instead of two.
    limit_step : bool
        Limit each term's step to the rms of its residual (default).
    dc_ramp_samples : int
        Data-consistency fade next to each gap edge, model-rate samples.
    candidate_ramp_s : float or None
        Fade-in of the candidate term from the gap edges, seconds (0: none); None: the call's
        default (0, or :data:`MARGIN_CANDIDATE_RAMP_S` when margins are declared).
    """

    fused_backward: bool = True
    limit_step: bool = True
    dc_ramp_samples: int = DC_RAMP_SAMPLES_DEFAULT
    candidate_ramp_s: float | None = None

    def __post_init__(self) -> None:
        if self.candidate_ramp_s is not None and self.candidate_ramp_s < 0:
            raise InputError("candidate_ramp_s must be >= 0")

    def config(
        self,
        *,
        omega_y: float,
        omega: float,
        data_consistency: bool,
        draft: bool,
        sr_m: int,
        default_ramp_s: float = 0.0,
    ) -> GuidanceConfig:
        """The guided denoiser's configuration for a model at ``sr_m`` Hz."""
        ramp_s = default_ramp_s if self.candidate_ramp_s is None else self.candidate_ramp_s
        return GuidanceConfig(
            omega_y=float(omega_y),
            omega=float(omega),
            data_consistency=data_consistency,
            dc_ramp_samples=int(self.dc_ramp_samples),
            candidate_ramp_samples=int(round(float(ramp_s) * sr_m)),
            draft=draft,
            fused_backward=bool(self.fused_backward),
            limit_step=bool(self.limit_step),
        )


#: Options the margin code reads by name (``margin_fade``: "amplitude" or "power",
#: :data:`MARGIN_FADES`; ``margin_taper``: the inside taper also with margins, default
#: :data:`MARGIN_TAPER_DEFAULT`; ``margin_release_s``: data consistency spares this long beside an
#: edge with a margin, at least the margin, 0 none, default :data:`MARGIN_RELEASE_S`;
#: ``keep_model_output``: each take also carries the model's output over the span).
MARGIN_OPTION_KEYS = ("margin_fade", "margin_taper", "margin_release_s", "keep_model_output")


@dataclass(frozen=True)
class InpaintOptions:
    """Everything :func:`inpaint_gap` can be tuned with beyond its named arguments.

    Attributes
    ----------
    sampler : SamplerOptions
    window : WindowOptions
    guidance : GuidanceOptions
    margin : mapping
        The margin options by name (:data:`MARGIN_OPTION_KEYS`).
    """

    sampler: SamplerOptions = field(default_factory=SamplerOptions)
    window: WindowOptions = field(default_factory=WindowOptions)
    guidance: GuidanceOptions = field(default_factory=GuidanceOptions)
    margin: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any] | None) -> InpaintOptions:
        """Options from one flat mapping of field names (the form benchmarks and tests write).

        Values are converted to the fields' types (``float``, ``int``, ``bool``, ``str``).

        Raises
        ------
        InputError
            For an unknown name or a value out of range.
        """
        given = dict(options or {})
        parts = {
            part: {f.name: f.type for f in fields(part)}
            for part in (SamplerOptions, WindowOptions, GuidanceOptions)
        }
        known = {name for names in parts.values() for name in names} | set(MARGIN_OPTION_KEYS)
        unknown = set(given) - known
        if unknown:
            raise InputError(f"unknown sampler options: {', '.join(sorted(unknown))}")
        built = [
            part(**{k: _CONVERT[types[k]](v) for k, v in given.items() if k in types})
            for part, types in parts.items()
        ]
        margin = {k: v for k, v in given.items() if k in MARGIN_OPTION_KEYS}
        return cls(*built, margin=margin)


# Field annotations (strings under ``from __future__ import annotations``) to converters.
_CONVERT: dict[str, Callable[[Any], Any]] = {
    "float": float,
    "float | None": float,
    "int": int,
    "int | None": int,
    "bool": bool,
    "str | None": str,
}


# ----------------------------------------------------------------------------------------------
# The pipeline.


def _validate(
    x: np.ndarray,
    sr: int,
    start: int,
    end: int,
    candidate: np.ndarray | None,
    steps: int,
    takes: int,
) -> None:
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise InputError(f"audio must have shape (channels, n_samples), got {x.shape}")
    if sr <= 0:
        raise InputError(f"sample rate must be positive, got {sr}")
    if not 0 <= start < end <= x.shape[1]:
        raise InputError(f"gap [{start}, {end}) is not inside the track (0..{x.shape[1]})")
    if candidate is not None and candidate.shape != (x.shape[0], end - start):
        raise InputError(
            f"candidate must have shape {(x.shape[0], end - start)}, got {candidate.shape}"
        )
    if candidate is not None and not np.all(np.isfinite(candidate)):
        raise InputError("the candidate contains NaN or infinite samples")
    if steps < 1:
        raise InputError(f"steps must be at least 1, got {steps}")
    if takes < 1:
        raise InputError(f"takes must be at least 1, got {takes}")


def inpaint_gap(
    x: np.ndarray,
    sr: int,
    gap_start_sample: int,
    gap_end_sample: int,
    *,
    denoiser: torch.nn.Module,
    candidate: np.ndarray | None = None,
    unobserved: Sequence[tuple[int, int]] = (),
    margins: tuple[int, int] = (0, 0),
    omega: float = OMEGA_STRICT,
    omega_y: float = OMEGA_Y_DEFAULT,
    steps: int = DEFAULT_STEPS,
    takes: int = 1,
    seed: int = 0,
    draft: bool = False,
    device: str | torch.device = "auto",
    precision: str = "fp32",
    data_consistency: bool = True,
    sampler_options: InpaintOptions | Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> InpaintResult:
    """Fill one gap of a track with guided diffusion sampling (DPS, SimDPS or the draft mode).

    Parameters
    ----------
    x : numpy.ndarray, shape (channels, n_samples), float32
        The whole track at rate ``sr``; samples inside the gap are ignored.
    sr : int
        Track sample rate in Hz.
    gap_start_sample, gap_end_sample : int
        The gap ``[start, end)`` in samples.
    denoiser : torch.nn.Module
        EDM denoiser ``D(x, sigma)`` with attributes ``sample_rate``, ``segment_length`` and
        ``sigma_data`` (see ``precond.Denoiser``). Moved to ``device`` and put in eval mode.
    candidate : numpy.ndarray, shape (channels, gap_length), float32, optional
        Candidate passage at rate ``sr`` for the gap. None is plain DPS whatever ``omega`` is.
    unobserved : sequence of (int, int)
        Other ``[start, end)`` spans of the track whose samples are missing too (the session's
        other gaps): never used as observations; inside a window the prior fills them freely.
    margins : (int, int)
        Declared crossfade margins before and after the gap, in track samples (default none): the
        fill then covers the gap plus the margins, and over each margin the model's own output is
        cross-faded with the source (:func:`seam_fill`). The caller keeps them inside the track
        and clear of the ``unobserved`` spans (halfway to them, as Sim's margins). A margin
        shorter than the inside taper (:data:`SEAM_TAPER_S`) is dropped: the result's
        ``margins`` say what the fills cover.
    omega : float
        Candidate weight (0.15 "strict", 0.04 "relaxed"); 0 is plain DPS.
    omega_y : float
        Observation weight.
    steps : int
        Sampler steps per window (2 * steps - 1 denoiser calls with Heun, steps with Euler).
    takes : int
        Number of fills, sampled in one batch with seeds ``seed, seed + 1, ...``.
    seed : int
        Seed of the first take.
    draft : bool
        Fast mode without backpropagation (replacement-style guidance).
    device : {"auto", "cpu", "cuda"} or torch.device
        Where to sample.
    precision : {"fp32", "auto", "bf16", "fp16"}
        Network precision (autocast; guidance, CQT and splice stay fp32). ``auto`` asks
        :func:`~simdps_studio.inpaint.precision.resolve_precision` (bf16 where it was measured
        faster on this host); fp16 is CUDA-only. The result's ``options`` say what ran and why.
    data_consistency : bool
        Replace the observed context of each denoised estimate by the source (Hann-smoothed).
    sampler_options : InpaintOptions or mapping, optional
        Schedule and solver (:class:`SamplerOptions`: ``sigma_min``, ``sigma_max``, ``rho``,
        ``s_churn``, ``s_tmin``, ``s_tmax``, ``s_noise``, ``solver``, ``heun_sigma_min``,
        ``heun_sigma_max``, ``warm_start``, ``start_sigma``, ``max_batch``), windowing
        (:class:`WindowOptions`: ``context_fraction``, ``short_windows``,
        ``min_context_fraction``, ``max_window_fraction``), guidance (:class:`GuidanceOptions`:
        ``fused_backward``, ``limit_step``, ``dc_ramp_samples``, ``candidate_ramp_s``: the candidate
        term's fade-in from the gap edges, default 0, with margins :data:`MARGIN_CANDIDATE_RAMP_S`)
        and the margin options (:data:`MARGIN_OPTION_KEYS`). A mapping names them flat
        (:meth:`InpaintOptions.from_mapping`); unknown names are an InputError.
    progress : callable, optional
        ``progress(fraction, message)``; reaches 1.0 on success.
    cancel : CancelToken, optional
        Checked once per sampler step; a cancel raises CancelledError within one step.

    Returns
    -------
    InpaintResult
        One fill per take, each (channels, margins[0] + gap_length + margins[1]) float32 at rate
        ``sr``.

    Raises
    ------
    InputError
        For an invalid gap, candidate, NaN/Inf context, steps or takes, or an unusable device.
    CancelledError
        When ``cancel`` was set.
    """
    t0 = time.perf_counter()
    x = np.asarray(x, dtype=np.float32)
    start, end = int(gap_start_sample), int(gap_end_sample)
    if candidate is not None:
        candidate = np.asarray(candidate, dtype=np.float32)
    _validate(x, sr, start, end, candidate, steps, takes)
    options = (
        sampler_options
        if isinstance(sampler_options, InpaintOptions)
        else InpaintOptions.from_mapping(sampler_options)
    )
    if omega < 0 or omega_y < 0:
        raise InputError("omega and omega_y must be >= 0")
    opts = options.margin  # the margin code reads its options by name
    margins = _check_margins(margins, start, end, x.shape[1], unobserved)
    # A margin shorter than the inside taper (clipped by a neighbouring gap) is too short to fade
    # the model's own output into the source: that edge keeps the inside taper instead.
    min_margin = int(round(SEAM_TAPER_S * sr))
    margins = tuple(m if m >= min_margin else 0 for m in margins)
    margin_fade = str(opts.get("margin_fade", MARGIN_FADE_DEFAULT))
    if margin_fade not in MARGIN_FADES:
        raise InputError(f"unknown margin_fade {margin_fade!r} (choose {', '.join(MARGIN_FADES)})")
    if candidate is None:
        omega = 0.0
    use_candidate = candidate is not None and omega > 0
    ramp_s = MARGIN_CANDIDATE_RAMP_S if any(margins) else 0.0

    run = _prepare_run(
        denoiser,
        options,
        sr=sr,
        gap_samples=end - start,
        device=device,
        precision=precision,
        steps=steps,
        draft=draft,
        guidance=options.guidance.config(
            omega_y=omega_y,
            omega=omega if use_candidate else 0.0,
            data_consistency=data_consistency,
            draft=draft,
            sr_m=int(denoiser.sample_rate),
            default_ramp_s=ramp_s,
        ),
        use_candidate=use_candidate,
    )
    windows = _plan_gap(start, end, x.shape[1], run.window_samples, options.window)
    window_samples = run.window_samples
    if (
        start - margins[0] < windows[0].start
        or end + margins[1] > windows[-1].start + window_samples
    ):
        raise InputError("the margins reach past the context the model window holds")

    seeds = [int(seed) + k for k in range(takes)]
    sampled = _sample_windows(
        x,
        start,
        end,
        windows,
        run,
        candidate=candidate if use_candidate else None,
        unobserved=unobserved,
        seeds=seeds,
        margins=margins,
        margin_fade=margin_fade,
        opts=opts,
        progress=progress,
        cancel=cancel,
    )
    if progress is not None:
        progress(1.0, "done")
    return InpaintResult(
        takes=[
            InpaintTake(
                s, sampled.fills[k], None if sampled.outputs is None else sampled.outputs[k]
            )
            for k, s in enumerate(seeds)
        ],
        sr=sr,
        gap_start_sample=start,
        gap_end_sample=end,
        method="simdps" if use_candidate else "dps",
        omega=float(omega) if use_candidate else 0.0,
        omega_y=float(omega_y),
        steps=steps,
        draft=draft,
        device=device_name(run.device),
        seconds=time.perf_counter() - t0,
        model_sample_rate=run.sr_m,
        segment_length=run.n_m,
        n_windows=len(windows),
        sampled_items=sampled.items,
        options={
            **_run_options(run, options, data_consistency=data_consistency),
            "margin_fade": margin_fade,
            "margin_taper": bool(opts.get("margin_taper", MARGIN_TAPER_DEFAULT)),
            "margin_release_s": float(opts.get("margin_release_s", MARGIN_RELEASE_S)),
        },
        margins=margins,
    )


@dataclass(frozen=True)
class _Run:
    """What every window of one :func:`inpaint_gap` call samples with."""

    sr: int  # track rate
    sr_m: int  # model rate
    n_m: int  # model window length (model-rate samples)
    window_samples: int  # the same window at the track rate (resampled, at most n_m samples)
    sigma_data: float
    device: torch.device
    module: torch.nn.Module  # the denoiser itself, on the device, in eval mode
    denoiser: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # in chunks of max_batch
    autocast: torch.dtype | None
    precision: PrecisionChoice  # what ran and why
    guidance: GuidanceConfig
    sigmas: torch.Tensor
    schedule: dict[str, float]
    sampler_kw: dict[str, float]
    solver: str
    warm_start: bool


def _prepare_run(
    denoiser: torch.nn.Module,
    options: InpaintOptions,
    *,
    sr: int,
    gap_samples: int,
    device: str | torch.device,
    precision: str,
    steps: int,
    draft: bool,
    guidance: GuidanceConfig,
    use_candidate: bool,
) -> _Run:
    """Device, precision, model window and noise schedule of a call."""
    dev = resolve_device(device)
    preset = getattr(getattr(denoiser, "config", None), "preset", None)
    run_precision = resolve_precision(precision, dev, preset=preset)
    denoiser = denoiser.to(dev).eval()
    sr_m = int(denoiser.sample_rate)
    n_m = options.window.model_length(
        int(denoiser.segment_length), int(math.ceil(gap_samples * sr_m / sr)), denoiser
    )
    sampler = options.sampler
    max_batch = sampler.max_batch
    if max_batch is None:
        max_batch = CPU_MAX_BATCH if dev.type == "cpu" else 0
    solver = sampler.solver_name(draft)
    sampler_kw = sampler.solver_kwargs(solver)
    sigmas, warm_start = _noise_levels(sampler, steps, use_candidate)
    return _Run(
        sr=sr,
        sr_m=sr_m,
        n_m=n_m,
        window_samples=n_m if sr == sr_m else int(math.floor(n_m * sr / sr_m)),
        sigma_data=float(denoiser.sigma_data),
        device=dev,
        module=denoiser,
        denoiser=in_chunks(denoiser, max_batch),
        autocast=autocast_dtype(dev, run_precision.precision),
        precision=run_precision,
        guidance=guidance,
        sigmas=sigmas,
        schedule=sampler.schedule(),
        sampler_kw=sampler_kw,
        solver=solver,
        warm_start=warm_start,
    )


def _noise_levels(
    sampler: SamplerOptions, steps: int, use_candidate: bool
) -> tuple[torch.Tensor, bool]:
    """The noise levels to run, shape (steps_run + 1,), and whether the start is warm."""
    schedule = sampler.schedule()
    sigmas = edm_sigmas(steps, **schedule)
    start_sigma = (
        float(sampler.start_sigma) if sampler.start_sigma is not None else schedule["sigma_max"]
    )
    # A warm start needs a candidate to start from; DPS always starts from noise.
    cut = start_sigma < schedule["sigma_max"]
    warm_start = use_candidate and (bool(sampler.warm_start) or cut)
    if warm_start and cut:
        sigmas = start_at(sigmas, start_sigma)
    return sigmas, warm_start


def _plan_gap(
    start: int, end: int, n_samples: int, window_samples: int, window: WindowOptions
) -> list[_Window]:
    """:func:`_plan` with the context fraction of ``window`` (a bad one is an InputError)."""
    context_fraction = float(window.context_fraction)
    try:
        return _plan(start, end, n_samples, window_samples, context_fraction=context_fraction)
    except ValueError as exc:
        raise InputError(f"invalid context_fraction {context_fraction}") from exc


def _run_options(run: _Run, options: InpaintOptions, *, data_consistency: bool) -> dict[str, Any]:
    """The schedule, sampler and guidance options that ran (for :attr:`InpaintResult.options`)."""
    guidance = run.guidance
    return {
        **run.schedule,
        **run.sampler_kw,
        "data_consistency": data_consistency,
        "dc_ramp_samples": guidance.dc_ramp_samples,
        "candidate_ramp_s": guidance.candidate_ramp_samples / run.sr_m,
        "fused_backward": guidance.fused_backward,
        "limit_step": guidance.limit_step,
        "solver": run.solver,
        "context_fraction": float(options.window.context_fraction),
        "short_windows": bool(options.window.short_windows),
        "max_window_fraction": float(options.window.max_window_fraction),
        "precision": run.precision.precision,
        "precision_reason": run.precision.reason,
        "start_sigma": round(float(run.sigmas[0]), 6) if run.warm_start else None,
        "steps_run": len(run.sigmas) - 1,
    }


@dataclass
class _Sampled:
    fills: np.ndarray  # (takes, channels, span_length)
    outputs: np.ndarray | None  # the model's own output over the span, when kept
    items: int  # model items sampled over all windows


def _sample_windows(
    x: np.ndarray,
    start: int,
    end: int,
    windows: list[_Window],
    run: _Run,
    *,
    candidate: np.ndarray | None,
    unobserved: Sequence[tuple[int, int]],
    seeds: list[int],
    margins: tuple[int, int],
    margin_fade: str,
    opts: Mapping[str, Any],
    progress: Progress | None,
    cancel: CancelToken | None,
) -> _Sampled:
    """Sample the windows left to right, each after the fill of the one before it."""
    takes, window_samples, sr = len(seeds), run.window_samples, run.sr
    # Only the span the windows cover is read (a view); with several windows each take gets its
    # own copy of it, into which its fill is written window by window.
    r0 = max(min(win.start for win in windows), 0)
    r1 = min(max(win.start for win in windows) + window_samples, x.shape[1])
    span = x[:, r0:r1]
    windows = [
        _Window(win.start - r0, win.fill_start - r0, win.fill_end - r0, win.open_end - r0)
        for win in windows
    ]
    work_takes = [span.copy() for _ in range(takes)] if len(windows) > 1 else [span] * takes
    span_start = start - margins[0]  # the fills cover [span_start, end + margins[1])
    fills = np.zeros((takes, x.shape[0], end + margins[1] - span_start), dtype=np.float32)
    keep_output = bool(opts.get("keep_model_output", False))
    outputs = np.zeros_like(fills) if keep_output else None
    total_steps = len(windows) * (len(run.sigmas) - 1)
    done = [0]
    sampled_items = 0

    def report(message: str) -> None:
        if progress is not None:
            progress(min(done[0] / total_steps, 1.0), message)

    report("starting")
    check_cancel(cancel)
    with _frozen(run.module):
        for w_index, win in enumerate(windows):
            label = f"window {w_index + 1}/{len(windows)}" if len(windows) > 1 else ""

            def on_step(i: int, n: int, _x: torch.Tensor, _d: torch.Tensor, label=label) -> None:
                done[0] += 1
                report(f"{label + ', ' if label else ''}step {i + 1}/{n}")
                check_cancel(cancel)

            # The left margin belongs to the first window, the right one to the last.
            win_margins = (
                margins[0] if w_index == 0 else 0,
                margins[1] if win.fill_end == end - r0 else 0,
            )
            # Where data consistency leaves the estimate alone: beside an edge with a margin.
            release = int(round(float(opts.get("margin_release_s", MARGIN_RELEASE_S)) * sr))
            win_release = tuple(max(release, m) if m and release else 0 for m in win_margins)
            window_fills, n_sampled, window_outputs = _sample_window(
                work_takes,
                win,
                start - r0,
                candidate,
                run=run,
                unobserved=[(a - r0, b - r0) for a, b in unobserved],
                seeds=[s + 7919 * w_index for s in seeds],
                callback=on_step,
                margins=win_margins,
                release=win_release,
                margin_fade=margin_fade,
                margin_taper=bool(opts.get("margin_taper", MARGIN_TAPER_DEFAULT)),
            )
            sampled_items += n_sampled
            a = win.fill_start - win_margins[0]  # what this window's fill covers, [a, b)
            b = win.fill_end + win_margins[1]
            lo, hi = a - (span_start - r0), b - (span_start - r0)
            for k in range(takes):
                fills[k, :, lo:hi] = window_fills[k]
                if outputs is not None:
                    outputs[k, :, lo:hi] = window_outputs[k]
                if len(windows) > 1:
                    work_takes[k][:, a:b] = window_fills[k]
    return _Sampled(fills, outputs, sampled_items)


def _sample_window(
    sources: list[np.ndarray],
    win: _Window,
    gap_start: int,
    candidate: np.ndarray | None,
    *,
    run: _Run,
    unobserved: Sequence[tuple[int, int]],
    seeds: list[int],
    callback: Callable,
    margins: tuple[int, int] = (0, 0),
    release: tuple[int, int] = (0, 0),
    margin_fade: str = MARGIN_FADE_DEFAULT,
    margin_taper: bool = MARGIN_TAPER_DEFAULT,
) -> tuple[list[np.ndarray], int, list[np.ndarray]]:
    """Sample one window for every take.

    Returns each take's fill for ``[fill_start - margins[0], fill_end + margins[1])``, the number
    of model items sampled (silent ones are not) and each take's model output over the same range
    before the seams were made.
    """
    takes = len(sources)
    o0, o1 = win.fill_start - win.start, win.open_end - win.start  # open region in the window
    track_windows, observed_windows, cand_window = _window_inputs(
        sources, win, gap_start, candidate, run
    )
    masks = _window_masks(win, o0, o1, unobserved, release, run)
    y_items = np.concatenate([_to_model(tw, run) for tw in observed_windows])  # (takes*items, n_m)
    c_items = np.tile(_to_model(cand_window, run), (takes, 1)) * masks.candidate_region
    y_items, c_items, dc = _without_dc(y_items, c_items, masks)
    out_items, n_sampled = _sample_items(
        y_items,
        c_items,
        masks,
        run,
        takes=takes,
        with_candidate=candidate is not None,
        seeds=seeds,
        callback=callback,
    )
    fills, outputs = _window_fills(
        out_items + dc,
        track_windows,
        win,
        run,
        with_candidate=candidate is not None,
        unobserved=unobserved,
        margins=margins,
        margin_fade=margin_fade,
        margin_taper=margin_taper,
    )
    return fills, n_sampled, outputs


def _window_inputs(
    sources: list[np.ndarray],
    win: _Window,
    gap_start: int,
    candidate: np.ndarray | None,
    run: _Run,
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Each take's window at the track rate, what the model observes of it, and the candidate.

    The open region holds the candidate where its high band is needed (band completion) and a
    mirror image of the context where the model's observations are made, so resampling smears
    no edge step (to zeros or to the candidate) into the observed samples next to the gap.

    Returns
    -------
    track_windows, observed_windows : list of numpy.ndarray, each (channels, window_samples)
    cand_window : numpy.ndarray, shape (channels, window_samples)
        The candidate in the open region, zeros elsewhere.
    """
    w = run.window_samples
    channels = sources[0].shape[0]
    o0, o1 = win.fill_start - win.start, win.open_end - win.start
    cand_window = np.zeros((channels, w), dtype=np.float32)
    if candidate is not None:
        cand_window[:, o0:o1] = candidate[:, win.fill_start - gap_start : win.open_end - gap_start]
    track_windows, observed_windows = [], []
    for src in sources:
        tw = _slice_padded(src, win.start, w)
        tw[:, o0:o1] = cand_window[:, o0:o1]
        track_windows.append(tw)
        observed_windows.append(mirror_into_gap(tw, o0, o1) if run.sr != run.sr_m else tw)
    observed_check = np.concatenate([track_windows[0][:, :o0], track_windows[0][:, o1:]], axis=1)
    if not np.all(np.isfinite(observed_check)):
        raise InputError("the audio around the gap contains NaN or infinite samples")
    return track_windows, observed_windows, cand_window


@dataclass
class _Masks:
    """Model-rate masks of one window, each shape (n_m,) float32."""

    observed: np.ndarray  # 1 observed, 0 open (this gap's open region and other gaps)
    candidate_region: np.ndarray  # 1 where the candidate acts: this window's open region
    replaced: np.ndarray | None  # 1 where data consistency puts the source back (margins)


def _window_masks(
    win: _Window,
    o0: int,
    o1: int,
    unobserved: Sequence[tuple[int, int]],
    release: tuple[int, int],
    run: _Run,
) -> _Masks:
    """The window's masks at the model rate (the open region's model-rate span, rounded out)."""
    sr, n_m, w = run.sr, run.n_m, run.window_samples
    scale_m = run.sr_m / sr
    m0 = max(int(math.floor(o0 * scale_m)), 0)
    m1 = min(int(math.ceil(o1 * scale_m)), n_m)
    mask = np.ones(n_m, dtype=np.float32)
    mask[m0:m1] = 0.0
    cand_region = 1.0 - mask  # the candidate acts in this window's open region only
    # Data consistency spares the stretches beside the gap that margins will cross-fade.
    replaced = mask.copy()
    replaced[max(int(math.floor((o0 - release[0]) * scale_m)), 0) : m0] = 0.0
    replaced[m1 : min(int(math.ceil((o1 + release[1]) * scale_m)), n_m)] = 0.0
    for a, b in unobserved:  # other gaps in the window: not observations either
        lo, hi = max(a - win.start, 0), min(b - win.start, w)
        if hi > lo:  # a gap outside the window masks nothing (a negative end would wrap)
            mask[int(math.floor(lo * scale_m)) : min(int(math.ceil(hi * scale_m)), n_m)] = 0.0
    return _Masks(mask, cand_region, replaced if any(release) else None)


def _without_dc(
    y_items: np.ndarray, c_items: np.ndarray, masks: _Masks
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Context and candidate items less the context's mean, and that mean, shape (items, 1).

    A DC offset (a recording's, or a window's) is the context's mean: the prior knows only
    zero-mean audio, so it is taken out of the context and the candidate and put back into the
    fill (else the fill sits at zero between the offset's seams: a thump at each).
    """
    obs = masks.observed > 0
    dc = (
        y_items[:, obs].mean(axis=1, keepdims=True, dtype=np.float64).astype(np.float32)
        if obs.any()
        else np.zeros((len(y_items), 1), dtype=np.float32)
    )
    return y_items - dc, c_items - dc * masks.candidate_region, dc


def _to_model(tw: np.ndarray, run: _Run) -> np.ndarray:
    """A track-rate window as model items at the model rate, shape (items, n_m) float32."""
    items = to_model_channels(tw)
    if run.sr != run.sr_m:
        items = resample(items, run.sr, run.sr_m)
    return _fit_length(items, run.n_m).astype(np.float32)


def _sample_items(
    y_items: np.ndarray,
    c_items: np.ndarray,
    masks: _Masks,
    run: _Run,
    *,
    takes: int,
    with_candidate: bool,
    seeds: list[int],
    callback: Callable,
) -> tuple[np.ndarray, int]:
    """Guided sampling of the window's items; returns every item's output and how many ran.

    Each item is normalised so its observed context has the model's ``sigma_data`` RMS. Items
    silent in every take (context and candidate) keep the candidate's silence; only the others
    are sampled, each take's rows together as the seeded generators expect.
    """
    obs = masks.observed > 0
    n_items = y_items.shape[0] // takes
    ctx_rms = (
        np.sqrt(np.mean(y_items[:, obs] ** 2, axis=1)) if obs.any() else np.zeros(len(y_items))
    )
    cand_rms = np.sqrt(np.mean(c_items**2, axis=1))
    level = np.maximum(np.where(ctx_rms > MIN_CONTEXT_RMS, ctx_rms, cand_rms), MIN_CONTEXT_RMS)
    gain = (run.sigma_data / level).astype(np.float32)[:, None]
    audible = audible_rows(y_items[:, obs]) | audible_rows(c_items)
    live = np.any(audible.reshape(takes, n_items), axis=0)
    rows = np.flatnonzero(np.tile(live, takes))
    out_items = y_items * masks.observed + c_items
    if not rows.size:
        return out_items, 0
    device = run.device
    y_t = torch.from_numpy(y_items[rows] * gain[rows]).to(device)
    c_t = torch.from_numpy((c_items[rows] * gain[rows]).astype(np.float32)).to(device)
    mask_t = torch.from_numpy(masks.observed).to(device)
    denoise = guided_denoiser(
        run.denoiser,
        y_t,
        mask_t,
        c_t if with_candidate else None,
        run.guidance,
        candidate_region=torch.from_numpy(masks.candidate_region).to(device),
        autocast_dtype=run.autocast,
        consistency_mask=(
            torch.from_numpy(masks.replaced).to(device) if masks.replaced is not None else None
        ),
    )
    generators = generators_for_seeds(seeds)  # one per take, drawing its items together
    x_init = run.sigmas[0] * randn_like_seeded(y_t, generators)
    if run.warm_start and with_candidate:
        # Start from the context with the candidate in the gap, noised to sigma_max (as
        # SDEdit does), instead of from noise alone: with sigma_max < 1 the first steps are
        # skipped.
        x_init = x_init + y_t * mask_t + c_t
    out = SAMPLERS[run.solver](
        denoise,
        x_init,
        run.sigmas.to(device),
        generator=generators,
        callback=callback,
        **run.sampler_kw,
    )
    out_items[rows] = out.detach().cpu().numpy().astype(np.float32) / gain[rows]
    return out_items, int(rows.size)


def _window_fills(
    out_items: np.ndarray,
    track_windows: list[np.ndarray],
    win: _Window,
    run: _Run,
    *,
    with_candidate: bool,
    unobserved: Sequence[tuple[int, int]],
    margins: tuple[int, int],
    margin_fade: str,
    margin_taper: bool,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each take's fill, and its model output, over the window's part of the span.

    The items go back to the track's channels and rate; where the model rate is below the
    track's, a candidate's band above the model's Nyquist completes the fill (complementary
    crossover); then :func:`seam_fill` joins it to the source.
    """
    sr, sr_m, w = run.sr, run.sr_m, run.window_samples
    takes = len(track_windows)
    channels = track_windows[0].shape[0]
    n_items = out_items.shape[0] // takes
    resampling = sr != sr_m
    fills, outputs = [], []
    f0, f1 = win.fill_start - win.start, win.fill_end - win.start
    o0, o1 = win.fill_start - win.start, win.open_end - win.start  # open region in the window
    complete_band = resampling and with_candidate and sr > sr_m
    taps = _crossover_lowpass(sr, CROSSOVER_FRACTION * sr_m / 2) if complete_band else None
    seam_taper = int(round(SEAM_TAPER_S * sr))
    bounds = (
        max((b - win.start for _a, b in unobserved if b - win.start <= f0), default=0),
        min((a - win.start for a, _b in unobserved if a - win.start >= f1), default=w),
    )
    for k in range(takes):
        items = out_items[k * n_items : (k + 1) * n_items]
        y_back = from_model_channels(items, channels)
        if resampling:
            y_back = _fit_length(resample(y_back, sr_m, sr), w)
            if complete_band:
                # Complementary crossover: the model's band below, the candidate's above, taken
                # from the candidate joined to the context (else its high band steps at each gap
                # edge: a click wherever the seam keeps the model's output, as with margins).
                carrier = join_band_carrier(track_windows[k], o0, o1, seam_taper, bounds)
                y_back = _lowpass(y_back, taps) + carrier - _lowpass(carrier, taps)
        fill = seam_fill(
            y_back,
            track_windows[k],
            f0,
            f1,
            margins=margins,
            fade=margin_fade,
            taper=margin_taper,
            right=win.fill_end == win.open_end,  # the next window continues otherwise
            taper_samples=seam_taper,
            bounds=bounds,
        )
        fills.append(fill)
        outputs.append(y_back[:, f0 - margins[0] : f1 + margins[1]].astype(np.float32))
    return fills, outputs


def join_band_carrier(
    window: np.ndarray, o0: int, o1: int, taper_samples: int, bounds: tuple[int, int]
) -> np.ndarray:
    """The window whose open region (the candidate) joins the context as a fill does.

    Band completion takes the fill's band above the model's Nyquist frequency from this signal.
    Spliced in as it is, the candidate meets the context with a step, and a step has a high band
    of its own (ringing out over the crossover filter's length on both sides of the edge): the
    fill would click at the gap edge wherever the seam does not taper it away, as over a margin.
    Joined with :func:`taper_seams` instead, the open region starts from the context's own
    continuation, so the high band crosses the edge without a step.

    Parameters
    ----------
    window : numpy.ndarray, shape (channels, w)
        Track-rate window: the context with the candidate in ``[o0, o1)``.
    o0, o1 : int
        The open region inside the window.
    taper_samples, bounds
        As for :func:`taper_seams`.

    Returns
    -------
    numpy.ndarray, shape (channels, w), float64
    """
    carrier = np.array(window, dtype=np.float64)
    carrier[:, o0:o1] = taper_seams(
        window, window, o0, o1, taper_samples=taper_samples, bounds=bounds
    )
    return carrier


def margin_weights(n: int, fade: str = MARGIN_FADE_DEFAULT) -> tuple[np.ndarray, np.ndarray]:
    """Weights of the model's output and of the source over a margin of ``n`` samples before a gap.

    The model's weight rises as a raised cosine (``audio.dsp.raised_cosine``, the curve of Sim's
    crossfades) from near 0 at the margin's outer end to near 1 at the gap edge. "amplitude":
    the source gets ``1 - w`` (the weights sum to 1, right for correlated signals such as a
    model output that follows the source); "power": both get the square roots, ``sqrt(w)`` and
    ``sqrt(1 - w)`` (squares summing to 1, right for uncorrelated ones). Reverse both for a
    margin after the gap.

    Parameters
    ----------
    n : int
        Margin length in samples, >= 0.
    fade : {"amplitude", "power"}

    Returns
    -------
    model, source : numpy.ndarray, shape (n,), float64
    """
    if fade not in MARGIN_FADES:
        raise InputError(f"unknown margin fade {fade!r} (choose {', '.join(MARGIN_FADES)})")
    w = raised_cosine(n).astype(np.float64)
    if fade == "power":
        return np.sqrt(w), np.sqrt(1.0 - w)
    return w, 1.0 - w


def seam_fill(
    model: np.ndarray,
    source: np.ndarray,
    f0: int,
    f1: int,
    *,
    margins: tuple[int, int] = (0, 0),
    fade: str = MARGIN_FADE_DEFAULT,
    taper: bool = MARGIN_TAPER_DEFAULT,
    left: bool = True,
    right: bool = True,
    taper_samples: int,
    bounds: tuple[int, int] | None = None,
) -> np.ndarray:
    """The fill of ``[f0 - margins[0], f1 + margins[1])``: the model's output joined to the source.

    Over each declared margin outside the gap the model's own output is cross-faded with the
    source (:func:`margin_weights`), so the fill blends into the context outside the gap instead
    of having to meet it exactly at the gap edge. An edge without a margin (and, when ``taper``
    is set, one with a margin too) gets the inside taper (:func:`taper_seams`), fitted on the
    context as it will sound, margin included. Without margins this is :func:`taper_seams`.

    Parameters
    ----------
    model : numpy.ndarray, shape (channels, w)
        The model's output over the window, at the track rate.
    source : numpy.ndarray, shape (channels, w)
        The window's observed samples.
    f0, f1 : int
        The gap part being filled, inside the window.
    margins : (int, int)
        Margin samples before ``f0`` and after ``f1``; both inside the window.
    fade : {"amplitude", "power"}
        Crossfade law over the margins.
    taper : bool
        Also taper inside the gap at an edge that has a margin.
    left, right : bool
        Which edges to join at all (an edge inside a multi-window gap is left to the next window).
    taper_samples, bounds
        As for :func:`taper_seams`.

    Returns
    -------
    numpy.ndarray, shape (channels, margins[0] + f1 - f0 + margins[1]), float32
    """
    m0, m1 = (int(m) for m in margins)
    if m0 < 0 or m1 < 0 or f0 - m0 < 0 or f1 + m1 > model.shape[1]:
        raise InputError(f"margins {margins} do not fit in the model window")
    m0, m1 = (m0 if left else 0), (m1 if right else 0)
    joined = np.array(source, dtype=np.float64)  # the context as it will sound
    if m0:
        w_model, w_source = margin_weights(m0, fade)
        joined[:, f0 - m0 : f0] = (
            w_source * source[:, f0 - m0 : f0] + w_model * model[:, f0 - m0 : f0]
        )
    if m1:
        w_model, w_source = (w[::-1] for w in margin_weights(m1, fade))
        joined[:, f1 : f1 + m1] = (
            w_source * source[:, f1 : f1 + m1] + w_model * model[:, f1 : f1 + m1]
        )
    inner = taper_seams(
        model,
        joined,
        f0,
        f1,
        left=left and (m0 == 0 or taper),
        right=right and (m1 == 0 or taper),
        taper_samples=taper_samples,
        bounds=bounds,
    )
    return np.concatenate(
        [
            joined[:, f0 - m0 : f0].astype(np.float32),
            inner,
            joined[:, f1 : f1 + m1].astype(np.float32),
        ],
        axis=1,
    )


def _check_margins(
    margins: tuple[int, int],
    start: int,
    end: int,
    n_samples: int,
    unobserved: Sequence[tuple[int, int]],
) -> tuple[int, int]:
    """Validated ``(before, after)`` margins: whole samples, inside the track, clear of other gaps."""
    try:
        m0, m1 = (int(m) for m in margins)
    except (TypeError, ValueError):
        raise InputError(f"margins must be two sample counts, got {margins!r}") from None
    if m0 < 0 or m1 < 0:
        raise InputError(f"margins must not be negative, got {margins!r}")
    if start - m0 < 0 or end + m1 > n_samples:
        raise InputError("the margins reach past the track's ends")
    if any(a < end + m1 and start - m0 < b for a, b in unobserved):
        raise InputError("the margins reach into another gap")
    return m0, m1


def taper_seams(
    out: np.ndarray,
    source: np.ndarray,
    f0: int,
    f1: int,
    *,
    left: bool = True,
    right: bool = True,
    taper_samples: int,
    bounds: tuple[int, int] | None = None,
) -> np.ndarray:
    """Cut ``out[:, f0:f1]`` and make it meet ``source`` at both edges.

    The model reproduces the observed context only approximately, and the fill continues from its
    own version of the context, while the splice puts the source's samples next to it. Each edge
    of the fill therefore starts as a linear-prediction continuation of the source (fitted on the
    context beside that edge) and cross-fades into the model's fill with a half-Hann fade over
    ``taper_samples`` samples, so value and slope continue the source; where the model already
    matched the context, the fill is (nearly) unchanged.

    Parameters
    ----------
    out : numpy.ndarray, shape (channels, w)
        Model output for the window at the track rate.
    source : numpy.ndarray, shape (channels, w)
        The window's observed samples (source or earlier fills).
    f0, f1 : int
        The fill's range inside the window.
    left, right : bool
        Which edges to correct (an edge at the window's border is never corrected).
    taper_samples : int
        Fade length; at most half the fill.
    bounds : (int, int), optional
        The continuations are fitted on ``source[:, lo:hi]`` only (neighbouring gaps end there).

    Returns
    -------
    numpy.ndarray, shape (channels, f1 - f0), float32
    """
    fill = np.array(out[:, f0:f1], dtype=np.float64)
    n = min(int(taper_samples), fill.shape[1] // 2)
    if n > 0:
        fade = raised_cosine(n, falling=True, offset=0.0, dtype=np.float64)  # 1 -> 0
        # Matching only the edge value would leave a kink (the model's fine structure differs from
        # the source's), so each edge fades from the source's own short-term continuation.
        lo, hi = (0, out.shape[1]) if bounds is None else bounds
        if left and f0 > 0:
            ahead = _ar_continue(source[:, max(lo, 0) : f0], n)
            fill[:, :n] = ahead * fade + fill[:, :n] * (1 - fade)
        if right and f1 < out.shape[1]:
            behind = _ar_continue(source[:, f1 : max(hi, f1)][:, ::-1], n)[:, ::-1]
            fill[:, -n:] = behind * fade[::-1] + fill[:, -n:] * (1 - fade[::-1])
    return fill.astype(np.float32)


def _ar_continue(
    context: np.ndarray, n: int, *, order: int = 32, fit_samples: int = 2048
) -> np.ndarray:
    """Extrapolate each channel ``n`` samples past its end (``audio.dsp.ar_extrapolate``).

    A few milliseconds of prediction need no more than a least-squares fit of order 32 on the
    last ``fit_samples`` samples.

    Parameters
    ----------
    context : numpy.ndarray, shape (channels, m)
        Observed samples, the extrapolation continuing from the last one.
    n : int
        Samples to predict.

    Returns
    -------
    numpy.ndarray, shape (channels, n), float64
        The prediction; a short or silent context repeats its last sample.
    """
    ctx = np.asarray(context, dtype=np.float64)[:, -fit_samples:]
    p = min(order, ctx.shape[1] // 4)
    return np.stack(
        [ar_extrapolate(c, n, p, fit="least-squares", max_growth=4.0) for c in ctx]
    ).reshape(ctx.shape[0], n)


__all__ = [
    "MARGIN_OPTION_KEYS",
    "GuidanceOptions",
    "InpaintOptions",
    "InpaintResult",
    "InpaintTake",
    "SamplerOptions",
    "WindowOptions",
    "from_model_channels",
    "inpaint_gap",
    "margin_weights",
    "mirror_into_gap",
    "plan_windows",
    "seam_fill",
    "splice",
    "taper_seams",
    "to_model_channels",
]
