"""Similarity search (search/features.py, search/candidates.py) on planted repeats."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from simdps_studio.core.errors import CancelledError, InputError, NoCandidateError
from simdps_studio.core.progress import CancelToken
from simdps_studio.core.types import Audio, Gap
from simdps_studio.search import features as features_mod
from simdps_studio.search.candidates import Candidate, CorpusTrack, find_candidates
from simdps_studio.search.config import SearchConfig
from simdps_studio.search.features import clear_memory_cache, track_features
from simdps_studio.search.sim import candidate_samples, corpus_source, sim_fill
from simdps_studio.search.testsignals import piano_music, plant_repeat, snr_db

SR = 44100
MS = SR // 1000
GAP_S, COPY_S = 10.0, 25.0  # the gap's passage and where its copy goes
CONTEXT_S = 3.5  # copied on each side of the passage (more than the 3 s long context)


@pytest.fixture(scope="module")
def music() -> np.ndarray:
    return piano_music(40.0, SR, seed=5, channels=2)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own disk cache and an empty memory cache."""
    monkeypatch.setenv("SIMDPS_STUDIO_CACHE_DIR", str(tmp_path / "cache"))
    clear_memory_cache()
    yield
    clear_memory_cache()


def planted(music: np.ndarray, gap_len_s: float = 2.0, gain_db: float = 0.0) -> np.ndarray:
    """Copy [GAP_S - c, GAP_S + L + c) to COPY_S - c with a gain (a known repeat), then add
    independent noise (about -47 dB) so that the copies are not bit-identical."""
    src = int((GAP_S - CONTEXT_S) * SR)
    dst = int((COPY_S - CONTEXT_S) * SR)
    y = plant_repeat(music, src, dst, int((gap_len_s + 2 * CONTEXT_S) * SR), gain_db=gain_db)
    noise = np.random.default_rng(0).standard_normal(y.shape) * 3e-4
    return (y + noise).astype(np.float32)


def damaged(x: np.ndarray, gap: Gap) -> np.ndarray:
    y = x.copy()
    y[:, gap.start_sample : gap.end_sample] = 0.0  # a dropout: the search must not need the gap
    return y


def repaired_snr(clean: np.ndarray, y: np.ndarray, gap: Gap, cand: Candidate, gain: bool) -> float:
    start, fill = sim_fill(
        y,
        SR,
        gap.start_sample,
        gap.end_sample,
        cand.start_sample,
        gain_db=cand.gain_db if gain else 0.0,
    )
    inner = fill[:, gap.start_sample - start : gap.end_sample - start]
    return snr_db(clean[:, gap.start_sample : gap.end_sample], inner)


@pytest.mark.parametrize("gap_len_s", [2.0, 0.05])
def test_planted_repeat_is_top1_and_sim_repair_reaches_30db(music, gap_len_s):
    clean = planted(music, gap_len_s)
    gap = Gap.from_seconds(GAP_S, GAP_S + gap_len_s, SR)
    y = damaged(clean, gap)
    cands = find_candidates(y, SR, gap)
    assert cands[0].source is None
    assert abs(cands[0].start_sample - int(COPY_S * SR)) <= MS
    assert cands[0].start_s == pytest.approx(cands[0].start_sample / SR)
    assert cands[0].score > 0.9 > cands[1].score
    assert repaired_snr(clean, y, gap, cands[0], gain=True) >= 30.0


def test_gap_over_the_copy_finds_the_original(music):
    clean = planted(music)
    gap = Gap.from_seconds(COPY_S, COPY_S + 2.0, SR)
    cands = find_candidates(damaged(clean, gap), SR, gap, top_k=3)
    assert abs(cands[0].start_sample - int(GAP_S * SR)) <= MS


def test_level_change_on_copy_is_corrected_by_suggested_gain(music):
    clean = planted(music, gain_db=-4.0)
    gap = Gap.from_seconds(GAP_S, GAP_S + 2.0, SR)
    y = damaged(clean, gap)
    best = find_candidates(y, SR, gap)[0]
    assert abs(best.start_sample - int(COPY_S * SR)) <= MS
    assert best.gain_db == pytest.approx(4.0, abs=0.5)
    with_gain = repaired_snr(clean, y, gap, best, gain=True)
    assert with_gain >= 30.0
    assert with_gain > repaired_snr(clean, y, gap, best, gain=False) + 15.0


