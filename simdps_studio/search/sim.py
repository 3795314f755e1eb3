"""Sim repair (the paper's baseline): paste the candidate into the gap with crossfades outside it.

The repaired span is the gap plus a crossfade margin on each side (10 ms by default, clipped to the
track): inside the gap the fill is the candidate times the suggested gain; in each margin the
original fades out and the candidate fades in (or back) with complementary raised-cosine weights,
so the gap itself holds candidate samples only, because the original is valid only outside it.

Three entry points:

* :func:`sim_fill` pastes a candidate given by its position (in the track itself or in another
  recording, ``source=``); the margins use the candidate passage's own neighbours.
* :func:`sim_fill_samples` pastes an arbitrary gap-length array (e.g. ``--guide FILE``). Such an
  array has no neighbours, so it is extended into the margins by Burg AR extrapolation of its own
  first and last samples (the same model as the LPC repair); the margins then crossfade the
  original into that extension, and the gap still holds exactly the array (times the gain).
* :func:`candidate_samples` returns a candidate's gap-length samples at the track's rate and channel
  count (the SimDPS guide x̃), wherever it comes from.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from simdps_studio.audio.dsp import ar_extrapolate, raised_cosine
from simdps_studio.core.errors import InputError
from simdps_studio.core.types import Audio, native_to_float


def fade_in(n_samples: int) -> np.ndarray:
    """Raised-cosine fade-in weights strictly between 0 and 1; ``w + w[::-1] == 1``.

    Returns
    -------
    numpy.ndarray, shape (n_samples,), float64
    """
    return raised_cosine(n_samples, dtype=np.float64)


def sim_fill(
    x: np.ndarray,
    sr: int,
    gap_start_sample: int,
    gap_end_sample: int,
    candidate_start_sample: int,
    *,
    gain_db: float = 0.0,
    crossfade_s: float = 0.01,
    source: np.ndarray | Audio | None = None,
    source_sr: int | None = None,
    bounds: tuple[int, int] | None = None,
) -> tuple[int, np.ndarray]:
    """The Sim repair of one gap: the samples of its repaired span.

    Parameters
    ----------
    x : numpy.ndarray, shape (channels, n_samples) or (n_samples,)
        The track (float). Samples inside the gap are not used.
    sr : int
        Sample rate of ``x`` in Hz.
    gap_start_sample, gap_end_sample : int
        The gap ``[start, end)``.
    candidate_start_sample : int
        Start of the candidate passage in ``source`` (or in ``x`` when ``source`` is None), in that
        recording's own samples (:attr:`Candidate.start_sample`).
    gain_db : float
        Gain applied to the candidate (e.g. :attr:`Candidate.gain_db`).
    crossfade_s : float
        Length of each raised-cosine crossfade, placed outside the gap edges.
    source : numpy.ndarray, shape (channels_src, n_src), or Audio, optional
        Another recording the candidate comes from (a corpus track). With a different channel count
        its mid signal is used for every channel.
    source_sr : int, optional
        Sample rate of an array ``source`` (default ``sr``; an Audio brings its own); a different
        rate is resampled to ``sr``.
    bounds : (int, int), optional
        ``[lo, hi)`` the span must stay inside (the margins shrink to fit): halfway to the
        neighbouring gaps, so no crossfade reaches into another gap's span.

    Returns
    -------
    span_start_sample : int
        First sample of the repaired span, ``max(0, gap_start - margin)``.
    fill : numpy.ndarray, shape (channels, span_length), float32
        Samples that replace ``x[:, span_start : span_start + span_length]``; the span ends at
        ``min(n_samples, gap_end + margin)``. Everything outside the span stays as it is.

    Raises
    ------
    InputError
        If the gap is invalid, or the candidate passage does not lie inside its source (or overlaps
        the gap in the same track).
    """
    x, n = _as_track(x, sr)
    s, e, t = int(gap_start_sample), int(gap_end_sample), int(candidate_start_sample)
    _check_gap(s, e, n)
    span_start, span_end = repaired_span(s, e, n, crossfade_s, sr, bounds)
    left, right = s - span_start, span_end - e
    src, src_sr = _as_source(x, sr, source, source_sr)
    cand = _candidate_region(x, sr, s, e, t, left, right, src, src_sr, own=source is None)
    return span_start, _splice(x, span_start, span_end, cand, left, right, gain_db)


def sim_fill_samples(
    x: np.ndarray,
    sr: int,
    gap_start_sample: int,
    gap_end_sample: int,
    candidate: np.ndarray,
    *,
    gain_db: float = 0.0,
    crossfade_s: float = 0.01,
    bounds: tuple[int, int] | None = None,
) -> tuple[int, np.ndarray]:
    """The Sim repair with an arbitrary candidate array (e.g. ``--guide FILE``).

    The array has no samples around it, so the crossfade margins (outside the gap, as in
    :func:`sim_fill`) use its continuation by Burg AR extrapolation: backwards from its first
    samples into the left margin, forwards from its last samples into the right margin. The gap
    holds exactly ``candidate[:, :L]`` times the gain; each margin fades from the original into the
    extrapolated candidate, so the seam is continuous on both sides.

    Parameters
    ----------
    x : numpy.ndarray, shape (channels, n_samples) or (n_samples,)
        The track (float). Samples inside the gap are not used.
    sr : int
        Sample rate in Hz (of both ``x`` and ``candidate``).
    gap_start_sample, gap_end_sample : int
        The gap ``[start, end)`` of length ``L``.
    candidate : numpy.ndarray, shape (channels_c, n_c) or (n_c,), n_c >= L
        The samples to paste; the first ``L`` are used. With a different channel count its mean is
        used for every channel. NaN/Inf become 0.
    gain_db : float
        Gain applied to the candidate.
    crossfade_s : float
        Length of each crossfade outside the gap edges.
    bounds : (int, int), optional
        As for :func:`sim_fill`.

    Returns
    -------
    span_start_sample : int
    fill : numpy.ndarray, shape (channels, span_length), float32
        As for :func:`sim_fill`: the span is the gap plus the margins, clipped to the track.

    Raises
    ------
    InputError
        If the gap is invalid or the candidate is shorter than the gap.
    """
    from simdps_studio.search.lpc import default_order

    x, n = _as_track(x, sr)
    s, e = int(gap_start_sample), int(gap_end_sample)
    _check_gap(s, e, n)
    c = np.asarray(candidate)
    c = c[None, :] if c.ndim == 1 else c
    if c.ndim != 2 or c.dtype.kind not in "fiu":
        raise InputError(f"candidate must be a (channels, n_samples) array, got shape {c.shape}")
    length = e - s
    if c.shape[1] < length:
        raise InputError(
            f"candidate is shorter ({c.shape[1] / sr:.3f} s) than the gap ({length / sr:.3f} s)"
        )
    body = _clean(native_to_float(c[:, :length]) if c.dtype.kind in "iu" else c[:, :length])
    body = _match_channels(body, _channels(x))
    span_start, span_end = repaired_span(s, e, n, crossfade_s, sr, bounds)
    left, right = s - span_start, span_end - e
    order = default_order(sr)
    n_ctx = min(length, 24 * order)
    cand = np.empty((_channels(x), left + length + right))
    cand[:, left : left + length] = body
    for ch in range(_channels(x)):
        if left:
            back = ar_extrapolate(body[ch, :n_ctx][::-1], left, order)
            cand[ch, :left] = back[::-1]
        if right:
            cand[ch, left + length :] = ar_extrapolate(body[ch, length - n_ctx :], right, order)
    return span_start, _splice(x, span_start, span_end, cand, left, right, gain_db)


def candidate_samples(
    x: np.ndarray,
    sr: int,
    gap_start_sample: int,
    gap_end_sample: int,
    candidate_start_sample: int,
    *,
    gain_db: float = 0.0,
    source: np.ndarray | Audio | None = None,
    source_sr: int | None = None,
) -> np.ndarray:
    """A candidate's gap-length passage at the track's rate and channel count (the guide x̃).

    Parameters
    ----------
    x : numpy.ndarray, shape (channels, n_samples) or (n_samples,)
        The track the gap belongs to (sets the channel count and, without ``source``, holds the
        candidate).
    sr : int
        Sample rate of ``x`` in Hz.
    gap_start_sample, gap_end_sample : int
        The gap ``[start, end)`` of length ``L``.
    candidate_start_sample : int
        Start of the passage in its recording's own samples.
    gain_db : float
        Gain applied to the passage (e.g. :attr:`Candidate.gain_db`).
    source, source_sr
        The corpus recording the candidate comes from, as for :func:`sim_fill`.

    Returns
    -------
    numpy.ndarray, shape (channels, L), float32
    """
    x, n = _as_track(x, sr)
    s, e, t = int(gap_start_sample), int(gap_end_sample), int(candidate_start_sample)
    _check_gap(s, e, n)
    src, src_sr = _as_source(x, sr, source, source_sr)
    cand = _candidate_region(x, sr, s, e, t, 0, 0, src, src_sr, own=source is None)
    return (cand * 10.0 ** (gain_db / 20.0)).astype(np.float32)


def corpus_source(corpus: Sequence, candidate) -> tuple[np.ndarray | Audio | None, int | None]:
    """The ``(source, source_sr)`` arguments of :func:`sim_fill` for a candidate.

    Parameters
    ----------
    corpus : sequence
        The same ``corpus`` that was given to :func:`~simdps_studio.search.find_candidates`
        (entries: Audio, :class:`~simdps_studio.search.CorpusTrack`, or ``(name, audio[, sr])``).
    candidate : Candidate
        A candidate it returned; ``candidate.source_index`` picks the entry.

    Returns
    -------
    source : Audio, numpy.ndarray or None
        ``None`` for a candidate from the gap's own track.
    source_sr : int or None
    """
    index = getattr(candidate, "source_index", None)
    if index is None:
        return None, None
    if not 0 <= index < len(corpus):
        raise InputError(
            f"candidate comes from corpus entry {index}, but the corpus has {len(corpus)}"
        )
    item = corpus[index]
    if isinstance(item, Audio):
        return item, item.sr
    if isinstance(item, tuple):
        return item[1], (item[2] if len(item) == 3 else None)
    return item.audio, item.sr  # CorpusTrack


def _as_track(x: np.ndarray | Audio, sr: int) -> tuple[np.ndarray | Audio, int]:
    """The track and its length; an Audio stays as it is (read a stretch at a time: a whole
    hour converted to float for every repair or audition took seconds and a gigabyte)."""
    if isinstance(x, Audio):
        if int(sr) != x.sr:
            raise InputError(f"sample rate {sr} does not match the track's {x.sr} Hz")
        return x, x.n_samples
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise InputError(f"audio must have shape (channels, n_samples), got {x.shape}")
    if int(sr) <= 0:
        raise InputError(f"sample rate must be positive, got {sr}")
    return x, x.shape[1]


def _check_gap(s: int, e: int, n: int) -> None:
    if not 0 <= s < e <= n:
        raise InputError(f"gap [{s}, {e}) is empty or outside the track (0 to {n} samples)")


def repaired_span(
    s: int, e: int, n: int, crossfade_s: float, sr: int, bounds: tuple[int, int] | None = None
) -> tuple[int, int]:
    """The repaired span: the gap plus the crossfade margins, clipped to the track and bounds.

    Also the span of a diffusion repair with a declared margin (``session.engines``), so both
    kinds of repair stop at the same places.

    Parameters
    ----------
    s, e : int
        The gap ``[s, e)``.
    n : int
        Track length in samples.
    crossfade_s : float
        Margin on each side, seconds (>= 0).
    sr : int
        Sample rate in Hz.
    bounds : (int, int), optional
        ``[lo, hi)`` the span must stay inside (``session.engines.margin_bounds``: halfway to the
        neighbouring gaps).

    Returns
    -------
    (int, int)
        ``[span_start, span_end)``.
    """
    if not crossfade_s >= 0:
        raise InputError(f"crossfade must not be negative, got {crossfade_s}")
    margin = int(round(crossfade_s * sr))
    lo, hi = (0, n) if bounds is None else (max(0, int(bounds[0])), min(n, int(bounds[1])))
    if not lo <= s < e <= hi:
        raise InputError(f"the span bounds [{lo}, {hi}) do not hold the gap [{s}, {e})")
    return max(lo, s - margin), min(hi, e + margin)


def _clean(a: np.ndarray) -> np.ndarray:
    """Float64 copy with NaN/Inf as 0 (they would spread into the export)."""
    return np.nan_to_num(np.asarray(a, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)


def _splice(x, span_start, span_end, cand, left, right, gain_db) -> np.ndarray:
    """Crossfade ``cand`` (covering the span) with the original in the margins; float32."""
    cand = _clean(cand) * 10.0 ** (gain_db / 20.0)
    orig = _clean(_read(x, span_start, span_end))
    fill = cand.copy()
    if left:
        w = fade_in(left)
        fill[:, :left] = (1.0 - w) * orig[:, :left] + w * cand[:, :left]
    if right:
        w = fade_in(right)[::-1]
        fill[:, -right:] = (1.0 - w) * orig[:, -right:] + w * cand[:, -right:]
    return fill.astype(np.float32)


def _as_source(x, sr, source, source_sr) -> tuple[np.ndarray | Audio, int]:
    """The recording the candidate is read from and its rate."""
    if source is None:
        return x, sr
    if isinstance(source, Audio):
        if source_sr is not None and int(source_sr) != source.sr:
            raise InputError(f"source_sr {source_sr} does not match the source's {source.sr} Hz")
        return source, source.sr
    src = np.asarray(source)
    src = src[None, :] if src.ndim == 1 else src
    if src.ndim != 2 or src.dtype.kind not in "fiu":
        raise InputError(f"candidate source must be (channels, n_samples), got shape {src.shape}")
    rate = int(source_sr or sr)
    if rate <= 0:
        raise InputError(f"source sample rate must be positive, got {source_sr}")
    return src, rate


def _channels(x: np.ndarray | Audio) -> int:
    return x.channels if isinstance(x, Audio) else x.shape[0]


def _read(src: np.ndarray | Audio, a: int, b: int) -> np.ndarray:
    """Float64 samples of ``src`` over ``[a, b)`` (via float32, as ``Audio.to_float``), zero
    outside the recording."""
    samples = src.samples if isinstance(src, Audio) else src
    n = samples.shape[1]
    out = np.zeros((samples.shape[0], max(0, b - a)))
    lo, hi = max(0, a), min(n, b)
    if hi > lo:
        out[:, lo - a : hi - a] = native_to_float(samples[:, lo:hi])
    return out


def _candidate_region(x, sr, s, e, t, left, right, src, src_sr, *, own) -> np.ndarray:
    """Candidate samples for ``[t - left, t + L + right)`` with the channel count of ``x``.

    Where a margin runs off the source (or, in the same track, into the gap), the original samples
    at the span's position stand in for the candidate, so the crossfade keeps the original there
    instead of fading to silence or to missing samples.
    """
    channels, length = _channels(x), e - s
    n_src = (src.samples if isinstance(src, Audio) else src).shape[1]
    if src_sr != sr:
        return _resampled_region(src, src_sr, sr, t, length, left, right, channels)
    if not 0 <= t <= n_src - length:
        raise InputError(f"candidate [{t}, {t + length}) does not lie inside its source")
    if own and t < e and s < t + length:
        raise InputError(f"candidate [{t}, {t + length}) overlaps the gap [{s}, {e})")
    pos = np.arange(t - left, t + length + right)
    usable = (pos >= 0) & (pos < n_src)
    if own:
        usable &= (pos < s) | (pos >= e)
    region = _match_channels(_read(src, t - left, t + length + right), channels)
    # Only margin samples can be unusable here (the body was checked above).
    region[:, ~usable] = _read(x, s - left, e + right)[:, ~usable]
    return region


def _resampled_region(src, src_sr, sr, t, length, left, right, channels) -> np.ndarray:
    """The candidate region from a source at another rate, resampled to ``sr``."""
    import soxr

    ratio = src_sr / sr
    n_src = (src.samples if isinstance(src, Audio) else src).shape[1]
    if t < 0 or t + length * ratio > n_src:
        raise InputError("candidate does not lie inside its source")
    # Output sample k of the resampler lies at input position a + k * P / Q (ratio = P / Q in
    # lowest terms): with t - a a multiple of P, sample t falls exactly on the output grid, so the
    # passage is not shifted by a fraction of a sample (which would cost ~10 dB of SNR here).
    p = src_sr // math.gcd(src_sr, sr)
    pad = 64
    lead = (left + pad) * ratio
    step = p if p <= 1 << 16 else 1
    a = t - step * math.ceil(lead / step)
    b = int(np.ceil(t + (length + right + pad) * ratio))
    block = _clean(_read(src, a, b))
    y = np.atleast_2d(soxr.resample(block.T, src_sr, sr).T)
    first = int(round((t - a) / ratio)) - left
    out = np.zeros((y.shape[0], left + length + right))
    seg = y[:, max(0, first) : first + out.shape[1]]
    out[:, : seg.shape[1]] = seg
    return _match_channels(out, channels)


def _match_channels(region: np.ndarray, channels: int) -> np.ndarray:
    if region.shape[0] == channels:
        return region
    return np.repeat(region.mean(axis=0, keepdims=True), channels, axis=0)
