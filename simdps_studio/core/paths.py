"""Where the app keeps things: bundled resources and caches. Standard library only.

Models live where ``inpaint.registry.models_dir`` says (under :data:`ROOT` by default).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

#: Repository (or bundle) root: the folder holding ``simdps_studio/``, ``resources/``, ``models/``.
ROOT = Path(__file__).resolve().parents[2]


def resources_dir() -> Path:
    """Bundled resources (demo audio, icons, styles)."""
    return Path(os.environ.get("SIMDPS_RESOURCES_DIR", ROOT / "resources"))


def cache_dir(*parts: str) -> Path:
    """A cache folder under ``$SIMDPS_CACHE_DIR`` or ``~/.cache/simdps-studio`` (created)."""
    base = Path(os.environ.get("SIMDPS_CACHE_DIR", Path.home() / ".cache" / "simdps-studio"))
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _writable_dir(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK | os.X_OK)


def ensure_numba_cache() -> str | None:
    """Give numba a writable cache folder; call before librosa (and so numba) is imported.

    librosa compiles kernels with ``cache=True``. Numba caches them beside the library (read-only
    in the app bundle or a system-wide install) or in ``$XDG_CACHE_HOME/numba``
    (``~/.cache/numba``); with neither writable the kernels fail to load at all ("no locator
    available"), and with them LPC and the search. Then ``$XDG_CACHE_HOME`` is pointed at a
    per-user temporary folder: in the bundle numba ignores ``$NUMBA_CACHE_DIR`` (its sources are
    not files), but not the user-wide cache.

    Returns
    -------
    str or None
        The cache folder set, None when nothing needed setting.
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return None
    try:
        user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    except RuntimeError:  # no home folder to be found
        user_cache = None
    if user_cache is not None and _writable_dir(user_cache / "numba"):
        return None
    user = getattr(os, "getuid", lambda: "user")()
    folder = Path(tempfile.gettempdir()) / f"simdps-studio-cache-{user}"
    if not _writable_dir(folder / "numba"):
        return None
    os.environ["XDG_CACHE_HOME"] = str(folder)
    return str(folder)