def test_candidates_are_ranked_distinct_and_well_formed(music):
    clean = planted(music)
    gap = Gap.from_seconds(GAP_S, GAP_S + 2.0, SR)
    cfg = SearchConfig(top_k=6)
    cands = find_candidates(damaged(clean, gap), SR, gap, config=cfg)
    assert [c.rank for c in cands] == list(range(1, 7))
    costs = [c.cost for c in cands]
    assert costs == sorted(costs)
    for c in cands:
        assert 0.0 <= c.score <= 1.0
        w_seam = cfg.w_seam if cfg.rerank_k else 0.0
        w_fine = cfg.w_fine if cfg.fine_k else 0.0
        parts = cfg.w_stft * c.cost_stft + cfg.w_chroma * c.cost_chroma + w_seam * c.cost_seam
        assert c.cost == pytest.approx(parts + w_fine * c.cost_fine)
        assert abs(c.gain_db) <= cfg.max_gain_db
        d = c.to_dict()
        assert set(d) >= {"rank", "start_sample", "start_s", "cost", "score", "cost_stft", "source"}
        assert set(d) >= {"cost_chroma", "cost_seam", "cost_fine", "cost_linear", "gain_db"}
    starts = sorted(c.start_sample for c in cands)
    assert min(np.diff(starts)) >= cfg.nms_fraction * gap.length
    assert cfg.to_dict()["long_context_s"] == 3.0


@pytest.mark.parametrize(
    "changes",
    [
        {"rerank_k": 20},
        {"fine_k": 20},
        {"band_norm": True},
        {"reject_level": True},
        {"w_chroma": 0.0},
        {"linear_k": 10},
    ],
    ids=["rerank", "fine", "band_norm", "reject_level", "no_chroma", "linear"],
)
def test_every_cost_option_keeps_the_planted_repeat_exact(music, changes):
    clean = planted(music)
    gap = Gap.from_seconds(GAP_S, GAP_S + 2.0, SR)
    cfg = replace(SearchConfig(), **changes)
    cands = find_candidates(damaged(clean, gap), SR, gap, config=cfg)
    assert abs(cands[0].start_sample - int(COPY_S * SR)) <= MS
    assert cands[0].score > 0.9 > cands[1].score
    w_seam = cfg.w_seam if cfg.rerank_k else 0.0
    w_fine = cfg.w_fine if cfg.fine_k else 0.0
    for c in cands:
        parts = cfg.w_stft * c.cost_stft + cfg.w_chroma * c.cost_chroma + w_seam * c.cost_seam
        assert c.cost == pytest.approx(parts + w_fine * c.cost_fine)
    if cfg.rerank_k:
        # The copy continues the observed samples; unrelated passages do not.
        assert cands[0].cost_seam < 0.05 < min(c.cost_seam for c in cands[1:])
    if cfg.fine_k:
        # The copy's contexts match the gap's spectra far better than a typical position's.
        assert cands[0].cost_fine < 0.1 < min(c.cost_fine for c in cands[1:])
    if cfg.linear_k:
        # Ordered by the linear distance (dB² per bin and frame): the copy's contexts differ
        # only by the added noise (which still dominates the quiet high bins), an unrelated
        # passage's by far more.
        lin = [c.cost_linear for c in cands]
        assert lin == sorted(lin)
        assert lin[0] < 0.5 * lin[1]
    else:
        assert all(c.cost_linear == 0.0 for c in cands)


