"""Generated piano textures, and the harmony tools they share with the corpus loader.

Textures (:data:`TEXTURES`): scales, arpeggios, chord progressions, Alberti bass under a melody,
and melody with accompaniment (block chords, oom-pah, waltz, broken chords, stride). Each generator
takes a random generator and returns a :class:`~simdps_studio.data.midi.Passage` in score time;
the same generator state gives the same passage. Melodies are built from four-bar phrases in forms
such as AABA, so the textures repeat themselves the way real tunes do.

:func:`harmonise` puts chords under a bare melody (folk tunes from the corpus) and
:func:`accompany` turns chords into a left-hand pattern.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from simdps_studio.data.midi import Passage, ScoreNote, fold_into_piano_range

MAJOR_PCS = (0, 2, 4, 5, 7, 9, 11)
#: Harmonic minor, so that the dominant is a major chord.
MINOR_PCS = (0, 2, 3, 5, 7, 8, 11)

# Krumhansl-Kessler key profiles (probe-tone ratings), for estimating a melody's key.
_MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])

# Functional-harmony transitions between scale degrees (0 = I ... 6 = vii), with weights.
_NEXT_DEGREE = {
    0: {3: 3, 4: 3, 5: 2, 1: 2, 2: 1},
    1: {4: 4, 6: 1, 3: 1},
    2: {5: 2, 3: 2},
    3: {4: 3, 0: 2, 1: 2},
    4: {0: 5, 5: 2, 3: 1},
    5: {1: 3, 3: 3, 4: 2},
    6: {0: 1},
}
_MINOR_AVOID = {1, 2, 6}  # diminished or augmented triads in harmonic minor

#: Meters as (bar length, beat length) in quarter notes.
METERS = {"4/4": (4.0, 1.0), "3/4": (3.0, 1.0), "2/4": (2.0, 1.0), "6/8": (3.0, 1.5)}

# Melody rhythms per bar, in quarter notes.
_RHYTHMS = {
    "4/4": [
        (1, 1, 1, 1),
        (0.5, 0.5, 1, 1, 1),
        (1.5, 0.5, 1, 1),
        (2, 1, 1),
        (1, 1, 2),
        (0.5, 0.5, 0.5, 0.5, 1, 1),
        (1, 0.5, 0.5, 2),
        (3, 1),
        (0.5,) * 8,
    ],
    "3/4": [(1, 1, 1), (2, 1), (0.5, 0.5, 1, 1), (1.5, 0.5, 1), (1, 0.5, 0.5, 1), (3,)],
    "2/4": [(1, 1), (0.5, 0.5, 1), (0.5,) * 4, (1.5, 0.5), (0.25, 0.25, 0.5, 1), (2,)],
    "6/8": [(1.5, 1.5), (1, 0.5, 1, 0.5), (0.5,) * 6, (1.5, 1, 0.5), (3,), (1, 0.5, 1.5)],
}


@dataclass(frozen=True)
class Key:
    """A key: tonic pitch class (0 = C) and mode."""

    tonic: int
    minor: bool = False

    @property
    def scale(self) -> tuple[int, ...]:
        """The seven pitch classes of the scale, starting on the tonic."""
        steps = MINOR_PCS if self.minor else MAJOR_PCS
        return tuple((self.tonic + s) % 12 for s in steps)

    def triad(self, degree: int, seventh: bool = False) -> tuple[int, ...]:
        """Pitch classes of the chord on scale ``degree`` (0-6), root first."""
        scale = self.scale
        steps = (0, 2, 4, 6) if seventh else (0, 2, 4)
        return tuple(scale[(degree + s) % 7] for s in steps)

    def step_pitch(self, step: int, tonic_pitch: int) -> int:
        """MIDI pitch of diatonic ``step`` (0 = ``tonic_pitch``, 7 = an octave up, negative down)."""
        octave, index = divmod(step, 7)
        return tonic_pitch + 12 * octave + (self.scale[index] - self.tonic) % 12


@dataclass(frozen=True)
class Chord:
    """A chord over ``[onset_q, onset_q + duration_q)``: pitch classes, root first."""

    onset_q: float
    duration_q: float
    pcs: tuple[int, ...]


def estimate_key(notes: Sequence[ScoreNote]) -> Key:
    """Krumhansl-Schmuckler key finding: correlate the duration-weighted pitch-class histogram
    with the 24 rotated key profiles and take the best."""
    histogram = np.zeros(12)
    for n in notes:
        histogram[n.pitch % 12] += n.duration_q
    if not histogram.any():
        return Key(0)
    best, best_r = Key(0), -np.inf
    for minor, profile in ((False, _MAJOR_PROFILE), (True, _MINOR_PROFILE)):
        for tonic in range(12):
            r = np.corrcoef(histogram, np.roll(profile, tonic))[0, 1]
            if r > best_r:
                best, best_r = Key(tonic, minor), r
    return best


def close_voicing(pcs: Sequence[int], center: float, n_notes: int | None = None) -> list[int]:
    """Chord tones in close position whose mean pitch lies nearest ``center``."""
    n_notes = n_notes or len(pcs)
    low = int(center) - 12
    candidates = [p for p in range(low, low + 36) if p % 12 in set(pcs)]
    best = min(
        range(len(candidates) - n_notes + 1),
        key=lambda s: abs(np.mean(candidates[s : s + n_notes]) - center),
    )
    return candidates[best : best + n_notes]


def nearest_pitch(pc: int, center: float) -> int:
    """The pitch of class ``pc`` nearest ``center``."""
    base = int(round(center))
    return min(
        (base + d for d in range(-6, 7) if (base + d) % 12 == pc % 12),
        key=lambda p: abs(p - center),
    )


def progression(
    rng: np.random.Generator,
    key: Key,
    n_bars: int,
    bar_q: float,
    chords_per_bar: int,
    *,
    start_q: float = 0.0,
    cadence: str = "authentic",
) -> list[Chord]:
    """A random functional chord progression of ``n_bars`` bars ending in a cadence.

    ``cadence`` is ``"authentic"`` (V-I) or ``"half"`` (ends on V).
    """
    n_slots = n_bars * chords_per_bar
    degrees = [0]
    while len(degrees) < n_slots:
        options = {
            d: w
            for d, w in _NEXT_DEGREE[degrees[-1]].items()
            if not (key.minor and d in _MINOR_AVOID)
        } or {4: 1}
        choices = np.array(list(options))
        weights = np.array(list(options.values()), dtype=float)
        degrees.append(int(rng.choice(choices, p=weights / weights.sum())))
    if cadence == "authentic" and n_slots >= 2:
        degrees[-2:] = [4, 0]
    elif n_slots >= 1:
        degrees[-1] = 4
    slot_q = bar_q / chords_per_bar
    sevenths = rng.random() < 0.5
    return [
        Chord(start_q + i * slot_q, slot_q, key.triad(d, seventh=sevenths and d == 4))
        for i, d in enumerate(degrees)
    ]


def harmonise(
    melody: Sequence[ScoreNote],
    key: Key,
    spans_q: Sequence[tuple[float, float]],
    beat_q: float,
) -> list[Chord]:
    """Choose one triad per span so that the melody's strong notes are chord tones.

    Greedy: each span's chord maximises the duration of melody notes that belong to it (notes on
    beats count double), minus the duration of the ones that do not, plus a small preference for
    the primary triads and for functional successions; the last span ends on the tonic.

    Parameters
    ----------
    melody : sequence of ScoreNote
        The tune.
    key : Key
        Its key (see :func:`estimate_key`).
    spans_q : sequence of (onset_q, duration_q)
        The harmonic rhythm, e.g. one span per bar.
    beat_q : float
        Beat length, to tell strong notes.
    """
    degrees = [0, 3, 4, 5] if key.minor else [0, 3, 4, 5, 1, 2]
    prior = {0: 0.3, 3: 0.2, 4: 0.25, 5: 0.1, 1: 0.08, 2: 0.02}
    onsets = np.array([n.onset_q for n in melody])
    chords: list[Chord] = []
    previous = 0
    for i, (start, length) in enumerate(spans_q):
        inside = [n for n, o in zip(melody, onsets) if start - 1e-9 <= o < start + length - 1e-9]
        scores = {}
        for d in degrees:
            pcs = set(key.triad(d))
            score = prior[d] + (0.15 if d in _NEXT_DEGREE[previous] else 0.0)
            for n in inside:
                strong = abs((n.onset_q - start) / beat_q - round((n.onset_q - start) / beat_q))
                weight = n.duration_q * (2.0 if strong < 1e-6 else 1.0)
                score += weight if n.pitch % 12 in pcs else -0.5 * weight
            scores[d] = score
        if i == len(spans_q) - 1:
            scores[0] += 2.0
        previous = max(scores, key=scores.get)
        chords.append(Chord(start, length, key.triad(previous)))
    return chords


def accompany(
    chords: Sequence[Chord],
    pattern: str,
    beat_q: float,
    *,
    center: float = 55.0,
    bass_center: float = 41.0,
    part: int = 1,
) -> list[ScoreNote]:
    """A left-hand accompaniment: ``pattern`` played over each chord.

    Patterns: ``"block"`` (bass and chord held), ``"oompah"`` (bass on strong beats, chord on weak
    ones; a waltz in 3/4), ``"alberti"`` (low-high-middle-high in eighths), ``"broken"`` (rising and
    falling arpeggio in eighths), ``"stride"`` (bass octave, chord off the beat), ``"bass"``
    (held bass octaves only).
    """
    notes: list[ScoreNote] = []

    def add(onset: float, duration: float, pitches: Sequence[int]) -> None:
        notes.extend(ScoreNote(onset, duration, p, part) for p in pitches)

    for chord in chords:
        bass = nearest_pitch(chord.pcs[0], bass_center)
        voicing = close_voicing(chord.pcs[:3], center, 3)
        start, end = chord.onset_q, chord.onset_q + chord.duration_q
        if pattern == "block":
            add(start, chord.duration_q, [bass, *voicing])
        elif pattern == "bass":
            add(start, chord.duration_q, [bass, bass - 12] if bass - 12 >= 28 else [bass])
        elif pattern in ("oompah", "stride"):
            beats = np.arange(start, end - 1e-9, beat_q)
            for k, t in enumerate(beats):
                length = min(beat_q, end - t) * 0.9
                # Triple time is a waltz (bass, chord, chord); otherwise bass on alternate beats.
                if (k == 0) if len(beats) == 3 else (k % 2 == 0):
                    low = [bass, bass - 12] if pattern == "stride" and bass - 12 >= 28 else [bass]
                    if k % 4 == 2:  # alternate root and fifth on the third beat
                        fifth = nearest_pitch(chord.pcs[2 % len(chord.pcs)], bass_center)
                        low = [fifth] + (
                            [fifth - 12] if pattern == "stride" and fifth >= 40 else []
                        )
                    add(float(t), length, low)
                else:
                    add(float(t), length, close_voicing(chord.pcs, center + 3, 3))
        elif pattern in ("alberti", "broken"):
            if pattern == "alberti":
                cycle = [voicing[0], voicing[2], voicing[1], voicing[2]]
            else:
                up = [bass, bass + 7, bass + 12, nearest_pitch(chord.pcs[1], bass + 16)]
                cycle = up + up[-2:0:-1]
            for k, t in enumerate(np.arange(start, end - 1e-9, 0.5)):
                add(float(t), min(0.5, end - t), [cycle[k % len(cycle)]])
        else:
            raise ValueError(f"unknown accompaniment pattern: {pattern}")
    return notes


def melody_over(
    rng: np.random.Generator,
    key: Key,
    chords: Sequence[Chord],
    meter: str,
    start_q: float,
    n_bars: int,
    *,
    tonic_pitch: int,
    step_range: tuple[int, int] = (0, 11),
    final: str = "tonic",
) -> list[ScoreNote]:
    """A melody over ``n_bars`` bars: chord tones on the beats, steps between them.

    Diatonic steps are counted from ``tonic_pitch``; the line stays within ``step_range`` and its
    last note is the tonic (``final="tonic"``) or a tone of the last chord.
    """
    bar_q, beat_q = METERS[meter]
    rhythms = _RHYTHMS[meter]
    notes: list[ScoreNote] = []
    step = int(rng.integers(step_range[0] + 2, step_range[1] - 1))
    chord_at = {round(c.onset_q, 6): c for c in chords}
    current = chords[0]
    for bar in range(n_bars):
        t = start_q + bar * bar_q
        for duration in rhythms[int(rng.integers(len(rhythms)))]:
            current = chord_at.get(round(t, 6), current)
            on_beat = abs((t - start_q) / beat_q - round((t - start_q) / beat_q)) < 1e-6
            if on_beat:
                tones = [
                    s
                    for s in range(step - 3, step + 4)
                    if key.scale[s % 7] in current.pcs and step_range[0] <= s <= step_range[1]
                ]
                if tones:
                    distance = np.abs(np.array(tones) - step) + 1.0
                    step = int(rng.choice(tones, p=(1 / distance) / (1 / distance).sum()))
            else:
                step += int(rng.choice([-2, -1, 0, 1, 2], p=[0.1, 0.35, 0.1, 0.35, 0.1]))
            step = int(np.clip(step, *step_range))
            notes.append(ScoreNote(t, duration, key.step_pitch(step, tonic_pitch), 0))
            t += duration
    if notes:
        last = notes[-1]
        if final == "tonic":
            target = [s for s in range(step_range[0], step_range[1] + 1) if s % 7 == 0]
        else:
            target = [
                s
                for s in range(step_range[0], step_range[1] + 1)
                if key.scale[s % 7] in current.pcs
            ]
        step = min(target, key=lambda s: abs(s - step)) if target else step
        notes[-1] = ScoreNote(last.onset_q, last.duration_q, key.step_pitch(step, tonic_pitch), 0)
    return notes


# --- texture generators ---------------------------------------------------------------------


def _random_key(rng: np.random.Generator) -> Key:
    return Key(int(rng.integers(12)), bool(rng.random() < 0.3))


def _tonic_pitch(key: Key, center: int) -> int:
    """Pitch of the tonic nearest ``center``."""
    return nearest_pitch(key.tonic, center)


def _passage(
    name: str,
    notes: list[ScoreNote],
    meter: str,
    n_bars: int,
    qpm: float,
    chords: Sequence[Chord] = (),
    pedal_modes: tuple[str, ...] = ("none", "bar", "half", "harmony"),
) -> Passage:
    bar_q, beat_q = METERS[meter]
    notes = sorted(
        (replace(n, pitch=fold_into_piano_range(n.pitch)) for n in notes),
        key=lambda n: (n.onset_q, -n.pitch),
    )
    end_q = max([n_bars * bar_q] + [n.onset_q + n.duration_q for n in notes])
    return Passage(
        name=name,
        notes=tuple(notes),
        bars_q=tuple(float(b * bar_q) for b in range(n_bars)),
        beat_q=beat_q,
        qpm=qpm,
        end_q=end_q,
        harmony_q=tuple(c.onset_q for c in chords),
        pedal_modes=pedal_modes,
        category="texture",
    )


def phrase_form(rng: np.random.Generator) -> str:
    """A song form in four-bar phrases, e.g. ``"AABA"``."""
    return str(rng.choice(["AABA", "ABAB", "AABB", "ABAC", "AAB", "ABA", "AABA'"]))


def _formed_harmony(
    rng: np.random.Generator, key: Key, form: str, bar_q: float, per_bar: int
) -> tuple[list[Chord], list[tuple[str, float]]]:
    """Chords for a phrase form: a phrase label that returns gets the same progression."""
    phrases: dict[str, list[Chord]] = {}
    chords: list[Chord] = []
    starts: list[tuple[str, float]] = []
    labels = [c for c in form if c != "'"]
    for i, label in enumerate(labels):
        start = i * 4 * bar_q
        if label not in phrases:
            cadence = "half" if label == "B" else "authentic"
            phrases[label] = progression(rng, key, 4, bar_q, per_bar, cadence=cadence)
        chords += [Chord(c.onset_q + start, c.duration_q, c.pcs) for c in phrases[label]]
        starts.append((label, start))
    return chords, starts


def _formed_melody(
    rng: np.random.Generator,
    key: Key,
    chords: Sequence[Chord],
    starts: Sequence[tuple[str, float]],
    meter: str,
    tonic_pitch: int,
) -> list[ScoreNote]:
    """A melody whose phrases repeat with the form (same label, same notes)."""
    bar_q, _ = METERS[meter]
    made: dict[str, list[ScoreNote]] = {}
    notes: list[ScoreNote] = []
    for label, start in starts:
        if label not in made:
            phrase_chords = [c for c in chords if start <= c.onset_q < start + 4 * bar_q]
            final = "chord" if label == "B" else "tonic"
            made[label] = [
                ScoreNote(n.onset_q - start, n.duration_q, n.pitch, n.part)
                for n in melody_over(
                    rng, key, phrase_chords, meter, start, 4, tonic_pitch=tonic_pitch, final=final
                )
            ]
        notes += [ScoreNote(n.onset_q + start, n.duration_q, n.pitch, 0) for n in made[label]]
    return notes


def scales_texture(rng: np.random.Generator, name: str) -> Passage:
    """Scale runs up and down, one hand or two (octaves, thirds/tenths, or contrary motion)."""
    key = _random_key(rng)
    unit_q = float(rng.choice([0.5, 0.25, 1.0 / 3.0]))
    n_runs = int(rng.integers(3, 7))
    hands = str(rng.choice(["right", "octaves", "tenths", "contrary"]))
    rh_tonic = _tonic_pitch(key, int(rng.integers(60, 73)))
    notes: list[ScoreNote] = []
    t = 0.0
    for _ in range(n_runs):
        span = int(rng.choice([7, 14]))
        first = int(rng.integers(0, 5)) if rng.random() < 0.5 else 0
        steps = list(range(first, first + span + 1)) + list(range(first + span - 1, first - 1, -1))
        for k, s in enumerate(steps):
            last = k == len(steps) - 1
            duration = 1.0 if last else unit_q
            notes.append(ScoreNote(t, duration, key.step_pitch(s, rh_tonic), 0))
            if hands == "octaves":
                notes.append(ScoreNote(t, duration, key.step_pitch(s, rh_tonic - 12), 1))
            elif hands == "tenths":
                notes.append(ScoreNote(t, duration, key.step_pitch(s - 9, rh_tonic), 1))
            elif hands == "contrary":
                notes.append(
                    ScoreNote(t, duration, key.step_pitch(first - (s - first), rh_tonic - 12), 1)
                )
            t += duration
        t = float(np.ceil(t + 1.0))  # a breath between runs, back on a beat
    n_bars = int(np.ceil(t / 4.0))
    qpm = float(rng.uniform(4.0, 9.0)) * 60.0 * unit_q  # 4-9 notes per second
    return _passage(name, notes, "4/4", n_bars, qpm, pedal_modes=("none", "none", "beat"))


def arpeggios_texture(rng: np.random.Generator, name: str) -> Passage:
    """Broken-chord arpeggios over a progression, up and down two or three octaves."""
    key = _random_key(rng)
    n_bars = int(rng.integers(6, 13))
    chords = progression(rng, key, n_bars, 4.0, 1)
    unit_q = float(rng.choice([0.25, 1.0 / 3.0, 0.5]))
    octaves = int(rng.integers(2, 4))
    low_center = float(rng.uniform(48, 60))
    with_bass = rng.random() < 0.6
    notes: list[ScoreNote] = []
    for chord in chords:
        base = nearest_pitch(chord.pcs[0], low_center)
        pitches = sorted(p for p in range(base, base + 12 * octaves + 1) if p % 12 in chord.pcs[:3])
        cycle = pitches + pitches[-2:0:-1]
        n_steps = int(round(chord.duration_q / unit_q))
        for k in range(n_steps):
            notes.append(ScoreNote(chord.onset_q + k * unit_q, unit_q, cycle[k % len(cycle)], 0))
        if with_bass:
            bass = nearest_pitch(chord.pcs[0], 40)
            notes += [ScoreNote(chord.onset_q, chord.duration_q, p, 1) for p in (bass, bass - 12)]
    qpm = float(rng.uniform(3.5, 8.0)) * 60.0 * unit_q
    return _passage(name, notes, "4/4", n_bars, qpm, chords, ("harmony", "harmony", "none"))


def chords_texture(rng: np.random.Generator, name: str) -> Passage:
    """A chord progression for both hands: right-hand close chords, left-hand bass octaves."""
    key = _random_key(rng)
    meter = str(rng.choice(["4/4", "3/4"]))
    bar_q, beat_q = METERS[meter]
    n_bars = int(rng.integers(8, 17))
    chords = progression(rng, key, n_bars, bar_q, int(rng.choice([1, 2])) if meter == "4/4" else 1)
    rhythm = str(rng.choice(["held", "beats", "dotted"]))
    center = float(rng.uniform(62, 72))
    notes: list[ScoreNote] = []
    for chord in chords:
        voicing = close_voicing(chord.pcs, center, int(rng.choice([3, 4])))
        bass = nearest_pitch(chord.pcs[0], 40)
        low = [bass, bass - 12] if bass - 12 >= 28 else [bass]
        if rhythm == "held":
            onsets = [(chord.onset_q, chord.duration_q)]
        elif rhythm == "beats":
            onsets = [
                (t, beat_q)
                for t in np.arange(chord.onset_q, chord.onset_q + chord.duration_q - 1e-9, beat_q)
            ]
        else:
            onsets = [(chord.onset_q, 1.5 * beat_q)]
            if chord.duration_q > 1.5 * beat_q:
                onsets.append((chord.onset_q + 1.5 * beat_q, chord.duration_q - 1.5 * beat_q))
        for t, d in onsets:
            notes += [ScoreNote(float(t), float(d), p, 0) for p in voicing]
        notes += [ScoreNote(chord.onset_q, chord.duration_q, p, 1) for p in low]
    qpm = float(rng.uniform(60, 120))
    return _passage(name, notes, meter, n_bars, qpm, chords, ("harmony", "bar", "none"))


def alberti_texture(rng: np.random.Generator, name: str) -> Passage:
    """A classical right-hand melody over an Alberti bass."""
    key = _random_key(rng)
    meter = str(rng.choice(["4/4", "2/4"]))
    bar_q, _ = METERS[meter]
    form = phrase_form(rng)
    chords, starts = _formed_harmony(
        rng, key, form, bar_q, 1 if meter == "2/4" else int(rng.choice([1, 2]))
    )
    melody = _formed_melody(rng, key, chords, starts, meter, _tonic_pitch(key, 67))
    accompaniment = accompany(chords, "alberti", 1.0, center=float(rng.uniform(50, 58)))
    qpm = float(rng.uniform(80, 140))
    n_bars = 4 * len(starts)
    return _passage(name, melody + accompaniment, meter, n_bars, qpm, chords, ("none", "harmony"))


def melody_texture(rng: np.random.Generator, name: str) -> Passage:
    """A song-form melody with a left-hand accompaniment pattern."""
    key = _random_key(rng)
    meter = str(rng.choice(list(METERS)))
    bar_q, beat_q = METERS[meter]
    form = phrase_form(rng)
    per_bar = int(rng.choice([1, 2])) if meter == "4/4" else 1
    chords, starts = _formed_harmony(rng, key, form, bar_q, per_bar)
    melody = _formed_melody(
        rng, key, chords, starts, meter, _tonic_pitch(key, int(rng.integers(64, 72)))
    )
    patterns = ["block", "oompah", "broken", "bass"] + (
        ["stride"] if meter in ("2/4", "4/4") else []
    )
    pattern = str(rng.choice(patterns))
    accompaniment = accompany(chords, pattern, beat_q, center=float(rng.uniform(52, 58)))
    qpm = float(rng.uniform(66, 132))
    n_bars = 4 * len(starts)
    return _passage(name, melody + accompaniment, meter, n_bars, qpm, chords)


#: Texture generators by name: ``generator(rng, name) -> Passage``.
TEXTURES: dict[str, Callable[[np.random.Generator, str], Passage]] = {
    "scales": scales_texture,
    "arpeggios": arpeggios_texture,
    "chords": chords_texture,
    "alberti": alberti_texture,
    "melody": melody_texture,
}


def generate_texture(kind: str, rng: np.random.Generator, name: str | None = None) -> Passage:
    """Generate one texture of ``kind`` (a key of :data:`TEXTURES`)."""
    if kind not in TEXTURES:
        raise ValueError(f"unknown texture: {kind} (known: {', '.join(TEXTURES)})")
    return TEXTURES[kind](rng, name or f"texture/{kind}")
