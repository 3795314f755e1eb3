"""The repair checks shared by the app and the CLI (session/checks.py): seam grade, null test."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from simdps_studio.core.types import Audio, Gap
from simdps_studio.session import checks, render
from simdps_studio.session.checks import (
    VerifiedRepair,
    null_test_near,
    repair_and_verify,
    seam_check,
    seam_of,
    seam_ratio_db,
)
from simdps_studio.session.engines import RepairRequest
from simdps_studio.session.repair import Repair

SR = 22050


@pytest.fixture
def audio(piano) -> Audio:
    return Audio.from_float(piano(SR, 4.0, channels=2), SR, subtype="PCM_16")


def test_seam_check_tells_a_click_from_a_smooth_seam():
    sr = 44100
    t = np.arange(sr) / sr
    smooth = (0.3 * np.sin(2 * np.pi * 220 * t))[None].astype(np.float32)
    assert seam_ratio_db(smooth, sr // 2) < 3
    noisy = smooth + 0.05 * np.random.default_rng(0).standard_normal(smooth.shape)
    assert abs(seam_ratio_db(noisy, sr // 2)) < 3
    assert seam_check(smooth, [(sr // 2, sr // 2 + 1000)])[0] == "ok"
    clicked = smooth.copy()
    clicked[:, sr // 2 :] += 0.2  # a step at the seam
    grade, db, _ = seam_check(clicked, [(sr // 2, sr // 2 + 1000)])
    assert grade == "bad" and db > 20


def test_a_kink_far_below_the_music_is_not_called_a_click():
    sr = 44100
    t = np.arange(sr) / sr
    tone = 0.3 * np.sin(2 * np.pi * 220 * t)[None]  # clean as a synthetic 24-bit file
    kinked = tone.copy()
    kinked[:, sr // 2 :] += 1e-5 * np.arange(sr - sr // 2)  # a slope change 70 dB down
    # Its whitened residual stands far above the (near-zero) floor of the clean tone, but
    # what the seam adds lies under the music's own level by more than SEAM_MASKED_DB.
    assert seam_check(kinked, [(sr // 2, sr)])[0] == "ok"
    stepped = tone.copy()
    stepped[:, sr // 2 :] += 0.01  # a step 30 dB down is a click on a clean tone
    assert seam_check(stepped, [(sr // 2, sr)])[0] == "bad"


def test_render_range_is_the_renders_stretch(audio):
    a = Repair(Gap(10_000, 10_500), "lpc", 9_900, np.full((2, 700), 0.25, np.float32))
    b = Repair(Gap(30_000, 31_000), "lpc", 30_000, np.full((2, 1000), -0.5, np.float32))
    whole = render.render(audio, [a, b]).samples
    for lo, hi in ((0, audio.n_samples), (10_200, 30_500), (9_000, 10_000), (20_000, 25_000)):
        np.testing.assert_array_equal(render.render_range(audio, [a, b], lo, hi), whole[:, lo:hi])


def test_null_test_near_fails_when_a_render_writes_past_the_span(audio, monkeypatch):
    r = Repair(Gap(20_000, 21_000), "lpc", 20_000, np.zeros((2, 1000), np.float32))
    other = Repair(Gap(21_500, 22_000), "lpc", 21_500, np.zeros((2, 500), np.float32))
    assert null_test_near(audio, [other, r], r)
    real = render.render_range

    def sloppy(audio, repairs, lo, hi):  # one sample too many after each span
        out = real(audio, repairs, lo, hi)
        for rep in repairs:
            out[:, rep.span_end_sample - lo] = 0
        return out

    monkeypatch.setattr(render, "render_range", sloppy)
    assert not null_test_near(audio, [other, r], r)


def test_null_test_near_reads_only_around_the_span(audio, monkeypatch):
    seen = []
    real = render.render_range
    monkeypatch.setattr(
        render,
        "render_range",
        lambda a, reps, lo, hi: seen.append((lo, hi)) or real(a, reps, lo, hi),
    )
    r = Repair(Gap(40_000, 41_000), "lpc", 40_000, np.zeros((2, 1000), np.float32))
    assert null_test_near(audio, [r], r)
    pad = round(checks.NULL_TEST_PAD_S * SR)
    assert seen == [(40_000 - pad, 41_000 + pad)]


def test_repair_and_verify_grades_every_take_and_null_tests_the_first(audio):
    gap = Gap(SR, SR + 441)
    other = Gap(3 * SR, 3 * SR + 441)
    earlier = Repair(other, "lpc", other.start_sample, np.zeros((2, 441), np.float32))
    progress = []
    made = repair_and_verify(
        audio,
        gap,
        RepairRequest(method="lpc"),
        other_gaps=[other],
        others=[earlier],
        progress=lambda f, m="": progress.append((f, m)),
    )
    assert isinstance(made, VerifiedRepair)
    assert len(made.repairs) == len(made.seams) == 1 and made.null_ok is True
    assert made.seams[0] == seam_of(audio, made.repairs[0])
    assert made.seams[0].grade in ("ok", "warn", "bad") and np.isfinite(made.seams[0].db)
    assert progress[-1] == (0.97, "null test")


def test_a_step_in_a_fill_grades_bad(audio):
    gap = Gap.from_seconds(1.1, 1.2, SR)  # between note onsets (every 0.25 s)
    clean = audio.to_float(gap.start_sample, gap.end_sample)
    good = seam_of(audio, Repair(gap, "lpc", gap.start_sample, clean))
    stepped = seam_of(audio, Repair(gap, "lpc", gap.start_sample, clean + 0.3))
    assert good.grade == "ok" and stepped.grade == "bad" and stepped.db > good.db + 20


def test_cli_report_carries_the_seam_grade_of_each_take(tmp_path, piano):
    from simdps_studio.cli import main

    src, out, report = tmp_path / "in.wav", tmp_path / "out.wav", tmp_path / "r.json"
    sf.write(src, piano(SR, 3.0, channels=2).T, SR, subtype="PCM_16")
    argv = ["repair", str(src), "-o", str(out), "--gap", "1.0:1.02", "--gap", "2.0:2.03"]
    assert main([*argv, "--method", "lpc", "--report", str(report)]) == 0
    entries = json.loads(report.read_text())["gaps"]
    assert len(entries) == 2
    from simdps_studio.audio.io import load
    from simdps_studio.session.engines import make_repairs

    source = load(src)
    gaps = [Gap.from_seconds(1.0, 1.02, SR), Gap.from_seconds(2.0, 2.03, SR)]
    for entry, gap in zip(entries, gaps, strict=True):
        others = [g for g in gaps if g != gap]
        repair = make_repairs(source, gap, RepairRequest(method="lpc"), other_gaps=others)[0]
        grade = seam_of(source, repair)  # the figure the app's seam badge shows
        assert entry["seam_grade"] == grade.grade
        assert entry["seam_db"] == pytest.approx(grade.db, abs=1e-9)


def test_level_drop_measures_a_fill_quieter_than_anything_around_it():
    sr = 8000
    t = np.arange(3 * sr) / sr
    x = 0.5 * np.sin(2 * np.pi * 220 * t)
    gap = (sr, 2 * sr)
    assert checks.level_drop_db(x, *gap, sr) == pytest.approx(0.0, abs=0.1)  # the tone itself
    fading = x.copy()
    fading[sr : 2 * sr] *= np.exp(-np.arange(sr) / (0.05 * sr))  # to near-silence
    assert checks.level_drop_db(fading, *gap, sr) > 60
    # A rest in the music around (-20 dB) makes a fill at -15 dB no alarm.
    rest = x.copy()
    rest[int(0.4 * sr) : int(0.6 * sr)] *= 0.1
    rest[sr : 2 * sr] *= 10 ** (-15 / 20)
    assert checks.level_drop_db(rest, *gap, sr) == 0.0
    # No context with sound: nothing to compare with.
    silent = np.zeros_like(x)
    silent[sr : 2 * sr] = x[sr : 2 * sr] * 1e-3
    assert checks.level_drop_db(silent, *gap, sr) == 0.0


def test_an_lpc_fill_that_fades_is_not_graded_smooth(audio):
    from simdps_studio.session.engines import make_repairs

    gap = Gap.from_seconds(2.0, 3.0, SR)  # a second: the LPC fill dies away
    repair = make_repairs(audio, gap, RepairRequest(method="lpc"))[0]
    a, b = repair.span_start_sample - 4096, repair.span_end_sample + 4096
    x = audio.to_float(a, b)
    x[:, repair.span_start_sample - a : repair.span_end_sample - a] = repair.fill
    seams_only = seam_check(x, [(repair.span_start_sample, repair.span_end_sample)], offset=a)
    assert seams_only.grade == "ok"  # the seams are smooth: what the badge said before
    graded = seam_of(audio, repair)
    assert graded.grade == "bad" and graded.level_drop_db > checks.LEVEL_BAD_DB
    assert graded.db == pytest.approx(seams_only.db)
    # The source itself in a gap between onsets: smooth and at the music's level.
    gap = Gap.from_seconds(2.1, 2.85, SR)
    clean = audio.to_float(gap.start_sample, gap.end_sample)
    graded = seam_of(audio, Repair(gap, "lpc", gap.start_sample, clean))
    assert graded.grade == "ok" and graded.level_drop_db < 1.0
