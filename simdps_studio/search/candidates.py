"""Ranked candidates for a gap: the paper's contextual similarity search, made concrete.

For a gap ``[s, e)`` of length ``L`` and a candidate start ``t`` the cost is

    J(t) = w1 * D_stft(t) + w2 * D_chroma(t),

where each D is a weighted mean squared distance between the features of the gap's contexts
(``[s - c, s)`` and ``[e, e + c)``) and the candidate's (``[t - c, t)`` and ``[t + L, t + L + c)``),
with ``c`` = 1 s for log-mel and 3 s for chroma and frames nearer the gap weighing more (linearly
down to 0 at ``c``). Each D is
divided by its median over all valid positions, so a typical position costs about 1 per term and
``w1``, ``w2`` are comparable; ``score = max(0, 1 - J / (w1 + w2))``.

Candidate starts are visited on the analysis frame grid shifted to the gap's start (``t = s + m *
hop``), so the gap's context frames map onto frames of the track exactly and every D is a weighted
template match: ``sum_j w_j |F_j - F_{j+m}|^2 = const + corr(w, |F|^2)(m) - 2 corr(w F, F)(m)``,
evaluated for all m at once with FFT cross-correlations. The best positions (non-maximum suppressed)
are then refined to the sample on the mid signal at the track rate, and a gain is suggested from the
RMS of the contexts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np

from simdps_studio.core.errors import InputError, NoCandidateError
from simdps_studio.core.progress import Progress, check_cancel, monotonic_progress, sub_progress
from simdps_studio.core.types import Audio, Gap, neighbour_edges
from simdps_studio.search.config import SearchConfig
from simdps_studio.search.features import TrackFeatures, as_float_audio, mid_block, track_features

#: Bands processed per FFT batch (bounds memory for long tracks).
_BAND_BATCH = 16

#: scipy.fft threads (-1: all cores); the bands of a batch are transformed in parallel.
_WORKERS = -1


@dataclass(frozen=True)
class Candidate:
    """One ranked candidate passage for a gap.

    Attributes
    ----------
    rank : int
        1 for the best candidate.
    start_sample : int
        First sample of the candidate passage, in samples of its source track.
    start_s : float
        The same in seconds.
    cost : float
        J(t) = w1 * cost_stft + w2 * cost_chroma + w_seam * cost_seam (0 = identical contexts,
        ~1 per weight at a typical position).
    score : float
        Similarity in [0, 1]: ``max(0, 1 - cost / (w1 + w2 + w_seam))`` (``w_seam`` only when the
        candidates were re-ranked).
    cost_stft, cost_chroma : float
        The normalised log-mel and chroma distances.
    cost_seam : float
        The seam cost of the re-ranking (0 when it is off): relative squared error between the
        candidate's samples (with the gain) and the observed ones just outside each gap edge,
        0 for a perfect continuation, about 1 for an unrelated one.
    cost_fine : float
        The fine re-ranking's distance (0 when it is off): weighted mean squared difference of
        ~23-ms log-power spectra on a linear frequency scale over ``fine_context_s`` on each
        side (nearest frames weigh most, level offset removed), at the track's rate and the
        sample-accurate start, scaled to the spread of the mel cost over the re-ranked
        positions (0 for the best fine match among them).
    cost_linear : float
        The linear re-ranking's distance (0 when it is off; with ``linear_k`` it orders the
        re-ranked candidates instead of ``cost``): mean squared difference, dB² per bin and frame,
        of ~23-ms log-power spectra on a linear frequency scale over ``short_context_s`` on each
        side, flat weights, level counted (the exhaustive baseline's cost of
        ``benchmarks/retrieval.py``), at the re-placed start.
    gain_db : float
        Suggested gain that matches the candidate's context RMS to the gap's (clamped).
    source : str or None
        ``None`` for the gap's own track, else the corpus track's name (e.g. its path).
    long_context_s, short_context_s : float
        The contexts the cost compared (shorter than the configuration's on a short clip).
    source_index : int or None
        ``None`` for the gap's own track, else the index of the recording in the ``corpus``
        sequence given to :func:`find_candidates`. Its samples are fetched with
        :func:`~simdps_studio.search.sim.corpus_source` (which returns the ``source``/``source_sr``
        arguments of :func:`~simdps_studio.search.sim.sim_fill` and
        :func:`~simdps_studio.search.sim.candidate_samples`). ``start_sample`` is in that
        recording's own samples (its own rate).
    """

    rank: int
    start_sample: int
    start_s: float
    cost: float
    score: float
    cost_stft: float
    cost_chroma: float
    gain_db: float
    source: str | None = None
    source_index: int | None = None
    long_context_s: float = 3.0
    short_context_s: float = 1.0
    cost_seam: float = 0.0
    cost_fine: float = 0.0
    cost_linear: float = 0.0

    def to_dict(self) -> dict:
        """JSON-ready dict of all fields."""
        return asdict(self)


@dataclass
class CorpusTrack:
    """Another recording searched with the same features and cost.

    Attributes
    ----------
    source : str
        Name reported in :attr:`Candidate.source` (e.g. the file path).
    audio : Audio or numpy.ndarray, shape (channels, n_samples)
        The recording (native samples of an Audio, or float samples).
    sr : int, optional
        Sample rate (required for arrays). Positions are reported in this track's own samples.
    features : TrackFeatures, optional
        Precomputed features.
    """

    source: str
    audio: Audio | np.ndarray
    sr: int | None = None
    features: TrackFeatures | None = None


CorpusItem = CorpusTrack | Audio | tuple


@dataclass
class _Source:
    """A searched track: samples, rate, features, and (for the own track) gaps to avoid."""

    name: str | None
    index: int | None
    samples: np.ndarray
    sr: int
    features: TrackFeatures
    own: bool


@dataclass
class _Template:
    """The gap's weighted context frames in one feature matrix."""

    values: np.ndarray  # (bands, M) float64, centred, already multiplied by the weights
    weights: np.ndarray  # (M,) zero at frames that are not compared
    j0: int  # frame index of the template's first column in the gap's track
    const: float  # sum_j w_j sum_b u_b F_bj^2
    level_sum: float  # sum_j w_j sum_b u_b F_bj (log-mel only)
    raw_level_sum: float  # sum_j w_j sum_b F_bj: the context level in dB times the weights
    band_weights: np.ndarray  # (bands,) u_b, mean 1 (all 1 without per-band normalisation)
    level: bool  # whether the broadband level offset is measured (and partly discounted)


class _NoValidPosition(NoCandidateError):
    """No start position fits the gap, its contexts and the other gaps."""


def find_candidates(
    audio: Audio | np.ndarray,
    sr: int | None,
    gap: Gap | tuple[int, int],
    *,
    other_gaps: Sequence[Gap | tuple[int, int]] = (),
    config: SearchConfig | None = None,
    features: TrackFeatures | None = None,
    top_k: int | None = None,
    corpus: Sequence[CorpusItem] = (),
    cache_dir=None,
    audio_key: str | None = None,
    progress: Progress | None = None,
    cancel=None,
) -> list[Candidate]:
    """Rank passages of the track (and of a corpus) that fit the gap's contexts.

    Parameters
    ----------
    audio : Audio or numpy.ndarray, shape (channels, n_samples)
        The track: an :class:`~simdps_studio.core.types.Audio` or float samples. Samples inside
        the gaps are never used.
    sr : int or None
        Sample rate in Hz (required for arrays; ``None`` takes the Audio's).
    gap : Gap or (start_sample, end_sample)
        The gap to fill.
    other_gaps : sequence of Gap
        Other damaged regions of the track: no candidate (with its contexts) overlaps them, and
        their frames are left out of the gap's contexts.
    config : SearchConfig, optional
        All parameters (defaults: ``SearchConfig()``).
    features : TrackFeatures, optional
        The track's features when already computed (else computed or taken from the cache).
    top_k : int, optional
        Number of candidates (default ``config.top_k``).
    corpus : sequence
        Other recordings: :class:`CorpusTrack`, :class:`Audio` (named by ``meta["path"]`` when
        loaded from a file, else ``"corpus[i]"``), or tuples ``(source, audio, sr)`` /
        ``(source, Audio)``. A candidate found there has ``source_index`` = its index here.
    cache_dir : path, optional
        Folder of the disk feature cache (see :func:`~simdps_studio.search.features.track_features`).
    audio_key : str, optional
        A hash of the track the caller already knows (e.g. the source file's SHA-256), used as the
        feature cache key instead of hashing the samples on every call (which costs ~0.15 s per
        10 minutes of stereo float audio). It must change whenever the samples change.
    progress, cancel
        Progress callback and CancelToken.

    Returns
    -------
    list of Candidate
        At most ``top_k`` candidates, best first, at least ``nms_fraction * L`` apart.

    Raises
    ------
    NoCandidateError
        If no valid position exists (track too short, or everything overlaps gaps).
    InputError
        For an invalid gap or arguments.
    """
    config = config or SearchConfig()
    progress = monotonic_progress(progress)  # a retry with shorter contexts reports again
    kwargs = dict(other_gaps=other_gaps, features=features, top_k=top_k, corpus=corpus,
                  cache_dir=cache_dir, audio_key=audio_key, progress=progress, cancel=cancel)  # fmt: skip
    try:
        return _search(audio, sr, gap, config=config, **kwargs)
    except _NoValidPosition as first:
        # A short clip: retry with shorter contexts (the features do not depend on them, so the
        # cached analysis is reused), down to ``min_long_context_s``.
        # The message names the shortest context tried.
        last, long_s = first, config.long_context_s
        while long_s > config.min_long_context_s:
            long_s = max(long_s / 2, config.min_long_context_s)
            short_s = min(config.short_context_s, long_s)
            shorter = replace(config, long_context_s=long_s, short_context_s=short_s)
            try:
                return _search(audio, sr, gap, config=shorter, **kwargs)
            except _NoValidPosition as e:
                last = e
        raise last from None


def _search(
    audio: Audio | np.ndarray,
    sr: int | None,
    gap: Gap | tuple[int, int],
    *,
    config: SearchConfig,
    other_gaps: Sequence[Gap | tuple[int, int]],
    features: TrackFeatures | None,
    top_k: int | None,
    corpus: Sequence[CorpusItem],
    cache_dir,
    audio_key: str | None,
    progress: Progress | None,
    cancel,
) -> list[Candidate]:
    """One search with fixed contexts (see :func:`find_candidates`)."""
    top_k = config.top_k if top_k is None else int(top_k)
    if top_k < 1:
        raise InputError(f"top_k must be at least 1, got {top_k}")
    samples, sr = as_float_audio(audio, sr)
    n = samples.shape[1]
    gap = _as_gap(gap).validate(n, sr)
    others = [g for g in (_as_gap(o) for o in other_gaps) if g != gap]
    check_cancel(cancel)

    n_corpus = len(corpus)
    analysis_end = 0.6 if n_corpus == 0 else 0.3
    if features is None:
        features = track_features(
            samples,
            sr,
            config=config,
            cache_dir=cache_dir,
            key=audio_key,
            progress=sub_progress(progress, 0.0, analysis_end),
            cancel=cancel,
        )
    _check_features(features, n, sr, config)
    sources = [_Source(None, None, samples, sr, features, True)]
    for i, item in enumerate(corpus):
        lo = analysis_end + (0.6 - analysis_end) * i / n_corpus
        hi = analysis_end + (0.6 - analysis_end) * (i + 1) / n_corpus
        sources.append(
            _corpus_source(item, i, config, cache_dir, sub_progress(progress, lo, hi), cancel)
        )

    ra = config.analysis_sr
    s_a, e_a = gap.start_sample * ra / sr, gap.end_sample * ra / sr
    ctx_b_s = min(config.long_context_s * sr, gap.start_sample)  # long context actually available
    ctx_a_s = min(config.long_context_s * sr, n - gap.end_sample)
    others_a = [(g.start_sample * ra / sr, g.end_sample * ra / sr) for g in others]
    near = config.short_context_s * sr if config.near_repeats else None
    band_w = _band_weights(features.logmel, config)
    tpl_stft = _template(
        features.logmel, s_a, e_a, config.short_context_s * ra, others_a, config, level=True,
        band_weights=band_w,
    )  # fmt: skip
    tpl_chroma = _template(
        features.chroma, s_a, e_a, config.long_context_s * ra, others_a, config, level=False
    )
    w1 = config.w_stft if tpl_stft is not None else 0.0
    w2 = config.w_chroma if tpl_chroma is not None else 0.0
    if w1 + w2 == 0:
        raise NoCandidateError(f"gap {gap.describe(sr)} has no usable context on either side")

    # Raw distances of every source at every coarse shift m, and which shifts are valid.
    hop = config.hop_length
    mean_stft = features.logmel.mean(axis=1, dtype=np.float64)[:, None]
    raw = []
    for k, src in enumerate(sources):
        check_cancel(cancel)
        d_s, lv = (None, None)
        if w1:
            d_s, lv = _distance(src.features.logmel, tpl_stft, mean_stft, config, cancel)
        d_c = _distance(src.features.chroma, tpl_chroma, 0.0, config, cancel)[0] if w2 else None
        m_lo, m_hi = _shift_range(src.features.n_frames, (tpl_stft, tpl_chroma))
        m = np.arange(m_lo, m_hi + 1)
        ratio = src.sr / ra
        t = (s_a + m * hop) * ratio  # candidate start in the source's samples (float)
        valid = _valid_starts(t, src, gap, others, ctx_b_s, ctx_a_s, sr, near)
        cost_s = d_s[m + tpl_stft.j0] if w1 else np.zeros(m.size)
        cost_c = d_c[m + tpl_chroma.j0] if w2 else np.zeros(m.size)
        level = lv[m + tpl_stft.j0] if w1 else np.zeros(m.size)
        raw.append((src, m, t, valid, cost_s, cost_c, level))
        if progress is not None:
            progress(0.6 + 0.3 * (k + 1) / len(sources), "searching")

    if not any(r[3].any() for r in raw):
        raise _NoValidPosition(
            f"no valid candidate position for gap {gap.describe(sr)}: the track is too short for a "
            f"{gap.duration_s(sr):.3f} s gap with {config.long_context_s:g} s of context on each "
            "side, or the rest of it overlaps other gaps"
        )
    norm_s = _median_over_valid(raw, 4) if w1 else 1.0
    norm_c = _median_over_valid(raw, 5) if w2 else 1.0

    rejected = _level_rejection(raw, config)
    n_coarse = max(top_k, config.rerank_k, config.fine_k, config.linear_k)
    picks = []
    for (src, _m, t, valid, cost_s, cost_c, _level), bad in zip(raw, rejected):
        if not valid.any():
            continue
        ds, dc = cost_s / norm_s, cost_c / norm_c
        j = w1 * ds + w2 * dc
        radius = math.ceil(config.nms_fraction * (e_a - s_a) / hop) + 2
        for i in _nms(j, valid & ~bad, radius, n_coarse):
            picks.append((float(j[i]), float(ds[i]), float(dc[i]), src, float(t[i])))
    picks.sort(key=lambda p: p[0])
    picks = picks[:n_coarse]

    obs = _observed_edges(samples, gap, others, sr, config)
    w3 = config.w_seam if config.rerank_k > 0 else 0.0
    w4 = config.w_fine if config.fine_k > 0 else 0.0
    refined = []
    linear = _LinearContexts(samples, gap, others, sr, config) if config.linear_k else None
    for i, (cost, ds, dc, src, t0) in enumerate(picks):
        check_cancel(cancel)
        lin = math.inf
        if linear is not None and i < config.linear_k:
            # Re-placed by the baseline's cost, then refined to the sample only within half a
            # grid step (round 8: refining within a coarse hop moves it off the spot that
            # distance found; an exact repeat still lands on the sample).
            lin, t1 = linear.replace(src, t0, ctx_b_s, ctx_a_s)
            if math.isfinite(lin):
                start, gain_db = _refine(
                    src, t1, gap, others, ctx_b_s, ctx_a_s, sr, obs, config, linear.hop // 2
                )
        if not math.isfinite(lin):
            start, gain_db = _refine(src, t0, gap, others, ctx_b_s, ctx_a_s, sr, obs, config)
        seam = _seam_cost(obs, src, start, gain_db, gap, sr) if w3 > 0 else 0.0
        refined.append([cost + w3 * seam, ds, dc, seam, src, start, gain_db, 0.0, lin])
    if w4 > 0 and refined:
        fine = _fine_costs(samples, gap, others, sr, refined, config)
        for r, d in zip(refined, fine):
            r[0] += w4 * d
            r[7] = d
    # Stable: without re-ranking the coarse order stands; linearly re-ranked positions first.
    refined.sort(key=lambda p: (p[8], p[0]))
    result = []
    for rank, (cost, ds, dc, seam, src, start, gain_db, fine_d, lin) in enumerate(
        refined[:top_k], start=1
    ):
        result.append(
            Candidate(
                rank=rank,
                start_sample=int(start),
                start_s=start / src.sr,
                cost=cost,
                score=max(0.0, 1.0 - cost / (w1 + w2 + w3 + w4)),
                cost_stft=ds,
                cost_chroma=dc,
                gain_db=gain_db,
                cost_seam=seam,
                cost_fine=fine_d,
                cost_linear=lin if math.isfinite(lin) else 0.0,
                source=src.name,
                source_index=src.index,
                long_context_s=config.long_context_s,
                short_context_s=config.short_context_s,
            )
        )
    if progress is not None:
        progress(1.0, "candidates ready")
    return result


def _as_gap(g: Gap | tuple[int, int]) -> Gap:
    if isinstance(g, Gap):
        return g
    try:
        a, b = g
        return Gap(int(a), int(b))
    except (TypeError, ValueError):
        raise InputError(f"not a gap: {g!r}") from None


def _check_features(f: TrackFeatures, n: int, sr: int, config: SearchConfig) -> None:
    if f.n_samples != n or f.sr != sr or f.params != config.feature_params():
        raise InputError("the given features were computed for other audio or other parameters")


def _corpus_source(item, index, config, cache_dir, progress, cancel) -> _Source:
    """Normalise one corpus entry and get its features."""
    feats = None
    if isinstance(item, CorpusTrack):
        name, audio, sr, feats = item.source, item.audio, item.sr, item.features
    elif isinstance(item, Audio):
        name, audio, sr = str(item.meta.get("path") or f"corpus[{index}]"), item, None
    elif isinstance(item, tuple) and len(item) in (2, 3):
        name, audio, sr = str(item[0]), item[1], item[2] if len(item) == 3 else None
    else:
        raise InputError(f"corpus entry {index} is not a track: {type(item).__name__}")
    samples, sr = as_float_audio(audio, sr)
    if feats is None:
        feats = track_features(
            samples, sr, config=config, cache_dir=cache_dir, progress=progress, cancel=cancel
        )
    _check_features(feats, samples.shape[1], sr, config)
    return _Source(name, index, samples, sr, feats, False)


def _template(
    feat: np.ndarray,
    s_a: float,
    e_a: float,
    context_a: float,
    others_a: list[tuple[float, float]],
    config: SearchConfig,
    *,
    level: bool,
    band_weights: np.ndarray | None = None,
) -> _Template | None:
    """Weighted context frames of the gap: windows that touch no gap, centres within the context.

    Parameters
    ----------
    feat : numpy.ndarray, shape (bands, n_frames)
    s_a, e_a : float
        The gap in analysis samples.
    context_a : float
        Context length on each side in analysis samples.
    band_weights : numpy.ndarray, shape (bands,), optional
        Weight of each band in the distance (default 1).
    """
    hop, half = config.hop_length, config.n_fft / 2
    n_frames = feat.shape[1]
    centre = np.arange(n_frames) * hop
    before = (centre + half <= s_a) & (centre >= s_a - context_a)
    after = (centre - half >= e_a) & (centre < e_a + context_a)
    use = before | after
    for a, b in others_a:
        use &= ~((centre - half < b) & (a < centre + half))
    idx = np.flatnonzero(use)
    if idx.size == 0:
        return None
    dist = np.where(before, s_a - centre, centre - e_a)[idx]
    floor = config.context_weight_floor
    w_idx = 1.0 - (1.0 - floor) * np.clip(dist / context_a, 0.0, 1.0)
    j0, j1 = int(idx[0]), int(idx[-1]) + 1
    weights = np.zeros(j1 - j0)
    weights[idx - j0] = w_idx
    values = feat[:, j0:j1].astype(np.float64)
    if level:
        values = values - feat.mean(axis=1, dtype=np.float64)[:, None]
    weighted = values * weights
    u = np.ones(feat.shape[0]) if band_weights is None else band_weights
    return _Template(
        values=weighted,
        weights=weights,
        j0=j0,
        const=float(np.sum(u[:, None] * weighted * values)),
        level_sum=float(u @ weighted.sum(axis=1)) if level else 0.0,
        raw_level_sum=float(weighted.sum()) if level else 0.0,
        band_weights=u,
        level=level,
    )


def _band_weights(logmel: np.ndarray, config: SearchConfig) -> np.ndarray | None:
    """Per-band normalisation: each band weighs the inverse of its variance over the track
    (mean weight 1), so the distance compares every band's deviations on its own scale."""
    if not config.band_norm:
        return None
    var = logmel.var(axis=1, dtype=np.float64)
    u = 1.0 / np.maximum(var, max(float(var.mean()), 1e-12) * 1e-3)
    return u / u.mean()


def _xcorr_valid(signal: np.ndarray, kernel: np.ndarray, cancel=None) -> np.ndarray:
    """Band-summed valid cross-correlation ``r[p] = sum_b sum_i kernel[b, i] signal[b, p + i]``.

    Parameters
    ----------
    signal : numpy.ndarray, shape (bands, N)
    kernel : numpy.ndarray, shape (bands, M), M <= N

    Returns
    -------
    numpy.ndarray, shape (N - M + 1,)
    """
    import scipy.fft

    n, m = signal.shape[1], kernel.shape[1]
    nfft = scipy.fft.next_fast_len(n, real=True)
    acc = np.zeros(nfft // 2 + 1, dtype=np.complex128)
    for b0 in range(0, signal.shape[0], _BAND_BATCH):
        check_cancel(cancel)
        sig = scipy.fft.rfft(
            signal[b0 : b0 + _BAND_BATCH].astype(np.float64), nfft, axis=1, workers=_WORKERS
        )
        ker = scipy.fft.rfft(kernel[b0 : b0 + _BAND_BATCH], nfft, axis=1, workers=_WORKERS)
        acc += np.sum(sig * np.conj(ker), axis=0)
    # No circular wrap for p <= N - M because the signal is zero-padded from N to nfft.
    return scipy.fft.irfft(acc, nfft)[: n - m + 1]


def _distance(
    feat: np.ndarray, tpl: _Template, centre, config: SearchConfig, cancel
) -> tuple[np.ndarray, np.ndarray | None]:
    """Weighted mean squared distance between the template and every placement in ``feat``.

    Bands count with the template's band weights u_b (mean 1).

    Returns
    -------
    distance : numpy.ndarray, shape (n_frames - M + 1,)
        Indexed by the placement's first frame ``p`` (empty when the track is shorter than the
        template).
    level_db : numpy.ndarray, shape (n_frames - M + 1,), or None
        For a template with ``level``: the gap's context level minus the placement's, dB (the
        weighted mean difference of the log-mel values over all bands).
    """
    n_bands, m_len = tpl.values.shape
    if feat.shape[1] < m_len:
        return np.zeros(0), (np.zeros(0) if tpl.level else None)
    u = tpl.band_weights
    f = feat.astype(np.float64) - centre
    uf = f * u[:, None]
    energy = np.einsum("bn,bn->n", uf, f)[None, :]
    d = (
        tpl.const
        + _xcorr_valid(energy, tpl.weights[None, :])
        - 2.0 * _xcorr_valid(uf, tpl.values, cancel)
    )
    w_sum = float(tpl.weights.sum())
    level_db = None
    if tpl.level:
        raw_sum = _xcorr_valid(f.sum(axis=0)[None, :], tpl.weights[None, :])
        level_db = (tpl.raw_level_sum - raw_sum) / (n_bands * w_sum)
    if tpl.level and config.level_weight < 1.0:
        # Discount (part of) the broadband level offset mu (the u-weighted mean difference in
        # dB): sum_j w_j sum_b u_b (d_bj - mu)^2 = d - B W mu^2 (the u_b sum to B).
        if config.band_norm:
            cand_sum = _xcorr_valid(uf.sum(axis=0)[None, :], tpl.weights[None, :])
            mu = (tpl.level_sum - cand_sum) / (n_bands * w_sum)
        else:
            mu = level_db
        d = d - (1.0 - config.level_weight) * n_bands * w_sum * mu * mu
    return np.maximum(d, 0.0) / (w_sum * n_bands), level_db


def _shift_range(n_frames: int, templates) -> tuple[int, int]:
    """Shifts m for which every template lies inside a track of ``n_frames`` frames."""
    lo, hi = -(10**12), 10**12
    for tpl in templates:
        if tpl is None:
            continue
        m_len = tpl.values.shape[1]
        lo = max(lo, -tpl.j0)
        hi = min(hi, n_frames - m_len - tpl.j0)
    return lo, hi


def _valid_starts(
    t: np.ndarray,
    src: _Source,
    gap: Gap,
    others: list[Gap],
    ctx_b: float,
    ctx_a: float,
    sr: int,
    near: float | None = None,
) -> np.ndarray:
    """Which candidate starts ``t`` (source samples) are usable.

    A start is valid when ``[t - c_b, t + L + c_a)`` (contexts scaled to the source's rate) lies on
    the source track and, in the gap's own track, overlaps neither the gap with its contexts nor
    any other gap. With ``near`` (samples, ``near_repeats``) only ``[t - near, t + L + near)`` has
    to keep clear of the gap itself: a repeat one bar away is allowed although its long contexts
    overlap the gap's.
    """
    ratio = src.sr / sr
    length = gap.length * ratio
    lo = t - ctx_b * ratio
    hi = t + length + ctx_a * ratio
    valid = (lo >= 0) & (hi <= src.samples.shape[1])
    if src.own:
        if near is not None:
            valid &= (t + length + near <= gap.start_sample) | (t - near >= gap.end_sample)
        else:
            valid &= (hi <= gap.start_sample - ctx_b) | (lo >= gap.end_sample + ctx_a)
        for g in others:
            valid &= (hi <= g.start_sample) | (lo >= g.end_sample)
    return valid


def _level_rejection(raw, config: SearchConfig) -> list[np.ndarray]:
    """Per source, the positions whose context level differs from the gap's by more than the
    gain limit (``reject_level``). When that would leave no position at all, none is rejected:
    a far too quiet candidate is still better than none."""
    none = [np.zeros(r[3].size, bool) for r in raw]
    if not config.reject_level:
        return none
    bad = [np.abs(r[6]) > config.max_gain_db for r in raw]
    if not any((r[3] & ~b).any() for r, b in zip(raw, bad)):
        return none
    return bad


def _median_over_valid(raw, column: int) -> float:
    """Median of a raw cost column over all valid positions of all sources (positive)."""
    values = np.concatenate([r[column][r[3]] for r in raw])
    med = float(np.median(values)) if values.size else 0.0
    if med <= 0.0:
        med = float(values.mean()) if values.size else 0.0
    return med if med > 0.0 else 1.0


def _nms(cost: np.ndarray, valid: np.ndarray, radius: int, k: int) -> list[int]:
    """Indices of the ``k`` lowest costs among valid ones, each ``radius`` or more from the others."""
    c = np.where(valid, cost, np.inf)
    picks = []
    for _ in range(k):
        i = int(np.argmin(c))
        if not np.isfinite(c[i]):
            break
        picks.append(i)
        c[max(0, i - radius + 1) : i + radius] = np.inf
    return picks


@dataclass
class _Observed:
    """Observed mid samples just outside the gap, for refinement and gain."""

    before: np.ndarray  # refinement window before the gap
    after: np.ndarray  # refinement window after the gap
    ctx_before: np.ndarray  # short context before the gap (gain)
    ctx_after: np.ndarray  # short context after the gap (gain)


def _observed_edges(
    samples: np.ndarray, gap: Gap, others: list[Gap], sr: int, config: SearchConfig
) -> _Observed:
    """The observed samples beside the gap; they end at the neighbouring gaps (missing too)."""
    s, e = gap.start_sample, gap.end_sample
    lo, hi = neighbour_edges(gap, others, samples.shape[1])
    w = max(1, int(round(config.refine_window_s * sr)))
    c = max(1, int(round(config.short_context_s * sr)))
    wb, wa = min(w, s - lo), min(w, hi - e)
    cb, ca = min(c, s - lo), min(c, hi - e)
    return _Observed(
        before=mid_block(samples, s - wb, s),
        after=mid_block(samples, e, e + wa),
        ctx_before=mid_block(samples, s - cb, s),
        ctx_after=mid_block(samples, e, e + ca),
    )


def _source_mid(src: _Source, start: int, stop: int, sr: int) -> np.ndarray:
    """Mid signal of ``src`` over ``[start, stop)`` in the gap track's samples at rate ``sr``.

    For a source at another rate, ``start``/``stop`` are in samples at ``sr`` and the region is
    resampled (with padding against edge effects).
    """
    if src.sr == sr:
        return mid_block(src.samples, start, stop)
    import soxr

    pad = 64
    # With ``a`` a multiple of P (src.sr / sr = P / Q in lowest terms) the resampled samples fall
    # exactly on the track's sample grid (no fractional shift).
    p = src.sr // math.gcd(src.sr, sr)
    step = p if p <= 1 << 16 else 1
    a = step * math.floor((start - pad) * src.sr / sr / step)
    b = int(math.ceil((stop + pad) * src.sr / sr))
    y = soxr.resample(mid_block(src.samples, a, b), src.sr, sr)
    offset = int(round(a * sr / src.sr))
    out = np.zeros(stop - start)
    seg = y[start - offset : start - offset + (stop - start)]
    out[: seg.size] = seg
    return out


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x * x))) if x.size else 0.0


