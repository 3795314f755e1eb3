"""DPS / SimDPS guidance: closed-form checks with simple denoisers, then the real ``tiny`` model.

The ``tiny`` model here is randomly initialised (no trained tiny checkpoint exists): its prior
carries no musical knowledge, so these tests check what guidance itself must do, with a model whose
Jacobian is far from the identity.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from simdps_studio.inpaint.guidance import (
    GuidanceConfig,
    guided_denoiser,
    rms,
    smooth_mask,
)
from simdps_studio.inpaint.pipeline import in_chunks, inpaint_gap

N = 512
GAP = slice(200, 300)

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture
def problem():
    """A window with a gap: observation y, mask M, candidate x_tilde, a noisy x."""
    g = torch.Generator().manual_seed(0)
    y = torch.randn(2, N, generator=g)
    mask = torch.ones(N)
    mask[GAP] = 0
    candidate = torch.zeros(2, N)
    candidate[:, GAP] = torch.randn(2, 100, generator=g)
    x = torch.randn(2, N, generator=g)
    return y, mask, candidate, x


def scaled_identity(alpha: float):
    """Denoiser D(x) = alpha x: Jacobian alpha I, so guidance steps have closed forms."""
    return lambda x, sigma: alpha * x


def unit_rms_rows(v: torch.Tensor) -> torch.Tensor:
    return v / v.pow(2).mean(-1, keepdim=True).sqrt()


def test_smooth_mask_is_zero_in_gap_and_hann_ramped():
    mask = torch.ones(N)
    mask[GAP] = 0
    m = smooth_mask(mask, 64)
    assert torch.all(m[GAP] == 0)
    assert torch.all(m[: 200 - 64] == 1) and torch.all(m[300 + 64 :] == 1)
    # Half-Hann fade: m at distance d from the gap is (1 - cos(pi d / 64)) / 2.
    d = torch.arange(1, 64, dtype=torch.float32)
    expected = 0.5 - 0.5 * torch.cos(torch.pi * d / 64)
    torch.testing.assert_close(m[300:363], expected, atol=1e-7, rtol=0)
    torch.testing.assert_close(m[200 - 63 : 200].flip(0), expected, atol=1e-7, rtol=0)
    assert torch.equal(smooth_mask(mask, 0), mask)


def test_observation_step_has_closed_form(problem):
    y, mask, _, x = problem
    alpha, sigma, omega_y = 0.7, 0.3, 0.25
    cfg = GuidanceConfig(omega_y=omega_y, omega=0.0, data_consistency=False)
    out = guided_denoiser(scaled_identity(alpha), y, mask, None, cfg)(x, torch.full((2,), sigma))
    # grad_x ||M (y - alpha x)|| = -alpha M (y - alpha x) / ||.||; normalised it loses alpha.
    g = -unit_rms_rows(mask * (y - alpha * x))
    torch.testing.assert_close(out, alpha * x - omega_y * sigma * g, rtol=1e-5, atol=1e-6)


def test_candidate_step_adds_its_own_normalised_term(problem):
    y, mask, cand, x = problem
    alpha, sigma = 0.5, 0.8
    cfg = GuidanceConfig(omega_y=0.25, omega=0.15, data_consistency=False, fused_backward=False)
    sig = torch.tensor([sigma, 2 * sigma])  # per-item noise levels
    out = guided_denoiser(scaled_identity(alpha), y, mask, cand, cfg)(x, sig)
    x0 = alpha * x
    g_y = -unit_rms_rows(mask * (y - x0))
    g_c = -unit_rms_rows((1 - mask) * (cand - x0))
    expected = x0 - sig[:, None] * (0.25 * g_y + 0.15 * g_c)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
    # The candidate step moves the gap towards the candidate, and only the gap.
    dpsonly = guided_denoiser(scaled_identity(alpha), y, mask, None, cfg)(x, sig)
    moved = out - dpsonly
    assert torch.all(moved[:, mask > 0] == 0)
    assert torch.all((moved[:, GAP] * (cand - x0)[:, GAP]) >= 0)


def test_step_limit_lands_on_the_candidate_instead_of_overshooting(problem):
    y, mask, cand, x = problem
    sig = torch.full((2,), 1.0)
    den = scaled_identity(1.0)
    strong = GuidanceConfig(omega_y=0.0, omega=5.0, data_consistency=False)
    out = guided_denoiser(den, y, mask, cand, strong)(x, sig)
    torch.testing.assert_close(out[:, GAP], cand[:, GAP], rtol=1e-5, atol=1e-5)
    assert torch.equal(out[:, mask > 0], x[:, mask > 0])
    unlimited = GuidanceConfig(omega_y=0.0, omega=5.0, data_consistency=False, limit_step=False)
    out = guided_denoiser(den, y, mask, cand, unlimited)(x, sig)
    # The published unlimited step keeps its length omega sigma: far past the candidate.
    overshoot = (out - cand)[:, GAP].pow(2).mean().sqrt()
    assert overshoot > 2 * (x - cand)[:, GAP].pow(2).mean().sqrt()


def test_fused_backward_matches_separate_for_identity_jacobian(problem):
    y, mask, cand, x = problem
    sig = torch.full((2,), 0.5)
    sep = GuidanceConfig(data_consistency=False, fused_backward=False)
    fused = GuidanceConfig(data_consistency=False, fused_backward=True)
    den = scaled_identity(1.0)
    a = guided_denoiser(den, y, mask, cand, sep)(x, sig)
    b = guided_denoiser(den, y, mask, cand, fused)(x, sig)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_data_consistency_restores_observed_samples(problem):
    y, mask, cand, x = problem
    cfg = GuidanceConfig(data_consistency=True, dc_ramp_samples=32)
    out = guided_denoiser(scaled_identity(0.3), y, mask, cand, cfg)(x, torch.full((2,), 0.5))
    far = torch.ones(N, dtype=torch.bool)
    far[200 - 32 : 300 + 32] = False
    assert torch.equal(out[:, far], y[:, far])


def test_draft_is_replacement_with_derived_weight(problem):
    y, mask, cand, x = problem
    sigma = 0.2
    cfg = GuidanceConfig(omega=0.15, draft=True, dc_ramp_samples=0)
    out = guided_denoiser(scaled_identity(0.5), y, mask, cand, cfg)(x, torch.full((2,), sigma))
    x0 = 0.5 * x
    residual = (1 - mask) * (cand - x0)
    a = (0.15 * sigma / rms(residual)).clamp(max=1.0)
    expected = mask * y + (1 - mask) * ((1 - a) * x0 + a * cand)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
    # A weight large enough replaces the gap by the candidate outright (a = 1).
    strong = GuidanceConfig(omega=100.0, draft=True, dc_ramp_samples=0)
    out = guided_denoiser(scaled_identity(0.5), y, mask, cand, strong)(x, torch.full((2,), sigma))
    torch.testing.assert_close(out[:, GAP], cand[:, GAP])


def test_candidate_ramp_fades_the_candidate_term_in_from_the_gap_edges(problem):
    y, mask, cand, x = problem
    sigma, ramp = 0.2, 20
    den = scaled_identity(1.0)
    plain = GuidanceConfig(omega_y=0.0, omega=100.0, draft=True)
    ramped = GuidanceConfig(omega_y=0.0, omega=100.0, draft=True, candidate_ramp_samples=ramp)
    w = smooth_mask(1 - mask, ramp)  # 0 outside the gap, ramping up inside it
    assert torch.all(w[mask > 0] == 0) and w[200] < 0.01 and w[299] < 0.01
    assert torch.all(w[200 + ramp : 300 - ramp] == 1)
    out = guided_denoiser(den, y, mask, cand, ramped)(x, torch.full((2,), sigma))
    # The step lands on the weighted target: x + w (candidate - x), the candidate inside.
    torch.testing.assert_close(out[:, GAP], (x + w * (cand - x))[:, GAP], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out[:, GAP][:, ramp:-ramp], cand[:, GAP][:, ramp:-ramp])
    edge_gap = (out - cand)[:, 200:205].abs().mean()
    assert edge_gap > 0.5 * (x - cand)[:, 200:205].abs().mean()
    no_ramp = guided_denoiser(den, y, mask, cand, plain)(x, torch.full((2,), sigma))
    torch.testing.assert_close(no_ramp[:, GAP], cand[:, GAP])  # without it, the edges too
    # The same weighting in the gradient form (through D, here the identity).
    full = GuidanceConfig(
        omega_y=0.0, omega=100.0, data_consistency=False, candidate_ramp_samples=ramp
    )
    out = guided_denoiser(den, y, mask, cand, full)(x, torch.full((2,), sigma))
    torch.testing.assert_close(out[:, GAP], (x + w * (cand - x))[:, GAP], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError):
        GuidanceConfig(candidate_ramp_samples=-1)


def test_guidance_works_through_a_network_jacobian(problem):
    """Both gradients go through the network: a linear map with a non-trivial Jacobian."""
    y, mask, cand, x = problem
    torch.manual_seed(1)
    w = torch.eye(N) + 0.05 * torch.randn(N, N)
    den = lambda x, sigma: x @ w.T  # noqa: E731
    cfg = GuidanceConfig(omega_y=0.25, omega=0.15, data_consistency=False, fused_backward=False)
    sig = torch.full((2,), 0.4)
    out = guided_denoiser(den, y, mask, cand, cfg)(x, sig)
    x0 = x @ w.T
    g_y = unit_rms_rows((-(mask * (y - x0)) / (mask * (y - x0)).norm(dim=-1, keepdim=True)) @ w)
    g_c = unit_rms_rows((-((1 - mask) * (cand - x0))) @ w)
    torch.testing.assert_close(out, x0 - 0.4 * (0.25 * g_y + 0.15 * g_c), rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# The real tiny model (random initialisation), through the pipeline.

SR = 22050
STEPS = 8


@pytest.fixture(scope="module")
def tiny():
    from simdps_studio.inpaint.precond import build_denoiser

    torch.manual_seed(0)
    return build_denoiser("tiny").eval()


@pytest.fixture(scope="module")
def scene():
    from conftest import piano_like

    x = piano_like(SR, 3.0, seed=1)
    other = piano_like(SR, 3.0, seed=2)
    start, end = int(1.2 * SR), int(1.5 * SR)
    return x, start, end, other[:, start:end]


def test_fused_step_is_close_to_exact_through_the_tiny_model(tiny):
    n = tiny.segment_length
    t = torch.arange(n) / SR
    y = 0.1 * torch.sin(2 * torch.pi * 440 * t)[None]
    cand = 0.1 * torch.sin(2 * torch.pi * 660 * t)[None]
    mask = torch.ones(n)
    mask[n // 3 : 2 * n // 3] = 0
    gen = torch.Generator().manual_seed(0)
    for sigma in (1.0, 0.05, 0.002):
        x = y + sigma * torch.randn(1, n, generator=gen)
        sig = torch.tensor([sigma])
        with torch.no_grad():
            plain = tiny(x, sig)
        steps = []
        for fused in (False, True):
            cfg = GuidanceConfig(data_consistency=False, fused_backward=fused)
            steps.append(guided_denoiser(tiny, y, mask, cand * (1 - mask), cfg)(x, sig) - plain)
        exact, fused = steps[0].ravel(), steps[1].ravel()
        assert float(exact @ fused / (exact.norm() * fused.norm())) > 0.98
        assert 0.8 < float(fused.norm() / exact.norm()) < 1.5


@pytest.mark.parametrize("draft", [False, True])
def test_network_calls_in_chunks_give_the_same_guided_result(tiny, draft):
    n = tiny.segment_length
    gen = torch.Generator().manual_seed(3)
    y = 0.1 * torch.randn(5, n, generator=gen)
    cand = 0.1 * torch.randn(5, n, generator=gen)
    mask = torch.ones(n)
    mask[n // 3 : 2 * n // 3] = 0
    x = y + 0.3 * torch.randn(5, n, generator=gen)
    sig = torch.linspace(0.05, 0.5, 5)
    seen = []

    def spy(xb, sb):
        seen.append((xb.shape[0], sb.shape[0]))
        return tiny(xb, sb)

    cfg = GuidanceConfig(draft=draft)
    whole = guided_denoiser(tiny, y, mask, cand * (1 - mask), cfg)(x, sig)
    split = guided_denoiser(in_chunks(spy, 2), y, mask, cand * (1 - mask), cfg)(x, sig)
    assert seen == [(2, 2), (2, 2), (1, 1)]  # each item once, with its own noise level
    torch.testing.assert_close(split, whole, rtol=1e-4, atol=1e-6)
    seen.clear()
    guided_denoiser(in_chunks(spy, 2), y, mask, None, GuidanceConfig(omega_y=0.0))(x, 0.2)
    assert seen == [(2, 2), (2, 2), (1, 1)]  # a scalar noise level is shared
    assert in_chunks(spy, 0) is spy


def fill_corr(tiny, scene, omega, *, draft=False, seed=0):
    x, start, end, cand = scene
    res = inpaint_gap(
        x, SR, start, end, denoiser=tiny, candidate=cand, omega=omega, steps=STEPS,
        seed=seed, draft=draft, device="cpu",
    )  # fmt: skip
    fill = res.fills[0]
    assert fill.shape == cand.shape and fill.dtype == np.float32
    assert np.all(np.isfinite(fill))
    return corr(fill, cand), res


def test_candidate_weight_controls_how_closely_the_fill_follows(tiny, scene):
    c0, r0 = fill_corr(tiny, scene, 0.0)
    c_relaxed, _ = fill_corr(tiny, scene, 0.04)
    c_strict, r_strict = fill_corr(tiny, scene, 0.15)
    c_high, _ = fill_corr(tiny, scene, 0.6)
    assert r0.method == "dps" and r_strict.method == "simdps"
    # omega = 0 is plain DPS: it does not follow the candidate.
    assert abs(c0) < 0.15
    # The candidate weight pulls monotonically; a high weight reproduces the candidate.
    assert c_relaxed > c0 + 0.02
    assert c_strict > c_relaxed + 0.15
    # With this untrained prior the published strict weight reaches about 0.35 (8 steps) and 0.5
    # (35 steps); a trained prior concentrates the same step on plausible signals, and the issue's
    # ">= 0.9 at omega = 0.15" needs one. A high weight reproduces the candidate.
    assert c_strict > 0.25
    assert c_high >= 0.9


def test_draft_follows_candidate_without_backprop(tiny, scene):
    c0, _ = fill_corr(tiny, scene, 0.0, draft=True)
    c_strict, res = fill_corr(tiny, scene, 0.15, draft=True)
    c_high, _ = fill_corr(tiny, scene, 0.6, draft=True)
    assert res.draft
    assert abs(c0) < 0.15
    assert c_strict > c0 + 0.2
    assert c_high >= 0.9


# ---------------------------------------------------------------------------------------------
# The shipped tiny model (trained by `simdps-studio train` on the rendered piano corpus).


@pytest.fixture(scope="module")
def trained_tiny():
    from simdps_studio.inpaint.checkpoint import load_model

    return load_model("piano-tiny")


def test_trained_prior_follows_candidate_at_published_strict_weight(trained_tiny, scene):
    """The issue's must-show at the default sampler (35 steps): with a trained prior, the published
    strict weight ω_x̃ = 0.15 reproduces the candidate (correlation ≥ 0.9 in the gap) and ω_x̃ = 0
    (plain DPS) does not follow it."""
    x, start, end, cand = scene
    corrs = {}
    for omega in (0.0, 0.15):
        res = inpaint_gap(
            x, SR, start, end, denoiser=trained_tiny, candidate=cand, omega=omega, steps=35,
            seed=0, device="cpu",
        )  # fmt: skip
        corrs[omega] = corr(res.fills[0], cand)
    assert corrs[0.15] >= 0.9
    assert abs(corrs[0.0]) < 0.2
