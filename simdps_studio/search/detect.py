"""Dropout detection: digital silence, sudden level drops and clipped stretches as gap suggestions.

Three detectors, each tuned to stay silent on clean music:

* silence: runs of samples at (near) digital zero, on every channel or on one channel alone
  (judged against that channel's own level), at least ``min_silence_s`` long, that start
  abruptly (the 2.5 ms just before the run are within ``loud_range_db`` of the track's active
  level). Leading and trailing silence and silence reached by a natural decay are not dropouts.
* level drops: on a 2.5 ms RMS envelope, the level falls by at least ``level_drop_db`` within two
  frames from an active level, stays down (median; exact digital silence is left to the silence
  detector) and comes back to
  within half the drop of its former level. Natural decays and fades are far slower than two
  frames.
* clipping: runs of at least ``min_clip_samples`` consecutive samples exactly at a channel's
  positive or negative extreme, entered or left by a step of more than
  :data:`CLIP_STEP_QUANTA` quantisation steps (a slow, PCM-quantised peak also repeats its
  top value, but creeps up to it); runs closer than ``clip_merge_s`` form one stretch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from simdps_studio.core.errors import InputError
from simdps_studio.core.progress import Progress, check_cancel, sub_progress
from simdps_studio.core.types import Gap

#: Samples per processing block (bounds temporary memory on long tracks).
_BLOCK = 1 << 20

#: A one-channel silence is a dropout only where that channel correlated with the others at
#: least this much over the CHANNEL_TIE_S before and after it (the two sides of a stereo mix
#: do; a hard-panned part that stops between notes does not, but for a chance match).
CHANNEL_TIE_MIN_CORR = 0.5
CHANNEL_TIE_S = 0.1

#: Level assigned to frames of exact digital silence, in dB.
_FLOOR_DB = -200.0

#: Kinds of dropout, in order of precedence when two detections overlap.
KINDS = ("silence", "level_drop", "clipping")


@dataclass(frozen=True)
class Dropout:
    """A suspected dropout, suggested as a gap.

    Attributes
    ----------
    start_sample, end_sample : int
        The suggested gap ``[start, end)`` including the margin (clipped to the track).
    kind : str
        ``"silence"``, ``"level_drop"`` or ``"clipping"``.
    confidence : float
        In (0, 1]; higher means more certainly damage.
    core_start_sample, core_end_sample : int
        The damaged stretch itself, without the margin.
    sr : int
        Sample rate in Hz (for times in :meth:`to_dict`).
    """

    start_sample: int
    end_sample: int
    kind: str
    confidence: float
    core_start_sample: int
    core_end_sample: int
    sr: int

    def to_gap(self) -> Gap:
        """The suggestion as a :class:`~simdps_studio.core.types.Gap` (margin included)."""
        return Gap(self.start_sample, self.end_sample)

    def to_dict(self) -> dict:
        """JSON-ready dict: all fields plus ``start_s``, ``end_s`` and ``duration_s``."""
        d = asdict(self)
        d["start_s"] = self.start_sample / self.sr
        d["end_s"] = self.end_sample / self.sr
        d["duration_s"] = (self.end_sample - self.start_sample) / self.sr
        return d


def detect_dropouts(
    x: np.ndarray,
    sr: int,
    *,
    margin_s: float = 0.01,
    min_silence_s: float = 0.005,
    silence_db: float = -84.0,
    level_drop_db: float = 30.0,
    loud_range_db: float = 40.0,
    min_drop_s: float = 0.005,
    max_drop_s: float = 30.0,
    frame_s: float = 0.0025,
    min_clip_samples: int = 4,
    clip_merge_s: float = 0.05,
    progress: Progress | None = None,
    cancel=None,
) -> list[Dropout]:
    """Find digital silence, sudden level drops and clipped stretches in a recording.

    Parameters
    ----------
    x : numpy.ndarray, shape (channels, n_samples) or (n_samples,)
        Float samples (NaN/Inf count as silence).
    sr : int
        Sample rate in Hz.
    margin_s : float
        Margin added on each side of every detection (the suggested gap is larger than the damage).
    min_silence_s : float
        Shortest run of silence reported.
    silence_db : float
        Samples with ``|x|`` at or below this level (dBFS) count as silent, on every channel or
        on one (-84 dB is two LSB of 16-bit audio).
    level_drop_db : float
        Smallest sudden level drop reported (a 40 dB drop is found with room to spare).
    loud_range_db : float
        The signal before a dropout must be within this range of the track's active level (the
        90th percentile of the non-silent envelope), so quiet decays into silence are ignored.
    min_drop_s, max_drop_s : float
        Shortest and longest level drop reported.
    frame_s : float
        Envelope frame length.
    min_clip_samples : int
        Shortest run of samples at the extreme that counts as clipped.
    clip_merge_s : float
        Clipped runs closer than this are one stretch.
    progress, cancel
        Progress callback and CancelToken.

    Returns
    -------
    list of Dropout
        Sorted by start, overlapping detections merged.
    """
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise InputError(f"audio must have shape (channels, n_samples), got {x.shape}")
    if sr <= 0:
        raise InputError(f"sample rate must be positive, got {sr}")
    n = x.shape[1]
    if n == 0:
        return []
    frame = max(1, int(round(frame_s * sr)))
    amp = 10.0 ** (silence_db / 20.0)
    found: list[tuple[int, int, str, float]] = []
    # One pass per channel. Each channel is also judged on its own, against its own level: a
    # dropout in one channel only is a common stereo fault (merging keeps one suggestion where
    # all channels dropped out). The track's flags and envelope are built from the channels'.
    channels = x.shape[0]
    silent, power = None, None
    for c in range(channels):
        silent_c, power_c = _scan(
            x[c : c + 1],
            amp,
            frame,
            sub_progress(progress, c / channels, (c + 1) / channels),
            cancel,
        )
        if channels > 1:
            level_c = _to_db(power_c)
            active_c = level_c[level_c > silence_db]
            if active_c.size:
                loud_c = max(float(np.percentile(active_c, 90)) - loud_range_db, -70.0)
                runs = _silence_runs(silent_c, level_c, frame, sr, min_silence_s, loud_c)
                found += [r for r in runs if _tied_to_others(x, c, r[0], r[1], sr)]
        if silent is None:
            silent, power = silent_c, power_c / channels
        else:
            silent &= silent_c
            power += power_c / channels
    level_db = _to_db(power)
    active = level_db[level_db > silence_db]
    if active.size == 0:
        return []  # nothing but silence: no dropout can be told apart
    loud_db = max(float(np.percentile(active, 90)) - loud_range_db, -70.0)
    found += _silence_runs(silent, level_db, frame, sr, min_silence_s, loud_db)
    check_cancel(cancel)
    found += _level_drops(level_db, frame, n, sr, level_drop_db, loud_db, min_drop_s, max_drop_s)
    check_cancel(cancel)
    found += _clipped(x, sr, min_clip_samples, clip_merge_s, cancel)
    if progress is not None:
        progress(1.0, "dropouts found")
    return _merge(found, n, sr, int(round(margin_s * sr)))


def _scan(x, silence_amp, frame, progress, cancel) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample "silent on every channel" flags and the frame power envelope.

    Returns
    -------
    silent : numpy.ndarray, shape (n_samples,), bool
    power : numpy.ndarray, shape (ceil(n_samples / frame),), float64
        Mean power over channels and the frame's samples (:func:`_to_db` gives the level).
    """
    n = x.shape[1]
    n_frames = -(-n // frame)
    silent = np.empty(n, dtype=bool)
    power = np.zeros(n_frames)
    block = max(frame, (_BLOCK // frame) * frame)
    for a in range(0, n, block):
        check_cancel(cancel)
        b = min(n, a + block)
        seg = np.nan_to_num(x[:, a:b].astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        silent[a:b] = np.all(np.abs(seg) <= silence_amp, axis=0)
        sq = np.mean(seg * seg, axis=0)
        k0 = a // frame
        full = (b - a) // frame
        power[k0 : k0 + full] = sq[: full * frame].reshape(full, frame).mean(axis=1)
        if full * frame < b - a:
            power[k0 + full] = sq[full * frame :].mean()
        if progress is not None:
            progress(0.8 * b / n, "scanning")
    return silent, power


def _to_db(power: np.ndarray) -> np.ndarray:
    """Frame power to level in dB (``_FLOOR_DB`` for exact silence)."""
    return np.where(power > 0, 10.0 * np.log10(np.maximum(power, 1e-30)), _FLOOR_DB)


def _tied_to_others(x: np.ndarray, c: int, a: int, b: int, sr: int) -> bool:
    """Whether channel ``c`` moves with the others just before ``[a, b)`` and just after it: a
    dropout of one channel of a mix, not a hard-panned part that stops (its own notes, unrelated
    to the other side, may fall silent between notes)."""
    w = int(round(CHANNEL_TIE_S * sr))
    others = [k for k in range(x.shape[0]) if k != c]
    for lo, hi in ((max(a - w, 0), a), (b, min(b + w, x.shape[1]))):
        own = np.nan_to_num(x[c, lo:hi].astype(np.float64))
        rest = np.nan_to_num(x[others, lo:hi].astype(np.float64)).mean(axis=0)
        own, rest = own - own.mean(), rest - rest.mean()
        denom = float(np.sqrt(np.sum(own * own) * np.sum(rest * rest)))
        if denom == 0 or abs(float(np.sum(own * rest))) / denom < CHANNEL_TIE_MIN_CORR:
            return False
    return True


def _runs(flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and ends (exclusive) of the runs of True in ``flags``."""
    d = np.diff(flags.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


def _silence_runs(silent, level_db, frame, sr, min_s, loud_db) -> list:
    """Abrupt runs of digital silence, not touching the track's ends."""
    n = silent.size
    starts, ends = _runs(silent)
    keep = (ends - starts >= max(1, int(round(min_s * sr)))) & (starts > 0) & (ends < n)
    out = []
    for a, b in zip(starts[keep], ends[keep]):
        # Level just before the run: the last clean frame, and the frame the run starts in when
        # that one still holds signal.
        k = a // frame
        before = max(
            level_db[k - 1] if k >= 1 else _FLOOR_DB, level_db[k] if a % frame else _FLOOR_DB
        )
        if before < loud_db:
            continue  # a natural decay into silence
        out.append(
            (int(a), int(b), "silence", float(np.clip(0.6 + (before - loud_db) / 50, 0.6, 1.0)))
        )
    return out


def _level_drops(level_db, frame, n, sr, drop_db, loud_db, min_s, max_s) -> list:
    """Sudden drops of the envelope by ``drop_db`` that stay down (not silent) and recover."""
    prev = np.full(level_db.size, _FLOOR_DB)
    prev[1:] = level_db[:-1]
    prev2 = np.full(level_db.size, _FLOOR_DB)
    prev2[2:] = level_db[:-2]
    pre = np.maximum(prev, prev2)
    event = (pre >= loud_db) & (level_db <= pre - drop_db)
    firsts = np.flatnonzero(event & ~np.r_[False, event[:-1]])
    min_frames = max(1, int(np.ceil(min_s * sr / frame)))
    max_frames = max(min_frames, int(max_s * sr / frame))
    out = []
    for d in firsts[:10_000]:
        ref = pre[d]
        # Recovered when the level is back within half the drop of where it was; the damaged
        # stretch itself may flicker up a little (onsets), so it is judged by its median.
        window = level_db[d : d + max_frames + 1]
        up = np.flatnonzero(window > ref - drop_db / 2)
        if up.size == 0:
            continue  # never recovers within max_s (or the track ends): not a dropout
        r = d + int(up[0])
        if r >= level_db.size - 1 or r - d < min_frames:
            continue
        down = float(np.median(level_db[d:r]))
        if down <= _FLOOR_DB or down > ref - drop_db:
            continue  # exact digital silence (the silence detector decides), or not down enough
        depth = ref - down
        conf = float(np.clip(0.5 + (depth - drop_db) / 40.0, 0.5, 1.0))
        out.append((max(0, (d - 1) * frame), min(n, (r + 1) * frame), "level_drop", conf))
    return out


def _clipped(x, sr, min_run, merge_s, cancel) -> list:
    """Stretches of runs of samples at a channel's extreme value."""
    n = x.shape[1]
    starts_all, ends_all = [], []
    for ch in range(x.shape[0]):
        check_cancel(cancel)
        xc = np.nan_to_num(x[ch], nan=0.0, posinf=0.0, neginf=0.0)
        hi, lo = float(np.max(xc)), float(np.min(xc))
        if max(hi, -lo) < 1e-3:
            continue
        for rail, cmp in ((hi, np.greater_equal), (lo, np.less_equal)):
            if abs(rail) < 0.5 * max(hi, -lo):
                continue  # one-sided: the other polarity's extreme is not a rail
            flags = np.zeros(n, dtype=bool)
            for a in range(0, n, _BLOCK):
                flags[a : a + _BLOCK] = cmp(xc[a : a + _BLOCK], rail)
            s, e = _runs(flags)
            long_enough = e - s >= min_run
            s, e = s[long_enough], e[long_enough]
            if s.size:
                keep = _steep(xc, s, e, rail, _quantum(xc))
                starts_all.append(s[keep])
                ends_all.append(e[keep])
    if not starts_all:
        return []
    s = np.concatenate(starts_all)
    e = np.concatenate(ends_all)
    if s.size == 0:
        return []
    order = np.argsort(s)
    s, e = s[order], e[order]
    merge = int(round(merge_s * sr))
    out = []
    cur_a, cur_b, count = int(s[0]), int(e[0]), 1
    for a, b in zip(s[1:], e[1:]):
        if a <= cur_b + merge:
            cur_b, count = max(cur_b, int(b)), count + 1
        else:
            out.append((cur_a, cur_b, "clipping", min(1.0, 0.5 + 0.1 * count)))
            cur_a, cur_b, count = int(a), int(b), 1
    out.append((cur_a, cur_b, "clipping", min(1.0, 0.5 + 0.1 * count)))
    return out


#: A clipped run is entered or left by a step of more than this many quantisation steps.
CLIP_STEP_QUANTA = 8


def _quantum(xc: np.ndarray) -> float:
    """Smallest positive step between neighbouring samples (1 LSB for PCM, tiny for float)."""
    q = np.inf
    for a in range(0, xc.size - 1, _BLOCK):
        d = np.abs(np.diff(xc[a : a + _BLOCK + 1]))
        d = d[d > 0]
        if d.size:
            q = min(q, float(d.min()))
    return q if np.isfinite(q) else 0.0


def _steep(xc, starts, ends, rail, quantum) -> np.ndarray:
    """Which runs at the rail are entered or left steeply (clipping, not a smooth peak).

    A slow waveform quantised to PCM sits at its peak value for several samples too, but its
    neighbours lie within a step or two of the peak; a clipped waveform arrives at the rail (or
    leaves it) with the steep slope it had before it was cut.
    """
    n = xc.size
    before = np.where(starts > 0, np.abs(rail - xc[np.maximum(starts - 1, 0)]), 0.0)
    after = np.where(ends < n, np.abs(rail - xc[np.minimum(ends, n - 1)]), 0.0)
    return np.maximum(before, after) > CLIP_STEP_QUANTA * quantum


def _merge(found: list, n: int, sr: int, margin: int) -> list[Dropout]:
    """Add margins, merge overlapping detections (keeping the stronger kind), sort by start."""
    items = sorted(found, key=lambda f: f[0])
    merged: list[list] = []
    for a, b, kind, conf in items:
        lo, hi = max(0, a - margin), min(n, b + margin)
        if merged and lo <= merged[-1][1]:
            m = merged[-1]
            m[1] = max(m[1], hi)
            m[3] = max(m[3], b)
            if KINDS.index(kind) < KINDS.index(m[4]):
                m[4] = kind
            m[5] = max(m[5], conf)
        else:
            merged.append([lo, hi, a, b, kind, conf])
    return [
        Dropout(int(lo), int(hi), kind, float(conf), int(a), int(b), int(sr))
        for lo, hi, a, b, kind, conf in merged
    ]
