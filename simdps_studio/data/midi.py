"""Score and performance values, and the one MIDI writer of the data pipeline.

A :class:`Passage` is music in score time (quarter notes, ``*_q``): what the music21 corpus and the
texture generators produce. A :class:`Performance` is the same music in seconds with velocities and
sustain pedal: what :func:`simdps_studio.data.perform.perform` makes of a passage and what
:func:`write_midi` hands to FluidSynth.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import mido

#: Lowest and highest key of an 88-key piano (MIDI note numbers).
PIANO_LOW, PIANO_HIGH = 21, 108

#: MIDI resolution: 480 ticks per beat at 120 beats per minute is 960 ticks per second.
_TICKS_PER_BEAT = 480
_TICKS_PER_S = 960
_TEMPO_US = 500_000

#: Pedal modes a passage may ask for (see :mod:`simdps_studio.data.perform`).
PEDAL_MODES = ("none", "bar", "half", "beat", "harmony")


@dataclass(frozen=True)
class ScoreNote:
    """One note in score time.

    Attributes
    ----------
    onset_q, duration_q : float
        Start and length in quarter notes from the start of the passage.
    pitch : int
        MIDI note number.
    part : int
        Part index; 0 is the top part (melody), larger numbers lie lower (accompaniment, bass).
    """

    onset_q: float
    duration_q: float
    pitch: int
    part: int = 0


@dataclass(frozen=True)
class Passage:
    """A piece of music in score time, ready to be performed.

    Attributes
    ----------
    name : str
        Stable piece identifier (``"bach/bwv66.6"``, ``"texture/alberti#3"``); the split is by name.
    notes : tuple of ScoreNote
        Sorted by onset.
    bars_q : tuple of float
        Onsets of the bars (downbeats), ascending; used for accents and pedalling.
    beat_q : float
        Length of one beat (1.0 in 4/4, 1.5 in 6/8).
    qpm : float
        Suggested tempo in quarter notes per minute.
    end_q : float
        End of the passage (at least the end of the last note).
    harmony_q : tuple of float
        Onsets of harmony changes where known (generated textures), else empty.
    fermatas_q : tuple of (float, float)
        ``(onset_q, duration_q)`` of notes with a fermata (held longer in performance).
    pedal_modes : tuple of str
        The pedal modes that suit this passage; one is drawn per performance.
    category : str
        ``"chorale"``, ``"keyboard"``, ``"folk"``, ``"texture"``, ...
    """

    name: str
    notes: tuple[ScoreNote, ...]
    bars_q: tuple[float, ...]
    beat_q: float
    qpm: float
    end_q: float
    harmony_q: tuple[float, ...] = ()
    fermatas_q: tuple[tuple[float, float], ...] = ()
    pedal_modes: tuple[str, ...] = ("none", "bar", "half", "beat", "bar", "half")
    category: str = ""


@dataclass(frozen=True)
class PerformedNote:
    """One note in seconds: ``start_s`` to ``end_s`` at MIDI ``velocity`` (1-127)."""

    start_s: float
    end_s: float
    pitch: int
    velocity: int


@dataclass(frozen=True)
class Performance:
    """A performed passage: notes, sustain-pedal changes ``(time_s, down)``, the performed times of
    the passage's bar lines (``bars_s``) and the drawn parameters (``info``)."""

    notes: tuple[PerformedNote, ...]
    pedal: tuple[tuple[float, bool], ...] = ()
    bars_s: tuple[float, ...] = ()
    info: dict = field(default_factory=dict, compare=False)

    @property
    def end_s(self) -> float:
        """Time of the last note-off or pedal change, in seconds."""
        ends = [n.end_s for n in self.notes] + [t for t, _ in self.pedal]
        return max(ends, default=0.0)


def fold_into_piano_range(pitch: int) -> int:
    """Move ``pitch`` by whole octaves into the 88-key range."""
    while pitch < PIANO_LOW:
        pitch += 12
    while pitch > PIANO_HIGH:
        pitch -= 12
    return pitch


