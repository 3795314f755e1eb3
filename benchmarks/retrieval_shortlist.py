"""Re-ranking probe for issue 22: which cost orders a larger shortlist best?

For every gap of a half of the retrieval material (see ``benchmarks/retrieval.py``) this takes
the default search's best ``--k`` candidates (coarse search, sample-accurate refinement, gain)
and records, per candidate, its mel/chroma costs, a *linear* log-STFT distance of its contexts
(the exhaustive baseline's own view: n_fft 1024, hop 256, Hann, floored 80 dB below the track's
peak; frames anchored at the gap edges) in several forms, and the LSD of its Sim fill. Re-ranking
rules are then evaluated offline on that table (collect once, try many), e.g.::

    .venv/bin/python benchmarks/retrieval_shortlist.py collect --split selection --out sel.npz
    .venv/bin/python benchmarks/retrieval_shortlist.py fit sel.npz      # hand-weighed rules
    .venv/bin/python benchmarks/retrieval_shortlist.py content sel.npz  # the fill's own content
    .venv/bin/python benchmarks/retrieval_shortlist.py ranker sel.npz   # a cross-validated ranker
    .venv/bin/python benchmarks/retrieval_shortlist.py replaced sel.npz # hop-256 re-placement
    .venv/bin/python benchmarks/retrieval_shortlist.py baseline-pick --out bp.json  # round 8
    .venv/bin/python benchmarks/retrieval_shortlist.py collect --outside --k 10 --no-moves \
        --out outside.npy                                  # self-made gaps outside both halves
    .venv/bin/python benchmarks/retrieval_shortlist.py ranker-outside outside.npy sel.npz

The per-frame distances are stored so that the context length (0.5/1/2 s), the frame weights
(flat or falling to 0 at the far end) and level invariance (the broadband mean difference
removed) can all be derived offline. Only the selection half may be used to choose a rule.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import retrieval as rb

from simdps_studio.search import SearchConfig, find_candidates

#: Longest context recorded per side (s); shorter ones are derived offline.
MAX_CONTEXT_S = 2.0


def _frames_db(x: np.ndarray, floor: float) -> np.ndarray:
    """Log-power frames (dB) of ``x`` at n_fft 1024, hop 256; shape (frames, bins)."""
    n, hop = rb.BASE_N_FFT, rb.BASE_HOP
    if x.size < n:
        return np.zeros((0, n // 2 + 1))
    fr = np.lib.stride_tricks.sliding_window_view(x, n)[::hop]
    spec = np.fft.rfft(fr * np.hanning(n), axis=1)
    return 10.0 * np.log10(np.maximum(spec.real**2 + spec.imag**2, floor))


def _edge_frames(mono: np.ndarray, a: int, b: int, floor: float, before: bool):
    """Frames of ``[a, b)`` anchored at the gap edge (``b`` before the gap, ``a`` after) and
    each frame's distance from that edge in seconds-independent samples (centre)."""
    n, hop = rb.BASE_N_FFT, rb.BASE_HOP
    seg = mono[a:b]
    if before:  # last frame ends exactly at b
        k = 1 + (seg.size - n) // hop if seg.size >= n else 0
        start = seg.size - n - (k - 1) * hop
        f = _frames_db(seg[start:], floor)
        centres = b - (a + start + np.arange(f.shape[0]) * hop + n / 2)
    else:
        f = _frames_db(seg, floor)
        centres = np.arange(f.shape[0]) * hop + n / 2
    return f, centres


def _frame_diffs(t, mono, length, cb, ca, floor, gb, ga, dist) -> dict:
    """Per gap frame: sum of squared and of plain differences between the gap's edge-anchored
    context frames (``gb``, ``ga``) and the candidate's at ``t`` (NaN where the candidate has no
    frame at that distance, near a track end)."""
    n = mono.size
    tb, ta = min(cb, t), min(ca, n - t - length)
    fb, _ = _edge_frames(mono, t - tb, t, floor, True)
    fa, _ = _edge_frames(mono, t + length, t + length + ta, floor, False)
    sq = np.full(dist.size, np.nan)
    lin = np.full(dist.size, np.nan)
    nb, na = min(len(gb), len(fb)), min(len(ga), len(fa))
    d_b = gb[len(gb) - nb :] - fb[len(fb) - nb :]
    d_a = ga[:na] - fa[:na]
    sq[len(gb) - nb : len(gb)] = np.sum(d_b * d_b, axis=1)
    lin[len(gb) - nb : len(gb)] = np.sum(d_b, axis=1)
    sq[len(gb) : len(gb) + na] = np.sum(d_a * d_a, axis=1)
    lin[len(gb) : len(gb) + na] = np.sum(d_a, axis=1)
    return {"sq": sq, "lin": lin, "dist": dist}


