"""Autosave and crash recovery (Qt-free; the main window drives it with a timer).

While a session is open, its project (state, undo/redo, fills) is written every few seconds of
inactivity to ``<recovery dir>/<name>-<pid>.simdps.json`` beside a ``.lock`` file holding the
process id. A clean close deletes both. At start-up, autosaves whose lock names a process that is
no longer running were left by a crash, and are offered for recovery.
"""

from __future__ import annotations

import contextlib
import os
import re
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


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
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
    safe = re.sub(r"[^\w.-]+", "_", name)[:80]
    return folder / f"{safe}-{os.getpid()}{PROJECT_SUFFIX}"


def write_autosave(session: Session, path: Path) -> Path:
    """Save the session's project to ``path`` without touching its dirty flag; write the lock."""
    dirty = session.dirty
    try:
        save_project(session, path)
    finally:
        session.dirty = dirty
    path.with_name(path.name + ".lock").write_text(str(os.getpid()), encoding="utf-8")
    return path


def remove_autosave(path: Path) -> None:
    """Delete an autosave, its fills and its lock (missing files are fine)."""
    fills = path.with_name(path.name[: -len(PROJECT_SUFFIX)] + FILLS_SUFFIX)
    for p in (path, fills, path.with_name(path.name + ".lock")):
        with contextlib.suppress(OSError):
            p.unlink()


def find_orphans(folder: Path | None = None) -> list[Autosave]:
    """Autosaves whose process is gone (left by a crash), newest first."""
    folder = folder or recovery_dir()
    found = []
    for p in sorted(folder.glob(f"*{PROJECT_SUFFIX}"), key=lambda q: -q.stat().st_mtime):
        lock = p.with_name(p.name + ".lock")
        try:
            pid = int(lock.read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            pid = -1
        if _pid_alive(pid):
            continue
        try:
            doc = read_project_json(p)
        except Exception:
            remove_autosave(p)
            continue
        src = str((p.parent / doc["source"]["path"]).resolve())
        label = doc.get("state", {}).get("label", "")
        found.append(Autosave(p, src, label))
    return found
