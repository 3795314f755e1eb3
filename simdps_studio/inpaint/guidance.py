"""DPS and SimDPS guidance folded into a ``denoise(x, sigma)`` callable (docs/architecture.md, 2).

Notation (all tensors have time on the last axis, shape (B, n) or broadcastable to it):

- ``D``: the unconditional denoiser, ``x0_hat = D(x, sigma)``;
- ``M``: the observation mask, 1 where samples are observed, 0 in the gap;
- ``y``: the observed window (its values inside the gap are ignored);
- ``x_tilde``: the candidate placed in the gap (zeros outside it).

Guided estimate, with both gradients taken with respect to the noisy input ``x`` through ``D``::

    g_y = grad_x ||M (y - D(x, sigma))||_2          (observation term, DPS)
    g_c = grad_x ||(1 - M) (x_tilde - D(x, sigma))||_2   (candidate term, SimDPS)
    x0_hat <- x0_hat - omega_y sigma g_y / rms(g_y) - omega sigma g_c / rms(g_c)

This is Moliner et al.'s reconstruction guidance (a score correction
``-xi sqrt(n) / (sigma ||g||) * g``, i.e. ``-xi sigma g / rms(g)`` once converted to the denoised
estimate ``x0_hat = x + sigma^2 score``) applied to each term separately.

Normalisation: ``rms`` is taken per batch item (each take and each channel) over its whole window,
so every item gets a step of the same size whatever its level, and the step length is set by
``omega`` and ``sigma`` alone: the gradient only supplies a direction.

Gradients: each term is normalised by its own rms. Computed exactly (``fused_backward=False``)
that takes two backward passes sharing one forward pass (``retain_graph``). By default one backward
pass of ``l_y L_y + l_c L_c`` is taken instead (``l`` the step lengths, detached) and normalised as a
whole to length ``sqrt(l_y^2 + l_c^2)``. Justification: both losses are Euclidean norms, whose
gradients are ``J^T u`` for unit vectors ``u`` on disjoint supports (observed samples, gap), so
their rms are comparable and their directions nearly orthogonal; the fused step equals the exact
one when ``J`` is proportional to the identity (the network's Jacobian tends to it as sigma -> 0).
Measured on random states: cosine similarity >= 0.997 with the exact step for the tiny and small
models at sigma from 1 to 1e-3, length within +39 % (tiny) / +19 % (small) at sigma = 1 and +1 % at
sigma = 0.01. A backward pass costs more than the forward: the fused form saves 27 % of a SimDPS
run with ``small`` on the CPU (benchmarks/sampling_speed.py), which the CPU budget (inpaint/presets.py:
<= 1.3 s per guided call for ``small``) needs.

Step limit (``limit_step``, on by default): each term's step length ``omega sigma`` is limited to
the rms of its residual (``M (y - x0_hat)`` or ``(1 - M)(x_tilde - x0_hat)``, rms over the window
like the gradient's). For ``J = I`` the unit-rms gradient is the residual divided by its rms, so
the limited step lands exactly on the target instead of overshooting it. Without the limit a
normalised step keeps its length however close the estimate already is: at high noise levels and
with few steps it throws the sample past the candidate, and a large ``omega`` then follows the
candidate *less* (measured with the tiny model at 8 steps: correlation 0.15 at ``omega = 0.6``
unlimited, 0.99 limited).

``omega = 0`` (or no candidate) is plain DPS and skips the second gradient.

Optional data consistency replaces the observed part of ``x0_hat`` by ``y`` after guidance. The
mask can be Hann-smoothed (:func:`smooth_mask`, ``dc_ramp_samples``) so the replacement fades out
towards the gap edges instead of cutting; the default is no fade (a hard replacement). Measured with
the tiny model, a 64-sample fade leaves the samples next to the gap weakly constrained: the model's
estimate there drifted up to five times the context's RMS away from the source, and the fill then
continues from that drifted context instead of the source it is spliced against. With the hard
replacement the estimate equals the source up to the gap edge, so the fill starts from the source.

Candidate fade-in (``candidate_ramp_samples``, off by default): the candidate term's residual can
be weighted by a half-Hann ramp that is 0 at the gap edges and reaches 1 that many samples inside
the gap (:func:`smooth_mask` of the gap), so the candidate decides the interior of the fill while
the observation term and the prior shape the transition from the source. Without it a high
``omega`` pulls the samples next to the gap edges towards the candidate as hard as the middle,
and the seam is only as smooth as the candidate's fit to the context.

Draft mode uses no backpropagation: it is the same update with the network's Jacobian replaced by
the identity, for which both gradient steps have closed forms. The candidate step becomes a
replacement-style blend inside the gap, ``x0_hat <- (1 - a) x0_hat + a x_tilde`` with
``a = omega sigma / rms((1 - M)(x_tilde - x0_hat))`` (limited to 1 by the step limit), and the
observation term becomes (smoothed) data consistency, ``x0_hat <- m y + (1 - m) x0_hat``. One
network call per denoiser evaluation and no gradient (the pipeline also runs the draft with the
first-order Euler sampler: one call per step instead of two).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from simdps_studio.inpaint.sampler import DenoiseFn
from simdps_studio.inpaint.settings import OMEGA_PRESETS, OMEGA_Y_DEFAULT

#: The SimDPS paper's strict candidate weight, the guidance's default.
OMEGA_STRICT = OMEGA_PRESETS["strict"]
#: Length of the data-consistency fade next to each gap edge, in samples at the model rate (0: hard).
DC_RAMP_SAMPLES_DEFAULT = 0

# Keeps norms and rms away from zero (exactly observed samples, silent candidates).
_EPS = 1e-12


@dataclass(frozen=True)
class GuidanceConfig:
    """How a guided denoiser steers the unconditional one.

    Attributes
    ----------
    omega_y : float
        Weight of the observation term (>= 0).
    omega : float
        Weight of the candidate term ``omega_x_tilde`` (>= 0); 0 is plain DPS.
    data_consistency : bool
        Replace the observed part of ``x0_hat`` by ``y`` at every call.
    dc_ramp_samples : int
        Fade length of the smoothed mask next to each gap edge, in samples.
    draft : bool
        No backpropagation: closed-form identity-Jacobian steps (see the module docstring).
    fused_backward : bool
        One backward pass for both terms (default) instead of two (exact normalisation).
    limit_step : bool
        Limit each term's step length ``omega sigma`` to the rms of its residual, so a step never
        goes past its target (see the module docstring). False is the unlimited published form.
    candidate_ramp_samples : int
        Fade-in of the candidate term from each gap edge, in samples (0: none; see the module
        docstring).
    """

    omega_y: float = OMEGA_Y_DEFAULT
    omega: float = OMEGA_STRICT
    data_consistency: bool = True
    dc_ramp_samples: int = DC_RAMP_SAMPLES_DEFAULT
    draft: bool = False
    fused_backward: bool = True
    limit_step: bool = True
    candidate_ramp_samples: int = 0

    def __post_init__(self) -> None:
        if self.omega_y < 0 or self.omega < 0:
            raise ValueError("guidance weights must be >= 0")
        if self.dc_ramp_samples < 0 or self.candidate_ramp_samples < 0:
            raise ValueError("ramp lengths must be >= 0")


def rms(x: Tensor) -> Tensor:
    """Root mean square over the last axis, keeping it: (..., n) -> (..., 1)."""
    return x.pow(2).mean(dim=-1, keepdim=True).sqrt()


def smooth_mask(mask: Tensor, ramp_samples: int) -> Tensor:
    """Observation mask whose 1 -> 0 transitions are half-Hann fades inside the observed region.

    The result is 0 wherever ``mask`` is 0 (the gap stays free) and reaches 1 at ``ramp_samples``
    samples from the nearest gap sample, so a replacement ``m y + (1 - m) x0_hat`` blends into the
    estimate instead of cutting at the gap edge.

    Parameters
    ----------
    mask : Tensor
        Shape (..., n), values in {0, 1}; 1 = observed.
    ramp_samples : int
        Fade length in samples; 0 returns ``mask`` unchanged.

    Returns
    -------
    Tensor
        Shape (..., n), values in [0, 1], same dtype and device.
    """
    if ramp_samples <= 0:
        return mask.clone()
    n = mask.shape[-1]
    gap = (mask < 0.5).to(mask.dtype)
    # Distance (in samples) to the nearest gap sample via a max-pool dilation per distance would
    # be O(n * ramp); a two-pass running distance is O(n) and exact.
    dist = _distance_to_nonzero(gap.reshape(-1, n)).reshape(mask.shape).to(mask.dtype)
    t = (dist / ramp_samples).clamp(max=1.0)
    fade = 0.5 - 0.5 * torch.cos(torch.pi * t)
    return torch.where(gap > 0, torch.zeros_like(mask), fade * mask)


def _distance_to_nonzero(flags: Tensor) -> Tensor:
    """Distance in samples from each position to the nearest nonzero of ``flags`` (rows (R, n)).

    Rows with no nonzero entry get distance ``n`` (i.e. "far").
    """
    r, n = flags.shape
    idx = torch.arange(n, device=flags.device).expand(r, n)
    big = torch.full_like(idx, 2 * n)
    # Last nonzero at or before each position, first nonzero at or after it.
    left = torch.where(flags > 0, idx, -big).cummax(dim=-1).values
    right = torch.where(flags > 0, idx, big).flip(-1).cummin(dim=-1).values.flip(-1)
    dist = torch.minimum(idx - left, right - idx)
    return dist.clamp(max=n)


def _l2(x: Tensor) -> Tensor:
    """Per-item Euclidean norm over the last axis, differentiable at 0: (B, n) -> (B,)."""
    return (x.pow(2).sum(dim=-1) + _EPS).sqrt()


def _unit_rms(g: Tensor) -> Tensor:
    """``g / rms(g)`` per batch item (zero stays zero)."""
    return g / (rms(g) + _EPS)


def _sigma_column(sigma: Tensor, x: Tensor) -> Tensor:
    """Noise level as a (B, 1) column broadcastable against x (B, n)."""
    sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
    return sigma.reshape(-1, 1) if sigma.ndim else sigma.reshape(1, 1)


def guided_denoiser(
    denoiser: Callable[[Tensor, Tensor], Tensor],
    y: Tensor,
    mask: Tensor,
    candidate: Tensor | None = None,
    config: GuidanceConfig | None = None,
    *,
    candidate_region: Tensor | None = None,
    autocast_dtype: torch.dtype | None = None,
    consistency_mask: Tensor | None = None,
) -> DenoiseFn:
    """Wrap an unconditional denoiser into a guided ``denoise(x, sigma)`` for the sampler.

    Parameters
    ----------
    denoiser : callable
        ``D(x, sigma) -> x0_hat`` with x (B, n), sigma (B,); differentiable w.r.t. x unless draft.
    y : Tensor
        Observed window, shape (B, n) or (n,); values inside the gap are ignored.
    mask : Tensor
        Observation mask, shape (B, n) or (n,); 1 = observed, 0 = gap.
    candidate : Tensor or None
        Candidate ``x_tilde`` in the gap, shape (B, n) or (n,), zeros outside the gap. None (or
        ``config.omega == 0``) is plain DPS.
    config : GuidanceConfig, optional
        Weights and modes; defaults to :class:`GuidanceConfig` ().
    candidate_region : Tensor, optional
        1 where the candidate term acts, same shape as ``mask``; default ``1 - mask``. Other
        unobserved samples (a neighbouring gap) are left to the prior alone.
    autocast_dtype : torch.dtype, optional
        Run the network forward under ``torch.autocast`` with this dtype (GPU bf16/fp16); the
        guidance arithmetic stays in float32.
    consistency_mask : Tensor, optional
        Where data consistency replaces the estimate by ``y`` (1) before smoothing, same shape
        as ``mask`` and 0 wherever it is; default ``mask``. A declared crossfade margin is
        observed but not replaced, so the model's own output there can be cross-faded with the
        source (``pipeline.seam_fill``).

    Returns
    -------
    callable
        ``denoise(x, sigma) -> x0_hat`` with x (B, n), sigma (B,) or scalar, x0_hat (B, n) float32.
    """
    cfg = config or GuidanceConfig()
    obs = mask.to(torch.float32)
    gap = 1.0 - obs if candidate_region is None else candidate_region.to(torch.float32)
    y = y.to(torch.float32) * obs
    use_candidate = candidate is not None and cfg.omega > 0
    x_tilde = candidate.to(torch.float32) * gap if use_candidate else None
    # Where the candidate term acts: the gap, faded in from its edges when asked to.
    cand_w = smooth_mask(gap, cfg.candidate_ramp_samples) if use_candidate else None
    cand_w_sqrt = cand_w.sqrt() if use_candidate else None
    replaced = obs if consistency_mask is None else consistency_mask.to(torch.float32) * obs
    dc_mask = (
        smooth_mask(replaced, cfg.dc_ramp_samples) if cfg.data_consistency or cfg.draft else None
    )

    def forward(x: Tensor, sigma: Tensor) -> Tensor:
        if autocast_dtype is None:
            ctx = contextlib.nullcontext()
        else:
            ctx = torch.autocast(device_type=x.device.type, dtype=autocast_dtype)
        with ctx:
            out = denoiser(x, sigma)
        return out.to(torch.float32)

    def consistency(x0: Tensor) -> Tensor:
        return dc_mask * y + (1.0 - dc_mask) * x0

    def step_length(omega: float, sig: Tensor, residual: Tensor) -> Tensor:
        """``omega sigma``, limited to the residual's rms when ``limit_step`` is set: (B, 1)."""
        length = omega * sig
        if cfg.limit_step:
            length = torch.minimum(length, rms(residual.detach()))
        return length

    def denoise_draft(x: Tensor, sigma: Tensor) -> Tensor:
        with torch.no_grad():
            x0 = forward(x, sigma)
            if use_candidate:
                residual = cand_w * (x_tilde - x0)
                length = step_length(cfg.omega, _sigma_column(sigma, x), residual)
                x0 = x0 + length * residual / (rms(residual) + _EPS)
            return consistency(x0)

    def denoise_guided(x: Tensor, sigma: Tensor) -> Tensor:
        sig = _sigma_column(sigma, x)
        if cfg.omega_y == 0 and not use_candidate:
            x0 = forward(x, sigma)
            return consistency(x0) if cfg.data_consistency else x0
        terms = []  # (step length (B, 1), loss) for each active term
        with torch.enable_grad():
            x_in = x.detach().requires_grad_(True)
            x0 = forward(x_in, sigma)
            if cfg.omega_y > 0:
                r_y = obs * (y - x0)
                terms.append((step_length(cfg.omega_y, sig, r_y), _l2(r_y)))
            if use_candidate:
                # The loss weighs by sqrt(w) so that its gradient (for J = I) is the weighted
                # residual w (x_tilde - x0_hat) itself, which the step limit then lands on.
                r_c = cand_w * (x_tilde - x0)
                terms.append((step_length(cfg.omega, sig, r_c), _l2(cand_w_sqrt * (x_tilde - x0))))
            # Per-item losses are summed over the batch: item b's gradient is its own term's.
            if len(terms) == 2 and cfg.fused_backward:
                weighted = sum((length[:, 0].detach() * loss).sum() for length, loss in terms)
                (g,) = torch.autograd.grad(weighted, x_in)
                # Unit-rms steps on (near-)orthogonal directions add up to this length.
                length = (terms[0][0] ** 2 + terms[1][0] ** 2).sqrt()
                step = length * _unit_rms(g)
            else:
                step = torch.zeros_like(x)
                for k, (length, loss) in enumerate(terms):
                    retain = k < len(terms) - 1  # one forward graph, one backward per term
                    (g,) = torch.autograd.grad(loss.sum(), x_in, retain_graph=retain)
                    step = step + length * _unit_rms(g)
        x0 = x0.detach() - step
        return consistency(x0) if cfg.data_consistency else x0

    return denoise_draft if cfg.draft else denoise_guided
