"""Session document: gaps, repairs, undo/redo, project file, render and export."""

from __future__ import annotations

import dataclasses
import itertools
import json

import numpy as np
import pytest
import soundfile as sf

from simdps_studio.core.errors import InputError, ProjectError
from simdps_studio.core.types import Gap
from simdps_studio.session import Repair, Session
from simdps_studio.session.project import load_project, project_path_for, save_project
from simdps_studio.session.render import export, null_test, render, repaired_spans
from simdps_studio.session.repair import RepairInfo

SR = 44100


@pytest.fixture
def wav(tmp_path, piano):
    path = tmp_path / "song.wav"
    sf.write(path, piano(SR, 3.0, channels=2).T, SR, subtype="PCM_24")
    return path


def _fill_repair(gap: Gap, channels: int = 2, margin: int = 0, value: float = 0.1) -> Repair:
    n = gap.length + 2 * margin
    fill = np.full((channels, n), value, dtype=np.float32)
    return Repair(gap, "lpc", gap.start_sample - margin, fill, {"seed": 3})


def test_gaps_are_validated(wav):
    s = Session.open(wav)
    s.add_gap(Gap(1000, 2000))
    with pytest.raises(InputError, match="overlap"):
        s.add_gap(Gap(1500, 2500))
    with pytest.raises(InputError, match="outside"):
        s.add_gap(Gap(s.audio.n_samples - 10, s.audio.n_samples + 10))
    with pytest.raises(InputError, match="reversed"):
        s.add_gap(Gap(5000, 4000))
    with pytest.raises(InputError, match="shorter"):
        s.add_gap(Gap(9000, 9010))
    assert s.gaps == (Gap(1000, 2000),)


def test_add_gaps_keeps_the_valid_ones_in_one_undo_step(wav):
    s = Session.open(wav)
    s.add_gap(Gap(1000, 2000))
    added = s.add_gaps([Gap(1500, 2500), Gap(5000, 6000), Gap(5500, 7000), Gap(9000, 9010)])
    assert added == [Gap(5000, 6000)]  # overlapping and too short ones are skipped
    assert s.gaps == (Gap(1000, 2000), Gap(5000, 6000))
    assert s.undo() and s.gaps == (Gap(1000, 2000),)
    depth = len(s.undo_stack)
    assert s.add_gaps([Gap(1500, 2500)]) == [] and len(s.undo_stack) == depth  # no empty step


def test_undo_redo_covers_every_edit(wav):
    s = Session.open(wav)
    g = s.add_gap(Gap(10_000, 20_000))
    r = _fill_repair(g)
    s.set_repair(r)
    s.set_repair_enabled(g, False)
    g2 = s.move_gap(g, Gap(11_000, 21_000))
    assert s.repair_for(g2) is None
    history = []
    while s.undo():
        history.append((s.gaps, tuple(x.enabled for x in s.repairs)))
    assert history == [
        ((g,), (False,)),
        ((g,), (True,)),
        ((g,), ()),
        ((), ()),
    ]
    assert not s.undo()
    for _ in range(4):
        assert s.redo()
    assert s.gaps == (g2,) and s.repairs == ()
    assert not s.redo()


def test_new_edit_clears_redo(wav):
    s = Session.open(wav)
    s.add_gap(Gap(1000, 2000))
    s.undo()
    assert s.can_redo
    s.add_gap(Gap(3000, 4000))
    assert not s.can_redo


def test_render_keeps_outside_samples_bit_identical(wav):
    s = Session.open(wav)
    g = s.add_gap(Gap(44_100, 66_150))
    r = _fill_repair(g, margin=441)
    s.set_repair(r)
    out = render(s.audio, s.repairs)
    spans = repaired_spans(s.repairs)
    assert spans == [(44_100 - 441, 66_150 + 441)]
    assert null_test(s.audio, out, spans)
    assert not null_test(s.audio, out, [])  # the span did change
    inside = out.to_float(*spans[0])
    assert np.allclose(inside, 0.1, atol=2 / 2**23)
    s.set_repair_enabled(g, False)  # bypassed: identical to the source everywhere
    assert np.array_equal(render(s.audio, s.repairs).samples, s.audio.samples)


