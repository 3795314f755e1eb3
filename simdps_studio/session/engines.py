"""Run a repair method on one gap: the one place that combines ``search`` and ``inpaint``.

``search`` (retrieval, Sim, LPC) and ``inpaint`` (diffusion) never import each other; this module
turns a :class:`RepairRequest` into :class:`Repair` objects using either. Engines are imported
lazily so that the CLI's cheap commands never pay for torch. The model registry and the sampler's
defaults come from inpaint's two torch-free modules, ``inpaint.registry`` and ``inpaint.settings``,
and the app reads them through this module.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import threading
import time
import weakref
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from simdps_studio.audio.dsp import audible_rows, to_model_channels
from simdps_studio.core.errors import InputError, NotAvailableError
from simdps_studio.core.progress import check_cancel, sub_progress
from simdps_studio.core.types import Audio, Gap, neighbour_edges
from simdps_studio.inpaint.registry import installed_models as installed_models
from simdps_studio.inpaint.registry import model_installed, resolve_model_dir
from simdps_studio.inpaint.settings import (
    CONTEXT_FRACTION,
    DEFAULT_MODEL,
    DEFAULT_RHO,
    DEFAULT_SIGMA_MAX,
    DEFAULT_SIGMA_MIN,
    DRAFT_STEPS,
    FULL_STEPS,
    OMEGA_PRESETS,
    OMEGA_Y_DEFAULT,
    n_denoiser_calls,
    solver_for,
)
from simdps_studio.session import band
from simdps_studio.session.repair import Repair, RepairInfo

#: Gaps shorter than this are repaired with LPC by ``--method auto``.
AUTO_LPC_MAX_S = 0.050
#: ``--omega auto`` as (candidate score, ω) points, linear in between and constant outside
#: (see :func:`auto_omega`).
AUTO_OMEGA_POINTS = (
    (0.0, OMEGA_PRESETS["relaxed"]),
    (0.3, OMEGA_PRESETS["strict"]),
    (0.8, OMEGA_PRESETS["copy"]),
)
#: One sentence on the automatic rule, for reports and the bench's Markdown.
AUTO_OMEGA_RULE = (
    "ω 0.04 (relaxed) at candidate score 0, rising linearly to 0.15 (strict) at score 0.3 and "
    "to 0.5 (copy) at score 0.8 and above; at least 0.5 where the model fits the music before "
    "the gap poorly"
)


#: Time of a draft network call (forward only) over one with gradient, for estimating one mode
#: from the other's measured pace: 0.27 s per draft call against 49.2 s / 69 calls = 0.71 s with
#: gradient on the reference CPU (README's sampling table), 0.40 on a slower host.
DRAFT_CALL_RATIO = 0.39


#: Declared crossfade margin of DPS and SimDPS repairs outside each gap edge, ms (Sim's is 10 ms):
#: the model's own output there is cross-faded with the source (``inpaint.pipeline.seam_fill``).
#: 20 ms: the smoothest of 5/10/20 ms for DPS and SimDPS ω 0.15 on the selection material
#: (docs/sampler.md, *Crossfade margins*).
DIFFUSION_MARGIN_MS = 20.0
#: Longest margin a repair may declare, ms (the model window keeps far more context than this).
MAX_MARGIN_MS = 100.0


#: Share of a diffusion repair's progress given to the candidate search before it.
DIFFUSION_SEARCH_SHARE = 0.02


@dataclass
class RepairRequest:
    """What the user asked for one gap (the CLI's and the repair panel's options)."""

    method: str = "auto"
    omega: float | str = "auto"  # as the app's Auto box; "strict" (0.15) is the paper's setting
    omega_y: float = OMEGA_Y_DEFAULT
    steps: int | None = None  # None: FULL_STEPS, or DRAFT_STEPS in draft mode
    takes: int = 1
    seed: int = 0
    candidate_rank: int = 1
    guide: np.ndarray | None = None
    model: str | None = None
    device: str = "auto"
    draft: bool = False
    corpus: tuple[Any, ...] = field(default_factory=tuple)
    #: Network precision: "auto" (bf16 where measured faster on this host), "fp32" or "bf16".
    precision: str = "auto"
    #: Warm start (SimDPS only): begin at this noise level from the candidate (None: from noise).
    start_sigma: float | None = None
    margin_ms: float | None = None  # DPS and SimDPS: None is DIFFUSION_MARGIN_MS, 0 none
    #: (lo_hz, hi_hz): the fill replaces only this band (``session.band``); None: the full band.
    band_hz: tuple[float, float] | None = None


def _engine(module: str, what: str):
    """Import an engine module or explain that it is not available in this build."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name and e.name.startswith("simdps_studio"):
            raise NotAvailableError(f"not available yet: {what}") from None
        raise NotAvailableError(f"{what} needs the Python package {e.name!r}") from None


