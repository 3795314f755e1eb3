"""Render repairs into the source samples, and export with provenance and cue markers.

Rendering copies the source's native samples and overwrites only each enabled repair's span, so
every sample outside the repaired spans is bit-identical to the source by construction;
:func:`null_test` checks it on the result anyway (it is reported after every repair and export).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from simdps_studio import __version__
from simdps_studio.core.errors import InputError, quoted
from simdps_studio.core.types import Audio
from simdps_studio.session.document import Session
from simdps_studio.session.project import (
    FILLS_SUFFIX,
    PROJECT_SUFFIX,
    stage_file,
)
from simdps_studio.session.repair import Repair

PROVENANCE_SUFFIX = ".provenance.json"


def quantize_fill(fill: np.ndarray, subtype: str, *, seed: int = 0) -> np.ndarray:
    """Quantise a float fill to the source's native samples, with TPDF dither for integer PCM.

    Parameters
    ----------
    fill : numpy.ndarray, shape (channels, n)
    subtype : str
        The source's subtype (``"PCM_16"``, ``"PCM_24"``, ``"FLOAT"``, ...).
    seed : int
        Dither seed (the result is deterministic).
    """
    from simdps_studio.audio.dsp import tpdf_dither_quantize

    return tpdf_dither_quantize(fill, subtype, rng=np.random.default_rng(seed))


def repaired_spans(repairs: list[Repair] | tuple[Repair, ...]) -> list[tuple[int, int]]:
    """``[(span_start_sample, span_end_sample), ...]`` of the enabled repairs."""
    return [(r.span_start_sample, r.span_end_sample) for r in repairs if r.enabled]


def render(audio: Audio, repairs: list[Repair] | tuple[Repair, ...]) -> Audio:
    """Source samples with every enabled repair's fill written over its span.

    Returns
    -------
    Audio
        Same rate, channels, subtype and format as ``audio``.
    """
    out = render_range(audio, repairs, 0, audio.n_samples)
    return Audio(out, audio.sr, audio.subtype, audio.format, dict(audio.meta))


def render_range(
    audio: Audio, repairs: list[Repair] | tuple[Repair, ...], start_sample: int, end_sample: int
) -> np.ndarray:
    """Native samples of ``[start_sample, end_sample)`` with the enabled repairs written over
    the part of their spans inside it (what :func:`render` gives there: the same fills, the same
    dither seeds).

    Returns
    -------
    numpy.ndarray, shape (channels, end_sample - start_sample)
        A copy in the source's native dtype.
    """
    out = audio.samples[:, start_sample:end_sample].copy()
    for r in repairs:
        a, b = max(r.span_start_sample, start_sample), min(r.span_end_sample, end_sample)
        if r.enabled and a < b:
            fill = quantize_fill(r.fill, audio.subtype, seed=r.span_start_sample)
            offset = r.span_start_sample
            out[:, a - start_sample : b - start_sample] = fill[:, a - offset : b - offset]
    return out


def outside_mask(n_samples: int, spans: list[tuple[int, int]]) -> np.ndarray:
    """Boolean mask of shape (n_samples,), True outside every span."""
    mask = np.ones(n_samples, dtype=bool)
    for a, b in spans:
        mask[a:b] = False
    return mask


def null_test(source: Audio, rendered: Audio, spans: list[tuple[int, int]]) -> bool:
    """True when every sample outside ``spans`` is bit-identical between the two."""
    return equal_outside(source.samples, rendered.samples, spans)


def equal_outside(x: np.ndarray, y: np.ndarray, spans: list[tuple[int, int]]) -> bool:
    """True when ``x`` and ``y`` (shape (channels, n), same dtype) are bit-identical outside
    ``spans`` (sample ranges in their own indices)."""
    if x.shape != y.shape or x.dtype != y.dtype:
        return False
    # Stretch by stretch through views, a block at a time: a mask would copy both whole tracks
    # (gigabytes for an hour of 24-bit stereo) after every repair.
    n = x.shape[1]
    start = 0
    for a, b in [*sorted(spans), (n, n)]:
        if a > start and not _equal(x[:, start:a], y[:, start:a]):
            return False
        start = max(start, b)
    return True


def _equal(x: np.ndarray, y: np.ndarray, block: int = 1 << 18) -> bool:
    return all(
        np.array_equal(x[:, i : i + block], y[:, i : i + block])
        for i in range(0, x.shape[1], block)
    )


def provenance(session: Session, *, output: Path | None = None) -> dict[str, Any]:
    """JSON-serialisable record of what the export contains and how each fill was made."""
    sr = session.audio.sr
    return {
        "tool": f"SimDPS Studio {__version__}",
        "source": str(session.source_path) if session.source_path else None,
        "source_sha256": session.source_sha256,
        "output": str(output) if output else None,
        "sample_rate": sr,
        "repairs": [
            {
                "gap_s": [r.gap.start_sample / sr, r.gap.end_sample / sr],
                "gap_samples": [r.gap.start_sample, r.gap.end_sample],
                "span_samples": [r.span_start_sample, r.span_end_sample],
                "margin_samples": [r.margin_before, r.margin_after],
                "method": r.method,
                "enabled": r.enabled,
                **r.params,
            }
            for r in session.repairs
        ],
    }


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def same_path(a: Path, b: Path) -> bool:
    """Whether two paths name the same file (also through links), existing or not."""
    return _same_file(a, b) or a.resolve() == b.resolve()


def check_output_path(
    out_path: str | Path,
    source_path: str | Path | None,
    *,
    label: str = "output",
    protected: dict[str, str | Path | None] | None = None,
) -> Path:
    """Refuse, before any work, a file that could not be written or must not be.

    Refused: the source itself, a project file, a ``protected`` file, a name ending in a slash
    (a folder), an existing link, device or pipe, a name too long for the file system, a folder
    that does not exist or takes no new file. The last is tried, not assumed: the temporary file
    the write will use is created and removed (root passes every permission check, yet cannot
    create files in ``/proc`` or ``/sys``). Temporary files that a killed earlier run left in the
    folder are removed on the way.

    Parameters
    ----------
    out_path : path
        A file about to be written.
    source_path : path or None
        The source recording, never to be overwritten.
    label : str
        What the file is, for the messages (``"output"``, ``"--report"``).
    protected : dict, optional
        Other files it must not be, by what they are (``{"--guide": path}``); None values skipped.

    Raises
    ------
    InputError
        For each refusal (exit 2).
    ExportError
        When the folder's disk is full or its quota used up (exit 1).
    """
    out = Path(out_path)
    text = str(out_path)
    if not text.strip():
        raise InputError(f"{label} path is empty")
    if text.endswith(("/", os.sep, os.altsep or "/")):
        what = "an existing folder" if out.is_dir() else "a folder, and no such folder exists"
        raise InputError(
            f"{label} path {quoted(text)} ends in a slash, so it names {what}; "
            "give a file name (the folder must exist)"
        )
    if source_path is not None and same_path(out, Path(source_path)):
        raise InputError(
            f"refusing to overwrite the source file {quoted(out)}; choose another {label} name"
        )
    if out.name.endswith((PROJECT_SUFFIX, FILLS_SUFFIX)):
        raise InputError(
            f"refusing to write over a project file: {quoted(out)}; choose another name"
        )
    for what, other in (protected or {}).items():
        if other is not None and str(other) and same_path(out, Path(other)):
            raise InputError(f"{label} path {quoted(out)} is also the {what}; choose another name")
    try:
        _check_location(out, label)
    except OSError as exc:  # a look at the path failed: e.g. longer than the system takes
        shown = text if len(text) <= 60 else f"{text[:28]}…{text[-28:]}"
        raise InputError(f"{label} path {quoted(shown)}: {exc.strerror or exc}") from None
    return out


def _check_location(out: Path, label: str) -> None:
    """The checks of :func:`check_output_path` that look at the file system."""
    from simdps_studio.audio.io import refuse_special_output

    refuse_special_output(out, label)
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise InputError(f"{label} folder {what}: {quoted(folder)}")
    _check_name_length(out, folder, label)
    if not os.access(folder, os.W_OK):
        raise InputError(f"{label} folder is not writable: {quoted(folder)}")
    if out.is_dir():
        raise InputError(f"{label} path is a folder: {quoted(out)}")
    _try_creating_in(folder, out, label)


def _check_name_length(out: Path, folder: Path, label: str) -> None:
    """Refuse a file name longer than the folder's file system takes (255 bytes on most)."""
    n_bytes = len(os.fsencode(out.name))
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # not POSIX, or the system does not say
        limit = 255
    if n_bytes > limit:
        name = out.name if len(out.name) <= 40 else f"{out.name[:20]}…{out.name[-16:]}"
        raise InputError(
            f"{label} name is too long: {n_bytes} bytes, where the file system takes at "
            f"most {limit} ({quoted(name)}); choose a shorter name"
        )


