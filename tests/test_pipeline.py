"""Gap-repair pipeline around the ``tiny`` model (random initialisation) and the device helpers.

Mechanics tests use the tiny architecture with a short window (16 384 samples = 0.74 s at
22.05 kHz), few steps and mostly the draft mode, so the whole file stays fast.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from conftest import piano_like

from simdps_studio.core.errors import CancelledError, InputError
from simdps_studio.core.progress import CancelToken
from simdps_studio.inpaint.device import autocast_dtype, device_name, resolve_device
from simdps_studio.inpaint.pipeline import (
    GuidanceOptions,
    InpaintOptions,
    SamplerOptions,
    WindowOptions,
    from_model_channels,
    inpaint_gap,
    mirror_into_gap,
    model_window_length,
    plan_windows,
    splice,
    taper_seams,
    to_model_channels,
)

SR = 22050
STEPS = 6

pytestmark = pytest.mark.usefixtures("torch_one_thread")


class CountingDenoiser(torch.nn.Module):
    """Wraps a denoiser and counts its forward calls (same attributes as the real one)."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.sample_rate = inner.sample_rate
        self.segment_length = inner.segment_length
        self.sigma_data = inner.sigma_data
        self.calls = 0
        self.rows = 0  # batch items over all calls
        self.lengths: set[int] = set()

    def supports_length(self, n: int) -> bool:
        return self.inner.supports_length(n)

    def forward(self, x, sigma):
        self.calls += 1
        self.rows += int(x.shape[0])
        self.lengths.add(int(x.shape[-1]))
        return self.inner(x, sigma)


@pytest.fixture(scope="module")
def tiny():
    from simdps_studio.inpaint.precond import build_denoiser

    torch.manual_seed(0)
    return build_denoiser("tiny", segment_length=16384).eval()


@pytest.fixture(scope="module")
def track():
    return piano_like(SR, 2.0, seed=3)


def corr(a, b) -> float:
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def run(tiny, x, start, end, **kw):
    kw.setdefault("steps", STEPS)
    kw.setdefault("draft", True)
    kw.setdefault("device", "cpu")
    return inpaint_gap(x, SR, start, end, denoiser=tiny, **kw)


# ---------------------------------------------------------------------------------------------
# Splice and windowing


@pytest.mark.parametrize("dtype", [np.float32, np.int16, np.int32])
def test_splice_leaves_every_outside_sample_bit_identical(dtype):
    rng = np.random.default_rng(0)
    if np.dtype(dtype).kind == "f":
        x = rng.uniform(-1, 1, (2, 1000)).astype(dtype)
    else:
        info = np.iinfo(dtype)
        x = rng.integers(info.min, info.max, (2, 1000), dtype=dtype)
    fill = rng.uniform(-0.5, 0.5, (2, 100)).astype(np.float32)
    out = splice(x, 400, fill)
    assert out.dtype == x.dtype and out.shape == x.shape
    assert np.array_equal(out[:, :400], x[:, :400]) and np.array_equal(out[:, 500:], x[:, 500:])
    assert not np.shares_memory(out, x)
    if np.dtype(dtype).kind == "f":
        assert np.array_equal(out[:, 400:500], fill)
    with pytest.raises(InputError):
        splice(x, 950, fill)
    with pytest.raises(InputError):
        splice(x, 0, fill[:1])


def test_plan_windows_tiles_the_gap_with_context():
    w = 1000
    for start, end, n in [(5000, 5300, 20000), (10, 300, 20000), (19500, 19990, 20000),
                          (3000, 7100, 20000), (100, 600, 800)]:  # fmt: skip
        plan = plan_windows(start, end, n, w)
        assert plan[0][1] == start and plan[-1][2] == end
        for (ws, f0, f1), nxt in zip(plan, [*plan[1:], None]):
            assert ws <= f0 < f1 <= ws + w
            if n >= w:
                assert 0 <= ws and ws + w <= n  # shifted inside, never padded
            if nxt is not None:
                assert nxt[1] == f1
                assert f0 - ws >= 200  # observed (or earlier fill) context before
        if end - start <= 600:
            assert len(plan) == 1
    assert len(plan_windows(3000, 7100, 20000, w)) > 1


def test_model_window_length_picks_the_shortest_supported_window_with_context():
    seg = 81920
    every_8192 = lambda n: n % 8192 == 0  # noqa: E731
    # 0.5 s at 22.05 kHz plus 0.2 * seg of context on each side = 43 793 -> 49 152.
    assert model_window_length(11025, seg, every_8192) == 49152
    assert model_window_length(11025, seg, every_8192, min_context_fraction=0.1) == 32768
    # No support query, or nothing shorter supported: the full window.
    assert model_window_length(11025, seg, None) == seg
    assert model_window_length(11025, seg, lambda n: False) == seg
    # A gap that needs (nearly) the whole window keeps the full one.
    assert model_window_length(50000, seg, every_8192) == seg
    # Longer windows only when allowed: 2 s + 2 * 0.35 * seg = 101 444 -> 106 496 (13 * 8192).
    long_kw = {"min_context_fraction": 0.35, "allow_shorter": False}
    assert model_window_length(44100, seg, every_8192, **long_kw) == seg
    assert model_window_length(44100, seg, every_8192, max_length=2 * seg, **long_kw) == 106496
    assert model_window_length(11025, seg, every_8192, max_length=2 * seg, **long_kw) == seg


