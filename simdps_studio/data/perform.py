"""Turn a score-time :class:`~simdps_studio.data.midi.Passage` into a human-ish performance.

Everything a pianist varies and a synthesiser cannot guess is drawn here from one random generator:
tempo, rubato (a smooth tempo curve), a closing ritardando, held fermatas, dynamics (a smooth level
curve plus metric accents and a louder melody), onset jitter and melody lead, articulation, and the
sustain pedal (CC 64) changed with the bars, half bars, beats or harmonies.
"""

from __future__ import annotations

import numpy as np

from simdps_studio.data.midi import (
    Passage,
    Performance,
    PerformedNote,
    fold_into_piano_range,
    merge_unisons,
)

#: Score-time resolution of the tempo map, in quarter notes.
_GRID_Q = 1.0 / 48.0


def smooth_curve(
    rng: np.random.Generator, positions: np.ndarray, period: float, n_terms: int = 3
) -> np.ndarray:
    """A random smooth curve of about unit amplitude: a sum of sinusoids of nearby periods.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the periods and phases.
    positions : numpy.ndarray, shape (n,)
        Where to evaluate the curve (any unit; ``period`` uses the same one).
    period : float
        Typical period; each term's period is drawn from ``[period / 2, 2 * period]``.
    n_terms : int
        Number of sinusoids.

    Returns
    -------
    numpy.ndarray, shape (n,)
        Values with a root-mean-square of about ``1 / sqrt(2)``.
    """
    periods = period * np.exp(rng.uniform(np.log(0.5), np.log(2.0), n_terms))
    phases = rng.uniform(0.0, 2.0 * np.pi, n_terms)
    waves = np.sin(2.0 * np.pi * positions[None, :] / periods[:, None] + phases[:, None])
    return waves.sum(axis=0) / np.sqrt(n_terms)


def _bar_length_q(passage: Passage) -> float:
    """Typical bar length: the most common distance between downbeats (else four beats)."""
    if len(passage.bars_q) >= 2:
        diffs = np.round(np.diff(passage.bars_q), 6)
        values, counts = np.unique(diffs, return_counts=True)
        return float(values[np.argmax(counts)])
    return 4.0 * passage.beat_q


