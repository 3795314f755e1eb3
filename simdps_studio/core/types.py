"""Audio and Gap: the sample-exact value types everything else passes around.

Samples are kept in the source's native dtype so that a written file reproduces every untouched
sample bit for bit; :meth:`Audio.to_float` gives the float32 view the DSP works on. Time is on the
last axis: ``samples`` has shape ``(channels, n_samples)``. Positions are integer sample indices;
seconds appear only at the edges (CLI, GUI, reports).
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field

import numpy as np

from simdps_studio.core.errors import InputError

#: Full-scale value of each native integer dtype (soundfile's convention: left-aligned PCM).
_FULL_SCALE = {np.dtype(np.int16): 32768.0, np.dtype(np.int32): 2147483648.0}

#: Shortest gap the session accepts, in seconds (one millisecond).
MIN_GAP_S = 0.001


def native_dtype_for_subtype(subtype: str) -> np.dtype:
    """Numpy dtype that holds every sample of a soundfile ``subtype`` losslessly.

    Parameters
    ----------
    subtype : str
        A libsndfile subtype name, e.g. ``"PCM_16"``, ``"PCM_24"``, ``"FLOAT"``.

    Returns
    -------
    numpy.dtype
        ``int16`` for 8/16-bit PCM, ``int32`` for 20/24/32-bit PCM, ``float64`` for DOUBLE and
        ``float32`` for everything else (float and lossy codecs).
    """
    s = subtype.upper()
    if s in {"PCM_S8", "PCM_U8", "PCM_16", "ALAC_16", "DPCM_8", "DPCM_16"}:
        return np.dtype(np.int16)
    if s in {"PCM_24", "PCM_32", "ALAC_20", "ALAC_24", "ALAC_32"}:
        return np.dtype(np.int32)
    if s == "DOUBLE":
        return np.dtype(np.float64)
    return np.dtype(np.float32)


def bits_for_subtype(subtype: str) -> int | None:
    """Integer bit depth of a PCM subtype (``None`` for float or lossy subtypes)."""
    s = subtype.upper()
    for prefix in ("PCM_", "ALAC_", "DPCM_"):
        if s.startswith(prefix):
            tail = s[len(prefix) :].lstrip("SU")
            if tail.isdigit():
                return int(tail)
    return None


def float_to_native(x: np.ndarray, dtype: np.dtype, bits: int | None = None) -> np.ndarray:
    """Convert float samples in [-1, 1) to ``dtype`` by rounding and clipping (no dither).

    Parameters
    ----------
    x : numpy.ndarray, shape (..., n_samples)
        Float samples.
    dtype : numpy.dtype
        Target native dtype.
    bits : int, optional
        Significant bits of the target PCM (24 for PCM_24 in int32): values are rounded to that
        step and left-aligned, as libsndfile stores them. Defaults to the dtype's full width.

    Returns
    -------
    numpy.ndarray, same shape as ``x``
    """
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return np.asarray(x, dtype=dtype)
    width = dtype.itemsize * 8
    bits = width if bits is None else min(bits, width)
    full = 2.0 ** (bits - 1)
    y = np.clip(np.rint(np.asarray(x, dtype=np.float64) * full), -full, full - 1)
    return (y * 2.0 ** (width - bits)).astype(dtype)


def native_to_float(x: np.ndarray) -> np.ndarray:
    """Convert native samples to float32 in [-1, 1) (float input is only cast)."""
    if x.dtype.kind == "f":
        return x.astype(np.float32, copy=False)
    return (x.astype(np.float32) * np.float32(1.0 / _FULL_SCALE[x.dtype])).astype(
        np.float32, copy=False
    )


@dataclass(eq=False)
class Audio:
    """A recording in its native sample format.

    Parameters
    ----------
    samples : numpy.ndarray, shape (channels, n_samples)
        Samples in the native dtype of ``subtype`` (see :func:`native_dtype_for_subtype`). The
        array is made read-only: a recording is never changed in place.
    sr : int
        Sample rate in Hz.
    subtype : str
        libsndfile subtype of the source (``"PCM_16"``, ``"PCM_24"``, ``"FLOAT"``, ...).
    format : str
        libsndfile container format of the source (``"WAV"``, ``"FLAC"``, ...).
    """

    samples: np.ndarray
    sr: int
    subtype: str = "FLOAT"
    format: str = "WAV"
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        # The source's samples are never written to: a stray in-place write fails loudly.
        self.samples.flags.writeable = False
        if self.samples.ndim != 2:
            raise InputError(
                f"audio must have shape (channels, n_samples), got {self.samples.shape}"
            )
        if self.sr <= 0:
            raise InputError(f"sample rate must be positive, got {self.sr}")

    @classmethod
    def from_float(
        cls, x: np.ndarray, sr: int, *, subtype: str = "FLOAT", format: str = "WAV"
    ) -> Audio:
        """Build an Audio from float samples, quantising to ``subtype``'s native dtype.

        Parameters
        ----------
        x : numpy.ndarray, shape (n_samples,) or (channels, n_samples)
        sr : int
        """
        x = np.atleast_2d(np.asarray(x))
        native = float_to_native(x, native_dtype_for_subtype(subtype), bits_for_subtype(subtype))
        return cls(native, int(sr), subtype, format)

    @property
    def channels(self) -> int:
        """Number of channels."""
        return int(self.samples.shape[0])

    @property
    def n_samples(self) -> int:
        """Number of sample frames."""
        return int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        """Duration in seconds."""
        return self.n_samples / self.sr

    def to_float(self, start_sample: int = 0, end_sample: int | None = None) -> np.ndarray:
        """Float32 copy of ``[start_sample, end_sample)``, shape (channels, n).

        Always a copy, also for float32 sources (where the cast alone would be a view): callers
        write fills into it, and the source must never change.
        """
        y = native_to_float(self.samples[:, start_sample:end_sample])
        return y.copy() if np.may_share_memory(y, self.samples) else y

    def mono_float(self, start_sample: int = 0, end_sample: int | None = None) -> np.ndarray:
        """Float32 mean of all channels over ``[start_sample, end_sample)``, shape (n,)."""
        return self.to_float(start_sample, end_sample).mean(axis=0, dtype=np.float32)


#: A non-negative decimal number in ASCII (``12``, ``12.5``, ``.5``, ``1e-3``).
_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
#: The dash of ``A-B``, not one after an exponent's ``e``.
_RANGE_DASH = re.compile(r"(?<![eE])-")


def parse_time_s(text: str) -> float:
    """Parse ``"12.5"``, ``"1:02.25"`` (mm:ss.sss) or ``"1:02:03.5"`` into seconds.

    Raises
    ------
    InputError
        If ``text`` is not a non-negative time.
    """
    if text.strip().startswith("-"):
        raise InputError(f"not a time: {text!r} (times cannot be negative)")
    parts = [p.strip() for p in text.strip().split(":")]
    # ASCII digits only: float() would also take "1_0" and other scripts' digits.
    if not 1 <= len(parts) <= 3 or not all(_NUMBER.fullmatch(p) for p in parts):
        raise InputError(f"not a time: {text!r} (use seconds like 12.5 or mm:ss.sss)")
    values = [float(p) for p in parts]
    if any(not math.isfinite(v) or v < 0 for v in values) or any(v >= 60 for v in values[1:]):
        raise InputError(f"not a valid time: {text!r}")
    seconds = 0.0
    for v in values:
        seconds = seconds * 60 + v
    return seconds


@dataclass(frozen=True, order=True)
class Gap:
    """A damaged region ``[start_sample, end_sample)`` of a recording.

    Parameters
    ----------
    start_sample : int
        First missing sample.
    end_sample : int
        One past the last missing sample.
    """

    start_sample: int
    end_sample: int

    @property
    def length(self) -> int:
        """Length in samples."""
        return self.end_sample - self.start_sample

    def duration_s(self, sr: int) -> float:
        """Length in seconds at sample rate ``sr``."""
        return self.length / sr

    def start_s(self, sr: int) -> float:
        """Start time in seconds."""
        return self.start_sample / sr

    def end_s(self, sr: int) -> float:
        """End time in seconds."""
        return self.end_sample / sr

    @classmethod
    def from_seconds(cls, start_s: float, end_s: float, sr: int) -> Gap:
        """Gap from times in seconds, rounded to the nearest sample."""
        return cls(round(start_s * sr), round(end_s * sr))

    @classmethod
    def parse(cls, text: str, sr: int) -> Gap:
        """Parse ``"A:B"`` with times in seconds (``12.5:14.5``) or mm:ss.sss (``0:12.5-0:14.5``).

        The separator between the two times is ``:`` for plain seconds; when the times themselves
        use ``mm:ss`` write them as ``A-B`` or ``A..B``.
        """
        t = text.strip()
        if t.startswith("-"):
            raise InputError(f"not a gap: {text!r} (times cannot be negative)")
        # A "-" between the times, not the one of an exponent (1e-3).
        halves = t.split("..", 1) if ".." in t else _RANGE_DASH.split(t, maxsplit=1)
        if len(halves) == 2:
            a, b = halves
        else:
            parts = t.split(":")
            if len(parts) == 2:
                a, b = parts
            elif len(parts) == 4:  # mm:ss:mm:ss
                a, b = ":".join(parts[:2]), ":".join(parts[2:])
            else:
                raise InputError(f"not a gap: {text!r} (use START:END in seconds, e.g. 12.5:14.5)")
        return cls.from_seconds(parse_time_s(a), parse_time_s(b), sr)

    def validate(self, n_samples: int, sr: int, *, min_length_s: float = MIN_GAP_S) -> Gap:
        """Return ``self`` if it lies inside a track of ``n_samples``, else raise InputError."""
        if self.end_sample <= self.start_sample:
            kind = "zero-length" if self.end_sample == self.start_sample else "reversed"
            raise InputError(f"gap {self.describe(sr)} is {kind}")
        if self.start_sample < 0 or self.end_sample > n_samples:
            raise InputError(
                f"gap {self.describe(sr)} lies outside the track (0 to {n_samples / sr:.3f} s)"
            )
        if self.length < max(1, round(min_length_s * sr)):
            raise InputError(f"gap {self.describe(sr)} is shorter than {min_length_s * 1000:g} ms")
        return self

    def overlaps(self, other: Gap) -> bool:
        """Whether the two gaps share at least one sample."""
        return self.start_sample < other.end_sample and other.start_sample < self.end_sample

    def describe(self, sr: int) -> str:
        """Human-readable ``"12.500–14.500 s"``."""
        return f"{self.start_sample / sr:.3f}–{self.end_sample / sr:.3f} s"


def neighbour_edges(gap: Gap, other_gaps, n_samples: int) -> tuple[int, int]:
    """``(lo, hi)``: the end of the nearest other gap before ``gap`` (else 0) and the start of the
    nearest one after it (else ``n_samples``): the observed stretch around ``gap``, since the
    other gaps' samples are missing too.

    Parameters
    ----------
    gap : Gap
    other_gaps : iterable of Gap
        The recording's other gaps (not overlapping ``gap``).
    n_samples : int
        Length of the recording.
    """
    lo = max((g.end_sample for g in other_gaps if g.end_sample <= gap.start_sample), default=0)
    hi = min(
        (g.start_sample for g in other_gaps if g.start_sample >= gap.end_sample),
        default=n_samples,
    )
    return lo, hi


def validate_gaps(
    gaps: list[Gap], n_samples: int, sr: int, *, allow_touching: bool = False
) -> list[Gap]:
    """Validate every gap and check that no two overlap or touch; return them sorted by start.

    ``allow_touching``: for gaps an earlier version stored (it let gaps touch), so their projects
    still open.
    """
    ordered = sorted(g.validate(n_samples, sr) for g in gaps)
    for a, b in itertools.pairwise(ordered):
        if a.overlaps(b):
            raise InputError(f"gaps {a.describe(sr)} and {b.describe(sr)} overlap")
        if a.end_sample == b.start_sample and not allow_touching:
            # No sample of context between them: each fill would end against the other's
            # missing audio (a click or a fade to silence at the shared edge).
            raise InputError(f"gaps {a.describe(sr)} and {b.describe(sr)} touch: make them one gap")
    return ordered
