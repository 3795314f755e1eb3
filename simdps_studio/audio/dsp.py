"""Small signal helpers: resampling (soxr), TPDF dither and quantisation, fades, AR
prediction, mono, level.

Arrays have time on the last axis: ``(n,)``, ``(channels, n)`` or any ``(..., n)``.
"""

from __future__ import annotations

import numpy as np
import soxr

from simdps_studio.core.errors import InputError
from simdps_studio.core.types import bits_for_subtype, native_dtype_for_subtype

#: Level reported for digital silence, in dB (instead of -inf).
SILENCE_DB = -240.0
#: Peak at or below which a signal counts as silence (2**-24: under a 24-bit LSB). A diffusion
#: repair does not sample a model item (channel, mid or side) that is silent around the gap and
#: in the candidate: the side of a dual-mono file, so it costs what mono does and stays mono.
SILENT_PEAK = 2.0**-24


def resample(x: np.ndarray, sr_in: int, sr_out: int, *, quality: str = "VHQ") -> np.ndarray:
    """Resample along the last axis with libsoxr.

    Parameters
    ----------
    x : numpy.ndarray, shape (..., n)
        Float (or integer, converted as is) samples.
    sr_in, sr_out : int
        Sample rates in Hz.
    quality : str
        soxr quality: ``"QQ"``, ``"LQ"``, ``"MQ"``, ``"HQ"`` or ``"VHQ"``.

    Returns
    -------
    numpy.ndarray, shape (..., m), float32
        ``m`` is about ``n * sr_out / sr_in`` (soxr's rounding). The filter's delay is compensated,
        so sample ``k`` of the output sits at time ``k / sr_out`` like the input's.
    """
    if sr_in <= 0 or sr_out <= 0:
        raise InputError(f"sample rates must be positive, got {sr_in} and {sr_out}")
    x = np.asarray(x, dtype=np.float32)
    if sr_in == sr_out:
        return x.copy()
    lead, n = x.shape[:-1], x.shape[-1]
    if n == 0:
        return np.zeros((*lead, 0), dtype=np.float32)
    if x.size == 0:  # no channels: only the output length matters
        m = len(soxr.resample(np.zeros(n, np.float32), sr_in, sr_out, quality=quality))
        return np.zeros((*lead, m), dtype=np.float32)
    # soxr wants (frames, channels): flatten every leading axis into channels.
    frames = np.ascontiguousarray(x.reshape(-1, n).T)
    y = soxr.resample(frames, sr_in, sr_out, quality=quality)
    y = np.asarray(y, dtype=np.float32).reshape(-1, frames.shape[1])
    return np.ascontiguousarray(y.T).reshape(*lead, -1)


def _lsb_layout(subtype: str) -> tuple[np.dtype, int]:
    """Native dtype of a PCM subtype and its number of significant (left-aligned) bits."""
    bits = bits_for_subtype(subtype)
    dtype = native_dtype_for_subtype(subtype)
    if bits is None or dtype.kind == "f":
        raise InputError(f"{subtype} is not an integer PCM subtype")
    return dtype, bits


def _to_native(y: np.ndarray, dtype: np.dtype, bits: int) -> np.ndarray:
    """Round (in place) and clip ``y`` in LSB units; left-align into ``dtype``."""
    full = 2.0 ** (bits - 1)
    np.rint(y, out=y)
    np.clip(y, -full, full - 1, out=y)
    y *= 2.0 ** (dtype.itemsize * 8 - bits)
    return y.astype(dtype)


def quantize(x_float: np.ndarray, subtype: str) -> np.ndarray:
    """Round float samples to the LSB of ``subtype`` (no dither).

    Parameters
    ----------
    x_float : numpy.ndarray, shape (..., n)
        Samples in [-1, 1); outside values are clipped, NaN becomes 0.
    subtype : str
        Target subtype; float and lossy subtypes just cast.

    Returns
    -------
    numpy.ndarray, same shape, ``native_dtype_for_subtype(subtype)``
        Integers are left-aligned (a 24-bit sample ``v`` is stored as ``v * 256`` in int32).
    """
    dtype = native_dtype_for_subtype(subtype)
    if bits_for_subtype(subtype) is None or dtype.kind == "f":
        return np.asarray(x_float, dtype=dtype)
    dtype, bits = _lsb_layout(subtype)
    y = np.nan_to_num(np.asarray(x_float, dtype=np.float64) * 2.0 ** (bits - 1), nan=0.0)
    return _to_native(y, dtype, bits)


