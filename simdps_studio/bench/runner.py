"""Running the quality benchmark: every gap of every track repaired by every method, and scored.

Each gap is repaired through the session layer
(:func:`~simdps_studio.session.engines.make_repairs` with a
:class:`~simdps_studio.session.engines.RepairRequest`, rendered with
:func:`~simdps_studio.session.render.render`), so the benchmark measures what users get; each
repair is scored against the clean track with :mod:`simdps_studio.bench.metrics`. Rows reach
``quality.csv`` as they finish; the report and the plots are written at the end, also after an
interruption.
"""

from __future__ import annotations

import csv
import datetime
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from simdps_studio.bench.config import BenchConfig, MethodSpec, command_line
from simdps_studio.bench.estimate import (
    FULL_BUDGET_MIN,
    Eta,
    case_seconds,
    estimate_seconds,
    format_seconds,
    host_speed_factor,
    model_config,
)
from simdps_studio.bench.material import MaterialInfo, Track, gap_position, prepare_material
from simdps_studio.bench.plots import write_plots
from simdps_studio.bench.report import BenchResult, markdown_report
from simdps_studio.bench.resume import finished_rows, write_run_settings
from simdps_studio.bench.rows import CSV_COLUMNS, error_text, rewrite_csv
from simdps_studio.bench.summary import assign_bins
from simdps_studio.core.errors import CancelledError, InputError
from simdps_studio.core.progress import CancelToken, check_cancel
from simdps_studio.core.types import Audio, Gap

#: Finished rows of an earlier run, by (track, gap length, method) (:func:`finished_rows`).
Kept = dict[tuple[str, float, str], dict[str, Any]]


# ----------------------------------------------------------------------------- one repair


def _candidate(damaged: Audio, gap: Gap):
    from simdps_studio.session.engines import find_candidates

    ranked = find_candidates(damaged, gap, top_k=5)
    return ranked[0] if ranked else None


def repair_gap(damaged: Audio, gap: Gap, spec: MethodSpec, config: BenchConfig):
    """Repair one gap with one method through the session layer, as the app does.

    Returns
    -------
    (Repair, Audio, float)
        The repair (rank-1 candidate, first take), the damaged track rendered with it, and the
        wall time of :func:`~simdps_studio.session.engines.make_repairs` in seconds, without
        the prior-fit check (paid by the first diffusion method of a gap only, then cached).
    """
    from simdps_studio.session.engines import RepairRequest, make_repairs
    from simdps_studio.session.render import render

    request = RepairRequest(
        method=spec.engine,
        omega=spec.omega,
        steps=config.steps,
        seed=config.seed,
        candidate_rank=1,
        model=config.model if spec.diffusion else None,
        device=config.device,
        draft=spec.draft,
        precision=config.precision,
        start_sigma=config.start_sigma,
    )
    t0 = time.perf_counter()
    repair = make_repairs(damaged, gap, request)[0]
    seconds = time.perf_counter() - t0 - float(repair.info.prior_fit_seconds or 0.0)
    return repair, render(damaged, [repair]), seconds


def _recorded(value: Any) -> Any:
    """A repair record's value for a results row: "" when not recorded."""
    return "" if value is None else value


def run_case(
    reference: Audio,
    damaged: Audio,
    gap: Gap,
    spec: MethodSpec,
    config: BenchConfig,
    candidate=None,
) -> dict[str, Any]:
    """Repair one gap with one method through the session layer and score it.

    Parameters
    ----------
    reference, damaged : Audio
        The clean track and the same track with the gap zeroed (float samples).
    candidate : Candidate, optional
        The rank-1 candidate found beforehand; the repair's own must be the same.

    Returns
    -------
    dict
        The metric and timing columns of the row. A failing repair raises; the runner records
        the exception as the row's ``error``.
    """
    from simdps_studio.bench.metrics import gap_metrics
    from simdps_studio.session.render import null_test

    repair, rendered, seconds = repair_gap(damaged, gap, spec, config)
    spans = [(repair.span_start_sample, repair.span_end_sample)]
    y = rendered.to_float()
    metrics = gap_metrics(
        reference.to_float(),
        y,
        reference.sr,
        gap.start_sample,
        gap.end_sample,
        margin_samples=max(repair.margin_before, repair.margin_after),
    )
    info = repair.info
    used = info.used_candidate
    fit = info.prior_fit or {}  # diffusion repairs: the prior's fit to the context
    same = ""
    if spec.uses_candidate and candidate is not None:
        same = int(used.get("start_sample", -1)) == int(candidate.start_sample)
    return {
        **metrics,
        "engine": repair.method,
        "omega": _recorded(info.omega)
        if spec.engine == "simdps"
        else (0.0 if spec.engine == "dps" else ""),
        "draft": bool(info.draft),
        "steps": _recorded(info.steps),
        "model": _recorded(info.model),
        "device": _recorded(info.device),
        "precision": _recorded(info.precision),
        "cand_same": same,
        "margin_samples": max(repair.margin_before, repair.margin_after),
        "seconds": round(seconds, 3),
        "prior_fit": fit.get("loss", ""),
        "fit_ratio": "" if fit.get("ratio") is None else fit["ratio"],
        "null_ok": null_test(damaged, rendered, spans),
    }


