"""Quality benchmark: LPC, Sim, DPS and SimDPS on rendered piano, real recordings and the demo.

``simdps-studio bench quality`` (or ``benchmarks/quality.py``) runs it. For every track of the chosen
material, gaps of fixed lengths are cut (zeroed) one at a time at fixed positions; each gap is
repaired by every method through the session layer (:func:`~simdps_studio.session.engines.make_repairs`
with a :class:`~simdps_studio.session.engines.RepairRequest`, rendered with
:func:`~simdps_studio.session.render.render`), so the benchmark measures what users get; each repair
is scored against the clean track with :mod:`simdps_studio.session.metrics`. Results go to
``quality.csv`` (one row per track x gap x method, written as the run goes), ``quality.md``
(tables) and PNG plots (metric against gap length, per method).

Material (prepared once, cached under ``cache_dir("bench", ...)``):

* ``rendered`` -- piano rendered by the project's own training pipeline
  (:func:`simdps_studio.data.render.render_corpus`) with seed :data:`RENDER_SEED` (training used
  seed 1). Only pieces the model cannot have seen are used: the held-out ``val`` split (split by a
  hash of the piece, whatever the seed, so these pieces were never trained on) and the generated
  textures of the ``train`` split (generated from this seed, so new). Scores of the ``train``
  split are skipped: the same piece may be in the training data in another performance.
* ``real`` -- 30-s excerpts of the game soundtrack in Debian's ``asc-music`` package (GPL-2+),
  decoded from MP3 and mixed to mono; installed with ``apt-get`` when missing and allowed.
* ``demo`` -- ``resources/demo/demo_clean.flac`` (the demo's clean reference), mixed to mono.

Every track is evaluated in mono (stereo doubles the diffusion cost on a CPU: the pipeline samples
mid and side as a batch of two).

Budgets on the idle 2-core development machine with ``piano-small`` (the plan and its estimate are
printed first): the default run (one track per material, five gap lengths, seven methods, 30
steps) 49.7 minutes of repairs plus 1.7 minutes preparing the material, measured 2026-12-01 (2.2
hours on a host that ran the network 3 times slower);
``--quick`` (gaps 0.5 and 2 s, diffusion in draft mode at 12 steps) 3.4-3.75 minutes measured on
the slower host (not measured on the faster one); material preparation once (rendering the
corpus: a few minutes).
"""

from __future__ import annotations

import argparse
import ast
import csv
import datetime
import json
import math
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from simdps_studio.core.errors import (
    CancelledError,
    InputError,
    NotAvailableError,
    SimDPSError,
)
from simdps_studio.core.progress import CancelToken, check_cancel
from simdps_studio.core.types import Audio, Gap, validate_gaps
from simdps_studio.session.engines import POOR_FIT_RATIO, n_windows

# ----------------------------------------------------------------------------- settings

#: Gap lengths of a full run, seconds.
DEFAULT_GAPS_S = (0.25, 0.5, 1.0, 2.0, 4.0)
#: Gap lengths of a ``--quick`` run.
QUICK_GAPS_S = (0.5, 2.0)
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
REAL_DIR = Path("/usr/share/games/asc/music")
REAL_FILES = ("frontiers.mp3", "time_to_strike.mp3", "machine_wars.mp3")
REAL_OFFSETS_S = (60.0, 180.0)
REAL_EXCERPT_S = 30.0
REAL_LICENCE = "GPL-2+ (c) 2002 Michael Kievernagel; /usr/share/doc/asc-music/copyright"

MATERIALS = ("rendered", "real", "demo")
DEFAULT_MODEL = "piano-small"
#: Sampler steps of a run, for every diffusion method (draft included). The app samples 35 steps
#: (20 in draft mode); the full run takes 30 so that it fits its 60-minute budget on the 2-core
#: development host (49.7 minutes of repairs measured; about 66 minutes at 35 steps; 2.2 hours at
#: 30 on a host that ran the network 3 times slower). Pass ``--steps 35`` to measure exactly the
#: app's full sampler.
DEFAULT_STEPS = 30
#: ``--quick``: draft sampling at fewer steps, one track per material, two gap lengths. 12 steps
#: scored as 20 did (same mean LSD for automatic ω, 5.79 dB; seams 1.43 vs 1.41) in 3.4-3.75
#: instead of 7.3 minutes on the slower host, inside the 5-minute budget there.
QUICK_STEPS = 12
#: Output folders (relative to the working directory): a full run, a quick one.
DEFAULT_OUT = "docs/benchmarks"
QUICK_OUT = "docs/benchmarks/quick"
#: Budget of a full run on the 2-core development machine, minutes.
FULL_BUDGET_MIN = 60.0

#: Seconds per sampler step and model window, mono, ``small`` preset, idle 2-core development
#: CPU (measured with this benchmark: a DPS or SimDPS repair of one window at 35 steps took
#: 52-53 s; draft from the README's sampling benchmark, 0.27 s, plus margin). Other presets are
#: scaled by :data:`PRESET_SPEED`.
STEP_S = {"dps": 1.46, "simdps": 1.47, "draft": 0.29}
PRESET_SPEED = {"tiny": 0.1, "small": 1.0, "paper": 40.0}
#: One forward + input-gradient pass, batch 1, on the machine :data:`STEP_S` was measured on
#: (``benchmarks/model_speed.py``), seconds: the plan scales its estimate by this host's own.
REFERENCE_CALL_S = {"tiny": 0.05, "small": 0.58}
#: Seconds per repair besides sampling (search, model load, render, metrics), and for LPC.
OVERHEAD_S = 1.0
LPC_S = 0.3
SIM_S = 0.2

METRICS = ("lsd_db", "seam", "snr_db", "chroma_sim", "level_db")
METRIC_LABEL = {
    "lsd_db": "log-spectral distance (dB, lower is better)",
    "seam": "seam smoothness (flux ratio, 1 = like the context, lower is better)",
    "snr_db": "SNR (dB, higher is better)",
    "chroma_sim": "chroma similarity (higher is better)",
    "level_db": "level error (dB, 0 is right)",
    "seconds": "wall time per repair (s; without the once-per-gap prior-fit check)",
}

#: The CSV's columns and the type each is read back as (:func:`read_rows`).
CSV_TYPES: dict[str, type] = {
    "material": str,
    "track": str,
    "track_s": float,
    "sr": int,
    "gap_s": float,
    "gap_start_s": float,
    "gap_end_s": float,
    "method": str,
    "engine": str,
    "omega": float,
    "draft": bool,
    "steps": int,
    "model": str,
    "device": str,
    "precision": str,
    "cand_start_s": float,
    "cand_cost": float,
    "cand_score": float,
    "cand_same": bool,
    "cand_bin": str,
    "margin_samples": int,
    "snr_db": float,
    "lsd_db": float,
    "chroma_sim": float,
    "seam": float,
    "seam_ref": float,
    "level_db": float,
    "seconds": float,
    "prior_fit": float,
    "fit_ratio": float,
    "null_ok": bool,
    "error": str,
}
CSV_COLUMNS = tuple(CSV_TYPES)


# ----------------------------------------------------------------------------- methods


@dataclass(frozen=True)
class MethodSpec:
    """One benchmarked method: a name and the :class:`RepairRequest` settings it stands for.

    Attributes
    ----------
    name : str
        ``lpc``, ``sim``, ``dps``, ``simdps-<ω>``, ``simdps-auto`` or ``draft-<ω>``.
    engine : str
        The session's method (``lpc``, ``sim``, ``dps``, ``simdps``).
    omega : float or str
        ω_x̃ (``"auto"`` for the automatic rule); unused by LPC, Sim and DPS.
    draft : bool
        Draft sampling (no backpropagation).
    """

    name: str
    engine: str
    omega: float | str = 0.15
    draft: bool = False

    @property
    def diffusion(self) -> bool:
        """Whether the method samples the diffusion model."""
        return self.engine in ("dps", "simdps")

    @property
    def uses_candidate(self) -> bool:
        """Whether the method uses the rank-1 candidate."""
        return self.engine in ("sim", "simdps")


DEFAULT_METHODS = (
    "lpc",
    "sim",
    "dps",
    "simdps-0.04",
    "simdps-0.15",
    "simdps-auto",
    "draft-0.15",
)


