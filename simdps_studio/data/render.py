"""Render a piano training corpus: MIDI from scores and textures, two pianos, room, EQ, FLAC.

:func:`render_corpus` is the entry point (``simdps-studio data render-piano``). Each file is one
excerpt of one piece: a public-domain score from the music21 corpus
(:mod:`~simdps_studio.data.scores`) or a generated texture (:mod:`~simdps_studio.data.textures`),
performed with drawn tempo, rubato, dynamics and pedal (:mod:`~simdps_studio.data.perform`),
rendered by one of two pianos: FluidSynth through a drawn piano preset of a drawn SoundFont
(:mod:`~simdps_studio.data.synth`), or the sampled Salamander Grand Piano
(:mod:`~simdps_studio.data.sampler_piano`; ``piano="mix"`` draws one per file). Then it gets a
drawn EQ and room (:mod:`~simdps_studio.data.effects`), is resampled to the model rate, trimmed,
set to a drawn peak level and written as mono FLAC. The manifest names the piano, and its licence
and attribution, of every file.

Every random choice comes from a generator seeded by ``(seed, split, item index)``, FluidSynth runs
with fixed settings, and nothing in the manifest depends on the clock, so the same seed writes
bit-identical files. In a mix, which piano renders an item is drawn from a generator of its own, so
the SoundFont items of a mix are the files a SoundFont-only corpus of the same seed has at the
same places. The split is by piece: a score's split is a hash of its name (variants of a
chorale share one), so no piece is in both, whatever the seed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import zlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from simdps_studio.core.errors import InputError, NotAvailableError
from simdps_studio.core.progress import CancelToken, Progress, check_cancel
from simdps_studio.data import effects
from simdps_studio.data.midi import Passage, Performance, excerpt, write_midi
from simdps_studio.data.perform import perform
from simdps_studio.data.salamander import SampleSet, default_dir, load_sample_set
from simdps_studio.data.sampler_piano import SamplerSettings, sampler_for
from simdps_studio.data.scores import CorpusEntry
from simdps_studio.data.synth import (
    Preset,
    SoundFont,
    fluidsynth_executable,
    render_midi,
    resolve_soundfonts,
    soundfont_licence,
)
from simdps_studio.data.textures import TEXTURES, generate_texture

#: Share of the files (so roughly of the time) per source category: scores by category, textures.
CATEGORY_WEIGHTS: dict[str, float] = {
    "chorale": 0.22,
    "keyboard": 0.12,
    "chamber": 0.08,
    "polyphony": 0.06,
    "folk": 0.22,
    "texture": 0.30,
}

#: Share of pieces (and of the rendered time) held out for validation.
VAL_FRACTION = 0.05

#: Length of one rendered excerpt, in seconds (before the room tail and trimming).
EXCERPT_S = (12.0, 40.0)
MIN_EXCERPT_S = 4.0

#: FluidSynth renders at least at this rate; lower model rates are reached by resampling, since
#: FluidSynth's sample interpolation aliases when it plays 44.1 kHz samples at a low rate.
MIN_SYNTH_SR = 44_100
MAX_SYNTH_SR = 96_000

#: The pianos an item can be rendered with, and the choices of ``render_corpus(piano=...)``.
PIANOS = ("soundfont", "salamander")
PIANO_CHOICES = ("mix", *PIANOS)
#: Share of the items the sampled piano renders in a mix.
SALAMANDER_SHARE = 0.5

MANIFEST = "manifest.json"
_SPLIT_CODE = {"val": 1, "train": 2}
_SUBTYPES = ("PCM_16", "PCM_24")


def piece_split(group: str, val_fraction: float = VAL_FRACTION) -> str:
    """``"val"`` or ``"train"`` for a piece group, from a hash of its name (seed-independent)."""
    digest = hashlib.sha1(group.encode("utf-8")).digest()
    return "val" if int.from_bytes(digest[:4], "big") / 2**32 < val_fraction else "train"


def synth_rate(sr: int) -> int:
    """Rate FluidSynth renders at for a target rate ``sr``."""
    return int(min(max(sr, MIN_SYNTH_SR), MAX_SYNTH_SR))


@dataclass(frozen=True)
class Finish:
    """Post-processing of one rendering: EQ shelves, room and level."""

    shelves: tuple[tuple[str, float, float], ...] = ()
    rt60_s: float = 0.0
    predelay_s: float = 0.0
    damping_hz: float = 6000.0
    wet: float = 0.0
    peak_dbfs: float = -1.0

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Finish:
        """Random mild EQ (each shelf within a few dB) and room (often, short to medium)."""
        shelves = []
        if rng.random() < 0.8:
            shelves.append(("low", float(rng.uniform(80, 400)), float(rng.uniform(-4, 4))))
        if rng.random() < 0.8:
            shelves.append(("high", float(rng.uniform(2500, 8000)), float(rng.uniform(-6, 3))))
        room = rng.random() < 0.85
        return cls(
            shelves=tuple(shelves),
            rt60_s=float(rng.uniform(0.25, 1.6)) if room else 0.0,
            predelay_s=float(rng.uniform(0.003, 0.025)),
            damping_hz=float(rng.uniform(2500, 9000)),
            wet=float(rng.uniform(0.08, 0.45)) if room else 0.0,
            peak_dbfs=float(rng.uniform(-12.0, -1.0)),
        )

    def describe(self) -> dict:
        """JSON-ready description for the manifest."""
        return {
            "eq": [[k, round(f, 1), round(g, 2)] for k, f, g in self.shelves],
            "room": {
                "rt60_s": round(self.rt60_s, 3),
                "predelay_s": round(self.predelay_s, 4),
                "damping_hz": round(self.damping_hz, 1),
                "wet": round(self.wet, 3),
            },
            "peak_dbfs": round(self.peak_dbfs, 2),
        }


def synthesise(
    performance: Performance, soundfont: SoundFont, preset: Preset, *, sr: int
) -> np.ndarray:
    """Render a performance with FluidSynth at ``synth_rate(sr)``.

    Returns
    -------
    numpy.ndarray, shape (2, n_samples), float32
        Stereo, at :func:`synth_rate` of ``sr`` (not yet resampled).
    """
    with tempfile.TemporaryDirectory(prefix="simdps-midi-") as tmp:
        midi = write_midi(
            performance, Path(tmp) / "piece.mid", bank=preset.bank, program=preset.program
        )
        return render_midi(midi, soundfont, sr=synth_rate(sr))


def finish(
    audio: np.ndarray,
    audio_sr: int,
    sr: int,
    settings: Finish,
    rng: np.random.Generator,
) -> np.ndarray:
    """EQ, room, resampling to ``sr``, silence trimming and peak level.

    Parameters
    ----------
    audio : numpy.ndarray, shape (channels, n)
        Dry rendering at ``audio_sr``.
    settings : Finish
        What to apply.
    rng : numpy.random.Generator
        Noise of the room's impulse response (one per channel).

    Returns
    -------
    numpy.ndarray, shape (channels, m), float32
    """
    x = effects.apply_eq(audio.astype(np.float64), audio_sr, list(settings.shelves))
    if settings.wet > 0.0:
        ir = effects.room_impulse_response(
            rng,
            audio_sr,
            rt60_s=settings.rt60_s,
            predelay_s=settings.predelay_s,
            damping_hz=settings.damping_hz,
            n_channels=x.shape[0],
        )
        x = effects.add_room(x, ir, settings.wet)
    if sr != audio_sr:
        x = np.ascontiguousarray(soxr.resample(x.T, audio_sr, sr, quality="VHQ").T)
    x = effects.trim_silence(x, sr)
    return effects.normalise_peak(x, settings.peak_dbfs).astype(np.float32)


def choose_excerpt(passage: Passage, rng: np.random.Generator, target_s: float) -> Passage:
    """About ``target_s`` seconds of a passage (at its nominal tempo), from a drawn bar to a bar line.

    The whole passage when it is shorter; otherwise the start is the first bar (a third of the time)
    or a random bar that leaves enough music after it.
    """
    length_q = target_s * passage.qpm / 60.0
    if passage.end_q <= length_q * 1.15:
        return passage
    bars = np.asarray(passage.bars_q, dtype=float)
    starts = bars[bars <= passage.end_q - length_q]
    start = 0.0 if rng.random() < 1 / 3 or starts.size == 0 else float(rng.choice(starts))
    later = bars[bars >= start + length_q - 1e-9]
    stop = float(later[0]) if later.size else passage.end_q
    return excerpt(passage, start, stop)


@dataclass(frozen=True)
class ItemPlan:
    """What item ``index`` of ``split`` renders: a category and, for scores, the corpus entry."""

    split: str
    index: int
    category: str
    entry: CorpusEntry | None = None


def item_rng(seed: int, split: str, index: int, stream: int = 0) -> np.random.Generator:
    """The random generator of one item (``stream`` 0: every choice made while rendering it;
    stream 1: its target length, drawn by the planner; stream 2: its piano in a mix)."""
    return np.random.default_rng([int(seed), _SPLIT_CODE[split], int(index), int(stream)])


def item_piano(
    seed: int, split: str, index: int, piano: str, share: float = SALAMANDER_SHARE
) -> str:
    """The piano (one of :data:`PIANOS`) that renders item ``index`` of ``split``: ``piano``
    itself, or for ``"mix"`` the sampled piano with probability ``share``."""
    if piano != "mix":
        return piano
    return "salamander" if item_rng(seed, split, index, 2).random() < share else "soundfont"


class _Planner:
    """Deterministic plan of the items per split: a category drawn by weight from the item's own
    generator, then the next piece of that category's shuffled queue (scores) or a texture."""

    def __init__(self, seed: int, weights: Mapping[str, float], val_fraction: float) -> None:
        from simdps_studio.data.scores import corpus_catalogue

        self.seed = seed
        self.weights = dict(weights)
        self.queues: dict[tuple[str, str], list[CorpusEntry]] = {}
        self.position: dict[tuple[str, str], int] = {}
        catalogue = corpus_catalogue() if set(self.weights) - {"texture"} else ()
        for category in self.weights:
            if category == "texture":
                continue
            for split in _SPLIT_CODE:
                entries = [
                    e
                    for e in catalogue
                    if e.category == category and piece_split(e.group, val_fraction) == split
                ]
                order = np.random.default_rng([seed, zlib.crc32(f"{category}/{split}".encode())])
                self.queues[(category, split)] = [
                    entries[i] for i in order.permutation(len(entries))
                ]
                self.position[(category, split)] = 0

    def categories(self, split: str) -> tuple[list[str], np.ndarray]:
        """Categories with something to offer ``split``, and their normalised weights."""
        names = [
            c
            for c, w in self.weights.items()
            if w > 0 and (c == "texture" or self.queues.get((c, split)))
        ]
        weights = np.array([self.weights[c] for c in names], dtype=float)
        return names, weights / weights.sum()

    def plan(self, split: str, index: int) -> ItemPlan:
        """The plan of item ``index`` of ``split``; call in index order (queues advance)."""
        names, weights = self.categories(split)
        if not names:
            raise InputError(f"no piece for the {split} split in the chosen categories")
        category = _draw_category(item_rng(self.seed, split, index), names, weights)
        if category == "texture":
            return ItemPlan(split, index, category)
        key = (category, split)
        queue = self.queues[key]
        entry = queue[self.position[key] % len(queue)]
        self.position[key] += 1
        return ItemPlan(split, index, category, entry)