def _gain_db(obs: _Observed, src: _Source, t: int, gap: Gap, sr: int, max_db: float) -> float:
    """Gain (dB) that matches the candidate's short-context RMS to the gap's, clamped."""
    cb, ca = obs.ctx_before.size, obs.ctx_after.size
    cand = np.concatenate(
        [_source_mid(src, t - cb, t, sr), _source_mid(src, t + gap.length, t + gap.length + ca, sr)]
    )
    ref = np.concatenate([obs.ctx_before, obs.ctx_after])
    r_cand, r_ref = _rms(cand), _rms(ref)
    if r_cand <= 1e-9 or r_ref <= 1e-9:
        return 0.0
    return float(np.clip(20.0 * np.log10(r_ref / r_cand), -max_db, max_db))


def _seam_cost(
    obs: _Observed, src: _Source, start: int, gain_db: float, gap: Gap, sr: int
) -> float:
    """How well the candidate (with its gain) continues the observed samples at both edges.

    Relative squared error ``sum (g c - o)^2 / (sum o^2 + sum (g c)^2)`` over the refinement
    windows just outside each edge (mid signals), averaged over the edges that have observed
    samples: 0 for a perfect continuation, about 1 for unrelated sound of the same level, 2 at
    most. ``start`` is in the source's samples.
    """
    t = int(round(start * sr / src.sr))
    g = 10.0 ** (gain_db / 20.0)
    wb, wa = obs.before.size, obs.after.size
    pairs = []
    if wb:
        pairs.append((obs.before, g * _source_mid(src, t - wb, t, sr)))
    if wa:
        pairs.append((obs.after, g * _source_mid(src, t + gap.length, t + gap.length + wa, sr)))
    errors = []
    for o, c in pairs:
        energy = float(np.sum(o * o) + np.sum(c * c))
        errors.append(float(np.sum((c - o) ** 2)) / energy if energy > 1e-12 else 0.0)
    return float(np.mean(errors)) if errors else 0.0