def test_project_round_trip_exact(wav):
    s = Session.open(wav)
    g1 = s.add_gap(Gap(10_000, 20_000))
    g2 = s.add_gap(Gap(50_000, 52_000))
    rng = np.random.default_rng(0)
    r1 = Repair(
        g1,
        "sim",
        10_000 - 441,
        rng.standard_normal((2, 10_882)).astype(np.float32),
        {"candidate": {"start_sample": 90_000}, "omega": 0.15},
    )
    s.set_repair(r1)
    s.set_repair(_fill_repair(g2))
    s.undo()  # the redo stack must survive too
    path = save_project(s)
    assert path == project_path_for(wav) and path.name == "song.wav.simdps.json"
    t = load_project(path)
    assert t.gaps == s.gaps
    assert [x.to_json() for x in t.repairs] == [x.to_json() for x in s.repairs]
    assert np.array_equal(t.repairs[0].fill, r1.fill)
    assert len(t.undo_stack) == len(s.undo_stack) and len(t.redo_stack) == 1
    assert t.redo()
    assert t.repair_for(g2) is not None
    assert np.array_equal(t.audio.samples, s.audio.samples)


def test_project_refuses_changed_source(wav):
    s = Session.open(wav)
    s.add_gap(Gap(1000, 2000))
    path = save_project(s)
    data, sr = sf.read(wav, dtype="int32")
    data[0, 0] ^= 1 << 8
    sf.write(wav, data, sr, subtype="PCM_24")
    with pytest.raises(ProjectError, match="changed since the project was saved"):
        load_project(path)


def test_a_copied_or_renamed_recording_keeps_its_project(wav, tmp_path):
    import shutil

    s = Session.open(wav)
    s.add_gap(Gap(1000, 2000))
    project = save_project(s)
    # A copy with its project beside it: the copy is the source, so saving writes the copy's
    # project and leaves the original's alone.
    copy = tmp_path / "song copy.wav"
    shutil.copyfile(wav, copy)
    shutil.copyfile(project, project_path_for(copy))
    t = load_project(project_path_for(copy), source_path=copy)
    assert t.source_path == copy.resolve() and t.gaps == (Gap(1000, 2000),)
    t.add_gap(Gap(5000, 6000))
    assert save_project(t) == project_path_for(copy)
    assert load_project(project).gaps == (Gap(1000, 2000),)
    # A copy that differs is refused as a changed source is.
    data, sr = sf.read(copy, dtype="int32")
    data[0, 0] ^= 1 << 8
    sf.write(copy, data, sr, subtype="PCM_24")
    with pytest.raises(ProjectError, match="changed since"):
        load_project(project_path_for(copy), source_path=copy)
    # Both renamed together: the project opened by itself finds the recording it is named after.
    renamed = tmp_path / "renamed.wav"
    wav.rename(renamed)
    project.rename(project_path_for(renamed))
    assert load_project(project_path_for(renamed)).source_path == renamed.resolve()


def test_project_refuses_corrupt_file(tmp_path, wav):
    bad = tmp_path / "x.simdps.json"
    bad.write_text("{not json")
    with pytest.raises(ProjectError, match="cannot read project"):
        load_project(bad)
    bad.write_text(json.dumps({"hello": 1}))
    with pytest.raises(ProjectError, match="not a SimDPS Studio project"):
        load_project(bad)


def test_export_refuses_source_and_writes_provenance(tmp_path, wav):
    s = Session.open(wav)
    g = s.add_gap(Gap(20_000, 30_000))
    s.set_repair(_fill_repair(g))
    with pytest.raises(InputError, match="overwrite the source"):
        export(s, wav)
    out = tmp_path / "out.wav"
    record = export(s, out)
    assert record["null_test_outside_spans"] is True
    side = json.loads((tmp_path / "out.wav.provenance.json").read_text())
    assert side["repairs"][0]["method"] == "lpc" and side["repairs"][0]["seed"] == 3
    back, sr = sf.read(out, dtype="int32")
    src, _ = sf.read(wav, dtype="int32")
    assert sr == SR and sf.info(out).subtype == "PCM_24"
    outside = np.ones(len(src), bool)
    outside[20_000:30_000] = False
    assert np.array_equal(back[outside], src[outside])
    from simdps_studio.audio.io import read_cues

    assert [c[0] for c in read_cues(out)] == [20_000, 30_000]