def test_short_windows_run_a_short_gap_on_a_shorter_window(tiny, track):
    start, end = int(0.9 * SR), int(1.0 * SR)  # 0.1 s: fits a window well under 0.74 s
    counting = CountingDenoiser(tiny)
    res = run(counting, track, start, end, steps=2, sampler_options={"short_windows": 1})
    assert res.segment_length < tiny.segment_length
    assert counting.lengths == {res.segment_length}
    assert res.options["short_windows"] is True
    out = splice(track, start, res.fills[0])
    assert np.array_equal(out[:, :start], track[:, :start])
    assert np.array_equal(out[:, end:], track[:, end:])
    assert np.all(np.isfinite(res.fills[0]))

    counting_full = CountingDenoiser(tiny)
    full = run(counting_full, track, start, end, steps=2)  # the default: the full window
    assert full.segment_length == tiny.segment_length and full.options["short_windows"] is False
    assert counting_full.lengths == {tiny.segment_length}


def test_taper_seams_makes_the_fill_continue_from_the_source():
    t = np.arange(1000)
    source = np.sin(2 * np.pi * t / 50)[None]
    out = source + 0.3  # the model got the context (and the gap) off by 0.3
    fill = taper_seams(out, source, 400, 600, taper_samples=50)
    assert fill.shape == (1, 200) and fill.dtype == np.float32
    np.testing.assert_allclose(fill[0, 0], source[0, 400], atol=1e-6)
    np.testing.assert_allclose(fill[0, -1], source[0, 599], atol=1e-6)
    np.testing.assert_allclose(fill[0, 50:150], out[0, 450:550], atol=1e-6)  # middle untouched
    # A model that matched the context is left as it is.
    exact = taper_seams(source, source, 400, 600, taper_samples=50)
    np.testing.assert_allclose(exact, source[:, 400:600], atol=1e-6)
    untouched = taper_seams(out, source, 400, 600, left=False, right=False, taper_samples=50)
    np.testing.assert_allclose(untouched, out[:, 400:600], atol=1e-6)


def test_mirror_into_gap_has_no_step_at_the_edges():
    x = np.arange(20, dtype=np.float32)[None] + 100
    out = mirror_into_gap(x, 5, 12)
    assert np.array_equal(out[:, :5], x[:, :5]) and np.array_equal(out[:, 12:], x[:, 12:])
    assert out[0, 5:8].tolist() == [104, 103, 102]  # mirrors the left context
    assert out[0, 8:12].tolist() == [115, 114, 113, 112]  # mirrors the right context
    edge = mirror_into_gap(x, 0, 4)  # no left context: that half stays zero
    assert edge[0, :4].tolist() == [0, 0, 105, 104]


def test_mid_side_round_trip():
    x = np.random.default_rng(1).standard_normal((2, 64)).astype(np.float32)
    items = to_model_channels(x)
    np.testing.assert_allclose(items[0], 0.5 * (x[0] + x[1]), rtol=1e-6)
    np.testing.assert_allclose(from_model_channels(items, 2), x, rtol=1e-6, atol=1e-6)
    three = np.ones((3, 8), np.float32)
    assert from_model_channels(to_model_channels(three), 3) is not None


# ---------------------------------------------------------------------------------------------
# The pipeline


def test_fill_shape_and_outside_samples_bit_identical_after_splice(tiny, track):
    start, end = int(0.8 * SR), int(1.0 * SR)
    res = run(tiny, track, start, end)
    fill = res.fills[0]
    assert fill.shape == (1, end - start) and fill.dtype == np.float32
    assert np.all(np.isfinite(fill))
    out = splice(track, start, fill)
    assert np.array_equal(out[:, :start], track[:, :start])
    assert np.array_equal(out[:, end:], track[:, end:])
    assert np.array_equal(out[:, start:end], fill)
    assert res.method == "dps" and res.omega == 0.0 and res.n_windows == 1
    meta = res.metadata()
    assert meta["seeds"] == [0] and meta["steps"] == STEPS and meta["device"].startswith("CPU")
    assert meta["model_sample_rate"] == SR and "takes" not in meta


def test_fixed_seed_reproduces_bit_for_bit_and_takes_differ(tiny, track):
    start, end = int(0.8 * SR), int(1.0 * SR)
    cand = piano_like(SR, 2.0, seed=9)[:, start:end]
    a = run(tiny, track, start, end, candidate=cand, omega=0.04, takes=3, seed=5)
    b = run(tiny, track, start, end, candidate=cand, omega=0.04, takes=3, seed=5)
    assert a.seeds == [5, 6, 7]
    for fa, fb in zip(a.fills, b.fills):
        assert np.array_equal(fa, fb)
    f = a.fills
    assert not np.allclose(f[0], f[1]) and not np.allclose(f[1], f[2])
    # Take k depends on its own seed only (the same as running that seed alone).
    alone = run(tiny, track, start, end, candidate=cand, omega=0.04, takes=1, seed=6)
    np.testing.assert_allclose(alone.fills[0], f[1], atol=1e-4)


