"""The project file ``<audio>.simdps.json`` and its fill store ``<audio>.simdps.npz``.

The JSON holds the source path and hash, the current state (gaps, repairs with their parameters)
and the undo/redo stacks; the fills of every repair any of those states refers to are stored,
float32 and exact, in the ``.npz`` beside it, so a reopened project shows them without re-running.
Both are written atomically. A project whose source file changed since it was saved is refused.
"""

from __future__ import annotations

import itertools
import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from simdps_studio.audio.io import temp_file_beside
from simdps_studio.core.errors import InputError, ProjectError
from simdps_studio.core.types import Gap, validate_gaps
from simdps_studio.session.document import Session, State
from simdps_studio.session.repair import Repair

PROJECT_FORMAT = "simdps-studio-project"
PROJECT_VERSION = 1
PROJECT_SUFFIX = ".simdps.json"
FILLS_SUFFIX = ".simdps.npz"


def project_path_for(audio_path: str | Path) -> Path:
    """``song.wav`` -> ``song.wav.simdps.json``."""
    p = Path(audio_path)
    return p.with_name(p.name + PROJECT_SUFFIX)


def _fills_path(project_path: Path) -> Path:
    name = project_path.name
    stem = name[: -len(PROJECT_SUFFIX)] if name.endswith(PROJECT_SUFFIX) else name
    return project_path.with_name(stem + FILLS_SUFFIX)


def _state_to_json(state: State) -> dict[str, Any]:
    return {
        "label": state.label,
        "gaps": [[g.start_sample, g.end_sample] for g in state.gaps],
        "repairs": [r.to_json() for r in state.repairs],
    }


def _state_from_json(
    d: dict[str, Any], fills: dict[str, np.ndarray], audio_shape: tuple[int, int], sr: int
) -> State:
    """A state of the project file, checked against the recording (channels, n_samples)."""
    channels, n_samples = audio_shape
    gaps = tuple(Gap(int(a), int(b)) for a, b in d.get("gaps", []))
    try:
        validate_gaps(list(gaps), n_samples, sr, allow_touching=True)
    except InputError as e:
        raise ProjectError(f"a stored gap does not fit the recording: {e}") from None
    repairs = []
    for rd in d.get("repairs", []):
        if rd["id"] not in fills:
            raise ProjectError(f"the fill of repair {rd['id']} is missing from the project data")
        r = Repair.from_json(rd, fills[rd["id"]])
        if r.gap not in gaps or r.span_end_sample > n_samples or r.fill.shape[0] != channels:
            raise ProjectError(f"repair {rd['id']} does not fit the recording or its gaps")
        repairs.append(r)
    return State(gaps, tuple(repairs), d.get("label", ""))