def tpdf_dither_quantize(
    x_float: np.ndarray, subtype: str, *, rng: np.random.Generator
) -> np.ndarray:
    """Quantise to ``subtype`` with TPDF dither of ±1 LSB.

    The dither is the difference of two independent uniform [0, 1) LSB variables (triangular on
    (-1, 1) LSB). It makes the total error independent of the signal, with mean 0 and variance
    1/4 LSB² (|error| <= 1.5 LSB), so quiet signals below one LSB survive as signal plus noise
    instead of being truncated to silence or distortion. Samples that are already on the target's
    grid are kept exactly (no rounding error to decorrelate), and channels that carry the same
    sample get the same dither there, so dual-mono material stays dual mono.

    Parameters
    ----------
    x_float : numpy.ndarray, shape (..., n)
        Samples in [-1, 1); outside values are clipped, NaN becomes 0.
    subtype : str
        Target subtype, e.g. ``"PCM_16"``; float and lossy subtypes are cast without dither.
    rng : numpy.random.Generator
        Source of the dither noise (the same seed gives the same output).

    Returns
    -------
    numpy.ndarray, same shape, ``native_dtype_for_subtype(subtype)``
        Left-aligned integers (see :func:`quantize`).
    """
    dtype = native_dtype_for_subtype(subtype)
    if bits_for_subtype(subtype) is None or dtype.kind == "f":
        return np.asarray(x_float, dtype=dtype)
    dtype, bits = _lsb_layout(subtype)
    y = np.nan_to_num(np.asarray(x_float, dtype=np.float64) * 2.0 ** (bits - 1), nan=0.0)
    # Samples already on the grid (silence, copies of samples of this depth) need no rounding:
    # dither would only add noise to them, so they are kept exactly.
    needs_rounding = y != np.rint(y)
    dither = rng.random(y.shape) - rng.random(y.shape)
    if y.ndim == 2:
        # Where channels carry the same sample (dual mono), they get the same dither and so stay
        # identical; elsewhere each channel's dither is its own.
        for c in range(1, y.shape[0]):
            for j in range(c):
                dither[c] = np.where(y[c] == y[j], dither[j], dither[c])
    y += np.where(needs_rounding, dither, 0.0)
    return _to_native(y, dtype, bits)


def raised_cosine_at(t: np.ndarray, *, falling: bool = False) -> np.ndarray:
    """The raised-cosine fade at positions ``t`` (0: its start, 1: its end; clipped to [0, 1]).

    Rising ``(1 - cos(pi t)) / 2`` or falling ``(1 + cos(pi t)) / 2``: the one fade curve of the
    project (crossfades, tapers, release envelopes); :func:`raised_cosine` samples it.

    Returns
    -------
    numpy.ndarray, shape of ``t``, float64
    """
    c = np.cos(np.pi * np.clip(np.asarray(t, dtype=np.float64), 0.0, 1.0))
    return 0.5 + 0.5 * c if falling else 0.5 - 0.5 * c


def raised_cosine(
    n: int, *, falling: bool = False, offset: float = 0.5, dtype: type = np.float32
) -> np.ndarray:
    """Raised-cosine fade of ``n`` samples, rising from near 0 to near 1 (or falling).

    Sample ``k`` sits at ``(k + offset) / n`` of :func:`raised_cosine_at`. The default, the sample
    centres (``r[k] = (1 - cos(pi (k + 1/2) / n)) / 2``), makes a crossfade
    ``a * r[::-1] + b * r`` keep unit gain (``r + r[::-1] == 1``) with neither end repeating a
    sample of the other signal at full weight; ``offset=0`` starts at exactly 0 (or 1).

    Returns
    -------
    numpy.ndarray, shape (n,), ``dtype`` (float32 unless asked)
    """
    if n < 0:
        raise InputError(f"fade length must be non-negative, got {n}")
    k = np.arange(n, dtype=np.float64)
    return raised_cosine_at((k + offset) / max(n, 1), falling=falling).astype(dtype)