def test_linear_reranking_is_the_baseline_distance_and_replaces_on_its_grid(music):
    """The linear distance at the re-placed start equals the sum of squared edge-anchored
    log-power differences computed directly, and the re-placed start is its minimum nearby."""
    from simdps_studio.search.candidates import _edge_frames_db, _LinearContexts, _Source

    y = music.astype(np.float32)
    gap = Gap.from_seconds(GAP_S, GAP_S + 2.0, SR)
    y = damaged(y, gap)
    cfg = SearchConfig(linear_k=1, linear_radius_s=0.05)
    lc = _LinearContexts(y, gap, [], SR, cfg)
    src = _Source(None, None, y, SR, None, True)
    t0 = 25 * SR + 300
    dist, start = lc.replace(src, float(t0), 3 * SR, 3 * SR)
    assert abs(start - t0) <= int(0.05 * SR) and (start - t0) % lc.hop == 0
    mono = y.mean(axis=0).astype(np.float64)

    def direct(u: int) -> float:
        c, n = SR, gap.length
        fb = _edge_frames_db(mono[u - c : u], SR, lc.floor, True)
        fa = _edge_frames_db(mono[u + n : u + n + c], SR, lc.floor, False)
        sq = np.sum((fb - lc.ref_b) ** 2) + np.sum((fa - lc.ref_a) ** 2)
        return float(sq / ((len(fb) + len(fa)) * fb.shape[1]))

    assert dist == pytest.approx(direct(start), rel=1e-6)
    around = [
        direct(start + k * lc.hop) for k in (-1, 1) if abs(start + k * lc.hop - t0) <= 0.05 * SR
    ]
    assert all(d >= dist for d in around)


def test_fine_distance_removes_the_level_and_weighs_the_edge_most():
    from simdps_studio.search.candidates import _fine_distance

    rng = np.random.default_rng(3)
    ref = [rng.normal(size=(8, 5)), rng.normal(size=(8, 5))]
    louder = [r + 3.0 for r in ref]  # the same spectra 3 dB up: a level the gain corrects
    assert _fine_distance(ref, louder, SearchConfig(fine_level=True)) == pytest.approx(0.0)
    assert _fine_distance(ref, louder, SearchConfig(fine_level=False)) == pytest.approx(9.0)
    # The same difference counts more at the edge (row 0) than at the far end (row 7).
    near, far = [r.copy() for r in ref], [r.copy() for r in ref]
    near[0][0] += 2.0
    far[0][7] += 2.0
    steep = SearchConfig(fine_level=False, fine_weight_floor=0.0)
    flat = replace(steep, fine_weight_floor=1.0)
    assert _fine_distance(ref, near, steep) > 4 * _fine_distance(ref, far, steep) > 0.0
    assert _fine_distance(ref, near, flat) == pytest.approx(_fine_distance(ref, far, flat))


def test_fine_reranking_is_scaled_to_the_mel_cost(music):
    clean = planted(music)
    gap = Gap.from_seconds(GAP_S, GAP_S + 2.0, SR)
    cfg = SearchConfig(top_k=8, fine_k=8, w_fine=1.0)
    cands = find_candidates(damaged(clean, gap), SR, gap, config=cfg)
    fine = np.array([c.cost_fine for c in cands])
    mel = np.array([cfg.w_stft * c.cost_stft + cfg.w_chroma * c.cost_chroma for c in cands])
    # z-scored against J over the re-ranked positions: same spread, 0 for the best fine match.
    assert fine.min() == pytest.approx(0.0)
    assert np.std(fine) == pytest.approx(np.std(mel), rel=1e-6)
    with pytest.raises(InputError):
        SearchConfig(fine_weight_floor=1.5)


def test_seam_reranking_reorders_by_the_sample_accurate_match(music):
    clean = planted(music)
    gap = Gap.from_seconds(GAP_S, GAP_S + 2.0, SR)
    y = damaged(clean, gap)
    coarse = find_candidates(y, SR, gap, config=SearchConfig(top_k=8, w_seam=0.5))
    ranked = find_candidates(y, SR, gap, config=SearchConfig(top_k=8, rerank_k=8, w_seam=5.0))
    # Same positions (the re-ranking refines the same coarse picks), other order: by J + w * seam.
    assert sorted(c.start_sample for c in coarse) == sorted(c.start_sample for c in ranked)
    assert [c.cost for c in ranked] == sorted(c.cost for c in ranked)
    by_start = {c.start_sample: c for c in coarse}
    for c in ranked:
        assert c.cost == pytest.approx(by_start[c.start_sample].cost + 5.0 * c.cost_seam)


def test_level_rejection_drops_a_copy_beyond_the_gain_limit(music):
    clean = planted(music, gain_db=-12.0)  # needs twice the gain the suggestion may give
    gap = Gap.from_seconds(GAP_S, GAP_S + 2.0, SR)
    y = damaged(clean, gap)
    kept = find_candidates(y, SR, gap, config=SearchConfig(level_weight=0.0))
    assert abs(kept[0].start_sample - int(COPY_S * SR)) <= MS
    assert kept[0].gain_db == pytest.approx(6.0)  # clamped
    cfg = SearchConfig(level_weight=0.0, reject_level=True, top_k=10)
    for c in find_candidates(y, SR, gap, config=cfg):
        assert abs(c.start_sample - int(COPY_S * SR)) > SR // 10


