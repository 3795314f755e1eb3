"""Quality benchmark (simdps_studio/bench/): a tiny end-to-end run on a synthetic track."""

from __future__ import annotations

import argparse
import csv
import math
import time
from dataclasses import replace

import numpy as np
import pytest
import torch

from simdps_studio.bench import material as bench_material
from simdps_studio.bench import resume as bench_resume
from simdps_studio.bench.cli import add_arguments, config_from_args
from simdps_studio.bench.cli import main as bench_main
from simdps_studio.bench.config import (
    DEFAULT_GAPS_S,
    DEFAULT_METHODS,
    DEFAULT_STEPS,
    QUICK_GAPS_S,
    QUICK_OUT,
    QUICK_STEPS,
    BenchConfig,
    command_line,
    parse_gaps,
    parse_materials,
    parse_method,
    parse_methods,
)
from simdps_studio.bench.estimate import (
    FULL_BUDGET_MIN,
    OVERHEAD_S,
    REFERENCE_CALL_S,
    STEP_S,
    estimate_seconds,
    host_speed_factor,
)
from simdps_studio.bench.material import (
    RENDER_SEED,
    RENDER_SR,
    MaterialInfo,
    Track,
    gap_position,
    prepare_material,
    prepare_real,
    rendered_cache_dir,
    select_rendered,
)
from simdps_studio.bench.report import RESULTS_HEADING, _material_section, refresh_report
from simdps_studio.bench.resume import _code_without_docs, code_fingerprint, run_settings
from simdps_studio.bench.runner import repair_gap, run_benchmark
from simdps_studio.bench.summary import MEAN_CAP, capped_mean, material_fit
from simdps_studio.cli import main as cli_main
from simdps_studio.core.errors import InputError
from simdps_studio.core.types import Audio
from simdps_studio.search.testsignals import plant_repeat
from simdps_studio.session.engines import n_windows

SR = 22050
GAPS = [0.5, 2.0]


@pytest.fixture(scope="module")
def track():
    from conftest import piano_like

    x = piano_like(SR, 24.0, seed=3)
    # The second half repeats the first exactly, 12 s later: every gap has a perfect candidate.
    x = plant_repeat(x, int(1.0 * SR), int(13.0 * SR), int(10.5 * SR))
    return Track("synthetic:planted", "synthetic", x, SR, "piano_like + planted repeat")


def _config(tmp_path, methods, **kw) -> BenchConfig:
    return BenchConfig(
        materials=["synthetic"],
        gaps_s=GAPS,
        methods=parse_methods(methods),
        model="piano-tiny",
        steps=2,
        out_dir=tmp_path,
        **kw,
    )


def ev_val_loss(model: str) -> float:
    from simdps_studio.inpaint.checkpoint import model_info

    return float(model_info(model)["metrics"]["val_loss"])


