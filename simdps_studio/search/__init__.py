"""Similarity search, Sim splice, LPC fill and dropout detection (numpy/scipy/librosa; no torch).

Public API:

* :func:`find_candidates` -> list of :class:`Candidate` (ranked passages for a gap), configured by
  :class:`SearchConfig`; features come from :func:`track_features` (cached in memory and on disk);
  other recordings are searched through ``corpus=`` (:class:`CorpusTrack`).
* :func:`sim_fill` -> ``(span_start_sample, fill)``: the candidate pasted into the gap with
  raised-cosine crossfades outside the gap edges; :func:`sim_fill_samples` does the same for an
  arbitrary candidate array (``--guide FILE``); :func:`candidate_samples` gives a candidate's
  gap-length samples (the SimDPS guide); :func:`corpus_source` finds a corpus candidate's recording.
* :func:`lpc_fill` -> the gap's fill by cross-faded forward/backward Burg AR extrapolation.
* :func:`detect_dropouts` -> list of :class:`Dropout` (silence, level drops, clipping).
"""

from simdps_studio.search.candidates import Candidate, CorpusTrack, find_candidates
from simdps_studio.search.config import SearchConfig
from simdps_studio.search.detect import Dropout, detect_dropouts
from simdps_studio.search.features import (
    TrackFeatures,
    clear_memory_cache,
    default_cache_dir,
    track_features,
)
from simdps_studio.search.lpc import lpc_fill
from simdps_studio.search.sim import (
    candidate_samples,
    corpus_source,
    sim_fill,
    sim_fill_samples,
)

__all__ = [
    "Candidate",
    "CorpusTrack",
    "Dropout",
    "SearchConfig",
    "TrackFeatures",
    "candidate_samples",
    "clear_memory_cache",
    "corpus_source",
    "default_cache_dir",
    "detect_dropouts",
    "find_candidates",
    "lpc_fill",
    "sim_fill",
    "sim_fill_samples",
    "track_features",
]