def _try_creating_in(folder: Path, out: Path, label: str) -> None:
    """Create and remove the temporary file that writing ``out`` will use."""
    from simdps_studio.audio.io import (
        STORAGE_ERRNOS,
        remove_stale_temps,
        temp_file_beside,
        write_error,
    )

    remove_stale_temps(folder)
    try:
        tmp = temp_file_beside(out)
    except OSError as exc:
        if exc.errno in STORAGE_ERRNOS:
            raise write_error(out, exc) from None
        why = (exc.strerror or str(exc)).lower()
        raise InputError(
            f"{label} folder {quoted(folder)} does not take new files ({why})"
        ) from None
    tmp.unlink(missing_ok=True)


def provenance_path(out_path: str | Path) -> Path:
    """The provenance sidecar written beside an export."""
    out = Path(out_path)
    return out.with_name(out.name + PROVENANCE_SUFFIX)


def output_format(
    out: Path, source: Audio, *, format: str | None = None, subtype: str | None = None
) -> tuple[str, str]:
    """Container and subtype an export of ``source`` to ``out`` will use (see ``resolve_format``).

    Raises
    ------
    InputError
        An extension that names no audio format (unless ``format`` is given), or a format that
        cannot hold ``subtype``.
    """
    from simdps_studio.audio.io import FORMAT_BY_SUFFIX, check_output_format, resolve_format

    suffix = out.suffix.lower()
    if format is None and suffix and suffix not in FORMAT_BY_SUFFIX:
        known = ", ".join(sorted(FORMAT_BY_SUFFIX))
        raise InputError(
            f"cannot write {quoted(out.name)}: unknown audio file extension (use one of {known})"
        )
    fmt, sub = resolve_format(out, source, format=format, subtype=subtype)
    check_output_format(out, source, fmt, sub)
    return fmt, sub