def test_export_to_flac_from_float_source(tmp_path, piano):
    src = tmp_path / "f.wav"
    sf.write(src, piano(SR, 1.0).T, SR, subtype="FLOAT")
    s = Session.open(src)
    export(s, tmp_path / "f.flac")
    assert sf.info(tmp_path / "f.flac").subtype == "PCM_24"


def test_converting_export_makes_no_null_test_claim(tmp_path, piano):
    src = tmp_path / "f.wav"
    sf.write(src, piano(SR, 1.0).T, SR, subtype="FLOAT")
    s = Session.open(src)
    record = export(s, tmp_path / "f16.wav", subtype="PCM_16")
    assert record["null_test_outside_spans"] is None
    assert record["output_format"] == ["WAV", "PCM_16"]


def test_auto_picks_lpc_below_50_ms_at_every_rate(monkeypatch):
    from simdps_studio.core.types import Gap
    from simdps_studio.session import engines

    monkeypatch.setattr(engines, "model_installed", lambda name: False)
    auto = engines.RepairRequest(method="auto")
    for sr in (8000, 22050, 44100, 48000, 96000):
        at_50ms = Gap.from_seconds(1.0, 1.05, sr)  # 1102 samples at 22.05 kHz, 49.98 ms
        assert engines.resolve_method(auto, at_50ms, sr) == "sim", sr
        assert engines.resolve_method(auto, Gap.from_seconds(1.0, 1.049, sr), sr) == "lpc", sr


def test_auto_omega_follows_close_matches_and_relaxes_for_poor_ones():
    from types import SimpleNamespace

    from simdps_studio.session.engines import (
        AUTO_OMEGA_POINTS,
        OMEGA_PRESETS,
        auto_omega,
        resolve_omega,
    )

    strict, relaxed, copy = (OMEGA_PRESETS[k] for k in ("strict", "relaxed", "copy"))
    assert auto_omega(0.0) == pytest.approx(relaxed)
    assert auto_omega(0.3) == pytest.approx(strict)
    assert auto_omega(0.8) == pytest.approx(copy) and auto_omega(1.0) == pytest.approx(copy)
    assert auto_omega(0.15) == pytest.approx((strict + relaxed) / 2)
    assert auto_omega(0.55) == pytest.approx((strict + copy) / 2)
    assert auto_omega(-0.2) == pytest.approx(relaxed)  # out-of-range scores are clamped
    for score, weight in AUTO_OMEGA_POINTS:
        assert auto_omega(score) == pytest.approx(weight)
    weights = [auto_omega(s) for s in np.linspace(0, 1, 21)]
    assert np.all(np.diff(weights) >= 0)  # never less strict for a better match
    assert resolve_omega("auto", SimpleNamespace(score=0.9)) == pytest.approx(copy)
    assert resolve_omega("auto", SimpleNamespace(score=0.0)) == pytest.approx(relaxed)
    assert resolve_omega("copy", None) == copy
    assert resolve_omega("relaxed", None) == relaxed


