"""Lossless audio file I/O through libsndfile (soundfile).

Samples stay in the source's native dtype (:func:`~simdps_studio.core.types.native_dtype_for_subtype`)
so that writing an unchanged :class:`~simdps_studio.core.types.Audio` back reproduces every sample
bit for bit. Reading goes block by block into one preallocated ``(channels, n_samples)`` array, so
a long file costs about its native size in memory and no more. Writing is atomic (temporary file in
the target folder, fsync, rename) and dithers (TPDF) whenever the target holds fewer bits than the
source. WAV files can carry cue markers, written here as RIFF ``cue `` and ``LIST``/``adtl`` chunks.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import socket
import struct
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from simdps_studio.audio.dsp import quantize, tpdf_dither_quantize
from simdps_studio.core.errors import ExportError, InputError, SimDPSError, quoted
from simdps_studio.core.interrupts import interrupts_deferred
from simdps_studio.core.progress import CancelToken, Progress, check_cancel
from simdps_studio.core.types import (
    Audio,
    bits_for_subtype,
    native_dtype_for_subtype,
    native_to_float,
)

#: Frames per read/write block: large enough for libsndfile's speed, small next to the audio.
BLOCK_FRAMES = 1 << 17
#: Subtypes of lossy codecs: writing them re-encodes every sample (no bit-exact null test).
LOSSY_SUBTYPES = frozenset({"VORBIS", "OPUS", "MPEG_LAYER_I", "MPEG_LAYER_II", "MPEG_LAYER_III"})

#: Container formats by file extension, used when ``write`` is given no ``format``.
FORMAT_BY_SUFFIX = {
    ".wav": "WAV",
    ".wave": "WAV",
    ".flac": "FLAC",
    ".ogg": "OGG",
    ".oga": "OGG",
    ".aif": "AIFF",
    ".aiff": "AIFF",
    ".aifc": "AIFF",
    ".w64": "W64",
    ".rf64": "RF64",
    ".caf": "CAF",
    ".au": "AU",
    ".snd": "AU",
    ".mp3": "MP3",
}

#: RIFF-based formats that take cue chunks (RF64 has its own size fields: no cues there).
_CUE_FORMATS = {"WAV", "WAVEX"}
#: Formats that ``.wav`` may name; a source in any of them keeps its format for a ``.wav`` output.
_WAV_FAMILY = {"WAV", "WAVEX", "RF64"}
#: Subtypes that decode exactly; a short read of any of them means a truncated file.
_EXACT_SUBTYPES_PREFIXES = ("PCM_", "ALAC_", "FLOAT", "DOUBLE")
#: Float samples beyond this are no recording's level (±1 is full scale; 1e12 is 240 dB above
#: it, past integer-scaled floats at ±2**31): a corrupt file. The search's float32 band powers
#: overflow from about 5e17.
MAX_FLOAT_LEVEL = 1e12

# Read once: mkstemp creates files with mode 0600, the output should get the usual 0666 & ~umask.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def file_mode_for(path: Path) -> int:
    """Permissions for a file written through a temporary one: the replaced file's, else what
    ``open()`` would give a new file (0666 less the umask; ``mkstemp`` makes 0600)."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~_UMASK


# ------------------------------------------------------------------------------- temporary files

#: Temporary files of atomic writes are ``.simdps-<pid>-<host>-<random>.tmp`` beside their target:
#: short (a target's name may be near the 255-byte limit), and named after the process that owns
#: them, so that a later run can remove what a killed one (kill -9, a power cut) left behind.
TEMP_PREFIX = ".simdps-"
_TEMP_NAME = re.compile(r"\.simdps-(\d+)-([0-9a-f]{6})-[^/]*\.tmp")


def _host_tag() -> str:
    """Six hex digits naming this machine: a process id means nothing on another one."""
    return hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:6]


def temp_file_beside(path: Path) -> Path:
    """An empty temporary file in ``path``'s folder, owned by this process, with the mode
    :func:`file_mode_for` gives ``path`` (``mkstemp`` alone makes it private).

    Raises
    ------
    OSError
        When the folder does not take a new file.
    """
    prefix = f"{TEMP_PREFIX}{os.getpid()}-{_host_tag()}-"
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, file_mode_for(path))
    except BaseException:
        os.unlink(tmp)
        raise
    return Path(tmp)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: "may I signal it?", nothing is sent
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # another user's process, or an id that cannot be probed
        return True
    return True