def model_window_s(name: str | None = None) -> float | None:
    """The model's window in seconds from its ``config.json`` (None when unreadable; no torch)."""
    try:
        cfg = json.loads((resolve_model_dir(name) / "config.json").read_text(encoding="utf-8"))
        return float(cfg["segment_length"]) / float(cfg["sample_rate"])
    except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError):
        return None


def n_windows(gap_s: float, window_s: float) -> int:
    """Model windows the pipeline needs for a gap (it fills 60 % of each window at most)."""
    step = window_s * (1.0 - 2.0 * CONTEXT_FRACTION)
    return max(1, math.ceil(gap_s / step - 1e-9))


def default_steps(draft: bool) -> int:
    """Sampler steps when none are asked for (:data:`FULL_STEPS` or :data:`DRAFT_STEPS`)."""
    return DRAFT_STEPS if draft else FULL_STEPS


def warm_start_steps(steps: int, start_sigma: float | None) -> int:
    """Sampler steps that run when a warm start at ``start_sigma`` drops the schedule's levels
    above it (the pipeline's ``start_sigma``; numpy here, so the app's estimate needs no torch):
    the default schedule's levels below ``start_sigma``, plus the step from it."""
    if start_sigma is None or start_sigma >= DEFAULT_SIGMA_MAX:
        return int(steps)
    # Karras et al. 2022, eq. 5 with the sampler's default schedule.
    rho, top, bottom = DEFAULT_RHO, DEFAULT_SIGMA_MAX, DEFAULT_SIGMA_MIN
    ramp = np.linspace(0.0, 1.0, int(steps))
    levels = (top ** (1 / rho) + ramp * (bottom ** (1 / rho) - top ** (1 / rho))) ** rho
    return int(np.count_nonzero(levels.astype(np.float32) < start_sigma)) + 1


def network_item_calls(
    gap_s: float, window_s: float, *, steps: int, takes: int, items: int, draft: bool
) -> int:
    """Network calls a diffusion repair makes, counted per batch item (what its time scales with):
    windows x sampler calls (``n_denoiser_calls``) x takes x model items per take (:func:`model_items`)."""
    per_window = n_denoiser_calls(steps, solver_for(draft))
    return n_windows(gap_s, window_s) * per_window * max(int(takes), 1) * max(int(items), 0)


def model_items(audio: Audio, gap: Gap, window_s: float) -> int:
    """Model items per take a diffusion repair of ``gap`` samples: the channels (stereo: mid and
    side) that are not silent within ``window_s`` of the gap (``audio.dsp.SILENT_PEAK``).

    The side of a dual-mono file is silent, so it counts one item, as the repair samples it.
    """
    pad = int(round(window_s * audio.sr))
    before = audio.to_float(max(gap.start_sample - pad, 0), gap.start_sample)
    after = audio.to_float(gap.end_sample, min(gap.end_sample + pad, audio.n_samples))
    context = to_model_channels(np.concatenate([before, after], axis=1))
    return int(np.count_nonzero(audible_rows(context)))


@dataclass
class RepairPace:
    """Seconds per network item call measured on this machine, for "gradient" and "draft".

    Learned from finished repairs (:meth:`record`); :meth:`estimate` predicts a repair's sampling
    time from its call count, using the other mode's pace times :data:`DRAFT_CALL_RATIO` when
    only that one was measured.
    """

    seconds_per_call: dict[str, float] = field(default_factory=dict)

    @staticmethod
    def mode(draft: bool) -> str:
        return "draft" if draft else "gradient"

    def record(self, *, draft: bool, seconds: float, calls: int) -> None:
        """Remember the pace of a finished repair (ignored when it made no calls)."""
        if calls > 0 and seconds > 0 and math.isfinite(seconds):
            self.seconds_per_call[self.mode(draft)] = float(seconds) / int(calls)

    def estimate(self, *, draft: bool, calls: int) -> float | None:
        """Expected sampling seconds for ``calls`` item calls, or None before any measurement."""
        own = self.seconds_per_call.get(self.mode(draft))
        if own is None:
            other = self.seconds_per_call.get(self.mode(not draft))
            if other is None:
                return None
            own = other * DRAFT_CALL_RATIO if draft else other / DRAFT_CALL_RATIO
        return own * calls


