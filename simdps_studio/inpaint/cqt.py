"""Invertible, differentiable multi-resolution constant-Q filterbank (torch, CPU and CUDA).

Written by hand because no library offers what the score network needs all at once: librosa and
nnAudio's CQTs are not exactly invertible, the NSGT / sliCQ packages are numpy (no autograd, no GPU)
and none of them lets the bins-per-octave change from one octave group to the next. Here the whole
transform is a handful of FFTs, gathers and scatters, so autograd and CUDA come for free.

Design (a painless non-stationary Gabor frame, Balazs et al. 2011, with octave-wise sub-sampling as
in the sliCQ / CQTdiff+ transforms):

- Frequency axis. Octaves are counted down from Nyquist ``f_N = sr / 2``: octave ``o`` (``o = 0`` is
  the top one) spans ``[f_N 2^-(o+1), f_N 2^-o)``. The user gives *octave groups*, low to high, as
  ``(n_octaves, bins_per_octave)``; e.g. ``((3, 8), (4, 16), (2, 32))``: few, broad bins in the low
  octaves (good time resolution where the filters would otherwise ring for long), many narrow bins
  up high. A warped axis ``u(f)``, piecewise linear in ``log2 f``, puts the bin centres on the
  integers ``u = 0 .. K``: ``u = 0`` is the lowest bin ``f_N 2^-O``, ``u = K`` is Nyquist.
- Filters. Bin ``k`` has the zero-phase response ``H_k(f) = psi(u(f) - k)`` with
  ``psi(t) = cos(pi/2 * s(|t|))`` on ``|t| < 1`` and ``s`` the smoothstep. Because
  ``s(t) + s(1 - t) = 1``, neighbours are power complementary: ``sum_k H_k(f)^2 = 1`` for every
  frequency. A lowpass residual band (``1`` below ``u = -1``, the same roll-off up to ``u = 0``)
  covers DC up to the lowest bin; the bin at ``u = K`` is the half band just below Nyquist. Together
  they form an exact partition of unity over the whole ``rfft`` axis.
- Coefficients. ``X = rfft(x)``; for each bin the band ``X H_k`` is shifted so that its centre sits at
  index 0 (demodulation) and inverse-FFT'd over ``T_o`` points, the frame count of its octave. ``T_o``
  divides the segment length by a power of two and is at least the bin's support width, so nothing
  aliases and the band is recovered exactly by an FFT. Frame ``m`` is time ``m * n_samples / T_o``.
  Low octaves have narrow bands and get few frames; successive octaves differ by a factor 1 or 2
  (2 inside a group, 1 where the bins per octave halve), which is what the U-Net's levels use.
- Inverse. ``X_hat = sum_k H_k * FFT(c_k)`` placed back at the bins' positions; with the partition of
  unity this equals ``X`` up to rounding, and ``irfft`` gives the waveform back. The transform is
  circular in time (the segment is treated as periodic).
- Scale. Each octave's coefficients are multiplied by ``sqrt(2 n_samples / T_o)``, which makes the
  frame (nearly) Parseval: ``sum |c|^2 = ||x||^2`` for real input, and white noise of variance ``s^2``
  gives coefficients whose real and imaginary parts have variance at most ``s^2 / 2``.

Real input gives complex coefficients (callers that need real tensors use
:func:`torch.view_as_real`). Filters are built in float64 with numpy once per
``(sample rate, length, groups, device, dtype)`` and cached.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

#: ``(n_octaves, bins_per_octave)`` per octave group, lowest group first.
OctaveGroups = tuple[tuple[int, int], ...]


def normalize_groups(groups: Sequence[Sequence[int]]) -> OctaveGroups:
    """Check and freeze an octave-group description.

    Parameters
    ----------
    groups : sequence of (n_octaves, bins_per_octave)
        Lowest group first; every count must be a positive integer.

    Returns
    -------
    tuple of (int, int)

    Raises
    ------
    ValueError
        For an empty description or a non-positive count.
    """
    out = tuple((int(n), int(b)) for n, b in groups)
    if not out or any(n < 1 or b < 1 for n, b in out):
        raise ValueError(f"octave groups must be positive (n_octaves, bins_per_octave): {groups!r}")
    return out


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _psi(t: np.ndarray) -> np.ndarray:
    """Power-complementary bump: ``psi(t)^2 + psi(1 - t)^2 = 1`` for ``t`` in [0, 1]."""
    a = np.abs(t)
    return np.where(a < 1.0, np.cos(0.5 * np.pi * _smoothstep(a)), 0.0)


@dataclass(frozen=True)
class OctaveLayout:
    """Shape of one octave's coefficients (rows are bins, low to high frequency).

    Attributes
    ----------
    n_rows : int
        Bins in this octave (plus the lowpass band in the lowest octave and the Nyquist band in the
        highest).
    n_frames : int
        Time frames ``T_o``; ``n_samples / n_frames`` samples per frame (a power of two).
    center_hz : tuple of float
        Centre frequency of every row (0 for the lowpass band).
    position : tuple of float
        Every row's place on the warped frequency axis, scaled to [-1, 1] (for the network).
    """

    n_rows: int
    n_frames: int
    center_hz: tuple[float, ...]
    position: tuple[float, ...]


@dataclass(frozen=True)
class CQTLayout:
    """Everything about the transform that does not depend on the signal.

    ``octaves`` is ordered from the highest octave (index 0) to the lowest.
    """

    sample_rate: int
    n_samples: int
    groups: OctaveGroups
    octaves: tuple[OctaveLayout, ...]

    @property
    def n_coefficients(self) -> int:
        """Complex coefficients per signal, all octaves together."""
        return sum(o.n_rows * o.n_frames for o in self.octaves)


@dataclass(frozen=True)
class _OctaveFilters:
    index: np.ndarray  # (rows, T) int64: rfft bin that lands at each demodulated position
    weight: np.ndarray  # (rows, T) float64: H_k at that bin, 0 outside the support
    scale: float  # sqrt(2 N / T)


def _bin_centers(sample_rate: int, groups: OctaveGroups) -> tuple[np.ndarray, list[int]]:
    """Centre frequencies of bins ``u = -1 .. K`` and the octave index of bins ``0 .. K``."""
    nyquist = sample_rate / 2.0
    bpo_low_to_high = [b for n, b in groups for _ in range(n)]
    n_oct = len(bpo_low_to_high)
    centers = []
    octave_of = []
    for i, bpo in enumerate(bpo_low_to_high):  # i = 0 is the lowest octave
        f_lo = nyquist * 2.0 ** (i - n_oct)
        for j in range(bpo):
            centers.append(f_lo * 2.0 ** (j / bpo))
            octave_of.append(n_oct - 1 - i)
    centers.append(nyquist)
    octave_of.append(0)
    f_minus1 = centers[0] * 2.0 ** (-1.0 / bpo_low_to_high[0])
    return np.array([f_minus1, *centers]), octave_of


def _build(sample_rate: int, n_samples: int, groups: OctaveGroups):
    if n_samples < 16 or n_samples % 2:
        raise ValueError(f"n_samples must be even and at least 16, got {n_samples}")
    centers, octave_of = _bin_centers(sample_rate, groups)  # centers[0] is u = -1
    n_oct = sum(n for n, _ in groups)
    n_bins = len(centers) - 2  # K: bins 0 .. K, K being Nyquist
    n_freqs = n_samples // 2 + 1
    freqs = np.arange(n_freqs) * (sample_rate / n_samples)
    if centers[0] <= freqs[1]:
        raise ValueError(
            f"the lowest CQT bin ({centers[1]:.2f} Hz) is too close to DC for {n_samples} samples; "
            "use fewer octaves or a longer segment"
        )
    u_centers = np.arange(-1, n_bins + 1, dtype=np.float64)
    with np.errstate(divide="ignore"):
        log_f = np.log2(np.maximum(freqs, 1e-300))
    u = np.interp(log_f, np.log2(centers), u_centers, left=-np.inf, right=float(n_bins))
    u[0] = -np.inf

    # rows: (u_center, octave, response over all rfft bins)
    rows: list[list[tuple[float, np.ndarray]]] = [[] for _ in range(n_oct)]
    lowpass = np.where(u <= -1.0, 1.0, _psi(u + 1.0))
    rows[n_oct - 1].append((-1.0, lowpass))
    for k in range(n_bins + 1):
        rows[octave_of[k]].append((float(k), _psi(u - k)))
    for r in rows:
        r.sort(key=lambda item: item[0])
    total = sum(h**2 for r in rows for _, h in r)
    if not np.allclose(total, 1.0, atol=1e-12):  # guards the design, not the user
        raise AssertionError("CQT filters are not a partition of unity")

    # Frames per octave: the smallest N / 2^j that holds every band of the octave, then made
    # non-increasing downwards with ratios of 1 or 2 between neighbouring octaves.
    def frames_for(width: int) -> int:
        t = n_samples
        while t % 2 == 0 and t // 2 >= width:
            t //= 2
        return t

    widths = []
    for r in rows:
        w = 0
        for _, h in r:
            nz = np.nonzero(h > 0)[0]
            if nz.size == 0:
                raise ValueError(f"{n_samples} samples are too few to resolve every CQT bin")
            w = max(w, int(nz[-1] - nz[0] + 1))
        widths.append(w)
    frames = [frames_for(w) for w in widths]
    for o in range(n_oct - 2, -1, -1):
        frames[o] = max(frames[o], frames[o + 1])
    for o in range(1, n_oct):
        frames[o] = max(frames[o], frames[o - 1] // 2)

    octaves = []
    filters = []
    for o, r in enumerate(rows):
        t = frames[o]
        index = np.zeros((len(r), t), dtype=np.int64)
        weight = np.zeros((len(r), t), dtype=np.float64)
        hz = []
        for i, (uc, h) in enumerate(r):
            nz = np.nonzero(h > 0)[0]
            f_c = 0.0 if uc < 0 else float(centers[int(uc) + 1])
            c = round(f_c * n_samples / sample_rate)
            pos = (nz - c) % t
            index[i, pos] = nz
            weight[i, pos] = h[nz]
            index[i, weight[i] == 0] = c  # harmless: zero weight
            hz.append(f_c)
        position = tuple(2.0 * (uc + 1.0) / (n_bins + 1.0) - 1.0 for uc, _ in r)
        octaves.append(OctaveLayout(len(r), t, tuple(hz), position))
        filters.append(_OctaveFilters(index, weight, math.sqrt(2.0 * n_samples / t)))
    layout = CQTLayout(sample_rate, n_samples, groups, tuple(octaves))
    return layout, filters


_CACHE: dict[tuple, tuple] = {}
_LOCK = threading.Lock()


def _host_filters(sample_rate: int, n_samples: int, groups: OctaveGroups):
    key = ("host", sample_rate, n_samples, groups)
    with _LOCK:
        hit = _CACHE.get(key)
    if hit is None:
        hit = _build(sample_rate, n_samples, groups)
        with _LOCK:
            _CACHE[key] = hit
    return hit


def cqt_layout(sample_rate: int, n_samples: int, groups: Sequence[Sequence[int]]) -> CQTLayout:
    """Shapes, frame counts and centre frequencies of the transform (no tensors).

    Parameters
    ----------
    sample_rate : int
        Sample rate in Hz.
    n_samples : int
        Signal length; even, and divisible by 2 often enough for the low octaves' frames.
    groups : sequence of (n_octaves, bins_per_octave)
        Octave groups, lowest first.

    Returns
    -------
    CQTLayout
    """
    return _host_filters(int(sample_rate), int(n_samples), normalize_groups(groups))[0]


def _device_filters(
    sample_rate: int, n_samples: int, groups: OctaveGroups, device: torch.device, dtype: torch.dtype
) -> list[tuple[Tensor, Tensor, float]]:
    key = ("dev", sample_rate, n_samples, groups, str(device), dtype)
    with _LOCK:
        hit = _CACHE.get(key)
    if hit is None:
        _, host = _host_filters(sample_rate, n_samples, groups)
        hit = [
            (
                torch.as_tensor(f.index, device=device),
                torch.as_tensor(f.weight, dtype=dtype, device=device),
                f.scale,
            )
            for f in host
        ]
        with _LOCK:
            _CACHE[key] = hit
    return hit


class MultiResCQT(torch.nn.Module):
    """Forward and inverse multi-resolution CQT for signals of one fixed length.

    Holds no parameters or buffers: filters come from a module-level cache keyed by device and
    dtype, so the module moves between devices for free and adds nothing to a checkpoint.

    Parameters
    ----------
    sample_rate : int
        Sample rate in Hz.
    n_samples : int
        Signal length every call must have.
    groups : sequence of (n_octaves, bins_per_octave)
        Octave groups, lowest first, e.g. ``((3, 8), (4, 16), (2, 32))``.
    """

    def __init__(self, sample_rate: int, n_samples: int, groups: Sequence[Sequence[int]]) -> None:
        super().__init__()
        self.sample_rate = int(sample_rate)
        self.n_samples = int(n_samples)
        self.groups = normalize_groups(groups)
        self.layout = cqt_layout(self.sample_rate, self.n_samples, self.groups)

    def _filters(self, device: torch.device, real_dtype: torch.dtype):
        return _device_filters(self.sample_rate, self.n_samples, self.groups, device, real_dtype)

    def forward(self, x: Tensor) -> list[Tensor]:
        """Analyse a real signal.

        Parameters
        ----------
        x : Tensor, shape (..., n_samples), float32 or float64

        Returns
        -------
        list of Tensor
            One complex tensor per octave, highest octave first, shape
            ``(..., n_rows[o], n_frames[o])``.
        """
        if x.shape[-1] != self.n_samples:
            raise ValueError(
                f"expected {self.n_samples} samples on the last axis, got {x.shape[-1]}"
            )
        if x.dtype not in (torch.float32, torch.float64):
            x = x.float()
        spec = torch.fft.rfft(x, norm="forward")
        out = []
        for index, weight, scale in self._filters(x.device, x.dtype):
            band = spec[..., index] * (weight * scale)
            # norm="forward": no 1/T here, so an in-band sinusoid keeps its amplitude.
            out.append(torch.fft.ifft(band, norm="forward"))
        return out

    def inverse(self, coefficients: Sequence[Tensor]) -> Tensor:
        """Synthesise a real signal from per-octave coefficients (exact for :meth:`forward`'s).

        Parameters
        ----------
        coefficients : sequence of complex Tensor
            As returned by :meth:`forward`, shapes ``(..., n_rows[o], n_frames[o])``.

        Returns
        -------
        Tensor, shape (..., n_samples), real
        """
        if len(coefficients) != len(self.layout.octaves):
            raise ValueError(
                f"expected {len(self.layout.octaves)} octaves of coefficients, "
                f"got {len(coefficients)}"
            )
        first = coefficients[0]
        real_dtype = torch.float64 if first.dtype == torch.complex128 else torch.float32
        filters = self._filters(first.device, real_dtype)
        batch = first.shape[:-2]
        spec = None
        for c, (index, weight, scale) in zip(coefficients, filters):
            c = c.to(first.dtype)
            band = torch.fft.fft(c, norm="forward") * (weight / scale)
            flat = band.reshape(*batch, -1)
            if spec is None:
                spec = flat.new_zeros((*batch, self.n_samples // 2 + 1))
            spec = spec.index_add(-1, index.reshape(-1), flat)
        return torch.fft.irfft(spec, n=self.n_samples, norm="forward")