#: RMS of the white noise added to a context before a Burg fit, relative to the context's RMS.
#: Burg's estimate of nearly noise-free tones is badly over-damped (the normal equations are
#: nearly singular); a -80 dB noise floor regularises it like a white-noise correction does
#: the autocorrelation method (measured on a synthetic piano tone, 20 ms ahead: 7 dB -> 47 dB).
AR_NOISE_FLOOR = 1e-4
#: Context RMS (its mean taken out) below which a context counts as silent: it is held.
AR_SILENCE_RMS = 1e-9
#: AR fitting methods of :func:`ar_extrapolate`.
AR_FITS = ("burg", "least-squares")


def ar_extrapolate(
    context: np.ndarray,
    n_samples: int,
    order: int,
    *,
    fit: str = "burg",
    max_growth: float = 2.0,
) -> np.ndarray:
    """Continue ``context`` by ``n_samples`` with an autoregressive (LPC) model fitted to it.

    The project's one AR predictor (LPC gap fills, Sim's candidate extension, the diffusion fills'
    seam tapers). The context's mean is taken out before the fit and held in the prediction (an
    all-pole model decays towards zero, which would turn a DC offset into a slow fade: a thump at
    a seam). The order is limited to a third of the context. The prediction is the fitted
    filter's zero-input response started from the context's last samples; when it is not finite
    or its peak exceeds ``max_growth`` times the context's, the order is halved and the fit
    retried, down to order 1; failing that (or for a context too short or silent to fit) the
    prediction holds the context's last sample.

    Parameters
    ----------
    context : numpy.ndarray, shape (n_context,)
        Samples just before the extrapolated stretch, oldest first (NaN/Inf read as zeros).
    n_samples : int
        Number of samples to predict.
    order : int
        Requested AR order.
    fit : {"burg", "least-squares"}
        Burg's method (``librosa.lpc``, regularised by :data:`AR_NOISE_FLOOR`; for long
        predictions) or the covariance method's least squares (cheap; for a few milliseconds).
    max_growth : float
        Largest prediction peak accepted, relative to the context's peak (both without the mean).

    Returns
    -------
    numpy.ndarray, shape (n_samples,), float64
    """
    if fit not in AR_FITS:
        raise InputError(f"unknown AR fit {fit!r} (choose {', '.join(AR_FITS)})")
    ctx = np.nan_to_num(np.asarray(context, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if ctx.size == 0:
        return np.zeros(n_samples)
    dc = float(np.mean(ctx))
    ctx = ctx - dc
    hold = np.full(n_samples, ctx[-1] + dc)
    if ctx.size < 3 or np.sqrt(np.mean(ctx * ctx)) < AR_SILENCE_RMS:
        return hold
    peak = float(np.max(np.abs(ctx)))
    p = min(int(order), ctx.size // 3)
    while p >= 1:
        a = _lpc_burg(ctx, p) if fit == "burg" else lpc_least_squares(ctx, p)
        pred = None if a is None else _zero_input_response(ctx, a, n_samples)
        if pred is not None and np.max(np.abs(pred), initial=0.0) <= max_growth * peak:
            return pred + dc
        p //= 2
    return hold


def _lpc_burg(x: np.ndarray, order: int) -> np.ndarray | None:
    """Prediction-error filter ``a`` (``a[0] == 1``) by Burg's method; ``None`` if the fit fails."""
    import librosa  # lazy: librosa's first use loads numba

    rms = float(np.sqrt(np.mean(x * x)))
    noise = np.random.default_rng(0).standard_normal(x.size) * (AR_NOISE_FLOOR * rms)
    try:
        with np.errstate(all="ignore"):
            a = librosa.lpc(x + noise, order=order)
    except (FloatingPointError, ValueError, librosa.util.exceptions.ParameterError):
        return None
    return a if np.all(np.isfinite(a)) else None


def lpc_least_squares(
    x: np.ndarray, order: int, *, keep: np.ndarray | None = None
) -> np.ndarray | None:
    """Prediction-error filter minimising the forward prediction error (least squares).

    Parameters
    ----------
    x : numpy.ndarray, shape (n,)
    order : int
    keep : numpy.ndarray of bool, shape (n - order,), optional
        Which predictions (of ``x[order:]``) the fit uses; the others (e.g. a seam under test)
        are left out.

    Returns
    -------
    numpy.ndarray, shape (order + 1,), or None
        ``a`` with ``a[0] == 1``; the residual is ``x[n] + sum_k a[k] x[n - k]``
        (:func:`lpc_residual`). None if the fit is not finite.
    """
    rows = np.lib.stride_tricks.sliding_window_view(x, order + 1)  # (n - order, order + 1)
    fit = rows if keep is None else rows[keep]
    coef, *_ = np.linalg.lstsq(fit[:, :-1], fit[:, -1], rcond=None)  # oldest first
    a = np.concatenate([[1.0], -coef[::-1]])
    return a if np.all(np.isfinite(a)) else None


def lpc_residual(x: np.ndarray, a: np.ndarray) -> np.ndarray:
    """The prediction error of filter ``a`` over ``x``, shape (n - order,): ``x[order:]`` minus
    its prediction from the ``order`` samples before each."""
    rows = np.lib.stride_tricks.sliding_window_view(x, len(a))  # (n - order, order + 1)
    return rows @ a[::-1]


def _zero_input_response(x: np.ndarray, a: np.ndarray, n_samples: int) -> np.ndarray | None:
    """The recursion ``y[n] = -sum a_k y[n-k]`` (the filter 1/A(z) driven by zeros) continuing
    ``x``; ``None`` if it is not finite."""
    import scipy.signal

    order = len(a) - 1
    zi = scipy.signal.lfiltic([1.0], a, x[::-1][:order])  # the last outputs, most recent first
    with np.errstate(all="ignore"):
        pred, _ = scipy.signal.lfilter([1.0], a, np.zeros(n_samples), zi=zi)
    return pred if np.all(np.isfinite(pred)) else None


def kaiser_length(transition_hz: float, sr: int, stop_db: float) -> int:
    """Taps of a Kaiser-window FIR with this transition width and stopband attenuation (odd).

    Kaiser's estimate (Oppenheim & Schafer, *Discrete-Time Signal Processing*, eq. 7.63):
    ``M = (A - 8) / (2.285 dw)`` with ``dw`` the transition width in radians per sample; one
    more tap, rounded up to odd so the filter has a centre sample (zero phase).
    """
    dw = 2.0 * np.pi * transition_hz / sr
    order = int(np.ceil((stop_db - 8.0) / (2.285 * dw)))
    return order + 1 + (order % 2)


def band_pass_taps(
    lo_hz: float, hi_hz: float, sr: int, *, transition_hz: float, stop_db: float
) -> np.ndarray:
    """Zero-phase band-pass FIR: ideal band ``[lo_hz, hi_hz]`` times a Kaiser window.

    The cut-offs sit in the middle of each transition (gain 1/2 there); ``lo_hz`` 0 makes it a
    low-pass, ``hi_hz`` at Nyquist a high-pass. The band-reject partner is ``delta - taps``, so
    the pair sums to the identity exactly: a band-limited replacement ``x + bp * (y - x)`` is
    ``x`` itself wherever ``y == x``. The window method's ripple is the same in both bands,
    ``10 ** (-stop_db / 20)``.

    Parameters
    ----------
    lo_hz, hi_hz : float
        Band edges, ``0 <= lo_hz < hi_hz <= sr / 2``.
    sr : int
        Sample rate in Hz.
    transition_hz : float
        Width of each transition (stopband edge to passband edge), Hz.
    stop_db : float
        Stopband attenuation in dB (above 50: Kaiser's beta formula for that range).

    Returns
    -------
    numpy.ndarray, shape (n_taps,), float64
        Symmetric, ``n_taps`` odd (:func:`kaiser_length`); tap ``n_taps // 2`` is time 0.
    """
    n_taps = kaiser_length(transition_hz, sr, stop_db)
    beta = 0.1102 * (stop_db - 8.7)
    k = np.arange(n_taps) - n_taps // 2
    # The ideal band-pass is the difference of two ideal low-passes (sinc): at hi_hz = sr / 2 the
    # first is the unit impulse, at lo_hz = 0 the second vanishes.
    hi, lo = 2.0 * hi_hz / sr, 2.0 * lo_hz / sr
    ideal = hi * np.sinc(hi * k) - lo * np.sinc(lo * k)
    return ideal * np.kaiser(n_taps, beta)


def fir_full(x: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Full convolution of ``x`` with ``taps`` along the last axis (FFT), float64.

    Parameters
    ----------
    x : numpy.ndarray, shape (..., n)
    taps : numpy.ndarray, shape (m,)

    Returns
    -------
    numpy.ndarray, shape (..., n + m - 1)
        With zero-phase ``taps`` (centre ``m // 2``), output sample ``k`` sits at input time
        ``k - m // 2``.
    """
    from scipy.signal import fftconvolve  # scipy.signal costs a fifth of a second to import

    x = np.asarray(x, dtype=np.float64)
    taps = np.asarray(taps, dtype=np.float64).reshape((1,) * (x.ndim - 1) + (-1,))
    return fftconvolve(x, taps, axes=-1)


def to_model_channels(x: np.ndarray) -> np.ndarray:
    """(channels, n) -> (items, n): mono as is, stereo as mid = (L+R)/2 and side = (L-R)/2.

    The diffusion model sees mono signals; other channel counts go in one channel per item.
    """
    if x.shape[0] == 2:
        return np.stack([0.5 * (x[0] + x[1]), 0.5 * (x[0] - x[1])])
    return x


def from_model_channels(items: np.ndarray, channels: int) -> np.ndarray:
    """Inverse of :func:`to_model_channels`: (items, n) -> (channels, n)."""
    if channels == 2:
        return np.stack([items[0] + items[1], items[0] - items[1]])
    return items


def audible_rows(x: np.ndarray, peak: float = SILENT_PEAK) -> np.ndarray:
    """Which rows of ``x`` (shape (rows, n)) exceed ``peak`` anywhere: (rows,) bool.

    Rows of no samples count as silent.
    """
    return np.max(np.abs(x), axis=1, initial=0.0) > peak


def to_mono(x: np.ndarray) -> np.ndarray:
    """Average of the channels.

    Parameters
    ----------
    x : numpy.ndarray, shape (n,) or (..., channels, n)

    Returns
    -------
    numpy.ndarray, shape (n,) or (..., n), float32
    """
    x = np.asarray(x)
    if x.ndim == 1:
        return x.astype(np.float32, copy=False)
    return x.mean(axis=-2, dtype=np.float64).astype(np.float32)


def rms_db(x: np.ndarray, *, axis: int | None = None) -> float | np.ndarray:
    """Root-mean-square level in dB relative to full scale (1.0).

    Parameters
    ----------
    x : numpy.ndarray, shape (..., n)
        Float samples.
    axis : int, optional
        Axis to average over; ``None`` averages over everything.

    Returns
    -------
    float or numpy.ndarray
        ``20 log10(rms)``, at least :data:`SILENCE_DB` (also for empty input).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return SILENCE_DB
    power = np.mean(np.square(x), axis=axis)
    floor = 10.0 ** (SILENCE_DB / 10.0)
    level = 10.0 * np.log10(np.maximum(power, floor))
    return float(level) if np.ndim(level) == 0 else level
