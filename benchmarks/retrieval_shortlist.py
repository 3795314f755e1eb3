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

The per-frame distances are stored so that the context length (0.5/1/2 s), the frame weights
(flat or falling to 0 at the far end) and level invariance (the broadband mean difference
removed) can all be derived offline. Only the selection half may be used to choose a rule.
"""

from __future__ import annotations

import argparse
import math
import sys
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


def collect(split: str, k: int, out: Path, data: Path | None) -> None:
    root = data or rb.default_data_dir()
    rows = [r for r in rb.read_manifest() if r["split"] == split]
    cfg = SearchConfig()
    per = []
    for row in rows:
        rec = rb.load_recording(row, root)
        for frac, gap in zip(rb.GAP_FRACTIONS, rb.gaps_for(rec.clean.shape[1], rec.sr)):
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
                for off in range(-coarse, coarse + 1, rb.BASE_HOP):
                    u = t + off
                    if 0 <= u - cb and u + gap.length + ca <= n and (u + gap.length <= s or u >= e):
                        moves.append((lin_cost(frame_diffs(u), 0.5, 0.0, True), u))
                lin_re, t_re = min(moves) if moves else (math.inf, t)
                m_re = rb.score_fill(rec.clean, damaged, rec.sr, gap, t_re, cand.gain_db)
                inner = _frames_db(mono[t : t + gap.length], floor)
                n_half = max(1, int(half / rb.BASE_HOP))
                content = {"inner": inner.mean(axis=0), "head": inner[:n_half].mean(axis=0),
                           "tail": inner[-n_half:].mean(axis=0)}  # fmt: skip
                m = rb.score_fill(rec.clean, damaged, rec.sr, gap, t, cand.gain_db)
                base = rb.reference_results(rec, gap, damaged, _CACHE)["baseline"]["lsd"]
                per.append(
                    {"gap": f"{rec.id}@{frac:.0%}", "rank": cand.rank, "cost": cand.cost,
                     "stft": cand.cost_stft, "chroma": cand.cost_chroma, "gain": cand.gain_db,
                     "lsd": m["lsd"], "base": base, "sq": sq, "lin": lin, "dist": dist,
                     "start": t, "gap_start": s, **ctx, **content,
                     "lin_re": lin_re, "lsd_re": m_re["lsd"]}
                )  # fmt: skip
            print(rec.id, frac, file=sys.stderr, flush=True)
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
    for cmd in ("fit", "content", "ranker", "replaced"):
        sub.add_parser(cmd).add_argument("path", type=Path)
    a = ap.parse_args()
    if a.cmd == "collect":
        root = a.data or rb.default_data_dir()
        cache_path = root / "cache" / "retrieval_refs.json"
        import json

        _CACHE.update(json.loads(cache_path.read_text()))
        collect(a.split, a.k, a.out, a.data)
    else:
        {"fit": fit, "content": content, "ranker": ranker, "replaced": replaced}[a.cmd](a.path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
