"""The checks every repair gets, in the app and on the command line: seam grade and null test.

:func:`repair_and_verify` makes a gap's takes (``engines.make_repairs``) and checks them: each
take's seams are graded (:func:`seam_of`: the energy a seam adds to a short linear predictor's
residual, the figure the app's seam badge and the CLI's ``--report`` show), and the first take,
rendered with the other gaps' repairs, must leave every sample outside the repaired spans
bit-identical to the source (:func:`null_test_near`); a band-limited take 1 must also leave the
spectrum outside its band unchanged (``band.band_null_residual``). See docs/architecture.md, section 2.

numpy only (no Qt, no torch: the engines load what a method needs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from simdps_studio.core.progress import sub_progress
from simdps_studio.core.types import Audio, Gap
from simdps_studio.session.band import BAND_NULL_TOLERANCE, band_null_residual
from simdps_studio.session.repair import Repair

#: A seam's added energy this far below the music around it is taken as masked (dB).
SEAM_MASKED_DB = 60.0
#: Seam grades: below the first limit "ok", below the second "warn", else "bad" (dB).
SEAM_WARN_DB = 6.0
SEAM_BAD_DB = 12.0
#: Samples of source read on each side of a span to grade its seams.
SEAM_PAD = 4096
#: Seconds on each side of a new span that the repair's null test compares with the source:
#: a repair writing past its declared span would show there (the export compares the whole
#: track again).
NULL_TEST_PAD_S = 1.0


class SeamGrade(NamedTuple):
    """A repair's seam grade: ``"ok" | "warn" | "bad"`` and the worst seam in dB."""

    grade: str
    db: float


@dataclass(frozen=True)
class VerifiedRepair:
    """The takes of one run on a gap and what their checks found.

    Attributes
    ----------
    repairs : tuple of Repair
        The takes, in order (take 1 is the one the session uses).
    seams : tuple of SeamGrade
        One per take.
    null_ok : bool
        Take 1 with the other repairs leaves every sample outside the spans unchanged.
    band_residual : float or None
        A band-limited take 1: its band null test (``band.band_null_residual``, the change left
        outside the band and its crossfades, relative to the change's peak); None: full band.
    """

    repairs: tuple[Repair, ...]
    seams: tuple[SeamGrade, ...]
    null_ok: bool
    band_residual: float | None = None

    @property
    def band_null_ok(self) -> bool | None:
        """Whether the band null test passed (within ``band.BAND_NULL_TOLERANCE``); None: full band."""
        if self.band_residual is None:
            return None
        return self.band_residual <= BAND_NULL_TOLERANCE


def _lpc_residual(x: np.ndarray, order: int, exclude: slice) -> np.ndarray:
    """Prediction error of an order-``order`` linear predictor fitted (least squares) on ``x``
    outside ``exclude``; shape (n - order,). Tonal structure is predictable, a click is not."""
    rows = np.lib.stride_tricks.sliding_window_view(x, order + 1)  # (n - order, order + 1)
    past, now = rows[:, :-1][:, ::-1], rows[:, -1]
    keep = np.ones(len(now), bool)
    keep[max(0, exclude.start - order) : max(0, exclude.stop)] = False
    coef, *_ = np.linalg.lstsq(past[keep], now[keep], rcond=None)
    return now - past @ coef


