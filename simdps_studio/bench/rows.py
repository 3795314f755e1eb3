"""The rows of ``quality.csv``: one per track x gap x method, their columns, reading and writing.

A row is a plain dict keyed by :data:`CSV_COLUMNS`; a failed repair is a row whose ``error`` says
why (:func:`error_text`), and :func:`row_ok` tells the rows that count in the tables.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any

#: The CSV's columns and the type each is read back as (:func:`read_rows`).
CSV_TYPES: dict[str, type] = {
    "material": str,
    "track": str,
    "track_s": float,
    "sr": int,
    "gap_s": float,
    "gap_start_s": float,
    "gap_end_s": float,
    "method": str,
    "engine": str,
    "omega": float,
    "draft": bool,
    "steps": int,
    "model": str,
    "device": str,
    "precision": str,
    "cand_start_s": float,
    "cand_cost": float,
    "cand_score": float,
    "cand_same": bool,
    "cand_bin": str,
    "margin_samples": int,
    "snr_db": float,
    "lsd_db": float,
    "chroma_sim": float,
    "seam": float,
    "seam_ref": float,
    "level_db": float,
    "seconds": float,
    "prior_fit": float,
    "fit_ratio": float,
    "null_ok": bool,
    "error": str,
}
CSV_COLUMNS = tuple(CSV_TYPES)


def error_text(exc: BaseException) -> str:
    """A row's ``error``: the exception's type and the first line of its message."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _parse_cell(key: str, text: str) -> Any:
    kind = CSV_TYPES.get(key, str)
    if text == "" or kind is str:
        return text
    if kind is bool:
        return {"True": True, "False": False}.get(text, text)
    try:
        return kind(text)
    except ValueError:
        return text


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a ``quality.csv`` with their numbers parsed (as :func:`run_case` makes them)."""
    with open(path, newline="", encoding="utf-8") as fh:
        return [{k: _parse_cell(k, v or "") for k, v in row.items()} for row in csv.DictReader(fh)]


def rewrite_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write every row again (now with the candidate bins, known only at the end)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_value(row.get(k, "")) for k in CSV_COLUMNS})
    os.replace(tmp, path)


def _csv_value(v: Any) -> Any:
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return round(v, 5)
    return v


def row_ok(row: dict) -> bool:
    """Whether a row holds a finished repair's numbers (no error, metrics parsed)."""
    return not row.get("error") and isinstance(row.get("lsd_db"), float)