# ----------------------------------------------------------------------------- the run


def run_benchmark(
    config: BenchConfig,
    *,
    log: Callable[[str], None] = print,
    cancel: CancelToken | None = None,
    prog: str = "simdps-studio bench quality",
    materials: list[MaterialInfo] | None = None,
) -> BenchResult:
    """Run the benchmark and write ``quality.csv``, ``quality.md`` and the plots.

    A failed repair becomes a row with its ``error``; an interrupted run (Ctrl+C, ``cancel``)
    still writes the report of what it finished, then re-raises.

    Parameters
    ----------
    materials : list of MaterialInfo, optional
        Tracks to use instead of preparing ``config.materials`` (e.g. your own recordings).

    Raises
    ------
    InputError
        The model is not installed (when a diffusion method is asked for) or the output folder
        cannot be made.
    """
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    _check_model(config)
    out = _output_folder(Path(config.out_dir))
    t_start = time.perf_counter()
    log(f"command: {command_line(config, prog)}")
    if materials is None:
        materials = prepare_material(config, log=log, cancel=cancel)
    tracks = _tracks(materials)
    plan = _plan(config, len(tracks), log)
    csv_path = out / "quality.csv"
    kept = _kept_rows(out, config, log)
    write_run_settings(out, config)
    complete = False
    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        record = _Recorder(fh, plan, log)
        try:
            for track in tracks:
                _run_track(track, config, plan, record, kept, cancel, log)
            complete = True
        finally:
            # The report covers what finished, also after an interruption or a crash.
            fh.close()
            result = _result(config, record, materials, csv_path, started, t_start, complete, kept)
            _write_report(result, out, prog)
    log(
        f"{'done' if complete else 'stopped'}: repairs {format_seconds(result.seconds)} (estimate "
        f"{format_seconds(result.estimate_s)}), material {format_seconds(result.prepare_s)}; wrote "
        + ", ".join(str(p) for p in result.paths.values())
    )
    return result


# ----------------------------------------------------------------------------- steps of a run


def _check_model(config: BenchConfig) -> None:
    """Refuse a run whose diffusion methods have no model to sample."""
    from simdps_studio.session.engines import model_installed

    if config.needs_model and not model_installed(config.model):
        raise InputError(
            f"model {config.model!r} is not installed (needed by "
            f"{', '.join(m.name for m in config.methods if m.diffusion)}); pass --model NAME, "
            "or --methods lpc,sim"
        )