def stage_file(path: Path, write: Callable[[BinaryIO], object]) -> Path:
    """``write(f)`` into a synced temp file beside ``path``; its path (removed on any error).

    The caller renames it into place (``os.replace``) or removes it.
    """
    tmp = temp_file_beside(path)  # a short name: ``path``'s may be near the 255-byte limit
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def atomic_write_bytes(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write a file through ``write(f)`` into a temp file beside it, then rename it into place, so
    a crash never leaves a half-written file (the temp file is removed on any error)."""
    atomic_write_files([(path, write)])


def atomic_write_files(files: list[tuple[Path, Callable[[BinaryIO], object]]]) -> None:
    """Write several files that belong together: all of them to temp files first, then rename
    each into place. A failure while writing (disk full, I/O error) leaves every old file as it
    was; only the renames, which do not fail for want of space, come after the first one."""
    temps: list[Path] = []
    try:
        for path, write in files:
            temps.append(stage_file(path, write))
        for (path, _), tmp in zip(files, temps, strict=True):
            os.replace(tmp, path)
    except BaseException:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
        raise


def save_project(
    session: Session,
    project_path: str | Path | None = None,
    *,
    on_kept: Callable[[Path], object] | None = None,
) -> Path:
    """Write the project file and its fills; return the project path.

    Parameters
    ----------
    session : Session
        A session opened from a file (``session.source_path`` set).
    project_path : path, optional
        Defaults to ``<source>.simdps.json``.
    on_kept : callable, optional
        Called with the backup's path when a project of other audio was moved aside first
        (:func:`keep_foreign_project`).
    """
    if session.source_path is None:
        raise ProjectError("only a session opened from a file can be saved as a project")
    own = not project_path  # the recording's own project (not an autosave or a copy elsewhere)
    path = Path(project_path) if project_path else project_path_for(session.source_path)
    states = [*session.undo_stack, session.state, *session.redo_stack]
    fills = {r.repair_id: r.fill for s in states for r in s.repairs}
    try:
        source = os.path.relpath(session.source_path.resolve(), path.resolve().parent)
    except ValueError:  # other drive on Windows
        source = str(session.source_path.resolve())
    doc = {
        "format": PROJECT_FORMAT,
        "version": PROJECT_VERSION,
        "source": {
            "path": source,
            "sha256": session.source_sha256,
            "sr": session.audio.sr,
            "channels": session.audio.channels,
            "n_samples": session.audio.n_samples,
            "subtype": session.audio.subtype,
            "format": session.audio.format,
        },
        "state": _state_to_json(session.state),
        "undo": [_state_to_json(s) for s in session.undo_stack],
        "redo": [_state_to_json(s) for s in session.redo_stack],
    }
    try:
        kept = None
        if not (own and file_stamp(path) == session.project_stamp):  # else it is what we last
            # read or wrote; one saved since by another window or copy of the app is kept too.
            changed = own and path.is_file()
            kept = keep_foreign_project(path, session.source_sha256, changed_elsewhere=changed)
        if kept is not None and on_kept is not None:
            on_kept(kept)
        text = json.dumps(doc, indent=1, ensure_ascii=False).encode("utf-8")
        # The fills first, then the JSON that refers to them: both written before either
        # replaces the saved pair, so a failed save leaves the last good project openable.
        atomic_write_files(
            [(_fills_path(path), lambda f: np.savez(f, **fills)), (path, lambda f: f.write(text))]
        )
    except OSError as e:
        raise ProjectError(f"cannot save project {path}: {e.strerror or e}") from None
    if own:
        session.project_stamp = file_stamp(path)
    session.dirty = False
    return path


def file_stamp(path: Path) -> tuple[int, int] | None:
    """(mtime_ns, size) of a file, or None when it does not exist."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def keep_foreign_project(
    project_path: str | Path, source_sha256: str | None, *, changed_elsewhere: bool = False
) -> Path | None:
    """Move aside a project file that belongs to other audio before a save replaces it.

    A project whose source has changed since (or that cannot be read) is not opened with the
    audio, but it still holds the user's gaps, repairs and history: saving the new session must
    not destroy it. It becomes ``<name>.simdps.json.bak`` (its fills ``.simdps.npz.bak``; a
    number is added when those exist).

    ``changed_elsewhere``: this audio's own project, but saved by someone else since this session
    read or wrote it: kept too.

    Returns
    -------
    Path or None
        Where the old project now is; None when there was none or it is this audio's own.
    """
    path = Path(project_path)
    if not path.is_file():
        return None
    if not changed_elsewhere and _is_own_intact_project(path, source_sha256):
        return None
    for i in itertools.count():
        suffix = ".bak" if i == 0 else f".bak{i}"
        backup = path.with_name(path.name + suffix)
        fills_backup = _fills_path(path).with_name(_fills_path(path).name + suffix)
        if not backup.exists() and not fills_backup.exists():
            break
    if _fills_path(path).is_file():
        os.replace(_fills_path(path), fills_backup)
    os.replace(path, backup)
    return backup