def parse_method(name: str) -> MethodSpec:
    """The :class:`MethodSpec` of a method name (see :data:`DEFAULT_METHODS`).

    Raises
    ------
    InputError
        An unknown name or a bad ω.
    """
    key = name.strip().lower()
    if key in ("lpc", "sim", "dps"):
        return MethodSpec(key, key, 0.0 if key == "dps" else 0.15)
    for prefix, draft in (("simdps-", False), ("draft-", True)):
        if key.startswith(prefix):
            tail = key[len(prefix) :]
            if tail == "auto":
                return MethodSpec(key, "simdps", "auto", draft)
            try:
                omega = float(tail)
            except ValueError:
                break
            if not 0.0 <= omega <= 10.0:
                break
            return MethodSpec(f"{prefix}{omega:g}", "simdps", omega, draft)
    if key == "simdps":
        return MethodSpec("simdps-0.15", "simdps", 0.15)
    raise InputError(
        f"unknown method {name!r} (lpc, sim, dps, simdps-<ω>, simdps-auto, draft-<ω>, draft-auto)"
    )


def _parse_list(text: str | Sequence[Any], option: str, parse_item: Callable[[Any], Any]) -> list:
    """Items of a comma-separated option, parsed, duplicates removed, order kept."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out: list = []
    for item in items:
        if isinstance(item, str) and not item.strip():
            continue
        value = parse_item(item)
        if value not in out:
            out.append(value)
    if not out:
        raise InputError(f"{option} names nothing")
    return out


def parse_methods(text: str | Sequence[str]) -> list[MethodSpec]:
    """Method specs from ``"lpc,sim,..."`` (duplicates removed, order kept)."""
    return _parse_list(text, "--methods", parse_method)


def quick_variant(spec: MethodSpec) -> MethodSpec:
    """The ``--quick`` form of a method: diffusion methods sample in draft mode."""
    return replace(spec, draft=True) if spec.diffusion else spec


def _gap_length(item: Any) -> float:
    try:
        value = float(item)
    except (TypeError, ValueError):
        raise InputError(f"--gaps: not a number of seconds: {item!r}") from None
    if not 0.0 < value <= 30.0:
        raise InputError(f"--gaps: a gap length must lie in (0, 30] s, not {value}")
    return value


def parse_gaps(text: str | Sequence[float]) -> list[float]:
    """Gap lengths in seconds from ``"0.5,2"``; each must lie in (0, 30]."""
    return _parse_list(text, "--gaps", _gap_length)


def _material(item: str) -> str:
    key = item.strip().lower()
    if key not in MATERIALS:
        raise InputError(f"unknown material {item!r} (rendered, real or demo)")
    return key


def parse_materials(text: str | Sequence[str]) -> list[str]:
    """Material names from ``"rendered,real,demo"``."""
    return _parse_list(text, "--material", _material)


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


def _install_real_package(log: Callable[[str], None]) -> None:
    """``apt-get install asc-music`` when running as root; otherwise say how."""
    how = f"apt-get install {REAL_PACKAGE} (as root), or leave out --material real"
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise NotAvailableError(f"real material needs the Debian package {REAL_PACKAGE}: {how}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", REAL_PACKAGE]
    log(f"installing the real material: {' '.join(cmd)}")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        log("apt-get install failed; running apt-get update and trying again")
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=False)
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not REAL_DIR.is_dir():
        raise NotAvailableError(f"could not install {REAL_PACKAGE}; {how}")


def real_excerpts(n_tracks: int) -> list[tuple[str, float]]:
    """``(file name, start_s)`` of the real excerpts, in order: each file at the first offset,
    then each at the second."""
    pairs = [(f, o) for o in REAL_OFFSETS_S for f in REAL_FILES]
    return pairs[: max(n_tracks, 0)]


def prepare_real(
    n_tracks: int, *, install: bool = True, log: Callable[[str], None] = print
) -> MaterialInfo:
    """30-s mono excerpts of the ``asc-music`` soundtrack (cached as float WAV).

    Raises
    ------
    NotAvailableError
        The package is missing and cannot (or may not) be installed.
    """
    from simdps_studio.core.paths import cache_dir

    wanted = real_excerpts(n_tracks)
    folder = cache_dir("bench", "real")
    missing = [(f, o) for f, o in wanted if not (folder / _real_name(f, o)).is_file()]
    if missing and not all((REAL_DIR / f).is_file() for f, _ in missing):
        if not install:
            raise NotAvailableError(
                f"real material needs the Debian package {REAL_PACKAGE} (apt-get install "
                f"{REAL_PACKAGE}); this run may not install it"
            )
        _install_real_package(log)
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


# ----------------------------------------------------------------------------- configuration


@dataclass
class BenchConfig:
    """Everything a run depends on (the command-line options)."""

    materials: list[str] = field(default_factory=lambda: list(MATERIALS))
    gaps_s: list[float] = field(default_factory=lambda: list(DEFAULT_GAPS_S))
    methods: list[MethodSpec] = field(
        default_factory=lambda: [parse_method(m) for m in DEFAULT_METHODS]
    )
    model: str = DEFAULT_MODEL
    steps: int = DEFAULT_STEPS
    tracks: int = 1
    seed: int = 0
    out_dir: Path = Path(DEFAULT_OUT)
    quick: bool = False
    install: bool = True
    device: str = "auto"
    resume: bool = False
    #: Seed of the rendered material: :data:`RENDER_SEED` measures; another seed gives separate
    #: pieces to select checkpoints and settings on (docs/training.md).
    render_seed: int = RENDER_SEED
    #: The rendered material's piano: "soundfont" measures; "salamander" or "mix" for selection.
    render_piano: str = "soundfont"
    precision: str = "auto"
    start_sigma: float | None = None  # warm start of the diffusion methods (None: off)

    @property
    def needs_model(self) -> bool:
        """Whether any method samples the diffusion model."""
        return any(m.diffusion for m in self.methods)


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    """A :class:`BenchConfig` from parsed :func:`add_arguments` options (``--quick`` defaults)."""
    quick = bool(args.quick)
    methods = parse_methods(args.methods or ",".join(DEFAULT_METHODS))
    if quick:
        # Diffusion samples in draft mode; a method that becomes another one's twin is dropped.
        seen, unique = set(), []
        for m in map(quick_variant, methods):
            if (m.engine, m.omega, m.draft) not in seen:
                seen.add((m.engine, m.omega, m.draft))
                unique.append(m)
        methods = unique
    steps = args.steps if args.steps is not None else (QUICK_STEPS if quick else DEFAULT_STEPS)
    if not 1 <= steps <= 1000:
        raise InputError(f"--steps must be between 1 and 1000, not {steps}")
    tracks = args.tracks if args.tracks is not None else 1
    if not 1 <= tracks <= 100:
        raise InputError(f"--tracks must be between 1 and 100, not {tracks}")
    return BenchConfig(
        materials=parse_materials(args.material or ",".join(MATERIALS)),
        gaps_s=parse_gaps(
            args.gaps or ",".join(f"{g:g}" for g in (QUICK_GAPS_S if quick else DEFAULT_GAPS_S))
        ),
        methods=methods,
        model=args.model or DEFAULT_MODEL,
        steps=int(steps),
        tracks=int(tracks),
        seed=int(args.seed),
        out_dir=Path(args.out or (QUICK_OUT if quick else DEFAULT_OUT)),
        quick=quick,
        install=not args.no_install,
        device=args.device,
        resume=bool(getattr(args, "resume", False)),
        render_seed=int(getattr(args, "render_seed", None) or RENDER_SEED),
        render_piano=getattr(args, "render_piano", None) or "soundfont",
        precision=getattr(args, "precision", "auto"),
        start_sigma=_start_sigma(getattr(args, "start_sigma", None)),
    )


def _start_sigma(value: float | None) -> float | None:
    """``--start-sigma``: None or 1 is off (a cold start from noise)."""
    if value is None:
        return None
    if not 0.0 < value <= 1.0:  # refuses nan too
        raise InputError(f"--start-sigma must lie in (0, 1] (1: off), not {value}")
    return None if value >= 1.0 else float(value)


def command_line(config: BenchConfig, prog: str = "simdps-studio bench quality") -> str:
    """The full command that reproduces ``config`` (every option spelled out)."""
    parts: list[str] = []
    if config.quick:
        parts.append("--quick")
    parts += ["--material", ",".join(config.materials)]
    parts += ["--gaps", ",".join(f"{g:g}" for g in config.gaps_s)]
    names = [m.name for m in config.methods]
    parts += ["--methods", ",".join(dict.fromkeys(names))]
    parts += ["--model", config.model, "--steps", str(config.steps), "--tracks", str(config.tracks)]
    if config.seed:
        parts += ["--seed", str(config.seed)]
    if config.device != "auto":
        parts += ["--device", config.device]
    if config.render_seed != RENDER_SEED:
        parts += ["--render-seed", str(config.render_seed)]
    if config.render_piano != "soundfont":
        parts += ["--render-piano", config.render_piano]
    if config.precision != "auto":
        parts += ["--precision", config.precision]
    if config.start_sigma is not None:
        parts += ["--start-sigma", f"{config.start_sigma:g}"]
    parts += ["--out", str(config.out_dir)]
    return f"{prog} {shlex.join(parts)}"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The benchmark's options (shared by ``simdps-studio bench quality`` and the script)."""
    p.add_argument(
        "--quick",
        action="store_true",
        help=(
            "a few minutes: one track per material, gaps 0.5 and 2 s, diffusion in draft mode "
            f"at {QUICK_STEPS} steps"
        ),
    )
    p.add_argument("--material", metavar="LIST", help="rendered,real,demo (default: all)")
    p.add_argument(
        "--gaps", metavar="SECONDS", help="gap lengths, e.g. 0.5,2 (default 0.25,0.5,1,2,4)"
    )
    p.add_argument(
        "--methods",
        metavar="LIST",
        help=f"default {','.join(DEFAULT_METHODS)}; also simdps-<ω>, draft-<ω>, draft-auto",
    )
    p.add_argument("--model", metavar="NAME|DIR", help=f"diffusion model (default {DEFAULT_MODEL})")
    p.add_argument(
        "--steps",
        type=int,
        help=(
            f"sampler steps (default {DEFAULT_STEPS}, quick {QUICK_STEPS}; "
            "the app samples 35, 20 in draft mode)"
        ),
    )
    p.add_argument("--tracks", type=int, help="tracks per material (default 1; the demo has one)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument(
        "--render-seed",
        type=int,
        metavar="N",
        help=(
            f"seed of the rendered material (default {RENDER_SEED}, the measuring pieces; "
            "another seed renders separate pieces to select checkpoints and settings on)"
        ),
    )
    p.add_argument(
        "--render-piano",
        choices=["soundfont", "salamander", "mix"],
        help=(
            "piano of the rendered material (default soundfont; salamander needs "
            "`simdps-studio data fetch-salamander`)"
        ),
    )
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "fp32", "bf16"],
        help="network precision of the diffusion methods (default auto: as repairs choose)",
    )
    p.add_argument(
        "--start-sigma",
        type=float,
        default=None,
        metavar="S",
        help="warm start of the SimDPS methods at noise level S (default: off, from noise)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help=f"output folder (default {DEFAULT_OUT}; with --quick {QUICK_OUT})",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help=(
            "keep the finished rows of OUT/quality.csv made by the same repair code, model "
            "weights, steps and seed, and run only the rest (a long run in chunks)"
        ),
    )
    p.add_argument(
        "--no-install",
        action="store_true",
        help=f"never run apt-get (real material needs the package {REAL_PACKAGE})",
    )
    p.add_argument(
        "--refresh-report",
        action="store_true",
        help=(
            "run nothing: rebuild the tables and plots of OUT/quality.md from OUT/quality.csv "
            "with the current report code"
        ),
    )