def test_progress_reaches_one_and_cancel_stops_within_one_step(tiny, track):
    start, end = int(0.8 * SR), int(1.0 * SR)
    seen = []
    run(tiny, track, start, end, progress=lambda f, msg="": seen.append(f))
    assert seen[-1] == 1.0 and seen[0] == 0.0
    assert all(b >= a for a, b in itertools.pairwise(seen))

    counting = CountingDenoiser(tiny)
    token = CancelToken()
    steps_seen = []

    def progress(fraction, message=""):
        if message.startswith("step"):
            steps_seen.append(message)
            if len(steps_seen) == 2:
                token.cancel()

    with pytest.raises(CancelledError):
        run(counting, track, start, end, steps=10, progress=progress, cancel=token)
    # Cancelled in the progress report after step 2: no network call after it (the draft's
    # Euler sampler makes one call a step).
    assert len(steps_seen) == 2
    assert counting.calls == 2
    # A token cancelled beforehand stops before any network call.
    counting.calls = 0
    with pytest.raises(CancelledError):
        run(counting, track, start, end, cancel=token)
    assert counting.calls == 0


def test_draft_mode_follows_a_strong_candidate(tiny, track):
    start, end = int(0.8 * SR), int(1.0 * SR)
    cand = piano_like(SR, 2.0, seed=9)[:, start:end]
    strict = run(tiny, track, start, end, candidate=cand, omega=1.0)
    plain = run(tiny, track, start, end, candidate=None, omega=1.0)
    assert strict.method == "simdps" and strict.draft
    assert plain.method == "dps" and plain.omega == 0.0
    assert corr(strict.fills[0], cand) > 0.95
    assert abs(corr(plain.fills[0], cand)) < 0.2


def test_warm_start_begins_from_the_candidate(tiny, track):
    # Started a hair above zero noise, the sampler barely moves: a warm start ends near the
    # candidate (with a weak candidate term), a cold start near its own tiny noise.
    start, end = int(0.8 * SR), int(1.0 * SR)
    cand = piano_like(SR, 2.0, seed=9)[:, start:end]
    low = {"sigma_max": 1e-3, "sigma_min": 1e-4}
    kw = {"candidate": cand, "omega": 0.01, "draft": False, "steps": 2}
    warm = run(tiny, track, start, end, sampler_options={**low, "warm_start": 1}, **kw)
    cold = run(tiny, track, start, end, sampler_options=low, **kw)
    assert corr(warm.fills[0], cand) > 0.95
    assert abs(corr(cold.fills[0], cand)) < 0.5


class FirstCall(CountingDenoiser):
    """Also keeps the input and noise level of the first call."""

    def forward(self, x, sigma):
        if self.calls == 0:
            self.first = (x.detach().clone(), torch.as_tensor(sigma).detach().clone())
        return super().forward(x, sigma)


def test_start_sigma_drops_the_levels_above_it_and_starts_from_the_candidate(tiny, track):
    from simdps_studio.inpaint.sampler import edm_sigmas, start_at
    from simdps_studio.inpaint.settings import n_denoiser_calls
    from simdps_studio.session.engines import warm_start_steps

    full = edm_sigmas(10)
    for s in (0.3, 0.1, 0.03, 1e-5):
        cut = start_at(full, s)
        assert float(cut[0]) == pytest.approx(s) and float(cut[-1]) == 0.0
        assert torch.equal(cut[1:], full[full < s])  # the levels below S, unchanged
        assert len(cut) - 1 == warm_start_steps(10, s)  # the app's estimate counts the same
    assert torch.equal(start_at(full, 1.0), full)

    start, end = int(0.8 * SR), int(1.0 * SR)
    cand = piano_like(SR, 2.0, seed=9)[:, start:end]
    counting = FirstCall(tiny)
    # No churn, so the first network call sees the starting point itself.
    opts = {"start_sigma": 0.01, "s_churn": 0.0}
    kw = {"candidate": cand, "omega": 0.15, "draft": False, "steps": 10}
    res = run(counting, track, start, end, sampler_options=opts, **kw)
    steps_run = warm_start_steps(10, 0.01)
    assert res.options["start_sigma"] == pytest.approx(0.01) and res.options["steps_run"] < 10
    assert res.options["steps_run"] == steps_run
    assert counting.calls == n_denoiser_calls(steps_run)
    x0, sigma0 = counting.first
    assert float(sigma0.reshape(-1)[0]) == pytest.approx(0.01)
    # The start: the context outside the gap and the candidate inside, plus noise of sigma S
    # (in the model's normalised units; the window is centred on the gap at this rate).
    ((w0, _f0, _f1),) = plan_windows(start, end, track.shape[1], tiny.segment_length)
    expected = track[0, w0 : w0 + tiny.segment_length].copy()
    expected[start - w0 : end - w0] = cand[0]
    x0 = x0[0].numpy()
    inside = slice(start - w0, end - w0)
    outside = np.r_[0 : start - w0, end - w0 : len(expected)]
    assert corr(x0[inside], expected[inside]) > 0.98
    assert corr(x0[outside], expected[outside]) > 0.98
    gain = np.std(x0[outside]) / np.std(expected[outside])
    noise = x0 - gain * (expected - expected[outside].mean())
    assert np.std(noise) == pytest.approx(0.01, rel=0.15)

    # DPS has no candidate to start from: the option changes nothing there.
    dps = run(tiny, track, start, end, steps=4, draft=False, sampler_options=opts)
    cold = run(tiny, track, start, end, steps=4, draft=False, sampler_options={"s_churn": 0.0})
    assert dps.options["start_sigma"] is None and np.array_equal(dps.fills[0], cold.fills[0])
    with pytest.raises(InputError, match="start_sigma"):
        run(tiny, track, start, end, sampler_options={"start_sigma": 0.0})


