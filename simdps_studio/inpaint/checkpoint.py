"""Model checkpoints: ``config.json`` + ``weights.safetensors`` + ``MODEL_CARD.md`` (never pickle).

A model folder (``models/<name>/``) holds:

- ``config.json``: ``format``, ``format_version``, ``preset``, ``sample_rate``, ``segment_length``,
  ``sigma_data``, ``n_parameters``, ``architecture`` (:meth:`ModelConfig.to_dict`), ``weights``
  (files, dtype, bytes) and whatever the caller adds through ``extra`` (``training``: data, steps,
  hardware, chunks; ``metrics``; ``evaluation``; ``description``);
- the weights: ``weights.safetensors``, or shards ``weights-00001-of-0000N.safetensors`` of at most
  16 MiB each (for moving weights off a GPU machine), float32 or float16 (cast to float32 on load);
- ``MODEL_CARD.md``, written from the same information.

Loading validates everything it can before touching the network: the folder and files exist, the
configuration is complete and valid, every shard is present and readable, names and shapes match the
architecture exactly and every value is finite. Each failure is a :class:`ModelError` with a one-line
message.

Names resolve to folders by the rules of :mod:`simdps_studio.inpaint.registry`.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from simdps_studio.core.errors import ModelError
from simdps_studio.inpaint.precond import Denoiser
from simdps_studio.inpaint.presets import ModelConfig, get_config
from simdps_studio.inpaint.registry import CONFIG_FILE, resolve_model_dir

FORMAT = "simdps-studio-model"
FORMAT_VERSION = 1
WEIGHTS_FILE = "weights.safetensors"
CARD_FILE = "MODEL_CARD.md"
INDEX_FILE = "weights.index.json"
#: Largest shard written by :func:`shard_model` by default (16 MiB).
SHARD_BYTES = 16 * 1024 * 1024
_SHARD_RE = re.compile(r"^weights-(\d{5})-of-(\d{5})\.safetensors$")
_PART_SEP = "@part"
#: Keys of ``config.json`` that ``extra`` may not overwrite.
_RESERVED = {
    "format",
    "format_version",
    "preset",
    "sample_rate",
    "segment_length",
    "sigma_data",
    "n_parameters",
    "architecture",
    "weights",
}


# ----------------------------------------------------------------------------------------- reading


def _read_config(folder: Path, label: str) -> dict[str, Any]:
    if not folder.is_dir():
        hint = f" (looked in {folder})" if not folder.exists() else ""
        raise ModelError(f"model {label!r} not found{hint}")
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise ModelError(f"model {label!r} has no {CONFIG_FILE}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"model {label!r}: unreadable {CONFIG_FILE} ({_one_line(exc)})") from None
    if not isinstance(data, dict):
        raise ModelError(f"model {label!r}: {CONFIG_FILE} is not a JSON object")
    if data.get("format", FORMAT) != FORMAT:
        raise ModelError(f"model {label!r}: not a SimDPS Studio model ({data.get('format')!r})")
    if int(data.get("format_version", FORMAT_VERSION)) > FORMAT_VERSION:
        raise ModelError(
            f"model {label!r} needs a newer SimDPS Studio (format {data.get('format_version')})"
        )
    return data


def _config_from(data: Mapping[str, Any], label: str) -> ModelConfig:
    arch = data.get("architecture")
    if arch is None:  # a hand-written config may name only a preset
        preset = data.get("preset")
        if not isinstance(preset, str):
            raise ModelError(f"model {label!r}: {CONFIG_FILE} has neither architecture nor preset")
        overrides = {
            k: data[k] for k in ("sample_rate", "segment_length", "sigma_data") if k in data
        }
        return get_config(preset, **overrides)
    try:
        config = ModelConfig.from_dict(dict(arch))
    except (TypeError, ValueError) as exc:
        raise ModelError(f"model {label!r}: bad architecture in {CONFIG_FILE}: {exc}") from None
    for key in ("sample_rate", "segment_length"):
        if key in data and data[key] != getattr(config, key):
            raise ModelError(
                f"model {label!r}: {key} {data[key]} disagrees with its architecture "
                f"({getattr(config, key)})"
            )
    return config


def _weight_files(folder: Path, label: str) -> list[Path]:
    single = folder / WEIGHTS_FILE
    if single.is_file():
        return [single]
    shards = []
    totals = set()
    for p in folder.iterdir():
        m = _SHARD_RE.match(p.name)
        if m:
            shards.append((int(m.group(1)), p))
            totals.add(int(m.group(2)))
    if not shards:
        raise ModelError(f"model {label!r} has no weights ({WEIGHTS_FILE} is missing)")
    if len(totals) != 1:
        raise ModelError(f"model {label!r}: weight shards from different exports are mixed")
    total = totals.pop()
    have = {i for i, _ in shards}
    missing = sorted(set(range(1, total + 1)) - have)
    if missing:
        raise ModelError(f"model {label!r}: weight shard {missing[0]} of {total} is missing")
    return [p for _, p in sorted(shards)]


def _load_tensors(files: list[Path], label: str) -> dict[str, torch.Tensor]:
    tensors: dict[str, torch.Tensor] = {}
    for path in files:
        try:
            part = load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise ModelError(
                f"model {label!r}: {path.name} is corrupt or truncated ({_one_line(exc)})"
            ) from None
        dup = set(part) & set(tensors)
        if dup:
            raise ModelError(f"model {label!r}: tensor {sorted(dup)[0]!r} appears in two shards")
        tensors.update(part)
    return tensors


def _join_parts(
    tensors: dict[str, torch.Tensor], index: Mapping[str, Any] | None, label: str
) -> dict[str, torch.Tensor]:
    """Reassemble tensors that :func:`shard_model` split across shards."""
    split = (index or {}).get("split", {})
    if not split and not any(_PART_SEP in k for k in tensors):
        return tensors
    out = {k: v for k, v in tensors.items() if _PART_SEP not in k}
    for name, info in split.items():
        parts = [f"{name}{_PART_SEP}{i}" for i in range(int(info["parts"]))]
        if any(p not in tensors for p in parts):
            raise ModelError(f"model {label!r}: a piece of tensor {name!r} is missing")
        flat = torch.cat([tensors[p].reshape(-1) for p in parts])
        shape = [int(s) for s in info["shape"]]
        if flat.numel() != math.prod(shape):
            raise ModelError(f"model {label!r}: tensor {name!r} has the wrong size")
        out[name] = flat.reshape(shape)
    leftovers = [k for k in tensors if _PART_SEP in k and k.split(_PART_SEP)[0] not in split]
    if leftovers:
        raise ModelError(f"model {label!r}: {INDEX_FILE} is missing or incomplete")
    return out


def _check_state(
    state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor], label: str
) -> dict[str, torch.Tensor]:
    missing = [k for k in expected if k not in state]
    if missing:
        raise ModelError(
            f"model {label!r}: weights do not match the architecture ({len(missing)} tensors "
            f"missing, e.g. {missing[0]!r})"
        )
    unexpected = [k for k in state if k not in expected]
    if unexpected:
        raise ModelError(
            f"model {label!r}: weights do not match the architecture (unexpected tensor "
            f"{unexpected[0]!r})"
        )
    out = {}
    for key, ref in expected.items():
        t = state[key]
        if tuple(t.shape) != tuple(ref.shape):
            raise ModelError(
                f"model {label!r}: tensor {key!r} has shape {tuple(t.shape)}, the architecture "
                f"needs {tuple(ref.shape)}"
            )
        if not t.is_floating_point():
            raise ModelError(f"model {label!r}: tensor {key!r} is not floating point")
        t = t.to(ref.dtype)
        if not torch.isfinite(t).all():
            raise ModelError(f"model {label!r}: tensor {key!r} contains NaN or Inf")
        out[key] = t
    return out


def _read_index(folder: Path, label: str) -> dict[str, Any] | None:
    path = folder / INDEX_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"model {label!r}: unreadable {INDEX_FILE} ({_one_line(exc)})") from None


def _device(device: str | torch.device) -> torch.device:
    if isinstance(device, str) and device.strip().lower() == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ModelError(f"unknown device {device!r}: {_one_line(exc)}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ModelError("CUDA is not available on this machine")
    return dev


def load_model(
    name_or_dir: str | os.PathLike[str], *, device: str | torch.device = "cpu"
) -> Denoiser:
    """Load a saved model, validating it completely.

    Parameters
    ----------
    name_or_dir : str or path
        A model name (folder under ``registry.models_dir()``) or a model folder.
    device : str or torch.device
        ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``.

    Returns
    -------
    Denoiser
        In eval mode with ``requires_grad`` off for every parameter (gradients to the *input*
        still flow, which is all guidance needs; weight gradients would only cost time).

    Raises
    ------
    ModelError
        Missing folder, config or weights; corrupt or truncated files; unknown preset; names or
        shapes that do not match the architecture; NaN or Inf weights.
    """
    folder = resolve_model_dir(name_or_dir)
    label = os.fspath(name_or_dir)
    data = _read_config(folder, label)
    config = _config_from(data, label)
    files = _weight_files(folder, label)
    tensors = _join_parts(_load_tensors(files, label), _read_index(folder, label), label)
    try:
        model = Denoiser(config)
    except ValueError as exc:
        raise ModelError(f"model {label!r}: cannot build its architecture ({exc})") from None
    state = _check_state(tensors, model.state_dict(), label)
    model.load_state_dict(state, strict=True)
    model.eval().requires_grad_(False)
    return model.to(_device(device))


def model_info(name_or_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Describe a saved model from its ``config.json`` and file sizes (weights are not loaded).

    Returns
    -------
    dict
        ``name``, ``path``, ``preset``, ``n_parameters``, ``sample_rate``, ``segment_length``,
        ``segment_s``, ``sigma_data``, ``architecture``, ``weights`` (files, dtype, bytes),
        ``training`` and ``metrics`` (empty dicts when absent).

    Raises
    ------
    ModelError
        When the folder, the config or the weights are missing, or the config is invalid.
    """
    folder = resolve_model_dir(name_or_dir)
    label = os.fspath(name_or_dir)
    data = _read_config(folder, label)
    config = _config_from(data, label)
    files = _weight_files(folder, label)
    n_params = data.get("n_parameters")
    if not isinstance(n_params, int):
        n_params = Denoiser(config).n_parameters
    weights = dict(data.get("weights") or {})
    weights["files"] = [p.name for p in files]
    weights["bytes"] = sum(p.stat().st_size for p in files)
    return {
        "name": folder.name,
        "path": str(folder),
        "preset": config.preset,
        "n_parameters": n_params,
        "sample_rate": config.sample_rate,
        "segment_length": config.segment_length,
        "segment_s": config.segment_length / config.sample_rate,
        "sigma_data": config.sigma_data,
        "architecture": config.to_dict(),
        "weights": weights,
        "training": dict(data.get("training") or {}),
        "metrics": dict(data.get("metrics") or {}),
    }