def test_level_rejection_never_leaves_no_candidate(music):
    # Every other passage is far quieter than the gap's surroundings: they are kept all the same.
    x = music.copy()
    x[:, : 26 * SR] *= 0.01
    gap = Gap.from_seconds(32.0, 33.0, SR)
    cands = find_candidates(x, SR, gap, config=SearchConfig(reject_level=True, top_k=3))
    assert len(cands) == 3


@pytest.mark.parametrize("near", [False, True], ids=["far", "near_repeats"])
@pytest.mark.parametrize("gap_start_s", [4.0, 19.0, 33.0])
def test_gap_context_and_other_gaps_are_never_returned(music, gap_start_s, near):
    cfg = SearchConfig(top_k=25, near_repeats=near)
    gap = Gap.from_seconds(gap_start_s, gap_start_s + 1.5, SR)
    other = Gap.from_seconds(27.0, 28.0, SR) if gap_start_s < 25 else Gap.from_seconds(8.0, 9.0, SR)
    cands = find_candidates(music, SR, gap, other_gaps=[other], config=cfg)
    assert len(cands) >= 5
    c_long = int(cfg.long_context_s * SR)
    # Without near repeats the long contexts of the gap and the candidate may not overlap; with
    # them only the candidate and its short contexts must keep clear of the gap itself.
    clear = int(cfg.short_context_s * SR) if near else c_long
    forbidden = (
        gap.start_sample - (0 if near else c_long),
        gap.end_sample + (0 if near else c_long),
    )
    for c in cands:
        lo, hi = c.start_sample - c_long, c.start_sample + gap.length + c_long
        assert 0 <= lo and hi <= music.shape[1]
        near_lo, near_hi = c.start_sample - clear, c.start_sample + gap.length + clear
        assert near_hi <= forbidden[0] or near_lo >= forbidden[1]
        assert hi <= other.start_sample or lo >= other.end_sample


def test_near_repeat_one_bar_away_is_found_only_with_near_repeats(music):
    # The gap's passage and 1.2 s on each side recur 3 s after the gap: the long contexts of the
    # two overlap, so only the near-repeat rule may offer it.
    c = int(1.2 * SR)
    y = plant_repeat(music, int(GAP_S * SR) - c, int(15.0 * SR) - c, 2 * SR + 2 * c)
    y = (y + np.random.default_rng(0).standard_normal(y.shape) * 3e-4).astype(np.float32)
    gap = Gap.from_seconds(GAP_S, GAP_S + 2.0, SR)
    cfg = SearchConfig(short_context_s=1.0, w_stft=0.9, w_chroma=0.1, top_k=10, near_repeats=False)
    near = find_candidates(damaged(y, gap), SR, gap, config=replace(cfg, near_repeats=True))
    assert abs(near[0].start_sample - 15 * SR) <= MS
    far = find_candidates(damaged(y, gap), SR, gap, config=cfg)
    assert all(abs(c.start_sample - 15 * SR) > SR for c in far)


def test_planted_copy_under_another_gap_is_not_returned(music):
    clean = planted(music)
    gap = Gap.from_seconds(GAP_S, GAP_S + 2.0, SR)
    other = Gap.from_seconds(COPY_S + 0.5, COPY_S + 1.0, SR)  # damage inside the copy
    cands = find_candidates(damaged(clean, gap), SR, gap, other_gaps=[other], top_k=10)
    for c in cands:
        assert (
            c.start_sample + gap.length <= other.start_sample or c.start_sample >= other.end_sample
        )


def test_track_too_short_raises_no_candidate_error():
    x = piano_music(8.0, SR, seed=1)
    with pytest.raises(NoCandidateError, match="no valid candidate") as info:
        find_candidates(x, SR, Gap.from_seconds(3.0, 5.0, SR))
    message = str(info.value)
    assert "\n" not in message and "2.000 s gap" in message
    assert isinstance(info.value, InputError)  # the CLI's exit status 2


