"""Retrieval benchmark (issue 22): does the search find the right passage in real music?

Material: the freely licensed recordings listed in ``benchmarks/retrieval_material.tsv`` (game and
demo music from Debian packages; fetched by ``scripts/fetch_retrieval_material.sh``, never by this
script), split into a *selection* half (tune on it) and a *test* half (report on it). Each
recording is an excerpt of up to 90 s, stereo or folded to mono as the manifest says. Every
recording gets three natural 2-s gaps, centred at 30 %, 50 % and 70 % of the excerpt; each gap is
zeroed (a dropout), filled, and scored against the clean excerpt inside the gap with the project's
own metrics (:mod:`simdps_studio.bench.metrics`: LSD, chroma similarity, seam), as in the
quality benchmark.

Per gap, the fills compared are

* **rank 1**: the project's Sim repair, i.e. :func:`~simdps_studio.search.find_candidates` then
  :func:`~simdps_studio.search.sim.sim_fill` with the candidate's suggested gain, as ``repair
  --method sim`` does (for the default configuration the benchmark checks that the session's
  :func:`~simdps_studio.session.engines.make_repairs` picks the same candidate);
* **top 5**: the best of the first five candidates (the right passage is in the list);
* **baseline**: an exhaustive search, kept here and not in the app: every hop-256 position,
  squared distance of log-magnitude STFT frames (n_fft 1024, Hann) over 1 s of context before and
  after the gap, pasted with the same 10-ms raised-cosine crossfades and no gain (every position
  whose passage and contexts hold no missing sample);
* **oracle**: the position whose fill is closest to the original (the ceiling): a frame-level
  pass over every hop-256 position (log-magnitude distance inside the gap), then the exact LSD of
  the best 40 positions, 0.25 s apart or more (each with no gain and with the RMS-matched gain,
  clamped to ±6 dB). It is a ceiling for the positions it tries: a search may still pick a better one.

Variants of the search configuration run side by side with ``--variant NAME=key:value,...``
(any :class:`~simdps_studio.search.SearchConfig` field); the baseline and oracle are computed
once per gap and cached under the material folder. ``--speed`` times the search per gap on a
10-minute 44.1 kHz stereo track assembled from the chosen half's recordings.

    scripts/fetch_retrieval_material.sh                        # once
    .venv/bin/python benchmarks/retrieval.py                   # the test half
    .venv/bin/python benchmarks/retrieval.py --split selection \\
        --variant flat=context_weight_floor:1.0 --variant nolevel=level_weight:1.0
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simdps_studio.bench.metrics import gap_metrics, log_spectral_distance_db
from simdps_studio.core.types import Audio, Gap
from simdps_studio.search import SearchConfig, clear_memory_cache, find_candidates
from simdps_studio.search.sim import sim_fill

REPO = Path(__file__).resolve().parents[1]
MANIFEST = REPO / "benchmarks" / "retrieval_material.tsv"
FETCH = "scripts/fetch_retrieval_material.sh"

GAP_S = 2.0
GAP_FRACTIONS = (0.3, 0.5, 0.7)
#: Metrics are computed on the gap plus this much on each side (the seam needs 1 s of context).
METRIC_PAD_S = 2.5
#: The exhaustive baseline's analysis (issue 22).
BASE_N_FFT, BASE_HOP, BASE_CONTEXT_S = 1024, 256, 1.0
#: Sim's crossfade (the app's default) and the gain limit of the oracle.
CROSSFADE_S, MAX_GAIN_DB = 0.01, 6.0
#: Positions the oracle evaluates exactly after the frame-level pass.
ORACLE_REFINE = 40
#: "Beats" / "loses to" the baseline: LSD better / worse by more than this, dB.
MARGIN_DB = 0.5
#: Length of the speed test track, seconds, and its rate.
SPEED_TRACK_S, SPEED_SR = 600.0, 44100


class MaterialMissing(Exception):
    """The material is not where the benchmark looks (or does not match the manifest)."""


@dataclass
class Recording:
    """One excerpt of the material: clean float32 samples, shape (channels, n)."""

    id: str
    split: str
    genre: str
    sr: int
    clean: np.ndarray


# ----------------------------------------------------------------------------- material


def read_manifest() -> list[dict]:
    """Rows of the manifest as dicts (the header names the columns)."""
    with open(MANIFEST, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def default_data_dir() -> Path:
    import os

    env = os.environ.get("SIMDPS_RETRIEVAL_DIR")
    return Path(env) if env else Path.home() / ".cache" / "simdps-studio" / "retrieval"


def load_recording(row: dict, root: Path) -> Recording:
    """Decode, sum the stems, cut the excerpt and fold to mono where the manifest says so."""
    import soundfile as sf

    paths = [root / "pkgs" / row["package"] / f for f in row["files"].split("|")]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise MaterialMissing(f"{missing[0]} is missing")
    start_s, length_s = float(row["excerpt_start_s"]), float(row["excerpt_s"])
    mix, sr = None, None
    for p in paths:
        info = sf.info(str(p))
        a = int(round(start_s * info.samplerate))
        b = a + int(round(length_s * info.samplerate))
        x, sr = sf.read(str(p), start=a, stop=b, dtype="float32", always_2d=True)
        mix = x.T.copy() if mix is None else mix + x.T[:, : mix.shape[1]]
    if len(paths) > 1:
        mix *= np.float32(1.0 / max(1.0, float(np.abs(mix).max()) / 0.99))  # summed stems
    if row["channels"] == "mono":
        mix = mix.mean(axis=0, keepdims=True)
    return Recording(row["id"], row["split"], row["genre"], int(sr), np.ascontiguousarray(mix))


def gaps_for(n: int, sr: int) -> list[Gap]:
    """The natural gaps of a recording: 2 s centred at 30, 50 and 70 % of it."""
    length = int(round(GAP_S * sr))
    return [Gap(int(f * n) - length // 2, int(f * n) - length // 2 + length) for f in GAP_FRACTIONS]


# ----------------------------------------------------------------------------- exhaustive baseline


def log_mag_frames(mono: np.ndarray, offset: int, floor: float) -> np.ndarray:
    """Log-power (dB) STFT frames starting at ``offset + k * BASE_HOP``; shape (bins, frames)."""
    import scipy.fft

    x = mono[offset:]
    n_frames = 1 + (x.size - BASE_N_FFT) // BASE_HOP
    frames = np.lib.stride_tricks.sliding_window_view(x, BASE_N_FFT)[::BASE_HOP][:n_frames]
    spec = scipy.fft.rfft(frames * np.hanning(BASE_N_FFT), axis=1)
    power = spec.real**2 + spec.imag**2
    return (10.0 * np.log10(np.maximum(power, floor))).T.astype(np.float64)


def template_distance(frames: np.ndarray, k0: int, k1: int) -> np.ndarray:
    """``D[p] = sum_{j<k1-k0} ||frames[:, p + j] - frames[:, k0 + j]||^2`` for every placement p.

    Evaluated for all p at once with FFT cross-correlations (energy term minus twice the
    correlation). Returns shape (n_frames - (k1 - k0) + 1,).
    """
    from scipy.signal import fftconvolve

    tpl = frames[:, k0:k1]
    m = tpl.shape[1]
    energy = np.sum(frames * frames, axis=0)
    e_win = np.convolve(energy, np.ones(m), mode="valid")
    cross = fftconvolve(frames, tpl[:, ::-1], mode="valid", axes=1).sum(axis=0)
    return np.maximum(float(np.sum(tpl * tpl)) + e_win - 2.0 * cross, 0.0)


def _shift_costs(frames: np.ndarray, offset: int, lo: int, hi: int) -> tuple[int, np.ndarray]:
    """Frames of the grid starting at ``offset`` whose windows lie in ``[lo, hi)``: the first one
    and the distance of that run to every placement."""
    k0 = max(0, math.ceil((lo - offset) / BASE_HOP))
    k1 = (hi - BASE_N_FFT - offset) // BASE_HOP + 1
    return k0, template_distance(frames, k0, k1)


def _valid_shifts(n: int, gap: Gap, sr: int, shifts: np.ndarray) -> np.ndarray:
    """Candidate starts ``s + m * hop`` whose passage and 1-s contexts lie on the track and hold
    no missing sample (they may overlap the gap's contexts, which are observed)."""
    c = int(round(BASE_CONTEXT_S * sr))
    t = gap.start_sample + shifts * BASE_HOP
    lo, hi = t - c, t + gap.length + c
    clear = (hi <= gap.start_sample) | (lo >= gap.end_sample)
    return (lo >= 0) & (hi <= n) & clear


def baseline_start(damaged: np.ndarray, sr: int, gap: Gap) -> int:
    """The exhaustive baseline's candidate start (samples)."""
    starts, cost = baseline_costs(damaged, sr, gap)
    return int(starts[int(np.argmin(cost))])


def baseline_costs(damaged: np.ndarray, sr: int, gap: Gap) -> tuple[np.ndarray, np.ndarray]:
    """The exhaustive baseline's cost at every start ``s + m * BASE_HOP`` of the gap's grid.

    Returns
    -------
    starts : numpy.ndarray of int, shape (P,)
        Candidate starts (samples), ascending.
    cost : numpy.ndarray, shape (P,)
        Sum of squared log-power differences of the 1-s contexts (``inf`` where a start is not
        valid: its passage or contexts leave the track or touch the gap).
    """
    mono = damaged.mean(axis=0).astype(np.float64)
    floor = float(np.max(mono**2)) * BASE_N_FFT * 1e-8 + 1e-20  # about 80 dB below the peak
    c = int(round(BASE_CONTEXT_S * sr))
    s, e = gap.start_sample, gap.end_sample
    grid_s, grid_e = s % BASE_HOP, e % BASE_HOP
    fs = log_mag_frames(mono, grid_s, floor)
    fe = fs if grid_e == grid_s else log_mag_frames(mono, grid_e, floor)
    kb, db = _shift_costs(fs, grid_s, s - c, s)  # frames before the gap
    ka, da = _shift_costs(fe, grid_e, e, e + c)  # frames after the gap
    # Shift m moves both runs by m frames: placement kb + m and ka + m.
    m_lo = max(-kb, -ka)
    m_hi = min(db.size - 1 - kb, da.size - 1 - ka)
    shifts = np.arange(m_lo, m_hi + 1)
    cost = db[kb + shifts] + da[ka + shifts]
    cost[~_valid_shifts(damaged.shape[1], gap, sr, shifts)] = np.inf
    return s + shifts * BASE_HOP, cost


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def oracle_fill(
    clean: np.ndarray, damaged: np.ndarray, sr: int, gap: Gap, also: tuple[int, ...] = ()
) -> tuple[int, float]:
    """The position (and gain) whose Sim fill is closest to the clean gap in LSD.

    Frame-level pass over every hop-256 position (log-magnitude distance of the frames inside the
    gap), then the exact LSD of the best :data:`ORACLE_REFINE` positions (0.25 s apart or more),
    each with no gain and with the RMS-matched gain. Starts in ``also`` (the baseline's) are
    evaluated too, so the ceiling is never below them.
    """
    mono = clean.mean(axis=0).astype(np.float64)
    floor = float(np.max(mono**2)) * BASE_N_FFT * 1e-8 + 1e-20
    s, e = gap.start_sample, gap.end_sample
    fs = log_mag_frames(mono, s % BASE_HOP, floor)
    k0, d = _shift_costs(fs, s % BASE_HOP, s, e)
    shifts = np.arange(-k0, d.size - k0)
    cost = d[k0 + shifts]
    cost[~_valid_shifts(clean.shape[1], gap, sr, shifts)] = np.inf
    radius = int(0.25 * sr / BASE_HOP)
    ref = clean[:, s:e]
    starts = list(also)
    for _ in range(ORACLE_REFINE):
        i = int(np.argmin(cost))
        if not np.isfinite(cost[i]):
            break
        cost[max(0, i - radius) : i + radius + 1] = np.inf
        starts.append(int(s + shifts[i] * BASE_HOP))
    best = (math.inf, s, 0.0)
    for t in starts:
        cand = damaged[:, t : t + gap.length]
        match = 20 * math.log10(max(_rms(ref), 1e-9) / max(_rms(cand), 1e-9))
        for g in {0.0, float(np.clip(match, -MAX_GAIN_DB, MAX_GAIN_DB))}:
            lsd = log_spectral_distance_db(ref, cand * 10 ** (g / 20), sr)
            if lsd < best[0]:
                best = (lsd, t, g)
    return best[1], best[2]


# ----------------------------------------------------------------------------- scoring


#: Scores of the current gap's fills by (start, gain): variants often pick the same passages.
_SCORED: dict[tuple, dict] = {}


def score_fill(
    clean: np.ndarray, damaged: np.ndarray, sr: int, gap: Gap, start: int, gain_db: float
) -> dict:
    """Sim fill from ``start`` with ``gain_db``; metrics inside the gap (project's functions)."""
    key = (id(clean), gap.start_sample, gap.end_sample, int(start), round(float(gain_db), 9))
    if key not in _SCORED:
        _SCORED[key] = _score_fill(clean, damaged, sr, gap, start, gain_db)
    return dict(_SCORED[key])


def _score_fill(
    clean: np.ndarray, damaged: np.ndarray, sr: int, gap: Gap, start: int, gain_db: float
) -> dict:
    span_start, fill = sim_fill(
        damaged, sr, gap.start_sample, gap.end_sample, start, gain_db=gain_db,
        crossfade_s=CROSSFADE_S,
    )  # fmt: skip
    pad = int(METRIC_PAD_S * sr)
    lo, hi = max(0, gap.start_sample - pad), min(clean.shape[1], gap.end_sample + pad)
    repaired = damaged[:, lo:hi].astype(np.float64)
    a = span_start - lo
    repaired[:, a : a + fill.shape[1]] = fill
    m = gap_metrics(
        clean[:, lo:hi], repaired, sr, gap.start_sample - lo, gap.end_sample - lo,
        margin_samples=int(round(CROSSFADE_S * sr)),
    )  # fmt: skip
    return {"lsd": m["lsd_db"], "chroma": m["chroma_sim"], "seam": m["seam"], "start": int(start),
            "gain_db": float(gain_db)}  # fmt: skip


def reference_results(rec: Recording, gap: Gap, damaged: np.ndarray, cache: dict) -> dict:
    """Baseline and oracle of one gap (cached: they do not depend on the project's search)."""
    digest = hashlib.sha256(rec.clean.tobytes()).hexdigest()[:16]
    key = f"{rec.id}|{gap.start_sample}|{gap.end_sample}|{digest}|v4"
    if key not in cache:
        t0 = time.perf_counter()
        b = baseline_start(damaged, rec.sr, gap)
        t_base = time.perf_counter() - t0
        o, g = oracle_fill(rec.clean, damaged, rec.sr, gap, also=(b,))
        cache[key] = {
            "baseline": score_fill(rec.clean, damaged, rec.sr, gap, b, 0.0),
            "oracle": score_fill(rec.clean, damaged, rec.sr, gap, o, g),
            "baseline_seconds": t_base,
        }
    return cache[key]


def project_results(
    rec: Recording,
    gap: Gap,
    damaged: np.ndarray,
    config: SearchConfig,
    check_session: bool,
    feature_cache: Path,
) -> dict:
    """Rank-1 and best-of-top-5 Sim fills with the project's search under ``config``."""
    t0 = time.perf_counter()
    cands = find_candidates(damaged, rec.sr, gap, config=config, top_k=5, cache_dir=feature_cache)
    seconds = time.perf_counter() - t0
    scored = [score_fill(rec.clean, damaged, rec.sr, gap, c.start_sample, c.gain_db) for c in cands]
    for c, s in zip(cands, scored):
        s.update(score=c.score, cost=c.cost)
    out = {"rank1": scored[0], "top5": min(scored, key=lambda r: r["lsd"]), "seconds": seconds,
           "session_same": None}  # fmt: skip
    if check_session:
        from simdps_studio.session.engines import RepairRequest, make_repairs

        audio = Audio(damaged.copy(), rec.sr)
        rep = make_repairs(audio, gap, RepairRequest(method="sim"))[0]
        out["session_same"] = rep.params["candidate"]["start_sample"] == cands[0].start_sample
    return out


# ----------------------------------------------------------------------------- reporting


def _mean(rows: list[dict], who: str, key: str) -> float:
    values = [r[who][key] for r in rows if math.isfinite(r[who][key])]
    return statistics.fmean(values) if values else math.nan


def summary_table(rows: list[dict], variants: list[str]) -> str:
    """Mean LSD / chroma / seam per method, and wins/losses against the baseline."""
    n = len(rows)
    lines = [
        "| fill | mean LSD (dB) | chroma | seam | vs baseline: better / worse by > 0.5 dB |",
        "|---|---|---|---|---|",
    ]

    def line(label: str, who: str, compare: bool) -> str:
        text = f"| {label} | {_mean(rows, who, 'lsd'):.2f} | {_mean(rows, who, 'chroma'):.3f} "
        text += f"| {_mean(rows, who, 'seam'):.2f} |"
        if compare:
            d = [r[who]["lsd"] - r["baseline"]["lsd"] for r in rows]
            better = sum(x < -MARGIN_DB for x in d)
            worse = sum(x > MARGIN_DB for x in d)
            text += f" {better} / {worse} of {n} ({100 * worse / n:.0f} % worse) |"
        else:
            text += " |"
        return text

    for v in variants:
        lines.append(line(f"`{v}` rank 1 (Sim)", f"{v}:rank1", True))
        lines.append(line(f"`{v}` best of top 5", f"{v}:top5", True))
    lines.append(line("exhaustive baseline", "baseline", False))
    lines.append(line("oracle (ceiling)", "oracle", True))
    return "\n".join(lines)


def gap_table(rows: list[dict], variants: list[str]) -> str:
    """LSD of every gap: each variant's rank 1, the baseline and the oracle."""
    head = "| recording | gap at | " + " | ".join(f"`{v}`" for v in variants)
    head += " | baseline | oracle | rank-1 gain (dB) |"
    lines = [head, "|---" * (len(variants) + 5) + "|"]
    for r in rows:
        cells = " | ".join(f"{r[f'{v}:rank1']['lsd']:.2f}" for v in variants)
        gain = r[f"{variants[0]}:rank1"]["gain_db"]
        lines.append(
            f"| {r['id']} | {r['gap_at']} | {cells} | {r['baseline']['lsd']:.2f} "
            f"| {r['oracle']['lsd']:.2f} | {gain:+.1f} |"
        )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- speed


def speed_track(recordings: list[Recording]) -> np.ndarray:
    """A 10-minute 44.1 kHz stereo track: the recordings one after another, repeated."""
    import soxr

    pieces, total = [], 0
    n_target = int(SPEED_TRACK_S * SPEED_SR)
    while total < n_target:
        for rec in recordings:
            x = rec.clean
            if rec.sr != SPEED_SR:
                x = soxr.resample(x.T, rec.sr, SPEED_SR).T
            if x.shape[0] == 1:
                x = np.repeat(x, 2, axis=0)
            pieces.append(x.astype(np.float32))
            total += x.shape[1]
            if total >= n_target:
                break
    return np.ascontiguousarray(np.concatenate(pieces, axis=1)[:, :n_target])


def measure_speed(recordings: list[Recording], configs: dict[str, SearchConfig]) -> str:
    """Search time per 2-s gap on the 10-minute track, features already analysed."""
    import tempfile

    from simdps_studio.search.features import track_features

    x = speed_track(recordings)
    rng = np.random.default_rng(7)
    length = int(GAP_S * SPEED_SR)
    starts = rng.integers(5 * SPEED_SR, x.shape[1] - length - 5 * SPEED_SR, size=6)
    lines = [
        "| variant | analysis (s) | search per gap: median (s) | max (s) |",
        "|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as cache:
        for name, cfg in configs.items():
            clear_memory_cache()
            t0 = time.perf_counter()
            track_features(x, SPEED_SR, config=cfg, cache_dir=cache, key="speed-track")
            analysis = time.perf_counter() - t0
            times = []
            for s in starts:
                gap = Gap(int(s), int(s) + length)
                t0 = time.perf_counter()
                find_candidates(
                    x, SPEED_SR, gap, config=cfg, audio_key="speed-track", cache_dir=cache
                )
                times.append(time.perf_counter() - t0)
            lines.append(
                f"| `{name}` | {analysis:.2f} | {statistics.median(times):.3f} | {max(times):.3f} |"
            )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main


def parse_variant(text: str) -> tuple[str, SearchConfig]:
    """``NAME=key:value,key:value`` -> (NAME, SearchConfig with those fields)."""
    name, _, spec = text.partition("=")
    types = {f.name: f.type for f in fields(SearchConfig)}
    overrides = {}
    for item in filter(None, spec.split(",")):
        key, _, value = item.partition(":")
        if key not in types:
            raise SystemExit(f"error: --variant {text!r}: {key!r} is not a SearchConfig field")
        kind = type(getattr(SearchConfig(), key))
        overrides[key] = value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
    return name, replace(SearchConfig(), **overrides)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", choices=("selection", "test"), default="test")
    ap.add_argument("--data", type=Path, default=None, help="material folder (see the script)")
    ap.add_argument(
        "--variant", action="append", default=[],
        help="NAME=key:value,... a SearchConfig variant (repeatable); default: the defaults",
    )  # fmt: skip
    ap.add_argument("--speed", action="store_true", help="also time the search on 10 minutes")
    ap.add_argument("--only", default="", help="comma-separated recording ids (a quick look)")
    ap.add_argument("--json", type=Path, default=None, help="write every gap's results here")
    args = ap.parse_args(argv)

    root = args.data or default_data_dir()
    rows = [r for r in read_manifest() if r["split"] == args.split]
    if args.only:
        wanted = set(args.only.split(","))
        rows = [r for r in rows if r["id"] in wanted]
    try:
        recordings = [load_recording(r, root) for r in rows]
    except MaterialMissing as e:
        print(f"error: retrieval material not found ({e}): run {FETCH} {root}", file=sys.stderr)
        return 2
    variants = dict(parse_variant(v) for v in args.variant) or {"default": SearchConfig()}
    names = list(variants)

    cache_path = root / "cache" / "retrieval_refs.json"
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    results, mismatches = [], 0
    t_start = time.perf_counter()
    for rec in recordings:
        for frac, gap in zip(GAP_FRACTIONS, gaps_for(rec.clean.shape[1], rec.sr)):
            _SCORED.clear()
            damaged = rec.clean.copy()
            damaged[:, gap.start_sample : gap.end_sample] = 0.0
            row = {"id": rec.id, "genre": rec.genre, "gap_at": f"{frac:.0%}",
                   "channels": rec.clean.shape[0], **reference_results(rec, gap, damaged, cache)}  # fmt: skip
            for name, cfg in variants.items():
                check = cfg == SearchConfig()
                p = project_results(rec, gap, damaged, cfg, check, root / "cache" / "features")
                row[f"{name}:rank1"], row[f"{name}:top5"] = p["rank1"], p["top5"]
                row[f"{name}:seconds"] = p["seconds"]
                mismatches += p["session_same"] is False
            results.append(row)
            print(
                f"{rec.id} {row['gap_at']}: "
                + " ".join(f"{v} {row[f'{v}:rank1']['lsd']:.2f}" for v in names)
                + f" | baseline {row['baseline']['lsd']:.2f} oracle {row['oracle']['lsd']:.2f}",
                file=sys.stderr,
                flush=True,
            )
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        cache_path.write_text(json.dumps(cache))

    n_mono = sum(r["channels"] == 1 for r in results)
    print(
        f"## Retrieval benchmark: {args.split} half, {len(recordings)} recordings, "
        f"{len(results)} gaps of {GAP_S:g} s ({n_mono} mono, {len(results) - n_mono} stereo)\n"
    )
    print(summary_table(results, names))
    print("\nLSD (dB) per gap:\n")
    print(gap_table(results, names))
    if any(cfg == SearchConfig() for cfg in variants.values()):
        print(
            f"\nSession check (`make_repairs`, method sim, picks the same candidate): "
            f"{'all gaps' if mismatches == 0 else f'{mismatches} MISMATCHES'}"
        )
    print(f"\n({time.perf_counter() - t_start:.0f} s)")
    if args.speed:
        print("\nSearch time on a 10-minute 44.1 kHz stereo track (real music, this half's "
              "recordings repeated), 2-s gaps, features analysed once:\n")  # fmt: skip
        print(measure_speed(recordings, variants))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
