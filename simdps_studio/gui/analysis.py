"""Numeric helpers behind the views (numpy only, no Qt): the visible-range spectrogram and time
formatting. Kept pure so they are tested without a window. (The seam grade is a repair check:
``session/checks.py``.)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: Lowest frequency shown by the spectrogram, in Hz.
SPEC_F_MIN_HZ = 30.0
#: Rows of the log-frequency spectrogram.
SPEC_ROWS = 288
#: Most FFT frames averaged into one spectrogram column when zoomed far out.
SPEC_FRAMES_PER_COLUMN = 3


def format_time(seconds: float, *, decimals: int = 3) -> str:
    """``75.5`` -> ``"1:15.500"``; hours when needed (``"1:02:03.000"``)."""
    seconds = max(0.0, float(seconds))
    whole = int(seconds)
    frac = seconds - whole
    h, rem = divmod(whole, 3600)
    m, s = divmod(rem, 60)
    tail = f"{s + frac:0{3 + decimals if decimals else 2}.{decimals}f}"
    if tail.startswith("60"):  # rounding up to the next minute
        return format_time(round(seconds, decimals) + 1e-9, decimals=decimals)
    return f"{h}:{m:02d}:{tail}" if h else f"{m}:{tail}"


def fft_size_for(sr: int, samples_per_column: float) -> int:
    """FFT length: ~46 ms when zoomed in (time detail), ~93 ms zoomed out (low-note detail)."""
    base = 2048 if samples_per_column < 1024 * sr / 44100 else 4096
    return int(2 ** round(math.log2(max(256, base * sr / 44100))))


@dataclass(frozen=True)
class LogFrequencyMap:
    """Maps an rfft power spectrum onto log-spaced frequency rows for display.

    A row wider than an FFT bin takes the *maximum* of the bins in its band (so a tone keeps its
    level however wide the row); a narrower row interpolates linearly between the two nearest
    bins (so low rows are smooth, not empty).

    Attributes
    ----------
    weights : numpy.ndarray, shape (n_rows, n_bins), float32
        Interpolation weights of the narrow rows (zero for wide rows); each used row sums to 1.
    wide_rows : numpy.ndarray of int
        Rows that take the maximum of their band.
    wide_starts : numpy.ndarray of int
        First bin of each wide row (ascending, contiguous bands).
    row_hz : numpy.ndarray, shape (n_rows,)
        Centre frequency of each row.
    """

    weights: np.ndarray
    wide_rows: np.ndarray
    wide_starts: np.ndarray
    row_hz: np.ndarray

    def apply(self, power: np.ndarray) -> np.ndarray:
        """Rows from power spectra of shape (m, n_bins); returns (m, n_rows) float32."""
        out = (power @ self.weights.T).astype(np.float32)
        if len(self.wide_rows):
            out[:, self.wide_rows] = np.maximum.reduceat(power, self.wide_starts, axis=1)
        return out


def log_frequency_map(
    sr: int, n_fft: int, *, n_rows: int = SPEC_ROWS, f_min_hz: float = SPEC_F_MIN_HZ
) -> LogFrequencyMap:
    """The :class:`LogFrequencyMap` for ``n_rows`` geometric bands from ``f_min_hz`` to Nyquist."""
    n_bins = n_fft // 2 + 1
    edges = np.geomspace(f_min_hz, sr / 2, n_rows + 1)
    centres = np.sqrt(edges[:-1] * edges[1:])
    bin_hz = sr / n_fft
    w = np.zeros((n_rows, n_bins), np.float32)
    wide, starts = [], []
    for r in range(n_rows):
        lo = max(math.ceil(edges[r] / bin_hz), starts[-1] + 1 if starts else 0)
        hi = min(math.floor(edges[r + 1] / bin_hz), n_bins - 1)
        if hi >= lo:
            wide.append(r)
            starts.append(lo)
        else:
            pos = centres[r] / bin_hz
            k = min(int(pos), n_bins - 2)
            frac = pos - k
            w[r, k], w[r, k + 1] = 1.0 - frac, frac
    return LogFrequencyMap(w, np.array(wide, int), np.array(starts, int), centres)


def column_frame_starts(
    start_sample: int, end_sample: int, n_cols: int, n_fft: int, frames_per_col: int
) -> np.ndarray:
    """First sample of each FFT frame, shape (n_cols, frames): centred on spots across a column."""
    width = (end_sample - start_sample) / n_cols
    f = max(1, min(frames_per_col, int(width // n_fft) or 1))
    offsets = (np.arange(f) + 0.5) / f  # spread inside the column
    centres = start_sample + (np.arange(n_cols)[:, None] + offsets[None, :]) * width
    return np.round(centres - n_fft / 2).astype(np.int64)


def spectrogram_columns(
    read_mono: Callable[[int, int], np.ndarray],
    n_samples: int,
    sr: int,
    start_sample: int,
    end_sample: int,
    n_cols: int,
    *,
    freq_map: LogFrequencyMap | None = None,
    n_fft: int | None = None,
    cancel=None,
) -> tuple[np.ndarray, int]:
    """Log-frequency spectrogram of the visible range, one column per screen column.

    Only the frames the screen can show are computed (at most :data:`SPEC_FRAMES_PER_COLUMN` per
    column, averaged), so its cost depends on the window's width, not on the track's length.

    Parameters
    ----------
    read_mono : callable(start_sample, end_sample) -> numpy.ndarray, shape (n,), float32
        Mono samples of the track (what is heard: repairs included); out-of-range parts are zeros.
    n_samples, sr : int
        Track length and rate.
    start_sample, end_sample : int
        Visible range.
    n_cols : int
        Columns to compute.

    Returns
    -------
    db : numpy.ndarray, shape (n_cols, n_rows), float32
        Level in dB relative to a full-scale sine.
    n_fft : int
    """
    from simdps_studio.core.progress import check_cancel

    spc = (end_sample - start_sample) / max(n_cols, 1)
    n_fft = n_fft or fft_size_for(sr, spc)
    if freq_map is None:
        freq_map = log_frequency_map(sr, n_fft)
    starts = column_frame_starts(start_sample, end_sample, n_cols, n_fft, SPEC_FRAMES_PER_COLUMN)
    n_f = starts.shape[1]
    window = np.hanning(n_fft).astype(np.float32)
    norm = np.float32((window.sum() / 2) ** 2)
    out = np.empty((n_cols, len(freq_map.row_hz)), np.float32)
    contiguous = end_sample - start_sample < 4 * 1024 * 1024
    if contiguous:
        base = int(starts.min())
        seg = read_mono(base, int(starts.max()) + n_fft)
    chunk = max(1, 4096 // n_f)
    for c0 in range(0, n_cols, chunk):
        check_cancel(cancel)
        s = starts[c0 : c0 + chunk].reshape(-1)
        if contiguous:
            idx = (s - base)[:, None] + np.arange(n_fft)[None, :]
            frames = seg[idx]
        else:
            frames = np.stack([read_mono(int(a), int(a) + n_fft) for a in s])
        power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2 / norm
        power = power.reshape(-1, n_f, power.shape[1]).mean(axis=1)
        out[c0 : c0 + len(power)] = 10 * np.log10(freq_map.apply(power) + 1e-12)
    return out, n_fft
