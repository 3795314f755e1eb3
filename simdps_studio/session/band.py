"""Band-limited (spectral) repair: the fill replaces one frequency band of the gap, the rest keeps
the source's samples.

Any method's full-band repair is made first (``engines.make_repairs``); :func:`band_limit` then
keeps only the band of its *difference* from the source: with ``x`` the source and ``y`` the
full-band result, the output is ``x + bp * (y - x)``, where ``bp`` is a zero-phase Kaiser-window
band-pass (``audio.dsp.band_pass_taps``). That is the band-rejected source plus the band-passed
fill (``(delta - bp) * x + bp * y``), a complementary pair whose sum is the identity: where the
fill equals the source, so does the output, and outside the band the source comes through to the
filter's stopband level (:data:`BAND_STOP_DB`).

The difference ``y - x`` lies in the repaired span; filtered, it rings up to half the filter's
length beyond it, so the span grows by that much on each side (clipped, with a fade, at the
limits of ``engines.margin_bounds``). Every sample outside the grown span stays bit-identical to
the source, as for every repair. See docs/architecture.md, section 2.

numpy only (no Qt, no torch).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from simdps_studio.audio.dsp import SILENT_PEAK, band_pass_taps, fir_full, raised_cosine
from simdps_studio.core.errors import InputError
from simdps_studio.core.types import Audio
from simdps_studio.session.repair import Repair

#: Width of each crossfade in frequency, Hz (stopband edge to passband edge; the band's edge is
#: its middle). The filter's length is inversely proportional to it: 200 Hz keeps the filter to
#: 32 ms (±16 ms, about a Sim crossfade beyond the span) and its ringing to a few ms, while a
#: band edge still moves from source to fill within 200 Hz (a tone 100 Hz or more outside the
#: band is the source's).
BAND_TRANSITION_HZ = 200.0
#: Narrowest crossfade a band may get (a narrow band, or an edge near 0 Hz or Nyquist, narrows
#: it): 20 Hz is a 0.32 s filter, the longest the span should grow by.
MIN_TRANSITION_HZ = 20.0
#: Stopband attenuation of the band split, dB: the fill leaks into the rest of the spectrum (and
#: the source into the band) 100 dB down, below a 16-bit step (-96 dBFS) for a full-scale fill.
BAND_STOP_DB = 100.0
#: Tolerance of the band null test (:func:`band_null_residual`) relative to the peak of the
#: repair's change: the stopband ripple (1e-5) of the band-pass and of the measuring band-reject
#: filter, summed over their taps, stays below it; float32 storage of the fill adds 6e-8.
BAND_NULL_TOLERANCE = 1e-4


def parse_band(text: str) -> tuple[float, float]:
    """``"LO:HI"`` in Hz (the CLI's ``--band``) as two numbers, checked without the sample rate.

    Raises
    ------
    InputError
        Not two numbers, a negative or non-finite one, or LO not below HI.
    """
    parts = str(text).split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        lo, hi = float(parts[0]), float(parts[1])
    except ValueError:
        raise InputError(f"--band must be LO:HI in Hz (e.g. 300:3000), not {text!r}") from None
    check_band_order(lo, hi)
    return lo, hi


def check_band_order(lo_hz: float, hi_hz: float) -> None:
    """Refuse a band with a negative or non-finite edge or LO not below HI (``InputError``)."""
    if not (math.isfinite(lo_hz) and math.isfinite(hi_hz)):
        raise InputError(f"band {lo_hz:g}:{hi_hz:g} Hz: the edges must be finite numbers")
    if lo_hz < 0 or hi_hz < 0:
        raise InputError(f"band {lo_hz:g}:{hi_hz:g} Hz: frequencies cannot be negative")
    if lo_hz >= hi_hz:
        raise InputError(f"band {lo_hz:g}:{hi_hz:g} Hz: LO must be below HI")


def band_transition_hz(lo_hz: float, hi_hz: float, sr: int) -> float:
    """Width of the band's crossfades: :data:`BAND_TRANSITION_HZ`, narrowed so that they neither
    overlap nor reach below 0 Hz or above Nyquist."""
    nyquist = sr / 2.0
    limits = [BAND_TRANSITION_HZ, hi_hz - lo_hz]
    if lo_hz > 0:
        limits.append(2.0 * lo_hz)
    if hi_hz < nyquist:
        limits.append(2.0 * (nyquist - hi_hz))
    return float(min(limits))


def check_band(band_hz: tuple[float, float] | None, sr: int) -> tuple[float, float] | None:
    """A band for a track at ``sr``: ``(lo_hz, hi_hz)``, or None for the full band.

    ``0:Nyquist`` is the full band (None).

    Raises
    ------
    InputError
        A bad order or sign (:func:`check_band_order`), HI above Nyquist, or a band too narrow
        (or too close to 0 Hz or Nyquist) for :data:`MIN_TRANSITION_HZ` crossfades.
    """
    if band_hz is None:
        return None
    lo, hi = float(band_hz[0]), float(band_hz[1])
    check_band_order(lo, hi)
    nyquist = sr / 2.0
    if hi > nyquist:
        raise InputError(
            f"band {lo:g}:{hi:g} Hz: HI is above the Nyquist frequency of this track "
            f"({nyquist:g} Hz at {sr} Hz)"
        )
    if lo == 0 and hi == nyquist:
        return None
    if band_transition_hz(lo, hi, sr) < MIN_TRANSITION_HZ:
        edge = MIN_TRANSITION_HZ / 2
        raise InputError(
            f"band {lo:g}:{hi:g} Hz is too narrow for its crossfades: make it at least "
            f"{MIN_TRANSITION_HZ:g} Hz wide, with LO 0 or from {edge:g} Hz and HI at Nyquist or "
            f"{edge:g} Hz below it"
        )
    return lo, hi


def band_taps(lo_hz: float, hi_hz: float, sr: int) -> np.ndarray:
    """The band-pass of a band-limited repair (:func:`audio.dsp.band_pass_taps`)."""
    return band_pass_taps(
        lo_hz,
        hi_hz,
        sr,
        transition_hz=band_transition_hz(lo_hz, hi_hz, sr),
        stop_db=BAND_STOP_DB,
    )


def _fade_clipped_ends(change: np.ndarray, clipped: tuple[int, int]) -> None:
    """Fade (in place) a filtered change to zero over the ``(before, after)`` samples left of its
    tails where a limit cut them: a cut tail would otherwise step there."""
    before, after = clipped
    if before:
        change[:, :before] *= raised_cosine(before)
    if after:
        change[:, -after:] *= raised_cosine(after)[::-1]


def _trim_silent_tails(
    change: np.ndarray, start: int, span: tuple[int, int]
) -> tuple[int, int, np.ndarray]:
    """Drop the tails of a filtered change outside ``span`` where it stays at or below
    ``audio.dsp.SILENT_PEAK`` (a 24-bit step): those samples keep the source's exact values (and
    the export leaves them undithered). Returns ``(start, end, change)`` trimmed."""
    loud = np.flatnonzero(np.max(np.abs(change), axis=0) > SILENT_PEAK)
    first = min(int(loud[0]) if loud.size else span[0] - start, span[0] - start)
    last = max(int(loud[-1]) + 1 if loud.size else span[1] - start, span[1] - start)
    return start + first, start + last, change[:, first:last]


def band_limit(
    audio: Audio, repair: Repair, band_hz: tuple[float, float], bounds: tuple[int, int]
) -> Repair:
    """``repair`` limited to ``band_hz``: the source plus the band of the repair's change.

    Parameters
    ----------
    audio : Audio
        The source recording.
    repair : Repair
        A full-band repair of one gap.
    band_hz : (float, float)
        ``(lo_hz, hi_hz)``, checked by :func:`check_band`.
    bounds : (int, int)
        Samples the span may reach (``engines.margin_bounds``: halfway to the neighbouring gaps,
        the track's ends).

    Returns
    -------
    Repair
        Same gap, method and id; its span grown by up to the filter's half-length on each side
        (within ``bounds``, and only as far as the filtered change exceeds ``SILENT_PEAK``),
        its fill ``x + bp * (fill - x)`` (float32), and ``info.band_hz``: ``{"lo", "hi",
        "transition"}`` in Hz.
    """
    lo, hi = band_hz
    taps = band_taps(lo, hi, audio.sr)
    half = len(taps) // 2
    s0, s1 = repair.span_start_sample, repair.span_end_sample
    change = repair.fill.astype(np.float64) - audio.to_float(s0, s1)
    # The full convolution covers [s0 - half, s1 + half): the filtered change and its tails.
    start, end = max(s0 - half, bounds[0], 0), min(s1 + half, bounds[1], audio.n_samples)
    filtered = fir_full(change, taps)[:, start - (s0 - half) : end - (s0 - half)]
    # A tail cut inside the track fades out over what is left of it; at the track's ends nothing
    # follows, so nothing steps.
    cut_before = start > s0 - half and start > 0
    cut_after = end < s1 + half and end < audio.n_samples
    clipped = (s0 - start if cut_before else 0, end - s1 if cut_after else 0)
    _fade_clipped_ends(filtered, clipped)
    start, end, filtered = _trim_silent_tails(filtered, start, (s0, s1))
    fill = (audio.to_float(start, end) + filtered).astype(np.float32)
    transition = band_transition_hz(lo, hi, audio.sr)
    info = replace(repair.info, band_hz={"lo": lo, "hi": hi, "transition": transition})
    return replace(repair, span_start_sample=start, fill=fill, params=info.to_params())


def band_null_residual(audio: Audio, repair: Repair) -> float | None:
    """The band null test: peak of the band-rejected change of a band-limited repair, relative
    to the peak of the change (None for a full-band repair).

    The change (fill minus source over the span) is passed through a band-reject filter whose
    stopband holds the band and both crossfades (edges one transition outside the band's), so
    what remains is what the repair changed outside them: 0 up to the filters' stopband ripple
    (:data:`BAND_NULL_TOLERANCE`). An edge whose measuring crossfade would reach below 0 Hz or
    above Nyquist is left open there (that side of the spectrum is not measured).
    """
    band = repair.info.band_hz
    if not band:
        return None
    lo, hi, transition = float(band["lo"]), float(band["hi"]), float(band["transition"])
    nyquist = audio.sr / 2.0
    lo_w = lo - transition if lo - 1.5 * transition >= 0 else 0.0
    hi_w = hi + transition if hi + 1.5 * transition <= nyquist else nyquist
    change = repair.fill.astype(np.float64) - audio.to_float(
        repair.span_start_sample, repair.span_end_sample
    )
    peak = float(np.max(np.abs(change), initial=0.0))
    if peak == 0.0:
        return 0.0
    if lo_w == 0.0 and hi_w == nyquist:
        return 0.0  # nothing left outside the measured band
    taps = band_pass_taps(lo_w, hi_w, audio.sr, transition_hz=transition, stop_db=BAND_STOP_DB)
    passed = fir_full(change, taps)
    half = len(taps) // 2
    rejected = -passed
    rejected[:, half : half + change.shape[1]] += change  # (delta - bp) * change
    return float(np.max(np.abs(rejected))) / peak
