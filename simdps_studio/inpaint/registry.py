"""Where models live, how a name becomes a folder, and which models count as installed.

The one model registry of the app, the command line, ``--version`` and the benchmark: a model is
a folder (``config.json`` and ``weights.safetensors`` or its shards, written by
``inpaint.checkpoint.save_model``); named models live in :func:`models_dir`. Torch-free (standard
library and ``core`` only), so the app's model menu and the About dialog never import torch
(``tests/test_layering.py``); ``inpaint.checkpoint`` loads through the same rules.
"""

from __future__ import annotations

import os
from pathlib import Path

from simdps_studio.core.paths import ROOT
from simdps_studio.inpaint.settings import DEFAULT_MODEL

#: Environment variable naming the folder of named models.
MODELS_DIR_ENV = "SIMDPS_MODELS_DIR"
#: A model folder's configuration file.
CONFIG_FILE = "config.json"
#: A model folder's weight files: ``weights.safetensors`` or ``weights-0000i-of-0000N.safetensors``.
WEIGHTS_GLOB = "weights*.safetensors"


def models_dir() -> Path:
    """Folder where named models live: ``$SIMDPS_MODELS_DIR`` or the repository's ``models/``.

    ``~`` and ``$VARIABLES`` in the variable are expanded: a value from a desktop entry or a
    settings file reaches the app without a shell to expand it.
    """
    env = os.environ.get(MODELS_DIR_ENV)
    if env:
        return Path(os.path.expandvars(env)).expanduser()
    return ROOT / "models"


def _looks_like_path(name_or_dir: str | os.PathLike[str]) -> bool:
    """A ``Path``, or text with a separator or starting with ``.`` or ``~``."""
    text = os.fspath(name_or_dir)
    return (
        isinstance(name_or_dir, Path)
        or os.sep in text
        or (os.altsep is not None and os.altsep in text)
        or text.startswith((".", "~"))
    )


def resolve_model_dir(name_or_dir: str | os.PathLike[str] | None = None) -> Path:
    """The folder of a model given by name, by path, or the default model's.

    The one rule: no name (None, empty or blank, as the app and the CLI store "none chosen") is
    :data:`DEFAULT_MODEL`, so a name never means the models folder itself; a value that looks
    like a path (a ``Path``, a separator, a leading ``.`` or ``~``) or names an existing folder
    is that folder, ``~`` expanded; anything else is a name under :func:`models_dir`.

    Parameters
    ----------
    name_or_dir : str, path or None
        A model name (``"piano-small"``), a model folder, or None for :data:`DEFAULT_MODEL`.

    Returns
    -------
    Path
        The folder (which may not exist).
    """
    text = "" if name_or_dir is None else os.fspath(name_or_dir)
    if not text.strip():
        return models_dir() / DEFAULT_MODEL
    path = Path(text).expanduser()
    if _looks_like_path(name_or_dir) or path.is_dir():
        return path
    return models_dir() / text


def is_model_folder(folder: Path) -> bool:
    """Whether ``folder`` holds an installed model: a ``config.json`` and at least one weights
    file (cheap: neither is read)."""
    return (folder / CONFIG_FILE).is_file() and any(p.is_file() for p in folder.glob(WEIGHTS_GLOB))


def model_installed(name_or_dir: str | os.PathLike[str] | None = None) -> bool:
    """Whether a model (by name, by folder, or the default when None) is installed
    (:func:`is_model_folder`)."""
    return is_model_folder(resolve_model_dir(name_or_dir))


def installed_models(root: Path | None = None) -> list[str]:
    """Names of the installed models: the folders under ``root`` (default :func:`models_dir`)
    that pass :func:`is_model_folder`, sorted. The app's model menu, the About dialog,
    ``--version``, ``model`` and the bundle's smoke test all list these."""
    root = models_dir() if root is None else root
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and is_model_folder(p))