#: Self-made training gaps (``collect --outside``): recordings of the fetched packages that
#: neither half uses, 60-s excerpts from 20 s, 2-s gaps at these fractions of the excerpt.
OUTSIDE = (
    ("wesnoth-1.16-music", "legends_of_the_north.ogg"),
    ("wesnoth-1.16-music", "siege_of_laurelmor.ogg"),
    ("wesnoth-1.16-music", "transience.ogg"),
    ("wesnoth-1.16-music", "silvan_sanctuary.ogg"),
    ("wesnoth-1.16-music", "knolls.ogg"),
    ("wesnoth-1.16-music", "northern_mountains.ogg"),
    ("singularity-music", "Deprecation.ogg"),
    ("singularity-music", "Aberrations.ogg"),
    ("singularity-music", "Nebula.ogg"),
    ("warzone2100-music", "track22.opus"),
    ("warzone2100-music", "track25.opus"),
    ("warzone2100-music", "track17.opus"),
)
OUTSIDE_FRACTIONS = (0.12, 0.24, 0.36, 0.48, 0.60, 0.72, 0.84)


def _manifest_gaps(split: str, root: Path):
    """(recording, label, gap, fetch baseline) for every gap of a half of the material."""
    for row in [r for r in rb.read_manifest() if r["split"] == split]:
        rec = rb.load_recording(row, root)
        for frac, gap in zip(rb.GAP_FRACTIONS, rb.gaps_for(rec.clean.shape[1], rec.sr)):
            yield rec, f"{rec.id}@{frac:.0%}", gap, True


def _outside_gaps(root: Path):
    """Self-made gaps in recordings outside both halves (no baseline: training data only)."""
    import os

    used = {(r["package"], os.path.basename(f)) for r in rb.read_manifest()
            for f in r["files"].split("|")}  # fmt: skip
    for i, (pkg, name) in enumerate(OUTSIDE):
        assert (pkg, name) not in used, f"{name} is in the benchmark's material"
        path = next((root / "pkgs" / pkg).rglob(name))
        row = {"id": f"out-{Path(name).stem}", "split": "outside", "genre": "",
               "package": pkg, "files": str(path.relative_to(root / "pkgs" / pkg)),
               "excerpt_start_s": "20", "excerpt_s": "60",
               "channels": "mono" if i % 2 else "stereo"}  # fmt: skip
        rec = rb.load_recording(row, root)
        n, length = rec.clean.shape[1], int(round(rb.GAP_S * rec.sr))
        for frac in OUTSIDE_FRACTIONS:
            a = int(frac * n) - length // 2
            yield rec, f"{rec.id}@{frac:.0%}", rb.Gap(a, a + length), False


