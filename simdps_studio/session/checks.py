"""The checks every repair gets, in the app and on the command line: seam grade and null test.

:func:`repair_and_verify` makes a gap's takes (``engines.make_repairs``) and checks them: each
take's seams are graded (:func:`seam_of`: the energy a seam adds to a short linear predictor's
residual, the figure the app's seam badge and the CLI's ``--report`` show, and whether the fill's
level collapses inside the gap, :func:`level_drop_db`), and the first take,
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

from simdps_studio.audio.dsp import lpc_least_squares, lpc_residual
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
#: Level drop grades: a fill whose quietest stretch inside the gap lies this far below the
#: quietest stretch of the music around it is "warn", then "bad" (dB). Seams can be smooth while
#: the fill fades to near-silence (an LPC fill of a long gap does).
LEVEL_WARN_DB = 10.0
LEVEL_BAD_DB = 20.0
#: Windows whose RMS levels are compared, and the context read on each side of the gap (s).
LEVEL_WINDOW_S = 0.05
LEVEL_CONTEXT_S = 0.5
#: Grades in order of concern.
GRADES = ("ok", "warn", "bad")
#: Seconds on each side of a new span that the repair's null test compares with the source:
#: a repair writing past its declared span would show there (the export compares the whole
#: track again).
NULL_TEST_PAD_S = 1.0


class SeamGrade(NamedTuple):
    """A repair's grade: ``"ok" | "warn" | "bad"``, the worst seam in dB, and how far the fill's
    level falls inside the gap below the music around it in dB (0: not below; the grade is the
    worse of the seams' and the level's)."""

    grade: str
    db: float
    level_drop_db: float = 0.0


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
    keep = np.ones(len(x) - order, bool)
    keep[max(0, exclude.start - order) : max(0, exclude.stop)] = False
    a = lpc_least_squares(x, order, keep=keep)
    if a is None:  # no finite fit: the signal itself is what no predictor explains
        return np.asarray(x[order:], dtype=np.float64)
    return lpc_residual(x, a)


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


def _window_rms(x: np.ndarray, window: int) -> np.ndarray:
    """RMS over channels of consecutive ``window``-sample windows of ``x`` (channels, n); the
    remainder after the last whole window is left out."""
    n_win = x.shape[1] // window
    if n_win == 0:
        return np.zeros(0)
    power = (x[:, : n_win * window] ** 2).reshape(x.shape[0], n_win, window).mean(axis=(0, 2))
    return np.sqrt(power)


def level_drop_db(
    x: np.ndarray, gap_start: int, gap_end: int, sr: int, *, window_s: float = LEVEL_WINDOW_S
) -> float:
    """How far a fill's level collapses inside its gap, in dB below the music around it.

    The quietest window (RMS, :data:`LEVEL_WINDOW_S`; shorter for a short gap) inside the gap is
    compared with the quietest window of the context on both sides: a fill is suspect when it
    goes quieter than anything around it. Rests in the context raise no alarm; a fill that fades
    to near-silence does.

    Parameters
    ----------
    x : numpy.ndarray, shape (channels, n) or (n,)
        Float samples with the fill applied, the gap at ``[gap_start, gap_end)`` and context on
        either side (the lengths available; :data:`LEVEL_CONTEXT_S` in :func:`seam_of`).
    sr : int
        Sample rate in Hz.

    Returns
    -------
    float
        The drop in dB, 0.0 when the fill is not quieter than the context (or there is no
        context with sound).
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    window = max(1, min(round(window_s * sr), gap_end - gap_start))
    inside = _window_rms(x[:, gap_start:gap_end], window)
    around = np.concatenate(
        [_window_rms(x[:, :gap_start][:, ::-1], window), _window_rms(x[:, gap_end:], window)]
    )
    if inside.size == 0 or around.size == 0 or float(around.min()) == 0.0:
        return 0.0
    quietest = max(float(inside.min()), 1e-10)  # -200 dBFS: digital silence inside counts
    return max(0.0, 20 * math.log10(float(around.min()) / quietest))


def _grade(value_db: float, warn_db: float, bad_db: float) -> str:
    return "ok" if value_db < warn_db else "warn" if value_db < bad_db else "bad"


def seam_of(audio: Audio, repair: Repair) -> SeamGrade:
    """Grade of one repair, measured on the source around its span with its fill applied.

    The span's edges are graded, and with crossfade margins the gap's edges too; the fill's
    level inside the gap is compared with :data:`LEVEL_CONTEXT_S` of music on each side
    (:func:`level_drop_db`). The grade is the worse of the two.
    """
    pad = max(SEAM_PAD, round(LEVEL_CONTEXT_S * audio.sr))
    a = max(0, repair.span_start_sample - pad)
    b = min(audio.n_samples, repair.span_end_sample + pad)
    x = audio.to_float(a, b)
    x[:, repair.span_start_sample - a : repair.span_end_sample - a] = repair.fill
    edges = [(repair.span_start_sample, repair.span_end_sample)]
    if repair.margin_before or repair.margin_after:
        edges.append((repair.gap.start_sample, repair.gap.end_sample))
    seam = seam_check(x, edges, offset=a)
    # The gap's fill between LEVEL_CONTEXT_S of source on each side (crossfade margins left out).
    context = round(LEVEL_CONTEXT_S * audio.sr)
    before = x[:, max(0, repair.span_start_sample - context - a) : repair.span_start_sample - a]
    inside = x[:, repair.gap.start_sample - a : repair.gap.end_sample - a]
    after = x[:, repair.span_end_sample - a : repair.span_end_sample + context - a]
    joined = np.concatenate([before, inside, after], axis=1)
    start = before.shape[1]
    drop = level_drop_db(joined, start, start + inside.shape[1], audio.sr)
    grade = max(seam.grade, _grade(drop, LEVEL_WARN_DB, LEVEL_BAD_DB), key=GRADES.index)
    return SeamGrade(grade, seam.db, drop)


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