@pytest.mark.parametrize("draft", [True, False])
def test_bf16_and_fp32_fills_agree(tiny, track, draft):
    # Tolerance: 5 % relative L2 between the fills (measured with the tiny model, 6 steps:
    # 0.3-0.5 % in draft mode, 1-2 % with the guided sampler). Outside the gap the spliced
    # track is bit-identical whatever ran.
    start, end = int(0.8 * SR), int(1.0 * SR)
    cand = piano_like(SR, 2.0, seed=9)[:, start:end]
    kw = {"candidate": cand, "omega": 0.15, "draft": draft}
    fp32 = run(tiny, track, start, end, precision="fp32", **kw)
    bf16 = run(tiny, track, start, end, precision="bf16", **kw)
    assert fp32.options["precision"] == "fp32" and bf16.options["precision"] == "bf16"
    a, b = fp32.fills[0], bf16.fills[0]
    assert not np.array_equal(a, b)  # bf16 really ran
    assert np.linalg.norm(b - a) / np.linalg.norm(a) < 0.05
    out = splice(track, start, b)
    assert np.array_equal(out[:, :start], track[:, :start])
    assert np.array_equal(out[:, end:], track[:, end:])


def test_stereo_as_mid_and_side(tiny):
    mono = piano_like(SR, 2.0, seed=4)[0]
    start, end = int(0.9 * SR), int(1.1 * SR)
    # Identical channels: the side is silent, so it is not sampled (half the network's work,
    # as for mono) and the fill keeps L == R exactly.
    same = np.stack([mono, mono])
    counting = CountingDenoiser(tiny)
    res = run(counting, same, start, end, takes=2)
    assert res.fills[0].shape == (2, end - start)
    assert all(np.array_equal(f[0], f[1]) and np.any(f[0] != 0) for f in res.fills)
    assert res.sampled_items == 2 and counting.rows == 2 * STEPS  # one item per take
    # ... and the mid's fill is what a mono repair with the same seeds gives.
    alone = run(tiny, mono[None], start, end, takes=2)
    assert all(np.allclose(f[0], g[0], atol=1e-6) for f, g in zip(res.fills, alone.fills))
    # A real stereo pair with a stereo candidate: both channels follow their own candidate.
    stereo = np.stack([mono, 0.5 * mono + 0.1 * piano_like(SR, 2.0, seed=5)[0]])
    cand = piano_like(SR, 2.0, seed=6, channels=2)[:, start:end]
    fill = run(tiny, stereo, start, end, candidate=cand, omega=1.0).fills[0]
    assert corr(fill[0], cand[0]) > 0.9 and corr(fill[1], cand[1]) > 0.9


def test_silent_channels_and_silent_gaps_are_not_sampled(tiny):
    start, end = int(0.9 * SR), int(1.1 * SR)
    x = piano_like(SR, 2.0, seed=4, channels=3)
    x[1] = 0.0  # a silent channel of a multichannel file
    counting = CountingDenoiser(tiny)
    res = run(counting, x, start, end, steps=3)
    assert res.sampled_items == 2 and counting.rows == 2 * 3
    fill = res.fills[0]
    assert np.all(fill[1] == 0) and np.all(np.abs(fill[[0, 2]]).max(axis=1) > 0)
    # A gap in digital silence, with a silent candidate: nothing to sample, the fill is silence.
    quiet = np.zeros((1, 2 * SR), np.float32)
    counting = CountingDenoiser(tiny)
    res = run(counting, quiet, start, end, candidate=quiet[:, start:end], omega=0.15)
    assert counting.calls == 0 and res.sampled_items == 0
    assert np.all(res.fills[0] == 0)
    # A silent context with an audible candidate is sampled (the candidate is what to follow).
    cand = piano_like(SR, 2.0, seed=6)[:, start:end]
    res = run(tiny, quiet, start, end, candidate=cand, omega=1.0, steps=3)
    assert res.sampled_items == 1 and corr(res.fills[0], cand) > 0.9


@pytest.mark.parametrize(
    ("near_s", "inside"),
    [((1.05, 1.15), True), ((0.75, 0.85), True), ((0.5, 0.65), True), ((0.3, 0.4), False)],
    ids=["after", "before", "before, partly in the window", "before the window"],
)
def test_other_gaps_are_not_observations(tiny, near_s, inside):
    # The tiny model's 0.74-s window is centred on the gap: 0.58-1.32 s.
    x = piano_like(SR, 2.0, seed=4)
    start, end = int(0.9 * SR), int(1.0 * SR)
    near = (int(near_s[0] * SR), int(near_s[1] * SR))  # a neighbouring gap
    damaged = x.copy()
    damaged[:, near[0] : near[1]] = 0.0
    cand = piano_like(SR, 2.0, seed=6)[:, start:end]
    kw = {"candidate": cand, "omega": 0.15, "steps": 3}
    for draft in (True, False):
        clean = run(tiny, x, start, end, draft=draft, **kw).fills[0]
        fill = run(tiny, damaged, start, end, draft=draft, unobserved=[near], **kw).fills[0]
        # Whatever the neighbour holds, its samples are left to the prior ...
        same = run(tiny, x, start, end, draft=draft, unobserved=[near], **kw).fills[0]
        np.testing.assert_allclose(fill, same, atol=1e-6)
        if inside:  # ... while without that the dropout is read as music that fell silent
            plain = run(tiny, damaged, start, end, draft=draft, **kw).fills[0]
            assert np.max(np.abs(plain - clean)) > 1e-3
        else:  # ... and outside the window it changes nothing at all
            np.testing.assert_allclose(fill, clean, atol=1e-6)