def collect(
    split: str, k: int, out: Path, data: Path | None, outside: bool = False, moves: bool = True
) -> None:
    root = data or rb.default_data_dir()
    cfg = SearchConfig()
    per = []
    gaps = _outside_gaps(root) if outside else _manifest_gaps(split, root)
    moves_wanted = moves
    for rec, label, gap, with_base in gaps:
        rb._SCORED.clear()
        damaged = rec.clean.copy()
        damaged[:, gap.start_sample : gap.end_sample] = 0.0
        cands = find_candidates(
            damaged, rec.sr, gap, config=cfg, top_k=k, cache_dir=root / "cache" / "features"
        )
        mono = damaged.mean(axis=0).astype(np.float64)
        floor = float(np.max(mono**2)) * rb.BASE_N_FFT * 1e-8 + 1e-20
        c = int(round(MAX_CONTEXT_S * rec.sr))
        s, e, n = gap.start_sample, gap.end_sample, mono.size
        cb, ca = min(c, s), min(c, n - e)
        gb, db_b = _edge_frames(mono, s - cb, s, floor, True)
        ga, db_a = _edge_frames(mono, e, e + ca, floor, False)
        dist = np.concatenate([db_b, db_a]) / rec.sr
        half = int(round(0.5 * rec.sr))
        # The gap's context spectra (mean log power over 0.5 s / 1 s next to each edge).
        ctx = {f"ctx_{side}{n}": f.mean(axis=0) for side, f0, dd in (("b", gb, db_b), ("a", ga, db_a))
               for n, f in (("05", f0[dd <= half]), ("1", f0[dd <= 2 * half]))}  # fmt: skip

        ref = (mono, gap.length, cb, ca, floor, gb, ga, dist)

        def frame_diffs(t: int, ref=ref) -> dict:
            return _frame_diffs(t, *ref)

        coarse = int(round(cfg.hop_length * rec.sr / cfg.analysis_sr))
        for cand in cands:
            t = cand.start_sample
            diffs = frame_diffs(t)
            sq, lin = diffs["sq"], diffs["lin"]
            # Re-placed: the hop-256 position within one coarse hop that the linear
            # distance (0.5 s, weights to 0, level removed) likes best.
            moves = []
            for off in range(-coarse, coarse + 1, rb.BASE_HOP) if moves_wanted else ():
                u = t + off
                if 0 <= u - cb and u + gap.length + ca <= n and (u + gap.length <= s or u >= e):
                    moves.append((lin_cost(frame_diffs(u), 0.5, 0.0, True), u))
            lin_re, t_re = min(moves) if moves else (math.inf, t)
            m_re = rb.score_fill(rec.clean, damaged, rec.sr, gap, t_re, cand.gain_db)
            if with_base:
                base = rb.reference_results(rec, gap, damaged, _CACHE)["baseline"]["lsd"]
            else:
                base = math.nan
            inner = _frames_db(mono[t : t + gap.length], floor)
            n_half = max(1, int(half / rb.BASE_HOP))
            content = {"inner": inner.mean(axis=0), "head": inner[:n_half].mean(axis=0),
                       "tail": inner[-n_half:].mean(axis=0)}  # fmt: skip
            m = rb.score_fill(rec.clean, damaged, rec.sr, gap, t, cand.gain_db)
            per.append(
                {"gap": label, "rank": cand.rank, "cost": cand.cost,
                 "stft": cand.cost_stft, "chroma": cand.cost_chroma, "gain": cand.gain_db,
                 "lsd": m["lsd"], "base": base, "sq": sq, "lin": lin, "dist": dist,
                 "start": t, "gap_start": s, **ctx, **content,
                 "lin_re": lin_re, "lsd_re": m_re["lsd"]}
            )  # fmt: skip
        print(label, file=sys.stderr, flush=True)
        if label.endswith(("70%", f"{OUTSIDE_FRACTIONS[-1]:.0%}")):  # a recording's last gap
            np.save(out, np.array(per, dtype=object), allow_pickle=True)  # partial results
    np.save(out, np.array(per, dtype=object), allow_pickle=True)


_CACHE: dict = {}


def lin_cost(p: dict, context_s: float, floor_w: float, level: bool) -> float:
    """Weighted mean squared log-STFT difference over ``context_s`` each side (level removed)."""
    d = p["dist"]
    w = np.where(d <= context_s, 1.0 - (1.0 - floor_w) * np.clip(d / context_s, 0, 1), 0.0)
    ok = np.isfinite(p["sq"]) & (w > 0)
    if not ok.any():
        return math.inf
    w, sq, lin = w[ok], p["sq"][ok], p["lin"][ok]
    bins = rb.BASE_N_FFT // 2 + 1
    total = float(w @ sq) / (w.sum() * bins)
    if level:
        mu = float(w @ lin) / (w.sum() * bins)
        total -= mu * mu
    return total


def _z(x: np.ndarray) -> np.ndarray:
    sd = float(np.std(x))
    return (x - x.mean()) / sd if sd > 0 else np.zeros_like(x)


def evaluate(groups: dict, k: int, w_lin: float, spec: tuple, mode: str) -> tuple:
    """Mean LSD of the pick, gaps worse/better than the baseline by > 0.5 dB."""
    picks = []
    for ps in groups.values():
        ps = ps[:k]
        j = np.array([p["cost"] for p in ps])
        lc = np.array([lin_cost(p, *spec) for p in ps])
        lc = np.where(
            np.isfinite(lc), lc, np.nanmax(lc[np.isfinite(lc)]) if np.isfinite(lc).any() else 0
        )
        if mode == "z":
            score = (1 - w_lin) * _z(j) + w_lin * _z(lc)
        elif mode == "rank":
            score = (1 - w_lin) * np.argsort(np.argsort(j)) + w_lin * np.argsort(np.argsort(lc))
        else:  # "median": round 1's normalisation, J + w * lc / median(lc)
            score = j + w_lin * lc / np.median(lc)
        picks.append(ps[int(np.argmin(score))])
    lsd = np.array([p["lsd"] for p in picks])
    base = np.array([p["base"] for p in picks])
    return (
        float(lsd.mean()),
        int(np.sum(lsd - base > rb.MARGIN_DB)),
        int(np.sum(base - lsd > rb.MARGIN_DB)),
    )


