"""Public-domain scores from the music21 corpus (shipped with music21, read offline), as passages.

The catalogue (:func:`corpus_catalogue`) sorts the corpus into categories:

- ``chorale``: J. S. Bach's four-part chorales;
- ``keyboard``: piano and song-with-piano pieces (Mozart K. 545, Joplin, Chopin, Clara Schumann,
  C. P. E. Bach, Schubert, Amy Beach, ...);
- ``chamber``: string quartets and trio sonatas (Haydn, Mozart, Beethoven, Corelli, R. Schumann);
- ``polyphony``: Renaissance and medieval vocal polyphony (Palestrina, Monteverdi, Josquin, ...);
- ``folk``: tunes from the folk collections (Ryan's Mammoth, O'Neill's, Essen, Aird's, Nottingham),
  which are bare melodies (or melodies with chord symbols) and get a generated left hand.

Every part of a score is merged onto one piano; music after 1900 whose composer died less than
seventy years ago is left out of the catalogue.
"""

from __future__ import annotations

import functools
import itertools
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simdps_studio.data.midi import Passage, ScoreNote
from simdps_studio.data.textures import (
    Chord,
    accompany,
    estimate_key,
    harmonise,
)

#: Pieces for (or playable as) piano, by corpus path.
KEYBOARD_PIECES = (
    "mozart/k545/movement1_exposition.mxl",
    "joplin/maple_leaf_rag.mxl",
    "chopin/mazurka06-2.krn",
    "schumann_clara/polonaise_op1n1.mxl",
    "schumann_clara/polonaise_op1n2.mxl",
    "schumann_clara/polonaise_op1n3.mxl",
    "schumann_clara/polonaise_op1n4.mxl",
    "schumann_clara/opus17/movement3.xml",
    "beach/prayer_of_a_tired_child.musicxml",
    "cpebach/h186.mxl",
    "schubert/Lindenbaum.xml",
    "schumann_robert/dichterliebe_no2.xml",
    "schumann_robert/opus48no2.mxl",
    "liliuokalani/aloha_oe.mxl",
    "johnson_j_r/lift_every_voice.mxl",
    "handel/rinaldo/Lascia_chio_pianga.mxl",
    "leadSheet/fosterBrownHair.mxl",
)

_CHAMBER_DIRS = ("haydn", "mozart", "beethoven", "corelli", "schumann_robert/opus41no1")
_POLYPHONY_DIRS = ("palestrina", "monteverdi", "josquin", "ciconia", "luca", "trecento", "lusitano")
_FOLK_SINGLE_DIRS = ("ryansMammoth",)
_FOLK_COLLECTION_DIRS = (
    "oneills1850",
    "essenFolksong",
    "airdsAirs",
    "miscFolk",
    "nottingham-dataset",
)
_SCORE_SUFFIXES = (".mxl", ".xml", ".musicxml", ".krn", ".abc")

#: Tempo (quarter notes per minute) for scores without a metronome mark.
DEFAULT_QPM = {
    "chorale": 72.0,
    "keyboard": 96.0,
    "chamber": 100.0,
    "polyphony": 84.0,
    "folk": 108.0,
}

_MAX_CHAMBER_BYTES = 90_000

#: Categories whose scores are small enough to write out their repeats (folk tunes play AABB).
_EXPAND_REPEATS = ("chorale", "keyboard", "folk")

#: Fastest note rate a tempo may give: the tenth-percentile gap between onsets lasts at least this.
_MIN_IOI_S = 0.085


@dataclass(frozen=True)
class CorpusEntry:
    """One piece of the catalogue.

    Attributes
    ----------
    name : str
        Piece identifier: the corpus path without suffix, plus ``#N`` for tune N of a collection.
    group : str
        Split key: pieces that share it (variants of one chorale) are in the same split.
    category : str
        See the module docstring.
    path : str
        Corpus-relative path for :func:`music21.corpus.parse`.
    number : int or None
        Tune number in an ABC collection.
    """

    name: str
    group: str
    category: str
    path: str
    number: int | None = None


def corpus_root() -> Path:
    """The folder of music21's bundled corpus."""
    import music21

    return Path(music21.__file__).parent / "corpus"