# ----------------------------------------------------------------------------------------- writing


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200] if text else type(exc).__name__


def _atomic_write_bytes(path: Path, payload: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_save_tensors(
    path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, str]
) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=meta)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def state_for_saving(
    model: torch.nn.Module, dtype: torch.dtype | None = None
) -> dict[str, torch.Tensor]:
    """CPU, contiguous copies of a module's persistent state (optionally cast), for safetensors."""
    out = {}
    for key, t in model.state_dict().items():
        t = t.detach().to("cpu")
        if dtype is not None and t.is_floating_point():
            t = t.to(dtype)
        out[key] = t.contiguous().clone()
    return out


def _fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)) and all(not isinstance(v, (dict, list)) for v in value):
        return ", ".join(_fmt_value(v) for v in value)
    if isinstance(value, (dict, list)):
        return "`" + json.dumps(value, ensure_ascii=False) + "`"
    return str(value)


def _data_provenance_section(corpora: Any) -> list[str]:
    """Hours per piano and split of each training corpus, and its attribution lines (the
    Salamander samples are CC BY 3.0: a model trained on them credits them)."""
    if not corpora:
        return []
    lines = ["## Training data and attribution", ""]
    for corpus in corpora:
        hours = ", ".join(f"{k} {v:g} h" for k, v in corpus.get("hours_by_piano", {}).items())
        splits = ", ".join(f"{k} {v:g} h" for k, v in corpus.get("hours_by_split", {}).items())
        lines.append(
            f"- {corpus.get('hours', 0):g} h rendered (seed {corpus.get('seed')}): {hours}; "
            f"{splits}"
        )
        lines += [f"  - {line}" for line in corpus.get("attribution", [])]
    return [*lines, ""]