@pytest.mark.parametrize("method", ["lpc", "sim", "dps"])
def test_a_neighbouring_gap_is_never_read_as_context(method, piano):
    from simdps_studio.core.types import Audio, Gap, neighbour_edges
    from simdps_studio.session import engines

    sr = 22050  # the tiny model's rate: no resampling, so the fills must be equal exactly
    x = piano(sr, 8.0, channels=1)
    x[:, sr : 3 * sr] = x[:, 3 * sr + sr // 2 : 5 * sr + sr // 2]  # something for Sim to find
    gap = Gap(4 * sr, 4 * sr + 2205)
    request = engines.RepairRequest(
        method=method, model="piano-tiny", draft=True, steps=3, omega=0.15
    )
    # Neighbours 40 ms after and before the gap, and one just outside the model's window.
    for near in (
        Gap(4 * sr + 3087, 4 * sr + 5292),
        Gap(4 * sr - 5292, 4 * sr - 882),
        Gap(sr, 3 * sr),
    ):
        damaged = x.copy()
        damaged[:, near.start_sample : near.end_sample] = 0.0  # a dropout there
        fills = [
            engines.make_repairs(Audio(y, sr), gap, request, other_gaps=[near])[0].fill
            for y in (x, damaged)
        ]
        np.testing.assert_allclose(fills[1], fills[0], atol=1e-6, err_msg=str(near))
    # A gap outside the repair's reach changes nothing: the fill is the one made without it.
    # (Not for Sim: the other gap also takes candidate positions away, as it should.)
    if method != "sim":
        alone = engines.make_repairs(Audio(x, sr), gap, request)[0].fill
        np.testing.assert_allclose(fills[0], alone, atol=1e-6)
    assert neighbour_edges(gap, [Gap(sr, 3 * sr)], x.shape[1]) == (3 * sr, x.shape[1])


def test_sim_margins_never_reach_a_neighbouring_gap():
    from simdps_studio.core.types import Audio, Gap
    from simdps_studio.session import engines
    from simdps_studio.session.render import render

    sr = 22050
    rng = np.random.default_rng(11)
    x = (0.1 * rng.standard_normal((1, 8 * sr))).astype(np.float32)
    x[:, sr : 3 * sr] = x[:, 5 * sr : 7 * sr]  # something to find
    audio = Audio(x, sr)
    a, b = Gap(2 * sr, 2 * sr + 2205), Gap(2 * sr + 2205 + 50, 2 * sr + 4410)  # 50 samples apart
    c = Gap(b.end_sample, b.end_sample + 2205)  # adjacent to b
    assert engines.margin_bounds(b, [a, c], audio.n_samples) == (b.start_sample - 25, b.end_sample)
    request = engines.RepairRequest(method="sim")
    repairs = [
        engines.make_repairs(audio, g, request, other_gaps=[o for o in (a, b, c) if o != g])[0]
        for g in (a, b, c)
    ]
    spans = sorted((r.span_start_sample, r.span_end_sample) for r in repairs)
    assert all(s1 <= s0 for (_, s1), (s0, _) in itertools.pairwise(spans))  # no overlaps
    assert repairs[0].span_end_sample == a.end_sample + 25
    assert (
        repairs[1].span_end_sample == b.end_sample == repairs[2].span_start_sample == c.start_sample
    )
    # So every repair's own fill is what the render holds over its span, whatever the order.
    for order in (repairs, repairs[::-1]):
        y = render(audio, order).samples  # float32 source: the fills are written as they are
        for r in repairs:
            assert np.array_equal(y[:, r.span_start_sample : r.span_end_sample], r.fill)


def test_saving_keeps_a_project_that_belongs_to_other_audio(wav, piano):
    from simdps_studio.session.project import keep_foreign_project

    s = Session.open(wav)
    for g in (Gap(1000, 2000), Gap(5000, 6000), Gap(9000, 9500)):
        s.add_gap(g)
    path = save_project(s)
    kept = []
    assert save_project(s, on_kept=kept.append) == path and not kept  # its own: replaced
    assert not path.with_name(path.name + ".bak").exists()
    old_text = path.read_text()
    # The recording changes (re-rendered, edited elsewhere): its project can no longer be used.
    sf.write(wav, piano(SR, 3.0, channels=2, seed=1).T, SR, subtype="PCM_24")
    with pytest.raises(ProjectError):
        load_project(path)
    t = Session.open(wav)
    t.add_gap(Gap(3000, 4000))
    kept = []
    assert save_project(t, on_kept=kept.append) == path
    backup = path.with_name(path.name + ".bak")
    assert kept == [backup]
    assert backup.read_text() == old_text  # the three gaps, the fills beside them
    assert path.with_name("song.wav.simdps.npz.bak").is_file()
    assert list(load_project(path).gaps) == [Gap(3000, 4000)]
    # A second change keeps both earlier projects; an unreadable file is kept too.
    path.write_text("{ not json")
    assert keep_foreign_project(path, t.source_sha256) == path.with_name(path.name + ".bak1")
    assert keep_foreign_project(path, t.source_sha256) is None  # nothing left to move


def test_exports_never_go_over_a_project_file(wav, tmp_path):
    from simdps_studio.session.render import check_output_path

    for name in ("song.wav.simdps.json", "song.wav.simdps.npz", "other.simdps.json"):
        with pytest.raises(InputError, match="project file"):
            check_output_path(tmp_path / name, wav)
    (tmp_path / "a file").write_text("x")
    with pytest.raises(InputError, match="is a file, not a folder"):
        check_output_path(tmp_path / "a file" / "o.wav", wav)


@pytest.mark.parametrize("method", ["lpc", "sim"])
def test_a_repair_reports_progress_to_the_end(wav, method):
    from simdps_studio.session.engines import RepairRequest, make_repairs

    s = Session.open(wav)
    seen = []
    make_repairs(
        s.audio,
        Gap(SR, SR + 4410),
        RepairRequest(method=method),
        progress=lambda f, m="": seen.append(f),
    )
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)