def test_multichannel_is_sampled_per_channel(tiny):
    x = piano_like(SR, 2.0, seed=4, channels=3)
    start, end = int(0.9 * SR), int(1.0 * SR)
    res = run(tiny, x, start, end, steps=3)
    assert res.fills[0].shape == (3, end - start)
    assert np.all(np.isfinite(res.fills[0]))


def test_long_gap_is_filled_window_by_window(tiny, track):
    # 1.2 s gap with a 0.74 s window: several windows, each conditioned on the fill before it.
    start, end = int(0.4 * SR), int(1.6 * SR)
    cand = piano_like(SR, 2.0, seed=9)[:, start:end]
    counting = CountingDenoiser(tiny)
    res = run(counting, track, start, end, candidate=cand, omega=1.0, steps=3)
    assert res.n_windows >= 3
    assert counting.calls == res.n_windows * 3  # draft: Euler, one call a step
    fill = res.fills[0]
    assert fill.shape == (1, end - start) and np.all(np.isfinite(fill))
    # Every window's part follows the candidate (no window left empty or misplaced).
    for part in np.array_split(np.arange(end - start), 4):
        assert corr(fill[:, part], cand[:, part]) > 0.9
    out = splice(track, start, fill)
    assert np.array_equal(out[:, :start], track[:, :start])
    assert np.array_equal(out[:, end:], track[:, end:])


def test_band_above_model_nyquist_comes_from_the_candidate(tiny):
    sr = 44100
    x = piano_like(sr, 2.0, seed=7)
    start, end = int(0.9 * sr), int(1.1 * sr)
    t = np.arange(end - start) / sr
    tone_hz = 16000.0  # above the model's Nyquist (11 025 Hz)
    cand = (0.2 * np.sin(2 * np.pi * 440 * t) + 0.05 * np.sin(2 * np.pi * tone_hz * t))[None]
    cand = cand.astype(np.float32)

    def tone_level(fill):
        spec = np.abs(np.fft.rfft(fill[0] * np.hanning(fill.shape[1])))
        freqs = np.fft.rfftfreq(fill.shape[1], 1 / sr)
        band = (freqs > tone_hz - 200) & (freqs < tone_hz + 200)
        return spec[band].max() / (np.hanning(fill.shape[1]).sum() / 2)

    with_cand = inpaint_gap(
        x, sr, start, end, denoiser=tiny, candidate=cand, omega=0.04, steps=3, draft=True,
        device="cpu",
    ).fills[0]  # fmt: skip
    without = inpaint_gap(
        x, sr, start, end, denoiser=tiny, steps=3, draft=True, device="cpu"
    ).fills[0]
    assert with_cand.shape == (1, end - start)
    assert tone_level(with_cand) == pytest.approx(0.05, rel=0.1)
    assert tone_level(without) < 0.002


def test_short_track_is_padded(tiny):
    x = piano_like(SR, 0.5, seed=8)  # shorter than the model window
    start, end = int(0.2 * SR), int(0.3 * SR)
    fill = run(tiny, x, start, end, steps=3).fills[0]
    assert fill.shape == (1, end - start) and np.all(np.isfinite(fill))


def test_bad_input_raises_input_error(tiny, track):
    n = track.shape[1]
    with pytest.raises(InputError):
        run(tiny, track, 100, 50)
    with pytest.raises(InputError):
        run(tiny, track, n - 10, n + 10)
    with pytest.raises(InputError, match="candidate"):
        run(tiny, track, 1000, 2000, candidate=np.zeros((1, 999), np.float32))
    bad = track.copy()
    bad[0, 500] = np.nan
    with pytest.raises(InputError, match="NaN"):
        run(tiny, bad, 1000, 2000)
    nan_in_gap = track.copy()
    nan_in_gap[0, 1500] = np.nan  # the gap's own samples are ignored
    assert np.all(np.isfinite(run(tiny, nan_in_gap, 1000, 2000, steps=2).fills[0]))
    with pytest.raises(InputError):
        run(tiny, track, 1000, 2000, steps=0)
    with pytest.raises(InputError):
        run(tiny, track, 1000, 2000, sampler_options={"bogus": 1})
    with pytest.raises(InputError, match="max_batch"):
        run(tiny, track, 1000, 2000, sampler_options={"max_batch": -1})
    with pytest.raises(InputError, match="Heun solver only"):
        run(tiny, track, 1000, 2000, draft=True, sampler_options={"heun_sigma_max": 0.01})


