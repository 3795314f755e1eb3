"""The quality benchmark's material: clean mono tracks, and where in them each gap is cut.

Material (prepared once, cached under ``cache_dir("bench", ...)``):

* ``rendered`` -- piano rendered by the project's own training pipeline
  (:func:`simdps_studio.data.render.render_corpus`) with seed :data:`RENDER_SEED` (training used
  seed 1). Only pieces the model cannot have seen are used: the held-out ``val`` split (split by a
  hash of the piece, whatever the seed, so these pieces were never trained on) and the generated
  textures of the ``train`` split (generated from this seed, so new). Scores of the ``train``
  split are skipped: the same piece may be in the training data in another performance.
* ``real`` -- 30-s excerpts of the game soundtrack in Debian's ``asc-music`` package (GPL-2+),
  decoded from MP3 and mixed to mono. Nothing is installed from here: when the package is
  missing the material is skipped with the command that installs it.
* ``demo`` -- ``resources/demo/demo_clean.flac`` (the demo's clean reference), mixed to mono.

Every track is evaluated in mono (stereo doubles the diffusion cost on a CPU: the pipeline samples
mid and side as a batch of two).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from simdps_studio.bench.rows import error_text
from simdps_studio.core.errors import CancelledError, InputError, NotAvailableError, SimDPSError
from simdps_studio.core.progress import CancelToken, check_cancel
from simdps_studio.core.types import Gap, validate_gaps

if TYPE_CHECKING:
    from simdps_studio.bench.config import BenchConfig

# ----------------------------------------------------------------------------- settings

#: Where each gap length sits: its centre as a fraction of the track's length. Different lengths
#: sit at different places (more material per track); all in the second half or middle, where a
#: piece has usually stated its material once already. Other lengths use the default.
GAP_CENTRE_FRACTION = {0.25: 0.40, 0.5: 0.70, 1.0: 0.55, 2.0: 0.75, 4.0: 0.62}
DEFAULT_CENTRE_FRACTION = 0.6
#: Smallest distance from a gap to either end of the track, seconds (when the track allows).
MIN_EDGE_S = 3.0
#: Shortest track used, seconds (gaps of 4 s need context and somewhere to find a candidate).
MIN_TRACK_S = 20.0

#: Rendered material: seed (training used 1), hours rendered, rate (the model rate).
RENDER_SEED = 101
RENDER_HOURS = 1.0
RENDER_SR = 22050

#: Real material: the Debian package, its files (in order of use) and the excerpt start times.
REAL_PACKAGE = "asc-music"
#: The command that installs it (the benchmark never installs anything itself).
REAL_INSTALL = f"sudo apt-get install {REAL_PACKAGE}"
REAL_DIR = Path("/usr/share/games/asc/music")
REAL_FILES = ("frontiers.mp3", "time_to_strike.mp3", "machine_wars.mp3")
REAL_OFFSETS_S = (60.0, 180.0)
REAL_EXCERPT_S = 30.0
REAL_LICENCE = "GPL-2+ (c) 2002 Michael Kievernagel; /usr/share/doc/asc-music/copyright"

MATERIALS = ("rendered", "real", "demo")


# ----------------------------------------------------------------------------- material


@dataclass
class Track:
    """One clean recording to cut gaps into.

    Attributes
    ----------
    name : str
        Short unique name (``material:...``).
    material : str
        ``rendered``, ``real`` or ``demo``.
    samples : numpy.ndarray, shape (1, n_samples), float32
        The clean track, mono.
    sr : int
        Sample rate in Hz.
    source : str
        Where it comes from (file, piece, package).
    """

    name: str
    material: str
    samples: np.ndarray
    sr: int
    source: str = ""

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.samples.shape[1] / self.sr


@dataclass
class MaterialInfo:
    """What one material contributed (for the report): tracks, provenance, licence, or why not."""

    material: str
    tracks: list[Track] = field(default_factory=list)
    description: str = ""
    licence: str = ""
    skipped: str = ""


def _mono(x: np.ndarray) -> np.ndarray:
    """(channels, n) -> (1, n) float32: the mean of the channels (the mid signal)."""
    return np.asarray(x, np.float32).mean(axis=0, keepdims=True).astype(np.float32)


def _read_float(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return np.ascontiguousarray(data.T), int(sr)


def _write_float(path: Path, x: np.ndarray, sr: int) -> None:
    import soundfile as sf

    tmp = path.with_name(path.stem + ".part.wav")
    sf.write(str(tmp), np.asarray(x).T, sr, subtype="FLOAT", format="WAV")
    os.replace(tmp, path)


def rendered_cache_dir(
    seed: int = RENDER_SEED, hours: float = RENDER_HOURS, piano: str = "soundfont"
) -> Path:
    """Cache folder of the rendered corpus for ``seed``, ``hours`` and ``piano``."""
    from simdps_studio.core.paths import cache_dir

    suffix = "" if piano == "soundfont" else f"-{piano}"  # the SoundFont caches keep their names
    return cache_dir("bench", f"rendered-seed{seed}-{hours:g}h-{RENDER_SR}{suffix}")


def select_rendered(manifest: dict, n_tracks: int, min_track_s: float = MIN_TRACK_S) -> list[dict]:
    """The rendered files a benchmark uses, in a fixed order.

    Held-out pieces (``val`` split) and the ``train`` split's generated textures (new for this
    seed), each at least ``min_track_s`` long, alternating (val, texture, val, ...) in file order.
    """
    files = [f for f in manifest.get("files", []) if float(f.get("seconds", 0)) >= min_track_s]
    val = [f for f in files if f.get("split") == "val"]
    tex = [f for f in files if f.get("split") == "train" and f.get("category") == "texture"]
    order: list[dict] = []
    for i in range(max(len(val), len(tex))):
        order.extend(lst[i] for lst in (val, tex) if i < len(lst))
    return order[: max(n_tracks, 0)]


def prepare_rendered(
    n_tracks: int,
    *,
    seed: int = RENDER_SEED,
    hours: float = RENDER_HOURS,
    piano: str = "soundfont",
    log: Callable[[str], None] = print,
    cancel: CancelToken | None = None,
) -> MaterialInfo:
    """Render (once) and select the held-out rendered piano tracks.

    ``piano`` is ``render_corpus``'s: "soundfont" (the measuring material), "salamander" (the
    sampled grand, from ``data fetch-salamander``'s default folder) or "mix".

    Raises
    ------
    NotAvailableError
        FluidSynth, the piano SoundFonts or the Salamander samples are missing.
    """
    from simdps_studio.session.engines import _engine

    root = rendered_cache_dir(seed, hours, piano)
    corpus = root / "corpus"
    manifest_path = corpus / "manifest.json"
    if not manifest_path.is_file():
        render = _engine("simdps_studio.data.render", "training-data rendering")
        part = root / "corpus.part"
        shutil.rmtree(part, ignore_errors=True)
        workers = max(1, min(2, os.cpu_count() or 1))
        log(
            f"preparing rendered material: render_corpus(hours={hours:g}, seed={seed}, "
            f"sample_rate={RENDER_SR}, piano={piano}, workers={workers}) into {root} "
            "(once; a few minutes)"
        )
        t0 = time.perf_counter()
        render.render_corpus(
            part,
            hours=hours,
            seed=seed,
            sample_rate=RENDER_SR,
            workers=workers,
            cancel=cancel,
            piano=piano,
        )
        shutil.rmtree(corpus, ignore_errors=True)
        os.replace(part, corpus)
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        # Keep only what a benchmark can use (train-split scores may have been trained on).
        keep = {f["path"] for f in select_rendered(manifest, 10**6)}
        for f in manifest["files"]:
            if f["path"] not in keep:
                (corpus / f["path"]).unlink(missing_ok=True)
        log(f"rendered material ready in {time.perf_counter() - t0:.0f} s")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    chosen = select_rendered(manifest, n_tracks)
    if len(chosen) < n_tracks:
        log(f"rendered material has only {len(chosen)} usable track(s) (asked for {n_tracks})")
    tracks = []
    for f in chosen:
        x, sr = _read_float(corpus / f["path"])
        stem = Path(f["path"]).stem
        tracks.append(
            Track(
                name=f"rendered:{f['split']}/{stem}",
                material="rendered",
                samples=_mono(x),
                sr=sr,
                source=(
                    f"{f.get('piece', stem)} ({f.get('category', '?')}, {f['split']} split; "
                    f"{_instrument(f)})"
                ),
            )
        )
    fonts = ", ".join(s.get("name", "?") for s in manifest.get("soundfonts", []))
    return MaterialInfo(
        "rendered",
        tracks,
        description=(
            f"piano rendered by `simdps-studio data render-piano` (render_corpus, seed {seed}, "
            f"{hours:g} h, {manifest.get('sample_rate', RENDER_SR)} Hz, piano {piano}, "
            f"SoundFonts: {fonts}); "
            f"held-out `val` pieces and new generated textures of at least {MIN_TRACK_S:g} s"
        ),
        licence=(
            "scores from the music21 corpus (public domain) and generated textures; SoundFonts "
            "from Debian packages under their own free licences (see the corpus manifest)"
        ),
    )


def _instrument(record: dict) -> str:
    """What played a rendered file, from its manifest record (SoundFont and preset, or sampled)."""
    if record.get("piano") == "salamander":
        return "Salamander Grand Piano V3 (sampled)"
    return f"{record.get('soundfont', '?')}, {record.get('preset', '?')}"


def real_excerpts(n_tracks: int) -> list[tuple[str, float]]:
    """``(file name, start_s)`` of the real excerpts, in order: each file at the first offset,
    then each at the second."""
    pairs = [(f, o) for o in REAL_OFFSETS_S for f in REAL_FILES]
    return pairs[: max(n_tracks, 0)]


def prepare_real(n_tracks: int) -> MaterialInfo:
    """30-s mono excerpts of the ``asc-music`` soundtrack (cached as float WAV).

    Raises
    ------
    NotAvailableError
        The package is missing (the message names the command that installs it).
    """
    from simdps_studio.core.paths import cache_dir

    wanted = real_excerpts(n_tracks)
    folder = cache_dir("bench", "real")
    missing = [(f, o) for f, o in wanted if not (folder / _real_name(f, o)).is_file()]
    if missing and not all((REAL_DIR / f).is_file() for f, _ in missing):
        raise NotAvailableError(
            f"real material needs the Debian package {REAL_PACKAGE}: run `{REAL_INSTALL}`, "
            "or leave out --material real"
        )
    tracks = []
    for f, offset in wanted:
        path = folder / _real_name(f, offset)
        if not path.is_file():
            x, sr = _read_float(REAL_DIR / f)
            a = int(round(offset * sr))
            b = a + int(round(REAL_EXCERPT_S * sr))
            if b > x.shape[1]:
                raise NotAvailableError(f"{REAL_DIR / f} is shorter than expected")
            _write_float(path, _mono(x[:, a:b]), sr)
        x, sr = _read_float(path)
        tracks.append(
            Track(
                name=f"real:{Path(f).stem}@{offset:g}s",
                material="real",
                samples=_mono(x),
                sr=sr,
                source=f"{REAL_DIR / f}, {offset:g}-{offset + REAL_EXCERPT_S:g} s",
            )
        )
    return MaterialInfo(
        "real",
        tracks,
        description=(
            f"Debian package `{REAL_PACKAGE}` (music of the game Advanced Strategic Command): "
            f"{REAL_EXCERPT_S:g}-s excerpts of {', '.join(REAL_FILES)} starting at "
            f"{', '.join(f'{o:g}' for o in REAL_OFFSETS_S)} s, MP3 at 22.05 kHz mixed to mono"
        ),
        licence=REAL_LICENCE,
    )


def _real_name(file: str, offset_s: float) -> str:
    return f"{Path(file).stem}-{offset_s:g}s-{REAL_EXCERPT_S:g}s.wav"


def prepare_demo() -> MaterialInfo:
    """The demo's clean reference, mixed to mono, at its own rate (44.1 kHz)."""
    from simdps_studio.core.paths import resources_dir

    path = resources_dir() / "demo" / "demo_clean.flac"
    if not path.is_file():
        raise NotAvailableError(f"the demo track is missing: {path}")
    x, sr = _read_float(path)
    track = Track("demo:demo_clean", "demo", _mono(x), sr, str(path))
    return MaterialInfo(
        "demo",
        [track],
        description=(
            "`resources/demo/demo_clean.flac` (Joplin, Maple Leaf Rag, rendered for the project; "
            "the clean reference of the demo), 44.1 kHz, mixed to mono"
        ),
        licence="composition public domain; rendering part of SimDPS Studio (resources/demo/README.md)",
    )