# ----------------------------------------------------------------------------- diffusion margins


def test_diffusion_margins_stop_halfway_to_neighbours_and_at_the_track_end(piano):
    from simdps_studio.core.types import Audio
    from simdps_studio.session import engines
    from simdps_studio.session.render import render

    sr = 22050  # the tiny model's rate
    x = piano(sr, 4.0, channels=1)
    audio = Audio(x, sr)
    n = audio.n_samples
    a, b = Gap(sr, sr + 2205), Gap(sr + 2205 + 300, sr + 4410)  # 300 samples apart
    c = Gap(b.end_sample, b.end_sample + 2205)  # adjacent to b
    d = Gap(n - 2205 - 150, n - 150)  # 150 samples before the track's end
    e = Gap(2 * sr, 2 * sr + 2205)
    f = Gap(e.end_sample + 100, e.end_sample + 2305)  # 100 samples: 50 each, under the taper
    gaps = (a, b, c, d, e, f)
    request = engines.RepairRequest(
        method="dps", model="piano-tiny", draft=True, steps=2, margin_ms=10
    )
    m = 220  # 10 ms
    repairs = [
        engines.make_repairs(audio, g, request, other_gaps=[o for o in gaps if o != g])[0]
        for g in gaps
    ]
    assert [(r.margin_before, r.margin_after) for r in repairs] == [
        (m, 150),
        (150, 0),
        (0, m),
        (m, 150),
        (m, 0),  # a margin shorter than the 5-ms inside taper is dropped
        (0, m),
    ]
    assert all(r.params["margin_ms"] == 10 for r in repairs)
    spans = sorted((r.span_start_sample, r.span_end_sample) for r in repairs)
    assert all(s1 <= s0 for (_, s1), (s0, _) in itertools.pairwise(spans))  # no overlaps
    y = render(audio, repairs)
    assert null_test(audio, y, repaired_spans(repairs))
    outside = np.ones(n, bool)
    for s0, s1 in spans:
        outside[s0:s1] = False
    assert np.array_equal(y.samples[:, outside], x[:, outside])
    # Margin 0: the span is the gap, as before margins existed.
    plain = engines.make_repairs(
        audio, a, dataclasses.replace(request, margin_ms=0), other_gaps=[b, c, d, e, f]
    )[0]
    assert (plain.span_start_sample, plain.span_end_sample) == (a.start_sample, a.end_sample)


def test_a_margin_is_saved_exported_and_reopened_with_its_span(tmp_path, piano):
    from simdps_studio.audio.io import read_cues
    from simdps_studio.session import engines

    sr = 22050
    src = tmp_path / "m.wav"
    sf.write(src, piano(sr, 3.0, channels=1).T, sr, subtype="PCM_16")
    s = Session.open(src)
    gap = s.add_gap(Gap(30_000, 32_205))
    request = engines.RepairRequest(
        method="dps", model="piano-tiny", draft=True, steps=2, margin_ms=5
    )
    repair = engines.make_repairs(s.audio, gap, request)[0]
    span = [gap.start_sample - 110, gap.end_sample + 110]
    assert [repair.span_start_sample, repair.span_end_sample] == span
    s.set_repair(repair)
    # An old-style diffusion repair (no margin, no margin_ms) beside it.
    old_gap = s.add_gap(Gap(50_000, 51_000))
    old = Repair(old_gap, "dps", old_gap.start_sample, np.zeros((1, 1000), np.float32), {"seed": 0})
    s.set_repair(old)
    path = save_project(s)
    stored = json.loads(path.read_text())["state"]["repairs"]
    assert [r["span"] for r in stored] == [span, [50_000, 51_000]]
    back = load_project(path)
    again = back.state.repair_for(gap)
    assert [again.span_start_sample, again.span_end_sample] == span
    assert np.array_equal(again.fill, repair.fill) and again.params["margin_ms"] == 5
    kept = back.state.repair_for(old_gap)
    assert (kept.span_start_sample, kept.span_end_sample, kept.params) == (
        50_000,
        51_000,
        {"seed": 0},
    )
    out = tmp_path / "out.wav"
    record = export(back, out)
    assert record["null_test_outside_spans"] is True
    first = record["repairs"][0]
    assert first["span_samples"] == span and first["margin_samples"] == [110, 110]
    assert [c[0] for c in read_cues(out)] == [*span, 50_000, 51_000]
    y, _ = sf.read(out, dtype="int16", always_2d=True)
    x, _ = sf.read(src, dtype="int16", always_2d=True)
    outside = np.ones(len(x), bool)
    outside[span[0] : span[1]] = False
    outside[50_000:51_000] = False
    assert np.array_equal(y[outside], x[outside])
    assert np.any(y[span[0] : gap.start_sample] != x[span[0] : gap.start_sample])  # faded