def remove_stale_temps(folder: Path) -> list[Path]:
    """Remove the temporary files that runs of this program killed on this machine left in
    ``folder``: those whose owner process no longer runs. Best effort.

    Returns
    -------
    list of Path
        The files removed.
    """
    if os.name != "posix":
        return []  # no harmless probe: on Windows os.kill(pid, 0) would stop the process
    host = _host_tag()
    removed = []
    try:
        with os.scandir(folder) as entries:
            stale = [
                Path(e.path)
                for e in entries
                if (m := _TEMP_NAME.fullmatch(e.name))
                and m.group(2) == host
                and e.is_file(follow_symlinks=False)
                and not _process_alive(int(m.group(1)))
            ]
    except OSError:
        return []
    for path in stale:
        try:
            path.unlink()
        except OSError:
            continue
        removed.append(path)
    return removed


# ------------------------------------------------------------------------------ write failures

#: Failures of the storage rather than of the path (exit 1, not a bad argument).
STORAGE_ERRNOS = frozenset(
    getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EFBIG", "EIO") if hasattr(errno, name)
)


def _file_size_limit() -> int | None:
    """This process's largest file in bytes (``ulimit -f``), None when unlimited or unknown."""
    try:
        import resource
    except ImportError:
        return None
    soft, _hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def storage_reason(code: int | None, folder: Path) -> str | None:
    """The cause of a write failure the storage is to blame for, in words; None for others."""
    if code == errno.ENOSPC:
        try:
            free = shutil.disk_usage(folder).free
        except OSError:
            return "no space left on the device"
        return f"no space left on the device ({free / 2**20:.1f} MiB free without this file)"
    if code == getattr(errno, "EDQUOT", None):
        return "disk quota exceeded"
    if code == errno.EFBIG:
        limit = _file_size_limit()
        if limit is None:
            return "file too large for the file system"
        return f"file too large: this process may write files of up to {limit / 2**20:.1f} MiB (ulimit -f)"
    return None


#: libsndfile's error code for a failed system call.
_SFE_SYSTEM = 2


def write_error(
    path: Path, exc: BaseException, *, started: bool = True, reason: str | None = None
) -> SimDPSError:
    """The one-line error for a failed write of ``path``.

    A failed system call once the data were being written (``started``), or any failure of the
    storage (a full disk, a quota, ``ulimit -f``, an I/O error), is :class:`ExportError` (exit
    1); one of the path (no permission, a read-only folder) or of the format libsndfile refuses
    is :class:`InputError` (exit 2). ``reason`` replaces
    the exception's own words when the storage is not to blame.
    """
    code = exc.errno if isinstance(exc, OSError) else None
    reason = storage_reason(code, path.parent) or reason or _reason(exc)
    # libsndfile refusing a format or its parameters is the arguments' fault, not the system's.
    system = isinstance(exc, OSError) or (
        isinstance(exc, sf.LibsndfileError) and exc.code == _SFE_SYSTEM
    )
    cls = ExportError if (system and started) or code in STORAGE_ERRNOS else InputError
    return cls(f"cannot write {quoted(path)}: {reason}")


def _sndfile_os_error(f: sf.SoundFile, exc: BaseException) -> BaseException:
    """libsndfile's failed system call as an OSError with its errno: its exception says only
    "System error", while ``sf_strerror`` keeps the cause ("System error : File too large.")."""
    try:
        text = sf._ffi.string(sf._snd.sf_strerror(f._file)).decode("utf-8", "replace")
    except Exception:  # another soundfile build: keep the bare error
        return exc
    cause = text.partition(" : ")[2].strip().rstrip(".")
    for code in (*STORAGE_ERRNOS, errno.EACCES, errno.EROFS):
        if cause == os.strerror(code):
            return OSError(code, cause)
    return exc


@dataclass(frozen=True)
class AudioFileInfo:
    """What an audio file's header says.

    Attributes
    ----------
    sr : int
        Sample rate in Hz.
    channels : int
    n_samples : int
        Frames per channel.
    subtype : str
        libsndfile subtype, e.g. ``"PCM_24"``.
    format : str
        libsndfile container format, e.g. ``"WAV"``.
    duration_s : float
    """

    sr: int
    channels: int
    n_samples: int
    subtype: str
    format: str
    duration_s: float


# ----------------------------------------------------------------------------------------- reading