def excerpt(passage: Passage, start_q: float, stop_q: float) -> Passage:
    """Cut ``[start_q, stop_q)`` out of a passage and shift it to start at zero.

    Notes that start inside the window are kept (their ends clipped to ``stop_q``); bars, harmony
    changes and fermatas are shifted with them.
    """
    eps = 1e-9
    notes = tuple(
        replace(n, onset_q=n.onset_q - start_q, duration_q=min(n.duration_q, stop_q - n.onset_q))
        for n in passage.notes
        if start_q - eps <= n.onset_q < stop_q - eps
    )

    def window(values: tuple[float, ...]) -> tuple[float, ...]:
        return tuple(v - start_q for v in values if start_q - eps <= v < stop_q - eps)

    fermatas = tuple(
        (on - start_q, dur) for on, dur in passage.fermatas_q if start_q - eps <= on < stop_q - eps
    )
    return replace(
        passage,
        notes=notes,
        bars_q=window(passage.bars_q) or (0.0,),
        harmony_q=window(passage.harmony_q),
        fermatas_q=fermatas,
        end_q=stop_q - start_q,
    )


def merge_unisons(notes: list[PerformedNote], *, min_len_s: float = 0.03) -> list[PerformedNote]:
    """Make same-pitch notes on one channel playable: no two sound at once.

    Merged voices often double a pitch (alto and tenor in unison) or overlap a repeated pitch; on a
    single MIDI channel the first note-off would cut both. Notes with the same pitch and onset become
    one (loudest velocity, longest end); an earlier note that still sounds when the next one of its
    pitch starts is cut just before it.
    """
    by_pitch: dict[int, list[PerformedNote]] = {}
    for n in sorted(notes, key=lambda n: (n.pitch, n.start_s, -n.end_s)):
        group = by_pitch.setdefault(n.pitch, [])
        if group and n.start_s - group[-1].start_s < min_len_s:
            last = group[-1]
            group[-1] = replace(
                last, end_s=max(last.end_s, n.end_s), velocity=max(last.velocity, n.velocity)
            )
            continue
        if group and group[-1].end_s > n.start_s - 0.005:
            group[-1] = replace(group[-1], end_s=max(group[-1].start_s + 0.02, n.start_s - 0.005))
        group.append(n)
    merged = [n for group in by_pitch.values() for n in group]
    return sorted(merged, key=lambda n: (n.start_s, n.pitch))


def write_midi(
    performance: Performance,
    path: Path,
    *,
    bank: int = 0,
    program: int = 0,
    tail_s: float = 3.0,
) -> Path:
    """Write a performance as a one-track MIDI file on channel 0.

    Parameters
    ----------
    performance : Performance
        Notes and pedal in seconds.
    path : Path
        Output ``.mid`` file.
    bank, program : int
        SoundFont preset, selected with Bank Select (CC 0) and Program Change at time zero.
    tail_s : float
        A harmless controller event is placed this long after the last event, so that FluidSynth's
        file renderer keeps going while the last notes and the pedal release ring out.

    Returns
    -------
    Path
        ``path``.
    """
    events: list[tuple[int, int, mido.Message]] = []  # (tick, order, message)

    def add(time_s: float, order: int, msg: mido.Message) -> None:
        events.append((max(0, round(time_s * _TICKS_PER_S)), order, msg))

    # Order at equal ticks: setup, note-offs, pedal, note-ons (a repeated pitch re-strikes cleanly).
    add(0.0, 0, mido.Message("control_change", control=0, value=bank))
    add(0.0, 0, mido.Message("control_change", control=32, value=0))
    add(0.0, 0, mido.Message("program_change", program=program))
    add(0.0, 0, mido.Message("control_change", control=7, value=100))
    add(0.0, 0, mido.Message("control_change", control=10, value=64))
    # No send to FluidSynth's own effects: the room is added afterwards, under our control.
    add(0.0, 0, mido.Message("control_change", control=91, value=0))
    add(0.0, 0, mido.Message("control_change", control=93, value=0))
    for n in performance.notes:
        add(n.start_s, 3, mido.Message("note_on", note=n.pitch, velocity=n.velocity))
        add(n.end_s, 1, mido.Message("note_off", note=n.pitch, velocity=0))
    for time_s, down in performance.pedal:
        add(time_s, 2, mido.Message("control_change", control=64, value=127 if down else 0))
    add(performance.end_s + tail_s, 4, mido.Message("control_change", control=64, value=0))
    events.sort(key=lambda e: (e[0], e[1]))

    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=_TEMPO_US, time=0))
    last_tick = 0
    for tick, _, msg in events:
        track.append(msg.copy(time=tick - last_tick))
        last_tick = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    midi = mido.MidiFile(ticks_per_beat=_TICKS_PER_BEAT)
    midi.tracks.append(track)
    midi.save(str(path))
    return path