# The records the engine writes today (key order as recorded), and one an older version wrote:
# no precision, warm start or margins, a key this version no longer knows, an integer ω.
_RECORDS = [
    {"method_requested": "auto", "seconds": 0.012},
    {
        "method_requested": "sim",
        "candidate": {"start_sample": 90_000, "score": 0.4},
        "seconds": 1.5,
    },
    {"method_requested": "sim", "candidate": {"start_sample": 9}, "preview": True},
    {
        "method_requested": "simdps",
        "candidate": {"source": "guide file"},
        "prior_fit": None,
        "prior_fit_seconds": 0.2,
        "omega_auto": {"from_score": 0.15, "raised_for_poor_fit": False},
        "omega": 0.15,
        "omega_y": 0.25,
        "steps": 35,
        "draft": False,
        "model": "piano-small",
        "device": "CPU (2 threads)",
        "precision": "fp32",
        "precision_reason": "asked for",
        "start_sigma": None,
        "sampling_seconds": 40.1,
        "network_item_calls": 138,
        "margin_ms": 0.0,
        "margin_samples": [0, 0],
        "seed": 7,
        "take": 2,
        "seconds": 41.0,
    },
    {
        "method_requested": "dps",
        "prior_fit": {"loss": 0.3, "reference": 0.25, "ratio": 1.2, "poor": False},
        "omega": 0,
        "steps": 20,
        "draft": True,
        "model": "piano-small",
        "seed": 0,
        "guidance_version": 2,
    },
]


@pytest.mark.parametrize("params", _RECORDS)
def test_a_repair_record_reads_and_writes_back_the_same_json(params):
    info = RepairInfo.from_params(params)
    back = info.to_params()
    assert json.dumps(back) == json.dumps(params)  # same keys, values and order
    assert info.method_requested == params["method_requested"]
    assert info.omega == params.get("omega") and info.seed == params.get("seed")
    assert info.extra == {k: v for k, v in params.items() if k == "guidance_version"}


def test_repair_info_reads_typed_values():
    info = Repair(Gap(10, 20), "simdps", 10, np.zeros((1, 10), np.float32), _RECORDS[3]).info
    assert (info.steps, info.draft, info.take, info.network_item_calls) == (35, False, 2, 138)
    assert info.used_candidate == {"source": "guide file"}
    assert not info.poor_fit and not info.raised_for_poor_fit
    raised = RepairInfo(prior_fit={"poor": True}, omega_auto={"raised_for_poor_fit": True})
    assert raised.poor_fit and raised.raised_for_poor_fit
    assert RepairInfo().to_params() == {} and RepairInfo().used_candidate == {}


def test_an_older_projects_repair_records_load_and_save_unchanged(wav):
    s = Session.open(wav)
    rng = np.random.default_rng(1)
    for k, params in enumerate(_RECORDS[:2] + _RECORDS[3:]):
        gap = s.add_gap(Gap(10_000 + 20_000 * k, 12_000 + 20_000 * k))
        fill = rng.standard_normal((2, 2000)).astype(np.float32)
        s.set_repair(Repair(gap, "dps", gap.start_sample, fill, dict(params)))
    path = save_project(s)
    text = path.read_text()
    back = load_project(path)
    by_gap = {r.gap: r for r in back.repairs}
    old = by_gap[Gap(70_000, 72_000)].info  # the older version's record
    assert (old.steps, old.draft, old.precision, old.start_sigma) == (20, True, None, None)
    assert old.extra == {"guidance_version": 2} and "start_sigma" not in old.nulls
    assert [r.params for r in back.repairs] == [r.params for r in s.repairs]
    path.unlink()
    assert save_project(back).read_text() == text  # written again byte for byte