def _rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_end_to_end_writes_csv_markdown_and_plots(tmp_path, track):
    config = _config(tmp_path, "lpc,sim,draft-0.15")
    info = MaterialInfo("synthetic", [track], "test signal", "n/a")
    lines: list[str] = []
    result = run_benchmark(config, log=lines.append, materials=[info])

    rows = _rows(tmp_path / "quality.csv")
    assert [(r["gap_s"], r["method"]) for r in rows] == [
        (str(g), m) for g in GAPS for m in ("lpc", "sim", "draft-0.15")
    ]
    assert all(r["error"] == "" for r in rows), [r["error"] for r in rows]
    assert all(r["null_ok"] == "True" for r in rows)
    assert {r["cand_same"] for r in rows if r["method"] != "lpc"} == {"True"}
    for r in rows:
        # Each gap sits where the plan says, and the candidate is the planted copy 12 s earlier.
        gap = gap_position(track.samples.shape[1], SR, float(r["gap_s"]))
        assert float(r["gap_start_s"]) == pytest.approx(gap.start_sample / SR, abs=1e-4)
        assert float(r["cand_start_s"]) == pytest.approx(float(r["gap_start_s"]) - 12.0, abs=0.01)
        assert r["cand_bin"] in ("good", "fair", "poor")
        assert float(r["seconds"]) >= 0
        for key in ("lsd_db", "seam", "seam_ref", "chroma_sim", "level_db"):
            assert math.isfinite(float(r[key])), key
        assert not math.isnan(float(r["snr_db"]))  # inf: a fill identical to the original
    by = {(r["gap_s"], r["method"]): r for r in rows}
    for g in map(str, GAPS):
        # Pasting an exact repeat restores the gap (bar the crossfades); LPC cannot.
        assert float(by[(g, "sim")]["snr_db"]) > 15
        assert float(by[(g, "sim")]["lsd_db"]) < float(by[(g, "lpc")]["lsd_db"])
        assert by[(g, "draft-0.15")]["omega"] == "0.15"
        assert by[(g, "draft-0.15")]["draft"] == "True"
        assert by[(g, "sim")]["margin_samples"] != "0"
        # Diffusion rows record the prior's fit to the context (piano-tiny has a validation
        # loss, so a ratio too); the others have none.
        fit = by[(g, "draft-0.15")]
        assert float(fit["prior_fit"]) > 0
        assert float(fit["fit_ratio"]) == pytest.approx(
            float(fit["prior_fit"]) / ev_val_loss("piano-tiny"), abs=2e-3
        )
        assert by[(g, "sim")]["prior_fit"] == by[(g, "lpc")]["fit_ratio"] == ""

    md = (tmp_path / "quality.md").read_text(encoding="utf-8")
    assert "## By gap length" in md and "## By candidate quality" in md
    assert "| sim |" in md and "draft-0.15 vs sim" in md
    assert "`piano-tiny`" in md
    assert (tmp_path / "quality_lsd.png").stat().st_size > 1000
    assert (tmp_path / "quality_seam.png").stat().st_size > 1000
    assert result.complete and len(result.rows) == 6
    assert any("plan: 1 track(s) x 2 gap(s) x 3 method(s)" in line for line in lines)


@pytest.mark.parametrize("name", ["lpc", "sim", "dps", "simdps-0.15", "draft-auto"])
def test_samples_outside_the_repaired_span_equal_the_source(track, name, tmp_path):
    spec = parse_method(name)
    config = _config(tmp_path, name)
    gap = gap_position(track.samples.shape[1], SR, 0.5)
    damaged_x = track.samples.copy()
    damaged_x[:, gap.start_sample : gap.end_sample] = 0.0
    damaged = Audio(damaged_x, SR, "FLOAT", "WAV")
    repair, rendered, seconds = repair_gap(damaged, gap, spec, config)
    outside = np.ones(damaged_x.shape[1], bool)
    outside[repair.span_start_sample : repair.span_end_sample] = False
    assert np.array_equal(rendered.samples[:, outside], damaged_x[:, outside])
    assert not np.array_equal(rendered.samples[:, ~outside], damaged_x[:, ~outside])
    # Sim and the diffusion methods cross-fade outside the gap, LPC does not.
    from simdps_studio.session.engines import DIFFUSION_MARGIN_MS

    ms = {"lpc": 0.0, "sim": 10.0}.get(name, DIFFUSION_MARGIN_MS)
    margin = round(ms / 1000 * SR)
    assert (repair.span_start_sample, repair.span_end_sample) == (
        gap.start_sample - margin,
        gap.end_sample + margin,
    )
    assert seconds >= 0