def tempo_map(
    passage: Passage, rng: np.random.Generator, qpm: float
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Seconds at each point of a fine score-time grid, with rubato, ritardando and fermatas.

    Returns
    -------
    grid_q : numpy.ndarray, shape (n,)
        Score positions in quarter notes.
    time_s : numpy.ndarray, shape (n,)
        Performance time of each grid position; increasing, ``time_s[0] == 0``.
    info : dict
        The drawn parameters (for the manifest).
    """
    last_q = max([passage.end_q] + [n.onset_q + n.duration_q for n in passage.notes])
    grid_q = np.arange(0.0, last_q + 2.0 * _GRID_Q, _GRID_Q)
    bar_q = _bar_length_q(passage)
    depth = float(rng.choice([0.0, rng.uniform(0.02, 0.09)], p=[0.25, 0.75]))
    log_speed = depth * smooth_curve(rng, grid_q, 2.0 * bar_q)
    speed = np.exp(log_speed)
    rit = float(rng.uniform(0.1, 0.35)) if rng.random() < 0.7 else 0.0
    if rit > 0.0:
        span = min(bar_q, passage.end_q)
        ramp = np.clip((grid_q - (passage.end_q - span)) / max(span, 1e-9), 0.0, 1.0)
        speed *= 1.0 - rit * ramp**2
    hold = float(rng.uniform(1.3, 2.2))
    held = np.zeros(grid_q.shape, dtype=bool)
    for onset_q, duration_q in passage.fermatas_q:
        held |= (grid_q >= onset_q) & (grid_q < onset_q + duration_q)
    speed[held] /= hold
    seconds_per_step = 60.0 / (qpm * speed) * _GRID_Q
    time_s = np.concatenate([[0.0], np.cumsum(seconds_per_step[:-1])])
    info = {"qpm": round(qpm, 2), "rubato": round(depth, 4), "ritardando": round(rit, 3)}
    return grid_q, time_s, info


def _pedal_points_q(passage: Passage, mode: str, bar_q: float) -> np.ndarray:
    """Score positions where the pedal is changed (lifted and pressed again)."""
    bars = np.asarray(passage.bars_q, dtype=float)
    if mode == "bar":
        points = bars
    elif mode == "half":
        points = np.concatenate([bars, bars + bar_q / 2.0])
    elif mode == "beat":
        points = np.arange(bars[0] if bars.size else 0.0, passage.end_q, passage.beat_q)
    elif mode == "harmony":
        points = np.asarray(passage.harmony_q, dtype=float) if passage.harmony_q else bars
    else:
        return np.zeros(0)
    return np.unique(points[(points >= 0.0) & (points < passage.end_q)])


def perform(
    passage: Passage,
    rng: np.random.Generator,
    *,
    qpm: float | None = None,
    pedal_mode: str | None = None,
    tempo_range: tuple[float, float] = (0.82, 1.18),
    lead_in_s: float = 0.1,
) -> Performance:
    """Perform a passage: timing, dynamics, articulation and pedal drawn from ``rng``.

    Parameters
    ----------
    passage : Passage
        Music in score time.
    rng : numpy.random.Generator
        The only source of randomness (same state, same performance).
    qpm : float, optional
        Tempo in quarter notes per minute; default: the passage's tempo times a factor drawn from
        ``tempo_range``.
    pedal_mode : str, optional
        One of :data:`~simdps_studio.data.midi.PEDAL_MODES`; default: drawn from the passage's.
    tempo_range : (float, float)
        Range of the drawn tempo factor.
    lead_in_s : float
        Silence before the first beat.

    Returns
    -------
    Performance
        Notes sorted by start, pedal changes, and ``info`` with the drawn parameters.
    """
    if qpm is None:
        qpm = passage.qpm * float(rng.uniform(*tempo_range))
    grid_q, time_s, info = tempo_map(passage, rng, qpm)

    def seconds(q: np.ndarray | float) -> np.ndarray:
        # A short lead-in: onset jitter and melody lead must not push the first note before zero.
        return lead_in_s + np.interp(q, grid_q, time_s)

    bar_q = _bar_length_q(passage)
    bars = np.asarray(passage.bars_q, dtype=float)
    n_parts = len({n.part for n in passage.notes})
    base = float(rng.uniform(42.0, 96.0))
    swell = float(rng.uniform(4.0, 18.0))
    melody_boost = float(rng.uniform(3.0, 12.0)) if n_parts > 1 else 0.0
    accent = float(rng.uniform(1.0, 7.0))
    vel_jitter = float(rng.uniform(2.0, 6.0))
    onset_jitter_s = float(rng.uniform(0.002, 0.012))
    melody_lead_s = float(rng.uniform(0.0, 0.018))
    legato = float(rng.uniform(0.8, 1.0))

    onsets_q = np.array([n.onset_q for n in passage.notes], dtype=float)
    dyn = base + swell * smooth_curve(rng, onsets_q, 4.0 * bar_q) if onsets_q.size else onsets_q
    bar_index = np.searchsorted(bars, onsets_q + 1e-6, side="right") - 1
    in_bar_q = onsets_q - bars[np.clip(bar_index, 0, None)] if bars.size else onsets_q
    on_downbeat = np.abs(in_bar_q) < 1e-6
    beat_pos = in_bar_q / passage.beat_q
    on_beat = np.abs(beat_pos - np.round(beat_pos)) < 1e-6

    notes: list[PerformedNote] = []
    for i, n in enumerate(passage.notes):
        velocity = dyn[i] + accent * on_downbeat[i] + 0.4 * accent * on_beat[i]
        velocity += melody_boost * (n.part == 0) + rng.normal(0.0, vel_jitter)
        start = float(seconds(n.onset_q)) + rng.normal(0.0, onset_jitter_s)
        start -= melody_lead_s * (n.part == 0 and n_parts > 1)
        hold = n.duration_q * legato * float(rng.uniform(0.93, 1.05))
        end = max(float(seconds(n.onset_q + hold)), start + 0.05)
        notes.append(
            PerformedNote(
                start_s=max(start, 0.0),
                end_s=end,
                pitch=fold_into_piano_range(n.pitch),
                velocity=int(np.clip(round(velocity), 12, 122)),
            )
        )
    notes = merge_unisons(notes)

    if pedal_mode is None:
        pedal_mode = str(rng.choice(passage.pedal_modes))
    pedal: list[tuple[float, bool]] = []
    points_s = seconds(_pedal_points_q(passage, pedal_mode, bar_q))
    if notes and points_s.size:
        last_note_s = max(n.end_s for n in notes)
        pedal.append((float(points_s[0]) + float(rng.uniform(0.03, 0.1)), True))
        for t in points_s[1:]:
            up = float(t) + float(rng.uniform(0.005, 0.03))
            down = float(t) + float(rng.uniform(0.06, 0.14))
            if up - pedal[-1][0] < 0.12:  # too dense to change cleanly: skip this change
                continue
            pedal += [(up, False), (down, True)]
        pedal.append((max(last_note_s, pedal[-1][0]) + float(rng.uniform(0.2, 0.9)), False))
    info.update(
        {
            "pedal": pedal_mode,
            "velocity_base": round(base, 1),
            "legato": round(legato, 3),
            "onset_jitter_s": round(onset_jitter_s, 4),
        }
    )
    bars_s = tuple(float(t) for t in seconds(bars))
    return Performance(notes=tuple(notes), pedal=tuple(pedal), bars_s=bars_s, info=info)