def _draw_category(rng: np.random.Generator, names: list[str], weights: np.ndarray) -> str:
    # The first draw of every item's generator (the planner and the renderer both make it).
    return str(rng.choice(names, p=weights))


@dataclass(frozen=True)
class _Job:
    """Everything a (possibly separate) process needs to render one planned item."""

    plan: ItemPlan
    seed: int
    names: tuple[str, ...]
    weights: tuple[float, ...]
    target_s: float
    piano: str
    fonts: tuple[SoundFont, ...]
    samples: SampleSet | None
    out_dir: Path
    sample_rate: int
    subtype: str


def _run_job(job: _Job) -> dict | None:
    """Render one planned item and write its file; ``None`` when its piece is unusable."""
    from simdps_studio.data.scores import arrange, parse_piece

    plan = job.plan
    rng = item_rng(job.seed, plan.split, plan.index)
    _draw_category(rng, list(job.names), np.asarray(job.weights))  # keep the stream aligned
    if plan.entry is None:
        kind = str(rng.choice(sorted(TEXTURES)))
        group = f"texture/{kind}/{job.seed}-{plan.split}-{plan.index}"
        passage = generate_texture(kind, rng, group)
    else:
        group = plan.entry.group
        piece = parse_piece(plan.entry)
        passage = None if piece is None else arrange(piece, rng)
    if passage is not None:
        passage = choose_excerpt(passage, rng, job.target_s)
    if passage is None or len(passage.notes) < 4:
        return None
    if job.piano == "salamander":
        dry, sr, record = _sample_item(passage, job.samples, rng, job.sample_rate)
    else:
        dry, sr, record = _synthesise_item(passage, job.fonts, rng, job.sample_rate)
    record = _write_item(
        dry,
        sr,
        record,
        passage,
        rng,
        job.out_dir,
        plan.split,
        plan.index,
        job.sample_rate,
        job.subtype,
    )
    record["group"] = group
    return record


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")[:60] or "piece"