def test_a_methods_time_leaves_out_the_prior_fit_check(tmp_path, track, monkeypatch):
    # The check runs once per gap (then cached), so the first diffusion method would pay for it.
    from simdps_studio.session import engines

    real = engines.make_repairs

    def slow_fit(audio, gap, request, **kw):
        repairs = real(audio, gap, request, **kw)
        time.sleep(0.3)  # as if measuring the fit had taken 0.3 s
        repairs[0].params["prior_fit_seconds"] = 0.3 + repairs[0].params["prior_fit_seconds"]
        return repairs

    monkeypatch.setattr(engines, "make_repairs", slow_fit)
    gap = gap_position(track.samples.shape[1], SR, 0.5)
    damaged = Audio(track.samples.copy(), SR, "FLOAT", "WAV")
    t0 = time.perf_counter()
    _, _, seconds = repair_gap(
        damaged, gap, parse_method("draft-0.15"), _config(tmp_path, "draft-0.15")
    )
    assert 0 <= seconds < time.perf_counter() - t0 - 0.3


def test_a_failed_repair_is_an_error_row_not_a_crash(tmp_path, track, monkeypatch):
    from simdps_studio.session import engines

    real = engines.make_repairs

    def flaky(audio, gap, request, **kw):
        if request.method == "sim":
            raise RuntimeError("boom")
        return real(audio, gap, request, **kw)

    monkeypatch.setattr(engines, "make_repairs", flaky)
    config = _config(tmp_path, "lpc,sim")
    config.gaps_s = [0.5]
    info = MaterialInfo("synthetic", [track], "test signal", "n/a")
    run_benchmark(config, log=lambda s: None, materials=[info])
    rows = _rows(tmp_path / "quality.csv")
    assert [r["method"] for r in rows] == ["lpc", "sim"]
    assert rows[0]["error"] == "" and rows[1]["error"] == "RuntimeError: boom"
    assert rows[1]["lsd_db"] == ""
    assert "RuntimeError: boom" in (tmp_path / "quality.md").read_text(encoding="utf-8")


def test_parsing_and_quick_defaults():
    assert parse_gaps("0.5, 2") == [0.5, 2.0]
    assert [m.name for m in parse_methods("lpc,simdps-0.040,draft-auto,lpc,simdps-.04")] == [
        "lpc",
        "simdps-0.04",
        "draft-auto",
    ]
    spec = parse_method("simdps-auto")
    assert (spec.engine, spec.omega, spec.draft) == ("simdps", "auto", False)
    for bad in ("wavenet", "simdps-x"):
        with pytest.raises(InputError):
            parse_method(bad)
    with pytest.raises(InputError):
        parse_gaps("0,2")
    with pytest.raises(InputError):
        parse_materials("rendered,vinyl")

    p = argparse.ArgumentParser()
    add_arguments(p)
    quick = config_from_args(p.parse_args(["--quick", "--model", "piano-tiny"]))
    assert quick.gaps_s == list(QUICK_GAPS_S) and quick.steps == QUICK_STEPS
    assert str(quick.out_dir) == QUICK_OUT  # never over a committed full run
    assert all(m.draft for m in quick.methods if m.diffusion)
    # draft-0.15 is simdps-0.15 in draft mode: the quick run does it once.
    assert len(quick.methods) == len(DEFAULT_METHODS) - 1
    full = config_from_args(p.parse_args([]))
    assert full.gaps_s == list(DEFAULT_GAPS_S) and full.steps == DEFAULT_STEPS
    small = {"preset": "small", "segment_length": 81920, "sample_rate": 22050}
    # The full plan (one track per material) fits its budget on the development machine.
    assert estimate_seconds(full, 3, small)["total"] <= FULL_BUDGET_MIN * 60
    assert estimate_seconds(quick, 3, small)["total"] <= 5 * 60
    assert command_line(full).startswith(
        "simdps-studio bench quality --material rendered,real,demo"
    )
    assert full.render_seed == RENDER_SEED and "--render-seed" not in command_line(full)
    selection = config_from_args(p.parse_args(["--render-seed", "202"]))
    assert selection.render_seed == 202
    assert "--render-seed 202" in command_line(selection)
    assert run_settings(selection)["render_seed"] == 202
    assert "render_seed" not in run_settings(full)  # older runs' settings still match
    sampled = config_from_args(p.parse_args(["--render-seed", "202", "--render-piano", "mix"]))
    assert "--render-piano mix" in command_line(sampled)
    assert run_settings(sampled)["render_piano"] == "mix"
    assert "render_piano" not in run_settings(selection)
    assert rendered_cache_dir(202, 1.0, "mix") != rendered_cache_dir(202, 1.0)
    assert rendered_cache_dir().name == f"rendered-seed{RENDER_SEED}-1h-{RENDER_SR}"