def resolve_method(request: RepairRequest, gap: Gap, sr: int) -> str:
    """The concrete method for ``request.method`` (``auto`` picks by gap length and model)."""
    method = request.method.lower()
    if method == "auto":
        # Half a sample of slack: a gap typed as 50 ms is 1102 samples at 22.05 kHz (rounded
        # half to even) and must not count as shorter there than at 44.1 kHz.
        if gap.length < AUTO_LPC_MAX_S * sr - 0.5:
            return "lpc"
        return "simdps" if model_installed(request.model) else "sim"
    if method not in ("lpc", "sim", "dps", "simdps"):
        raise InputError(f"unknown method {request.method!r} (auto, simdps, dps, sim or lpc)")
    return method


def find_candidates(
    audio: Audio, gap: Gap, *, other_gaps=(), top_k: int = 5, corpus=(), progress=None, cancel=None
) -> list:
    """Ranked candidates for ``gap`` from the track (and an optional corpus of ``Audio``).

    The source file's hash (``audio.meta["sha256"]``, set by ``Session.open``) keys the feature
    cache, so a search never re-hashes the samples.
    """
    candidates = _engine("simdps_studio.search.candidates", "similarity search")
    return candidates.find_candidates(
        audio,
        None,
        gap,
        other_gaps=tuple(other_gaps),
        top_k=top_k,
        corpus=tuple(corpus),
        audio_key=audio.meta.get("sha256"),
        progress=progress,
        cancel=cancel,
    )


def _choose_candidate(audio: Audio, gap: Gap, others, request: RepairRequest, progress, cancel):
    ranked = find_candidates(
        audio,
        gap,
        other_gaps=others,
        top_k=max(5, request.candidate_rank),
        corpus=request.corpus,
        progress=progress,
        cancel=cancel,
    )
    if request.candidate_rank < 1 or request.candidate_rank > len(ranked):
        raise InputError(
            f"--candidate {request.candidate_rank} is out of range: {len(ranked)} candidate(s) found"
        )
    return ranked[request.candidate_rank - 1]


def _sim_args(audio: Audio, gap: Gap, cand, corpus) -> tuple[tuple, dict]:
    """Arguments of ``search.sim`` calls for a candidate from the track or from the corpus.

    The track goes as the Audio itself: Sim reads it a stretch at a time.
    """
    sim = _engine("simdps_studio.search.sim", "Sim repair")
    source, source_sr = sim.corpus_source(tuple(corpus), cand)
    args = (audio, audio.sr, gap.start_sample, gap.end_sample, cand.start_sample)
    return args, {"gain_db": cand.gain_db, "source": source, "source_sr": source_sr}


def margin_bounds(gap: Gap, other_gaps, n_samples: int) -> tuple[int, int]:
    """Where a repair's crossfade margins may reach: halfway to the neighbouring gaps.

    Two gaps' spans then never overlap (render would otherwise let one repair overwrite the
    other's), and no margin fades from samples that are themselves missing.
    """
    lo, hi = neighbour_edges(gap, other_gaps, n_samples)
    return (
        gap.start_sample - (gap.start_sample - lo) // 2 if lo > 0 else 0,
        gap.end_sample + (hi - gap.end_sample) // 2 if hi < n_samples else n_samples,
    )


def check_margin_ms(margin_ms: float | str | None) -> float:
    """A diffusion repair's margin in ms (None: :data:`DIFFUSION_MARGIN_MS`), validated.

    Raises
    ------
    InputError
        Not a number, negative, or above :data:`MAX_MARGIN_MS`.
    """
    if margin_ms is None:
        return DIFFUSION_MARGIN_MS
    try:
        value = float(margin_ms)
    except (TypeError, ValueError):
        raise InputError(
            f"--margin-ms must be a number of milliseconds, not {margin_ms!r}"
        ) from None
    if not 0.0 <= value <= MAX_MARGIN_MS:  # also refuses nan
        raise InputError(f"--margin-ms must lie between 0 and {MAX_MARGIN_MS:g}, not {margin_ms}")
    return value


