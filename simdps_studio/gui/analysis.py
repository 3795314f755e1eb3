"""Numeric helpers behind the views (numpy only, no Qt): the visible-range spectrogram, its
settings (FFT size, frequency scale) and time formatting. Kept pure so they are tested without
a window. (The seam grade is a repair check: ``session/checks.py``.)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: Lowest frequency shown by the spectrogram, in Hz.
SPEC_F_MIN_HZ = 30.0
#: Rows of the spectrogram (on every frequency scale).
SPEC_ROWS = 288
#: FFT sizes the spectrogram settings offer besides Auto (:func:`fft_size_for`).
SPEC_FFT_SIZES = (512, 1024, 2048, 4096, 8192)
#: The spectrogram's frequency scales: log (octaves equally tall), linear (Hz), mel (HTK).
FREQ_SCALES = ("log", "linear", "mel")
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
class FrequencyScale:
    """The spectrogram's vertical axis: where a frequency lies on it, in the scale's own unit
    (log10 of Hz for ``log``, Hz for ``linear``, mel for ``mel``).

    Parameters
    ----------
    name : str
        One of :data:`FREQ_SCALES`.
    """

    name: str = "log"

    def __post_init__(self) -> None:
        if self.name not in FREQ_SCALES:
            raise ValueError(f"unknown frequency scale {self.name!r} (one of {FREQ_SCALES})")

    @property
    def f_min_hz(self) -> float:
        """The lowest frequency shown: :data:`SPEC_F_MIN_HZ` on the log scale (0 Hz has no
        place on it), else 0 Hz."""
        return SPEC_F_MIN_HZ if self.name == "log" else 0.0

    def to_axis(self, hz):
        """Axis position of ``hz`` (a float or an array of any shape)."""
        hz = np.asarray(hz, dtype=float)
        if self.name == "log":
            return np.log10(np.maximum(hz, 1e-3))
        if self.name == "mel":
            return 2595.0 * np.log10(1.0 + hz / 700.0)
        return hz

    def to_hz(self, y):
        """Frequency in Hz at axis position ``y`` (the inverse of :meth:`to_axis`)."""
        y = np.asarray(y, dtype=float)
        if self.name == "log":
            return 10.0**y
        if self.name == "mel":
            return 700.0 * (10.0 ** (y / 2595.0) - 1.0)
        return y

    def axis_range(self, sr: int) -> tuple[float, float]:
        """The axis positions of the lowest frequency shown and of Nyquist."""
        return float(self.to_axis(self.f_min_hz)), float(self.to_axis(sr / 2))


@dataclass(frozen=True)
class SpectrogramSettings:
    """How the spectrogram is computed and drawn (View → Spectrogram settings).

    Parameters
    ----------
    fft_size : int
        FFT length in samples, one of :data:`SPEC_FFT_SIZES`; 0 is Auto (:func:`fft_size_for`:
        ~46 ms zoomed in, ~93 ms zoomed out).
    scale : str
        Frequency scale, one of :data:`FREQ_SCALES`.
    """

    fft_size: int = 0
    scale: str = "log"

    def __post_init__(self) -> None:
        if self.fft_size != 0 and self.fft_size not in SPEC_FFT_SIZES:
            raise ValueError(f"FFT size {self.fft_size} is not one of {SPEC_FFT_SIZES} or 0")
        FrequencyScale(self.scale)  # checks the name

    @classmethod
    def from_stored(cls, fft_size: object, scale: object) -> SpectrogramSettings:
        """Settings from stored values; anything not understood (an edited or older settings
        file) falls back to that field's default."""
        try:
            size = int(fft_size)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            size = 0
        return cls(
            size if size in SPEC_FFT_SIZES else 0,
            str(scale) if str(scale) in FREQ_SCALES else "log",
        )

    @property
    def frequency_scale(self) -> FrequencyScale:
        return FrequencyScale(self.scale)

    def n_fft(self, sr: int, samples_per_column: float) -> int:
        """The FFT length for a view of ``samples_per_column`` samples per screen column."""
        return self.fft_size or fft_size_for(sr, samples_per_column)


@dataclass(frozen=True)
class FrequencyMap:
    """Maps an rfft power spectrum onto frequency rows for display (equally tall on the
    frequency scale: log, linear or mel).

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
        Centre frequency of each row (the middle of its band on the scale).
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


def frequency_map(
    sr: int, n_fft: int, scale: FrequencyScale | None = None, *, n_rows: int = SPEC_ROWS
) -> FrequencyMap:
    """The :class:`FrequencyMap` for ``n_rows`` bands equally tall on ``scale`` (default log),
    from the scale's lowest frequency to Nyquist."""
    scale = scale or FrequencyScale()
    n_bins = n_fft // 2 + 1
    lo_axis, hi_axis = scale.axis_range(sr)
    axis_edges = np.linspace(lo_axis, hi_axis, n_rows + 1)
    edges = scale.to_hz(axis_edges)
    centres = scale.to_hz((axis_edges[:-1] + axis_edges[1:]) / 2)
    bin_hz = sr / n_fft
    w = np.zeros((n_rows, n_bins), np.float32)
    wide, starts = [], []
    for r in range(n_rows):
        lo = max(math.ceil(edges[r] / bin_hz - 1e-9), starts[-1] + 1 if starts else 0)
        hi = min(math.floor(edges[r + 1] / bin_hz + 1e-9), n_bins - 1)
        if hi >= lo:
            wide.append(r)
            starts.append(lo)
        else:
            pos = centres[r] / bin_hz
            k = min(int(pos), n_bins - 2)
            frac = pos - k
            w[r, k], w[r, k + 1] = 1.0 - frac, frac
    return FrequencyMap(w, np.array(wide, int), np.array(starts, int), centres)


def log_frequency_map(sr: int, n_fft: int, *, n_rows: int = SPEC_ROWS) -> FrequencyMap:
    """The log-scale :class:`FrequencyMap`: ``n_rows`` geometric bands from
    :data:`SPEC_F_MIN_HZ` to Nyquist."""
    return frequency_map(sr, n_fft, FrequencyScale("log"), n_rows=n_rows)


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
    freq_map: FrequencyMap | None = None,
    n_fft: int | None = None,
    cancel=None,
) -> tuple[np.ndarray, int]:
    """Spectrogram of the visible range, one column per screen column, one row per band of
    ``freq_map`` (default: the log scale's).

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