def test_precision_and_warm_start_options_reach_the_run_and_its_settings():
    p = argparse.ArgumentParser()
    add_arguments(p)
    default = config_from_args(p.parse_args([]))
    assert (default.precision, default.start_sigma) == ("auto", None)
    cfg = config_from_args(p.parse_args(["--precision", "bf16", "--start-sigma", "0.1"]))
    assert (cfg.precision, cfg.start_sigma) == ("bf16", 0.1)
    assert "--precision bf16 --start-sigma 0.1" in command_line(cfg)
    # A resumed run must not mix precisions or starts: both are run settings.
    settings = run_settings(cfg)
    assert (settings["precision"], settings["start_sigma"]) == ("bf16", 0.1)
    assert settings != run_settings(default)
    assert config_from_args(p.parse_args(["--start-sigma", "1"])).start_sigma is None  # off
    with pytest.raises(InputError, match="--start-sigma"):
        config_from_args(p.parse_args(["--start-sigma", "0"]))


def test_gap_positions_are_fixed_and_keep_context():
    n = int(30 * SR)
    gaps = {g: gap_position(n, SR, g) for g in DEFAULT_GAPS_S}
    assert gaps == {g: gap_position(n, SR, g) for g in DEFAULT_GAPS_S}
    for g, gap in gaps.items():
        assert gap.length == round(g * SR)
        assert gap.start_sample >= 3 * SR and gap.end_sample <= n - 3 * SR
    with pytest.raises(InputError):
        gap_position(int(3 * SR), SR, 4.0)


def test_estimate_counts_windows_steps_and_methods():
    cfg = BenchConfig(gaps_s=[0.5, 4.0], methods=parse_methods("lpc,dps,draft-0.15"))
    small = {"preset": "small", "segment_length": 81920, "sample_rate": 22050}
    est = estimate_seconds(cfg, 2, small)
    assert n_windows(0.5, 3.715) == 1 and n_windows(4.0, 3.715) == 2
    per_track = 3 * cfg.steps * (STEP_S["dps"] + STEP_S["draft"]) + 4 * OVERHEAD_S
    assert est["diffusion"] == pytest.approx(2 * per_track)
    assert est["repairs"] == 2 * 2 * 3


def test_host_speed_factor_times_the_network_only_when_it_samples_on_the_cpu(monkeypatch):
    from simdps_studio.inpaint import precond

    tiny = {"preset": "tiny"}
    no_model = BenchConfig(methods=parse_methods("lpc,sim"), device="cpu")
    assert host_speed_factor(no_model, tiny) == 1.0
    diffusion = BenchConfig(methods=parse_methods("sim,dps"), device="cpu")
    assert host_speed_factor(diffusion, {"preset": "paper"}) == 1.0  # no reference time
    monkeypatch.setattr(precond, "network_call_seconds", lambda preset: 0.15)
    assert host_speed_factor(diffusion, tiny) == pytest.approx(0.15 / REFERENCE_CALL_S["tiny"])


def test_network_call_seconds_leaves_the_random_stream_alone():
    from simdps_studio.inpaint.precond import network_call_seconds

    state = torch.random.get_rng_state()
    seconds = network_call_seconds("tiny", repeats=1)
    assert 0 < seconds < 60
    assert torch.equal(torch.random.get_rng_state(), state)


