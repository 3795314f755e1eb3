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
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from simdps_studio.audio.io import file_mode_for
from simdps_studio.core.errors import ProjectError
from simdps_studio.core.types import Gap
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


def _state_from_json(d: dict[str, Any], fills: dict[str, np.ndarray]) -> State:
    repairs = []
    for rd in d.get("repairs", []):
        if rd["id"] not in fills:
            raise ProjectError(f"the fill of repair {rd['id']} is missing from the project data")
        repairs.append(Repair.from_json(rd, fills[rd["id"]]))
    return State(tuple(Gap(*g) for g in d.get("gaps", [])), tuple(repairs), d.get("label", ""))


def atomic_write_bytes(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write a file through ``write(f)`` into a temp file beside it, then rename it into place, so
    a crash never leaves a half-written file (the temp file is removed on any error)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file private (0600); give it the mode a plain open() would have.
        os.chmod(tmp, file_mode_for(path))
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
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
        kept = keep_foreign_project(path, session.source_sha256)
        if kept is not None and on_kept is not None:
            on_kept(kept)
        atomic_write_bytes(_fills_path(path), lambda f: np.savez(f, **fills))
        text = json.dumps(doc, indent=1, ensure_ascii=False).encode("utf-8")
        atomic_write_bytes(path, lambda f: f.write(text))
    except OSError as e:
        raise ProjectError(f"cannot save project {path}: {e.strerror or e}") from None
    session.dirty = False
    return path


def keep_foreign_project(project_path: str | Path, source_sha256: str | None) -> Path | None:
    """Move aside a project file that belongs to other audio before a save replaces it.

    A project whose source has changed since (or that cannot be read) is not opened with the
    audio, but it still holds the user's gaps, repairs and history: saving the new session must
    not destroy it. It becomes ``<name>.simdps.json.bak`` (its fills ``.simdps.npz.bak``; a
    number is added when those exist).

    Returns
    -------
    Path or None
        Where the old project now is; None when there was none or it is this audio's own.
    """
    path = Path(project_path)
    if not path.is_file():
        return None
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))["source"]["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        recorded = None  # unreadable: kept too, someone may still want it
    if recorded is not None and recorded == source_sha256:
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
    except (OSError, ValueError) as e:
        raise ProjectError(f"cannot read the project's fills: {e}") from None
    try:
        session.state = _state_from_json(doc["state"], fills)
        session.undo_stack = [_state_from_json(s, fills) for s in doc.get("undo", [])]
        session.redo_stack = [_state_from_json(s, fills) for s in doc.get("redo", [])]
    except (KeyError, TypeError, ValueError) as e:
        raise ProjectError(f"project {path.name} is corrupt: {e}") from None
    session.dirty = False
    return session