def _md_section(title: str, value: Any) -> list[str]:
    lines = [f"## {title}", ""]
    if value is None or value == {} or value == []:
        lines += ["Not recorded.", ""]
    elif isinstance(value, str):
        lines += [value.strip(), ""]
    elif isinstance(value, dict):
        lines += [f"- **{k}**: {_fmt_value(v)}" for k, v in value.items()] + [""]
    elif isinstance(value, list):
        for item in value:
            lines.append(f"- {_fmt_value(item)}")
        lines.append("")
    else:
        lines += [_fmt_value(value), ""]
    return lines


def _history_table(history: list[dict[str, Any]], max_rows: int = 20) -> list[str]:
    """Validation (or else training) loss against step, at most ``max_rows`` rows."""
    key = "val_loss" if any("val_loss" in h for h in history) else "loss"
    rows = [h for h in history if key in h and h[key] is not None]
    if not rows:
        return []
    if len(rows) > max_rows:
        idx = sorted({round(i * (len(rows) - 1) / (max_rows - 1)) for i in range(max_rows)})
        rows = [rows[i] for i in idx]
    title = "Validation loss (EMA weights)" if key == "val_loss" else "Training loss"
    lines = [f"### {title}", "", "| step | loss |", "| ---: | ---: |"]
    lines += [f"| {h.get('step', '')} | {_fmt_value(h[key])} |" for h in rows]
    return [*lines, ""]