def diffusion_margins(audio: Audio, gap: Gap, other_gaps, margin_ms: float) -> tuple[int, int]:
    """Samples ``(before, after)`` a diffusion repair's span reaches outside ``gap``.

    The same span as a Sim repair's with that crossfade (``search.sim.repaired_span``): clipped
    at the track's ends and halfway to the neighbouring gaps (:func:`margin_bounds`).
    """
    sim = _engine("simdps_studio.search.sim", "Sim repair")
    bounds = margin_bounds(gap, other_gaps, audio.n_samples)
    a, b = sim.repaired_span(
        gap.start_sample, gap.end_sample, audio.n_samples, margin_ms / 1000.0, audio.sr, bounds
    )
    return gap.start_sample - a, b - gap.end_sample


def _guide_samples(audio: Audio, gap: Gap, guide: np.ndarray) -> np.ndarray:
    g = np.atleast_2d(np.asarray(guide, dtype=np.float32))
    if g.shape[1] < gap.length:
        raise InputError(
            f"the guide file is shorter ({g.shape[1] / audio.sr:.3f} s) than the gap "
            f"({gap.duration_s(audio.sr):.3f} s)"
        )
    if g.shape[0] != audio.channels:
        g = np.repeat(g.mean(axis=0, keepdims=True), audio.channels, axis=0)
    return g[:, : gap.length]


def auto_omega(score: float) -> float:
    """ω_x̃ for a candidate of similarity ``score`` (0 = a typical position, 1 = identical contexts).

    The paper leaves the choice open: follow a good match strictly, a poor one loosely. Measured
    here (docs/omega.md, the quality benchmark's candidate-quality bins): with the shipped prior
    the paper's strict 0.15 still lets the model regenerate the fill's detail, and for close
    matches (score 0.8 and more: a repeat of the same passage) that detail is worse than the
    candidate's own: ω 0.5 reproduced such candidates (0.1-2 dB LSD from them) and was 1.7-4 dB
    closer to the truth than 0.15. For fair matches (score about 0.35-0.4) the evidence is mixed
    (0.15-0.3 best on a 2-s gap, 0.5 on a 0.5-s gap), so the weight lies between; for poor ones,
    where copying risks the wrong notes, it falls to relaxed. :data:`AUTO_OMEGA_POINTS` joins
    these linearly.
    """
    scores, weights = zip(*AUTO_OMEGA_POINTS)
    return float(np.interp(float(score), scores, weights))


def is_auto_omega(omega: float | str) -> bool:
    """Whether an ω setting asks for the automatic choice."""
    return isinstance(omega, str) and omega.lower() == "auto"


def resolve_omega(omega: float | str, cand, *, poor_fit: bool = False) -> float:
    """A number for ω_x̃: a float, a preset name, or ``auto``.

    ``auto`` follows the candidate's score (:func:`auto_omega`); where the prior fits the music
    before the gap poorly (``poor_fit``, from ``inpaint.fit``) it is at least *copy*: on the game
    tracks where that happened, ω 0.5 was 1.2 dB LSD better than the score's choice on average and
    within 0.2 dB of Sim (docs/omega.md). Numbers and presets are taken as they are.
    """
    if isinstance(omega, str):
        key = omega.lower()
        if key in OMEGA_PRESETS:
            return OMEGA_PRESETS[key]
        if key == "auto":
            score = float(getattr(cand, "score", 0.5)) if cand is not None else 0.5
            weight = auto_omega(score)
            return max(weight, OMEGA_PRESETS["copy"]) if poor_fit else weight
        try:
            omega = float(omega)
        except ValueError:
            raise InputError(
                f"--omega must be a number, free, relaxed, strict, copy or auto, not {omega!r}"
            ) from None
    if not 0 <= omega <= 10:
        raise InputError(f"--omega must lie between 0 and 10, not {omega}")
    return float(omega)


#: Fit / validation loss above which the prior is said not to know the music. Calibrated with
#: ``piano-small`` (validation loss 0.245) on single context windows of the quality benchmark's
#: tracks (``benchmarks/prior_fit.py``): rendered piano and the demo 0.23-0.33 (ratio <= 1.34),
#: the two game-music tracks where SimDPS lost to Sim 0.37-0.49 (ratio >= 1.51); docs/omega.md.
POOR_FIT_RATIO = 1.4

#: Prior fits measured in this process, by model files, gap and context: a gap repaired again
#: (a draft, then the full sampler; another seed) does not pay for the measurement twice.
_FIT_CACHE: dict[tuple, float | None] = {}
_FIT_LOCK = threading.Lock()
_CONTEXT_DIGESTS: weakref.WeakKeyDictionary[Audio, dict[tuple[int, int], str]] = (
    weakref.WeakKeyDictionary()
)
_DIGEST_LOCK = threading.Lock()