# ----------------------------------------------------------------------------- gaps


def gap_position(n_samples: int, sr: int, gap_s: float) -> Gap:
    """The fixed gap of length ``gap_s`` in a track of ``n_samples``.

    Its centre sits at :data:`GAP_CENTRE_FRACTION` of the track, moved (when the track is long
    enough) to keep :data:`MIN_EDGE_S` from either end.

    Raises
    ------
    InputError
        The track is too short for the gap.
    """
    length = int(round(gap_s * sr))
    frac = GAP_CENTRE_FRACTION.get(round(gap_s, 3), DEFAULT_CENTRE_FRACTION)
    start = int(round(frac * n_samples)) - length // 2
    edge = int(round(MIN_EDGE_S * sr))
    lo, hi = edge, n_samples - edge - length
    if hi < lo:  # short track: at least one sample of context on each side
        lo, hi = 1, n_samples - length - 1
    if hi < lo:
        raise InputError(
            f"a {gap_s:g}-s gap does not fit in a {n_samples / sr:.1f}-s track with context"
        )
    start = min(max(start, lo), hi)
    return validate_gaps([Gap(start, start + length)], n_samples, sr)[0]


def prepare_material(
    config: BenchConfig, *, log: Callable[[str], None] = print, cancel: CancelToken | None = None
) -> list[MaterialInfo]:
    """Every chosen material's tracks (a material that cannot be had is skipped with a reason)."""
    infos = []
    for material in config.materials:
        check_cancel(cancel)
        try:
            if material == "rendered":
                info = prepare_rendered(
                    config.tracks,
                    seed=config.render_seed,
                    piano=config.render_piano,
                    log=log,
                    cancel=cancel,
                )
            elif material == "real":
                info = prepare_real(config.tracks)
            else:
                info = prepare_demo()
        except CancelledError:
            raise
        except SimDPSError as e:
            info = MaterialInfo(material, skipped=error_text(e))
            log(f"material {material} skipped: {info.skipped}")
        infos.append(info)
    return infos