def _check_piano(piano: str, share: float) -> None:
    if piano not in PIANO_CHOICES:
        raise InputError(f"piano must be one of {', '.join(PIANO_CHOICES)}, not {piano!r}")
    if not (isinstance(share, (int, float)) and 0.0 < share < 1.0):
        raise InputError(f"the Salamander share of a mix must be between 0 and 1, not {share!r}")


def _check_arguments(
    hours: float,
    seed: int,
    sample_rate: int,
    subtype: str,
    weights: Mapping[str, float],
    val_fraction: float,
) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, not {seed!r}")
    if not 0.0 < val_fraction < 0.5:
        raise InputError(f"val_fraction must be between 0 and 0.5, not {val_fraction}")
    if not (isinstance(hours, (int, float)) and np.isfinite(hours) and hours > 0):
        raise InputError(f"hours must be a positive number, not {hours!r}")
    if hours > 10_000:
        raise InputError(f"hours is implausibly large: {hours}")
    if not (8_000 <= int(sample_rate) <= 192_000):
        raise InputError(f"sample rate must be 8000-192000 Hz, not {sample_rate}")
    if subtype not in _SUBTYPES:
        raise InputError(f"subtype must be one of {', '.join(_SUBTYPES)}, not {subtype}")
    unknown = set(weights) - set(CATEGORY_WEIGHTS)
    if unknown or not any(w > 0 for w in weights.values()):
        raise InputError(f"categories must weight some of {', '.join(CATEGORY_WEIGHTS)}")


