"""EDM noise schedule and stochastic Heun sampler (Karras et al. 2022, "Elucidating the Design
Space of Diffusion-Based Generative Models", Algorithm 2).

Written in the style of k-diffusion / NVlabs edm: one short function per sampler, paper notation,
and ``denoised = denoise(x, sigma)`` as the only model contract. Guidance (DPS, SimDPS, data
consistency) is folded into that callable by :mod:`simdps_studio.inpaint.guidance`, so the sampler
knows nothing about masks or candidates.

Noise is drawn on the CPU from :class:`torch.Generator` objects and then moved to ``x``'s device:
a fixed seed gives bit-identical noise on every device, and results on the CPU are bit-reproducible.
A batch may carry one generator per item (one seed per take), so item ``b`` of a batch is the same
whatever else is in the batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from simdps_studio.inpaint.settings import (
    DEFAULT_RHO,
    DEFAULT_SIGMA_MAX,
    DEFAULT_SIGMA_MIN,
    DEFAULT_STEPS,
)

#: ``denoise(x, sigma) -> denoised``: x (B, n), sigma (B,), denoised (B, n).
DenoiseFn = Callable[[Tensor, Tensor], Tensor]
#: ``callback(i, n_steps, x, denoised)``, called once after each step; may raise to stop.
StepCallback = Callable[[int, int, Tensor, Tensor], None]
#: One generator for the whole batch, one per batch item, or None (torch's global generator).
Generators = torch.Generator | Sequence[torch.Generator] | None

#: Stochasticity of the inpainting sampler (steps and schedule: ``inpaint.settings``).
DEFAULT_S_CHURN = 10.0


def edm_sigmas(
    steps: int = DEFAULT_STEPS,
    *,
    sigma_min: float = DEFAULT_SIGMA_MIN,
    sigma_max: float = DEFAULT_SIGMA_MAX,
    rho: float = DEFAULT_RHO,
) -> Tensor:
    """Karras noise levels ``sigma_0 = sigma_max > ... > sigma_{N-1} = sigma_min``, then 0.

    ``sigma_i = (sigma_max^(1/rho) + i/(N-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho``
    (Karras et al. 2022, eq. 5). Computed in float64 and returned as float32.

    Parameters
    ----------
    steps : int
        Number of sampler steps N (>= 1).
    sigma_min, sigma_max : float
        Lowest and highest noise level, ``0 < sigma_min <= sigma_max``.
    rho : float
        Schedule curvature; larger values spend more steps at low noise.

    Returns
    -------
    Tensor
        Shape (N + 1,), float32, strictly decreasing, last entry 0.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if not 0 < sigma_min <= sigma_max:
        raise ValueError(f"need 0 < sigma_min <= sigma_max, got {sigma_min}, {sigma_max}")
    ramp = torch.linspace(0.0, 1.0, steps, dtype=torch.float64)
    max_inv_rho = sigma_max ** (1.0 / rho)
    min_inv_rho = sigma_min ** (1.0 / rho)
    sigmas = (max_inv_rho + ramp * (min_inv_rho - max_inv_rho)) ** rho
    return torch.cat([sigmas, sigmas.new_zeros(1)]).to(torch.float32)


def start_at(sigmas: Tensor, start_sigma: float) -> Tensor:
    """A schedule begun at ``start_sigma``: its levels above it dropped, ``start_sigma`` first.

    For a warm start (SDEdit, Meng et al. 2022): the sample starts as a known signal plus noise
    of this level, so the steps above it have nothing to do.

    Parameters
    ----------
    sigmas : Tensor
        Shape (N + 1,), decreasing, ending in 0 (:func:`edm_sigmas`).
    start_sigma : float
        The first noise level (> 0); at or above ``sigmas[0]`` the schedule is returned as is.

    Returns
    -------
    Tensor
        Shape (M + 1,) with M <= N + 1, float32, decreasing, ending in 0, first entry
        ``start_sigma``.
    """
    if start_sigma >= float(sigmas[0]):
        return sigmas
    below = sigmas[sigmas < start_sigma]
    return torch.cat([below.new_tensor([start_sigma]), below])


def randn_like_seeded(x: Tensor, generator: Generators = None) -> Tensor:
    """Standard normal noise shaped like ``x``, drawn on the CPU, moved to ``x``'s device.

    Parameters
    ----------
    x : Tensor
        Shape (B, ...): the template.
    generator : torch.Generator, sequence of torch.Generator, or None
        A sequence of G generators, G dividing B, splits the batch into G consecutive groups of
        B / G rows, group g drawn from ``generator[g]`` alone (e.g. one generator per take, each
        take holding the channels of one gap). Each group then depends on its own seed only,
        whatever else is in the batch.

    Returns
    -------
    Tensor
        Same shape, dtype and device as ``x``.
    """
    if generator is None or isinstance(generator, torch.Generator):
        noise = torch.randn(x.shape, generator=generator, dtype=torch.float32)
    else:
        n_groups = len(generator)
        if n_groups == 0 or x.shape[0] % n_groups:
            raise ValueError(f"{n_groups} generators do not divide a batch of {x.shape[0]}")
        rows = (x.shape[0] // n_groups, *x.shape[1:])
        noise = torch.cat([torch.randn(rows, generator=g, dtype=torch.float32) for g in generator])
    return noise.to(device=x.device, dtype=x.dtype)


def generators_for_seeds(seeds: Sequence[int]) -> list[torch.Generator]:
    """One CPU :class:`torch.Generator` per seed (one per batch item or group of items)."""
    return [torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds]


def _churn(
    x: Tensor, sigma: float, gamma: float, s_noise: float, generator: Generators
) -> tuple[Tensor, float]:
    """Raise the noise level from ``sigma`` to ``sigma (1 + gamma)`` with fresh noise (Karras
    Alg. 2, lines 5–6); returns the new state and noise level."""
    sigma_hat = sigma * (1.0 + gamma)
    if gamma > 0:
        eps = randn_like_seeded(x, generator) * s_noise
        x = x + eps * math.sqrt(sigma_hat**2 - sigma**2)
    return x, sigma_hat


@torch.no_grad()
def sample_heun(
    denoise: DenoiseFn,
    x: Tensor,
    sigmas: Tensor,
    *,
    s_churn: float = DEFAULT_S_CHURN,
    s_tmin: float = 0.0,
    s_tmax: float = math.inf,
    s_noise: float = 1.0,
    heun_sigma_min: float = 0.0,
    heun_sigma_max: float = math.inf,
    generator: Generators = None,
    callback: StepCallback | None = None,
) -> Tensor:
    """Stochastic Heun sampler (Karras et al. 2022, Algorithm 2).

    Each step i raises the noise level from ``sigma_i`` to ``sigma_hat = sigma_i (1 + gamma_i)`` by
    adding fresh noise ("churn"), takes an Euler step to ``sigma_{i+1}`` and corrects it with the
    trapezoidal rule (second denoiser call) unless ``sigma_{i+1} = 0``: 2N - 1 denoiser calls.

    Parameters
    ----------
    denoise : callable
        ``denoise(x, sigma) -> denoised`` with x (B, n), sigma (B,), denoised (B, n). Evaluated with
        autograd disabled; a guided denoiser re-enables it inside.
    x : Tensor
        Shape (B, n): the initial sample at noise level ``sigmas[0]``, e.g.
        ``sigmas[0] * randn_like_seeded(x, generator)``.
    sigmas : Tensor
        Shape (N + 1,), decreasing, ending in 0 (see :func:`edm_sigmas`).
    s_churn : float
        Total stochasticity; ``gamma_i = min(s_churn / N, sqrt(2) - 1)`` for ``sigma_i`` in
        ``[s_tmin, s_tmax]``, else 0. ``s_churn = 0`` is the deterministic Heun ODE solver.
    s_tmin, s_tmax : float
        Noise-level range where churn applies.
    s_noise : float
        Scale of the added noise (slightly above 1 counteracts detail loss).
    heun_sigma_min, heun_sigma_max : float
        Apply the Heun correction only to steps ending at a noise level in this range (plain Euler
        steps elsewhere: fewer calls; a measurement option, the default corrects every step).
    generator : torch.Generator, sequence of torch.Generator, or None
        Source of the churn noise; a sequence gives each batch item (or group of items, see
        :func:`randn_like_seeded`) its own seed.
    callback : callable, optional
        ``callback(i, n_steps, x, denoised)`` after each step i (0-based) with the new ``x`` and the
        step's first denoised estimate; raise inside it (e.g. CancelledError) to stop.

    Returns
    -------
    Tensor
        Shape (B, n): the sample at noise level ``sigmas[-1]`` (0).
    """
    n_steps = len(sigmas) - 1
    s_in = x.new_ones(x.shape[0])
    gamma_max = min(s_churn / n_steps, math.sqrt(2.0) - 1.0) if n_steps > 0 else 0.0
    for i in range(n_steps):
        sigma, sigma_next = float(sigmas[i]), float(sigmas[i + 1])
        gamma = gamma_max if s_tmin <= sigma <= s_tmax else 0.0
        x, sigma_hat = _churn(x, sigma, gamma, s_noise, generator)
        denoised = denoise(x, sigma_hat * s_in)
        d = (x - denoised) / sigma_hat
        x_next = x + (sigma_next - sigma_hat) * d
        if sigma_next > 0 and heun_sigma_min <= sigma_next <= heun_sigma_max:
            # Heun correction: average the slopes at both ends of the step.
            denoised_next = denoise(x_next, sigma_next * s_in)
            d_next = (x_next - denoised_next) / sigma_next
            x_next = x + (sigma_next - sigma_hat) * 0.5 * (d + d_next)
        x = x_next
        if callback is not None:
            callback(i, n_steps, x, denoised)
    return x


@torch.no_grad()
def sample_euler(
    denoise: DenoiseFn,
    x: Tensor,
    sigmas: Tensor,
    *,
    s_churn: float = DEFAULT_S_CHURN,
    s_tmin: float = 0.0,
    s_tmax: float = math.inf,
    s_noise: float = 1.0,
    generator: Generators = None,
    callback: StepCallback | None = None,
) -> Tensor:
    """Stochastic Euler sampler: Algorithm 2 of Karras et al. 2022 without the Heun correction.

    Same churn and arguments as :func:`sample_heun`, one denoiser call per step (N calls instead of
    2N - 1) at first-order accuracy; used by the draft mode.

    Returns
    -------
    Tensor
        Shape (B, n): the sample at noise level ``sigmas[-1]`` (0).
    """
    # The Heun sampler with the correction range empty takes exactly these Euler steps.
    return sample_heun(
        denoise,
        x,
        sigmas,
        s_churn=s_churn,
        s_tmin=s_tmin,
        s_tmax=s_tmax,
        s_noise=s_noise,
        heun_sigma_min=math.inf,
        generator=generator,
        callback=callback,
    )


#: Samplers by name (``denoise, x, sigmas, **options -> x``).
SAMPLERS = {"heun": sample_heun, "euler": sample_euler}