def _is_own_intact_project(path: Path, source_sha256: str | None) -> bool:
    """Whether the project at ``path`` is this audio's and would open: then a save may replace
    it. Anything else (other audio, a newer version, missing or incomplete fills, unreadable) is
    kept as a backup: it may hold work that cannot be seen now."""
    try:
        doc = read_project_json(path)
        if doc["source"]["sha256"] != source_sha256:
            return False
        states = [doc["state"], *doc.get("undo", []), *doc.get("redo", [])]
        needed = {r["id"] for st in states for r in st.get("repairs", [])}
        if not needed:
            return True
        with np.load(_fills_path(path), allow_pickle=False) as z:
            return needed <= set(z.files)
    except (ProjectError, OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile):
        return False


def read_project_json(project_path: str | Path) -> dict[str, Any]:
    """Read and check the project JSON (no audio loaded)."""
    path = Path(project_path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProjectError(f"no project file at {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ProjectError(f"cannot read project {path}: {e}") from None
    if not isinstance(doc, dict) or doc.get("format") != PROJECT_FORMAT:
        raise ProjectError(f"{path} is not a SimDPS Studio project")
    if not isinstance(doc.get("version", 0), int) or not isinstance(doc.get("source"), dict):
        raise ProjectError(f"{path} is not a valid SimDPS Studio project")
    if doc.get("version", 0) > PROJECT_VERSION:
        raise ProjectError(
            f"{path} was written by a newer SimDPS Studio (version {doc['version']})"
        )
    return doc


def load_project(
    project_path: str | Path,
    *,
    source_path: str | Path | None = None,
    progress=None,
    cancel=None,
) -> Session:
    """Open a project: its source audio, state, undo/redo stacks and stored fills.

    Parameters
    ----------
    project_path : path
        The ``.simdps.json`` file.
    source_path : path, optional
        The recording the user opened, which becomes the session's source (a copy or a renamed
        file with its project beside it). Without it, the path stored in the project, or else the
        recording the project file is named after (both renamed together).

    Raises
    ------
    ProjectError
        If the project is unreadable, or its source is missing or changed since it was saved.
    """
    from simdps_studio.audio.io import file_sha256

    path = Path(project_path)
    doc = read_project_json(path)
    src = doc["source"]
    if not isinstance(src.get("sha256"), str) or not isinstance(src.get("path", ""), str):
        raise ProjectError(f"project {path.name} is corrupt: its source entry is incomplete")
    if source_path is not None:
        source_path = Path(source_path).resolve()
    else:
        source_path = (path.parent / src["path"]).resolve()
        sibling = path.with_name(path.name.removesuffix(PROJECT_SUFFIX))
        if not source_path.exists() and path.name.endswith(PROJECT_SUFFIX) and sibling.is_file():
            source_path = sibling.resolve()
    if not source_path.exists():
        raise ProjectError(f"the project's source audio is missing: {source_path}")
    if file_sha256(source_path) != src["sha256"]:
        raise ProjectError(
            f"the source audio {source_path.name} changed since the project was saved; "
            "refusing to apply repairs made for the old file"
        )
    session = Session.open(source_path, progress=progress, cancel=cancel)
    try:
        with np.load(_fills_path(path), allow_pickle=False) as z:
            fills = {k: z[k] for k in z.files}
    except FileNotFoundError:
        fills = {}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ProjectError(f"cannot read the project's fills: {e}") from None
    shape = (session.audio.channels, session.audio.n_samples)
    sr = session.audio.sr
    try:
        session.state = _state_from_json(doc["state"], fills, shape, sr)
        session.undo_stack = [_state_from_json(s, fills, shape, sr) for s in doc.get("undo", [])]
        session.redo_stack = [_state_from_json(s, fills, shape, sr) for s in doc.get("redo", [])]
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ProjectError(f"project {path.name} is corrupt: {e}") from None
    own = project_path_for(session.source_path)
    # An autosave (or a project elsewhere) says nothing about the recording's own project.
    session.project_stamp = file_stamp(own) if own.resolve() == path.resolve() else None
    session.dirty = False
    return session