def fit(path: Path) -> None:
    per = list(np.load(path, allow_pickle=True))
    groups: dict = {}
    for p in per:
        groups.setdefault(p["gap"], []).append(p)
    for ps in groups.values():
        ps.sort(key=lambda p: p["rank"])
    base = np.mean([ps[0]["base"] for ps in groups.values()])
    print(f"{len(groups)} gaps; baseline {base:.2f} dB")
    for k in (5, 10, 20, 40):
        best = np.mean([min(p["lsd"] for p in ps[:k]) for ps in groups.values()])
        print(f"best of top {k}: {best:.2f}")
    # Scale of the terms over the shortlist (why the median normalisation let the fine term rule)
    for k in (20,):
        sj = np.median([np.std([p["cost"] for p in ps[:k]]) for ps in groups.values()])
        sl = np.median([np.std([lin_cost(p, 1.0, 1.0, False) for p in ps[:k]])
                        / np.median([lin_cost(p, 1.0, 1.0, False) for p in ps[:k]])
                        for ps in groups.values()])  # fmt: skip
        print(f"top {k}: median spread of J {sj:.3f}, of lin/median {sl:.3f}")
    print(
        "| mode | K | context (s) | weights floor | level removed | w_lin | rank-1 LSD | worse / better |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for mode in ("median", "z", "rank"):
        for k in (10, 20, 40):
            for ctx in (0.5, 1.0, 2.0):
                for floor_w in (1.0, 0.0):
                    for level in (False, True):
                        for w in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0):
                            m, worse, better = evaluate(groups, k, w, (ctx, floor_w, level), mode)
                            cells = (
                                mode,
                                k,
                                ctx,
                                floor_w,
                                level,
                                w,
                                f"{m:.3f}",
                                f"{worse} / {better}",
                            )
                            print("| " + " | ".join(map(str, cells)) + " |")


def _msd(a: np.ndarray, b: np.ndarray, level: bool) -> float:
    """Mean squared difference of two mean log spectra (dB), the level offset removed or not."""
    d = a - b
    if level:
        d = d - d.mean()
    return float(np.mean(d * d))


#: Per-candidate features of the learned ranker (each z-scored over the gap's shortlist).
FEATURES = {
    "J": lambda p: p["cost"],
    "mel": lambda p: p["stft"],
    "chroma": lambda p: p["chroma"],
    "|gain|": lambda p: abs(p["gain"]),
    "log distance": lambda p: np.log(abs(p["start"] - p["gap_start"]) + 1.0),
    "rank": lambda p: p["rank"],
    "lin 0.5 s": lambda p: lin_cost(p, 0.5, 0.0, True),
    "lin 1 s": lambda p: lin_cost(p, 1.0, 0.0, True),
    "lin 2 s flat": lambda p: lin_cost(p, 2.0, 1.0, False),
    # The candidate's own content against the gap's contexts (inside the would-be fill).
    "inner": lambda p: _msd(p["inner"], (p["ctx_b1"] + p["ctx_a1"]) / 2, True),
    "edges": lambda p: _msd(p["head"], p["ctx_b05"], True) + _msd(p["tail"], p["ctx_a05"], True),
}


def content(path: Path) -> None:
    """Rank correlation of every feature with the fill's LSD, then J plus each, z-scored."""
    from scipy.stats import spearmanr

    groups = _groups(path)
    for k in (20,):
        for name, f in FEATURES.items():
            rs = [spearmanr([f(p) for p in ps[:k]], [p["lsd"] for p in ps[:k]])[0]
                  for ps in groups.values()]  # fmt: skip
            print(f"{name}: median Spearman with LSD over the top {k}: {np.nanmedian(rs):.2f}")
    print("| rule | K | w | rank-1 LSD | worse / better |\n|---|---|---|---|---|")
    for rule in (("inner",), ("edges",), ("lin 0.5 s", "edges")):
        for k in (10, 20):
            for w in (0.5, 1.0, 2.0):
                picks = []
                for ps in groups.values():
                    ps = ps[:k]
                    sc = _z(np.array([p["cost"] for p in ps]))
                    for name in rule:
                        sc = sc + w * _z(np.array([FEATURES[name](p) for p in ps]))
                    picks.append(ps[int(np.argmin(sc))])
                print(f"| J + {' + '.join(rule)} | {k} | {w} | {_summary(picks)} |")