def _figures_section(figures: Mapping[str, Any] | None) -> list[str]:
    """Links to the card's figures; their paths are relative to the repository root."""
    if not figures:
        return []
    lines = ["## Figures", ""]
    for key, path in figures.items():
        if isinstance(path, str) and path.endswith(".png"):
            lines += [f"![{key.replace('_', ' ')}](../../{path})", ""]
        elif isinstance(path, str):
            lines += [f"- {key.replace('_', ' ')}: [`{path}`](../../{path})", ""]
        else:
            lines += [f"- {key.replace('_', ' ')}: {_fmt_value(path)}", ""]
    return [*lines, ""]


def render_model_card(data: Mapping[str, Any], name: str) -> str:
    """Markdown model card from a ``config.json`` dictionary."""
    arch = data.get("architecture", {})
    groups = arch.get("octave_groups", [])
    octaves = " / ".join(f"{n} oct x {b} bins" for n, b in groups)
    n_params = data.get("n_parameters", 0)
    lines = [
        f"# Model card: {name}",
        "",
        data.get("description", "A multi-resolution CQT U-Net score model for SimDPS Studio."),
        "",
        "| | |",
        "| --- | --- |",
        f"| Preset | `{data.get('preset')}` |",
        f"| Parameters | {n_params:,} |",
        f"| Sample rate | {data.get('sample_rate')} Hz |",
        f"| Segment | {data.get('segment_length')} samples "
        f"({data.get('segment_length', 0) / max(data.get('sample_rate', 1), 1):.2f} s) |",
        f"| sigma_data | {data.get('sigma_data')} |",
        f"| CQT octave groups (low to high) | {octaves} |",
        f"| Channels per level | {_fmt_value(arch.get('channels', []))} |",
        f"| Weights | {_fmt_value(data.get('weights', {}).get('files', []))} "
        f"({data.get('weights', {}).get('dtype', 'float32')}) |",
        "",
        "Architecture: an invertible multi-resolution constant-Q filterbank feeds a 2-D U-Net whose",
        "levels add one octave at a time, with noise-level FiLM conditioning and frequency-dilated",
        "convolutions, wrapped in EDM preconditioning (Karras et al. 2022). In the manner of",
        "MR-CQTdiff (da Costa & Moliner 2025); see `simdps_studio/inpaint/network.py`.",
        "",
    ]
    training = dict(data.get("training") or {})
    chunks = training.pop("chunks", None)
    history = training.pop("history", None)
    options = training.pop("options", None)
    lines += _md_section("Training", training)
    if options:
        lines += ["Options: " + ", ".join(f"{k}={_fmt_value(v)}" for k, v in options.items()), ""]
    if chunks:
        lines += [
            "### Training chunks",
            "",
            "| # | steps | hardware | seconds | loss |",
            "| --- | --- | --- | --- | --- |",
        ]
        for i, c in enumerate(chunks, 1):
            lines.append(
                f"| {i} | {c.get('start_step', '')}-{c.get('end_step', '')} | "
                f"{c.get('hardware', '')} | {_fmt_value(c.get('seconds', ''))} | "
                f"{_fmt_value(c.get('loss', ''))} |"
            )
        lines.append("")
    if history:
        lines += _history_table(history)
    lines += _data_provenance_section(data.get("data_provenance"))
    lines += _md_section("Metrics", data.get("metrics"))
    lines += _md_section("Evaluation", data.get("evaluation"))
    lines += _figures_section(data.get("figures"))
    lines += [
        "## Intended use and limitations",
        "",
        data.get(
            "limitations",
            "Prior for diffusion inpainting of gaps in music (SimDPS / DPS). Trained on the data "
            "listed above only; expect weaker repairs on material unlike it.",
        ),
        "",
        "## Files",
        "",
        "- `config.json`: architecture, data format, training record and metrics",
        "- weights in safetensors format (no pickle)",
        "- `MODEL_CARD.md`: this card (regenerated by `save_model`)",
        "",
    ]
    return "\n".join(lines)