def _output_folder(out: Path) -> Path:
    """``out``, made if missing."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create output folder {out}: {e.strerror}") from None
    return out


def _tracks(materials: list[MaterialInfo]) -> list[Track]:
    """Every track of the materials, in order; an error when none could be prepared."""
    tracks = [t for m in materials for t in m.tracks]
    if not tracks:
        raise InputError(
            "no material could be prepared: " + "; ".join(m.skipped for m in materials)
        )
    return tracks


@dataclass(frozen=True)
class _Plan:
    """The repairs ahead and their expected time on this host."""

    config: BenchConfig
    model_cfg: dict
    speed: float  # this host's network time over the reference machine's
    estimate: dict[str, float]  # estimate_seconds() at this host's speed
    n_cases: int

    def case_s(self, spec: MethodSpec, gap_s: float) -> float:
        """Expected seconds of one repair (:func:`case_seconds`)."""
        return case_seconds(spec, gap_s, self.config.steps, self.model_cfg, self.speed)


def _plan(config: BenchConfig, n_tracks: int, log: Callable[[str], None]) -> _Plan:
    """Estimate the run on this host and say so (and whether it exceeds a full run's budget)."""
    model_cfg = model_config(config.model) if config.needs_model else {}
    reference = estimate_seconds(config, n_tracks, model_cfg)["total"]
    speed = host_speed_factor(config, model_cfg)
    estimate = estimate_seconds(config, n_tracks, model_cfg, speed)
    n_cases = n_tracks * len(config.gaps_s) * len(config.methods)
    where = (
        f"this CPU runs the network at {1 / speed:.2g}x the speed of the 2-core machine the "
        f"estimate was calibrated on, where it is {format_seconds(reference)}"
        if speed != 1.0
        else "as on the idle 2-core machine it was calibrated on"
    )
    log(
        f"plan: {n_tracks} track(s) x {len(config.gaps_s)} gap(s) x {len(config.methods)} "
        f"method(s) = {n_cases} repairs; estimate: {format_seconds(estimate['total'])} (diffusion "
        f"{format_seconds(estimate['diffusion'])}; {where})"
    )
    if not config.quick and estimate["total"] > FULL_BUDGET_MIN * 60:
        log(f"note: the estimate exceeds the {FULL_BUDGET_MIN:g}-minute budget of a full run")
    return _Plan(config, model_cfg, speed, estimate, n_cases)


def _kept_rows(out: Path, config: BenchConfig, log: Callable[[str], None]) -> Kept:
    """With ``--resume``, the finished rows of the earlier run in ``out`` (else none)."""
    kept = finished_rows(out, config) if config.resume else {}
    if kept:
        log(f"resuming: {len(kept)} finished repair(s) kept from {out / 'quality.csv'}")
    return kept


class _Recorder:
    """The rows as they finish: in order, each written to the CSV at once, timed for the ETA."""

    def __init__(self, fh: IO[str], plan: _Plan, log: Callable[[str], None]) -> None:
        self.fh, self.plan, self.log = fh, plan, log
        self.writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        self.writer.writeheader()
        self.rows: list[dict[str, Any]] = []
        self.devices: set = set()
        self.eta = Eta(plan.estimate["diffusion"], plan.estimate["other"])
        self.t0 = time.perf_counter()  # the repairs start (material and plan are done)

    def _add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if row.get("device"):
            self.devices.add(row["device"])
        self.writer.writerow(row)

    def uncut(self, row: dict[str, Any], spec: MethodSpec, gap_s: float) -> None:
        """A method's row for a gap that does not fit the track (nothing ran)."""
        self._add(row)
        self.eta.record(spec.diffusion, self.plan.case_s(spec, gap_s), 0.0)

    def kept(self, row: dict[str, Any], spec: MethodSpec, gap_s: float) -> None:
        """A row kept from an earlier run (``--resume``)."""
        self._add(row)
        self.fh.flush()
        self.eta.skip(spec.diffusion, self.plan.case_s(spec, gap_s))

    def ran(self, row: dict[str, Any], spec: MethodSpec, gap_s: float, took_s: float) -> None:
        """A repair that ran (or failed) now, in ``took_s`` seconds; prints the progress line."""
        self._add(row)
        self.fh.flush()
        self.eta.record(spec.diffusion, self.plan.case_s(spec, gap_s), took_s)
        elapsed = time.perf_counter() - self.t0
        done = len(self.rows)
        self.log(_progress_line(done, self.plan.n_cases, row, elapsed, self.eta.remaining()))


def _run_track(
    track: Track,
    config: BenchConfig,
    plan: _Plan,
    record: _Recorder,
    kept: Kept,
    cancel: CancelToken | None,
    log: Callable[[str], None],
) -> None:
    """Every gap length of one track, each repaired by every method."""
    reference = Audio(track.samples, track.sr, "FLOAT", "WAV")
    for gap_s in config.gaps_s:
        base = {
            "material": track.material,
            "track": track.name,
            "track_s": round(track.duration_s, 3),
            "sr": track.sr,
            "gap_s": gap_s,
        }
        try:
            gap = gap_position(track.samples.shape[1], track.sr, gap_s)
        except InputError as e:
            for spec in config.methods:
                record.uncut({**base, "method": spec.name, "error": error_text(e)}, spec, gap_s)
            log(f"{track.name} gap {gap_s:g} s: {e}")
            continue
        damaged = _cut(track, gap)
        base.update(
            gap_start_s=round(gap.start_s(track.sr), 4),
            gap_end_s=round(gap.end_s(track.sr), 4),
        )
        cand, cand_error = _rank1(damaged, gap)
        if cand is not None:
            base.update(
                cand_start_s=round(cand.start_s, 4),
                cand_cost=round(float(cand.cost), 5),
                cand_score=round(float(cand.score), 5),
            )
        for spec in config.methods:
            check_cancel(cancel)
            earlier = kept.get((track.name, float(gap_s), spec.name))
            if earlier is not None and earlier.get("cand_cost") == base.get("cand_cost", ""):
                record.kept(earlier, spec, gap_s)  # same gap, candidate and settings: it stands
                continue
            row, took_s = _repair_row(base, reference, damaged, gap, spec, config, cand, cand_error)
            record.ran(row, spec, gap_s, took_s)


def _cut(track: Track, gap: Gap) -> Audio:
    """The track with the gap's samples set to zero."""
    damaged_x = track.samples.copy()
    damaged_x[:, gap.start_sample : gap.end_sample] = 0.0
    return Audio(damaged_x, track.sr, "FLOAT", "WAV")


def _rank1(damaged: Audio, gap: Gap) -> tuple[Any, str]:
    """The search's rank-1 candidate (or None) and, when the search failed, why."""
    try:
        return _candidate(damaged, gap), ""
    except (CancelledError, KeyboardInterrupt):
        raise
    except Exception as e:  # recorded on the rows of the methods that need it
        return None, error_text(e)


def _repair_row(
    base: dict[str, Any],
    reference: Audio,
    damaged: Audio,
    gap: Gap,
    spec: MethodSpec,
    config: BenchConfig,
    cand: Any,
    cand_error: str,
) -> tuple[dict[str, Any], float]:
    """One method's row for one gap and the seconds it took; a failed repair is an error row."""
    row = {**base, "method": spec.name}
    t_case = time.perf_counter()
    try:
        row.update(run_case(reference, damaged, gap, spec, config, cand))
    except (CancelledError, KeyboardInterrupt):
        raise
    except Exception as e:  # a failed repair is a result, not a crash
        row["error"] = error_text(e)
        if cand_error and spec.uses_candidate:
            row["error"] = cand_error
    return row, time.perf_counter() - t_case


def _result(
    config: BenchConfig,
    record: _Recorder,
    materials: list[MaterialInfo],
    csv_path: Path,
    started: str,
    t_start: float,
    complete: bool,
    kept: Kept,
) -> BenchResult:
    """What the run did (also when it stopped early); bins the candidates of its rows."""
    rows = record.rows
    bin_cuts = assign_bins(rows)
    return BenchResult(
        config=config,
        rows=rows,
        materials=materials,
        paths={"csv": csv_path},
        seconds=time.perf_counter() - record.t0,
        estimate_s=record.plan.estimate["total"],
        started=started,
        prepare_s=record.t0 - t_start,
        complete=complete,
        devices=record.devices,
        bin_cuts=bin_cuts,
        kept=sum(1 for r in rows if any(r is k for k in kept.values())),
    )


def _write_report(result: BenchResult, out: Path, prog: str) -> None:
    """The CSV again (with the bins), the plots and ``quality.md``; nothing when no row finished."""
    if not result.rows:
        return
    rewrite_csv(result.paths["csv"], result.rows)
    result.paths.update(write_plots(result.rows, result.config, out))
    md = out / "quality.md"
    md.write_text(markdown_report(result, command_line(result.config, prog)), encoding="utf-8")
    result.paths["md"] = md


def _progress_line(done: int, total: int, row: dict, elapsed: float, eta: float) -> str:
    head = f"[{done:>{len(str(total))}}/{total}] {row['track']} gap {row['gap_s']:g} s  {row['method']:<12}"
    if row.get("error"):
        body = f"ERROR {row['error']}"
    else:
        body = (
            f"LSD {row['lsd_db']:5.2f} dB  seam {row['seam']:5.2f}  SNR {row['snr_db']:6.2f} dB  "
            f"{row['seconds']:6.1f} s"
        )
    return f"{head} {body}  (elapsed {format_seconds(elapsed)}, ETA {format_seconds(eta)})"