def _fit_context(model: str | None, audio: Audio, gap: Gap, other_gaps=()) -> tuple[int, int]:
    """The samples ``[lo, hi)`` the prior-fit window reads (``inpaint.fit.context_window``).

    A model window before the gap, else after it, ending at the neighbouring gaps: their samples
    are missing, and zeros read as silence the prior does not expect would report a poor fit
    where the music is familiar. With no room on either side, everything between the neighbours.
    """
    n = int(math.ceil((model_window_s(model) or 0.0) * audio.sr)) + 1
    lo, hi = neighbour_edges(gap, other_gaps, audio.n_samples)
    if gap.start_sample - n >= lo:
        return gap.start_sample - n, gap.start_sample
    if gap.end_sample + n <= hi:
        return gap.end_sample, gap.end_sample + n
    return max(gap.start_sample - n, lo), min(gap.end_sample + n, hi)


def _fit_key(model: str | None, audio: Audio, gap: Gap, other_gaps=()) -> tuple:
    """What a prior fit depends on: the model's files and the audio the context window can read."""
    folder = resolve_model_dir(model)
    files = tuple(
        (f.name, f.stat().st_mtime_ns, f.stat().st_size)
        for f in sorted(folder.iterdir())
        if f.is_file()
    )
    lo, hi = _fit_context(model, audio, gap, other_gaps)
    digest = _context_digest(audio, lo, hi)
    return (
        str(folder.resolve()),
        files,
        audio.sr,
        gap.start_sample,
        gap.end_sample,
        lo,
        hi,
        digest,
    )


def _context_digest(audio: Audio, lo: int, hi: int) -> str:
    """Hash of ``audio``'s samples ``[lo, hi)``, remembered per recording.

    The panels ask for a gap's fit at every refresh; hashing seconds of audio each time cost
    about 9 ms a call. An Audio's samples are read-only, so a remembered digest cannot go stale.
    """
    with _DIGEST_LOCK:
        known = _CONTEXT_DIGESTS.setdefault(audio, {})
        if (lo, hi) not in known:
            context = np.ascontiguousarray(audio.samples[:, lo:hi]).tobytes()
            known[(lo, hi)] = hashlib.blake2b(context, digest_size=16).hexdigest()
        return known[(lo, hi)]