@functools.lru_cache(maxsize=1)
def corpus_catalogue() -> tuple[CorpusEntry, ...]:
    """Every usable piece of the music21 corpus, sorted by name (cached)."""
    root = corpus_root()
    entries: list[CorpusEntry] = []
    names: dict[str, CorpusEntry] = {}

    def scores_under(folder: str) -> list[Path]:
        base = root / folder
        if not base.is_dir():
            return []
        return sorted(p for p in base.rglob("*") if p.suffix.lower() in _SCORE_SUFFIXES)

    def add(path: Path, category: str, group: str | None = None) -> None:
        rel = path.relative_to(root).as_posix()
        name = rel.rsplit(".", 1)[0]
        # One entry per piece: MusicXML wins over a Humdrum copy of the same movement.
        if name not in names or path.suffix.lower() != ".krn":
            names[name] = CorpusEntry(name, group or name, category, rel)

    seen: set[str] = set()
    for path in scores_under("bach"):
        match = re.match(r"(bwv\d+(?:\.\d+)?)", path.stem)
        if match and path.parent.name == "bach" and path.stem not in seen:
            seen.add(path.stem)
            add(path, "chorale", f"bach/{match.group(1)}")
    for rel in KEYBOARD_PIECES:
        if (root / rel).is_file():
            add(root / rel, "keyboard")
    keyboard = {e.path for e in names.values()}
    for folder in _CHAMBER_DIRS:
        for path in scores_under(folder):
            rel = path.relative_to(root).as_posix()
            # Whole late quartets take music21 half a minute to parse: movements only.
            if rel not in keyboard and path.stat().st_size <= _MAX_CHAMBER_BYTES:
                add(path, "chamber")
    for folder in _POLYPHONY_DIRS:
        for path in scores_under(folder):
            add(path, "polyphony")
    for folder in _FOLK_SINGLE_DIRS:
        for path in scores_under(folder):
            add(path, "folk")
    for folder in _FOLK_COLLECTION_DIRS:
        for path in scores_under(folder):
            if path.suffix.lower() != ".abc":
                continue
            rel = path.relative_to(root).as_posix()
            text = path.read_text(encoding="latin-1")
            numbers = sorted({int(n) for n in re.findall(r"^X:\s*(\d+)", text, re.MULTILINE)})
            for number in numbers:
                name = f"{rel.rsplit('.', 1)[0]}#{number}"
                entries.append(CorpusEntry(name, name, "folk", rel, number))
    return tuple(sorted([*names.values(), *entries], key=lambda e: e.name))


@dataclass(frozen=True)
class ParsedPiece:
    """A parsed score: its passage (all parts) and its chord symbols, if it has any."""

    passage: Passage
    chords: tuple[Chord, ...]
    monophonic: bool


@functools.lru_cache(maxsize=256)
def parse_piece(entry: CorpusEntry, *, expand_repeats: bool | None = None) -> ParsedPiece | None:
    """Parse a corpus piece into score-time notes (``None`` when it holds no usable notes).

    Ties are merged, grace notes and chord symbols dropped from the notes, repeats written out
    (where music21 can; by default for the categories in ``_EXPAND_REPEATS``), and every part kept
    with its index (0 = top).
    """
    if expand_repeats is None:
        expand_repeats = entry.category in _EXPAND_REPEATS
    # music21 warns about many small oddities of old encodings; they change nothing here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _parse_piece(entry, expand_repeats)


