"""Autosave and crash recovery (Qt-free; the main window drives it with a timer).

While a session is open, its project (state, undo/redo, fills) is written every few seconds of
inactivity to ``<recovery dir>/<name>-<pid>.simdps.json`` beside a ``.lock`` file holding the
process id, a token of this process and (on Linux) the process's start time. A clean close deletes
both. At start-up, autosaves whose lock names a process that is no longer running were left by a
crash, and are offered for recovery. A process id alone is not enough: after a restart (a
container's process 1, say) the new process may have the crashed one's id.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from simdps_studio.core.paths import cache_dir
from simdps_studio.session.document import Session
from simdps_studio.session.project import (
    FILLS_SUFFIX,
    PROJECT_SUFFIX,
    read_project_json,
    save_project,
)


def recovery_dir() -> Path:
    """Where autosaves live (``$SIMDPS_CACHE_DIR/recovery`` or ``~/.cache/simdps-studio/...``)."""
    return cache_dir("recovery")


#: Tells this process's locks from those of an earlier process that had the same id.
_PROCESS_TOKEN = uuid.uuid4().hex


def _start_time(pid: int) -> str:
    """The process's start time (clock ticks after boot; Linux), or "" where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
        return stat.rsplit(")", 1)[1].split()[19]  # field 22: after the name, 20th
    except (OSError, IndexError):
        return ""


@functools.cache
def lock_text() -> str:
    """What this process writes into its autosave locks (the same for its whole life)."""
    return f"{os.getpid()} {_PROCESS_TOKEN} {_start_time(os.getpid()) or '-'}"


def lock_alive(text: str) -> bool:
    """Whether the process that wrote a lock is still running."""
    parts = text.split()
    try:
        pid = int(parts[0])
    except (IndexError, ValueError):
        return False
    if pid == os.getpid():
        return len(parts) > 1 and parts[1] == _PROCESS_TOKEN
    if not _pid_alive(pid):
        return False
    started = parts[2] if len(parts) > 2 else "-"
    return started == "-" or _start_time(pid) in ("", started)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class Autosave:
    """One autosave found on disk."""

    project: Path
    source: str
    label: str

    def remove(self) -> None:
        remove_autosave(self.project)


def autosave_path_for(session: Session, folder: Path | None = None) -> Path:
    """``<folder>/<source name>-<pid>.simdps.json``."""
    folder = folder or recovery_dir()
    name = session.source_path.name if session.source_path else "untitled"
    # At most 80 bytes of the name: file systems count bytes (255), not characters.
    safe = re.sub(r"[^\w.-]+", "_", name).encode("utf-8")[:80].decode("utf-8", "ignore")
    return folder / f"{safe}-{os.getpid()}{PROJECT_SUFFIX}"


def write_autosave(session: Session, path: Path) -> Path:
    """Save the session's project to ``path`` without touching its dirty flag; write the lock."""
    dirty = session.dirty
    try:
        save_project(session, path)
    finally:
        session.dirty = dirty
    path.with_name(path.name + ".lock").write_text(lock_text(), encoding="utf-8")
    return path


def remove_autosave(path: Path) -> None:
    """Delete an autosave, its fills and its lock (missing files are fine)."""
    fills = path.with_name(path.name[: -len(PROJECT_SUFFIX)] + FILLS_SUFFIX)
    for p in (path, fills, path.with_name(path.name + ".lock")):
        with contextlib.suppress(OSError):
            p.unlink()


#: Suffix of an autosave that could not be read (kept beside the others, not offered again).
UNREADABLE_SUFFIX = ".unreadable"


def set_aside(path: Path) -> Path:
    """Rename an autosave (and its fills) that cannot be read so it is kept but not offered.

    Returns
    -------
    Path
        The new name of the project file (the old one when the rename failed).
    """
    fills = path.with_name(path.name[: -len(PROJECT_SUFFIX)] + FILLS_SUFFIX)
    target = path.with_name(path.name + UNREADABLE_SUFFIX)
    try:
        os.replace(path, target)
    except OSError:
        return path
    with contextlib.suppress(OSError):
        os.replace(fills, fills.with_name(fills.name + UNREADABLE_SUFFIX))
    with contextlib.suppress(OSError):
        path.with_name(path.name + ".lock").unlink()
    return target


def find_orphans(folder: Path | None = None) -> list[Autosave]:
    """Autosaves whose process is gone (left by a crash), newest first."""
    folder = folder or recovery_dir()
    found = []
    for p in sorted(folder.glob(f"*{PROJECT_SUFFIX}"), key=lambda q: -q.stat().st_mtime):
        lock = p.with_name(p.name + ".lock")
        try:
            text = lock.read_text(encoding="utf-8")
        except OSError:
            text = ""
        if lock_alive(text):
            continue
        try:
            doc = read_project_json(p)
        except Exception:
            # Damaged, or written by a newer version: set aside, never deleted (it may hold
            # the only copy of someone's work), and not offered again.
            set_aside(p)
            continue
        src = str((p.parent / doc["source"]["path"]).resolve())
        label = doc.get("state", {}).get("label", "")
        found.append(Autosave(p, src, label))
    return found
