"""Where the app keeps things: bundled resources, models, caches. Standard library only."""

from __future__ import annotations

import os
from pathlib import Path

#: Repository (or bundle) root: the folder holding ``simdps_studio/``, ``resources/``, ``models/``.
ROOT = Path(__file__).resolve().parents[2]


def resources_dir() -> Path:
    """Bundled resources (demo audio, icons, styles)."""
    return Path(os.environ.get("SIMDPS_RESOURCES_DIR", ROOT / "resources"))


def models_dir() -> Path:
    """Installed models: ``$SIMDPS_MODELS_DIR`` or the repository's ``models/``."""
    return Path(os.environ.get("SIMDPS_MODELS_DIR", ROOT / "models"))


def cache_dir(*parts: str) -> Path:
    """A cache folder under ``$SIMDPS_CACHE_DIR`` or ``~/.cache/simdps-studio`` (created)."""
    base = Path(os.environ.get("SIMDPS_CACHE_DIR", Path.home() / ".cache" / "simdps-studio"))
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