def ranker(path: Path) -> None:
    """A ridge regression from the z-scored features to the z-scored LSD, evaluated by
    leave-one-recording-out cross-validation (the pick of each held-out gap)."""
    groups = _groups(path)
    recs = sorted({g.split("@")[0] for g in groups})
    print("| K | ridge lambda | rank-1 LSD (cross-validated) | worse / better |\n|---|---|---|---|")
    for k in (5, 10, 20):
        x, y = {}, {}
        for g, ps in groups.items():
            ps = ps[:k]
            x[g] = np.stack([_z(np.array([f(p) for p in ps])) for f in FEATURES.values()], 1)
            y[g] = _z(np.array([p["lsd"] for p in ps]))
        for lam in (1.0, 10.0, 100.0):
            picks = []
            for r in recs:
                train = [g for g in groups if not g.startswith(r + "@")]
                a = np.concatenate([x[g] for g in train])
                t = np.concatenate([y[g] for g in train])
                w = np.linalg.solve(a.T @ a + lam * np.eye(a.shape[1]), a.T @ t)
                for g in groups:
                    if g.startswith(r + "@"):
                        picks.append(groups[g][int(np.argmin(x[g] @ w))])
            print(f"| {k} | {lam:g} | {_summary(picks)} |")


def _design(groups: dict, k: int) -> tuple[dict, dict]:
    """Per gap: z-scored features and z-scored LSD over its top ``k``."""
    x, y = {}, {}
    for g, ps in groups.items():
        ps = ps[:k]
        x[g] = np.stack([_z(np.array([f(p) for p in ps])) for f in FEATURES.values()], 1)
        y[g] = _z(np.array([p["lsd"] for p in ps]))
    return x, y


def ranker_outside(train: Path, held: Path) -> None:
    """A ranker fitted on self-made gaps outside both halves (``collect --outside``), scored on
    another half's gaps (its picks' LSD against J's rank 1 and the baseline)."""
    tr, ev = _groups(train), _groups(held)
    print(f"training: {len(tr)} gaps; scored on {len(ev)} gaps")
    print(f"J alone: {_summary([ps[0] for ps in ev.values()])}")
    print("| K | model | rank-1 LSD | worse / better |\n|---|---|---|---|")
    for k in (5, 10, 20):
        xt, yt = _design(tr, k)
        xe, _ = _design(ev, k)
        a, t = np.concatenate(list(xt.values())), np.concatenate(list(yt.values()))
        models = {}
        for lam in (1.0, 10.0, 100.0):
            w = np.linalg.solve(a.T @ a + lam * np.eye(a.shape[1]), a.T @ t)
            models[f"ridge {lam:g}"] = lambda x, w=w: x @ w
        try:
            from sklearn.ensemble import HistGradientBoostingRegressor

            gb = HistGradientBoostingRegressor(max_iter=200, learning_rate=0.05, max_depth=3)
            gb.fit(a, t)
            models["boosted trees"] = gb.predict
        except ImportError:
            pass
        for name, predict in models.items():
            picks = [ev[g][int(np.argmin(predict(xe[g])))] for g in ev]
            print(f"| {k} | {name} | {_summary(picks)} |")


def replaced(path: Path) -> None:
    """Re-placing each candidate on the hop-256 grid (within one coarse hop) by the linear
    distance, then re-ranking by J + w lin, against re-ranking at the sample-accurate starts."""
    groups = _groups(path)
    print("| positions | K | w | rank-1 LSD | worse / better |\n|---|---|---|---|---|")
    for moved in (False, True):
        for k in (10, 20):
            for w in (0.0, 0.5, 1.0, 1e6):
                picks = []
                for ps in groups.values():
                    ps = ps[:k]
                    lin = [p["lin_re"] if moved else lin_cost(p, 0.5, 0.0, True) for p in ps]
                    sc = _z(np.array([p["cost"] for p in ps])) + w * _z(np.array(lin))
                    best = ps[int(np.argmin(sc))]
                    picks.append(best | {"lsd": best["lsd_re"]} if moved else best)
                label = "re-placed" if moved else "sample-accurate"
                print(f"| {label} | {k} | {'lin alone' if w > 100 else w} | {_summary(picks)} |")