def test_typed_options_are_the_flat_mapping_read_into_its_parts(tiny, track):
    flat = {"s_churn": 2.0, "solver": "heun", "context_fraction": 0.25, "limit_step": 0}
    opts = InpaintOptions.from_mapping(flat)
    assert opts.sampler == SamplerOptions(s_churn=2.0, solver="heun")
    assert opts.window == WindowOptions(context_fraction=0.25)
    assert opts.guidance == GuidanceOptions(limit_step=False) and opts.margin == {}
    typed = InpaintOptions(
        sampler=SamplerOptions(s_churn=2.0, solver="heun"),
        window=WindowOptions(context_fraction=0.25),
        guidance=GuidanceOptions(limit_step=False),
    )
    start, end = 15000, 16000
    a = run(tiny, track, start, end, steps=2, sampler_options=flat)
    b = run(tiny, track, start, end, steps=2, sampler_options=typed)
    assert np.array_equal(a.fills[0], b.fills[0]) and a.options == b.options
    assert a.options["solver"] == "heun" and a.options["s_churn"] == 2.0
    with pytest.raises(InputError, match="unknown sampler options: bogus"):
        InpaintOptions.from_mapping({"bogus": 1, "s_churn": 1})
    with pytest.raises(InputError, match="unknown solver"):
        SamplerOptions(solver="rk4")
    with pytest.raises(InputError, match="start_sigma"):
        SamplerOptions(start_sigma=float("nan"))
    with pytest.raises(InputError, match="candidate_ramp_s"):
        GuidanceOptions(candidate_ramp_s=-1.0)


def test_max_batch_only_changes_how_the_batch_is_run(tiny):
    # Stereo, two takes: four model items, run whole, in pairs (the CPU default) and one by one.
    x = piano_like(SR, 2.0, seed=4, channels=2)
    start, end = int(0.8 * SR), int(1.0 * SR)
    fills = [
        run(tiny, x, start, end, takes=2, steps=3, draft=False, sampler_options=opts).fills
        for opts in ({"max_batch": 0}, None, {"max_batch": 1})
    ]
    for other in fills[1:]:
        for a, b in zip(fills[0], other, strict=True):
            np.testing.assert_allclose(b, a, atol=1e-4)


# ---------------------------------------------------------------------------------------------
# Device


def test_resolve_device_and_name():
    assert resolve_device("cpu") == torch.device("cpu")
    auto = resolve_device("auto")
    assert auto.type == ("cuda" if torch.cuda.is_available() else "cpu")
    name = device_name(torch.device("cpu"))
    assert name.startswith("CPU (") and "thread" in name
    assert autocast_dtype(torch.device("cpu"), "bf16") is torch.bfloat16  # autocast on the CPU
    with pytest.raises(InputError):
        resolve_device("tpu")
    with pytest.raises(InputError):
        autocast_dtype(torch.device("cpu"), "int8")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_a_clear_input_error():
    with pytest.raises(InputError, match="CUDA is not available on this machine"):
        resolve_device("cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_pipeline_on_cuda(tiny, track, precision):
    start, end = int(0.8 * SR), int(1.0 * SR)
    cand = piano_like(SR, 2.0, seed=9)[:, start:end]
    res = inpaint_gap(
        track, SR, start, end, denoiser=tiny, candidate=cand, omega=0.15, steps=STEPS, takes=2,
        device="cuda", precision=precision,
    )  # fmt: skip
    assert res.device.startswith("CUDA (")
    for fill in res.fills:
        assert fill.shape == (1, end - start) and np.all(np.isfinite(fill))
    cpu = inpaint_gap(
        track, SR, start, end, denoiser=tiny, candidate=cand, omega=1.0, steps=STEPS, draft=True,
        device="cuda",
    )  # fmt: skip
    assert corr(cpu.fills[0], cand) > 0.95
    tiny.to("cpu")


def test_taper_seams_continues_the_source_without_a_kink():
    # The model's version of the context has the right value at the edge but other fine structure
    # (a phase-shifted partial): the fill must still continue the source smoothly, slope included.
    t = np.arange(4000) / 22050
    source = (0.5 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 1234 * t))[None]
    out = (0.5 * np.sin(2 * np.pi * 440 * t + 1.0) + 0.2 * np.sin(2 * np.pi * 1234 * t))[None]
    f0, f1 = 2000, 3000
    fill = taper_seams(out, source, f0, f1, taper_samples=110)
    joined = np.concatenate([source[0, f0 - 4 : f0], fill[0, :4]])
    true = source[0, f0 - 4 : f0 + 4]
    np.testing.assert_allclose(joined, true, atol=2e-3)
    joined_r = np.concatenate([fill[0, -4:], source[0, f1 : f1 + 4]])
    np.testing.assert_allclose(joined_r, source[0, f1 - 4 : f1 + 4], atol=2e-3)


@pytest.mark.parametrize("draft", [True, False])
def test_a_dc_offset_is_kept_in_the_fill(tiny, track, draft):
    """The prior knows zero-mean audio: an offset is taken out and put back, not lost (a thump).

    The same music with and without an offset gets the same fill, shifted by the offset.
    """
    start, end = int(0.8 * SR), int(1.1 * SR)
    plain = run(tiny, track * 0.5, start, end, steps=3, draft=draft).fills[0]
    offset = run(tiny, track * 0.5 + 0.05, start, end, steps=3, draft=draft).fills[0]
    shift = offset - plain
    assert abs(float(np.median(shift)) - 0.05) < 1e-3
    assert float(np.abs(shift - 0.05).max()) < 0.02  # the seams' continuations: nearly so


def test_taper_seams_continue_a_quiet_tone_on_a_large_offset():
    """The fallback for an unstable fit holds the offset too (a seam must not drop by it)."""
    sr, w = 22050, 8000
    full = (0.10 + 0.02 * np.sin(2 * np.pi * 220 * np.arange(w) / sr))[None, :]
    out = taper_seams(full, full, 3000, 5000, taper_samples=220)
    assert float(np.max(np.abs(out - full[:, 3000:5000]))) < 1e-4


