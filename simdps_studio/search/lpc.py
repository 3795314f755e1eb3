"""LPC gap filling: forward and backward Burg AR extrapolation, cross-faded across the gap.

This is the paper's low anchor (and the fallback that needs no model): an autoregressive model of
order a few hundred is fitted with Burg's method (:func:`librosa.lpc`) to the context on each side of
the gap, each model is run as an all-pole filter with zero input from its context's last samples
(the filter's zero-input response is the AR extrapolation), and the forward and backward predictions
are blended with complementary raised-cosine weights. The predictor is
:func:`simdps_studio.audio.dsp.ar_extrapolate` (Burg fit), re-exported here.
"""

from __future__ import annotations

import numpy as np

from simdps_studio.audio.dsp import ar_extrapolate, raised_cosine
from simdps_studio.core.errors import InputError
from simdps_studio.core.progress import CancelToken, check_cancel

#: Default AR order at 44.1 kHz; scaled linearly with the sample rate.
DEFAULT_ORDER_44K = 320

#: Default context length as a multiple of the order.
DEFAULT_CONTEXT_ORDERS = 24


def default_order(sr: int) -> int:
    """AR order for sample rate ``sr``: :data:`DEFAULT_ORDER_44K` scaled with the rate (min 8)."""
    return max(8, int(round(DEFAULT_ORDER_44K * sr / 44100)))


def lpc_fill(
    x: np.ndarray,
    gap_start_sample: int,
    gap_end_sample: int,
    sr: int,
    *,
    order: int | None = None,
    context_s: float | None = None,
    bounds: tuple[int, int] | None = None,
    cancel: CancelToken | None = None,
) -> np.ndarray:
    """Fill ``[gap_start_sample, gap_end_sample)`` of ``x`` by cross-faded Burg AR extrapolation.

    Parameters
    ----------
    x : numpy.ndarray, shape (channels, n_samples) or (n_samples,)
        The signal (the whole track or a window around the gap). Samples inside the gap are ignored;
        NaN/Inf in the context are treated as zeros.
    gap_start_sample, gap_end_sample : int
        The gap ``[start, end)`` in samples of ``x``.
    sr : int
        Sample rate in Hz (sets the default order and context).
    order : int, optional
        AR order; default :func:`default_order` (320 at 44.1 kHz). It is reduced where the available
        context is short (at most a third of the context) and where a filter proves unstable
        (:func:`~simdps_studio.audio.dsp.ar_extrapolate`).
    context_s : float, optional
        Context used on each side to fit the model, in seconds; default
        :data:`DEFAULT_CONTEXT_ORDERS` times the order (174 ms at 44.1 kHz).
    bounds : (int, int), optional
        ``(lo, hi)``: the context is read from ``[lo, hi)`` only (the ends of the neighbouring
        gaps, whose samples are missing too); default the whole of ``x``.
    cancel : CancelToken, optional
        Checked before each side's extrapolation of each channel (a long gap at a high rate
        takes seconds per side).

    Returns
    -------
    numpy.ndarray, shape (channels, gap_length) or (gap_length,), float32
        The fill, with the same number of dimensions as ``x``. Where only one side has context (a
        gap at the start or the end of the track) the fill is that side's extrapolation alone; with
        no usable context at all it is silence.

    Raises
    ------
    InputError
        If the gap is empty or lies outside ``x``, or an argument is out of range.
    """
    x = np.asarray(x)
    squeeze = x.ndim == 1
    x2 = np.atleast_2d(x)
    if x2.ndim != 2:
        raise InputError(f"audio must have shape (channels, n_samples), got {x.shape}")
    n = x2.shape[1]
    s, e = int(gap_start_sample), int(gap_end_sample)
    if not 0 <= s < e <= n:
        raise InputError(f"gap [{s}, {e}) is empty or outside the signal (0 to {n} samples)")
    if sr <= 0:
        raise InputError(f"sample rate must be positive, got {sr}")
    p = default_order(sr) if order is None else int(order)
    if p < 1:
        raise InputError(f"LPC order must be at least 1, got {order}")
    n_ctx = p * DEFAULT_CONTEXT_ORDERS if context_s is None else int(round(context_s * sr))
    if n_ctx < 2:
        raise InputError(f"LPC context must be at least 2 samples, got {context_s} s")

    lo, hi = (0, n) if bounds is None else (max(int(bounds[0]), 0), min(int(bounds[1]), n))
    gap_len = e - s
    left = x2[:, max(lo, s - n_ctx) : s]
    right = x2[:, e : max(min(hi, e + n_ctx), e)]
    w_fwd = crossfade_weights(gap_len)
    out = np.empty((x2.shape[0], gap_len), dtype=np.float32)
    for ch in range(x2.shape[0]):
        check_cancel(cancel)
        fwd = ar_extrapolate(left[ch], gap_len, p) if left.shape[1] else None
        check_cancel(cancel)
        bwd = ar_extrapolate(right[ch, ::-1], gap_len, p) if right.shape[1] else None
        if fwd is not None and bwd is not None:
            fill = w_fwd * fwd + (1.0 - w_fwd) * bwd[::-1]
        elif fwd is not None:
            fill = fwd
        elif bwd is not None:
            fill = bwd[::-1]
        else:
            fill = np.zeros(gap_len)
        out[ch] = fill
    return out[0] if squeeze else out


def crossfade_weights(n_samples: int) -> np.ndarray:
    """Raised-cosine weight of the forward prediction, falling from ~1 to ~0 over the gap.

    The backward prediction gets ``1 - w``; ``w[i] + w[n - 1 - i] == 1``.

    Returns
    -------
    numpy.ndarray, shape (n_samples,), float64
    """
    return raised_cosine(n_samples, falling=True, dtype=np.float64)