def test_rendered_selection_uses_only_unseen_pieces():
    files = [
        {"path": "val/0.flac", "split": "val", "category": "chorale", "seconds": 25},
        {"path": "val/1.flac", "split": "val", "category": "folk", "seconds": 12},
        {"path": "train/0.flac", "split": "train", "category": "chorale", "seconds": 30},
        {"path": "train/1.flac", "split": "train", "category": "texture", "seconds": 30},
        {"path": "train/2.flac", "split": "train", "category": "texture", "seconds": 22},
        {"path": "val/2.flac", "split": "val", "category": "texture", "seconds": 40},
    ]
    chosen = [f["path"] for f in select_rendered({"files": files}, 10)]
    assert chosen == ["val/0.flac", "train/1.flac", "val/2.flac", "train/2.flac"]
    assert [f["path"] for f in select_rendered({"files": files}, 1)] == ["val/0.flac"]


def test_cli_bench_quality(tmp_path, capsys):
    out = tmp_path / "bench"
    argv = ["bench", "quality", "--material", "demo", "--methods", "lpc", "--gaps", "0.5"]
    assert cli_main([*argv, "--out", str(out)]) == 0
    rows = _rows(out / "quality.csv")
    assert len(rows) == 1 and rows[0]["method"] == "lpc" and rows[0]["error"] == ""
    assert rows[0]["track"] == "demo:demo_clean" and rows[0]["sr"] == "44100"
    assert "simdps-studio bench quality" in (out / "quality.md").read_text(encoding="utf-8")
    assert cli_main(["bench", "quality", "--methods", "wavenet", "--out", str(out)]) == 2
    assert "error: unknown method" in capsys.readouterr().err
    missing = ["bench", "quality", "--material", "demo", "--model", "no-such-model"]
    assert cli_main([*missing, "--out", str(out)]) == 2


def test_real_material_is_cut_cached_and_explained_when_missing(tmp_path, monkeypatch):
    import soundfile as sf

    from simdps_studio.core.errors import NotAvailableError

    monkeypatch.setenv("SIMDPS_CACHE_DIR", str(tmp_path / "cache"))
    music = tmp_path / "music"
    music.mkdir()
    rng = np.random.default_rng(0)
    stereo = (0.1 * rng.standard_normal((5 * SR, 2))).astype(np.float32)
    # soundfile reads by content: a WAV stands in for the package's MP3.
    sf.write(music / "frontiers.mp3", stereo, SR, format="WAV", subtype="FLOAT")
    monkeypatch.setattr(bench_material, "REAL_DIR", music)
    monkeypatch.setattr(bench_material, "REAL_FILES", ("frontiers.mp3",))
    monkeypatch.setattr(bench_material, "REAL_OFFSETS_S", (1.0,))
    monkeypatch.setattr(bench_material, "REAL_EXCERPT_S", 2.0)
    info = prepare_real(3)
    (track,) = info.tracks
    assert track.samples.shape == (1, 2 * SR) and track.sr == SR
    assert np.allclose(track.samples[0], stereo[SR : 3 * SR].mean(axis=1), atol=1e-7)
    assert "GPL-2+" in info.licence and "asc-music" in info.description

    (music / "frontiers.mp3").unlink()  # the cached excerpt is enough now
    assert np.array_equal(prepare_real(1).tracks[0].samples, track.samples)

    monkeypatch.setattr(bench_material, "REAL_OFFSETS_S", (2.0,))  # not cached, and no package
    with pytest.raises(NotAvailableError, match="sudo apt-get install asc-music"):
        prepare_real(1)
    config = BenchConfig(materials=["real"])
    (skipped,) = prepare_material(config, log=lambda s: None)
    assert skipped.tracks == [] and "`sudo apt-get install asc-music`" in skipped.skipped
    assert "\n" not in skipped.skipped  # one line