def _reason(exc: BaseException) -> str:
    """One-line reason from a soundfile/OS error, without libsndfile's 'Error opening ...' prefix."""
    if isinstance(exc, sf.LibsndfileError):
        text = exc.error_string
        if text.startswith("Format not recognised"):
            text = "not a recognised audio format"
        elif "SF_INFO struct incomplete" in text:  # libsndfile's words for a zero rate/channels
            text = "invalid header (its sample rate or channel count is 0)"
    elif isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    else:
        text = str(exc)
    text = " ".join(text.split()).rstrip(".")
    return text[:1].lower() + text[1:] if text else type(exc).__name__


def _check_readable(path: Path) -> None:
    """Raise InputError for paths that cannot be an audio file, with the precise reason."""
    if not path.exists():
        raise InputError(f"cannot read audio from {quoted(path)}: no such file")
    if path.is_dir():
        raise InputError(f"cannot read audio from {quoted(path)}: it is a folder")
    if not path.is_file():  # a pipe would block or be consumed by the first look; a device too
        raise InputError(
            f"cannot read audio from {quoted(path)}: not a regular file "
            "(save the stream to a file first)"
        )
    try:
        with open(path, "rb") as f:
            empty = f.read(1) == b""
    except OSError as exc:
        raise InputError(f"cannot read audio from {quoted(path)}: {_reason(exc)}") from None
    if empty:
        raise InputError(f"cannot read audio from {quoted(path)}: the file is empty")


def _open_read(path: Path) -> sf.SoundFile:
    _check_readable(path)
    try:
        return sf.SoundFile(str(path))
    except (sf.SoundFileError, OSError, RuntimeError, ValueError, TypeError) as exc:
        raise InputError(f"cannot read audio from {quoted(path)}: {_reason(exc)}") from None


def info(path: str | os.PathLike) -> AudioFileInfo:
    """Read an audio file's header.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    AudioFileInfo

    Raises
    ------
    InputError
        Missing, unreadable or non-audio file. A file without samples is reported with
        ``n_samples == 0`` (only :func:`load` refuses it).
    """
    p = Path(path)
    with _open_read(p) as f:
        return AudioFileInfo(
            sr=int(f.samplerate),
            channels=int(f.channels),
            n_samples=int(f.frames),
            subtype=str(f.subtype),
            format=str(f.format),
            duration_s=f.frames / f.samplerate,
        )