def _parse_piece(entry: CorpusEntry, expand_repeats: bool) -> ParsedPiece | None:
    from music21 import corpus, expressions, harmony, meter, tempo

    try:
        score = (
            corpus.parse(entry.path, number=entry.number)
            if entry.number
            else corpus.parse(entry.path)
        )
    except Exception:  # music21 raises many types on odd encodings; such a piece is skipped
        return None
    if hasattr(score, "scores"):  # an Opus: take its first score
        if not score.scores:
            return None
        score = score.scores[0]
    if expand_repeats:
        try:
            expanded = score.expandRepeats()
            # Odd repeat marks can make music21 write a tune out many times over: keep it as written.
            if expanded.highestTime <= 2.5 * score.highestTime:
                score = expanded
        except Exception:  # inconsistent repeat marks: keep the score as written
            pass
    try:
        score = score.stripTies()
    except Exception:
        pass
    parts = list(score.parts) or [score]

    notes: list[ScoreNote] = []
    fermatas: set[tuple[float, float]] = set()
    chords: list[tuple[float, tuple[int, ...]]] = []
    for index, part in enumerate(parts):
        for el in part.flatten().notes:
            if isinstance(el, harmony.ChordSymbol):
                if el.pitches and not isinstance(el, harmony.NoChord):
                    root = el.root().pitchClass
                    pcs = tuple(dict.fromkeys([root] + [p.pitchClass for p in el.pitches]))
                    chords.append((float(el.offset), pcs))
                continue
            length = float(el.quarterLength)
            if length <= 0.0 or el.duration.isGrace:
                continue
            onset = float(el.offset)
            for p in getattr(el, "pitches", ()):
                notes.append(ScoreNote(onset, length, int(p.midi), index))
            if any(isinstance(x, expressions.Fermata) for x in el.expressions):
                fermatas.add((onset, length))
    if not notes:
        return None
    notes.sort(key=lambda n: (n.onset_q, n.part, -n.pitch))

    signature = score.recurse().getElementsByClass(meter.TimeSignature).first()
    beat_q = float(signature.beatDuration.quarterLength) if signature else 1.0
    bar_q = float(signature.barDuration.quarterLength) if signature else 4.0
    measures = (
        parts[0].getElementsByClass("Measure") if hasattr(parts[0], "getElementsByClass") else []
    )
    bars = sorted({float(m.offset) for m in measures})
    end_q = max(n.onset_q + n.duration_q for n in notes)
    if len(bars) < 2:
        bars = list(np.arange(0.0, end_q, bar_q))
    mark = next(
        (m for m in score.recurse().getElementsByClass(tempo.MetronomeMark) if m.getQuarterBPM()),
        None,
    )
    qpm = float(mark.getQuarterBPM()) if mark else DEFAULT_QPM.get(entry.category, 96.0)
    qpm = _playable_tempo(notes, qpm)

    onsets = [n.onset_q for n in notes]
    monophonic = entry.category == "folk" and len(parts) == 1 and len(set(onsets)) == len(onsets)
    chord_list = tuple(
        Chord(on, (chords[i + 1][0] if i + 1 < len(chords) else end_q) - on, pcs)
        for i, (on, pcs) in enumerate(sorted(chords))
        if (chords[i + 1][0] if i + 1 < len(chords) else end_q) > on
    )
    passage = Passage(
        name=entry.name,
        notes=tuple(notes),
        bars_q=tuple(bars),
        beat_q=beat_q,
        qpm=qpm,
        end_q=max(end_q, float(score.highestTime)),
        fermatas_q=tuple(sorted(fermatas)),
        category=entry.category,
    )
    return ParsedPiece(passage, chord_list, monophonic)


def _playable_tempo(notes: list[ScoreNote], qpm: float) -> float:
    """Slow ``qpm`` down where the score's short notes would come faster than a pianist plays."""
    gaps = np.diff(np.unique([n.onset_q for n in notes]))
    if gaps.size == 0:
        return qpm
    # A low percentile, not the minimum: trills, tuplets and parts that interleave are brief.
    short_q = float(np.percentile(gaps, 20))
    return float(np.clip(qpm, 50.0, max(50.0, 60.0 * short_q / _MIN_IOI_S)))


def arrange(piece: ParsedPiece, rng: np.random.Generator) -> Passage:
    """The passage to perform: bare melodies get a left hand, everything else stays as written.

    A melody is moved by octaves into the right hand's range and accompanied (block chords,
    oom-pah, broken chords or bass) on its chord symbols, or on triads chosen by
    :func:`~simdps_studio.data.textures.harmonise` (one per bar or half bar) when it has none.
    """
    passage = piece.passage
    if not piece.monophonic:
        return passage
    shift = 12 * int(round((70 - float(np.median([n.pitch for n in passage.notes]))) / 12))
    melody = [ScoreNote(n.onset_q, n.duration_q, n.pitch + shift, 0) for n in passage.notes]
    chords = list(piece.chords)
    if not chords:
        bars = [*passage.bars_q, passage.end_q]
        bar_q = float(np.median(np.diff(bars))) if len(bars) > 1 else 4.0 * passage.beat_q
        halves = bar_q >= 4.0 and rng.random() < 0.5
        spans: list[tuple[float, float]] = []
        for start, stop in itertools.pairwise(bars):
            if stop <= start:
                continue
            if halves and stop - start >= 4.0:
                mid = start + (stop - start) / 2.0
                spans += [(start, mid - start), (mid, stop - mid)]
            else:
                spans.append((start, stop - start))
        chords = harmonise(melody, estimate_key(melody), spans, passage.beat_q)
    pattern = str(rng.choice(["block", "oompah", "broken", "bass", "oompah"]))
    accompaniment = accompany(chords, pattern, passage.beat_q, center=float(rng.uniform(50, 57)))
    notes = sorted(melody + accompaniment, key=lambda n: (n.onset_q, n.part, -n.pitch))
    return Passage(
        name=passage.name,
        notes=tuple(notes),
        bars_q=passage.bars_q,
        beat_q=passage.beat_q,
        qpm=passage.qpm,
        end_q=passage.end_q,
        harmony_q=tuple(c.onset_q for c in chords),
        fermatas_q=passage.fermatas_q,
        pedal_modes=("none", "bar", "half", "harmony", "harmony"),
        category=passage.category,
    )