def test_no_install_is_still_accepted_and_changes_nothing():
    # The benchmark never installs anything now; older command lines keep working.
    p = argparse.ArgumentParser()
    add_arguments(p)
    assert config_from_args(p.parse_args(["--no-install"])) == config_from_args(p.parse_args([]))


def test_resume_keeps_finished_rows_and_runs_the_rest(tmp_path, track, monkeypatch):
    """An interrupted run continues with --resume: finished repairs are kept, not repeated."""
    from simdps_studio.session import engines

    info = MaterialInfo("synthetic", [track], "test signal", "n/a")
    config = _config(tmp_path, "lpc,sim")
    real = engines.make_repairs
    calls: list[str] = []

    def stop_at_second_sim(audio, gap, request, **kw):
        calls.append(request.method)
        if calls.count("sim") == 2:
            raise KeyboardInterrupt  # Ctrl+C half-way through the run
        return real(audio, gap, request, **kw)

    monkeypatch.setattr(engines, "make_repairs", stop_at_second_sim)
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(config, log=lambda s: None, materials=[info])
    first = _rows(tmp_path / "quality.csv")
    assert [(r["gap_s"], r["method"]) for r in first] == [
        ("0.5", "lpc"),
        ("0.5", "sim"),
        ("2.0", "lpc"),
    ]

    calls.clear()
    monkeypatch.setattr(
        engines, "make_repairs", lambda *a, **kw: calls.append(a[2].method) or real(*a, **kw)
    )
    lines: list[str] = []
    result = run_benchmark(replace(config, resume=True), log=lines.append, materials=[info])
    assert calls == ["sim"]  # only the repair that never finished
    rows = _rows(tmp_path / "quality.csv")
    assert [(r["gap_s"], r["method"]) for r in rows] == [
        (str(g), m) for g in GAPS for m in ("lpc", "sim")
    ]
    for old, new in zip(first, rows):  # kept rows are unchanged
        assert {k: new[k] for k in ("lsd_db", "seam", "seconds")} == {
            k: old[k] for k in ("lsd_db", "seam", "seconds")
        }
    assert result.complete and result.kept == 3
    assert any("resuming: 3 finished repair(s) kept" in line for line in lines)
    assert "resumed: 3 repairs kept" in (tmp_path / "quality.md").read_text(encoding="utf-8")

    # Other settings or other repair code: the earlier rows are not mixed in.
    monkeypatch.setattr(bench_resume, "code_fingerprint", lambda: "changed")
    with pytest.raises(InputError, match="cannot resume"):
        run_benchmark(replace(config, resume=True), log=lambda s: None, materials=[info])
    monkeypatch.undo()
    with pytest.raises(InputError, match="cannot resume"):
        run_benchmark(replace(config, resume=True, steps=3), log=lambda s: None, materials=[info])


def test_code_fingerprint_ignores_docs_but_not_code():
    base = 'def f(x):\n    """Scale x."""\n    return 0.15 * x  # strict\n'
    reworded = 'def f(x):\n    """Scale x by the strict weight (docs/omega.md)."""\n\n    return 0.15 * x\n'
    changed = 'def f(x):\n    """Scale x."""\n    return 0.5 * x  # strict\n'
    undocumented = "def f(x):\n    return 0.15 * x\n"
    assert _code_without_docs(base) == _code_without_docs(reworded)
    assert _code_without_docs(base) == _code_without_docs(undocumented)
    assert _code_without_docs(base) != _code_without_docs(changed)
    # A docstring-only body still parses to a function (a `pass`), unlike an empty one.
    assert "Pass" in _code_without_docs('def g():\n    """Nothing."""\n')
    assert len(code_fingerprint()) == 16


def test_means_count_infinities_as_the_cap_but_never_clip_finite_values():
    # A 200-s repair is 200 s in the tables (it once showed as 100, the SNR cap).
    assert capped_mean([150.0, 250.0]) == pytest.approx(200.0)
    assert capped_mean([math.inf, 0.0]) == pytest.approx(MEAN_CAP / 2)
    assert capped_mean([-math.inf, math.nan, "", 10.0]) == pytest.approx((10.0 - MEAN_CAP) / 2)


