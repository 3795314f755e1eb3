"""Time estimates for diffusion repairs: call counts, the learned pace, and what a repair reports."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from conftest import piano_like

from simdps_studio.core.types import Audio, Gap
from simdps_studio.session import engines

SR = 22050


def test_network_item_calls_counts_windows_steps_takes_and_channels():
    kw = {"steps": 35, "takes": 1, "items": 1}
    # One 3.715-s window holds up to 60 % of itself: 2 s is one window, 4 s two.
    assert engines.network_item_calls(2.0, 3.715, draft=False, **kw) == 69  # Heun: 2N - 1
    assert engines.network_item_calls(2.0, 3.715, draft=True, **kw) == 35  # Euler: N
    assert engines.network_item_calls(4.0, 3.715, draft=False, **kw) == 2 * 69
    stereo_two_takes = {"steps": 35, "takes": 2, "items": 2}
    assert engines.network_item_calls(0.6, 3.715, draft=False, **stereo_two_takes) == 4 * 69


def test_model_items_counts_what_a_repair_samples():
    stereo = piano_like(SR, 8.0, seed=1, channels=2)
    gap = Gap(4 * SR, int(4.5 * SR))
    assert engines.model_items(Audio(stereo, SR), gap, 3.7) == 2  # mid and side
    dual = np.stack([stereo[0], stereo[0]])
    assert engines.model_items(Audio(dual, SR), gap, 3.7) == 1  # the side is silent
    assert engines.model_items(Audio(stereo[:1], SR), gap, 3.7) == 1
    silent = np.zeros((1, 8 * SR), np.float32)
    assert engines.model_items(Audio(silent, SR), gap, 3.7) == 0
    # Only the audio within one window of the gap counts.
    far = silent.copy()
    far[0, :SR] = stereo[0, :SR]
    assert engines.model_items(Audio(far, SR), gap, 2.0) == 0
    assert engines.model_items(Audio(far, SR), gap, 3.7) == 1


def test_the_window_rule_is_the_pipelines():
    pipeline = pytest.importorskip("simdps_studio.inpaint.pipeline")
    assert engines.CONTEXT_FRACTION == pipeline.CONTEXT_FRACTION
    # The app's full-sampler default is the sampler's own (engines cannot import it: torch).
    assert engines.FULL_STEPS == pipeline.DEFAULT_STEPS
    from simdps_studio.inpaint.sampler import n_denoiser_calls

    for n in (1, 2, 35):  # and the call counts are the sampler's
        assert engines.sampler_calls(n, False) == n_denoiser_calls(n, "heun")
        assert engines.sampler_calls(n, True) == n_denoiser_calls(n, "euler")
    # A gap of exactly 60 % of the window is the longest that fits one window in both.
    n = 81920
    plan = pipeline.plan_windows(n, n + int(0.6 * n), 4 * n, n)
    assert len(plan) == engines.n_windows(0.6 * n / SR, n / SR) == 1
    plan = pipeline.plan_windows(n, n + int(0.6 * n) + 100, 4 * n, n)
    assert len(plan) == engines.n_windows((0.6 * n + 100) / SR, n / SR) == 2


def test_pace_estimates_from_its_own_mode_then_from_the_other():
    pace = engines.RepairPace()
    assert pace.estimate(draft=False, calls=69) is None
    pace.record(draft=False, seconds=138.0, calls=69)  # 2 s per call
    assert pace.estimate(draft=False, calls=276) == pytest.approx(552.0)
    # Draft not measured yet: the gradient pace times the forward-only ratio.
    assert pace.estimate(draft=True, calls=35) == pytest.approx(35 * 2.0 * engines.DRAFT_CALL_RATIO)
    pace.record(draft=True, seconds=35.0, calls=35)
    assert pace.estimate(draft=True, calls=35) == pytest.approx(35.0)
    pace.record(draft=True, seconds=10.0, calls=0)  # nothing to learn from
    assert pace.estimate(draft=True, calls=35) == pytest.approx(35.0)


def test_model_window_s_reads_the_config_without_torch(tmp_path):
    (tmp_path / "config.json").write_text(
        json.dumps({"segment_length": 81920, "sample_rate": 22050})
    )
    assert engines.model_window_s(str(tmp_path)) == pytest.approx(81920 / 22050)
    assert engines.model_window_s(str(tmp_path / "missing")) is None
    (tmp_path / "config.json").write_text("{not json")
    assert engines.model_window_s(str(tmp_path)) is None


@pytest.mark.usefixtures("torch_one_thread")
def test_a_diffusion_repair_reports_the_calls_it_made(tmp_path, monkeypatch):
    checkpoint = pytest.importorskip("simdps_studio.inpaint.checkpoint")
    from simdps_studio.inpaint.fit import FIT_SIGMAS
    from simdps_studio.inpaint.precond import build_denoiser

    folder = tmp_path / "tiny"
    checkpoint.save_model(build_denoiser("tiny"), folder)
    load = checkpoint.load_model
    seen = []

    def counting_load(*args, **kwargs):
        model = load(*args, **kwargs)
        inner = model.forward

        def forward(x, sigma):
            seen.append(int(x.shape[0]))  # items in this call
            return inner(x, sigma)

        model.forward = forward
        return model

    monkeypatch.setattr(checkpoint, "load_model", counting_load)
    audio = Audio(piano_like(SR, 4.0, seed=4, channels=2), SR)
    gap = Gap(int(2.0 * SR), int(2.2 * SR))  # 2 s of context before it: the fit runs
    request = engines.RepairRequest(
        method="dps", steps=3, takes=2, draft=True, model=str(folder), device="cpu"
    )
    repairs = engines.make_repairs(audio, gap, request)
    params = repairs[0].params
    # One call on a batch of the fit's noise levels (not timed), then steps x takes x mid/side.
    fit_calls = len(FIT_SIGMAS)
    assert params["prior_fit"] is not None
    assert seen[0] == fit_calls  # measured before sampling (automatic ω may use it)
    assert params["network_item_calls"] == sum(seen[1:]) == 3 * 2 * 2
    expected = engines.network_item_calls(
        gap.duration_s(SR),
        engines.model_window_s(str(folder)),
        steps=3,
        takes=2,
        items=engines.model_items(audio, gap, engines.model_window_s(str(folder))),
        draft=True,
    )
    assert params["network_item_calls"] == expected
    assert 0 < params["sampling_seconds"] <= params["seconds"]
    assert np.isfinite(repairs[0].fill).all()
    # Without steps, draft mode samples its own default, the full sampler the paper's 35.
    mono = Audio(piano_like(SR, 4.0, seed=4, channels=1), SR)
    fits = []
    for i, (draft, steps) in enumerate(((True, engines.DRAFT_STEPS), (False, engines.FULL_STEPS))):
        seen.clear()
        request = engines.RepairRequest(method="dps", draft=draft, model=str(folder), device="cpu")
        params = engines.make_repairs(mono, gap, request)[0].params
        assert params["steps"] == steps
        # One window, one take, mono: the calls the network saw are the sampler's own count,
        # plus the prior-fit call the first time; the second repair of the gap reuses the fit.
        calls = engines.sampler_calls(steps, draft)
        assert params["network_item_calls"] == sum(seen) - (fit_calls if i == 0 else 0) == calls
        fits.append(params["prior_fit"])
    assert fits[0] is not None and fits[1] == fits[0]
    assert (engines.FULL_STEPS, engines.DRAFT_STEPS) == (35, 20)


@pytest.mark.usefixtures("torch_one_thread")
def test_the_search_takes_a_small_share_of_a_diffusion_repairs_progress():
    audio = Audio(piano_like(SR, 8.0, seed=2, channels=1), SR)
    gap = Gap(4 * SR, int(4.3 * SR))
    seen: list[tuple[float, str]] = []
    request = engines.RepairRequest(
        method="simdps", model="piano-tiny", draft=True, steps=4, omega=0.15
    )
    engines.make_repairs(audio, gap, request, progress=lambda f, m: seen.append((f, m)))
    first_step = next(f for f, m in seen if "step 1/" in m)
    # The sampler's first step is near the start of the bar, as the time it takes is.
    assert first_step < 0.3 and seen[-1][0] == 1.0
    after = seen[next(i for i, (_f, m) in enumerate(seen) if m == "candidates ready") :]
    assert after[0][0] <= engines.DIFFUSION_SEARCH_SHARE
    assert all(b[0] >= a[0] for a, b in itertools.pairwise(after))  # then it never goes back


def _diffusion_repair(gap: Gap, **params):
    from simdps_studio.session.repair import Repair

    return Repair(gap, "dps", gap.start_sample, np.zeros((1, gap.length), np.float32), params)


def test_the_pace_record_keeps_each_model_device_and_precision_apart():
    from simdps_studio.session.pace import PaceRecord, pace_key

    # fp32 keeps the key it had before precisions were chosen.
    assert pace_key(None, "CPU (2 threads)") == f"{engines.DEFAULT_MODEL}|CPU (2 threads)"
    assert pace_key("m", "CPU", "fp32") == "m|CPU" and pace_key("m", "CPU", "bf16") == "m|CPU|bf16"
    record = PaceRecord.from_json("{not json")
    assert record.entries == {}
    gap = Gap(SR, 2 * SR)
    timed = {"network_item_calls": 70, "sampling_seconds": 35.0, "device": "CPU"}
    assert record.record("m", _diffusion_repair(gap, **timed, precision="bf16", draft=True))
    assert not record.record("m", _diffusion_repair(gap, seed=1))  # an LPC/Sim repair: no pace
    again = PaceRecord.from_json(record.to_json())
    assert again.entries == {"m|CPU|bf16": {"draft": 0.5}}
    assert again.pace("m", "CPU", "bf16").seconds_per_call == {"draft": 0.5}
    assert again.pace("m", "CPU").seconds_per_call == {}  # fp32 not measured
    assert again.pace("other", "CPU", "bf16").seconds_per_call == {}
    bad = PaceRecord({"m|CPU": {"draft": -1, "gradient": "x", "other": 3}})
    assert bad.pace("m", "CPU").seconds_per_call == {}


def test_the_estimate_counts_the_calls_of_the_request(tmp_path):
    from simdps_studio.session.pace import estimate_seconds

    (tmp_path / "config.json").write_text(
        json.dumps({"segment_length": 81920, "sample_rate": 22050})
    )
    audio = Audio(piano_like(SR, 8.0, seed=1), SR)
    gap = Gap(4 * SR, 5 * SR)
    request = engines.RepairRequest(method="dps", model=str(tmp_path), takes=2)
    pace = engines.RepairPace({"gradient": 0.5})
    steps = {False: 35, True: 20}.__getitem__
    expected = estimate_seconds(pace, audio, gap, request, steps)
    window_s = 81920 / 22050
    calls = engines.network_item_calls(1.0, window_s, steps=35, takes=2, items=1, draft=False)
    assert expected.seconds == pytest.approx(0.5 * calls)
    draft_calls = engines.network_item_calls(1.0, window_s, steps=20, takes=2, items=1, draft=True)
    assert expected.draft_seconds == pytest.approx(0.5 * engines.DRAFT_CALL_RATIO * draft_calls)
    assert estimate_seconds(engines.RepairPace(), audio, gap, request, steps).seconds is None
    sim = engines.RepairRequest(method="sim", model=str(tmp_path))
    assert estimate_seconds(pace, audio, gap, sim, steps) is None  # no diffusion, no estimate