def _prepare_out_dir(out_dir: Path) -> bool:
    """Create ``out_dir``; refuse a non-empty one. Returns whether it was created here."""
    if out_dir.exists():
        if not out_dir.is_dir():
            raise InputError(f"output path is not a folder: {out_dir}")
        if any(out_dir.iterdir()):
            raise InputError(f"output folder is not empty: {out_dir}")
        return False
    try:
        out_dir.mkdir(parents=True)
    except OSError as exc:
        raise InputError(f"cannot create output folder {out_dir}: {exc.strerror}") from None
    return True


def _check_score_source() -> None:
    """Every piano plays music21's corpus: say so first when music21 is missing (as in the
    desktop bundle), before any piano's own requirements."""
    import importlib.util

    try:
        found = importlib.util.find_spec("music21") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise NotAvailableError(
            "rendering training data needs the Python package 'music21' (the scores it plays): "
            "pip install music21, or install simdps-studio with its 'data' extra"
        )


def render_corpus(
    out_dir: str | os.PathLike,
    *,
    hours: float,
    seed: int,
    sample_rate: int = 22050,
    soundfonts: Sequence[str | os.PathLike] | None = None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    categories: Mapping[str, float] | None = None,
    subtype: str = "PCM_16",
    val_fraction: float = VAL_FRACTION,
    workers: int = 1,
    piano: str = "soundfont",
    salamander: str | os.PathLike | None = None,
    salamander_share: float = SALAMANDER_SHARE,
) -> Path:
    """Render about ``hours`` of piano audio as mono FLAC files plus ``manifest.json``.

    Parameters
    ----------
    out_dir : path
        Output folder; created, or must be empty. Files go to ``train/`` and ``val/``.
    hours : float
        Total audio to render (the last file of each split may overshoot by one excerpt).
    seed : int
        Seed of every random choice; the same seed (and SoundFonts) gives bit-identical files.
    sample_rate : int
        Rate of the FLAC files, Hz (the model rate).
    soundfonts : sequence of path, optional
        SoundFont files to render with; default: every piano SoundFont installed
        (:func:`~simdps_studio.data.synth.list_soundfonts`).
    progress, cancel
        Progress callback ``(fraction, message)`` and cancel token, checked between files.
    categories : mapping of str to float, optional
        Share per source category (keys of :data:`CATEGORY_WEIGHTS`); default that table.
    subtype : {"PCM_16", "PCM_24"}
        FLAC sample format.
    val_fraction : float
        Share of pieces, and of the hours, in the held-out ``val`` split.
    workers : int
        Files rendered at once, in separate processes; the output does not depend on it.
    piano : {"soundfont", "salamander", "mix"}
        FluidSynth and SoundFonts, the sampled Salamander Grand Piano, or both, drawn per file.
    salamander : path, optional
        Folder of the samples (``simdps-studio data fetch-salamander``); default
        :func:`~simdps_studio.data.salamander.default_dir`. Used unless ``piano="soundfont"``.
    salamander_share : float
        Share of the files the sampled piano renders in a mix (drawn per file).

    Returns
    -------
    Path
        The manifest. Per file it lists ``path`` (relative), ``piece``, ``group`` (the split key),
        ``category``, ``split``, ``piano``, ``licence`` and ``attribution`` of the instrument,
        ``soundfont`` and ``preset`` (SoundFont files) or ``sampler`` (sampled ones),
        ``seconds``, ``n_samples``, and the drawn performance, EQ, room and level. ``sources``
        describes each piano used in full.

    Raises
    ------
    NotAvailableError
        FluidSynth, a given SoundFont, any piano SoundFont, or the Salamander samples are missing
        (each only where the chosen piano needs it).
    InputError
        Bad arguments or a non-empty output folder.
    CancelledError
        ``cancel`` was set; the files written so far are removed.
    """
    weights = dict(CATEGORY_WEIGHTS if categories is None else categories)
    _check_arguments(hours, seed, sample_rate, subtype, weights, val_fraction)
    _check_piano(piano, salamander_share)
    _check_score_source()
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 256:
        raise InputError(f"workers must be an integer from 1 to 256, not {workers!r}")
    sample_rate = int(sample_rate)
    fonts: list[SoundFont] = []
    if piano != "salamander":
        fonts = resolve_soundfonts(soundfonts)
        fluidsynth_executable()
    samples = None
    if piano != "soundfont":
        try:
            samples = load_sample_set(salamander if salamander is not None else default_dir())
        except NotAvailableError as exc:
            raise NotAvailableError(
                f"{exc} (or render with the SoundFonts only: --piano soundfont)"
            ) from None
    out_dir = Path(out_dir)
    created = _prepare_out_dir(out_dir)

    total_s = float(hours) * 3600.0
    budgets = {"val": val_fraction * total_s, "train": (1.0 - val_fraction) * total_s}
    rendered = {"val": 0.0, "train": 0.0}
    records: list[dict] = []
    pool = ProcessPoolExecutor(max_workers=workers) if workers > 1 else None
    try:
        planner = _Planner(int(seed), weights, val_fraction)
        for split in ("val", "train"):
            names, split_weights = planner.categories(split)
            # A file's length must not depend on how far the others got (files may render in
            # parallel): each aims at a drawn length, capped by the split's whole budget.
            cap_s = max(budgets[split], MIN_EXCERPT_S)
            index, failures = 0, 0
            while rendered[split] < budgets[split]:
                check_cancel(cancel)
                jobs = []
                for k in range(index, index + workers):
                    plan = planner.plan(split, k)
                    target = min(float(item_rng(seed, split, k, 1).uniform(*EXCERPT_S)), cap_s)
                    jobs.append(
                        _Job(
                            plan,
                            int(seed),
                            tuple(names),
                            tuple(split_weights),
                            target,
                            item_piano(seed, split, k, piano, salamander_share),
                            tuple(fonts),
                            samples,
                            out_dir,
                            sample_rate,
                            subtype,
                        )
                    )
                index += workers
                results = list(pool.map(_run_job, jobs)) if pool else [_run_job(jobs[0])]
                for record in results:
                    if rendered[split] >= budgets[split]:  # rendered ahead in parallel: unused
                        if record is not None:
                            (out_dir / record["path"]).unlink()
                        continue
                    if record is None:
                        failures += 1
                        if failures > 50:
                            raise InputError("no usable piece in the chosen categories")
                        continue
                    failures = 0
                    records.append(record)
                    rendered[split] += record["seconds"]
                    if progress is not None:
                        done = sum(min(rendered[s], budgets[s]) for s in rendered)
                        message = f"{split} {len(records)}: {record['piece']}"
                        progress(min(done / total_s, 1.0), message)
        manifest = {
            "format": "simdps-studio piano corpus",
            "version": 1,
            "seed": int(seed),
            "hours": float(hours),
            "sample_rate": sample_rate,
            "channels": 1,
            "subtype": subtype,
            "val_fraction": val_fraction,
            "category_weights": weights,
            "piano": piano,
            **({"salamander_share": salamander_share} if piano == "mix" else {}),
            "soundfonts": [
                {
                    "name": f.name,
                    "path": str(f.path),
                    "pianos": [p.label() for p in f.pianos],
                    **soundfont_licence(f.name),
                }
                for f in fonts
            ],
            "sources": _sources(records, fonts, samples),
            "seconds": {s: round(v, 3) for s, v in rendered.items()},
            "files": records,
        }
        path = out_dir / MANIFEST
        tmp = path.with_name(MANIFEST + ".tmp")
        tmp.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
            pool = None
        # The folder was empty (or new): everything in it is this run's partial output.
        for sub in ("val", "train"):
            shutil.rmtree(out_dir / sub, ignore_errors=True)
        (out_dir / (MANIFEST + ".tmp")).unlink(missing_ok=True)
        if created and not any(out_dir.iterdir()):
            out_dir.rmdir()
        raise
    finally:
        if pool is not None:
            pool.shutdown()
    if progress is not None:
        progress(1.0, f"rendered {len(records)} files, {sum(rendered.values()) / 3600:.3f} h")
    return path