@pytest.mark.parametrize(("draft", "sr"), [(True, SR), (False, SR), (True, 44100)])
def test_a_window_of_the_track_gives_the_fill_of_the_whole_track(tiny, draft, sr):
    """The app converts only a model window (plus a second) beside the gap to float: the fill
    must be the one the whole track gives (session.engines.make_repairs)."""
    x = piano_like(sr, 8.0, seed=6, channels=2)
    start, end = int(4.0 * sr), int(4.9 * sr)  # longer than a window: filled window by window
    other = (int(3.5 * sr), int(3.6 * sr))  # a neighbouring gap inside the window
    kw = dict(steps=3, draft=draft, seed=4, denoiser=tiny, device="cpu")
    full = inpaint_gap(x, sr, start, end, unobserved=[other], **kw)
    pad = int(math.ceil(tiny.segment_length * sr / tiny.sample_rate)) + sr
    w0, w1 = start - pad, end + pad
    window = x[:, w0:w1].copy()
    part = inpaint_gap(
        window, sr, start - w0, end - w0, unobserved=[(other[0] - w0, other[1] - w0)], **kw
    )
    assert np.array_equal(full.fills[0], part.fills[0])


# ---------------------------------------------------------------------------------------------
# Declared crossfade margins (issue 28)


def test_margin_weights_are_raised_cosines_of_the_stated_law():
    from simdps_studio.audio.dsp import raised_cosine
    from simdps_studio.inpaint.pipeline import margin_weights

    model, source = margin_weights(220, "amplitude")
    np.testing.assert_allclose(model, raised_cosine(220), atol=1e-7)
    np.testing.assert_allclose(model + source, 1.0, atol=1e-12)
    model, source = margin_weights(220, "power")
    np.testing.assert_allclose(model**2 + source**2, 1.0, atol=1e-12)
    np.testing.assert_allclose(model**2, raised_cosine(220), atol=1e-7)
    assert np.all(np.diff(model) > 0) and 0 < model[0] < 0.01 and 0.99 < model[-1] < 1
    with pytest.raises(InputError, match="fade"):
        margin_weights(10, "linear")


@pytest.mark.parametrize("fade", ["amplitude", "power"])
def test_margins_cross_fade_the_model_output_with_the_source(tiny, track, fade):
    from simdps_studio.inpaint.pipeline import margin_weights

    start, end, m = 15000, 17205, 220  # a 100-ms gap, 10-ms margins
    opts = {"keep_model_output": True, "margin_fade": fade, "margin_taper": False}
    res = run(tiny, track, start, end, steps=3, margins=(m, m), sampler_options=opts)
    fill, model = res.fills[0], res.takes[0].model_output
    assert res.margins == (m, m) and res.span_start_sample == start - m
    assert fill.shape == model.shape == (1, m + end - start + m)
    # Data consistency spared the margins: the model's output there is its own, not the source.
    assert not np.allclose(model[:, :m], track[:, start - m : start], atol=1e-4)
    assert not np.allclose(model[:, -m:], track[:, end : end + m], atol=1e-4)
    w_model, w_source = margin_weights(m, fade)
    before, after = track[:, start - m : start], track[:, end : end + m]
    np.testing.assert_allclose(
        fill[:, :m], w_source * before + w_model * model[:, :m], atol=1e-6, rtol=0
    )
    np.testing.assert_allclose(
        fill[:, -m:], w_source[::-1] * after + w_model[::-1] * model[:, -m:], atol=1e-6, rtol=0
    )
    # Without the inside taper the gap holds the model's output itself.
    np.testing.assert_array_equal(fill[:, m:-m], model[:, m:-m])
    # Spliced at the span's start, every other sample is the source's, bit for bit.
    out = splice(track, res.span_start_sample, fill)
    outside = np.ones(track.shape[1], bool)
    outside[start - m : end + m] = False
    assert np.array_equal(out[:, outside], track[:, outside])


def test_margins_with_the_inside_taper_join_the_faded_context(tiny, track):
    from simdps_studio.inpaint.pipeline import SEAM_TAPER_S, seam_fill

    start, end, m = 15000, 17205, 110
    opts = {"keep_model_output": True, "margin_taper": True}
    res = run(tiny, track, start, end, steps=3, margins=(m, m), sampler_options=opts)
    fill, model = res.fills[0], res.takes[0].model_output
    full = track.copy()
    full[:, start - m : end + m] = model
    taper = int(round(SEAM_TAPER_S * SR))
    again = seam_fill(full, track, start, end, margins=(m, m), taper=True, taper_samples=taper)
    np.testing.assert_allclose(fill, again, atol=1e-6, rtol=0)
    # The inside taper changed the first samples of the gap, not the margins' crossfade.
    plain = seam_fill(full, track, start, end, margins=(m, m), taper=False, taper_samples=taper)
    np.testing.assert_array_equal(fill[:, :m], plain[:, :m])
    assert not np.allclose(fill[:, m : m + taper], plain[:, m : m + taper], atol=1e-6)
    # No margins: today's seams exactly.
    today = run(tiny, track, start, end, steps=3, sampler_options={"keep_model_output": True})
    full[:, start:end] = today.takes[0].model_output
    np.testing.assert_allclose(
        today.fills[0], seam_fill(full, track, start, end, taper_samples=taper), atol=1e-6, rtol=0
    )


