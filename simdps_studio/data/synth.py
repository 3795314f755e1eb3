"""SoundFonts and the FluidSynth command-line renderer.

The SoundFonts are found in the usual Debian folders (``/usr/share/sounds/sf2``, ``.../sf3``,
``/usr/share/soundfonts``) and in the folders named by ``SIMDPS_SOUNDFONT_PATH``; each one's preset
table is read straight from the file (the RIFF ``phdr`` chunk; no samples are loaded) to find its
acoustic piano presets. FluidSynth renders offline (``-F``) with its own reverb and chorus off, one
CPU core and 32-bit float output, so the same MIDI file and settings always give the same samples.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simdps_studio.core.errors import NotAvailableError, SimDPSError

#: Folders searched for SoundFonts, after those in ``SIMDPS_SOUNDFONT_PATH``.
SOUNDFONT_DIRS = (
    Path("/usr/share/sounds/sf2"),
    Path("/usr/share/sounds/sf3"),
    Path("/usr/share/soundfonts"),
    Path("/usr/local/share/soundfonts"),
    Path.home() / ".local/share/soundfonts",
)

#: Debian packages with piano SoundFonts that the renderer knows (see README / sysdeps).
DEBIAN_PACKAGES = ("fluid-soundfont-gm", "musescore-general-soundfont-small", "timgm6mb-soundfont")

#: Licence and origin of the SoundFonts the Debian packages above install (by file name), for the
#: corpus manifest; others are reported as unknown.
SOUNDFONT_LICENCES: dict[str, tuple[str, str]] = {
    "FluidR3_GM.sf2": ("MIT", "Fluid R3 GM by Frank Wen (Debian package fluid-soundfont-gm)"),
    "TimGM6mb.sf2": ("GPL-2", "TimGM6mb by Tim Brechbill (Debian package timgm6mb-soundfont)"),
    "MuseScore_General_Lite.sf3": (
        "MIT",
        "MuseScore_General (Lite) by S. Christian Collins "
        "(Debian package musescore-general-soundfont-small)",
    ),
}

_INSTALL_HINT = "Debian: apt-get install fluidsynth " + " ".join(DEBIAN_PACKAGES)
_NOT_ACOUSTIC_WORDS = {"ep", "epiano", "e.piano", "tine", "fm", "rhodes", "toy", "wurlitzer", "dx7"}


@dataclass(frozen=True)
class Preset:
    """A SoundFont preset: MIDI bank, program and name."""

    bank: int
    program: int
    name: str

    def label(self) -> str:
        """``"000:001 Bright Grand"``: bank, program and name, as written to the manifest."""
        return f"{self.bank:03d}:{self.program:03d} {self.name}"


@dataclass(frozen=True)
class SoundFont:
    """A SoundFont file and its acoustic piano presets."""

    path: Path
    pianos: tuple[Preset, ...]

    @property
    def name(self) -> str:
        """File name, e.g. ``"FluidR3_GM.sf2"``."""
        return self.path.name


def soundfont_licence(name: str) -> dict:
    """``{"licence": ..., "attribution": ...}`` of a SoundFont file name (see
    :data:`SOUNDFONT_LICENCES`); unknown files say so."""
    licence, origin = SOUNDFONT_LICENCES.get(
        name, ("unknown", f"{name}: see the SoundFont's own documentation")
    )
    return {"licence": licence, "attribution": origin}


def read_presets(path: Path) -> list[Preset]:
    """All presets of an SF2/SF3 file, read from its ``pdta/phdr`` chunk.

    Raises
    ------
    NotAvailableError
        The file is missing or is not a SoundFont.
    """
    try:
        with open(path, "rb") as f:
            riff, _, form = struct.unpack("<4sI4s", f.read(12))
            if riff != b"RIFF" or form != b"sfbk":
                raise NotAvailableError(f"not a SoundFont file: {path}")
            while header := f.read(8):
                if len(header) < 8:
                    break
                chunk_id, size = struct.unpack("<4sI", header)
                start = f.tell()
                if chunk_id == b"LIST" and f.read(4) == b"pdta":
                    return _parse_pdta(f, size - 4)
                _seek_next_chunk(f, start + size)
    except OSError as exc:
        raise NotAvailableError(f"cannot read SoundFont {path}: {exc.strerror}") from None
    except struct.error:
        raise NotAvailableError(f"not a SoundFont file: {path}") from None
    raise NotAvailableError(f"SoundFont has no preset table: {path}")


def _seek_next_chunk(f, end: int) -> None:
    """Seek to the chunk after one ending at ``end``. RIFF pads odd sizes to even, but some SF3
    writers do not; take the padding byte only when the next chunk id then looks valid."""
    f.seek(end)
    if end & 1:
        peek = f.read(5)
        f.seek(end + 1 if peek[1:5].isalnum() and not peek[:4].isalnum() else end)


def _parse_pdta(f, size: int) -> list[Preset]:
    end = f.tell() + size
    while f.tell() < end:
        chunk_id, chunk_size = struct.unpack("<4sI", f.read(8))
        if chunk_id != b"phdr":
            _seek_next_chunk(f, f.tell() + chunk_size)
            continue
        data = f.read(chunk_size)
        presets = []
        for offset in range(0, len(data) - 38 + 1, 38):  # 38-byte records; the last is "EOP"
            name, program, bank = struct.unpack_from("<20sHH", data, offset)
            presets.append(Preset(bank, program, name.split(b"\0")[0].decode("latin-1").strip()))
        return presets[:-1]
    return []


def is_acoustic_piano(preset: Preset) -> bool:
    """Whether a preset is an acoustic piano: General MIDI program 0 or 1 (grand, bright grand) in a
    melodic bank, or any preset called a grand, and not an electric, honky-tonk or toy piano."""
    name = preset.name.lower()
    words = set(re.split(r"[\s_\-]+", name))
    if preset.bank >= 120 or "electr" in name or "honky" in name or words & _NOT_ACOUSTIC_WORDS:
        return False
    return preset.program in (0, 1) or "grand" in name


def soundfont_info(path: str | os.PathLike) -> SoundFont:
    """Read one SoundFont and its piano presets.

    Raises
    ------
    NotAvailableError
        Missing file, not a SoundFont, or no acoustic piano preset in it.
    """
    path = Path(path)
    if not path.is_file():
        raise NotAvailableError(f"SoundFont not found: {path}")
    pianos = tuple(p for p in read_presets(path) if is_acoustic_piano(p))
    if not pianos:
        raise NotAvailableError(f"SoundFont has no acoustic piano preset: {path}")
    return SoundFont(path, tuple(sorted(pianos, key=lambda p: (p.bank, p.program))))


def _search_dirs() -> list[Path]:
    extra = os.environ.get("SIMDPS_SOUNDFONT_PATH", "")
    return [Path(p) for p in extra.split(os.pathsep) if p] + list(SOUNDFONT_DIRS)


def list_soundfonts(dirs: Iterable[str | os.PathLike] | None = None) -> list[SoundFont]:
    """SoundFonts with at least one acoustic piano preset, found in ``dirs``.

    Parameters
    ----------
    dirs : iterable of path, optional
        Folders to search (not recursively); default: ``SIMDPS_SOUNDFONT_PATH`` then
        :data:`SOUNDFONT_DIRS`.

    Returns
    -------
    list of SoundFont
        Sorted by file name; links to the same file (``default-GM.sf2``) count once.
    """
    found: dict[Path, SoundFont] = {}
    for folder in _search_dirs() if dirs is None else [Path(d) for d in dirs]:
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() not in (".sf2", ".sf3") or not path.is_file():
                continue
            real = path.resolve()
            if real in found:
                continue
            try:
                found[real] = soundfont_info(real)
            except NotAvailableError:
                continue
    return sorted(found.values(), key=lambda sf: sf.name)


def resolve_soundfonts(soundfonts: Sequence[str | os.PathLike] | None) -> list[SoundFont]:
    """The SoundFonts to render with: the given files (each must exist and hold a piano) or, with
    ``None``, every one :func:`list_soundfonts` finds.

    Raises
    ------
    NotAvailableError
        A given file is missing or unusable, or none is installed.
    """
    if soundfonts is not None:
        if not soundfonts:
            raise NotAvailableError("no SoundFont given")
        return [soundfont_info(p) for p in soundfonts]
    found = list_soundfonts()
    if not found:
        raise NotAvailableError(f"no piano SoundFont installed ({_INSTALL_HINT})")
    return found


def fluidsynth_executable() -> str:
    """Path of the ``fluidsynth`` program.

    Raises
    ------
    NotAvailableError
        FluidSynth is not installed.
    """
    exe = shutil.which("fluidsynth")
    if exe is None:
        raise NotAvailableError(f"the fluidsynth program is not installed ({_INSTALL_HINT})")
    return exe


def render_midi(
    midi_path: Path,
    soundfont: SoundFont,
    *,
    sr: int,
    gain: float = 0.5,
    timeout_s: float = 600.0,
) -> np.ndarray:
    """Render a MIDI file with FluidSynth.

    Parameters
    ----------
    midi_path : Path
        The MIDI file (it selects its own preset, see :func:`~simdps_studio.data.midi.write_midi`).
    soundfont : SoundFont
        The SoundFont to load.
    sr : int
        Output sample rate (FluidSynth accepts 8000-96000 Hz).
    gain : float
        FluidSynth's master gain (float output does not clip, so only the level changes).

    Returns
    -------
    numpy.ndarray, shape (2, n_samples), float32
        Left and right channels.

    Raises
    ------
    NotAvailableError
        FluidSynth is missing.
    SimDPSError
        FluidSynth failed or wrote nothing.
    """
    exe = fluidsynth_executable()
    with tempfile.TemporaryDirectory(prefix="simdps-fluid-") as tmp:
        raw = Path(tmp) / "out.raw"
        # Effects off, one core and float output: FluidSynth is then deterministic, and 16-bit
        # output would add its own dither.
        cmd = [
            exe,
            "-n",
            "-i",
            "-q",
            "-R",
            "0",
            "-C",
            "0",
            "-g",
            f"{gain:.6g}",
            "-r",
            str(int(sr)),
            "-o",
            "synth.cpu-cores=1",
            "-o",
            "synth.polyphony=512",
            "-o",
            "synth.dynamic-sample-loading=1",
            "-o",
            "audio.file.type=raw",
            "-o",
            "audio.file.format=float",
            "-o",
            "audio.file.endian=little",
            "-F",
            str(raw),
            str(soundfont.path),
            str(midi_path),
        ]
        try:
            done = subprocess.run(
                cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired:
            raise SimDPSError(f"fluidsynth took longer than {timeout_s:.0f} s") from None
        if done.returncode != 0 or not raw.is_file() or raw.stat().st_size == 0:
            detail = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()
            reason = detail[-1] if detail else f"exit status {done.returncode}"
            raise SimDPSError(f"fluidsynth failed on {soundfont.name}: {reason}")
        samples = np.fromfile(raw, dtype="<f4")
    return samples[: samples.size // 2 * 2].reshape(-1, 2).T.astype(np.float32)