def test_track_covered_by_other_gaps_raises_no_candidate_error(music):
    gap = Gap.from_seconds(GAP_S, GAP_S + 2.0, SR)
    others = [Gap(0, 8 * SR), Gap(14 * SR, music.shape[1])]  # all but the gap's own surroundings
    # Contexts are shortened down to min_long_context_s (0.5 s) before giving up, and the
    # message names the shortest one tried.
    with pytest.raises(NoCandidateError, match=r"no valid candidate.* with 0\.5 s of context"):
        find_candidates(music, SR, gap, other_gaps=others)
    # With 4 s on one side there is room for 2 s and two 0.5-s contexts.
    found = find_candidates(
        music, SR, gap, other_gaps=[Gap(0, 6 * SR), Gap(14 * SR, music.shape[1])]
    )
    assert found and all(6 * SR <= c.start_sample < 10 * SR for c in found)


def test_bad_arguments_raise_input_error(music):
    with pytest.raises(InputError):
        find_candidates(music, SR, Gap(10, 5))
    with pytest.raises(InputError):
        find_candidates(music, SR, Gap(0, music.shape[1] + 1))
    with pytest.raises(InputError):
        SearchConfig(top_k=0)
    with pytest.raises(InputError, match="linear_k"):
        SearchConfig(linear_k=-1)
    with pytest.raises(InputError, match="linear_radius_s"):
        SearchConfig(linear_radius_s=-0.1)


def test_audio_object_and_multichannel_input(music):
    clean = planted(music)
    gap = Gap.from_seconds(GAP_S, GAP_S + 2.0, SR)
    y = damaged(clean, gap)
    six = np.concatenate([y, 0.5 * y, y[::-1]], axis=0)  # 6 channels
    audio = Audio.from_float(six, SR, subtype="PCM_24")
    best = find_candidates(audio, None, gap, top_k=2)[0]
    assert abs(best.start_sample - int(COPY_S * SR)) <= MS
    # One offset for all channels: the splice repairs every channel.
    start, fill = sim_fill(
        audio.to_float(), SR, gap.start_sample, gap.end_sample, best.start_sample
    )
    assert fill.shape[0] == 6
    inner = fill[:, gap.start_sample - start : gap.end_sample - start]
    clean6 = np.concatenate([clean, 0.5 * clean, clean[::-1]], axis=0)
    for ch in range(6):
        assert snr_db(clean6[ch, gap.start_sample : gap.end_sample], inner[ch]) >= 30.0


def test_cross_track_corpus_finds_the_passage_in_another_recording(music):
    # The gap's track has no repeat; the corpus track holds the passage with its context.
    gap = Gap.from_seconds(GAP_S, GAP_S + 2.0, SR)
    y = damaged(music, gap)
    other = piano_music(30.0, SR, seed=9, channels=2)
    at = 15 * SR
    other[:, at - int(CONTEXT_S * SR) : at + int((2.0 + CONTEXT_S) * SR)] = music[
        :, int((GAP_S - CONTEXT_S) * SR) : int((GAP_S + 2.0 + CONTEXT_S) * SR)
    ]
    corpus = [CorpusTrack("other.flac", other, SR), ("noise.wav", 0.01 * other[:, ::-1], SR)]
    cands = find_candidates(y, SR, gap, corpus=corpus, top_k=3)
    assert cands[0].source == "other.flac"
    assert abs(cands[0].start_sample - at) <= MS
    start, fill = sim_fill(
        y, SR, gap.start_sample, gap.end_sample, cands[0].start_sample, source=other
    )
    inner = fill[:, gap.start_sample - start : gap.end_sample - start]
    assert snr_db(music[:, gap.start_sample : gap.end_sample], inner) >= 30.0