#: J variants whose rank of the baseline's pick is reported by ``baseline-pick`` (why it is missed).
WHY_VARIANTS = {
    "default": {},
    "level counted": {"level_weight": 1.0},
    "flat weights": {"context_weight_floor": 1.0},
    "no chroma": {"w_stft": 1.0, "w_chroma": 0.0},
    "all three": {"level_weight": 1.0, "context_weight_floor": 1.0, "w_stft": 1.0, "w_chroma": 0.0},
}


def _capture_raw(rec, damaged, gap, cfg: SearchConfig, k: int, root: Path):
    """Run the search and keep its raw coarse costs (every position, before suppression)."""
    from simdps_studio.search import candidates as cmod

    seen = {}
    original = cmod._level_rejection

    def spy(raw, config):
        seen["raw"] = raw
        return original(raw, config)

    cmod._level_rejection = spy
    try:
        cands = find_candidates(
            damaged, rec.sr, gap, config=cfg, top_k=k, cache_dir=root / "cache" / "features"
        )
    finally:
        cmod._level_rejection = original
    _src, _m, t, valid, cost_s, cost_c, level = seen["raw"][0]
    norm_s = cmod._median_over_valid(seen["raw"], 4)
    norm_c = cmod._median_over_valid(seen["raw"], 5)
    w1, w2 = cfg.w_stft, cfg.w_chroma
    j = w1 * cost_s / norm_s + w2 * cost_c / norm_c
    return cands, {"t": t, "valid": valid, "j": j, "ds": cost_s / norm_s,
                   "dc": cost_c / norm_c, "level": level}  # fmt: skip


def _rms_gain(mono: np.ndarray, gap, t: int, sr: int) -> float:
    """The RMS-matching gain of 1-s contexts (dB, clamped like the search's)."""
    c = sr
    s, e, n = gap.start_sample, gap.end_sample, mono.size
    ref = np.concatenate([mono[max(0, s - c) : s], mono[e : e + c]])
    cand = np.concatenate([mono[max(0, t - c) : t], mono[t + gap.length : t + gap.length + c]])
    r_ref, r_cand = np.sqrt(np.mean(ref**2)), np.sqrt(np.mean(cand**2)) if cand.size else 0.0
    if r_ref <= 1e-9 or r_cand <= 1e-9 or t + gap.length + c > n:
        return 0.0
    return float(np.clip(20 * np.log10(r_ref / r_cand), -6.0, 6.0))


def _refine_at(damaged: np.ndarray, sr: int, gap, t0: int, cfg: SearchConfig) -> tuple[int, float]:
    """The search's sample-accurate refinement (and gain) around ``t0``."""
    from simdps_studio.search import candidates as cmod

    src = cmod._Source(None, None, damaged, sr, None, True)
    obs = cmod._observed_edges(damaged, gap, [], sr, cfg)
    ctx_b = min(cfg.long_context_s * sr, gap.start_sample)
    ctx_a = min(cfg.long_context_s * sr, damaged.shape[1] - gap.end_sample)
    return cmod._refine(src, float(t0), gap, [], ctx_b, ctx_a, sr, obs, cfg)