def _sources(
    records: Sequence[dict], fonts: Sequence[SoundFont], samples: SampleSet | None
) -> dict:
    """Per piano used: files, seconds, and what it is (licence and attribution included)."""
    out = {}
    for piano in PIANOS:
        mine = [r for r in records if r["piano"] == piano]
        if not mine:
            continue
        entry: dict = {"files": len(mine), "seconds": round(sum(r["seconds"] for r in mine), 3)}
        if piano == "salamander" and samples is not None:
            entry.update(samples.describe())
        else:
            used = sorted({r["soundfont"] for r in mine})
            entry["soundfonts"] = [{"name": n, **soundfont_licence(n)} for n in used]
        out[piano] = entry
    return out


def _synthesise_item(
    passage: Passage, fonts: Sequence[SoundFont], rng: np.random.Generator, sample_rate: int
) -> tuple[np.ndarray, int, dict]:
    """FluidSynth: a drawn SoundFont and preset. Returns the dry mono audio, its rate and the
    record's piano fields."""
    font = fonts[int(rng.integers(len(fonts)))]
    preset = font.pianos[int(rng.integers(len(font.pianos)))]
    performance = perform(passage, rng)
    dry = synthesise(performance, font, preset, sr=sample_rate)
    record = {
        "piano": "soundfont",
        "soundfont": font.name,
        "preset": preset.label(),
        **soundfont_licence(font.name),
        "performance": performance.info,
    }
    return dry.mean(axis=0, keepdims=True), synth_rate(sample_rate), record