def model_val_loss(name: str | None = None) -> float | None:
    """The model's validation loss from its ``config.json`` (None when unrecorded; no torch)."""
    try:
        cfg = json.loads((resolve_model_dir(name) / "config.json").read_text(encoding="utf-8"))
        value = float(cfg["metrics"]["val_loss"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return value if math.isfinite(value) and value > 0 else None


def known_fit(model: str | None, audio: Audio, gap: Gap, other_gaps=()) -> dict[str, Any] | None:
    """The prior-fit record of a gap if a repair in this process measured it, else None.

    ``other_gaps``: the recording's other gaps, as given to :func:`measure_fit`.
    """
    if not resolve_model_dir(model).is_dir():
        return None
    key = _fit_key(model, audio, gap, other_gaps)
    if key not in _FIT_CACHE:
        return None
    return fit_record(_FIT_CACHE[key], model_val_loss(model), POOR_FIT_RATIO)


def measure_fit(
    audio: Audio,
    gap: Gap,
    model: str | None = None,
    *,
    other_gaps=(),
    device: str = "auto",
    denoiser=None,
    progress=None,
    progress_at: float = 0.0,
    cancel=None,
) -> dict[str, Any] | None:
    """How well the prior knows the music around ``gap``: its :func:`fit_record`.

    Measured once per model files, gap and context in this process (:func:`known_fit` reads the
    cache): the repair panel measures it when a gap is selected, and a repair of the same gap
    then does not pay again. Costs one network call without gradients (about 3 s with
    ``piano-small`` on a 2-core CPU).

    Parameters
    ----------
    audio : Audio
        The source recording.
    gap : Gap
        A validated gap of ``audio``.
    model : str or None
        Model name or folder (None: the default model).
    other_gaps : iterable of Gap
        The recording's other gaps: the context window ends at them (their samples are missing).
    device : str
        Where to run the network when the model is loaded here (``"auto"``, ``"cpu"``, ``"cuda"``).
    denoiser : torch.nn.Module, optional
        The model already loaded (by a repair), used as it is.
    progress_at : float
        The fraction reported to ``progress`` while measuring.

    Returns
    -------
    dict or None
        As :func:`fit_record`; None when the context is too short or silent to judge.
    """
    check_cancel(cancel)
    key = _fit_key(model, audio, gap, other_gaps)
    with _FIT_LOCK:  # a repair started during the selection's check waits for it, not redoes it
        if key not in _FIT_CACHE:
            if progress is not None:
                progress(progress_at, "checking how well the model knows the music")
            fit = _engine("simdps_studio.inpaint.fit", "diffusion inpainting")
            dev = _engine("simdps_studio.inpaint.device", "diffusion inpainting")
            if denoiser is None:
                checkpoint = _engine("simdps_studio.inpaint.checkpoint", "diffusion models")
                denoiser = checkpoint.load_model(model or DEFAULT_MODEL, device="cpu")
            denoiser = denoiser.to(dev.resolve_device(device))
            check_cancel(cancel)
            # Only the context the window reads (the cache key's) and the gap, not the whole
            # track: the window is then the one the whole track would give.
            lo, hi = _fit_context(model, audio, gap, other_gaps)
            lo, hi = min(lo, gap.start_sample), max(hi, gap.end_sample)
            _FIT_CACHE[key] = fit.prior_fit(
                denoiser,
                audio.to_float(lo, hi),
                audio.sr,
                gap.start_sample - lo,
                gap.end_sample - lo,
            )
    return fit_record(_FIT_CACHE[key], model_val_loss(model), POOR_FIT_RATIO)


def fit_record(
    loss: float | None, reference: float | None, poor_ratio: float
) -> dict[str, Any] | None:
    """How well the prior fits a gap's context, for the repair's parameters and reports.

    Parameters
    ----------
    loss : float or None
        The prior's denoising loss on the context (``inpaint.fit.prior_fit``); None when the
        context was too short or silent to judge.
    reference : float or None
        The model's validation loss (its ``config.json`` metrics), None when not recorded.
    poor_ratio : float
        ``loss / reference`` above which the fit is called poor.

    Returns
    -------
    dict or None
        ``loss``, ``reference``, ``ratio`` (None without a reference) and ``poor`` (bool).
    """
    if loss is None:
        return None
    ratio = loss / reference if reference and reference > 0 else None
    return {
        "loss": round(float(loss), 4),
        "reference": None if reference is None else round(float(reference), 4),
        "ratio": None if ratio is None else round(float(ratio), 3),
        "poor": bool(ratio is not None and ratio > poor_ratio),
    }


def _poor_fit_sentence(record: Any, model: str | None, advice: str) -> str | None:
    if not isinstance(record, dict) or not record.get("poor"):
        return None
    return (
        f"the model {model or DEFAULT_MODEL!r} does not know this kind of music well (prior loss "
        f"{record['loss']:.2f}, {record['ratio']:.1f}× its validation loss): {advice}"
    )


def fit_warning(info: RepairInfo) -> str | None:
    """One sentence for the user when the prior fits a repaired gap's context poorly, else None."""
    omega = info.omega if info.omega is not None else 0.5
    advice = (
        f"automatic ω followed the candidate closely ({omega:.2f}); compare the fill with Sim"
        if info.raised_for_poor_fit
        else "compare the fill with Sim, or follow the candidate closely (ω copy)"
    )
    return _poor_fit_sentence(info.prior_fit, info.model, advice)


def fit_warning_before(record: dict[str, Any] | None, model: str | None) -> str | None:
    """:func:`fit_warning` for a gap not repaired yet, from :func:`measure_fit`'s record."""
    advice = "automatic ω will follow the candidate closely; compare with Sim"
    return _poor_fit_sentence(record, model, advice)


def make_repairs(
    audio: Audio,
    gap: Gap,
    request: RepairRequest,
    *,
    other_gaps=(),
    progress=None,
    cancel=None,
) -> list[Repair]:
    """Repair ``gap`` as ``request`` says; one :class:`Repair` per take (one for LPC and Sim).

    With ``request.band_hz`` each take is the full-band repair limited to that band
    (``session.band.band_limit``: the source outside the band, the fill inside it).

    Parameters
    ----------
    audio : Audio
        The source recording.
    gap : Gap
        A validated gap of ``audio``.
    other_gaps : sequence of Gap
        The session's other gaps (never used as candidates or context).
    """
    band_hz = band.check_band(request.band_hz, audio.sr)  # before any work
    repairs = _full_band_repairs(
        audio, gap, request, other_gaps=other_gaps, progress=progress, cancel=cancel
    )
    if band_hz is None:
        return repairs
    bounds = margin_bounds(gap, other_gaps, audio.n_samples)
    return [band.band_limit(audio, r, band_hz, bounds) for r in repairs]


def _full_band_repairs(
    audio: Audio,
    gap: Gap,
    request: RepairRequest,
    *,
    other_gaps=(),
    progress=None,
    cancel=None,
) -> list[Repair]:
    """:func:`make_repairs` over the whole spectrum (``request.band_hz`` is not read)."""
    t0 = time.perf_counter()
    if gap.start_sample <= 0 and gap.end_sample >= audio.n_samples:
        raise InputError(f"gap {gap.describe(audio.sr)} has no usable context on either side")
    method = resolve_method(request, gap, audio.sr)
    info = RepairInfo(method_requested=request.method)
    check_cancel(cancel)
    if method == "lpc":
        lpc = _engine("simdps_studio.search.lpc", "LPC repair")
        # LPC reads a few hundred milliseconds beside the gap: convert a window, not the track
        # (an hour of stereo took seconds and a gigabyte per repair).
        lo, hi = neighbour_edges(gap, other_gaps, audio.n_samples)  # others are missing too
        w0, w1 = max(lo, gap.start_sample - audio.sr), min(hi, gap.end_sample + audio.sr)
        fill = lpc.lpc_fill(
            audio.to_float(w0, w1),
            gap.start_sample - w0,
            gap.end_sample - w0,
            audio.sr,
            cancel=cancel,
        )
        info = replace(info, seconds=round(time.perf_counter() - t0, 3))
        if progress is not None:
            progress(1.0, "done")
        return [Repair(gap, "lpc", gap.start_sample, fill.astype(np.float32), info.to_params())]

    sim = _engine("simdps_studio.search.sim", "Sim repair")
    cand = None
    cand_x = None
    # The search's share of the progress bar: next to a diffusion run of minutes it is a few
    # seconds at most (and cached when the app found the candidates before), so a large share
    # made the bar jump and the first time-left estimate far too short.
    search_share = 0.2 if method == "sim" else DIFFUSION_SEARCH_SHARE
    if request.guide is not None:
        cand_x = _guide_samples(audio, gap, request.guide)
        info = replace(info, candidate={"source": "guide file"})
    elif method in ("sim", "simdps"):
        cand = _choose_candidate(
            audio, gap, other_gaps, request, sub_progress(progress, 0, search_share), cancel
        )
        args, kwargs = _sim_args(audio, gap, cand, request.corpus)
        cand_x = sim.candidate_samples(*args, **kwargs)
        info = replace(info, candidate=cand.to_dict())

    if method == "sim":
        bounds = margin_bounds(gap, other_gaps, audio.n_samples)
        if cand is None:  # a guide file: paste it with the same crossfades
            span_start, fill = sim.sim_fill_samples(
                audio, audio.sr, gap.start_sample, gap.end_sample, cand_x, bounds=bounds
            )
        else:
            span_start, fill = sim.sim_fill(*args, **kwargs, bounds=bounds)
        info = replace(info, seconds=round(time.perf_counter() - t0, 3))
        if progress is not None:
            progress(1.0, "done")
        return [Repair(gap, "sim", int(span_start), fill.astype(np.float32), info.to_params())]

    # Diffusion: DPS (no candidate term) or SimDPS.
    pipeline = _engine("simdps_studio.inpaint.pipeline", "diffusion inpainting")
    checkpoint = _engine("simdps_studio.inpaint.checkpoint", "diffusion models")
    denoiser = checkpoint.load_model(request.model or DEFAULT_MODEL, device="cpu")
    # How well the prior knows the music before the gap: reported, and used by automatic ω.
    t_fit = time.perf_counter()
    prior_fit = measure_fit(
        audio,
        gap,
        request.model,
        other_gaps=other_gaps,
        device=request.device,
        denoiser=denoiser,
        progress=progress,
        progress_at=search_share if cand is not None else 0.0,
        cancel=cancel,
    )
    # Paid once per gap and model (cached): benchmarks take it out of a method's time. A
    # diffusion repair records a fit it could not measure, and a start from noise, as null.
    info = replace(
        info,
        prior_fit=prior_fit,
        prior_fit_seconds=round(time.perf_counter() - t_fit, 3),
        nulls=frozenset({"prior_fit", "start_sigma"}),
    )
    omega = 0.0 if method == "dps" else resolve_omega(request.omega, cand, poor_fit=info.poor_fit)
    if method == "simdps" and is_auto_omega(request.omega):
        from_score = resolve_omega("auto", cand)
        info = replace(
            info, omega_auto={"from_score": from_score, "raised_for_poor_fit": omega > from_score}
        )
    steps = request.steps if request.steps is not None else default_steps(request.draft)
    margin_ms = check_margin_ms(request.margin_ms)
    margins = diffusion_margins(audio, gap, other_gaps, margin_ms)
    # The sampler reads at most a model window beside the gap: convert that much of the track
    # (plus a second for the resampler), not all of it (an hour of stereo: 1.3 GB per repair).
    pad = int(math.ceil(denoiser.segment_length * audio.sr / denoiser.sample_rate)) + audio.sr
    w0, w1 = max(gap.start_sample - pad, 0), min(gap.end_sample + pad, audio.n_samples)
    result = pipeline.inpaint_gap(
        audio.to_float(w0, w1),
        audio.sr,
        gap.start_sample - w0,
        gap.end_sample - w0,
        denoiser=denoiser,
        candidate=cand_x if method == "simdps" else None,
        unobserved=[
            (max(g.start_sample, w0) - w0, min(g.end_sample, w1) - w0)
            for g in other_gaps
            if g.end_sample > w0 and g.start_sample < w1
        ],
        margins=margins,
        omega=omega,
        omega_y=request.omega_y,
        steps=steps,
        takes=request.takes,
        seed=request.seed,
        draft=request.draft,
        device=request.device,
        precision=request.precision,
        sampler_options=pipeline.InpaintOptions(
            sampler=pipeline.SamplerOptions(**warm_start_options(request.start_sigma))
        ),
        progress=sub_progress(progress, search_share if cand is not None else 0.0, 1.0),
        cancel=cancel,
    )
    # Fewer calls than asked for with a warm start.
    calls = n_denoiser_calls(result.options["steps_run"], solver_for(request.draft))
    info = replace(
        info,
        omega=omega,
        omega_y=request.omega_y,
        steps=steps,
        draft=request.draft,
        model=request.model or DEFAULT_MODEL,
        device=result.device,
        precision=result.options["precision"],
        precision_reason=result.options["precision_reason"],
        start_sigma=result.options["start_sigma"],
        # For the app's time estimate: the sampling alone, and what it cost in network calls.
        sampling_seconds=round(result.seconds, 3),
        network_item_calls=calls * result.sampled_items,
        margin_ms=margin_ms,
        margin_samples=list(result.margins),
    )
    seconds = round(time.perf_counter() - t0, 3)
    return [
        Repair(
            gap,
            method,
            gap.start_sample - result.margins[0],  # a margin too short to fade over is dropped
            np.asarray(fill, np.float32),
            replace(info, seed=int(seed), take=i + 1, seconds=seconds).to_params(),
        )
        for i, (fill, seed) in enumerate(zip(result.fills, result.seeds))
    ]


def warm_start_options(start_sigma: float | None) -> dict[str, float]:
    """The pipeline's sampler options for a warm start at ``start_sigma`` (None or >= 1: off)."""
    if start_sigma is None:
        return {}
    if not (math.isfinite(start_sigma) and start_sigma > 0):
        raise InputError(f"the warm start's noise level must be positive, not {start_sigma}")
    return {"start_sigma": float(start_sigma)} if start_sigma < 1.0 else {}


def preview_candidate(audio: Audio, gap: Gap, candidate, *, corpus=()) -> Repair:
    """The Sim repair of ``gap`` with a given ``candidate`` (e.g. to audition it in place).

    Unlike :func:`make_repairs` it does not search again: the candidate comes from an earlier
    :func:`find_candidates` call (with the same ``corpus``). The result carries the real
    crossfades of a Sim repair.
    """
    sim = _engine("simdps_studio.search.sim", "Sim repair")
    args, kwargs = _sim_args(audio, gap, candidate, corpus)
    span_start, fill = sim.sim_fill(*args, **kwargs)
    info = RepairInfo(method_requested="sim", candidate=candidate.to_dict(), preview=True)
    return Repair(gap, "sim", int(span_start), np.asarray(fill, np.float32), info.to_params())


def detect_dropouts(audio: Audio, *, progress=None, cancel=None) -> list:
    """Suggested gaps (digital silence, level drops, clipping) from the dropout detector."""
    detect = _engine("simdps_studio.search.detect", "dropout detection")
    return list(
        detect.detect_dropouts(audio.to_float(), audio.sr, progress=progress, cancel=cancel)
    )