def baseline_pick(split: str, out: Path, data: Path | None) -> None:
    """Is the exhaustive baseline's pick in the search's shortlist, and what does re-ranking the
    shortlist with exactly the baseline's cost give? Writes per-gap picks (with LSDs) to ``out``
    (JSON) and prints the tables of ``docs/retrieval.md`` (round 8)."""
    import json

    root = data or rb.default_data_dir()
    rows = [r for r in rb.read_manifest() if r["split"] == split]
    cache_path = root / "cache" / "retrieval_refs.json"
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    cfg = SearchConfig()
    result = []
    for row in rows:
        rec = rb.load_recording(row, root)
        for frac, gap in zip(rb.GAP_FRACTIONS, rb.gaps_for(rec.clean.shape[1], rec.sr)):
            rb._SCORED.clear()
            damaged = rec.clean.copy()
            damaged[:, gap.start_sample : gap.end_sample] = 0.0
            refs = rb.reference_results(rec, gap, damaged, cache)
            b = refs["baseline"]["start"]
            mono = damaged.mean(axis=0).astype(np.float64)
            starts, bcost = rb.baseline_costs(damaged, rec.sr, gap)
            coarse = int(round(cfg.hop_length * rec.sr / cfg.analysis_sr))
            cands, _raw = _capture_raw(rec, damaged, gap, cfg, 50, root)

            def score(t: int, g: float, rec=rec, damaged=damaged, gap=gap) -> float:
                return rb.score_fill(rec.clean, damaged, rec.sr, gap, int(t), g)["lsd"]

            def grid_cost(t: float, radius: int, starts=starts, bcost=bcost) -> tuple[float, int]:
                """Lowest baseline cost on the grid within ``radius`` of ``t`` (nearest if 0)."""
                if radius == 0:
                    i = int(np.argmin(np.abs(starts - t)))
                    return float(bcost[i]), int(starts[i])
                near = np.flatnonzero(np.abs(starts - t) <= radius)
                if near.size == 0:
                    return math.inf, int(t)
                i = near[int(np.argmin(bcost[near]))]
                return float(bcost[i]), int(starts[i])

            gap_row = {"gap": f"{rec.id}@{frac:.0%}", "baseline": refs["baseline"]["lsd"],
                       "oracle": refs["oracle"]["lsd"]}  # fmt: skip
            gap_row["J rank 1"] = score(cands[0].start_sample, cands[0].gain_db)
            gap_row["J rank 1, no gain"] = score(cands[0].start_sample, 0.0)
            gap_row["baseline, RMS gain"] = score(b, _rms_gain(mono, gap, b, rec.sr))
            for k in (10, 20, 50):
                top = cands[:k]
                off = min(abs(c.start_sample - b) for c in top)
                gap_row[f"off{k}"] = off
                # Re-ranked by the baseline's cost: at the candidate's own start (nearest grid
                # position), then re-placed on the grid within one coarse hop / half the gap.
                at = [grid_cost(c.start_sample, 0)[0] for c in top]
                c0 = top[int(np.argmin(at))]
                gap_row[f"K{k} base@start"] = score(c0.start_sample, c0.gain_db)
                for label, radius in (("hop", coarse), ("half", gap.length // 2)):
                    moved = [grid_cost(c.start_sample, radius) for c in top]
                    i = int(np.argmin([m[0] for m in moved]))
                    u = moved[i][1]
                    gap_row[f"K{k} base@{label}"] = score(u, 0.0)
                    gap_row[f"K{k} base@{label}, RMS gain"] = score(
                        u, _rms_gain(mono, gap, u, rec.sr)
                    )
                    gap_row[f"K{k} base@{label} = baseline"] = abs(u - b) <= rb.BASE_HOP // 2
                    # ... then refined to the sample with the search's own refinement and gain.
                    t_r, g_r = _refine_at(damaged, rec.sr, gap, u, cfg)
                    gap_row[f"K{k} base@{label}, refined"] = score(t_r, g_r)
                    gap_row[f"K{k} base@{label}, refined, no gain"] = score(t_r, 0.0)
            # Why: the J rank (percentile among valid positions) of the baseline's position.
            for name, over in WHY_VARIANTS.items():
                _c, r = _capture_raw(rec, damaged, gap, replace(cfg, **over), 5, root)
                i = int(np.argmin(np.abs(r["t"] - b)))
                jv = r["j"][r["valid"]]
                gap_row[f"why {name}"] = float(np.mean(jv < r["j"][i]))
                if name == "default":
                    gap_row["level at baseline"] = float(r["level"][i])
                    gap_row["level at rank 1"] = float(
                        r["level"][int(np.argmin(np.abs(r["t"] - cands[0].start_sample)))]
                    )
                    gap_row["ds pct"] = float(np.mean(r["ds"][r["valid"]] < r["ds"][i]))
                    gap_row["dc pct"] = float(np.mean(r["dc"][r["valid"]] < r["dc"][i]))
            result.append(gap_row)
            print(gap_row["gap"], f"J {gap_row['J rank 1']:.2f} base {gap_row['baseline']:.2f}",
                  f"K20 hop {gap_row['K20 base@hop']:.2f} half {gap_row['K20 base@half']:.2f}",
                  file=sys.stderr, flush=True)  # fmt: skip
    out.write_text(json.dumps(result, indent=1))
    report_baseline_pick(out)


def report_baseline_pick(path: Path) -> None:
    """Tables of a ``baseline-pick`` run."""
    import json

    rows = json.loads(path.read_text())
    n = len(rows)
    print(f"{n} gaps\n\n| K | baseline's pick in the shortlist: within 128 / 256 / 1024 / "
          "22050 samples |\n|---|---|")  # fmt: skip
    for k in (10, 20, 50):
        cells = " / ".join(
            str(sum(r[f"off{k}"] <= tol for r in rows)) for tol in (128, 256, 1024, 22050)
        )
        print(f"| {k} | {cells} |")
    print("\n| pick | rank 1 LSD | better / worse than the baseline | same as the baseline's |")
    print("|---|---|---|---|")

    def line(key: str) -> None:
        lsd = np.array([r[key] for r in rows])
        base = np.array([r["baseline"] for r in rows])
        same = ""
        if f"{key} = baseline" in rows[0]:
            same = str(sum(r[f"{key} = baseline"] for r in rows))
        b = int(np.sum(base - lsd > rb.MARGIN_DB))
        w = int(np.sum(lsd - base > rb.MARGIN_DB))
        print(f"| {key} | {lsd.mean():.2f} | {b} / {w} | {same} |")

    for key in ("J rank 1", "J rank 1, no gain", "baseline", "baseline, RMS gain"):
        line(key)
    for k in (10, 20, 50):
        for v in (
            "base@start",
            "base@hop",
            "base@hop, RMS gain",
            "base@hop, refined",
            "base@half",
            "base@half, RMS gain",
            "base@half, refined",
            "base@half, refined, no gain",
        ):
            line(f"K{k} {v}")
    line("oracle")
    print(
        "\nPercentile of the baseline's position in J over all valid positions (median / "
        "share of gaps under 1 %):"
    )
    for name in WHY_VARIANTS:
        v = np.array([r[f"why {name}"] for r in rows])
        print(f"- {name}: {np.median(v) * 100:.2f} % / {np.mean(v < 0.01) * 100:.0f} %")
    for key in ("ds pct", "dc pct"):
        v = np.array([r[key] for r in rows])
        print(f"- {key}: {np.median(v) * 100:.2f} %")
    lb = np.array([abs(r["level at baseline"]) for r in rows])
    l1 = np.array([abs(r["level at rank 1"]) for r in rows])
    print(f"|level offset| (dB, median): at the baseline's pick {np.median(lb):.2f}, "
          f"at rank 1 {np.median(l1):.2f}")  # fmt: skip


def _groups(path: Path) -> dict:
    groups: dict = {}
    for p in np.load(path, allow_pickle=True):
        groups.setdefault(p["gap"], []).append(p)
    for ps in groups.values():
        ps.sort(key=lambda p: p["rank"])
    return groups


def _summary(picks: list[dict]) -> str:
    lsd = np.array([p["lsd"] for p in picks])
    base = np.array([p["base"] for p in picks])
    worse, better = int(np.sum(lsd - base > rb.MARGIN_DB)), int(np.sum(base - lsd > rb.MARGIN_DB))
    return f"{lsd.mean():.3f} | {worse} / {better}"


def main() -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--split", default="selection", choices=("selection", "test"))
    c.add_argument("--k", type=int, default=40)
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--data", type=Path, default=None)
    c.add_argument("--outside", action="store_true", help="self-made gaps outside both halves")
    c.add_argument("--no-moves", action="store_true", help="skip the hop-256 re-placement")
    bp = sub.add_parser("baseline-pick")
    bp.add_argument("--split", default="selection", choices=("selection", "test"))
    bp.add_argument("--out", type=Path, required=True)
    bp.add_argument("--data", type=Path, default=None)
    for cmd in ("fit", "content", "ranker", "replaced", "report-baseline-pick"):
        sub.add_parser(cmd).add_argument("path", type=Path)
    ro = sub.add_parser("ranker-outside")
    ro.add_argument("train", type=Path)
    ro.add_argument("held", type=Path)
    a = ap.parse_args()
    if a.cmd == "baseline-pick":
        baseline_pick(a.split, a.out, a.data)
    elif a.cmd == "report-baseline-pick":
        report_baseline_pick(a.path)
    elif a.cmd == "ranker-outside":
        ranker_outside(a.train, a.held)
    elif a.cmd == "collect":
        root = a.data or rb.default_data_dir()
        cache_path = root / "cache" / "retrieval_refs.json"
        import json

        _CACHE.update(json.loads(cache_path.read_text()))
        collect(a.split, a.k, a.out, a.data, a.outside, not a.no_moves)
    else:
        {"fit": fit, "content": content, "ranker": ranker, "replaced": replaced}[a.cmd](a.path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