def test_margins_of_a_gap_filled_in_several_windows(tiny, track):
    # The left margin belongs to the first window, the right one to the last.
    start, end, m = 8000, 8000 + 15000, 150
    res = run(tiny, track, start, end, steps=2, margins=(m, m))
    assert res.n_windows > 1 and res.fills[0].shape == (1, end - start + 2 * m)
    assert np.all(np.isfinite(res.fills[0]))


def test_a_margin_shorter_than_the_inside_taper_is_dropped(tiny, track):
    start, end = 15000, 17205
    res = run(tiny, track, start, end, steps=2, margins=(50, 150))  # the taper: 110 samples
    assert res.margins == (0, 150) and res.span_start_sample == start
    assert res.fills[0].shape == (1, end - start + 150)


@pytest.mark.parametrize(
    ("margins", "unobserved", "match"),
    [
        ((-1, 10), (), "negative"),
        ((15001, 0), (), "track"),
        ((0, 30000), (), "track"),
        ((0, 20000), (), "model window"),
        ((10, 300), [(17400, 18000)], "another gap"),
        (("a", 3), (), "sample counts"),
    ],
)
def test_bad_margins_are_refused(tiny, track, margins, unobserved, match):
    with pytest.raises(InputError, match=match):
        run(tiny, track, 15000, 17205, steps=1, margins=margins, unobserved=unobserved)
    with pytest.raises(InputError, match="margin_fade"):
        run(tiny, track, 15000, 17205, steps=1, sampler_options={"margin_fade": "linear"})


def test_the_release_beside_a_margin_is_the_only_change_to_sampling(tiny, track):
    start, end, m = 15000, 17205, 220
    opts = {"keep_model_output": True, "margin_release_s": 0.0}
    held = run(tiny, track, start, end, steps=3, margins=(m, m), sampler_options=opts)
    plain = run(tiny, track, start, end, steps=3, sampler_options={"keep_model_output": True})
    # Without the release the margins are replaced by the source during sampling, and the gap's
    # samples are the ones sampled without margins.
    model = held.takes[0].model_output
    np.testing.assert_allclose(model[:, :m], track[:, start - m : start], atol=1e-6)
    np.testing.assert_array_equal(model[:, m:-m], plain.takes[0].model_output)
    assert held.options["margin_release_s"] == 0.0


@pytest.mark.parametrize("margin_ms", [0.0, 10.0])
def test_the_fill_is_continuous_at_the_gap_edge_with_band_completion(tiny, margin_ms):
    # SimDPS at 44.1 kHz with the 22.05-kHz model completes the band above the model's Nyquist
    # frequency with the candidate's. The high band was cut from the candidate spliced into the
    # context with a step, so it stepped at the gap edge: with a margin (no inside taper to hide
    # it) +107 and +99 dB on the seam grade below (+40 to +51 dB on the demo with piano-small),
    # without one +13.5 dB at the start. Joined like a fill: 6.6/2.6 and 9.2/-0.4 dB, as with the
    # band completion switched off (5.1/2.3, 8.9/-0.7: the random model's own roughness).
    from simdps_studio.session.checks import seam_ratio_db

    sr = 44100
    x = piano_like(sr, 1.0, seed=3)
    start, end, m = 20000, 24410, int(round(margin_ms / 1000 * sr))
    cand = piano_like(sr, 1.0, seed=4)[:, start:end]  # other notes: a step away from the source
    res = inpaint_gap(
        x, sr, start, end, denoiser=tiny, candidate=cand, omega=0.15, steps=3, draft=True,
        device="cpu", margins=(m, m),
    )  # fmt: skip
    assert res.margins == (m, m)
    y = splice(x, res.span_start_sample, res.fills[0])
    for edge in (start, end):
        assert seam_ratio_db(y, edge) < 12.0  # below the app's "bad" grade (a click)
        step = abs(float(y[0, edge]) - float(y[0, edge - 1]))
        around = np.abs(np.diff(y[0, edge - 200 : edge + 200].astype(np.float64)))
        assert step <= np.percentile(around, 99)


def test_with_a_margin_the_candidate_fades_in_from_the_gap_edges(tiny, track):
    # Switched on at full weight at the gap edge, the candidate's pull leaves a step in the
    # model's own output there, which a margin passes on to the fill (docs/sampler.md).
    from simdps_studio.inpaint.pipeline import MARGIN_CANDIDATE_RAMP_S

    start, end, m = 15000, 17205, 220
    cand = track[:, 2000 : 2000 + end - start]
    kw = {"candidate": cand, "omega": 0.15, "steps": 2}
    ramped = run(tiny, track, start, end, margins=(m, m), **kw)
    plain = run(tiny, track, start, end, **kw)
    asked = run(
        tiny, track, start, end, margins=(m, m), sampler_options={"candidate_ramp_s": 0.0}, **kw
    )
    step_s = 1 / tiny.sample_rate  # the ramp is counted in model samples
    assert abs(ramped.options["candidate_ramp_s"] - MARGIN_CANDIDATE_RAMP_S) <= step_s
    assert plain.options["candidate_ramp_s"] == 0.0 and asked.options["candidate_ramp_s"] == 0.0
    # The fade changes the fill (the gap's samples differ from those sampled without it).
    assert not np.array_equal(ramped.fills[0][:, m:-m], asked.fills[0][:, m:-m])
