"""EDM preconditioning around the raw network (Karras et al. 2022, Table 1, "EDM" column, VE).

``D(x, sigma) = c_skip(sigma) x + c_out(sigma) F(c_in(sigma) x, c_noise(sigma))`` with

- ``c_skip = sigma_data^2 / (sigma^2 + sigma_data^2)``
- ``c_out  = sigma sigma_data / sqrt(sigma^2 + sigma_data^2)``
- ``c_in   = 1 / sqrt(sigma^2 + sigma_data^2)``
- ``c_noise = ln(sigma) / 4``

so the network sees unit-variance input and predicts a unit-variance target at every noise level.
``sigma_data`` is the standard deviation of the training audio after the pipeline's normalisation
(about 0.05-0.1 for piano normalised to a fixed RMS or peak); it lives in the model configuration.

This :class:`Denoiser` is the whole model contract for the sampler: ``denoised = model(x, sigma)``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from simdps_studio.core.errors import ModelError
from simdps_studio.inpaint.network import CQTUNet, count_parameters
from simdps_studio.inpaint.presets import ModelConfig, get_config

#: Noise levels are clamped to at least this before ``ln`` (sigma = 0 would give -inf).
SIGMA_FLOOR = 1e-8


def edm_scalings(sigma: Tensor, sigma_data: float) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """EDM preconditioning coefficients.

    Parameters
    ----------
    sigma : Tensor, shape (B,)
        Noise levels (positive).
    sigma_data : float
        Standard deviation of the clean data.

    Returns
    -------
    c_skip, c_out, c_in, c_noise : Tensor, each shape (B,)
    """
    sigma = sigma.clamp_min(SIGMA_FLOOR)
    s2 = sigma**2 + sigma_data**2
    c_skip = sigma_data**2 / s2
    c_out = sigma * sigma_data / s2.sqrt()
    c_in = 1.0 / s2.sqrt()
    c_noise = sigma.log() / 4.0
    return c_skip, c_out, c_in, c_noise


class Denoiser(nn.Module):
    """EDM-preconditioned denoiser: ``denoised = model(x, sigma)``.

    Parameters
    ----------
    config : ModelConfig
        Architecture, sample rate, segment length and ``sigma_data``.

    Attributes
    ----------
    sample_rate : int
        Model rate in Hz.
    segment_length : int
        Samples per model window.
    sigma_data : float
        Standard deviation of the training data.
    config : ModelConfig
    net : CQTUNet
        The raw network ``F``.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.sample_rate = config.sample_rate
        self.segment_length = config.segment_length
        self.sigma_data = float(config.sigma_data)
        self.net = CQTUNet(config)
        self.net.to(memory_format=torch.channels_last)

    @property
    def n_parameters(self) -> int:
        """Number of parameter elements."""
        return count_parameters(self)

    def supports_length(self, n_samples: int) -> bool:
        """Whether windows of ``n_samples`` samples can be denoised (see ``CQTUNet``)."""
        return self.net.supports_length(n_samples)

    def forward(self, x: Tensor, sigma: Tensor | float) -> Tensor:
        """Denoise.

        Parameters
        ----------
        x : Tensor, shape (B, n_samples)
            Noisy waveform of ``segment_length`` samples or another window length the network
            supports (:meth:`supports_length`), float32 (other float dtypes go through the
            network in the weights' dtype; the skip path keeps ``x``'s dtype).
        sigma : Tensor of shape (B,) or scalar, or float
            Noise level of each batch item.

        Returns
        -------
        Tensor, shape (B, n_samples)
            The denoised estimate, same dtype as ``x``. Differentiable with respect to ``x``.
        """
        if x.ndim != 2 or not self.supports_length(x.shape[-1]):
            raise ValueError(
                f"expected x of shape (B, {self.segment_length}) or another supported window "
                f"length, got {tuple(x.shape)}"
            )
        sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
        if sigma.ndim == 0:
            sigma = sigma.expand(x.shape[0])
        sigma = sigma.reshape(-1).to(x.dtype)
        if sigma.shape[0] != x.shape[0]:
            raise ValueError(f"sigma has {sigma.shape[0]} entries for a batch of {x.shape[0]}")
        c_skip, c_out, c_in, c_noise = edm_scalings(sigma, self.sigma_data)
        net_dtype = self.net.noise_features.freqs.dtype  # the weights' dtype (float32)
        f = self.net((c_in[:, None] * x).to(net_dtype), c_noise.to(net_dtype))
        return c_skip[:, None] * x + c_out[:, None] * f.to(x.dtype)


def build_denoiser(preset: str = "tiny", **overrides: Any) -> Denoiser:
    """A randomly initialised denoiser of a preset.

    Parameters
    ----------
    preset : {"tiny", "small", "paper"}
        Size preset (:mod:`.presets`).
    **overrides
        :class:`ModelConfig` fields to change, e.g. ``sigma_data=0.05`` or ``segment_length=65536``.

    Returns
    -------
    Denoiser
        On the CPU, in training mode; the default torch generator decides the initial weights.

    Raises
    ------
    ModelError
        For an unknown preset or an invalid override.
    """
    config = get_config(preset, **overrides)
    try:
        return Denoiser(config)
    except ValueError as exc:
        raise ModelError(f"cannot build the {preset!r} model: {exc}") from None


def network_call_seconds(preset: str = "small", *, repeats: int = 2) -> float:
    """Wall time of one forward and input-gradient pass of a preset's network on the CPU.

    Batch 1, one model window, randomly initialised weights (speed does not depend on them): the
    unit a guided sampler step is made of, used to scale time estimates to the host.

    Parameters
    ----------
    preset : str
        Size preset (:mod:`.presets`).
    repeats : int
        Timed calls after one warm-up call; the fastest is returned.

    Returns
    -------
    float
        Seconds.
    """
    import time

    gen_state = torch.random.get_rng_state()
    try:
        model = build_denoiser(preset).eval().requires_grad_(False)
        x = torch.zeros(1, model.segment_length).normal_(0.0, 0.1).requires_grad_(True)
    finally:
        torch.random.set_rng_state(gen_state)  # the caller's random stream stays as it was
    sigma = torch.full((1,), 0.5)
    best = math.inf
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        torch.autograd.grad(model(x, sigma).square().sum(), x)
        if i > 0:
            best = min(best, time.perf_counter() - t0)
    return best
