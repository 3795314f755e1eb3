"""SearchConfig: every parameter of the similarity search, with its default, in one place.

The values are reported with every result (:meth:`SearchConfig.to_dict`), so a ranked list can be
reproduced and explained.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from simdps_studio.core.errors import InputError

#: Bumped whenever the feature computation changes, so old disk caches are not reused.
FEATURE_VERSION = 1


@dataclass(frozen=True)
class SearchConfig:
    """Parameters of the analysis, the cost J(t), the refinement and the Sim splice.

    Attributes
    ----------
    analysis_sr : int
        Sample rate of the mono analysis copy in Hz.
    n_fft, hop_length : int
        STFT size and hop of the analysis copy in samples (hop 512 = 23.2 ms at 22 050 Hz). The
        coarse search visits every hop.
    n_mels : int
        Mel bands of the short-range (timbre, onset) features.
    fmin_hz, fmax_hz : float
        Frequency range of the mel bands (``fmax_hz`` 0 means the Nyquist frequency).
    log_range_db : float
        Log-mel values are floored this far below the track's loudest bin.
    short_context_s : float
        Context compared with the log-mel features on each side of the gap.
    long_context_s : float
        Context compared with the chroma features on each side of the gap (clipped at the track's
        ends); a candidate's ``[t - c, t + L + c)`` must lie on the track.
    w_stft, w_chroma : float
        Weights w1 and w2 of the normalised log-mel and chroma distances in J(t).
    context_weight_floor : float
        Weight of the context frame farthest from the gap relative to the nearest one (1 = flat);
        the weight falls linearly with the distance from the gap edge.
    level_weight : float
        How much a broadband level difference counts in the log-mel distance (0 = level-invariant,
        1 = fully counted). Level differences are corrected by the suggested gain instead.
    band_norm : bool
        Whether each log-mel band counts with the inverse of its variance over the track (per-band
        normalisation: a quiet band with little variation counts as much as a loud, busy one).
    reject_level : bool
        Whether positions whose log-mel level differs from the gap's contexts by more than
        ``max_gain_db`` (more than the suggested gain may correct) are rejected.
    rerank_k : int
        How many of the best coarse positions are refined to the sample and re-ranked with the
        seam cost (0: no re-ranking; the coarse order stands).
    w_seam : float
        Weight of the seam cost in the re-ranked cost ``J + w_seam * cost_seam``.
    fine_k : int
        How many of the best coarse positions are refined to the sample and re-ranked by a fine
        spectral distance of the contexts (0: off).
    w_fine : float
        Weight of the fine distance, which is scaled to the spread (standard deviation) of the
        mel cost over those positions: 1 weighs the two equally (z-scored).
    fine_context_s : float
        Context compared by the fine distance on each side of the gap.
    fine_weight_floor : float
        Weight of the fine distance's farthest frame relative to the nearest (1 = flat).
    fine_level : bool
        Whether the fine distance removes the broadband level offset (compares shapes; the
        suggested gain corrects the level).
    linear_k : int
        How many of the best coarse positions are re-ranked by the exhaustive baseline's own cost
        (0: off): each is re-placed, on a grid of ~6-ms steps within ``linear_radius_s``, where
        the sum of squared differences of ~23-ms log-power spectra (linear frequency, hop a
        quarter frame, flat weights, level counted) over ``short_context_s`` on each side is
        least, and that distance alone orders them (``docs/retrieval.md``, round 8). The
        re-placed start is not refined further.
    linear_radius_s : float
        How far the linear re-ranking may move a coarse position, seconds.
    near_repeats : bool
        Whether a candidate may lie close to the gap: only the passage with its short contexts
        must keep clear of the gap (else the long contexts of both must not overlap, which rules
        out the repeat one or two bars away that loop-based music offers).
    top_k : int
        Number of candidates returned.
    nms_fraction : float
        Candidates are at least ``nms_fraction`` times the gap length apart.
    refine : bool
        Whether to refine each coarse position to the sample.
    refine_window_s : float
        Observed samples compared on each side of the gap during refinement.
    crossfade_s : float
        Raised-cosine crossfade of the Sim splice, placed outside each gap edge.
    max_gain_db : float
        The suggested gain is clamped to ``±max_gain_db``.
    min_long_context_s : float
        When no position fits with the full contexts (a short clip), the search is retried with
        the long context halved, down to this length (the short context never exceeds the long);
        equal to ``long_context_s`` disables the retry. Every candidate reports the context used.
    """

    analysis_sr: int = 22050
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 96
    fmin_hz: float = 30.0
    fmax_hz: float = 0.0
    log_range_db: float = 80.0
    short_context_s: float = 1.0
    long_context_s: float = 3.0
    w_stft: float = 0.9
    w_chroma: float = 0.1
    context_weight_floor: float = 0.0
    level_weight: float = 0.25
    band_norm: bool = False
    reject_level: bool = False
    rerank_k: int = 0
    w_seam: float = 0.5
    fine_k: int = 0
    w_fine: float = 1.0
    fine_context_s: float = 0.5
    fine_weight_floor: float = 0.0
    fine_level: bool = True
    linear_k: int = 0
    linear_radius_s: float = 0.5
    near_repeats: bool = True
    top_k: int = 5
    nms_fraction: float = 0.5
    min_long_context_s: float = 0.5
    refine: bool = True
    refine_window_s: float = 0.02
    crossfade_s: float = 0.01
    max_gain_db: float = 6.0

    def __post_init__(self) -> None:
        problems = []
        if self.analysis_sr < 4000:
            problems.append("analysis_sr must be at least 4000 Hz")
        if self.n_fft < 64 or self.hop_length < 1 or self.hop_length > self.n_fft:
            problems.append("need n_fft >= 64 and 1 <= hop_length <= n_fft")
        if self.n_mels < 8:
            problems.append("n_mels must be at least 8")
        if self.short_context_s <= 0 or self.long_context_s <= 0:
            problems.append("context lengths must be positive")
        if self.w_stft < 0 or self.w_chroma < 0 or self.w_stft + self.w_chroma <= 0:
            problems.append("w_stft and w_chroma must be >= 0 and not both 0")
        if not all(
            0 <= v <= 1
            for v in (self.context_weight_floor, self.level_weight, self.fine_weight_floor)
        ):
            problems.append(
                "context_weight_floor, level_weight and fine_weight_floor must lie in [0, 1]"
            )
        if min(self.rerank_k, self.w_seam, self.fine_k, self.w_fine, self.linear_k) < 0:
            problems.append("rerank_k, w_seam, fine_k, w_fine and linear_k must be >= 0")
        if self.linear_radius_s < 0:
            problems.append("linear_radius_s must be >= 0")
        if self.fine_context_s <= 0:
            problems.append("fine_context_s must be positive")
        if self.top_k < 1:
            problems.append("top_k must be at least 1")
        if self.nms_fraction < 0 or self.refine_window_s <= 0 or self.crossfade_s < 0:
            problems.append("nms_fraction, refine_window_s and crossfade_s must be positive")
        if self.max_gain_db < 0:
            problems.append("max_gain_db must be >= 0")
        if self.min_long_context_s <= 0:
            problems.append("min_long_context_s must be positive")
        if problems:
            raise InputError("invalid search configuration: " + "; ".join(problems))

    def to_dict(self) -> dict:
        """All parameters as a JSON-ready dict."""
        return asdict(self)

    def feature_params(self) -> dict:
        """The parameters the cached features depend on (part of the cache key)."""
        keys = (
            "analysis_sr",
            "n_fft",
            "hop_length",
            "n_mels",
            "fmin_hz",
            "fmax_hz",
            "log_range_db",
        )
        return {k: getattr(self, k) for k in keys} | {"feature_version": FEATURE_VERSION}

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Names of all parameters."""
        return tuple(f.name for f in fields(cls))