def conversion_notes(source: Audio, fmt: str, subtype: str) -> list[str]:
    """What writing ``source`` as ``fmt``/``subtype`` does to the samples outside the repairs:
    nothing (an empty list) when it keeps the source's sample format."""
    from simdps_studio.audio.io import LOSSY_SUBTYPES

    notes = []
    src = source.subtype.upper()
    # A decoded lossy source is float samples: written as float they are kept exactly.
    exact = subtype == src or (src in LOSSY_SUBTYPES and subtype in ("FLOAT", "DOUBLE"))
    if subtype in LOSSY_SUBTYPES:
        notes.append(
            f"the output is lossy ({fmt} {subtype}): every sample is re-encoded, so samples "
            "outside the repaired spans are not bit-identical to the source"
        )
    elif not exact:
        notes.append(
            f"the output's sample format ({fmt} {subtype}) is not the source's ({src}): samples "
            "outside the repaired spans are converted, not bit-identical"
        )
    if source.samples.dtype.kind == "f" and subtype.startswith(("PCM_", "ULAW", "ALAW")):
        block = 1 << 20  # in blocks: no second copy of a long float recording
        over = sum(
            int(np.count_nonzero(np.abs(source.samples[:, i : i + block]) > 1.0))
            for i in range(0, source.n_samples, block)
        )
        if over:
            notes.append(f"{over} sample(s) beyond full scale are clipped in the {subtype} output")
    return notes


def export(
    session: Session,
    out_path: str | Path,
    *,
    format: str | None = None,
    subtype: str | None = None,
    dither: bool = True,
    write_provenance: bool = True,
    also: Sequence[tuple[Path, bytes]] = (),
) -> dict[str, Any]:
    """Render the session and write it atomically with cue markers and a provenance sidecar.

    Parameters
    ----------
    format, subtype : str, optional
        libsndfile format/subtype; default: from the output's extension and the source's subtype.
    dither : bool
        TPDF dither when the output has fewer bits than the source.
    also : sequence of (path, bytes)
        Small files that belong with the export (the CLI's ``--report``), checked by the caller:
        written first and renamed into place with it, so that all of them appear or none.

    Returns
    -------
    dict
        The provenance record (also written to ``<out>.provenance.json`` when asked).
    """
    from simdps_studio.audio.io import replace_staged, stage_audio, write_error

    out = check_output_path(out_path, session.source_path)
    side = provenance_path(out)
    if write_provenance:
        check_output_path(side, session.source_path, label="provenance file")
    rendered = render(session.audio, session.repairs)
    spans = repaired_spans(session.repairs)
    cues = []
    for r in session.repairs:
        if r.enabled:
            cues.append((r.span_start_sample, f"repair {r.method} start"))
            cues.append((r.span_end_sample, f"repair {r.method} end"))
    fmt, sub = output_format(out, session.audio, format=format, subtype=subtype)
    record = provenance(session, output=out)
    # The null test speaks for the written samples only when they keep the source's sample format;
    # a conversion (e.g. float -> 24-bit FLAC) changes every sample by design.
    notes = conversion_notes(session.audio, fmt, sub)
    record["null_test_outside_spans"] = None if notes else null_test(session.audio, rendered, spans)
    record["output_format"] = [fmt, sub]
    record["conversion_notes"] = notes
    # The small files are staged first: if one cannot be written, an earlier export and its record
    # stay as they were; then the audio, and all are renamed into place together.
    staged: list[tuple[Path, Path]] = []
    try:
        files = list(also)
        if write_provenance:
            files.insert(0, (side, json.dumps(record, indent=1, ensure_ascii=False).encode()))
        for path, data in files:
            try:
                staged.append((stage_file(path, lambda f, data=data: f.write(data)), path))
            except OSError as exc:
                raise write_error(path, exc) from None
        tmp = stage_audio(out, rendered, format=fmt, subtype=sub, dither=dither, cues=cues)
        replace_staged([(tmp, out), *staged])
    except BaseException:
        for tmp_side, _ in staged:
            tmp_side.unlink(missing_ok=True)
        raise
    return record
