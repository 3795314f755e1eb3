"""Min/max peak pyramid for drawing long recordings at any zoom.

Level 0 holds the minimum and maximum of every ``base_block`` samples per channel; each further
level merges ``factor`` blocks of the one below, up to a single block for the whole file. With
256-sample blocks and a factor of 4 the pyramid costs 8/256 bytes per sample and channel, plus a
third of that for the coarser levels: about 1 % of float32 audio.

A query for ``n_pixels`` pixels over ``[start_sample, end_sample)`` returns the exact minimum and
maximum of each pixel's samples, for the pixel ranges :meth:`PeakPyramid.pixel_edges` defines:

- zoomed in (fewer than ``8 * base_block`` samples per pixel), the pixels split the visible range
  evenly and are reduced from the raw samples (kept by reference, not copied): the cost is that of
  the visible samples, at most ``8 * base_block * n_pixels``;
- zoomed out, the pixel edges are rounded to the grid of the coarsest level whose blocks are at most
  1/8 pixel wide (an edge moves by at most 1/16 pixel, which no drawing shows), so that each pixel
  is a union of whole blocks: whole blocks of the coarsest level that fits in the middle, and of
  finer levels down to the grid at both ends. No raw sample is read, and a query costs
  O(n_pixels · levels), a few milliseconds for a 60-minute file.
"""

from __future__ import annotations

import numpy as np

from simdps_studio.core.errors import InputError
from simdps_studio.core.progress import CancelToken, Progress, check_cancel
from simdps_studio.core.types import Audio, native_to_float

#: Base blocks handled per step while building (bounds the temporary memory).
_BUILD_BLOCKS = 4096