def test_corpus_candidate_carries_its_source_index_and_samples(music):
    # How the session fetches a corpus candidate's samples: source_index -> corpus_source().
    gap = Gap.from_seconds(GAP_S, GAP_S + 1.0, SR)
    y = damaged(music, gap)
    other = piano_music(25.0, SR, seed=9, channels=1)  # mono corpus track, stereo gap track
    at = 12 * SR
    lo, hi = int((GAP_S - CONTEXT_S) * SR), int((GAP_S + 1.0 + CONTEXT_S) * SR)
    other[0, at - int(CONTEXT_S * SR) : at - int(CONTEXT_S * SR) + hi - lo] = music[:, lo:hi].mean(
        0
    )
    audio = Audio.from_float(other, SR, subtype="PCM_24")
    audio.meta["path"] = "/music/other.flac"
    noise = Audio.from_float(0.01 * music[:, ::-1], SR)
    corpus = (noise, audio)
    others = [Gap(0, 5 * SR), Gap(17 * SR, music.shape[1])]  # the track itself has no positions
    best = find_candidates(y, SR, gap, other_gaps=others, corpus=corpus, top_k=2)[0]
    assert best.source_index == 1 and best.source == "/music/other.flac"
    assert best.to_dict()["source_index"] == 1
    assert abs(best.start_sample - at) <= MS
    src, src_sr = corpus_source(corpus, best)
    assert src is audio and src_sr == SR
    guide = candidate_samples(
        y, SR, gap.start_sample, gap.end_sample, best.start_sample, source=src, source_sr=src_sr
    )
    assert guide.shape == (2, gap.length)
    mid = music[:, gap.start_sample : gap.end_sample].mean(0)
    assert snr_db(mid, guide[0]) >= 30.0
    start, fill = sim_fill(
        y, SR, gap.start_sample, gap.end_sample, best.start_sample, source=src, source_sr=src_sr
    )
    np.testing.assert_array_equal(fill[:, gap.start_sample - start : gap.end_sample - start], guide)
    # Own-track candidates have no source.
    own = find_candidates(y, SR, gap, top_k=1)[0]
    assert own.source is None and own.source_index is None
    assert corpus_source(corpus, own) == (None, None)


def test_corpus_track_at_another_sample_rate(music):
    import soxr

    gap = Gap.from_seconds(GAP_S, GAP_S + 2.0, SR)
    y = damaged(music, gap)
    other48 = soxr.resample(music[:, : 20 * SR].T, SR, 48000).T.astype(np.float32)
    # Searching only the corpus: make the own track's positions all invalid with other gaps.
    others = [Gap(0, 5 * SR), Gap(17 * SR, music.shape[1])]
    cands = find_candidates(y, SR, gap, other_gaps=others, corpus=[("48k", other48, 48000)])
    assert cands[0].source == "48k" and cands[0].source_index == 0
    assert abs(cands[0].start_sample - int(GAP_S * 48000)) <= 48
    assert cands[0].start_s == pytest.approx(cands[0].start_sample / 48000)
    start, fill = sim_fill(
        y,
        SR,
        gap.start_sample,
        gap.end_sample,
        cands[0].start_sample,
        source=other48,
        source_sr=48000,
    )
    inner = fill[:, gap.start_sample - start : gap.end_sample - start]
    assert snr_db(music[:, gap.start_sample : gap.end_sample], inner) >= 40.0


def test_feature_cache_hits_memory_then_disk(music, tmp_path, monkeypatch):
    calls = []
    real = features_mod.compute_features

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(features_mod, "compute_features", counting)
    x = music[:, : 12 * SR]
    cache = tmp_path / "feat"
    f1 = track_features(x, SR, cache_dir=cache)
    assert len(calls) == 1
    assert len(list(cache.glob("*.npz"))) == 1
    f2 = track_features(x, SR, cache_dir=cache)
    assert f2 is f1  # memory hit
    clear_memory_cache()
    f3 = track_features(x, SR, cache_dir=cache)
    assert len(calls) == 1  # disk hit
    np.testing.assert_array_equal(f3.logmel, f1.logmel)
    np.testing.assert_array_equal(f3.chroma, f1.chroma)
    # Other parameters or other audio: a new key.
    track_features(x, SR, cache_dir=cache, config=SearchConfig(n_mels=64))
    x2 = x.copy()
    x2[0, 1000] += 0.01
    track_features(x2, SR, cache_dir=cache)
    assert len(calls) == 3
    # A corrupt cache file is ignored and rewritten.
    clear_memory_cache()
    for p in cache.glob("*.npz"):
        p.write_bytes(b"garbage")
    f4 = track_features(x, SR, cache_dir=cache)
    assert len(calls) == 4
    np.testing.assert_array_equal(f4.logmel, f1.logmel)


def test_features_are_computed_on_the_mid_signal(music):
    stereo = track_features(music, SR, disk_cache=False)
    mid = track_features(music.mean(axis=0, keepdims=True), SR, disk_cache=False)
    assert stereo.key != mid.key
    np.testing.assert_allclose(stereo.logmel, mid.logmel, atol=1e-3)
    np.testing.assert_allclose(stereo.chroma, mid.chroma, atol=1e-4)