def _sample_item(
    passage: Passage, samples: SampleSet | None, rng: np.random.Generator, sample_rate: int
) -> tuple[np.ndarray, int, dict]:
    """The sampled piano, with drawn touch, dampers and release level, straight at the model
    rate (the pitch shift resamples anyway)."""
    if samples is None:
        raise InputError("no piano samples were given for a Salamander item")
    sampler_settings = SamplerSettings.draw(rng)
    performance = perform(passage, rng)
    dry = sampler_for(samples, sample_rate).render(performance, sampler_settings)
    info = samples.provenance
    record = {
        "piano": "salamander",
        "instrument": info.get("name", "piano samples"),
        "licence": info.get("licence", "unknown"),
        "attribution": info.get("attribution", f"samples from {samples.root.name}"),
        "sampler": {"layers": list(samples.layers), **sampler_settings.describe()},
        "performance": performance.info,
    }
    return dry[None, :].astype(np.float64), sample_rate, record


def _write_item(
    dry: np.ndarray,
    dry_sr: int,
    piano_record: dict,
    passage: Passage,
    rng: np.random.Generator,
    out_dir: Path,
    split: str,
    index: int,
    sample_rate: int,
    subtype: str,
) -> dict:
    """Finish (EQ, room, rate, trim, level) and write one excerpt; return its manifest record."""
    settings = Finish.draw(rng)
    audio = finish(dry, dry_sr, sample_rate, settings, rng)
    rel = Path(split) / f"{index:05d}_{_slug(passage.name)}.flac"
    path = out_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".part.flac")
    sf.write(tmp, audio.T, sample_rate, subtype=subtype, format="FLAC")
    os.replace(tmp, path)
    return {
        "path": rel.as_posix(),
        "piece": passage.name,
        "category": passage.category,
        "split": split,
        **piano_record,
        "seconds": round(audio.shape[-1] / sample_rate, 4),
        "n_samples": int(audio.shape[-1]),
        **settings.describe(),
    }