def test_refresh_report_rebuilds_the_results_from_the_csv_and_keeps_the_header(tmp_path, track):
    config = _config(tmp_path, "lpc,sim")
    info = MaterialInfo("synthetic", [track], "test signal", "n/a")
    run_benchmark(config, log=lambda s: None, materials=[info])
    md_path, csv_path = tmp_path / "quality.md", tmp_path / "quality.csv"
    header = md_path.read_text(encoding="utf-8").partition(RESULTS_HEADING)[0]
    # Pretend every LPC repair took 250 s: the refreshed tables must say so.
    text = csv_path.read_text(encoding="utf-8").splitlines()
    cols = text[0].split(",")
    i_method, i_seconds = cols.index("method"), cols.index("seconds")
    for k in range(1, len(text)):
        cells = text[k].split(",")
        if cells[i_method] == "lpc":
            cells[i_seconds] = "250.0"
        text[k] = ",".join(cells)
    csv_path.write_text("\n".join(text) + "\n", encoding="utf-8")
    (tmp_path / "quality_lsd.png").unlink()

    assert refresh_report(tmp_path) == md_path
    md = md_path.read_text(encoding="utf-8")
    assert md.startswith(header) and md.count(RESULTS_HEADING) == 1
    overall = md.split(RESULTS_HEADING)[1].split("## By gap length")[0]
    lpc_row = next(line for line in overall.splitlines() if line.startswith("| lpc |"))
    assert lpc_row.endswith("| 250.0 |")
    assert "## By candidate quality" in md
    assert (tmp_path / "quality_lsd.png").stat().st_size > 1000  # the plots are redrawn


def test_refresh_report_needs_a_finished_run(tmp_path, capsys):
    with pytest.raises(InputError, match="no finished run"):
        refresh_report(tmp_path)
    assert bench_main(["--refresh-report", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: no finished run")


def test_by_material_table_only_with_several_materials():
    def row(material, track, method, lsd, seam):
        return {
            "material": material,
            "track": track,
            "gap_s": 2.0,
            "method": method,
            "lsd_db": lsd,
            "seam": seam,
            "error": "",
        }

    rows = [
        row("rendered", "r", "sim", 6.0, 1.4),
        row("rendered", "r", "simdps-auto", 5.0, 1.2),
        row("real", "x", "sim", 4.0, 1.3),
        row("real", "x", "simdps-auto", 8.0, 1.5),
    ]
    lines = _material_section(rows, ["sim", "simdps-auto"])
    assert lines[0] == "## By material"
    assert "| method | rendered (1 gaps) | real (1 gaps) |" in lines
    assert "| simdps-auto | 5.00 / 1.20 | 8.00 / 1.50 |" in lines
    assert _material_section(rows[:2], ["sim", "simdps-auto"]) == []


def test_material_fit_counts_each_gap_once():
    rows = [
        {"material": "real", "track": "a", "gap_s": 0.5, "fit_ratio": 1.9},
        {"material": "real", "track": "a", "gap_s": 0.5, "fit_ratio": 1.9},  # another method
        {"material": "real", "track": "a", "gap_s": 2.0, "fit_ratio": 1.1},
        {"material": "real", "track": "a", "gap_s": 2.0, "fit_ratio": ""},  # Sim: no fit
        {"material": "demo", "track": "d", "gap_s": 0.5, "fit_ratio": ""},
    ]
    fit = material_fit(rows, ["real", "demo"])
    assert fit == {"real": (pytest.approx(1.5), 1)}
    md = "\n".join(
        _material_section(
            [{**r, "lsd_db": 1.0, "seam": 1.0, "method": "sim"} for r in rows], ["sim"]
        )
    )
    assert "| *prior fit* | 1.50 (1/2 poor) | – |" in md