def seam_ratio_db(
    x: np.ndarray, seam_sample: int, *, half_window: int = 16, context: int = 2048, order: int = 16
) -> float:
    """How much unpredictable energy a seam adds, in dB over its surroundings.

    A short linear predictor is fitted on the signal around the seam (the seam itself left out);
    its prediction error whitens the music, so what remains at the seam is what the seam added: a
    step or a click stands out, a seamless splice does not. The error energy in
    ``±half_window`` samples around the seam is compared with the median energy of windows of the
    same size in ``±context`` samples around it. About 0 dB means the seam is invisible; +10 dB or
    more is an audible click.

    Parameters
    ----------
    x : numpy.ndarray, shape (channels, n) or (n,)
        Float samples around the seam (with the repair applied).
    seam_sample : int
        Index in ``x`` of the first sample after the seam.
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    a, b = max(0, seam_sample - context), min(x.shape[1], seam_sample + context)
    if b - a < 8 * half_window + order:
        return 0.0
    centre = seam_sample - a
    excl = slice(centre - half_window, centre + half_window)
    energy = np.zeros(b - a - order)
    for ch in x[:, a:b]:
        if np.ptp(ch) == 0:
            continue
        energy += _lpc_residual(ch, order, excl) ** 2
    c = centre - order  # seam position in the residual
    w = 2 * half_window
    n_win = len(energy) // w
    wins = energy[: n_win * w].reshape(n_win, w).mean(axis=1)
    far = np.abs(np.arange(n_win) * w + half_window - c) > 2 * w
    ref = float(np.median(wins[far])) if far.any() else float(np.median(wins))
    seam = float(energy[max(0, c - half_window) : c + half_window].mean())
    # On very clean material (a synthetic tone at 24 bits) the whitened residual is near the
    # quantisation floor, and a kink far below the music's level would count as a click: the
    # reference is at least the music's own energy SEAM_MASKED_DB below it (the grade no longer
    # depends on the bit depth there).
    music = float(np.mean(x[:, a:b] ** 2)) * x.shape[0]
    ref = max(ref, music * 10 ** (-SEAM_MASKED_DB / 10))
    return 10 * math.log10((seam + 1e-20) / (ref + 1e-20))


def seam_check(x: np.ndarray, spans: Sequence[tuple[int, int]], *, offset: int = 0) -> SeamGrade:
    """Grade the seams of repaired spans: ``("ok" | "warn" | "bad", worst dB)``.

    Parameters
    ----------
    x : numpy.ndarray, shape (channels, n)
        Float samples with the repairs applied; ``x[:, 0]`` is track sample ``offset``.
    spans : sequence of (start_sample, end_sample)
        Repaired spans in track samples.
    """
    worst = -math.inf
    for s, e in spans:
        for edge in (s, e):
            if 0 < edge - offset < x.shape[1]:
                worst = max(worst, seam_ratio_db(x, edge - offset))
    if worst == -math.inf:
        return SeamGrade("ok", 0.0)
    grade = "ok" if worst < SEAM_WARN_DB else "warn" if worst < SEAM_BAD_DB else "bad"
    return SeamGrade(grade, worst)


def seam_of(audio: Audio, repair: Repair) -> SeamGrade:
    """Seam grade of one repair, measured on the source around its span with its fill applied.

    The span's edges are graded, and with crossfade margins the gap's edges too.
    """
    a = max(0, repair.span_start_sample - SEAM_PAD)
    b = min(audio.n_samples, repair.span_end_sample + SEAM_PAD)
    x = audio.to_float(a, b)
    x[:, repair.span_start_sample - a : repair.span_end_sample - a] = repair.fill
    edges = [(repair.span_start_sample, repair.span_end_sample)]
    if repair.margin_before or repair.margin_after:
        edges.append((repair.gap.start_sample, repair.gap.end_sample))
    return seam_check(x, edges, offset=a)


def null_test_near(audio: Audio, repairs: Sequence[Repair], repair: Repair) -> bool:
    """Null test around ``repair``: rendered with ``repairs`` (which include it), the samples
    within :data:`NULL_TEST_PAD_S` of its span and outside every span equal the source's.

    Only that stretch is rendered (``render.render_range``, the export's own code), not a copy
    of the whole track.
    """
    from simdps_studio.session.render import equal_outside, render_range, repaired_spans

    pad = round(NULL_TEST_PAD_S * audio.sr)
    a = max(0, repair.span_start_sample - pad)
    b = min(audio.n_samples, repair.span_end_sample + pad)
    rendered = render_range(audio, repairs, a, b)
    spans = [(s - a, e - a) for s, e in repaired_spans(repairs) if s < b and e > a]
    return equal_outside(audio.samples[:, a:b], rendered, spans)


def repair_and_verify(
    audio: Audio,
    gap: Gap,
    request,
    *,
    other_gaps: Sequence[Gap] = (),
    others: Sequence[Repair] = (),
    progress=None,
    cancel=None,
) -> VerifiedRepair:
    """Repair ``gap`` (``engines.make_repairs``) and check the takes: the app's repair task and
    the CLI's ``repair``.

    Parameters
    ----------
    audio : Audio
        The source recording.
    gap : Gap
        The gap to repair.
    request : engines.RepairRequest
        Method and settings.
    other_gaps : sequence of Gap
        The track's other gaps (their samples are missing too).
    others : sequence of Repair
        The other gaps' repairs, rendered with take 1 for the null test.
    """
    from simdps_studio.session import engines

    repairs = engines.make_repairs(
        audio,
        gap,
        request,
        other_gaps=other_gaps,
        progress=sub_progress(progress, 0, 0.95),
        cancel=cancel,
    )
    seams = tuple(seam_of(audio, r) for r in repairs)
    if progress is not None:
        progress(0.97, "null test")
    null_ok = null_test_near(audio, [*others, repairs[0]], repairs[0])
    return VerifiedRepair(tuple(repairs), seams, null_ok, band_null_residual(audio, repairs[0]))