def _edge_frames_db(x: np.ndarray, sr: int, floor: float, before: bool) -> np.ndarray:
    """Log power (dB) of ~23-ms Hann frames (hop a quarter) anchored at the gap edge.

    Before the gap (``before``) the last frame ends at the end of ``x``, after it the first frame
    starts at its start, so frame ``j`` of the gap and of a candidate lie at the same distance
    from the edge. Rows are ordered from the edge outwards; shape (frames, bins).
    """
    n_fft = 1 << max(6, int(round(math.log2(0.023 * sr))))
    hop = n_fft // 4
    if x.size < n_fft:
        return np.zeros((0, n_fft // 2 + 1))
    frames = np.lib.stride_tricks.sliding_window_view(x[::-1] if before else x, n_fft)[::hop]
    if before:
        frames = frames[:, ::-1]  # each frame back in time order; frame 0 ends at the edge
    spec = np.fft.rfft(frames * np.hanning(n_fft), axis=1)
    return 10.0 * np.log10(np.maximum(spec.real**2 + spec.imag**2, floor))


def _fine_distance(ref: list[np.ndarray], cand: list[np.ndarray], config) -> float:
    """Weighted mean squared difference of edge-anchored log-power frames (both sides).

    Frames weigh 1 at the edge, falling linearly to ``fine_weight_floor`` at the far end; with
    ``fine_level`` the weighted broadband mean difference (a level offset the gain corrects) is
    removed first.
    """
    sq, lin, wsum, bins = 0.0, 0.0, 0.0, 1
    for a, b in zip(ref, cand):
        n = min(len(a), len(b))
        if n == 0:
            continue
        d = a[:n] - b[:n]
        w = 1.0 - (1.0 - config.fine_weight_floor) * np.arange(n) / max(len(a), 1)
        sq += float(w @ np.sum(d * d, axis=1))
        lin += float(w @ np.sum(d, axis=1))
        wsum += float(w.sum())
        bins = d.shape[1]
    if wsum == 0.0:
        return 0.0
    total = sq / (wsum * bins)
    if config.fine_level:
        total -= (lin / (wsum * bins)) ** 2
    return max(total, 0.0)


def _fine_costs(samples, gap: Gap, others: list[Gap], sr: int, refined, config) -> list[float]:
    """Fine distance of each re-ranked candidate, scaled to the spread of J over them.

    The gap's observed contexts (``fine_context_s`` on each side, up to the neighbouring gaps)
    and the candidate's, at the track's rate and sample-accurate start, are compared as
    ~23-ms log-power spectra on a linear frequency scale (the exhaustive baseline's view; the
    mel features are too coarse to tell close harmonic matches apart), see
    :func:`_fine_distance`. Each distance ``f`` becomes ``(f - min f) * std(J) / std(f)`` over
    the re-ranked positions: z-scored against the mel cost J, so ``w_fine`` 1 weighs the two
    views equally whatever their scales (0 for the best fine match). A plain median
    normalisation let the fine term's larger spread decide alone.
    """
    s, e = gap.start_sample, gap.end_sample
    lo, hi = neighbour_edges(gap, others, samples.shape[1])
    c = int(round(config.fine_context_s * sr))
    nb, na = min(c, s - lo), min(c, hi - e)
    before, after = mid_block(samples, s - nb, s), mid_block(samples, e, e + na)
    peak = max(float(np.max(np.abs(x))) if x.size else 0.0 for x in (before, after))
    n_fft = 1 << max(6, int(round(math.log2(0.023 * sr))))
    floor = max(peak * peak * n_fft * 1e-8, 1e-20)  # about 80 dB below a full-scale sine
    ref = [_edge_frames_db(before, sr, floor, True), _edge_frames_db(after, sr, floor, False)]
    raw = []
    for r in refined:
        src, start = r[4], r[5]
        t = int(round(start * sr / src.sr))
        cand = [
            _edge_frames_db(_source_mid(src, t - nb, t, sr), sr, floor, True),
            _edge_frames_db(
                _source_mid(src, t + gap.length, t + gap.length + na, sr), sr, floor, False
            ),
        ]
        raw.append(_fine_distance(ref, cand, config))
    f = np.asarray(raw)
    j = np.asarray([r[0] for r in refined])
    sd_f, sd_j = float(np.std(f)), float(np.std(j))
    if f.size < 2 or sd_f <= 0.0:
        return [0.0] * f.size
    scale = (sd_j if sd_j > 0.0 else 1.0) / sd_f
    return [float(x) for x in (f - f.min()) * scale]


class _LinearContexts:
    """The exhaustive baseline's cost, evaluated around a coarse position (``linear_k``).

    The gap's observed contexts (``short_context_s`` on each side, up to the neighbouring gaps)
    are cut into ~23-ms Hann frames (hop a quarter) anchored at the gap edges; a candidate start
    ``u`` is compared by the sum of squared log-power differences of its own edge-anchored frames,
    flat weights, level counted, divided by the number of frames and bins.
    """

    def __init__(self, samples, gap: Gap, others: list[Gap], sr: int, config: SearchConfig):
        s, e = gap.start_sample, gap.end_sample
        lo, hi = neighbour_edges(gap, others, samples.shape[1])
        c = int(round(config.short_context_s * sr))
        self.nb, self.na = min(c, s - lo), min(c, hi - e)
        before, after = mid_block(samples, s - self.nb, s), mid_block(samples, e, e + self.na)
        peak = max(float(np.max(np.abs(x))) if x.size else 0.0 for x in (before, after))
        self.n_fft = 1 << max(6, int(round(math.log2(0.023 * sr))))
        self.hop = self.n_fft // 4
        self.floor = max(peak * peak * self.n_fft * 1e-8, 1e-20)  # ~80 dB below full scale
        self.ref_b = _edge_frames_db(before, sr, self.floor, True)
        self.ref_a = _edge_frames_db(after, sr, self.floor, False)
        self.gap, self.others, self.sr, self.config = gap, others, sr, config
        self.steps = int(config.linear_radius_s * sr) // self.hop

    def replace(self, src: _Source, t0: float, ctx_b: float, ctx_a: float) -> tuple[float, int]:
        """Lowest distance within the radius of ``t0`` (source samples) and its start there
        (``inf`` and ``t0`` when no valid start is near)."""
        sr, hop, k0 = self.sr, self.hop, self.steps
        length = self.gap.length
        c = int(round(t0 * sr / src.sr))  # in the gap track's samples
        r = k0 * hop
        # Frame i of `fb` ends at c + r - i * hop; start u = c + k * hop uses rows r/hop - k + j.
        fb = _edge_frames_db(_source_mid(src, c - r - self.nb, c + r, sr), sr, self.floor, True)
        # Frame i of `fa` starts at c + L - r + i * hop; start u uses rows r/hop + k + j.
        fa = _edge_frames_db(
            _source_mid(src, c + length - r, c + length + r + self.na, sr), sr, self.floor, False
        )
        ks = np.arange(-k0, k0 + 1)
        dist = np.zeros(ks.size)
        frames = 0
        for ref, cand, rows in ((self.ref_b, fb, k0 - ks), (self.ref_a, fa, k0 + ks)):
            if len(ref) == 0:
                continue
            frames += len(ref)
            # ||g - f||^2 = |g|^2 + |f|^2 - 2 g.f, with every frame pair's dot product at once.
            dots = cand @ ref.T  # (len(cand), len(ref))
            energy = np.sum(cand * cand, axis=1)
            for j in range(len(ref)):
                dist += energy[rows + j] - 2.0 * dots[rows + j, j]
            dist += float(np.sum(ref * ref))
        if frames == 0:
            return math.inf, int(round(t0))
        starts = c + ks * hop
        near = self.config.short_context_s * sr if self.config.near_repeats else None
        ratio = src.sr / sr
        ok = _valid_starts(starts * ratio, src, self.gap, self.others, ctx_b, ctx_a, sr, near)
        if not ok.any():
            return math.inf, int(round(t0))
        dist = np.where(ok, dist, np.inf) / (frames * self.ref_b.shape[1])
        i = int(np.argmin(dist))
        return float(max(dist[i], 0.0)), int(round(starts[i] * ratio))


def _refine(
    src: _Source,
    t0: float,
    gap: Gap,
    others: list[Gap],
    ctx_b: float,
    ctx_a: float,
    sr: int,
    obs: _Observed,
    config: SearchConfig,
    half_width: int | None = None,
) -> tuple[int, float]:
    """Sample-accurate start near ``t0`` and its suggested gain.

    Minimises ``sum |g * candidate - observed|`` over the refinement windows just outside both gap
    edges, for every start within ``half_width`` samples (default: one coarse hop) of ``t0`` that
    stays valid. Positions are in the gap track's samples here and converted to the source's at
    the end.
    """
    ratio = src.sr / sr
    t_gap = t0 / ratio  # in gap-track samples
    centre = int(round(t_gap))
    gain_db = _gain_db(obs, src, centre, gap, sr, config.max_gain_db)
    if not config.refine:
        return int(round(t0)), gain_db
    h = int(math.ceil(config.hop_length * sr / config.analysis_sr))
    h = h if half_width is None else half_width
    offsets = np.arange(centre - h, centre + h + 1)
    near = config.short_context_s * sr if config.near_repeats else None
    ok = _valid_starts(offsets * ratio, src, gap, others, ctx_b, ctx_a, sr, near)
    if not ok.any():
        return int(round(t0)), gain_db
    g = 10.0 ** (gain_db / 20.0)
    err = np.zeros(offsets.size)
    wb, wa = obs.before.size, obs.after.size
    length = gap.length
    if wb:
        region = _source_mid(src, centre - h - wb, centre + h, sr)
        windows = np.lib.stride_tricks.sliding_window_view(region, wb)
        err += np.abs(g * windows - obs.before).sum(axis=1)
    if wa:
        region = _source_mid(src, centre - h + length, centre + h + length + wa, sr)
        windows = np.lib.stride_tricks.sliding_window_view(region, wa)
        err += np.abs(g * windows - obs.after).sum(axis=1)
    err[~ok] = np.inf
    best = int(offsets[int(np.argmin(err))])
    start = best if ratio == 1 else int(round(best * ratio))
    if best != centre:
        gain_db = _gain_db(obs, src, best, gap, sr, config.max_gain_db)
    return start, gain_db
