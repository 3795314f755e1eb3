"""Training a score model: EDM loss, resumable in chunks, EMA, validation, DDP under torchrun.

:func:`train` is the whole procedure (``simdps-studio train``). Per step: ``batch_size`` random
crops of ``segment_length`` samples from the training split, each normalised to an RMS of
``sigma_data`` (the pipeline normalises its windows the same way), then a random gain of up to
``gain_db`` and a random polarity; noise levels from a lognormal (``ln sigma ~ N(p_mean, p_std^2)``);
the EDM loss ``lambda(sigma) ||D(x + sigma n, sigma) - x||^2`` with
``lambda = (sigma^2 + sigma_data^2) / (sigma sigma_data)^2`` (Karras et al. 2022, eq. 8 and
Table 1); Adam with a linear learning-rate warm-up and, optionally, a half-cosine decay to zero over
the last ``lr_decay_steps`` steps of the run; gradient-norm clipping; an exponential moving
average of the weights (the EMA is the model that gets exported).

Noise levels: EDM's image defaults (``P_mean = -1.2``, ``P_std = 1.2``) assume ``sigma_data = 0.5``.
For audio at ``sigma_data`` around 0.08 and the inpainting sampler's range (``sigma`` from 1e-4 to
1), the default here is ``p_mean = ln(sigma_data) - 0.5`` and ``p_std = 1.5``: the same median
ratio ``sigma / sigma_data`` as EDM, spread wider, so low noise levels (fine detail) are trained too.

Resumable by design. ``out_dir`` is a model folder (``config.json``, ``weights.safetensors``,
``MODEL_CARD.md``: the EMA weights at the latest checkpoint, loadable with
:func:`~simdps_studio.inpaint.checkpoint.load_model`) with two sub-folders:

- ``training/``: ``state.safetensors`` (weights, EMA, Adam moments) and ``state.json`` (step,
  options, random-generator states of every rank, i.e. the data position, loss history, the chunks
  run so far with their hardware and times). Written every ``checkpoint_every_s`` seconds, at the
  end, on cancel and when ``max_seconds`` runs out, so training can run in chunks of a few minutes
  and continue later with ``resume=True``; on the CPU a resumed run reproduces an uninterrupted one
  bit for bit.
- ``best/``: the EMA model at the lowest validation loss so far (the one to ship).

Data: a corpus from ``simdps-studio data render-piano`` (``manifest.json`` with a ``train`` and a
held-out ``val`` split by piece), the MAESTRO layout (its CSV's ``split`` column: ``validation`` is
held out, ``test`` is not used), or any folder of audio files (held-out files chosen by a hash of
their path). Files are mixed to mono and resampled to the model rate; a corpus small enough is kept
in memory, a larger one is read crop by crop from disk.

Multi-GPU: launched by ``torchrun --nproc_per_node N``, each process trains on its own GPU with
``batch_size`` crops, gradients are averaged by DistributedDataParallel, and rank 0 validates and
writes the checkpoints.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import csv
import hashlib
import json
import math
import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from simdps_studio.audio.dsp import resample
from simdps_studio.core.errors import CancelledError, InputError, ModelError
from simdps_studio.core.progress import CancelToken, Progress, check_cancel
from simdps_studio.inpaint.checkpoint import load_model, model_info, save_model, state_for_saving
from simdps_studio.inpaint.precond import Denoiser
from simdps_studio.inpaint.presets import ModelConfig, get_config

STATE_DIR = "training"
BEST_DIR = "best"
STATE_TENSORS = "state.safetensors"
STATE_JSON = "state.json"
#: Audio file extensions the folder scan accepts.
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".aif", ".aiff", ".mp3", ".w64", ".caf")
#: Crops quieter than this RMS are drawn again (digital silence teaches nothing).
SILENT_RMS = 1e-5
#: Largest normalisation gain applied to a quiet crop (40 dB).
MAX_NORM_GAIN = 100.0
#: Corpora up to this size (float32 at the model rate) are held in memory.
PRELOAD_MAX_BYTES = 2 * 1024**3


# --------------------------------------------------------------------------------------- options


@dataclass(frozen=True)
class TrainOptions:
    """Hyper-parameters of a run (stored with the state; see :func:`train` and the module docstring).

    Attributes
    ----------
    steps : int
        Total optimiser steps of the run (a resumed run continues up to this number).
    batch_size : int
        Crops per step (per process under torchrun).
    lr : float
        Adam learning rate after warm-up.
    warmup_steps : int
        Linear warm-up of the learning rate.
    lr_decay_steps : int
        Half-cosine decay of the learning rate to zero over the last this many steps of
        ``steps`` (0: constant after warm-up).
    ema_decay, grad_clip, p_mean, p_std, gain_db, polarity
        See the module docstring; ``p_mean=None`` means ``ln(sigma_data) - 0.5``.
    val_every, val_batches : int
        Validate the EMA every ``val_every`` steps on ``val_batches`` fixed batches of the
        held-out split (the training split when there is none); 0 batches disables validation.
    checkpoint_every_s : float
        Seconds between checkpoints (one is also written at the end).
    log_every : int
        Steps per history entry and progress message.
    seed : int
        Seed of the initial weights, the data order and the noise.
    precision : {"auto", "fp32", "bf16", "fp16"}
        Autocast precision of the network: bf16 on CUDA or the CPU, fp16 on CUDA only (the CPU
        runs fp16 requests in float32); ``auto`` is decided at the start of every chunk by
        :func:`~simdps_studio.inpaint.precision.resolve_precision` (bf16 where the processor has
        bf16 matrix support and it measured faster). Weights, optimiser state and the
        validation loss stay float32; the chunk's record says what ran.
    val_fraction : float
        Held-out share for folders without a split.
    snr_cap, short_crop_s, short_crop_steps, val_batch_size
        See the comments below.
    """

    steps: int = 100_000
    batch_size: int = 8
    lr: float = 2e-4
    warmup_steps: int = 1000
    lr_decay_steps: int = 0
    ema_decay: float = 0.999
    grad_clip: float = 1.0
    p_mean: float | None = None
    p_std: float = 1.5
    gain_db: float = 6.0
    polarity: bool = True
    val_every: int = 1000
    val_batches: int = 4
    checkpoint_every_s: float = 300.0
    log_every: int = 50
    seed: int = 0
    precision: str = "fp32"
    val_fraction: float = 0.05
    #: Cap on the signal-to-noise ratio in the loss weight (Min-SNR-gamma style, Hang et al. 2023);
    #: 0 keeps EDM's weighting. Validation always uses EDM's weighting, so runs stay comparable.
    snr_cap: float = 0.0
    #: A short-crop phase: the first ``short_crop_steps`` steps train on crops of about
    #: ``short_crop_s`` seconds (rounded down to a length the network runs on), then full crops.
    short_crop_s: float = 0.0
    short_crop_steps: int = 0
    #: Crops per validation batch; fixed when a run starts (its first batch size), so a chunk
    #: that changes ``batch_size`` still validates on the same crops.
    val_batch_size: int | None = None

    def validate(self) -> None:
        """Raise :class:`InputError` for values that cannot work."""
        checks = [
            (self.steps >= 1, "steps must be at least 1"),
            (self.batch_size >= 1, "batch_size must be at least 1"),
            (math.isfinite(self.lr) and self.lr > 0, "lr must be a positive number"),
            (self.warmup_steps >= 0, "warmup_steps must be >= 0"),
            (self.lr_decay_steps >= 0, "lr_decay_steps must be >= 0"),
            (0.0 <= self.ema_decay < 1.0, "ema_decay must be in [0, 1)"),
            (math.isfinite(self.grad_clip) and self.grad_clip > 0, "grad_clip must be positive"),
            (self.p_std > 0, "p_std must be positive"),
            (self.gain_db >= 0, "gain_db must be >= 0"),
            (self.val_every >= 1 and self.val_batches >= 0, "bad validation settings"),
            (self.checkpoint_every_s > 0, "checkpoint_every_s must be positive"),
            (self.log_every >= 1, "log_every must be at least 1"),
            (
                self.precision in ("auto", "fp32", "bf16", "fp16"),
                "precision must be auto, fp32, bf16 or fp16",
            ),
            (0.0 <= self.val_fraction < 1.0, "val_fraction must be in [0, 1)"),
            (0 <= self.seed < 2**63, "seed must be in [0, 2^63)"),
            (self.val_batch_size is None or self.val_batch_size >= 1, "bad validation settings"),
            (math.isfinite(self.snr_cap) and self.snr_cap >= 0, "snr_cap must be >= 0"),
            (math.isfinite(self.short_crop_s) and self.short_crop_s >= 0, "bad short-crop length"),
            (self.short_crop_steps >= 0, "short_crop_steps must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(message)


def run_options(given: Mapping[str, Any], saved: Mapping[str, Any] | None = None) -> TrainOptions:
    """The options of a training chunk: those given, else the resumed run's, else the defaults.

    Parameters
    ----------
    given : mapping
        Option name to value; ``None`` values count as not given.
    saved : mapping, optional
        The ``options`` of a resumed run's state (unknown names are ignored).

    Returns
    -------
    TrainOptions
        Validated.
    """
    known = {f.name for f in fields(TrainOptions)}
    unknown = set(given) - known
    if unknown:
        raise InputError(f"unknown training options: {', '.join(sorted(unknown))}")
    merged = {k: v for k, v in (saved or {}).items() if k in known}
    merged.update({k: v for k, v in given.items() if v is not None})
    opts = TrainOptions(**merged)
    opts.validate()
    return opts


@dataclass(frozen=True)
class TrainSettings:
    """One call of :func:`train`: the hyper-parameters it sets and how this chunk runs.

    Attributes
    ----------
    options : mapping
        :class:`TrainOptions` fields this chunk sets, by name; a field left out (or None) keeps
        the resumed run's value, else the default (:func:`run_options`; an unknown name is an
        InputError).
    preset : str, optional
        Model preset for a new run (default ``"small"``); a resumed run keeps its own and
        refuses a different one.
    resume : bool
        Continue from ``out_dir/training`` when it exists (a fresh start otherwise). Without it
        an existing training state is an error, so nothing is overwritten by accident.
    init_from : path, optional
        A saved model folder (``config.json`` + weights, e.g. a shipped model without its
        ``training/`` state) to continue from when ``out_dir`` holds no state: its weights start
        both the model and the EMA, its training record (steps, history, chunks) is carried on,
        and the learning rate warms up again from its step because the optimiser starts fresh.
    overrides : mapping
        :class:`ModelConfig` fields for a new run, e.g. ``{"sigma_data": 0.05}``.
    max_seconds : float, optional
        Stop (after a checkpoint) once this much time has passed: one chunk of a chunked run.
    device : {"auto", "cpu", "cuda"} or torch.device
        Ignored under torchrun, where each process uses its own GPU (or the CPU with gloo).
    preload_max_bytes : int
        Keep corpora up to this size in memory.
    """

    options: Mapping[str, Any] = field(default_factory=dict)
    preset: str | None = None
    resume: bool = False
    init_from: str | os.PathLike[str] | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    max_seconds: float | None = None
    device: str | torch.device = "auto"
    preload_max_bytes: int = PRELOAD_MAX_BYTES

    @classmethod
    def of(cls, **kwargs: Any) -> TrainSettings:
        """Settings from keyword arguments: :class:`TrainOptions` fields go to ``options``."""
        own = {f.name for f in fields(cls)} - {"options"}
        return cls(
            options={k: v for k, v in kwargs.items() if k not in own},
            **{k: v for k, v in kwargs.items() if k in own},
        )


@dataclass
class TrainResult:
    """What a call of :func:`train` did.

    Attributes
    ----------
    out_dir : Path
        The model folder.
    start_step, step : int
        Step the call started from and the step reached.
    finished : bool
        Whether ``step`` reached the requested total (else ``max_seconds`` ran out).
    train_loss : float
        Mean training loss over the last logging interval (NaN if no step ran).
    val_loss : float or None
        Latest validation loss of the EMA model.
    best_val_loss : float or None
        Lowest validation loss so far (its model is in ``out_dir/best``).
    seconds : float
        Wall-clock time of this call.
    history : list of dict
        Logged entries of the whole run (``step``, ``loss`` or ``val_loss``, ``lr``, ``time_s``).
    """

    out_dir: Path
    start_step: int
    step: int
    finished: bool
    train_loss: float
    val_loss: float | None
    best_val_loss: float | None
    seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)


# ------------------------------------------------------------------------------------------ data


@dataclass(frozen=True)
class AudioSource:
    """One audio file of a corpus."""

    path: Path
    n_frames: int
    sample_rate: int
    split: str  # "train" or "val"


def _hash_split(name: str, val_fraction: float) -> str:
    digest = hashlib.sha1(name.encode("utf-8")).digest()
    return "val" if int.from_bytes(digest[:4], "big") / 2**32 < val_fraction else "train"


def _info(path: Path, split: str) -> AudioSource | None:
    try:
        inf = sf.info(str(path))
    except (RuntimeError, OSError, sf.LibsndfileError):
        return None
    if inf.frames <= 0 or inf.samplerate <= 0:
        return None
    return AudioSource(path, int(inf.frames), int(inf.samplerate), split)


def find_audio(
    data_dir: str | os.PathLike[str],
    *,
    val_fraction: float = 0.05,
    notes: list[str] | None = None,
) -> list[AudioSource]:
    """Audio files of a training corpus with their split.

    Parameters
    ----------
    data_dir : path
        A rendered corpus (``manifest.json``), a MAESTRO folder (``maestro-*.csv``) or any folder
        of audio files (searched recursively).
    val_fraction : float
        Share of files held out when the folder does not say (hash of the relative path).
    notes : list of str, optional
        Receives a line for every file skipped as unreadable, and for a folder whose files all
        fell into the held-out share (they are then all used for training).

    Returns
    -------
    list of AudioSource
        Readable files only; ``split`` is ``"train"`` or ``"val"``.

    Raises
    ------
    InputError
        When the folder does not exist or holds no readable training audio.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise InputError(f"training data folder not found: {root}")
    entries: list[tuple[Path, str]] = []
    manifest = root / "manifest.json"
    maestro = sorted(root.glob("maestro*.csv"))
    if manifest.is_file():
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
            for item in data["files"]:
                split = "val" if item.get("split") == "val" else "train"
                entries.append((root / item["path"], split))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"unreadable corpus manifest {manifest}: {exc}") from None
    elif maestro:
        with open(maestro[-1], newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                split = {"train": "train", "validation": "val"}.get(row.get("split", ""), None)
                if split is not None and row.get("audio_filename"):
                    entries.append((root / row["audio_filename"], split))
    else:
        for p in sorted(root.rglob("*")):
            if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS:
                rel = p.relative_to(root).as_posix()
                entries.append((p, _hash_split(rel, val_fraction)))
    sources = []
    for p, split in entries:
        source = _info(p, split)
        if source is None:
            if notes is not None:
                notes.append(f"skipped unreadable audio {p}")
        else:
            sources.append(source)
    if sources and not any(s.split == "train" for s in sources):
        if manifest.is_file() or maestro:
            raise InputError(f"{root} lists held-out audio only: no training files")
        # Too few files for a hash split: train on them all (validation then uses them too).
        sources = [AudioSource(s.path, s.n_frames, s.sample_rate, "train") for s in sources]
        if notes is not None:
            notes.append(f"every file of {root} fell into the held-out share: training on all")
    if not sources:
        raise InputError(f"no readable training audio in {root}")
    return sources


def _read_mono(path: Path, start: int = 0, frames: int = -1) -> np.ndarray:
    with sf.SoundFile(str(path)) as f:
        f.seek(start)
        x = f.read(frames, dtype="float32", always_2d=True)
    return x.mean(axis=1)


class CropSampler:
    """Random crops of a fixed length at the model rate from a list of files.

    Files are drawn with probability proportional to their duration, then a uniformly random start;
    files shorter than a crop are zero-padded at a random offset. Everything random comes from the
    ``numpy.random.Generator`` passed in, so the caller's generator state is the data position.

    Parameters
    ----------
    sources : sequence of AudioSource
    sample_rate : int
        Model rate in Hz.
    n_samples : int
        Crop length.
    preload_max_bytes : int
        Hold the corpus in memory (mono float32 at the model rate) when it is at most this big.
    notes : list of str, optional
        Receives a line for every file that fails to decode (a damaged file whose header reads
        fine); it is left out and the others go on (when loading, or later, crop by crop).
    """

    def __init__(
        self,
        sources: Sequence[AudioSource],
        sample_rate: int,
        n_samples: int,
        *,
        preload_max_bytes: int = PRELOAD_MAX_BYTES,
        notes: list[str] | None = None,
    ) -> None:
        if not sources:
            raise InputError("no audio files to crop from")
        self.sources = list(sources)
        self.sample_rate = int(sample_rate)
        self.n_samples = int(n_samples)
        self.notes = notes if notes is not None else []
        self.lengths = np.array(
            [s.n_frames * self.sample_rate // s.sample_rate for s in self.sources], dtype=np.int64
        )
        self.cache: list[np.ndarray] | None = None
        if self.lengths.sum() * 4 <= preload_max_bytes:
            loaded = [(s, self._try(self._load_whole, s)) for s in self.sources]
            self.sources = [s for s, x in loaded if x is not None]
            self.cache = [x for _, x in loaded if x is not None]
            if not self.cache:
                raise InputError("none of the audio files could be decoded")
            self.lengths = np.array([len(a) for a in self.cache], dtype=np.int64)
        self.probs = self.lengths / self.lengths.sum()
        self.seconds = float(self.lengths.sum() / self.sample_rate)

    def _try(self, read: Callable[..., np.ndarray], s: AudioSource, *args) -> np.ndarray | None:
        """``read(s, *args)``, or None (with a note) when the file fails to decode."""
        try:
            return read(s, *args)
        except (RuntimeError, OSError, ValueError, EOFError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.notes.append(f"skipped unreadable audio {s.path}: {reason}")
            return None

    def _load_whole(self, s: AudioSource) -> np.ndarray:
        x = _read_mono(s.path)
        if s.sample_rate != self.sample_rate:
            x = resample(x, s.sample_rate, self.sample_rate)
        return np.ascontiguousarray(x, dtype=np.float32)

    def _read(self, i: int, start: int, n: int) -> np.ndarray | None:
        """``n`` samples of source ``i`` from ``start``; None when a streamed file fails."""
        if self.cache is not None:
            return self.cache[i][start : start + n]
        return self._try(self._stream, self.sources[i], start, n)

    def _stream(self, s: AudioSource, start: int, n: int) -> np.ndarray:
        if s.sample_rate == self.sample_rate:
            return _read_mono(s.path, start, n)
        ratio = s.sample_rate / self.sample_rate
        pad = 64  # settle the resampler's filter at both ends
        f0 = max(int(math.floor(start * ratio)) - pad, 0)
        f1 = min(int(math.ceil((start + n) * ratio)) + pad, s.n_frames)
        y = resample(_read_mono(s.path, f0, f1 - f0), s.sample_rate, self.sample_rate)
        off = start - int(round(f0 / ratio))
        return y[max(off, 0) : max(off, 0) + n]

    def crop(self, rng: np.random.Generator, n_samples: int | None = None) -> np.ndarray:
        """One crop, shape (n_samples,), float32 (default: the sampler's crop length)."""
        n = int(n_samples or self.n_samples)
        while True:
            i = int(rng.choice(len(self.sources), p=self.probs))
            length = int(self.lengths[i])
            start = int(rng.integers(0, length - n + 1)) if length >= n else 0
            offset = 0 if length >= n else int(rng.integers(0, n - length + 1))
            seg = self._read(i, start, min(n, length))
            if seg is not None:
                break
            # Streaming from a damaged file: never draw it again.
            self.probs[i] = 0.0
            if not self.probs.sum() > 0:
                raise InputError("none of the audio files could be decoded")
            self.probs = self.probs / self.probs.sum()
        out = np.zeros(n, dtype=np.float32)
        out[offset : offset + len(seg)] = seg
        return out


def make_batch(
    sampler: CropSampler,
    rng: np.random.Generator,
    batch_size: int,
    sigma_data: float,
    *,
    gain_db: float = 0.0,
    polarity: bool = False,
    n_samples: int | None = None,
) -> np.ndarray:
    """A batch of normalised, augmented crops, shape (batch_size, n_samples), float32.

    ``n_samples`` defaults to the sampler's crop length.

    Each crop is scaled to an RMS of ``sigma_data`` (at most by :data:`MAX_NORM_GAIN`), then by a
    gain uniform in ``[-gain_db, +gain_db]`` dB and, with ``polarity``, a random sign. Nearly
    silent crops are drawn again (up to 20 times).
    """
    n = int(n_samples or sampler.n_samples)
    out = np.empty((batch_size, n), dtype=np.float32)
    for b in range(batch_size):
        for _ in range(20):
            x = sampler.crop(rng, n)
            rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
            if rms > SILENT_RMS:
                break
        gain = min(sigma_data / max(rms, SILENT_RMS), MAX_NORM_GAIN)
        gain *= 10.0 ** (float(rng.uniform(-gain_db, gain_db)) / 20.0) if gain_db > 0 else 1.0
        if polarity and rng.random() < 0.5:
            gain = -gain
        out[b] = x * np.float32(gain)
    return out


# ------------------------------------------------------------------------------------ EDM pieces


def edm_loss(
    model: torch.nn.Module,
    x: torch.Tensor,
    sigma: torch.Tensor,
    noise: torch.Tensor,
    sigma_data: float,
    snr_cap: float = 0.0,
) -> torch.Tensor:
    """EDM training loss of one batch (Karras et al. 2022, eq. 8 with Table 1's weighting).

    EDM weights the squared error of the denoised estimate by
    ``lambda = (sigma^2 + sigma_data^2) / (sigma sigma_data)^2 = (1 + SNR) / sigma_data^2`` with
    ``SNR = sigma_data^2 / sigma^2``, which grows without bound at low noise. ``snr_cap`` > 0
    clips the SNR there (the Min-SNR-gamma idea, Hang et al. 2023: low-noise steps stop dominating
    the gradient) and leaves the high-noise weights as they are.

    Parameters
    ----------
    model : Denoiser (or a DDP wrapper of one)
    x : Tensor, shape (B, n)
        Clean audio.
    sigma : Tensor, shape (B,)
        Noise levels.
    noise : Tensor, shape (B, n)
        Standard normal noise.
    sigma_data : float
    snr_cap : float
        0 for EDM's weighting, else the SNR cap gamma.

    Returns
    -------
    Tensor
        Scalar: mean over batch and samples of ``lambda(sigma) (D(x + sigma n) - x)^2``.
    """
    snr = (sigma_data / sigma) ** 2
    if snr_cap > 0:
        snr = snr.clamp(max=snr_cap)
    weight = (1.0 + snr) / sigma_data**2
    denoised = model(x + sigma[:, None] * noise, sigma)
    return (weight[:, None] * (denoised.float() - x).square()).mean()


def short_crop_length(model: Denoiser, seconds: float) -> int:
    """The longest crop of at most ``seconds`` that the network runs on, in samples.

    Raises
    ------
    InputError
        When no length from 1/8 of the segment up to ``seconds`` fits the network.
    """
    sr, segment = model.config.sample_rate, model.config.segment_length
    n = min(int(seconds * sr), segment) // 256 * 256
    while n >= segment // 8:
        if model.net.supports_length(n):
            return n
        n -= 256
    raise InputError(f"no crop of at most {seconds:g} s fits this network (short-crop phase)")


def _load_init(folder: str | os.PathLike[str]) -> tuple[Denoiser, dict[str, Any]]:
    """A saved model to continue training from and its training record (``{}`` if none)."""
    model = load_model(folder, device="cpu")
    record = model_info(folder).get("training") or {}
    return model, dict(record)


def lr_at(
    step: int,
    lr: float,
    warmup_steps: int,
    *,
    warmup_base: int = 0,
    total_steps: int = 0,
    decay_steps: int = 0,
) -> float:
    """Learning rate of step ``step`` (0-based, counted over the whole run).

    Linear warm-up over ``warmup_steps`` steps from ``warmup_base`` (where the optimiser
    started), then ``lr``; with ``decay_steps`` the rate falls along a half cosine to zero over
    the last ``decay_steps`` of ``total_steps`` (annealing: the final weights settle instead of
    following the last batches' noise).
    """
    rate = lr if warmup_steps <= 0 else lr * min(1.0, (step - warmup_base + 1) / warmup_steps)
    left = total_steps - step
    if decay_steps > 0 and left < decay_steps:
        rate *= 0.5 - 0.5 * math.cos(math.pi * max(left, 0) / decay_steps)
    return rate


def _lr(step: int, opts: TrainOptions, warmup_base: int) -> float:
    """:func:`lr_at` with a run's options."""
    return lr_at(
        step,
        opts.lr,
        opts.warmup_steps,
        warmup_base=warmup_base,
        total_steps=opts.steps,
        decay_steps=opts.lr_decay_steps,
    )


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, step: int, decay: float) -> None:
    """``ema <- d ema + (1 - d) model`` with ``d = min(decay, (1 + step) / (10 + step))``."""
    d = min(decay, (1.0 + step) / (10.0 + step))
    for pe, pm in zip(ema.parameters(), model.parameters()):
        pe.lerp_(pm.detach(), 1.0 - d)
    for be, bm in zip(ema.buffers(), model.buffers()):
        be.copy_(bm)


def _val_set(
    sampler: CropSampler, opts: TrainOptions, sigma_data: float, p_mean: float
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Fixed validation batches: crops, noise, and noise levels at evenly spaced quantiles."""
    if opts.val_batches <= 0:
        return []
    rng = np.random.default_rng([opts.seed, 7919])
    gen = torch.Generator().manual_seed(opts.seed + 7919)
    batch_size = opts.val_batch_size or opts.batch_size
    n = opts.val_batches * batch_size
    q = (np.arange(n) + 0.5) / n
    z = np.sqrt(2.0) * _erfinv(2.0 * q - 1.0)
    sigmas = np.exp(p_mean + opts.p_std * z)[rng.permutation(n)]
    out = []
    for b in range(opts.val_batches):
        x = make_batch(sampler, rng, batch_size, sigma_data)
        noise = torch.randn(batch_size, sampler.n_samples, generator=gen)
        s = torch.tensor(sigmas[b * batch_size : (b + 1) * batch_size], dtype=torch.float32)
        out.append((torch.from_numpy(x), noise, s))
    return out


def _erfinv(y: np.ndarray) -> np.ndarray:
    return torch.erfinv(torch.as_tensor(y, dtype=torch.float64)).numpy()


@torch.no_grad()
def validation_loss(
    model: torch.nn.Module,
    batches: Sequence[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    sigma_data: float,
    device: torch.device,
) -> float:
    """Mean EDM loss of ``model`` over fixed validation batches."""
    total = 0.0
    for x, noise, sigma in batches:
        loss = edm_loss(model, x.to(device), sigma.to(device), noise.to(device), sigma_data)
        total += float(loss)
    return total / max(len(batches), 1)


# ------------------------------------------------------------------------------- state (resume)


def _gen_state_to_text(gen: torch.Generator) -> str:
    return base64.b64encode(gen.get_state().numpy().tobytes()).decode("ascii")


def _gen_state_from_text(text: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8).clone()


def _optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors = {}
    for idx, st in sd["state"].items():
        for key, value in st.items():
            tensors[f"opt.{idx}.{key}"] = torch.as_tensor(value).detach().to("cpu").contiguous()
    return tensors, {"param_groups": sd["param_groups"]}


def _optimizer_from(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> dict:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, t in tensors.items():
        if name.startswith("opt."):
            _, idx, key = name.split(".", 2)
            state.setdefault(int(idx), {})[key] = t
    return {"state": state, "param_groups": meta["param_groups"]}


def _save_state(
    folder: Path,
    model: Denoiser,
    ema: Denoiser,
    opt: torch.optim.Optimizer,
    record: dict[str, Any],
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v for k, v in state_for_saving(model).items()}
    tensors.update({f"ema.{k}": v for k, v in state_for_saving(ema).items()})
    opt_tensors, opt_meta = _optimizer_tensors(opt)
    tensors.update(opt_tensors)
    record = dict(record, optimizer=opt_meta)
    tmp = folder / (STATE_TENSORS + ".tmp")
    save_file(tensors, str(tmp), metadata={"step": str(record["step"])})
    os.replace(tmp, folder / STATE_TENSORS)
    tmp_json = folder / (STATE_JSON + ".tmp")
    tmp_json.write_text(json.dumps(record, indent=1, default=str) + "\n", encoding="utf-8")
    os.replace(tmp_json, folder / STATE_JSON)


def _load_state(folder: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    try:
        record = json.loads((folder / STATE_JSON).read_text(encoding="utf-8"))
        tensors = load_file(str(folder / STATE_TENSORS))
    except (OSError, ValueError, SafetensorError) as exc:
        raise ModelError(f"training state in {folder} is unreadable: {exc}") from None
    return record, tensors


def holds_model(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` holds a saved model (its config or weights)."""
    return any((Path(folder) / name).exists() for name in ("config.json", "weights.safetensors"))


def _same_folder(a: str | os.PathLike[str] | None, b: str | os.PathLike[str]) -> bool:
    return a is not None and Path(a).resolve() == Path(b).resolve()


def has_state(out_dir: str | os.PathLike[str]) -> bool:
    """Whether ``out_dir`` holds a training state to resume from."""
    folder = Path(out_dir) / STATE_DIR
    return (folder / STATE_JSON).is_file() and (folder / STATE_TENSORS).is_file()


# ---------------------------------------------------------------------------------- distributed


@dataclass
class _Dist:
    world: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def _init_distributed(device: str) -> tuple[_Dist, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist(), _resolve_device(device)
    import torch.distributed as dist

    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device != "cpu"
    if use_cuda:
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    dev = torch.device("cuda", local) if use_cuda else torch.device("cpu")
    return _Dist(dist.get_world_size(), dist.get_rank(), local), dev


def _resolve_device(device: str | torch.device) -> torch.device:
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError("CUDA is not available on this machine")
    return dev


def _all_gather(obj: Any, dist_info: _Dist) -> list[Any]:
    if dist_info.world == 1:
        return [obj]
    import torch.distributed as dist

    out: list[Any] = [None] * dist_info.world
    dist.all_gather_object(out, obj)
    return out


def _broadcast_flag(flag: bool, dist_info: _Dist, device: torch.device) -> bool:
    if dist_info.world == 1:
        return flag
    import torch.distributed as dist

    t = torch.tensor([1 if flag else 0], device=device)
    dist.broadcast(t, src=0)
    return bool(t.item())


def _mean_over_ranks(value: float, dist_info: _Dist, device: torch.device) -> float:
    if dist_info.world == 1:
        return value
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item()) / dist_info.world


def _hardware(device: torch.device, world: int) -> str:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = (
            f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
        )
    return f"{world} x {name}" if world > 1 else name


# ------------------------------------------------------------------------------------------ train


def train(
    data_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    settings: TrainSettings | None = None,
    *,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    on_log: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train (or continue training) a score model on a folder of audio.

    Every hyper-parameter that ``settings.options`` does not set takes the resumed run's value
    when ``out_dir`` holds a training state (so ``resume=True`` alone continues a run exactly as
    it was started), and the :class:`TrainOptions` default otherwise; one that is set applies
    from this chunk on.

    Parameters
    ----------
    data_dir : path
        Training corpus (see :func:`find_audio`).
    out_dir : path
        Model folder to write (see the module docstring for its layout).
    settings : TrainSettings, optional
        The hyper-parameters this chunk sets and how it runs (default: a new run of the
        default preset with the default options).
    progress, cancel
        Progress callback ``(fraction, message)`` and cancel token (checked every step; a cancel
        writes a checkpoint, then raises :class:`CancelledError`).
    on_log : callable, optional
        Called with every history entry (rank 0 only).

    Returns
    -------
    TrainResult

    Raises
    ------
    InputError
        Bad options, missing or unusable data, an existing state without ``resume``.
    ModelError
        An unreadable state or an unknown preset.
    CancelledError
        When cancelled (after saving).
    """
    t_start = time.perf_counter()
    settings = settings if settings is not None else TrainSettings()
    out = Path(out_dir)
    device = settings.device
    dist_info, dev = _init_distributed(str(device) if not isinstance(device, str) else device)
    max_seconds = settings.max_seconds
    if max_seconds is not None and not (math.isfinite(max_seconds) and max_seconds > 0):
        raise InputError("the time limit must be a positive number of minutes")
    start = _run_start(out, settings)
    data = _training_data(data_dir, start, settings, dist_info)
    trainer = _Trainer.create(out, start, data, dist_info, dev, t_start=t_start, on_log=on_log)
    return trainer.run(progress=progress, cancel=cancel, max_seconds=max_seconds)


@dataclass
class _RunStart:
    """Where a chunk starts: the model's configuration, the run's options, what it resumes."""

    config: ModelConfig
    opts: TrainOptions
    p_mean: float  # the effective ``p_mean`` (``ln(sigma_data) - 0.5`` when not set)
    saved: tuple[dict[str, Any], dict[str, torch.Tensor]] | None  # a resumed run's state
    init_model: Denoiser | None  # --init: the model to continue from, and its record
    init_record: dict[str, Any]
    state_dir: Path


def _run_start(out: Path, settings: TrainSettings) -> _RunStart:
    """The configuration and options of a new, resumed or continued (``init_from``) run."""
    state_dir = out / STATE_DIR
    preset, init_from = settings.preset, settings.init_from
    saved: tuple[dict[str, Any], dict[str, torch.Tensor]] | None = None
    init_model, init_record = None, {}
    if not has_state(out) and holds_model(out) and not _same_folder(init_from, out):
        # A trained model without its training state (a shipped or installed one, a best/):
        # a new run would replace it.
        raise InputError(
            f"{out} already holds a model; train into a new folder "
            f"(to continue this one: --init {out} --out NEW_FOLDER)"
        )
    if has_state(out):
        if not settings.resume:
            raise InputError(
                f"{out} already holds a training state; resume it or choose another folder"
            )
        saved = _load_state(state_dir)
        try:
            config = ModelConfig.from_dict(saved[0]["config"])
        except (KeyError, ValueError) as exc:
            raise ModelError(f"training state in {state_dir} has a bad config: {exc}") from None
        if preset is not None and preset != config.preset:
            raise InputError(f"{out} was trained with preset {config.preset!r}, not {preset!r}")
    elif init_from is not None:
        init_model, init_record = _load_init(init_from)
        config = init_model.config
        if preset is not None and preset != config.preset:
            raise InputError(f"{init_from} is preset {config.preset!r}, not {preset!r}")
    else:
        config = get_config(preset or "small", **dict(settings.overrides or {}))
    saved_options = saved[0].get("options") if saved is not None else None
    opts = run_options(settings.options, saved_options)
    if opts.val_batch_size is None:  # fixed at the run's first batch size
        first = (saved_options or {}).get("batch_size") or opts.batch_size
        opts = replace(opts, val_batch_size=int(first))
    sigma_data = float(config.sigma_data)
    p_mean_eff = opts.p_mean if opts.p_mean is not None else math.log(sigma_data) - 0.5
    if saved is not None or init_from is not None:
        at = int(saved[0]["step"]) if saved is not None else int(init_record.get("steps", 0))
        if at >= opts.steps:
            raise InputError(
                f"{'the run in ' + str(out) if saved is not None else init_from} is at step "
                f"{at} already: give --steps above {at} to train on"
            )
    return _RunStart(config, opts, p_mean_eff, saved, init_model, init_record, state_dir)


@dataclass
class _Data:
    """The corpus of a chunk: crop samplers, the fixed validation batches, notes to log."""

    sampler: CropSampler
    val_batches: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
    notes: list[str]  # files skipped as unreadable, and the like: logged as they come
    info: dict[str, Any]  # for the model card


def _training_data(
    data_dir: str | os.PathLike[str], start: _RunStart, settings: TrainSettings, dist_info: _Dist
) -> _Data:
    """Find the audio, split it, and draw the validation batches (rank 0)."""
    config, opts = start.config, start.opts
    notes: list[str] = []
    sources = find_audio(data_dir, val_fraction=opts.val_fraction, notes=notes)
    train_sources = [s for s in sources if s.split == "train"]
    val_sources = [s for s in sources if s.split == "val"]
    sampler = CropSampler(
        train_sources,
        config.sample_rate,
        config.segment_length,
        preload_max_bytes=settings.preload_max_bytes,
        notes=notes,
    )
    val_sampler = sampler
    if val_sources:
        try:
            val_sampler = CropSampler(
                val_sources,
                config.sample_rate,
                config.segment_length,
                preload_max_bytes=settings.preload_max_bytes,
                notes=notes,
            )
        except InputError:  # every held-out file is damaged
            val_sources = []
    if not val_sources and opts.val_batches > 0:
        notes.append("no held-out audio: the validation loss is measured on training crops")
    sigma_data = float(config.sigma_data)
    val_batches = _val_set(val_sampler, opts, sigma_data, start.p_mean) if dist_info.main else []
    info = {
        "data": str(Path(data_dir)),
        "train_files": len(train_sources),
        "val_files": len(val_sources),
        "train_hours": round(sampler.seconds / 3600, 4),
        "val_hours": round(val_sampler.seconds / 3600, 4) if val_sources else 0.0,
    }
    return _Data(sampler, val_batches, notes, info)


@dataclass
class _Trainer:
    """One chunk of a run in progress: the model, its optimiser and the run's record."""

    out: Path
    start: _RunStart
    data: _Data
    dist_info: _Dist
    dev: torch.device
    model: Denoiser
    ema: Denoiser
    opt: torch.optim.Optimizer
    net: torch.nn.Module  # the model, or its DistributedDataParallel wrapper
    short_crop: int | None
    np_rng: np.random.Generator
    gen: torch.Generator
    t_start: float
    on_log: Callable[[dict[str, Any]], None] | None
    amp_dtype: torch.dtype | None = None
    use_amp: bool = False
    scaler: Any = None  # torch.amp.GradScaler
    start_step: int = 0
    # Steps before this one warm the learning rate up (a run continued from weights alone
    # restarts Adam, whose first moments are unreliable).
    warmup_base: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    chunks: list[dict[str, Any]] = field(default_factory=list)
    chunk: dict[str, Any] = field(default_factory=dict)  # this chunk's row of the model card
    best_val: float | None = None
    samples_seen: int = 0
    step: int = 0
    last_loss: float = float("nan")
    last_val: float | None = None
    interval_losses: list[float] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        out: Path,
        start: _RunStart,
        data: _Data,
        dist_info: _Dist,
        dev: torch.device,
        *,
        t_start: float,
        on_log: Callable[[dict[str, Any]], None] | None,
    ) -> _Trainer:
        """A new model, EMA and optimiser, then the resumed or continued run's state."""
        opts = start.opts
        torch.manual_seed(opts.seed)
        model = Denoiser(start.config).to(dev)
        short_crop = short_crop_length(model, opts.short_crop_s) if opts.short_crop_steps else None
        model.train()
        ema = copy.deepcopy(model).eval().requires_grad_(False)
        opt = torch.optim.Adam(model.parameters(), lr=opts.lr, betas=(0.9, 0.999), eps=1e-8)
        trainer = cls(
            out=out,
            start=start,
            data=data,
            dist_info=dist_info,
            dev=dev,
            model=model,
            ema=ema,
            opt=opt,
            net=model,
            short_crop=short_crop,
            np_rng=np.random.default_rng([opts.seed, dist_info.rank]),
            gen=torch.Generator().manual_seed(opts.seed * 1000 + dist_info.rank),
            t_start=t_start,
            on_log=on_log,
        )
        if start.saved is None and start.init_model is not None:
            trainer._continue_from_model()
        if start.saved is not None:
            trainer._restore_state()
        trainer._set_up_hardware()
        return trainer

    def _continue_from_model(self) -> None:
        """``init_from``: its weights start model and EMA, its record is carried on."""
        record = self.start.init_record
        self.model.load_state_dict(self.start.init_model.state_dict())
        self.ema.load_state_dict(self.start.init_model.state_dict())
        self.start_step = int(record.get("steps", 0))
        self.warmup_base = self.start_step
        self.history = list(record.get("history", []))
        self.chunks = list(record.get("chunks", []))
        self.best_val = record.get("best_val_loss")
        self.samples_seen = int(record.get("samples_seen", 0))
        self._fresh_streams()

    def _fresh_streams(self) -> None:
        """Deterministic data and noise streams for a run continued at ``start_step``."""
        opts, rank, at = self.start.opts, self.dist_info.rank, self.start_step
        self.np_rng = np.random.default_rng([opts.seed, rank, at])
        self.gen = torch.Generator().manual_seed(opts.seed * 1000 + rank + 7 * at)

    def _restore_state(self) -> None:
        """A resumed run: weights, EMA, Adam, counters and the random streams of every rank."""
        record, tensors = self.start.saved
        try:
            self.model.load_state_dict(
                {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
            )
            self.ema.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
            self.opt.load_state_dict(_optimizer_from(tensors, record["optimizer"]))
        except (KeyError, RuntimeError, ValueError) as exc:
            raise ModelError(
                f"training state in {self.start.state_dir} does not fit: {exc}"
            ) from None
        self.start_step = int(record["step"])
        self.warmup_base = int(record.get("warmup_base", 0))
        self.history = list(record.get("history", []))
        self.chunks = list(record.get("chunks", []))
        self.best_val = record.get("best_val_loss")
        self.samples_seen = int(record.get("samples_seen", 0))
        rngs = record.get("rng", [])
        rank = self.dist_info.rank
        if len(rngs) == self.dist_info.world:  # same world size: continue every stream exactly
            self.np_rng.bit_generator.state = rngs[rank]["numpy"]
            self.gen.set_state(_gen_state_from_text(rngs[rank]["torch"]))
        else:  # a different number of processes: fresh streams, still deterministic
            self._fresh_streams()
        for g in self.opt.param_groups:
            g["lr"] = _lr(self.start_step, self.start.opts, self.warmup_base)

    def _set_up_hardware(self) -> None:
        """CUDA flags, DDP, the network precision and this chunk's row of the model card."""
        dev, dist_info, opts = self.dev, self.dist_info, self.start.opts
        if dev.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
            torch.backends.cudnn.benchmark = True
        if dist_info.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            self.net = DistributedDataParallel(
                self.model, device_ids=[dist_info.local_rank] if dev.type == "cuda" else None
            )
        from simdps_studio.inpaint.precision import resolve_precision

        run_precision = resolve_precision(
            opts.precision, dev, preset=self.start.config.preset, training=True
        )
        if opts.precision == "auto":
            self.data.notes.append(f"network precision {run_precision.reason}")
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(
            run_precision.precision
        )
        # bf16 autocast runs on the CPU too (fp32 master weights and Adam state); fp16 is
        # CUDA-only.
        self.use_amp = self.amp_dtype is not None and (
            dev.type == "cuda" or self.amp_dtype == torch.bfloat16
        )
        self.scaler = torch.amp.GradScaler(
            dev.type, enabled=self.use_amp and self.amp_dtype == torch.float16
        )
        self.chunk = {
            "start_step": self.start_step,
            "end_step": self.start_step,
            "hardware": _hardware(dev, dist_info.world),
            "precision": run_precision.precision,
            "seconds": 0.0,
            "loss": None,
            "batch_size": opts.batch_size * dist_info.world,
        }

    # ---- the record

    def _elapsed(self) -> float:
        return time.perf_counter() - self.t_start

    def log(self, entry: dict[str, Any]) -> None:
        self.history.append(entry)
        if self.on_log is not None and self.dist_info.main:
            self.on_log(entry)

    def log_notes(self) -> None:
        while self.data.notes:
            self.log({"step": self.step, "note": self.data.notes.pop(0)})

    def _update_chunk(self, last_loss: float) -> None:
        """This chunk's row of the model card, as of the current step."""
        self.chunk["end_step"] = self.step
        self.chunk["seconds"] = round(self._elapsed(), 1)
        self.chunk["loss"] = None if math.isnan(last_loss) else round(last_loss, 6)

    def training_record(self, last_loss: float, val: float | None) -> dict[str, Any]:
        """The model card's ``training`` entry."""
        self._update_chunk(last_loss)
        chunks = [*self.chunks, self.chunk]
        return {
            **self.data.info,
            "preset": self.start.config.preset,
            "steps": self.step,
            "samples_seen": self.samples_seen,
            "options": {**asdict(self.start.opts), "p_mean": self.start.p_mean},
            "train_loss": last_loss,
            "val_loss": val,
            "best_val_loss": self.best_val,
            "seconds_total": round(sum(c.get("seconds", 0.0) for c in chunks), 1),
            "chunks": chunks,
            "history": self.history,
        }

    def checkpoint(self) -> None:
        """Write the training state and the EMA model (rank 0; every rank's streams)."""
        rng_states = _all_gather(
            {"numpy": self.np_rng.bit_generator.state, "torch": _gen_state_to_text(self.gen)},
            self.dist_info,
        )
        if not self.dist_info.main:
            return
        self._update_chunk(self.last_loss)
        record = {
            "step": self.step,
            "config": self.start.config.to_dict(),
            "options": asdict(self.start.opts),
            "rng": rng_states,
            "warmup_base": self.warmup_base,
            "samples_seen": self.samples_seen,
            "best_val_loss": self.best_val,
            "history": self.history,
            "chunks": [*self.chunks, self.chunk],
        }
        _save_state(self.start.state_dir, self.model, self.ema, self.opt, record)
        extra = {"training": self.training_record(self.last_loss, self.last_val)}
        if self.last_val is not None:
            extra["metrics"] = {"val_loss": self.last_val, "best_val_loss": self.best_val}
        save_model(self.ema, self.out, extra=extra)

    def _save_best(self, last_loss: float) -> None:
        save_model(
            self.ema,
            self.out / BEST_DIR,
            extra={
                "training": self.training_record(last_loss, self.last_val),
                "metrics": {"val_loss": self.last_val, "step": self.step},
            },
        )

    def _validate(self) -> float:
        return validation_loss(
            self.ema, self.data.val_batches, float(self.start.config.sigma_data), self.dev
        )

    # ---- the loop

    def first_validation(self) -> None:
        """The validation loss the chunk starts from (measured, or the resumed run's last)."""
        saved = self.start.saved
        # A resumed chunk carries its run's last validation loss (the model card and the
        # prior-fit reference keep it even if this chunk ends before the next validation).
        if saved is not None:
            self.last_val = next(
                (h["val_loss"] for h in reversed(self.history) if h.get("val_loss") is not None),
                None,
            )
        if (
            self.dist_info.main
            and self.data.val_batches
            and (self.start_step == 0 or saved is None)
        ):
            self.last_val = self._validate()
            self.log({"step": self.start_step, "val_loss": self.last_val, "time_s": 0.0})
            if self.start_step > 0:
                # Continued from a model (--init): its own best was measured on its own data;
                # this run's best starts with its weights on this run's validation set.
                self.best_val = self.last_val
                self._save_best(float("nan"))

    def train_step(self) -> float:
        """One optimiser step; returns the learning rate it used."""
        opts, dev = self.start.opts, self.dev
        sigma_data = float(self.start.config.sigma_data)
        lr_now = _lr(self.step, opts, self.warmup_base)
        for g in self.opt.param_groups:
            g["lr"] = lr_now
        x_np = make_batch(
            self.data.sampler,
            self.np_rng,
            opts.batch_size,
            sigma_data,
            gain_db=opts.gain_db,
            polarity=opts.polarity,
            n_samples=self.short_crop if self.step < opts.short_crop_steps else None,
        )
        x = torch.from_numpy(x_np).to(dev)
        sigma = torch.exp(
            self.start.p_mean + opts.p_std * torch.randn(opts.batch_size, generator=self.gen)
        )
        noise = torch.randn(opts.batch_size, x.shape[1], generator=self.gen)
        sigma, noise = sigma.to(dev), noise.to(dev)
        amp = (
            torch.autocast(dev.type, dtype=self.amp_dtype)
            if self.use_amp
            else contextlib.nullcontext()
        )
        with amp:
            loss = edm_loss(self.net, x, sigma, noise, sigma_data, snr_cap=opts.snr_cap)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.opt)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), opts.grad_clip)
        if torch.isfinite(grad_norm):
            self.scaler.step(self.opt)
        self.scaler.update()
        ema_update(self.ema, self.model, self.step, opts.ema_decay)
        self.step += 1
        self.log_notes()
        self.samples_seen += opts.batch_size * self.dist_info.world
        self.interval_losses.append(float(loss.detach()))
        return lr_now

    def log_interval(self, lr_now: float) -> None:
        """The mean loss over the last ``log_every`` steps (and at the last step)."""
        opts = self.start.opts
        if self.step % opts.log_every == 0 or self.step == opts.steps:
            mean = float(np.mean(self.interval_losses))
            self.last_loss = _mean_over_ranks(mean, self.dist_info, self.dev)
            self.interval_losses = []
            entry = {"step": self.step, "loss": self.last_loss, "lr": lr_now}
            self.log({**entry, "time_s": round(self._elapsed(), 2)})

    def maybe_validate(self) -> None:
        """Validate every ``val_every`` steps (and at the last); keep the best model."""
        opts = self.start.opts
        if not (
            self.dist_info.main
            and self.data.val_batches
            and (self.step % opts.val_every == 0 or self.step == opts.steps)
        ):
            return
        self.last_val = self._validate()
        entry = {"step": self.step, "val_loss": self.last_val}
        self.log({**entry, "time_s": round(self._elapsed(), 2)})
        if self.best_val is None or self.last_val < self.best_val:
            self.best_val = self.last_val
            self._save_best(self.last_loss)

    def report(self, progress: Progress | None) -> None:
        if progress is None or not self.dist_info.main:
            return
        opts = self.start.opts
        done = self.step - self.start_step
        eta = self._elapsed() / done * (opts.steps - self.step) if done else float("nan")
        loss_txt = f"{self.last_loss:.4f}" if not math.isnan(self.last_loss) else "-"
        val_txt = f", val {self.last_val:.4f}" if self.last_val is not None else ""
        progress(
            self.step / opts.steps,
            f"step {self.step}/{opts.steps}, loss {loss_txt}{val_txt}, ETA {eta:.0f} s",
        )

    def _mean_interval_loss(self) -> None:
        if self.interval_losses:
            self.last_loss = float(np.mean(self.interval_losses))

    def run(
        self, *, progress: Progress | None, cancel: CancelToken | None, max_seconds: float | None
    ) -> TrainResult:
        """Train up to the run's total steps, checkpointing as it goes."""
        opts, dist_info, dev = self.start.opts, self.dist_info, self.dev
        self.step = self.start_step
        self.log_notes()
        self.first_validation()
        last_ckpt = time.perf_counter()
        finished = self.step >= opts.steps
        try:
            while self.step < opts.steps:
                check_cancel(cancel)
                lr_now = self.train_step()
                self.log_interval(lr_now)
                self.maybe_validate()
                self.report(progress)
                now = time.perf_counter()
                out_of_time = max_seconds is not None and now - self.t_start >= max_seconds
                want_ckpt = now - last_ckpt >= opts.checkpoint_every_s
                want_ckpt, out_of_time = (
                    _broadcast_flag(want_ckpt, dist_info, dev),
                    _broadcast_flag(out_of_time, dist_info, dev),
                )
                if want_ckpt and not out_of_time and self.step < opts.steps:
                    self.checkpoint()
                    last_ckpt = time.perf_counter()
                if out_of_time:
                    break
            finished = self.step >= opts.steps
        except CancelledError:
            self._mean_interval_loss()
            self.checkpoint()
            raise
        self._mean_interval_loss()
        self.checkpoint()
        return TrainResult(
            out_dir=self.out,
            start_step=self.start_step,
            step=self.step,
            finished=finished,
            train_loss=self.last_loss,
            val_loss=self.last_val,
            best_val_loss=self.best_val,
            seconds=self._elapsed(),
            history=self.history,
        )