def _block_minmax(x: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Min and max of consecutive ``block``-sample blocks of x (channels, n); last one partial."""
    channels, n = x.shape
    n_full = n // block
    full = x[:, : n_full * block].reshape(channels, n_full, block)
    mins, maxs = full.min(axis=2), full.max(axis=2)
    if n_full * block < n:
        tail = x[:, n_full * block :]
        mins = np.concatenate([mins, tail.min(axis=1, keepdims=True)], axis=1)
        maxs = np.concatenate([maxs, tail.max(axis=1, keepdims=True)], axis=1)
    return mins, maxs


def _gather_minmax(
    lo_arr: np.ndarray, hi_arr: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per range ``[lo[i], hi[i])`` of columns: min of ``lo_arr`` and max of ``hi_arr``.

    Ranges are short (bounded by the level ratios), so a gather of ``max(hi - lo)`` columns per
    range is cheap; shorter ranges repeat their last column, which changes no min or max. Empty
    ranges give +inf / -inf. Inputs (channels, m) in any native dtype; outputs (channels,
    len(lo)) float32.
    """
    channels = lo_arr.shape[0]
    empty = hi <= lo
    width = int(np.max(hi - lo, initial=0))
    if width <= 0:
        shape = (channels, len(lo))
        return np.full(shape, np.inf, np.float32), np.full(shape, -np.inf, np.float32)
    last = np.maximum(hi - 1, lo)
    idx = np.minimum(lo[:, None] + np.arange(width)[None, :], last[:, None])
    idx = np.minimum(idx, lo_arr.shape[1] - 1)  # empty ranges may start past the end
    mins = native_to_float(lo_arr[:, idx].min(axis=2))
    maxs = native_to_float(hi_arr[:, idx].max(axis=2))
    if empty.any():
        mins[:, empty] = np.inf
        maxs[:, empty] = -np.inf
    return mins, maxs


class PeakPyramid:
    """Min/max pyramid of a recording for waveform drawing.

    Parameters
    ----------
    audio : Audio or numpy.ndarray
        The recording, or its samples of shape (channels, n_samples) in a native dtype (int16,
        int32, float32, float64). The samples are kept by reference for exact zoomed-in queries.
    base_block : int
        Samples per level-0 block.
    factor : int
        Blocks of one level merged into one block of the next.
    progress, cancel
        Progress callback and cancel token, checked every few million samples.

    Attributes
    ----------
    levels : list of (numpy.ndarray, numpy.ndarray)
        ``(mins, maxs)`` per level, float32 of shape (channels, ceil(n_samples / block_size(level))).
    """

    def __init__(
        self,
        audio: Audio | np.ndarray,
        *,
        base_block: int = 256,
        factor: int = 4,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> None:
        samples = audio.samples if isinstance(audio, Audio) else np.asarray(audio)
        if samples.ndim != 2:
            raise InputError(f"samples must have shape (channels, n_samples), got {samples.shape}")
        if base_block < 1 or factor < 2:
            raise InputError("base_block must be >= 1 and factor >= 2")
        self.base_block = int(base_block)
        self.factor = int(factor)
        self._samples = samples
        channels, n = samples.shape
        n_base = -(-n // self.base_block)
        mins = np.empty((channels, n_base), np.float32)
        maxs = np.empty((channels, n_base), np.float32)
        step = _BUILD_BLOCKS * self.base_block
        for start in range(0, n, step):
            check_cancel(cancel)
            stop = min(start + step, n)
            lo, hi = _block_minmax(samples[:, start:stop], self.base_block)
            first = start // self.base_block
            # Min/max in the native dtype, converted once: the scaling is monotonic.
            mins[:, first : first + lo.shape[1]] = native_to_float(lo)
            maxs[:, first : first + hi.shape[1]] = native_to_float(hi)
            if progress is not None:
                progress(stop / n, "building waveform overview")
        self.levels: list[tuple[np.ndarray, np.ndarray]] = [(mins, maxs)]
        self._build_upper_levels(0)
        if progress is not None:
            progress(1.0, "building waveform overview")

    def _build_upper_levels(self, from_level: int) -> None:
        """(Re)compute every level above ``from_level`` from the one below."""
        del self.levels[from_level + 1 :]
        mins, maxs = self.levels[from_level]
        while mins.shape[1] > 1:
            mins = _block_minmax(mins, self.factor)[0]
            maxs = _block_minmax(maxs, self.factor)[1]
            self.levels.append((mins, maxs))

    # ------------------------------------------------------------------------------ properties

    @property
    def channels(self) -> int:
        """Number of channels."""
        return int(self._samples.shape[0])

    @property
    def n_samples(self) -> int:
        """Number of sample frames."""
        return int(self._samples.shape[1])

    @property
    def nbytes(self) -> int:
        """Memory held by the pyramid itself (the audio is only referenced)."""
        return sum(lo.nbytes + hi.nbytes for lo, hi in self.levels)

    def block_size(self, level: int) -> int:
        """Samples per block of ``level``."""
        return self.base_block * self.factor**level

    # ---------------------------------------------------------------------------------- update

    def update(self, samples: np.ndarray, start_sample: int, end_sample: int) -> None:
        """Take new samples that differ from the old ones only in ``[start_sample, end_sample)``.

        Recomputes the affected blocks of every level (e.g. after a repair is toggled).

        Parameters
        ----------
        samples : numpy.ndarray, shape (channels, n_samples)
            Same shape as before.
        """
        if samples.shape != self._samples.shape:
            raise InputError(
                f"new samples have shape {samples.shape}, expected {self._samples.shape}"
            )
        self._samples = samples
        start_sample = max(int(start_sample), 0)
        end_sample = min(int(end_sample), self.n_samples)
        if end_sample <= start_sample:
            return
        first = start_sample // self.base_block
        last = -(-end_sample // self.base_block)
        lo, hi = _block_minmax(
            samples[:, first * self.base_block : last * self.base_block], self.base_block
        )
        mins, maxs = self.levels[0]
        mins[:, first:last] = native_to_float(lo)
        maxs[:, first:last] = native_to_float(hi)
        for level in range(1, len(self.levels)):
            first, last = first // self.factor, -(-last // self.factor)
            below_lo, below_hi = self.levels[level - 1]
            span = slice(first * self.factor, last * self.factor)
            self.levels[level][0][:, first:last] = _block_minmax(below_lo[:, span], self.factor)[0]
            self.levels[level][1][:, first:last] = _block_minmax(below_hi[:, span], self.factor)[1]

    # ----------------------------------------------------------------------------------- query

    def _grid_level(self, start_sample: int, end_sample: int, n_pixels: int) -> int:
        """Level whose block grid the pixel edges snap to; -1 when zoomed in (raw samples)."""
        width = (end_sample - start_sample) // n_pixels
        level = -1
        while level + 1 < len(self.levels) and 8 * self.block_size(level + 1) <= width:
            level += 1
        return level

    def pixel_edges(self, start_sample: int, end_sample: int, n_pixels: int) -> np.ndarray:
        """Sample ranges of the pixels of a query: pixel ``p`` covers ``[edges[p], edges[p + 1])``.

        ``edges[p] = start_sample + floor(p * (end_sample - start_sample) / n_pixels)``; zoomed in
        (fewer than ``8 * base_block`` samples per pixel) an empty pixel takes the one sample at its
        left edge, ``[edges[p], edges[p] + 1)``; zoomed out the edges are rounded to the nearest
        multiple of the grid level's block size (less than 1/16 pixel away), the end of the audio
        counting as a grid point.

        Returns
        -------
        numpy.ndarray, shape (n_pixels + 1,), int64
        """
        start_sample, end_sample = self._clip_range(start_sample, end_sample, n_pixels)
        p = np.arange(n_pixels + 1, dtype=np.int64)
        edges = start_sample + (p * (end_sample - start_sample)) // n_pixels
        level = self._grid_level(start_sample, end_sample, n_pixels)
        if level >= 0:
            size = self.block_size(level)
            edges = np.minimum((edges + size // 2) // size * size, self.n_samples)
        return edges

    def _clip_range(self, start_sample: int, end_sample: int, n_pixels: int) -> tuple[int, int]:
        start_sample = max(int(start_sample), 0)
        end_sample = min(int(end_sample), self.n_samples)
        if end_sample <= start_sample or n_pixels < 1:
            raise InputError(
                f"empty peak query: samples {start_sample}–{end_sample}, {n_pixels} pixels"
            )
        return start_sample, end_sample

    def query(
        self, start_sample: int, end_sample: int, n_pixels: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Minimum and maximum of every pixel's samples (ranges from :meth:`pixel_edges`).

        Parameters
        ----------
        start_sample, end_sample : int
            Visible range, clipped to the audio; ``end_sample > start_sample``.
        n_pixels : int
            Number of columns to draw.

        Returns
        -------
        mins, maxs : numpy.ndarray, shape (channels, n_pixels), float32
            Exactly ``min``/``max`` of ``to_float()`` over each pixel's samples.
        """
        start_sample, end_sample = self._clip_range(start_sample, end_sample, n_pixels)
        edges = self.pixel_edges(start_sample, end_sample, n_pixels)
        grid = self._grid_level(start_sample, end_sample, n_pixels)
        if grid < 0:
            # Zoomed in: the pixels split one contiguous slice (reduceat gives an empty range the
            # sample at its index, which is the one-sample rule of pixel_edges).
            raw = self._samples[:, int(edges[0]) : int(edges[-1])]
            offsets = edges[:-1] - edges[0]
            lo = np.minimum.reduceat(raw, offsets, axis=1)
            hi = np.maximum.reduceat(raw, offsets, axis=1)
            return native_to_float(lo), native_to_float(hi)

        a, b = edges[:-1], edges[1:]
        # Coarsest level whose blocks fit into the narrowest pixel.
        top = grid
        while top + 1 < len(self.levels) and self.block_size(top + 1) <= int(np.min(b - a)):
            top += 1
        mins = np.full((self.channels, n_pixels), np.inf, np.float32)
        maxs = np.full((self.channels, n_pixels), -np.inf, np.float32)

        def merge(part: tuple[np.ndarray, np.ndarray]) -> None:
            np.minimum(mins, part[0], out=mins)
            np.maximum(maxs, part[1], out=maxs)

        # Per pixel, the span [inner_lo, inner_hi) that coarser levels already covered.
        covered = np.zeros(n_pixels, dtype=bool)
        inner_lo = inner_hi = a
        for level in range(top, grid - 1, -1):
            size = self.block_size(level)
            lc = -(-a // size)  # first whole block
            # One past the last whole block; the partial last block of a level ends the audio.
            rc = np.where(b == self.n_samples, -(-b // size), b // size)
            # This level's blocks left and right of the covered span (all of [lc, rc) if none).
            left_end = np.where(covered, inner_lo // size, rc)
            right_start = np.where(covered, -(-inner_hi // size), rc)
            lvl_lo, lvl_hi = self.levels[level]
            merge(_gather_minmax(lvl_lo, lvl_hi, lc, np.maximum(left_end, lc)))
            merge(_gather_minmax(lvl_lo, lvl_hi, right_start, np.maximum(rc, right_start)))
            # A finer level's cover contains the coarser one's: it is the new cover.
            now = lc < rc
            inner_lo = np.where(now, lc * size, inner_lo)
            inner_hi = np.where(now, np.minimum(rc * size, self.n_samples), inner_hi)
            covered |= now
        return mins, maxs