def test_audio_key_replaces_hashing_the_samples(music, monkeypatch):
    gap = Gap.from_seconds(GAP_S, GAP_S + 1.0, SR)
    first = find_candidates(music, SR, gap, audio_key="source-sha256", top_k=2)

    def no_hash(*args, **kwargs):
        raise AssertionError("the samples were hashed")

    monkeypatch.setattr(features_mod, "audio_hash", no_hash)
    monkeypatch.setattr(features_mod, "compute_features", None)  # must come from the cache
    assert find_candidates(music, SR, gap, audio_key="source-sha256", top_k=2) == first
    clear_memory_cache()  # and from the disk cache
    assert find_candidates(music, SR, gap, audio_key="source-sha256", top_k=2) == first


def test_features_shapes_and_search_reuses_them(music, monkeypatch):
    cfg = SearchConfig()
    f = track_features(music, SR, config=cfg, disk_cache=False)
    n_a = round(music.shape[1] * cfg.analysis_sr / SR)
    assert f.logmel.shape == (cfg.n_mels, 1 + n_a // cfg.hop_length)
    assert f.chroma.shape == (12, f.n_frames)
    assert f.logmel.dtype == np.float32
    norms = np.linalg.norm(f.chroma, axis=0)
    assert np.allclose(norms[norms > 0], 1.0, atol=1e-4)
    monkeypatch.setattr(features_mod, "compute_features", None)  # would fail if called
    gap = Gap.from_seconds(GAP_S, GAP_S + 1.0, SR)
    assert find_candidates(music, SR, gap, features=f)
    with pytest.raises(InputError):
        find_candidates(music[:, :-1], SR, gap, features=f)


def test_cancellation_and_progress(music):
    gap = Gap.from_seconds(GAP_S, GAP_S + 2.0, SR)
    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        find_candidates(music, SR, gap, cancel=token)
    # Cancelled while the analysis runs (from the progress callback, as a GUI would).
    token = CancelToken()
    seen = []

    def progress(fraction, message=""):
        seen.append(fraction)
        if fraction > 0.1:
            token.cancel()

    with pytest.raises(CancelledError):
        find_candidates(music, SR, gap, cancel=token, progress=progress)
    # Without cancelling, progress rises to 1.
    seen.clear()
    find_candidates(music, SR, gap, progress=lambda f, m="": seen.append(f))
    assert seen[-1] == 1.0
    assert all(0.0 <= f <= 1.0 for f in seen)
    assert seen == sorted(seen)


def test_short_clip_falls_back_to_shorter_context():
    """12 s with a 2-s gap leaves no room for 3 s of context around gap and candidate; the search
    retries with shorter contexts, still finds the planted copy and says which context it used."""
    sr = 22050
    x = plant_repeat(piano_music(12.0, sr, seed=5), 2 * sr, 7 * sr, 4 * sr)
    gap = Gap(int(8.5 * sr), int(10.5 * sr))
    # No retry (and the candidate's long contexts clear of the gap's): the old behaviour.
    strict = SearchConfig(min_long_context_s=3.0, near_repeats=False)
    with pytest.raises(NoCandidateError, match="no valid candidate position"):
        find_candidates(x, sr, gap, config=strict)
    cands = find_candidates(x, sr, gap, config=SearchConfig(near_repeats=False))
    assert abs(cands[0].start_sample - int(3.5 * sr)) <= sr // 1000
    assert cands[0].long_context_s < 3.0
    assert cands[0].short_context_s <= cands[0].long_context_s
    assert cands[0].to_dict()["long_context_s"] == cands[0].long_context_s
    # Near repeats (the default) need room for the short contexts only: no retry here.
    near = find_candidates(x, sr, gap)
    assert abs(near[0].start_sample - int(3.5 * sr)) <= sr // 1000
    assert near[0].long_context_s == 3.0


def test_an_unreadable_feature_cache_is_a_miss(tmp_path, monkeypatch):
    from simdps_studio.search import features

    def denied(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(features.Path, "is_file", denied)
    assert features._load_npz(tmp_path / "k.npz", "k", {}, 10, SR) is None