# ----------------------------------------------------------------------------- estimate


def _model_config(model: str) -> dict:
    """The model's ``config.json`` (empty when it cannot be read)."""
    from simdps_studio.core.paths import models_dir

    p = Path(model)
    folder = (
        p
        if (os.sep in model or model.startswith((".", "~")) or p.is_dir())
        else models_dir() / model
    )
    try:
        return json.loads((folder.expanduser() / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def case_seconds(
    spec: MethodSpec, gap_s: float, steps: int, model_cfg: dict, speed: float = 1.0
) -> float:
    """Expected wall time of one repair (mono track), seconds: on the idle 2-core reference
    machine, the sampling scaled by ``speed`` (:func:`host_speed_factor`)."""
    if not spec.diffusion:
        return LPC_S if spec.engine == "lpc" else SIM_S
    window_s = float(model_cfg.get("segment_length", 81920)) / float(
        model_cfg.get("sample_rate", 22050)
    )
    preset_speed = PRESET_SPEED.get(str(model_cfg.get("preset", "small")), 1.0)
    per_step = STEP_S["draft"] if spec.draft else STEP_S[spec.engine]
    return n_windows(gap_s, window_s) * steps * per_step * preset_speed * speed + OVERHEAD_S


def host_speed_factor(config: BenchConfig, model_cfg: dict) -> float:
    """This CPU's time for the run's network against the reference machine's (> 1: slower).

    Measured with :func:`simdps_studio.inpaint.precond.network_call_seconds` (a few seconds);
    1.0 when nothing is sampled, the run is on CUDA or the preset has no reference time.
    """
    preset = str(model_cfg.get("preset", ""))
    if not config.needs_model or preset not in REFERENCE_CALL_S:
        return 1.0
    from simdps_studio.inpaint.device import resolve_device
    from simdps_studio.inpaint.precond import network_call_seconds

    if resolve_device(config.device).type != "cpu":
        return 1.0
    return network_call_seconds(preset) / REFERENCE_CALL_S[preset]


def estimate_seconds(
    config: BenchConfig, track_count: int, model_cfg: dict | None = None, speed: float = 1.0
) -> dict[str, float]:
    """Expected wall time of a run's repairs, seconds, by part: on the idle 2-core reference
    machine, the sampling scaled by ``speed`` (:func:`host_speed_factor`).

    Per diffusion repair: model windows (:func:`n_windows`) x steps x seconds per step
    (:data:`STEP_S`, scaled by :data:`PRESET_SPEED`) + :data:`OVERHEAD_S`.

    Returns
    -------
    dict
        ``diffusion``, ``other`` and ``total`` seconds, and ``repairs`` (their number).
    """
    cfg = _model_config(config.model) if model_cfg is None else model_cfg
    diffusion = other = 0.0
    for gap_s in config.gaps_s:
        for m in config.methods:
            t = track_count * case_seconds(m, gap_s, config.steps, cfg, speed)
            if m.diffusion:
                diffusion += t
            else:
                other += t
    return {
        "diffusion": diffusion,
        "other": other,
        "total": diffusion + other,
        "repairs": float(track_count * len(config.gaps_s) * len(config.methods)),
    }


# ----------------------------------------------------------------------------- running


@dataclass
class BenchResult:
    """A finished (or interrupted) run: rows, materials, where the outputs are, and timing."""

    config: BenchConfig
    rows: list[dict[str, Any]]
    materials: list[MaterialInfo]
    paths: dict[str, Path]
    seconds: float
    estimate_s: float
    started: str
    prepare_s: float = 0.0
    complete: bool = True
    devices: set = field(default_factory=set)
    bin_cuts: tuple[float, float] | None = None
    kept: int = 0


def _fmt_s(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


def _candidate(damaged: Audio, gap: Gap):
    from simdps_studio.session.engines import find_candidates

    ranked = find_candidates(damaged, gap, top_k=5)
    return ranked[0] if ranked else None


def repair_gap(damaged: Audio, gap: Gap, spec: MethodSpec, config: BenchConfig):
    """Repair one gap with one method through the session layer, as the app does.

    Returns
    -------
    (Repair, Audio, float)
        The repair (rank-1 candidate, first take), the damaged track rendered with it, and the
        wall time of :func:`~simdps_studio.session.engines.make_repairs` in seconds, without
        the prior-fit check (paid by the first diffusion method of a gap only, then cached).
    """
    from simdps_studio.session.engines import RepairRequest, make_repairs
    from simdps_studio.session.render import render

    request = RepairRequest(
        method=spec.engine,
        omega=spec.omega,
        steps=config.steps,
        seed=config.seed,
        candidate_rank=1,
        model=config.model if spec.diffusion else None,
        device=config.device,
        draft=spec.draft,
        precision=config.precision,
        start_sigma=config.start_sigma,
    )
    t0 = time.perf_counter()
    repair = make_repairs(damaged, gap, request)[0]
    seconds = time.perf_counter() - t0 - float(repair.info.prior_fit_seconds or 0.0)
    return repair, render(damaged, [repair]), seconds


def _recorded(value: Any) -> Any:
    """A repair record's value for a results row: "" when not recorded."""
    return "" if value is None else value


def run_case(
    reference: Audio,
    damaged: Audio,
    gap: Gap,
    spec: MethodSpec,
    config: BenchConfig,
    candidate=None,
) -> dict[str, Any]:
    """Repair one gap with one method through the session layer and score it.

    Parameters
    ----------
    reference, damaged : Audio
        The clean track and the same track with the gap zeroed (float samples).
    candidate : Candidate, optional
        The rank-1 candidate found beforehand; the repair's own must be the same.

    Returns
    -------
    dict
        The metric and timing columns of the row. A failing repair raises; the runner records
        the exception as the row's ``error``.
    """
    from simdps_studio.session.metrics import gap_metrics
    from simdps_studio.session.render import null_test

    repair, rendered, seconds = repair_gap(damaged, gap, spec, config)
    spans = [(repair.span_start_sample, repair.span_end_sample)]
    y = rendered.to_float()
    metrics = gap_metrics(
        reference.to_float(),
        y,
        reference.sr,
        gap.start_sample,
        gap.end_sample,
        margin_samples=max(repair.margin_before, repair.margin_after),
    )
    info = repair.info
    used = info.used_candidate
    fit = info.prior_fit or {}  # diffusion repairs: the prior's fit to the context
    same = ""
    if spec.uses_candidate and candidate is not None:
        same = int(used.get("start_sample", -1)) == int(candidate.start_sample)
    return {
        **metrics,
        "engine": repair.method,
        "omega": _recorded(info.omega)
        if spec.engine == "simdps"
        else (0.0 if spec.engine == "dps" else ""),
        "draft": bool(info.draft),
        "steps": _recorded(info.steps),
        "model": _recorded(info.model),
        "device": _recorded(info.device),
        "precision": _recorded(info.precision),
        "cand_same": same,
        "margin_samples": max(repair.margin_before, repair.margin_after),
        "seconds": round(seconds, 3),
        "prior_fit": fit.get("loss", ""),
        "fit_ratio": "" if fit.get("ratio") is None else fit["ratio"],
        "null_ok": null_test(damaged, rendered, spans),
    }


def _error_text(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


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
                info = prepare_real(config.tracks, install=config.install, log=log)
            else:
                info = prepare_demo()
        except CancelledError:
            raise
        except SimDPSError as e:
            info = MaterialInfo(material, skipped=_error_text(e))
            log(f"material {material} skipped: {info.skipped}")
        infos.append(info)
    return infos


#: Run settings stored beside the CSV; a resumed run keeps rows only when they are equal.
RUN_FILE = "quality.run.json"


def _parse_cell(key: str, text: str) -> Any:
    kind = CSV_TYPES.get(key, str)
    if text == "" or kind is str:
        return text
    if kind is bool:
        return {"True": True, "False": False}.get(text, text)
    try:
        return kind(text)
    except ValueError:
        return text


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a ``quality.csv`` with their numbers parsed (as :func:`run_case` makes them)."""
    with open(path, newline="", encoding="utf-8") as fh:
        return [{k: _parse_cell(k, v or "") for k, v in row.items()} for row in csv.DictReader(fh)]


def model_fingerprint(model: str) -> str:
    """SHA-256 (first 16 hex digits) of a model's weight files, or ``""`` when it is missing."""
    import hashlib

    from simdps_studio.core.paths import models_dir

    folder = Path(model) if Path(model).is_dir() else models_dir() / model
    digest = hashlib.sha256()
    files = sorted(folder.glob("*.safetensors")) if folder.is_dir() else []
    for f in files:
        digest.update(f.read_bytes())
    return digest.hexdigest()[:16] if files else ""


#: The code a repair's numbers depend on (packages and session modules), for :func:`code_fingerprint`.
_REPAIR_CODE = (
    "core",
    "audio",
    "search",
    "inpaint",
    "session/engines.py",
    "session/render.py",
    "session/repair.py",
    "session/metrics.py",
)


def _code_without_docs(source: str) -> str:
    """A module's syntax tree without its docstrings (comments and layout never reach the tree)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, annotate_fields=False, include_attributes=False)


def code_fingerprint() -> str:
    """SHA-256 (first 16 hex digits) of the code that repairs and scores a gap.

    Docstrings, comments and formatting are left out, so editing only them keeps a run resumable;
    any change to what the code does (a constant included) gives another fingerprint.
    """
    import hashlib

    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for part in _REPAIR_CODE:
        path = root / part
        for f in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(f.relative_to(root).as_posix().encode())
            digest.update(_code_without_docs(f.read_text(encoding="utf-8")).encode())
    return digest.hexdigest()[:16]


def run_settings(config: BenchConfig) -> dict[str, Any]:
    """What a row's numbers depend on besides its track, gap and method (code included)."""
    settings = {
        "code_ast_sha256_16": code_fingerprint(),
        "model": config.model,
        "model_sha256_16": model_fingerprint(config.model) if config.needs_model else "",
        "steps": config.steps,
        "seed": config.seed,
        "quick": config.quick,
        "precision": config.precision,
        "start_sigma": config.start_sigma,
    }
    if config.render_seed != RENDER_SEED:  # runs made before the option keep their rows
        settings["render_seed"] = config.render_seed
    if config.render_piano != "soundfont":
        settings["render_piano"] = config.render_piano
    return settings


def finished_rows(out: Path, config: BenchConfig) -> dict[tuple[str, float, str], dict[str, Any]]:
    """Rows of an earlier run in ``out`` that a resumed run can keep, by (track, gap, method).

    Only rows without an error are kept, and only when the earlier run's settings
    (:func:`run_settings`, stored in :data:`RUN_FILE`: the repair code, the model's weights,
    steps, seed) equal this run's.

    Raises
    ------
    InputError
        The earlier run used other settings (its rows would mix two experiments).
    """
    csv_path, run_path = out / "quality.csv", out / RUN_FILE
    if not csv_path.is_file():
        return {}
    try:
        earlier = json.loads(run_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        earlier = None
    now = run_settings(config)
    if earlier != now:
        raise InputError(
            f"cannot resume: {csv_path} was made with other settings ({earlier} vs {now}); "
            "choose another --out or run without --resume"
        )
    kept = {}
    for row in read_rows(csv_path):
        if not row.get("error") and isinstance(row.get("lsd_db"), float):
            kept[(row["track"], float(row["gap_s"]), row["method"])] = row
    return kept


def run_benchmark(
    config: BenchConfig,
    *,
    log: Callable[[str], None] = print,
    cancel: CancelToken | None = None,
    prog: str = "simdps-studio bench quality",
    materials: list[MaterialInfo] | None = None,
) -> BenchResult:
    """Run the benchmark and write ``quality.csv``, ``quality.md`` and the plots.

    A failed repair becomes a row with its ``error``; an interrupted run (Ctrl+C, ``cancel``)
    still writes the report of what it finished, then re-raises.

    Parameters
    ----------
    materials : list of MaterialInfo, optional
        Tracks to use instead of preparing ``config.materials`` (e.g. your own recordings).

    Raises
    ------
    InputError
        The model is not installed (when a diffusion method is asked for) or the output folder
        cannot be made.
    """
    from simdps_studio.session.engines import model_installed

    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if config.needs_model and not model_installed(config.model):
        raise InputError(
            f"model {config.model!r} is not installed (needed by "
            f"{', '.join(m.name for m in config.methods if m.diffusion)}); pass --model NAME, "
            "or --methods lpc,sim"
        )
    out = Path(config.out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create output folder {out}: {e.strerror}") from None
    t_start = time.perf_counter()
    log(f"command: {command_line(config, prog)}")
    if materials is None:
        materials = prepare_material(config, log=log, cancel=cancel)
    tracks = [t for m in materials for t in m.tracks]
    if not tracks:
        raise InputError(
            "no material could be prepared: " + "; ".join(m.skipped for m in materials)
        )
    model_cfg = _model_config(config.model) if config.needs_model else {}
    reference = estimate_seconds(config, len(tracks), model_cfg)["total"]
    speed = host_speed_factor(config, model_cfg)
    estimate = estimate_seconds(config, len(tracks), model_cfg, speed)
    n_cases = len(tracks) * len(config.gaps_s) * len(config.methods)
    where = (
        f"this CPU runs the network at {1 / speed:.2g}x the speed of the 2-core machine the "
        f"estimate was calibrated on, where it is {_fmt_s(reference)}"
        if speed != 1.0
        else "as on the idle 2-core machine it was calibrated on"
    )
    log(
        f"plan: {len(tracks)} track(s) x {len(config.gaps_s)} gap(s) x {len(config.methods)} "
        f"method(s) = {n_cases} repairs; estimate: {_fmt_s(estimate['total'])} (diffusion "
        f"{_fmt_s(estimate['diffusion'])}; {where})"
    )
    if not config.quick and estimate["total"] > FULL_BUDGET_MIN * 60:
        log(f"note: the estimate exceeds the {FULL_BUDGET_MIN:g}-minute budget of a full run")

    csv_path = out / "quality.csv"
    kept = finished_rows(out, config) if config.resume else {}
    if kept:
        log(f"resuming: {len(kept)} finished repair(s) kept from {csv_path}")
    (out / RUN_FILE).write_text(json.dumps(run_settings(config), indent=2) + "\n", encoding="utf-8")
    rows: list[dict[str, Any]] = []
    devices: set = set()
    done = 0
    eta = _Eta(estimate["diffusion"], estimate["other"])
    complete = False
    t_cases = time.perf_counter()
    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        try:
            for track in tracks:
                reference = Audio(track.samples, track.sr, "FLOAT", "WAV")
                for gap_s in config.gaps_s:
                    base = {
                        "material": track.material,
                        "track": track.name,
                        "track_s": round(track.duration_s, 3),
                        "sr": track.sr,
                        "gap_s": gap_s,
                    }
                    try:
                        gap = gap_position(track.samples.shape[1], track.sr, gap_s)
                    except InputError as e:
                        for spec in config.methods:
                            row = {**base, "method": spec.name, "error": _error_text(e)}
                            rows.append(row)
                            writer.writerow(row)
                            done += 1
                            eta.record(
                                spec.diffusion,
                                case_seconds(spec, gap_s, config.steps, model_cfg, speed),
                                0.0,
                            )
                        log(f"{track.name} gap {gap_s:g} s: {e}")
                        continue
                    damaged_x = track.samples.copy()
                    damaged_x[:, gap.start_sample : gap.end_sample] = 0.0
                    damaged = Audio(damaged_x, track.sr, "FLOAT", "WAV")
                    base.update(
                        gap_start_s=round(gap.start_s(track.sr), 4),
                        gap_end_s=round(gap.end_s(track.sr), 4),
                    )
                    cand, cand_error = None, ""
                    try:
                        cand = _candidate(damaged, gap)
                    except (CancelledError, KeyboardInterrupt):
                        raise
                    except Exception as e:  # recorded on the rows of the methods that need it
                        cand_error = _error_text(e)
                    if cand is not None:
                        base.update(
                            cand_start_s=round(cand.start_s, 4),
                            cand_cost=round(float(cand.cost), 5),
                            cand_score=round(float(cand.score), 5),
                        )
                    for spec in config.methods:
                        check_cancel(cancel)
                        earlier = kept.get((track.name, float(gap_s), spec.name))
                        if earlier is not None and earlier.get("cand_cost") == base.get(
                            "cand_cost", ""
                        ):
                            # The same gap, candidate and settings: its numbers stand.
                            rows.append(earlier)
                            if earlier.get("device"):
                                devices.add(earlier["device"])
                            writer.writerow(earlier)
                            fh.flush()
                            done += 1
                            eta.skip(
                                spec.diffusion,
                                case_seconds(spec, gap_s, config.steps, model_cfg, speed),
                            )
                            continue
                        row = {**base, "method": spec.name}
                        t_case = time.perf_counter()
                        try:
                            row.update(run_case(reference, damaged, gap, spec, config, cand))
                            if row.get("device"):
                                devices.add(row["device"])
                        except (CancelledError, KeyboardInterrupt):
                            raise
                        except Exception as e:  # a failed repair is a result, not a crash
                            row["error"] = _error_text(e)
                            if cand_error and spec.uses_candidate:
                                row["error"] = cand_error
                        rows.append(row)
                        writer.writerow(row)
                        fh.flush()
                        done += 1
                        eta.record(
                            spec.diffusion,
                            case_seconds(spec, gap_s, config.steps, model_cfg, speed),
                            time.perf_counter() - t_case,
                        )
                        elapsed = time.perf_counter() - t_cases
                        log(_progress_line(done, n_cases, row, elapsed, eta.remaining()))
            complete = True
        finally:
            # The report covers what finished, also after an interruption or a crash.
            fh.close()
            bin_cuts = assign_bins(rows)
            seconds = time.perf_counter() - t_cases
            result = BenchResult(
                config=config,
                rows=rows,
                materials=materials,
                paths={"csv": csv_path},
                seconds=seconds,
                estimate_s=estimate["total"],
                started=started,
                prepare_s=t_cases - t_start,
                complete=complete,
                devices=devices,
                bin_cuts=bin_cuts,
                kept=sum(1 for r in rows if any(r is k for k in kept.values())),
            )
            if rows:
                _rewrite_csv(csv_path, rows)
                result.paths.update(write_plots(rows, config, out))
                md = out / "quality.md"
                md.write_text(markdown_report(result, command_line(config, prog)), encoding="utf-8")
                result.paths["md"] = md
    log(
        f"{'done' if complete else 'stopped'}: repairs {_fmt_s(result.seconds)} (estimate "
        f"{_fmt_s(estimate['total'])}), material {_fmt_s(result.prepare_s)}; wrote "
        + ", ".join(str(p) for p in result.paths.values())
    )
    return result


class _Eta:
    """Time left: the estimate of the remaining diffusion and other repairs, each scaled by how
    long the finished ones of its kind took against their estimate (1 until one finished)."""

    def __init__(self, diffusion_s: float, other_s: float) -> None:
        self.left = {True: diffusion_s, False: other_s}
        self.estimated = {True: 0.0, False: 0.0}
        self.took = {True: 0.0, False: 0.0}

    def record(self, diffusion: bool, estimated_s: float, took_s: float) -> None:
        self.left[diffusion] = max(0.0, self.left[diffusion] - estimated_s)
        self.estimated[diffusion] += estimated_s
        self.took[diffusion] += took_s

    def skip(self, diffusion: bool, estimated_s: float) -> None:
        """A repair kept from an earlier run: no longer ahead, and not timed now."""
        self.left[diffusion] = max(0.0, self.left[diffusion] - estimated_s)

    def remaining(self) -> float:
        return sum(
            left * (self.took[k] / self.estimated[k] if self.estimated[k] > 0 else 1.0)
            for k, left in self.left.items()
        )


def _rewrite_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write every row again (now with the candidate bins, known only at the end)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_value(row.get(k, "")) for k in CSV_COLUMNS})
    os.replace(tmp, path)


def _csv_value(v: Any) -> Any:
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return round(v, 5)
    return v


def _progress_line(done: int, total: int, row: dict, elapsed: float, eta: float) -> str:
    head = f"[{done:>{len(str(total))}}/{total}] {row['track']} gap {row['gap_s']:g} s  {row['method']:<12}"
    if row.get("error"):
        body = f"ERROR {row['error']}"
    else:
        body = (
            f"LSD {row['lsd_db']:5.2f} dB  seam {row['seam']:5.2f}  SNR {row['snr_db']:6.2f} dB  "
            f"{row['seconds']:6.1f} s"
        )
    return f"{head} {body}  (elapsed {_fmt_s(elapsed)}, ETA {_fmt_s(eta)})"


# ----------------------------------------------------------------------------- analysis


def _ok(row: dict) -> bool:
    return not row.get("error") and isinstance(row.get("lsd_db"), float)


def assign_bins(rows: list[dict[str, Any]]) -> tuple[float, float] | None:
    """Candidate-quality bins by the rank-1 candidate's cost, terciles over the run's gaps.

    Each distinct (track, gap) counts once; ``good`` is the lowest third of the costs, ``poor``
    the highest. Sets ``cand_bin`` on every row with a candidate and returns the two cut costs
    (None when no gap had a candidate).
    """
    costs = {}
    for r in rows:
        if isinstance(r.get("cand_cost"), float):
            costs[(r["track"], r["gap_s"])] = r["cand_cost"]
    if not costs:
        return None
    values = np.array(sorted(costs.values()))
    lo, hi = (float(v) for v in np.quantile(values, [1 / 3, 2 / 3]))
    for r in rows:
        c = r.get("cand_cost")
        if isinstance(c, float):
            r["cand_bin"] = "good" if c <= lo else ("fair" if c <= hi else "poor")
    return lo, hi


#: Infinite values (an SNR of a fill identical to the original) count as this much in means.
MEAN_CAP = 100.0


def _mean(values: list[float]) -> float:
    """Mean of the numbers in ``values``; NaN and non-numbers are left out, infinities count as
    :data:`MEAN_CAP` (finite values are never clipped: a 200-s repair is 200 s)."""
    nums = [
        math.copysign(MEAN_CAP, v) if math.isinf(v) else float(v)
        for v in values
        if isinstance(v, (int, float)) and not math.isnan(v)
    ]
    return float(np.mean(nums)) if nums else math.nan


def _cell(v: float, digits: int = 2) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def table_by(
    rows: list[dict], key: str, metric: str, methods: list[str], keys: list
) -> dict[str, dict[Any, float]]:
    """``{method: {key value: mean metric}}`` over the successful rows."""
    out: dict[str, dict[Any, float]] = {}
    for m in methods:
        out[m] = {}
        for k in keys:
            vals = [r[metric] for r in rows if r["method"] == m and r.get(key) == k and _ok(r)]
            out[m][k] = _mean(vals)
    return out


def paired_wins(rows: list[dict], a: str, b: str, metric: str, lower_better: bool = True):
    """How often method ``a`` beats ``b`` on ``metric`` on the same gap: (wins, n)."""
    by = {}
    for r in rows:
        if _ok(r):
            by[(r["track"], r["gap_s"], r["method"])] = r[metric]
    wins = n = 0
    for (track, gap_s, m), va in by.items():
        if m != a or (track, gap_s, b) not in by:
            continue
        vb = by[(track, gap_s, b)]
        if math.isnan(va) or math.isnan(vb):
            continue
        n += 1
        wins += (va < vb) if lower_better else (va > vb)
    return wins, n


def _md_table(header: list[str], body: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return lines


def _hardware() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    threads = ""
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        threads = f", torch {torch.__version__} with {torch.get_num_threads()} threads"
    return (
        f"{cpu}, {os.cpu_count()} logical CPUs{threads}; {platform.system()} {platform.release()}"
    )


def _model_line(config: BenchConfig) -> str:
    cfg = _model_config(config.model)
    if not cfg:
        return f"`{config.model}` (not used or not readable)"
    training = cfg.get("training", {}) or {}
    metrics = cfg.get("metrics") or {}
    steps = training.get("steps", metrics.get("step", "?"))
    val_loss = float(metrics.get("val_loss", math.nan))
    return (
        f"`{config.model}`: preset {cfg.get('preset', '?')}, {cfg.get('n_parameters', '?')} "
        f"parameters, {cfg.get('sample_rate', '?')} Hz, window {cfg.get('segment_length', '?')} "
        f"samples; trained {steps} steps (validation loss {_cell(val_loss, 4)})"
    )


def markdown_report(result: BenchResult, command: str) -> str:
    """The ``quality.md`` text: settings, material, tables and the plots."""
    config, rows = result.config, result.rows
    gaps = list(config.gaps_s)
    ok_rows = [r for r in rows if _ok(r)]
    resumed = (
        f" (resumed: {result.kept} repairs kept from earlier chunks of this run, whose time is "
        f"not in the run time; the seconds columns are each repair's own)"
        if result.kept
        else ""
    )
    lines = [
        "# Gap-repair quality: LPC, Sim, DPS and SimDPS",
        "",
        f"- **Command:** `{command}`",
        f"- **Date:** {result.started}{resumed}; **run time:** {_fmt_s(result.seconds)} for the "
        "repairs "
        f"(estimate {_fmt_s(result.estimate_s)}) + {_fmt_s(result.prepare_s)} preparing material"
        + ("" if result.complete else " — **interrupted: partial results**"),
        f"- **Model:** {_model_line(config) if config.needs_model else 'none (no diffusion method)'}",
        f"- **Sampling:** {config.steps} steps, seed {config.seed}"
        + (", all diffusion methods in draft mode (`--quick`)" if config.quick else "")
        + f"; device: {', '.join(sorted(result.devices)) or config.device}"
        + f"; precision: {config.precision}"
        + (f"; warm start at σ {config.start_sigma:g}" if config.start_sigma else ""),
        f"- **Hardware:** {_hardware()}",
        "",
        "## Material",
        "",
    ]
    for m in result.materials:
        if m.skipped:
            lines.append(f"- **{m.material}:** skipped ({m.skipped})")
            continue
        lines.append(f"- **{m.material}:** {m.description}. Licence: {m.licence}.")
        for t in m.tracks:
            lines.append(f"  - `{t.name}` ({t.duration_s:.1f} s, {t.sr} Hz): {t.source}")
    lines += [
        "",
        "## Method",
        "",
        "Each gap is cut alone (its samples set to zero) at a fixed place: its centre at "
        + ", ".join(f"{GAP_CENTRE_FRACTION.get(g, DEFAULT_CENTRE_FRACTION):.2f}" for g in gaps)
        + f" of the track for the {', '.join(f'{g:g}' for g in gaps)}-s gaps, kept at least "
        f"{MIN_EDGE_S:g} s from either end. Every repair goes through the session layer "
        "(`make_repairs` + `render`, as the app and the CLI do); the candidate is the search's "
        "rank 1, the same for Sim and every SimDPS variant (checked: `cand_same` in the CSV). "
        "Metrics inside the gap against the clean track (`simdps_studio/session/metrics.py`): "
        "log-spectral distance (Hann ~46 ms, hop 1/4, floor 60 dB below the loudest bin), "
        "SNR, chroma similarity (frame-wise cosine, ~93-ms frames, mean over frames), level "
        "error (RMS, dB), and seam smoothness: the largest spectral flux (log-magnitude over "
        "a 60-dB range, ~23-ms frames) at a gap edge over the median of the same statistic in "
        "the 1 s of context beside it, worse edge; 1 or less = no more change than the music "
        "makes anyway (the clean track's own value is the "
        "*reference* row). Tables show means over tracks (an infinite SNR, a fill identical to the "
        f"original, counts as {MEAN_CAP:g} dB).",
        "",
    ]
    n_err = sum(1 for r in rows if r.get("error"))
    n_null = sum(1 for r in ok_rows if r.get("null_ok") is False)
    n_other_cand = sum(1 for r in ok_rows if r.get("cand_same") is False)
    lines.append(
        f"{len(rows)} repairs, {n_err} failed"
        + (
            f", **{n_null} changed samples outside their span**"
            if n_null
            else "; every repair left the samples outside its span bit-identical (null test)"
        )
        + "."
        + (
            f" **{n_other_cand} repairs used another candidate than the rank-1 search result.**"
            if n_other_cand
            else ""
        )
    )
    lines.append("")
    return "\n".join(lines + results_markdown(result))


#: The heading where the part of ``quality.md`` computed from the rows alone begins.
RESULTS_HEADING = "## Overall (mean over all gaps)"


def results_markdown(result: BenchResult) -> list[str]:
    """The lines of ``quality.md`` from :data:`RESULTS_HEADING` on: tables, bins, plots.

    They depend only on the rows, the methods and gap lengths, the candidate bins and the plots'
    paths, so :func:`refresh_report` can rebuild them from a run's CSV.
    """
    config, rows = result.config, result.rows
    methods = list(dict.fromkeys(m.name for m in config.methods))
    gaps = list(config.gaps_s)
    ok_rows = [r for r in rows if _ok(r)]
    # Overall by method.
    lines = [RESULTS_HEADING, ""]
    body = []
    for m in methods:
        mr = [r for r in ok_rows if r["method"] == m]
        body.append(
            [
                m,
                str(len(mr)),
                _cell(_mean([r["lsd_db"] for r in mr])),
                _cell(_mean([r["seam"] for r in mr])),
                _cell(_mean([r["snr_db"] for r in mr])),
                _cell(_mean([r["chroma_sim"] for r in mr]), 3),
                _cell(_mean([abs(r["level_db"]) for r in mr])),
                _cell(_mean([r["seconds"] for r in mr]), 1),
            ]
        )
    body.append(
        [
            "*reference*",
            "",
            "0.00",
            _cell(_mean(_unique_seam_ref(ok_rows))),
            "∞",
            "1.000",
            "0.00",
            "",
        ]
    )
    lines += _md_table(
        ["method", "n", "LSD dB", "seam", "SNR dB", "chroma", "abs level dB", "seconds"], body
    )
    lines.append("")

    # Per metric: method x gap length.
    lines += ["## By gap length", ""]
    for metric in (*METRICS, "seconds"):
        lines += [f"**{METRIC_LABEL[metric]}**", ""]
        table = table_by(ok_rows, "gap_s", metric, methods, gaps)
        digits = 3 if metric == "chroma_sim" else (1 if metric == "seconds" else 2)
        body = [[m] + [_cell(table[m][g], digits) for g in gaps] for m in methods]
        if metric == "seam":
            ref = [
                _cell(_mean(_unique_seam_ref([r for r in ok_rows if r["gap_s"] == g])))
                for g in gaps
            ]
            body.append(["*reference*", *ref])
        lines += _md_table(["method", *[f"{g:g} s" for g in gaps]], body)
        lines.append("")

    lines += _material_section(ok_rows, methods)
    lines += _comparisons(ok_rows, methods, gaps)
    lines += _bin_section(rows, ok_rows, methods, result.bin_cuts)
    lines += _auto_omega_section(ok_rows, methods)

    errors = [r for r in rows if r.get("error")]
    if errors:
        lines += ["## Failed repairs", ""]
        for r in errors:
            lines.append(f"- `{r['track']}` gap {r['gap_s']:g} s, {r['method']}: {r['error']}")
        lines.append("")
    pngs = [p for k, p in result.paths.items() if k.startswith("png")]
    if pngs:
        lines += ["## Plots", ""]
        lines += [f"![{p.stem}]({p.name})" for p in pngs]
        lines.append("")
    lines += [
        "Raw numbers (one row per track x gap x method, with the candidate, ω and seconds): "
        "`quality.csv`.",
        "",
    ]
    return lines


def refresh_report(out: Path) -> Path:
    """Rebuild the results part of ``OUT/quality.md`` from ``OUT/quality.csv`` (no repairs run).

    The header (command, date, run time, model, hardware, material, method) is kept as written
    by the run; everything from :data:`RESULTS_HEADING` on is recomputed from the CSV with the
    current report code, and the plots are redrawn. For fixing how a finished run is
    summarised, never what it measured. The CSV holds rounded values (5 decimals), so a mean's
    last printed digit can differ from the one the run printed from its unrounded rows.

    Raises
    ------
    InputError
        ``OUT`` holds no finished run (no CSV or no ``quality.md`` with a results part).
    """
    csv_path, md_path = out / "quality.csv", out / "quality.md"
    if not csv_path.is_file() or not md_path.is_file():
        raise InputError(f"no finished run in {out} (quality.csv and quality.md are needed)")
    head, sep, _ = md_path.read_text(encoding="utf-8").partition(RESULTS_HEADING)
    rows = read_rows(csv_path)
    if not sep or not rows:
        raise InputError(f"{md_path} has no results part to rebuild")
    methods = [parse_method(m) for m in dict.fromkeys(r["method"] for r in rows)]
    gaps = sorted({float(r["gap_s"]) for r in rows})
    try:
        settings = json.loads((out / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        settings = {}
    config = BenchConfig(
        materials=list(dict.fromkeys(r["material"] for r in rows)),
        gaps_s=gaps,
        methods=methods,
        model=str(settings.get("model") or DEFAULT_MODEL),
        steps=int(settings.get("steps") or DEFAULT_STEPS),
        seed=int(settings.get("seed") or 0),
        quick=bool(settings.get("quick", False)),
        out_dir=out,
    )
    result = BenchResult(
        config=config,
        rows=rows,
        materials=[],
        paths={"csv": csv_path},
        seconds=0.0,
        estimate_s=0.0,
        started="",
        bin_cuts=assign_bins(rows),
    )
    result.paths.update(write_plots(rows, config, out))
    md_path.write_text(head + "\n".join(results_markdown(result)), encoding="utf-8")
    return md_path


def _material_section(ok_rows: list[dict], methods: list[str]) -> list[str]:
    """Mean LSD / seam per method and material: a prior trained on piano may help on piano and
    hurt elsewhere, which the overall means hide. Empty for a single material."""
    materials = list(dict.fromkeys(r["material"] for r in ok_rows))
    if len(materials) < 2:
        return []
    lsd = table_by(ok_rows, "material", "lsd_db", methods, materials)
    seam = table_by(ok_rows, "material", "seam", methods, materials)
    n_gaps = {
        mat: len({(r["track"], r["gap_s"]) for r in ok_rows if r["material"] == mat})
        for mat in materials
    }
    body = [
        [m] + [f"{_cell(lsd[m][mat])} / {_cell(seam[m][mat])}" for mat in materials]
        for m in methods
    ]
    fit = material_fit(ok_rows, materials)
    lines = []
    if fit:
        body.append(
            ["*prior fit*"]
            + [
                f"{_cell(fit[mat][0], 2)} ({fit[mat][1]}/{n_gaps[mat]} poor)" if mat in fit else "–"
                for mat in materials
            ]
        )
        lines = [
            "",
            "*Prior fit*: the diffusion prior's denoising loss on the context before each gap over "
            "its validation loss (mean ratio; *poor* above "
            f"{POOR_FIT_RATIO:g}, where the model does not know the music, automatic ω copies and "
            "the app warns).",
        ]
    return [
        "## By material",
        "",
        "Mean log-spectral distance (dB) / mean seam over each material's gaps:",
        "",
        *_md_table(["method", *[f"{mat} ({n_gaps[mat]} gaps)" for mat in materials]], body),
        *lines,
        "",
    ]


def material_fit(rows: list[dict], materials: list[str]) -> dict[str, tuple[float, int]]:
    """Per material: mean prior-fit ratio over its gaps and how many were poor (runs that
    recorded it; each gap counted once, from its first diffusion row)."""
    per_gap: dict[tuple, tuple[str, float]] = {}
    for r in rows:
        ratio = r.get("fit_ratio")
        if isinstance(ratio, float) and math.isfinite(ratio):
            per_gap.setdefault((r["track"], r["gap_s"]), (r["material"], ratio))
    out = {}
    for mat in materials:
        ratios = [ratio for m, ratio in per_gap.values() if m == mat]
        if ratios:
            out[mat] = (float(np.mean(ratios)), sum(x > POOR_FIT_RATIO for x in ratios))
    return out


def _unique_seam_ref(rows: list[dict]) -> list[float]:
    seen = {}
    for r in rows:
        if r.get("margin_samples", 0) == 0 and isinstance(r.get("seam_ref"), float):
            seen[(r["track"], r["gap_s"])] = r["seam_ref"]
    return list(seen.values())


def _comparisons(ok_rows: list[dict], methods: list[str], gaps: list[float]) -> list[str]:
    """DPS vs LPC and SimDPS (0.15) vs Sim per gap length (the model card's questions)."""
    pairs = [
        (a, b)
        for a, b in (
            ("dps", "lpc"),
            ("simdps-0.15", "sim"),
            ("simdps-0.04", "sim"),
            ("simdps-auto", "sim"),
            ("draft-0.15", "sim"),
        )
        if a in methods and b in methods
    ]
    if not pairs:
        return []
    lines = [
        "## Head to head (same gaps)",
        "",
        "Mean log-spectral distance and seam of each method, and on how many of the gaps the first "
        "method is better (lower) than the second.",
        "",
    ]
    body = []
    for a, b in pairs:
        for g in [*gaps, None]:
            rs = ok_rows if g is None else [r for r in ok_rows if r["gap_s"] == g]
            lsd = table_by(rs, "method", "lsd_db", [a, b], [a, b])
            seam = table_by(rs, "method", "seam", [a, b], [a, b])
            wl, nl = paired_wins(rs, a, b, "lsd_db")
            ws, ns = paired_wins(rs, a, b, "seam")
            body.append(
                [
                    f"{a} vs {b}",
                    "all" if g is None else f"{g:g} s",
                    f"{_cell(lsd[a][a])} vs {_cell(lsd[b][b])}",
                    f"{wl}/{nl}",
                    f"{_cell(seam[a][a])} vs {_cell(seam[b][b])}",
                    f"{ws}/{ns}",
                ]
            )
    lines += _md_table(["pair", "gap", "LSD dB", "LSD wins", "seam", "seam wins"], body)
    lines.append("")
    return lines


def _bin_section(
    rows: list[dict], ok_rows: list[dict], methods: list[str], cuts: tuple[float, float] | None
) -> list[str]:
    costs = {
        (r["track"], r["gap_s"]): r["cand_cost"]
        for r in rows
        if isinstance(r.get("cand_cost"), float)
    }
    if not costs or cuts is None:
        return []
    cand_methods = methods
    values = list(costs.values())
    lo, hi = cuts
    bins = ["good", "fair", "poor"]
    lines = [
        "## By candidate quality",
        "",
        "Gaps binned by the similarity cost of their rank-1 candidate (terciles of this run's "
        f"{len(values)} gaps: good ≤ {lo:.3f} < fair ≤ {hi:.3f} < poor; cost 0 = identical "
        "contexts, ~1 = a typical position). Mean log-spectral distance (dB) / mean seam:",
        "",
    ]
    body = []
    for b in bins:
        rs = [r for r in ok_rows if r.get("cand_bin") == b]
        n_gaps = len({(r["track"], r["gap_s"]) for r in rs})
        score = _mean(list({(r["track"], r["gap_s"]): r["cand_score"] for r in rs}.values()))
        cells = []
        for m in cand_methods:
            mr = [r for r in rs if r["method"] == m]
            cells.append(
                f"{_cell(_mean([r['lsd_db'] for r in mr]))} / {_cell(_mean([r['seam'] for r in mr]))}"
            )
        body.append([b, str(n_gaps), _cell(score, 3), *cells])
    lines += _md_table(["bin", "gaps", "mean score", *cand_methods], body)
    lines.append("")
    sims = [m for m in cand_methods if m.startswith("simdps")]
    if "sim" in cand_methods and sims:
        lines += [
            "Where SimDPS improves on Sim (gaps where SimDPS has the lower value, LSD; seam):",
            "",
        ]
        body = []
        for b in bins:
            rs = [r for r in ok_rows if r.get("cand_bin") == b]
            cells = []
            for m in sims:
                wl, nl = paired_wins(rs, m, "sim", "lsd_db")
                ws, ns = paired_wins(rs, m, "sim", "seam")
                cells.append(f"{wl}/{nl}; {ws}/{ns}")
            body.append([b, *cells])
        lines += _md_table(["bin", *[f"{m} vs sim" for m in sims]], body)
        lines.append("")
    return lines


def _best(values: dict[str, float]) -> str:
    """The key with the lowest finite value ('' when none is finite)."""
    finite = [(v, k) for k, v in values.items() if math.isfinite(v)]
    return min(finite)[1] if finite else ""


def _auto_omega_section(ok_rows: list[dict], methods: list[str]) -> list[str]:
    """Does ``--omega auto`` pick what the best fixed ω would have given, per bin?"""
    fixed = [m for m in methods if m == "dps" or (m.startswith("simdps-") and m != "simdps-auto")]
    if "simdps-auto" not in methods or len(fixed) < 2:
        return []
    from simdps_studio.session.engines import AUTO_OMEGA_RULE

    omega_of = {m: (0.0 if m == "dps" else float(m.split("-", 1)[1])) for m in fixed}
    lines = [
        "## Automatic ω",
        "",
        f"`--omega auto` chooses ω from the candidate's similarity score: {AUTO_OMEGA_RULE}. "
        "Per bin: the mean ω it chose and the fixed ω nearest to it; the fixed ω "
        "(DPS counts as ω 0) with the lowest mean log-spectral distance and with the lowest mean "
        "seam (its value in brackets), and auto's own values. *Match* says whether auto's nearest "
        "fixed ω is the best one by LSD.",
        "",
    ]
    body = []
    for b in ("good", "fair", "poor", None):
        rs = [r for r in ok_rows if (b is None or r.get("cand_bin") == b)]
        auto = [r for r in rs if r["method"] == "simdps-auto"]
        if not auto:
            continue
        w_auto = _mean([float(r["omega"]) for r in auto if r.get("omega") not in ("", None)])
        lsd = {m: _mean([r["lsd_db"] for r in rs if r["method"] == m]) for m in fixed}
        seam = {m: _mean([r["seam"] for r in rs if r["method"] == m]) for m in fixed}
        best_lsd, best_seam = _best(lsd), _best(seam)
        nearest = (
            min(fixed, key=lambda m: abs(omega_of[m] - w_auto)) if math.isfinite(w_auto) else ""
        )
        body.append(
            [
                b or "all",
                f"{_cell(w_auto, 3)} (≈ {omega_of[nearest]:g})" if nearest else "–",
                f"{omega_of[best_lsd]:g} ({_cell(lsd[best_lsd])})" if best_lsd else "–",
                _cell(_mean([r["lsd_db"] for r in auto])),
                f"{omega_of[best_seam]:g} ({_cell(seam[best_seam])})" if best_seam else "–",
                _cell(_mean([r["seam"] for r in auto])),
                ("yes" if nearest == best_lsd else "no") if nearest and best_lsd else "–",
            ]
        )
    header = ["bin", "auto ω (mean)", "best fixed ω by LSD", "auto LSD", "best fixed ω by seam"]
    lines += _md_table([*header, "auto seam", "match"], body)
    lines.append("")
    return lines


# ----------------------------------------------------------------------------- plots


def write_plots(rows: list[dict], config: BenchConfig, out: Path) -> dict[str, Path]:
    """PNG plots of each metric's mean against gap length, one line per method.

    Returns
    -------
    dict
        ``{"png_<metric>": path}``; empty when matplotlib is missing.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return {}
    ok_rows = [r for r in rows if _ok(r)]
    methods = list(dict.fromkeys(m.name for m in config.methods))
    gaps = list(config.gaps_s)
    paths = {}
    for metric in METRICS:
        table = table_by(ok_rows, "gap_s", metric, methods, gaps)
        fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
        for i, m in enumerate(methods):
            ys = [table[m][g] for g in gaps]
            style = "--" if m in ("lpc", "sim") else "-"
            ax.plot(gaps, ys, style, marker="o", label=m, color=f"C{i % 10}")
        if metric == "seam":
            ref = [_mean(_unique_seam_ref([r for r in ok_rows if r["gap_s"] == g])) for g in gaps]
            ax.plot(gaps, ref, ":", color="black", label="clean reference")
        ax.set_xscale("log")
        ax.set_xticks(gaps)
        ax.set_xticklabels([f"{g:g}" for g in gaps])
        ax.minorticks_off()
        ax.set_xlabel("gap length (s)")
        ax.set_ylabel(METRIC_LABEL[metric].split(" (")[0])
        ax.set_title(METRIC_LABEL[metric], fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        path = out / f"quality_{metric.split('_')[0]}.png"
        fig.savefig(path)
        plt.close(fig)
        paths[f"png_{metric}"] = path
    return paths


# ----------------------------------------------------------------------------- entry point


def build_parser(prog: str = "benchmarks/quality.py") -> argparse.ArgumentParser:
    """Stand-alone parser (the script's); the CLI adds the same options to its sub-command."""
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    add_arguments(p)
    return p


def run_from_args(args: argparse.Namespace, *, prog: str = "simdps-studio bench quality") -> int:
    """Run from parsed options; returns the exit status (0 when every repair succeeded or failed
    as a recorded row)."""
    config = config_from_args(args)
    if getattr(args, "refresh_report", False):
        print(f"rebuilt {refresh_report(config.out_dir)}", flush=True)
        return 0

    def log(message: str) -> None:
        print(message, flush=True)

    run_benchmark(config, log=log, prog=prog)
    return 0


def main(argv: Sequence[str] | None = None, *, prog: str = "benchmarks/quality.py") -> int:
    """``benchmarks/quality.py``: parse, run, report errors as one ``error:`` line (exit 2)."""
    args = build_parser(prog).parse_args(argv)
    try:
        return run_from_args(args, prog=f"python {prog}")
    except SimDPSError as e:
        print(f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
        return e.exit_code
