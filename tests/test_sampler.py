"""EDM schedule and stochastic Heun sampler, checked with an analytic denoiser.

For data x0 ~ N(0, s^2 I) the ideal denoiser is D(x, sigma) = x s^2 / (s^2 + sigma^2), so a correct
sampler must return samples with mean 0 and standard deviation s.
"""

from __future__ import annotations

import math

import pytest
import torch

from simdps_studio.core.errors import CancelledError
from simdps_studio.core.progress import CancelToken, check_cancel
from simdps_studio.inpaint.sampler import (
    edm_sigmas,
    generators_for_seeds,
    randn_like_seeded,
    sample_euler,
    sample_heun,
)
from simdps_studio.inpaint.settings import n_denoiser_calls


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: on a CPU shared with other jobs, OpenMP spin-waiting makes two threads
    many times slower than one; restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def gaussian_denoiser(s: float):
    """Ideal denoiser for N(0, s^2 I) data; counts its calls."""

    def denoise(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        denoise.calls += 1
        sigma = sigma.reshape(-1, 1)
        return x * s**2 / (s**2 + sigma**2)

    denoise.calls = 0
    return denoise


def run(s: float, seeds, *, n: int = 256, **kw) -> torch.Tensor:
    sched = {k: kw.pop(k) for k in ("sigma_min", "sigma_max", "rho", "steps") if k in kw}
    sigmas = edm_sigmas(**sched)
    gens = generators_for_seeds(seeds)
    x = sigmas[0] * randn_like_seeded(torch.empty(len(seeds), n), gens)
    return sample_heun(gaussian_denoiser(s), x, sigmas, generator=gens, **kw)


def test_edm_sigmas_defaults_and_shape():
    sigmas = edm_sigmas()
    assert sigmas.shape == (36,)
    assert sigmas.dtype == torch.float32
    assert sigmas[0].item() == pytest.approx(1.0)
    assert sigmas[-2].item() == pytest.approx(1e-4, rel=1e-5)
    assert sigmas[-1].item() == 0.0
    assert torch.all(sigmas[1:] < sigmas[:-1])
    # Karras eq. 5 at the midpoint.
    mid = (1.0 + 0.5 * (1e-4 ** (1 / 13) - 1.0)) ** 13
    assert edm_sigmas(3)[1].item() == pytest.approx(mid, rel=1e-6)
    with pytest.raises(ValueError):
        edm_sigmas(0)


EDM_SCHEDULE = {"sigma_min": 0.002, "sigma_max": 80.0, "rho": 7.0}


@pytest.mark.parametrize(
    ("s", "schedule", "s_churn", "steps"),
    [
        (0.05, {}, 10.0, 35),  # the inpainting defaults (sigma_max = 1 >> s)
        (0.5, EDM_SCHEDULE, 0.0, 35),  # deterministic Heun ODE solver
        # Heavy churn adds discretisation error (about 4 % at 35 steps); more steps remove it.
        (0.5, EDM_SCHEDULE, 40.0, 100),
    ],
)
def test_samples_match_gaussian_data(s, schedule, s_churn, steps):
    x = run(s, list(range(256)), n=512, steps=steps, s_churn=s_churn, **schedule)
    assert x.shape == (256, 512)
    assert torch.isfinite(x).all()
    std = x.std().item()
    assert std == pytest.approx(s, rel=0.03)
    assert abs(x.mean().item()) < 0.01 * s
    # Per-dimension variance is right too, not only on average.
    per_dim = x.std(dim=0)
    assert per_dim.min().item() > 0.8 * s and per_dim.max().item() < 1.2 * s


def test_euler_sampler_matches_gaussian_data_with_one_call_per_step():
    den = gaussian_denoiser(0.5)
    sigmas = edm_sigmas(200, **EDM_SCHEDULE)
    gens = generators_for_seeds(range(64))
    x = sigmas[0] * randn_like_seeded(torch.empty(64, 1024), gens)
    out = sample_euler(den, x, sigmas, s_churn=10.0, generator=gens)
    assert out.std().item() == pytest.approx(0.5, rel=0.03)
    assert den.calls == n_denoiser_calls(200, "euler") == 200


def test_fixed_seed_is_bit_reproducible_and_seeds_differ():
    a = run(0.1, [3, 4], steps=8)
    b = run(0.1, [3, 4], steps=8)
    c = run(0.1, [5, 4], steps=8)
    assert torch.equal(a, b)
    assert not torch.equal(a[0], c[0])
    assert torch.equal(a[1], c[1])  # item 1 depends on its own seed only
    assert not torch.equal(a[0], a[1])


def test_item_seed_independent_of_batch():
    alone = run(0.1, [7], steps=6)
    batch = run(0.1, [1, 7, 9], steps=6)
    torch.testing.assert_close(batch[1], alone[0], rtol=0, atol=0)


def test_grouped_generators_draw_consecutive_rows():
    gens = generators_for_seeds([1, 2])
    noise = randn_like_seeded(torch.empty(4, 8), gens)
    alone = randn_like_seeded(torch.empty(2, 8), generators_for_seeds([2]))
    assert torch.equal(noise[2:], alone)
    with pytest.raises(ValueError):
        randn_like_seeded(torch.empty(3, 8), gens)


def test_callback_once_per_step_and_call_count():
    den = gaussian_denoiser(0.1)
    seen = []
    sigmas = edm_sigmas(10)
    x = sigmas[0] * randn_like_seeded(torch.empty(2, 16), generators_for_seeds([0, 1]))
    sample_heun(den, x, sigmas, callback=lambda i, n, xi, d: seen.append((i, n, xi.shape)))
    assert [i for i, _, _ in seen] == list(range(10))
    assert all(n == 10 and shape == (2, 16) for _, n, shape in seen)
    assert den.calls == n_denoiser_calls(10) == 19


def test_cancel_in_callback_stops_within_one_step():
    den = gaussian_denoiser(0.1)
    token = CancelToken()
    steps_done = []

    def callback(i, n, x, d):
        steps_done.append(i)
        if i == 2:
            token.cancel()
        check_cancel(token)

    sigmas = edm_sigmas(20)
    x = sigmas[0] * torch.randn(1, 16, generator=torch.Generator().manual_seed(0))
    with pytest.raises(CancelledError):
        sample_heun(den, x, sigmas, callback=callback)
    assert steps_done == [0, 1, 2]
    assert den.calls == 2 * 3  # nothing ran after the cancelled step


def test_churn_is_limited_to_s_tmin_s_tmax():
    # Without churn (s_tmax below every sigma) the sampler is deterministic: no generator needed.
    a = run(0.1, [0], steps=8, s_tmax=1e-9)
    sigmas = edm_sigmas(8)
    x0 = sigmas[0] * randn_like_seeded(torch.empty(1, 256), generators_for_seeds([0]))
    b = sample_heun(gaussian_denoiser(0.1), x0, sigmas, s_churn=0.0)
    torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    assert math.isfinite(a.std().item())


def test_heun_correction_limited_to_a_noise_range():
    """Outside ``[heun_sigma_min, heun_sigma_max]`` a Heun step is an Euler step."""
    sigmas = edm_sigmas(12)

    def sample(fn, **kw):
        den = gaussian_denoiser(0.3)
        gens = generators_for_seeds([4, 5])
        x = sigmas[0] * randn_like_seeded(torch.empty(2, 64), gens)
        return fn(den, x, sigmas, generator=gens, **kw), den.calls

    euler, euler_calls = sample(sample_euler)
    never, never_calls = sample(sample_heun, heun_sigma_min=math.inf)
    # The same arithmetic in another order: equal up to float rounding.
    torch.testing.assert_close(never, euler, rtol=1e-5, atol=1e-7)
    assert never_calls == euler_calls == 12
    full, full_calls = sample(sample_heun)
    threshold = 0.01
    corrected = int(((sigmas[1:] > 0) & (sigmas[1:] >= threshold)).sum())
    high, high_calls = sample(sample_heun, heun_sigma_min=threshold)
    low, low_calls = sample(sample_heun, heun_sigma_max=threshold)
    assert high_calls == 12 + corrected and low_calls == 12 + (11 - corrected)
    assert full_calls == 23
    assert not torch.equal(high, full) and not torch.equal(low, full)