#: Where the scores come from, and their status (for a model card).
SCORES_ATTRIBUTION = (
    "scores: the music21 corpus (public-domain works); textures: generated by simdps-studio"
)


def corpus_provenance(manifest: Mapping) -> dict:
    """What a rendered corpus is made of, for a model card: hours per piano and split, and one
    attribution line per instrument (with its licence) plus the scores'.

    Parameters
    ----------
    manifest : mapping
        A corpus ``manifest.json`` as :func:`render_corpus` writes it (older manifests, without
        a ``piano`` per file, count as SoundFont renderings).

    Returns
    -------
    dict
        ``{"hours": total, "hours_by_piano": {...}, "hours_by_split": {...}, "seed": ...,
        "attribution": [str, ...]}``.
    """
    files = list(manifest.get("files", []))
    by_piano: dict[str, float] = {}
    by_split: dict[str, float] = {}
    for f in files:
        piano = f.get("piano", "soundfont")
        by_piano[piano] = by_piano.get(piano, 0.0) + f.get("seconds", 0.0) / 3600.0
        by_split[f.get("split", "?")] = by_split.get(f.get("split", "?"), 0.0) + (
            f.get("seconds", 0.0) / 3600.0
        )
    attribution = []
    sources = manifest.get("sources", {})
    if "salamander" in by_piano:
        sampled = [f for f in files if f.get("piano") == "salamander"]
        line = sources.get("salamander", {}).get("attribution") or sampled[0].get("attribution")
        licence = sampled[0].get("licence", "unknown")
        attribution.append(line if licence in line else f"{line}: {licence}")
    if "soundfont" in by_piano:
        names = sorted({f.get("soundfont") for f in files if f.get("soundfont")})
        for name in names:
            lic = soundfont_licence(name)
            attribution.append(f"{lic['attribution']}: {lic['licence']}")
    attribution.append(SCORES_ATTRIBUTION)
    return {
        "hours": round(sum(by_piano.values()), 3),
        "hours_by_piano": {k: round(v, 3) for k, v in sorted(by_piano.items())},
        "hours_by_split": {k: round(v, 3) for k, v in sorted(by_split.items())},
        "seed": manifest.get("seed"),
        "attribution": attribution,
    }