def load(
    path: str | os.PathLike,
    *,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> Audio:
    """Load an audio file in its native sample format.

    The file is read block by block into one preallocated array, so the peak memory is the audio's
    native size plus a block (no interleaved copy of the whole file, no transpose).

    Parameters
    ----------
    path : str or path-like
        Anything libsndfile reads: WAV, FLAC, OGG, AIFF, MP3 (libsndfile >= 1.1), ...
    progress : Progress, optional
        Called with the fraction read.
    cancel : CancelToken, optional
        Checked once per block.

    Returns
    -------
    Audio
        ``samples`` of shape (channels, n_samples) in ``native_dtype_for_subtype(subtype)``; ``sr``,
        ``subtype`` and ``format`` from the file; ``meta["path"]`` the path read.

    Raises
    ------
    InputError
        Missing, empty, unreadable, truncated or non-audio file, a file without samples, or float
        samples that are NaN or infinite.
    CancelledError
        When ``cancel`` was set.
    """
    p = Path(path)
    with _open_read(p) as f:
        n_frames, channels = int(f.frames), int(f.channels)
        subtype, fmt, sr = str(f.subtype), str(f.format), int(f.samplerate)
        if n_frames <= 0:
            raise InputError(f"cannot read audio from {quoted(p)}: the file contains no samples")
        dtype = native_dtype_for_subtype(subtype)
        try:
            samples = np.empty((channels, n_frames), dtype=dtype)
        except (MemoryError, ValueError):
            raise InputError(
                f"cannot read audio from {quoted(p)}: not enough memory for {n_frames} frames × "
                f"{channels} channels"
            ) from None
        block = np.empty((min(BLOCK_FRAMES, n_frames), channels), dtype=dtype)
        n_read = 0
        n_bad = 0
        peak = 0.0
        while n_read < n_frames:
            check_cancel(cancel)
            want = min(len(block), n_frames - n_read)
            try:
                got = f.read(want, dtype=dtype.name, always_2d=True, out=block[:want])
            except (sf.SoundFileError, RuntimeError, OSError) as exc:
                raise InputError(
                    f"cannot read audio from {quoted(p)}: {_reason(exc)} (truncated or corrupt file)"
                ) from None
            m = len(got)
            if m == 0:
                break
            samples[:, n_read : n_read + m] = got.T
            if dtype.kind == "f":
                finite = np.isfinite(got)
                n_bad += got.size - int(np.count_nonzero(finite))
                peak = max(peak, float(np.max(np.abs(got), where=finite, initial=0.0)))
            n_read += m
            if progress is not None:
                progress(n_read / n_frames, f"reading {p.name}")
    if n_read < n_frames:
        # Lossy decoders may only estimate the length; exact codecs must deliver every frame.
        if subtype.upper().startswith(_EXACT_SUBTYPES_PREFIXES) or n_read == 0:
            raise InputError(
                f"cannot read audio from {quoted(p)}: the file ends after {n_read} of {n_frames} frames "
                "(truncated)"
            )
        samples = samples[:, :n_read].copy()
    if n_bad:
        raise InputError(f"{quoted(p)} contains {n_bad} non-finite samples (NaN/Inf)")
    if peak > MAX_FLOAT_LEVEL:
        raise InputError(
            f"{quoted(p)} has samples far outside the usual range (peak {peak:.3g}; full scale is "
            f"±1, at most ±{MAX_FLOAT_LEVEL:.0e} is accepted): a corrupt file, or not audio"
        )
    meta: dict = {"path": str(p)}
    declared = wav_declared_frames(p) if fmt.upper() in _WAV_FAMILY else None
    if declared is not None and declared > n_read:
        # libsndfile reads what is there and says nothing; the user should know.
        meta["warnings"] = [
            f"{quoted(p.name)} is shorter than its header says ({n_read / sr:.3f} of "
            f"{declared / sr:.3f} s are in the file): truncated, e.g. by an interrupted copy"
        ]
    return Audio(samples, sr, subtype, fmt, meta)


def wav_declared_frames(path: Path) -> int | None:
    """Frames a RIFF/WAVE header declares in its ``data`` chunk, None when it does not say.

    Recorders that stop without finishing the header leave 0 or 0xFFFFFFFF there (and RF64
    keeps the size elsewhere): those say nothing.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            block_align = None
            while True:
                chunk = f.read(8)
                if len(chunk) < 8:
                    return None
                cid, size = chunk[:4], int.from_bytes(chunk[4:], "little")
                if cid == b"fmt ":
                    fmt_chunk = f.read(size)
                    if len(fmt_chunk) >= 14:
                        block_align = int.from_bytes(fmt_chunk[12:14], "little")
                    f.seek(size % 2, os.SEEK_CUR)
                elif cid == b"data":
                    if not block_align or size in (0, 0xFFFFFFFF):
                        return None
                    return size // block_align
                else:
                    f.seek(size + size % 2, os.SEEK_CUR)
    except OSError:
        return None


def file_sha256(
    path: str | os.PathLike,
    *,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks.

    Returns
    -------
    str
        64 lowercase hex digits.

    Raises
    ------
    InputError
        If the file cannot be read.
    """
    p = Path(path)
    digest = hashlib.sha256()
    try:
        total = max(p.stat().st_size, 1)
        done = 0
        with open(p, "rb") as f:
            while chunk := f.read(1 << 20):
                check_cancel(cancel)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(min(done / total, 1.0), f"hashing {p.name}")
    except OSError as exc:
        raise InputError(f"cannot read {quoted(p)}: {_reason(exc)}") from None
    return digest.hexdigest()


# ----------------------------------------------------------------------------------------- writing


def _pick_subtype(fmt: str, audio: Audio) -> str:
    """The source's subtype when ``fmt`` takes it, else the nearest PCM depth holding its bits.

    A lossy source (MP3, Vorbis, Opus) is not re-encoded with its codec: its decoded float
    samples are written as 32-bit float where the format takes it (exactly), else as PCM. Only a
    lossy-only container (OGG, MP3) gets its codec: every sample is then re-encoded.
    """
    src = audio.subtype.upper()
    if src.startswith(("PCM_", "FLOAT", "DOUBLE", "ULAW", "ALAW")) and sf.check_format(fmt, src):
        return src
    if audio.samples.dtype.kind == "f" and sf.check_format(fmt, "FLOAT"):
        return "FLOAT"
    pcm = sorted(
        (bits_for_subtype(s), s)
        for s in sf.available_subtypes(fmt)
        if s.startswith("PCM_") and bits_for_subtype(s) is not None
    )
    if not pcm:
        return sf.default_subtype(fmt)
    src_bits = _source_bits(audio)
    for bits, s in pcm:
        if bits >= src_bits:
            return s
    return pcm[-1][1]


def _source_bits(audio: Audio) -> float:
    """Resolution of the samples in bits: PCM depth for integers, infinity for float samples."""
    if audio.samples.dtype.kind == "f":
        return float("inf")
    return float(bits_for_subtype(audio.subtype) or audio.samples.dtype.itemsize * 8)


def resolve_format(
    path: str | os.PathLike, audio: Audio, *, format: str | None = None, subtype: str | None = None
) -> tuple[str, str]:
    """Container format and subtype that :func:`write` will use.

    ``format`` defaults to the one the file extension names (``.flac`` -> FLAC), else the Audio's;
    a ``.wav`` output of a WAV/WAVEX/RF64 source keeps the source's. A WAV whose sample data
    would pass 4 GiB becomes RF64 (still ``.wav``; cue markers are not written there).
    ``subtype`` defaults to the Audio's when the format takes it, else to the smallest PCM depth
    holding the source's bits (the deepest one available for float sources), else the format's
    default.

    Raises
    ------
    InputError
        Unknown format, or a subtype the format cannot hold.
    """
    p = Path(path)
    if format is None:
        by_ext = FORMAT_BY_SUFFIX.get(p.suffix.lower())
        src = audio.format.upper()
        if by_ext is None or by_ext == src or (by_ext == "WAV" and src in _WAV_FAMILY):
            format = src
        else:
            format = by_ext
    fmt = format.upper()
    if fmt not in sf.available_formats():
        raise InputError(f"cannot write {quoted(p)}: unknown audio format {fmt}")
    if subtype is None:
        sub = _pick_subtype(fmt, audio)
    else:
        sub = subtype.upper()
        if not sf.check_format(fmt, sub):
            choices = ", ".join(sf.available_subtypes(fmt))
            raise InputError(
                f"cannot write {quoted(p)}: format {fmt} cannot hold {sub} (choose from {choices})"
            )
    if fmt in ("WAV", "WAVEX") and wav_data_bytes(audio.n_samples, audio.channels, sub) > (
        WAV_MAX_DATA_BYTES
    ):
        fmt = "RF64"  # a plain WAV's 32-bit sizes would cut the file off (read back truncated)
    return fmt, sub


#: The most sample data a plain WAV can hold: its chunk sizes are 32-bit (less room for headers).
WAV_MAX_DATA_BYTES = 2**32 - 2**20


def wav_data_bytes(n_samples: int, channels: int, subtype: str) -> int:
    """Bytes of sample data ``n_samples`` frames of ``subtype`` take."""
    width = {"PCM_S8": 1, "PCM_U8": 1, "ULAW": 1, "ALAW": 1, "PCM_16": 2, "PCM_24": 3}
    width.update({"PCM_32": 4, "FLOAT": 4, "DOUBLE": 8})
    return int(n_samples) * int(channels) * width.get(subtype.upper(), 4)


def _to_float64(x: np.ndarray) -> np.ndarray:
    """Native samples to float64 in [-1, 1), exactly (no float32 rounding of 32-bit integers)."""
    if x.dtype.kind == "f":
        return x.astype(np.float64)
    return x.astype(np.float64) * (1.0 / (np.iinfo(x.dtype).max + 1.0))


def _round_to_bits(x: np.ndarray, bits: int) -> np.ndarray:
    """Round left-aligned integers to ``bits`` significant bits (identity on valid samples).

    libsndfile drops the low bits (rounds towards -inf) when e.g. int32 goes to PCM_24; samples
    made at a finer resolution than their subtype (``Audio.from_float`` fills int32 with 32 bits)
    are rounded to the nearest step instead, so they carry no bias.
    """
    shift = x.dtype.itemsize * 8 - bits
    if shift <= 0 or not np.any(x & ((1 << shift) - 1)):
        return x
    y = (x.astype(np.int64) + (1 << (shift - 1))) >> shift
    np.clip(y, -(1 << (bits - 1)), (1 << (bits - 1)) - 1, out=y)
    return (y << shift).astype(x.dtype)


def _blocks_for_target(
    audio: Audio, subtype: str, *, dither: bool, seed: int
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(end_sample, block)`` with blocks of shape (frames, channels) ready for soundfile.

    Integer targets holding at least the source's bits get the native integers (libsndfile's
    integer conversions are exact shifts); float and lossy targets get floats converted here (the
    scaling of libsndfile's int -> float path is not the one of :func:`native_to_float`); integer
    targets with fewer bits are quantised here, at the target's LSB, with TPDF dither.
    """
    target_bits = bits_for_subtype(subtype)
    target_dtype = native_dtype_for_subtype(subtype)
    src = audio.samples
    src_float = src.dtype.kind == "f"
    rng = np.random.default_rng(seed)
    for start in range(0, audio.n_samples, BLOCK_FRAMES):
        stop = min(start + BLOCK_FRAMES, audio.n_samples)
        x = src[:, start:stop]
        if target_bits is None or target_dtype.kind == "f":
            if target_dtype == np.float64:
                y = _to_float64(x)
            else:
                y = x if src_float else native_to_float(x)
        elif not src_float and _source_bits(audio) <= target_bits:
            y = _round_to_bits(x, target_bits)
        elif dither:
            y = tpdf_dither_quantize(_to_float64(x), subtype, rng=rng)
        else:
            y = quantize(_to_float64(x), subtype)
        yield stop, np.ascontiguousarray(y.T)


def refuse_special_output(p: Path, label: str = "output") -> None:
    """Refuse an existing ``p`` that is not a regular file: writing replaces the file at ``p``,
    which would turn a device (``/dev/null`` as root), a pipe or a link into a plain file."""
    if os.path.lexists(p) and (
        p.is_symlink() or (p.exists() and not p.is_file() and not p.is_dir())
    ):
        kind = "a link" if p.is_symlink() else "not a regular file (a device or a pipe)"
        raise InputError(f"{label} {quoted(p)} exists and is {kind}; choose a new file name")


def check_output_format(p: Path, audio: Audio, fmt: str, subtype: str) -> None:
    """Refuse a format that cannot hold ``audio``'s channels or rate as ``subtype`` (MP3: 2
    channels and rates to 48 kHz, FLAC: 8 channels, Opus: 8-48 kHz), by opening it in memory."""
    import io

    try:
        with sf.SoundFile(io.BytesIO(), "w", audio.sr, audio.channels, subtype, format=fmt):
            pass
    except (sf.LibsndfileError, RuntimeError, ValueError) as e:
        why = str(e).split(": ", 1)[-1].removeprefix("Error : ").strip()
        if why == "Format not recognised.":
            why = "format not recognised"
        raise InputError(
            f"cannot write {quoted(p.name)}: {fmt} ({subtype}) cannot hold {audio.channels} channel(s) "
            f"at {audio.sr} Hz ({why}); choose another file type"
        ) from None


def _check_output(p: Path) -> None:
    refuse_special_output(p)
    folder = p.parent
    if folder.exists() and not folder.is_dir():
        raise InputError(f"cannot write {quoted(p)}: {quoted(folder)} is not a folder")
    if not folder.is_dir():
        raise InputError(f"cannot write {quoted(p)}: folder {quoted(folder)} does not exist")
    if p.is_dir():
        raise InputError(f"cannot write {quoted(p)}: it is a folder")


def write(
    path: str | os.PathLike,
    audio: Audio,
    *,
    format: str | None = None,
    subtype: str | None = None,
    dither: bool = True,
    seed: int = 0,
    cues: Sequence[tuple[int, str]] | None = None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> None:
    """Write audio atomically; unchanged native samples are written bit for bit.

    Parameters
    ----------
    path : str or path-like
        Output file. It appears complete or not at all: the data go to a temporary file in the same
        folder, which is fsynced and renamed over ``path``; on any error it is removed and an
        existing ``path`` is left untouched.
    audio : Audio
        Samples of shape (channels, n_samples).
    format, subtype : str, optional
        libsndfile names; defaults as in :func:`resolve_format`.
    dither : bool
        Add TPDF dither (±1 LSB, triangular) before quantising when the target has fewer bits than
        the source (float -> PCM, PCM_24 -> PCM_16, ...). ``False`` rounds.
    seed : int
        Seed of the dither noise (the same seed gives the same file).
    cues : sequence of (int, str), optional
        Markers ``(sample_position, label)`` stored as RIFF ``cue `` + ``LIST``/``adtl`` chunks in
        WAV files; ignored for other formats and RF64.
    progress, cancel
        Progress callback and cancel token (checked once per block).

    Raises
    ------
    InputError
        Missing or unwritable folder, unknown format, subtype the format cannot hold (message
        ``cannot write <path>: ...``).
    ExportError
        The writing failed: a full disk, a quota, ``ulimit -f``, an I/O error.
    CancelledError
        When ``cancel`` was set (nothing is left behind).
    """
    p = Path(path)
    tmp = stage_audio(
        p,
        audio,
        format=format,
        subtype=subtype,
        dither=dither,
        seed=seed,
        cues=cues,
        progress=progress,
        cancel=cancel,
    )
    replace_staged([(tmp, p)])


def stage_audio(
    path: Path,
    audio: Audio,
    *,
    format: str | None = None,
    subtype: str | None = None,
    dither: bool = True,
    seed: int = 0,
    cues: Sequence[tuple[int, str]] | None = None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> Path:
    """All of :func:`write` but the rename: the complete, synced temporary file beside ``path``.

    The caller puts it in place with :func:`replace_staged` (with the files that belong with it)
    or removes it. Parameters and errors as :func:`write`; on an error nothing is left behind.
    """
    fmt, sub = resolve_format(path, audio, format=format, subtype=subtype)
    _check_output(path)
    marks = _validate_cues(cues, audio.n_samples, path) if cues else []
    try:
        tmp = temp_file_beside(path)
    except OSError as exc:
        raise write_error(path, exc, started=False) from None
    try:
        _write_samples(
            tmp,
            audio,
            fmt,
            sub,
            dither=dither,
            seed=seed,
            progress=progress,
            cancel=cancel,
            name=path.name,
        )
        if marks and fmt in _CUE_FORMATS:
            _append_cue_chunks(tmp, marks)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, (sf.SoundFileError, OSError, RuntimeError, ValueError, TypeError)):
            raise write_error(path, exc, reason=_write_reason(exc, path, audio)) from None
        raise
    return tmp


def _write_samples(
    tmp: Path, audio: Audio, fmt: str, sub: str, *, dither, seed, progress, cancel, name: str
) -> None:
    """The samples into ``tmp`` through libsndfile; a failed system call raises its OSError."""
    f = sf.SoundFile(
        str(tmp), "w", samplerate=audio.sr, channels=audio.channels, format=fmt, subtype=sub
    )
    try:
        for stop, block in _blocks_for_target(audio, sub, dither=dither, seed=seed):
            check_cancel(cancel)
            f.write(block)
            if progress is not None:
                progress(stop / max(audio.n_samples, 1), f"writing {name}")
        f.close()  # writes the header: may fail too
    except sf.LibsndfileError as exc:
        raise _sndfile_os_error(f, exc) from None
    finally:
        if not f.closed:
            try:
                f.close()
            except Exception:  # the first failure is the one to report
                pass


def replace_staged(pairs: Sequence[tuple[Path, Path]]) -> None:
    """Rename staged temporary files over their targets and make that durable.

    A stop signal (Ctrl+C, SIGTERM) that arrives meanwhile takes effect after the last rename,
    so files that belong together (an export and its provenance) are never split. On a failure
    the staged files are removed.
    """
    target = pairs[0][1] if pairs else Path()
    with interrupts_deferred():
        try:
            for tmp, target in pairs:
                os.replace(tmp, target)
        except OSError as exc:
            for tmp, _ in pairs:
                tmp.unlink(missing_ok=True)
            raise write_error(target, exc) from None
    for folder in dict.fromkeys(t.parent for _, t in pairs):
        _fsync_folder(folder)


def _write_reason(exc: BaseException, path: Path, audio: Audio) -> str:
    """:func:`_reason`, and for libsndfile's bare "system error" the likely cause: a full disk."""
    reason = _reason(exc)
    if reason == "system error":
        try:
            free = shutil.disk_usage(path.parent).free
        except OSError:
            return reason
        if free < audio.samples.nbytes:
            return f"no space left on the device ({free / 2**20:.1f} MiB free)"
    return reason


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable; best effort (not every platform can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# -------------------------------------------------------------------------------------------- cues


def _validate_cues(
    cues: Sequence[tuple[int, str]], n_samples: int, p: Path
) -> list[tuple[int, str]]:
    marks = []
    for position, label in cues:
        pos = int(position)
        if not 0 <= pos <= min(n_samples, 0xFFFFFFFF):
            raise InputError(
                f"cannot write {quoted(p)}: cue at sample {pos} lies outside the audio"
            )
        marks.append((pos, str(label)))
    return sorted(marks, key=lambda m: m[0])


def _chunk(ck_id: bytes, payload: bytes) -> bytes:
    """One RIFF chunk: id, little-endian size, payload, pad byte to an even length."""
    pad = b"\0" if len(payload) % 2 else b""
    return ck_id + struct.pack("<I", len(payload)) + payload + pad


def cue_chunks(cues: Sequence[tuple[int, str]]) -> bytes:
    """RIFF ``cue `` chunk plus ``LIST``/``adtl`` chunk of ``labl`` sub-chunks for the markers.

    Each cue point (24 bytes) is: ID, play-order position, ``'data'``, chunk start 0, block start
    0, sample offset; each label is a ``labl`` chunk with the cue ID and a NUL-terminated UTF-8
    string (RIFF strings are ZSTRs; UTF-8 keeps non-ASCII labels readable in modern editors).
    """
    points = b"".join(
        struct.pack("<II4sIII", i + 1, pos, b"data", 0, 0, pos) for i, (pos, _) in enumerate(cues)
    )
    cue = _chunk(b"cue ", struct.pack("<I", len(cues)) + points)
    labels = b"".join(
        _chunk(b"labl", struct.pack("<I", i + 1) + label.encode("utf-8") + b"\0")
        for i, (_, label) in enumerate(cues)
    )
    return cue + _chunk(b"LIST", b"adtl" + labels)


def _append_cue_chunks(wav_path: Path, cues: Sequence[tuple[int, str]]) -> None:
    """Append cue chunks to a finished RIFF/WAVE file and fix up the RIFF size."""
    extra = cue_chunks(cues)
    with open(wav_path, "r+b") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return
        end = f.seek(0, os.SEEK_END)
        if end % 2:  # the last chunk lacks its pad byte
            f.write(b"\0")
            end += 1
        size = end + len(extra) - 8
        if size > 0xFFFFFFFF:
            return  # no room in a 32-bit RIFF header; the audio matters more than its markers
        f.write(extra)
        f.seek(4)
        f.write(struct.pack("<I", size))


def _riff_chunks(f, end: int) -> Iterator[tuple[bytes, int, int]]:
    """Yield ``(id, payload_offset, payload_size)`` of the chunks from the current offset to end."""
    pos = f.tell()
    while pos + 8 <= end:
        f.seek(pos)
        header = f.read(8)
        if len(header) < 8:
            return
        ck_id, size = header[:4], struct.unpack("<I", header[4:])[0]
        yield ck_id, pos + 8, size
        pos += 8 + size + (size % 2)


def read_cues(path: str | os.PathLike) -> list[tuple[int, str]]:
    """Cue markers of a RIFF/WAVE file as ``(sample_position, label)``, sorted by position.

    Returns an empty list for files that are not RIFF/WAVE or have no ``cue `` chunk; a cue
    without a ``labl`` gets the label ``""``.

    Raises
    ------
    InputError
        If the file cannot be read.
    """
    p = Path(path)
    positions: dict[int, int] = {}
    labels: dict[int, str] = {}
    try:
        with open(p, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return []
            end = min(8 + struct.unpack("<I", head[4:8])[0], os.fstat(f.fileno()).st_size)
            for ck_id, offset, size in list(_riff_chunks(f, end)):
                if ck_id == b"cue ":
                    f.seek(offset)
                    data = f.read(size)
                    count = struct.unpack("<I", data[:4])[0] if len(data) >= 4 else 0
                    for i in range(min(count, (len(data) - 4) // 24)):
                        cue_id, _, _, _, _, sample = struct.unpack_from(
                            "<II4sIII", data, 4 + 24 * i
                        )
                        positions[cue_id] = sample
                elif ck_id == b"LIST":
                    f.seek(offset)
                    if f.read(4) != b"adtl":
                        continue
                    for sub_id, sub_off, sub_size in list(_riff_chunks(f, offset + size)):
                        if sub_id == b"labl" and sub_size >= 4:
                            f.seek(sub_off)
                            data = f.read(sub_size)
                            cue_id = struct.unpack("<I", data[:4])[0]
                            labels[cue_id] = data[4:].split(b"\0", 1)[0].decode("utf-8", "replace")
    except OSError as exc:
        raise InputError(f"cannot read {quoted(p)}: {_reason(exc)}") from None
    return sorted((pos, labels.get(cue_id, "")) for cue_id, pos in positions.items())