def _base_record(model: Denoiser, extra: Mapping[str, Any] | None) -> dict[str, Any]:
    config = model.config
    record: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "preset": config.preset,
        "sample_rate": config.sample_rate,
        "segment_length": config.segment_length,
        "sigma_data": config.sigma_data,
        "n_parameters": model.n_parameters,
        "architecture": config.to_dict(),
    }
    for key, value in (extra or {}).items():
        if key in _RESERVED:
            raise ValueError(f"extra may not set the reserved key {key!r}")
        record[key] = value
    return record


def _write_folder(
    folder: Path,
    record: dict[str, Any],
    shards: list[dict[str, torch.Tensor]],
    dtype: torch.dtype,
    index: dict[str, Any] | None = None,
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    # Remove weights of an earlier save so a mix of old and new files cannot be loaded.
    for p in folder.iterdir():
        if p.name in (WEIGHTS_FILE, INDEX_FILE) or _SHARD_RE.match(p.name):
            p.unlink()
    meta = {"format": "pt", "producer": FORMAT, "preset": str(record.get("preset"))}
    names = []
    if len(shards) == 1 and index is None:
        _atomic_save_tensors(folder / WEIGHTS_FILE, shards[0], meta)
        names.append(WEIGHTS_FILE)
    else:
        n = len(shards)
        for i, shard in enumerate(shards, 1):
            name = f"weights-{i:05d}-of-{n:05d}.safetensors"
            _atomic_save_tensors(folder / name, shard, meta)
            names.append(name)
        if index is not None:
            _atomic_write_bytes(folder / INDEX_FILE, json.dumps(index, indent=2).encode())
    record["weights"] = {
        "files": names,
        "dtype": str(dtype).replace("torch.", ""),
        "bytes": sum((folder / n).stat().st_size for n in names),
    }
    text = json.dumps(record, indent=2, ensure_ascii=False, default=str) + "\n"
    _atomic_write_bytes(folder / CONFIG_FILE, text.encode("utf-8"))
    card = render_model_card(record, folder.name)
    _atomic_write_bytes(folder / CARD_FILE, card.encode("utf-8"))


def save_model(
    denoiser: Denoiser, out_dir: str | os.PathLike[str], *, extra: Mapping[str, Any] | None = None
) -> None:
    """Write ``config.json``, ``weights.safetensors`` (float32) and ``MODEL_CARD.md``.

    Parameters
    ----------
    denoiser : Denoiser
        The model (any device; weights are copied to the CPU).
    out_dir : str or path
        Model folder, created if needed; earlier weights in it are replaced.
    extra : mapping, optional
        More entries for ``config.json`` and the model card: ``description``, ``training`` (data,
        hours, steps, hardware, seconds, ``chunks``: list of dicts with ``start_step``,
        ``end_step``, ``hardware``, ``seconds``, ``loss``), ``metrics``, ``evaluation``,
        ``limitations``. Must be JSON-serialisable; the reserved keys are refused.
    """
    record = _base_record(denoiser, extra)
    _write_folder(Path(out_dir), record, [state_for_saving(denoiser)], torch.float32)


def _split_into_shards(
    state: dict[str, torch.Tensor], max_bytes: int
) -> tuple[list[dict[str, torch.Tensor]], dict[str, Any]]:
    # Leave room for the JSON header (~ 150 bytes per tensor) and the 8-byte length prefix.
    def cost(t: torch.Tensor, name: str) -> int:
        return t.numel() * t.element_size() + 160 + len(name)

    budget = max_bytes - 4096
    if budget < 1024:
        raise ValueError(f"shard size {max_bytes} bytes is too small")
    pieces: list[tuple[str, torch.Tensor]] = []
    split: dict[str, Any] = {}
    for name, t in state.items():
        if cost(t, name) <= budget:
            pieces.append((name, t))
            continue
        per = max(1, (budget - 200 - len(name)) // t.element_size())
        flat = t.reshape(-1)
        parts = [flat[i : i + per].clone() for i in range(0, flat.numel(), per)]
        split[name] = {"parts": len(parts), "shape": list(t.shape)}
        pieces += [(f"{name}{_PART_SEP}{i}", p) for i, p in enumerate(parts)]
    shards: list[dict[str, torch.Tensor]] = [{}]
    used = 0
    for name, t in pieces:
        c = cost(t, name)
        if used + c > budget and shards[-1]:
            shards.append({})
            used = 0
        shards[-1][name] = t
        used += c
    index = {"split": split, "weight_map": {}}
    n = len(shards)
    for i, shard in enumerate(shards, 1):
        for name in shard:
            index["weight_map"][name] = f"weights-{i:05d}-of-{n:05d}.safetensors"
    return shards, index


def export_model(
    name_or_dir: str | os.PathLike[str] | Denoiser,
    out_dir: str | os.PathLike[str],
    *,
    fp16: bool = False,
    max_shard_bytes: int | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Copy a model to ``out_dir`` as float16 and/or in shards of at most ``max_shard_bytes``.

    Parameters
    ----------
    name_or_dir : str, path or Denoiser
        Model to export (a loaded one, e.g. straight from a GPU training run, or a saved one).
    out_dir : str or path
        Destination folder (created; must differ from the source).
    fp16 : bool
        Store weights as float16 (half the bytes; loaded back as float32).
    max_shard_bytes : int, optional
        Split weights into ``weights-0000i-of-0000N.safetensors`` files no larger than this
        (e.g. :data:`SHARD_BYTES`, 16 MiB); tensors larger than a shard are cut into pieces.
    extra : mapping, optional
        Entries merged into ``config.json`` (as in :func:`save_model`).

    Returns
    -------
    Path
        The output folder.
    """
    out = Path(out_dir)
    if isinstance(name_or_dir, Denoiser):
        model = name_or_dir
        record = _base_record(model, extra)
    else:
        src = resolve_model_dir(name_or_dir)
        if src.resolve() == out.resolve():
            raise ModelError("export folder must differ from the model folder")
        model = load_model(src)
        record = {k: v for k, v in _read_config(src, os.fspath(name_or_dir)).items()}
        record.update(_base_record(model, None))
        for key, value in (extra or {}).items():
            if key in _RESERVED:
                raise ValueError(f"extra may not set the reserved key {key!r}")
            record[key] = value
    dtype = torch.float16 if fp16 else torch.float32
    state = state_for_saving(model, dtype)
    if max_shard_bytes is None:
        _write_folder(out, record, [state], dtype)
    else:
        shards, index = _split_into_shards(state, int(max_shard_bytes))
        _write_folder(out, record, shards, dtype, index)
    return out


def export_fp16(
    name_or_dir: str | os.PathLike[str] | Denoiser,
    out_dir: str | os.PathLike[str],
    *,
    max_shard_bytes: int | None = None,
) -> Path:
    """Export a model with float16 weights (see :func:`export_model`)."""
    return export_model(name_or_dir, out_dir, fp16=True, max_shard_bytes=max_shard_bytes)


def shard_model(
    name_or_dir: str | os.PathLike[str] | Denoiser,
    out_dir: str | os.PathLike[str],
    *,
    max_shard_bytes: int = SHARD_BYTES,
    fp16: bool = False,
) -> Path:
    """Export a model in shards of at most ``max_shard_bytes`` (16 MiB by default)."""
    return export_model(name_or_dir, out_dir, fp16=fp16, max_shard_bytes=max_shard_bytes)
