"""Room, EQ, level and trimming for rendered piano audio.

The room is a short synthetic reverb: a few early reflections and an exponentially decaying noise
tail that gets darker as it decays (a one-pole low-pass on the noise), convolved with the dry
signal. The EQ is a pair of gentle RBJ shelving filters. All functions take ``x`` of shape
``(channels, n_samples)``, float, and return new arrays.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from simdps_studio.audio.dsp import raised_cosine_at


def shelf_sos(kind: str, freq_hz: float, gain_db: float, sr: int, slope: float = 1.0) -> np.ndarray:
    """A low or high shelving biquad (R. Bristow-Johnson's Audio EQ Cookbook).

    Parameters
    ----------
    kind : {"low", "high"}
        Shelf type.
    freq_hz : float
        Corner frequency (the shelf's midpoint).
    gain_db : float
        Gain of the shelf.
    sr : int
        Sample rate.
    slope : float
        Shelf slope ``S`` (1 is the steepest without overshoot).

    Returns
    -------
    numpy.ndarray, shape (1, 6)
        Second-order section for :func:`scipy.signal.sosfilt`.
    """
    a = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * np.pi * freq_hz / sr
    cos_w0 = np.cos(w0)
    alpha = np.sin(w0) / 2.0 * np.sqrt((a + 1.0 / a) * (1.0 / slope - 1.0) + 2.0)
    root = 2.0 * np.sqrt(a) * alpha
    sign = 1.0 if kind == "low" else -1.0
    b0 = a * ((a + 1) - sign * (a - 1) * cos_w0 + root)
    b1 = sign * 2 * a * ((a - 1) - sign * (a + 1) * cos_w0)
    b2 = a * ((a + 1) - sign * (a - 1) * cos_w0 - root)
    a0 = (a + 1) + sign * (a - 1) * cos_w0 + root
    a1 = -sign * 2 * ((a - 1) + sign * (a + 1) * cos_w0)
    a2 = (a + 1) + sign * (a - 1) * cos_w0 - root
    return np.array([[b0, b1, b2, a0, a1, a2]]) / a0


def apply_eq(x: np.ndarray, sr: int, shelves: list[tuple[str, float, float]]) -> np.ndarray:
    """Filter ``x`` (channels, n) through shelves given as ``(kind, freq_hz, gain_db)``."""
    if not shelves:
        return x.copy()
    sos = np.concatenate([shelf_sos(kind, f, g, sr) for kind, f, g in shelves])
    return signal.sosfilt(sos, x, axis=-1).astype(x.dtype)


def room_impulse_response(
    rng: np.random.Generator,
    sr: int,
    *,
    rt60_s: float,
    predelay_s: float,
    damping_hz: float,
    n_channels: int = 1,
) -> np.ndarray:
    """A synthetic room's reverberant part (no direct sound), normalised to unit energy.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the noise and reflections (channels get independent noise: stereo width).
    sr : int
        Sample rate.
    rt60_s : float
        Time for the tail to decay by 60 dB.
    predelay_s : float
        Delay of the first reflection.
    damping_hz : float
        Corner of the low-pass on the tail at its start; it falls as the tail decays.
    n_channels : int
        Number of (decorrelated) impulse responses.

    Returns
    -------
    numpy.ndarray, shape (n_channels, n), float64
    """
    n = int(sr * (predelay_s + min(1.2 * rt60_s, 3.0))) + 1
    t = np.arange(n) / sr - predelay_s
    envelope = np.where(t >= 0.0, np.exp(-6.91 * np.maximum(t, 0.0) / rt60_s), 0.0)
    noise = rng.standard_normal((n_channels, n))
    # Darker as it decays: two low-passed copies, cross-faded from bright to dark.
    bright = _one_pole_lowpass(noise, damping_hz, sr)
    dark = _one_pole_lowpass(noise, damping_hz / 4.0, sr) * 2.0
    fade = np.clip(t / max(rt60_s, 1e-3), 0.0, 1.0)
    ir = envelope * ((1.0 - fade) * bright + fade * dark)
    # Early reflections: a handful of sparse taps in the first 40 ms after the pre-delay.
    start = int(predelay_s * sr)
    for _ in range(int(rng.integers(3, 8))):
        at = start + int(rng.uniform(0.0, 0.04) * sr)
        ir[:, min(at, n - 1)] += rng.uniform(0.2, 0.7) * rng.choice([-1.0, 1.0], n_channels)
    return ir / np.sqrt(np.sum(ir**2, axis=-1, keepdims=True) + 1e-12)


def _one_pole_lowpass(x: np.ndarray, corner_hz: float, sr: int) -> np.ndarray:
    pole = np.exp(-2.0 * np.pi * min(corner_hz, 0.45 * sr) / sr)
    return signal.lfilter([1.0 - pole], [1.0, -pole], x, axis=-1)


def add_room(x: np.ndarray, ir: np.ndarray, wet: float) -> np.ndarray:
    """Dry signal plus ``wet`` times its convolution with ``ir``; the output is longer by the tail.

    Parameters
    ----------
    x : numpy.ndarray, shape (channels, n)
    ir : numpy.ndarray, shape (1 or channels, m)
        Reverberant part of the room (see :func:`room_impulse_response`).
    wet : float
        Amplitude of the reverberant part relative to the dry sound (0 keeps ``x`` as it is).

    Returns
    -------
    numpy.ndarray, shape (channels, n + m - 1), dtype of ``x``
    """
    out = np.zeros((x.shape[0], x.shape[-1] + ir.shape[-1] - 1))
    out[:, : x.shape[-1]] = x
    if wet > 0.0:
        out += wet * signal.oaconvolve(x, np.broadcast_to(ir, (x.shape[0], ir.shape[-1])), axes=-1)
    return out.astype(x.dtype)


def trim_silence(
    x: np.ndarray,
    sr: int,
    *,
    threshold_db: float = -60.0,
    lead_s: float | None = 0.01,
    fade_s: float = 0.05,
) -> np.ndarray:
    """Cut leading and trailing silence (below ``threshold_db`` re the peak).

    ``lead_s`` of silence stays before the first sound (``None`` keeps the start as it is); the end
    is cut where the sound falls below the threshold, with a ``fade_s`` raised-cosine fade so the
    cut makes no click.
    """
    level = np.max(np.abs(x), axis=0)
    peak = float(level.max(initial=0.0))
    if peak == 0.0:
        return x[:, :0].copy()
    loud = np.flatnonzero(level > peak * 10.0 ** (threshold_db / 20.0))
    start = 0 if lead_s is None else max(0, int(loud[0]) - int(lead_s * sr))
    stop = int(loud[-1]) + 1
    out = x[:, start:stop].copy()
    n_fade = min(int(fade_s * sr), out.shape[-1])
    if n_fade > 0:
        out[:, -n_fade:] *= raised_cosine_at(np.linspace(0.0, 1.0, n_fade), falling=True).astype(
            x.dtype
        )
    return out


def normalise_peak(x: np.ndarray, peak_dbfs: float) -> np.ndarray:
    """Scale ``x`` so that its largest absolute sample is ``peak_dbfs`` (dB re full scale)."""
    peak = float(np.max(np.abs(x), initial=0.0))
    if peak == 0.0:
        return x.copy()
    return (x * (10.0 ** (peak_dbfs / 20.0) / peak)).astype(x.dtype)
