"""Resuming a quality-benchmark run: which finished rows of an earlier run a new one may keep.

A run stores its settings (:func:`run_settings`: fingerprints of the repair code and the model's
weights, steps, seed, ...) in :data:`RUN_FILE` beside ``quality.csv``; ``--resume`` keeps the
earlier rows only when those settings are equal, so one table never mixes two experiments.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from simdps_studio.bench.config import BenchConfig
from simdps_studio.bench.material import RENDER_SEED
from simdps_studio.bench.rows import read_rows
from simdps_studio.core.errors import InputError

#: Run settings stored beside the CSV; a resumed run keeps rows only when they are equal.
RUN_FILE = "quality.run.json"


def model_fingerprint(model: str) -> str:
    """SHA-256 (first 16 hex digits) of a model's weight files, or ``""`` when it is missing."""
    import hashlib

    from simdps_studio.core.paths import models_dir

    folder = Path(model) if Path(model).is_dir() else models_dir() / model
    digest = hashlib.sha256()
    files = sorted(folder.glob("*.safetensors")) if folder.is_dir() else []
    for f in files:
        digest.update(f.read_bytes())
    return digest.hexdigest()[:16] if files else ""


#: The code a repair's numbers depend on (packages, session modules, the metrics), for
#: :func:`code_fingerprint`. Paths are hashed too: moving a file starts a fresh run.
_REPAIR_CODE = (
    "core",
    "audio",
    "search",
    "inpaint",
    "session/engines.py",
    "session/render.py",
    "session/repair.py",
    "bench/metrics.py",
)


def _code_without_docs(source: str) -> str:
    """A module's syntax tree without its docstrings (comments and layout never reach the tree)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, annotate_fields=False, include_attributes=False)


def code_fingerprint() -> str:
    """SHA-256 (first 16 hex digits) of the code that repairs and scores a gap.

    Docstrings, comments and formatting are left out, so editing only them keeps a run resumable;
    any change to what the code does (a constant included) gives another fingerprint.
    """
    import hashlib

    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for part in _REPAIR_CODE:
        path = root / part
        for f in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(f.relative_to(root).as_posix().encode())
            digest.update(_code_without_docs(f.read_text(encoding="utf-8")).encode())
    return digest.hexdigest()[:16]


def run_settings(config: BenchConfig) -> dict[str, Any]:
    """What a row's numbers depend on besides its track, gap and method (code included)."""
    settings = {
        "code_ast_sha256_16": code_fingerprint(),
        "model": config.model,
        "model_sha256_16": model_fingerprint(config.model) if config.needs_model else "",
        "steps": config.steps,
        "seed": config.seed,
        "quick": config.quick,
        "precision": config.precision,
        "start_sigma": config.start_sigma,
    }
    if config.render_seed != RENDER_SEED:  # runs made before the option keep their rows
        settings["render_seed"] = config.render_seed
    if config.render_piano != "soundfont":
        settings["render_piano"] = config.render_piano
    return settings


def finished_rows(out: Path, config: BenchConfig) -> dict[tuple[str, float, str], dict[str, Any]]:
    """Rows of an earlier run in ``out`` that a resumed run can keep, by (track, gap, method).

    Only rows without an error are kept, and only when the earlier run's settings
    (:func:`run_settings`, stored in :data:`RUN_FILE`: the repair code, the model's weights,
    steps, seed) equal this run's.

    Raises
    ------
    InputError
        The earlier run used other settings (its rows would mix two experiments).
    """
    csv_path, run_path = out / "quality.csv", out / RUN_FILE
    if not csv_path.is_file():
        return {}
    try:
        earlier = json.loads(run_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        earlier = None
    now = run_settings(config)
    if earlier != now:
        raise InputError(
            f"cannot resume: {csv_path} was made with other settings ({earlier} vs {now}); "
            "choose another --out or run without --resume"
        )
    kept = {}
    for row in read_rows(csv_path):
        if not row.get("error") and isinstance(row.get("lsd_db"), float):
            kept[(row["track"], float(row["gap_s"]), row["method"])] = row
    return kept


def write_run_settings(out: Path, config: BenchConfig) -> None:
    """Store this run's :func:`run_settings` in ``out``/:data:`RUN_FILE` (for a later resume)."""
    (out / RUN_FILE).write_text(json.dumps(run_settings(config), indent=2) + "\n", encoding="utf-8")
