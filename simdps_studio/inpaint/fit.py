"""Does the diffusion prior know this music?  The prior's denoising loss on a gap's context.

A prior trained on piano regenerates the fine structure of a fill in its own idiom; on music it
does not know (an orchestra, a synth track) that structure is wrong and SimDPS can do worse than
pasting the candidate (docs/omega.md, *Does the prior know this music?*). The measure here is the
training loss's own quantity, evaluated on observed audio next to the gap at a few fixed noise
levels with fixed noise::

    loss(σ) = (σ² + σ_d²) / (σ σ_d)² · mean((D(x + σ n, σ) − x)²)

where ``x`` is one model window of context (mono, at the model rate, scaled to RMS σ_d as the
pipeline scales its input). 1 is what a denoiser that knows only the signal's level achieves
(the optimal one for white Gaussian noise of RMS σ_d): lower means the prior knows structure in
the audio, and a value near the model's validation loss means the material is like its training
data.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from simdps_studio.audio.dsp import resample

#: Noise levels of the measurement (the sampler's range, from fine detail to coarse structure).
FIT_SIGMAS = (0.005, 0.02, 0.08, 0.3)
#: Seed of the fixed noise, so the same window always scores the same.
FIT_SEED = 0


def fit_noise(n_samples: int, sigmas=FIT_SIGMAS, seed: int = FIT_SEED) -> torch.Tensor:
    """Fixed unit Gaussian noise, shape (len(sigmas), n_samples), one row per noise level."""
    return torch.randn(len(sigmas), n_samples, generator=torch.Generator().manual_seed(seed))


def denoising_loss(
    denoiser: torch.nn.Module,
    window: np.ndarray,
    sigmas=FIT_SIGMAS,
    noise: torch.Tensor | None = None,
) -> np.ndarray:
    """EDM-weighted denoising loss of one scaled model window at each noise level.

    Parameters
    ----------
    denoiser : torch.nn.Module
        EDM denoiser ``D(x, sigma)`` with a ``sigma_data`` attribute, on the CPU or a GPU.
    window : numpy.ndarray, shape (n_samples,)
        Mono audio at the model rate, already scaled to RMS ``sigma_data``; ``n_samples`` is a
        length the network accepts (its segment length).
    sigmas : sequence of float
        Noise levels.
    noise : torch.Tensor, shape (len(sigmas), n_samples), optional
        Unit noise; :func:`fit_noise` when omitted.

    Returns
    -------
    numpy.ndarray, shape (len(sigmas),)
        The loss at each noise level.
    """
    device = next(denoiser.parameters()).device
    sd = float(denoiser.sigma_data)
    n = len(window)
    if noise is None:
        noise = fit_noise(n, sigmas)
    x = torch.from_numpy(np.asarray(window, np.float32))[None].repeat(len(sigmas), 1).to(device)
    s = torch.tensor(list(sigmas), dtype=torch.float32, device=device)
    with torch.no_grad():
        d = denoiser(x + s[:, None] * noise.to(device), s)
    weight = (s**2 + sd**2) / (s * sd) ** 2
    return (weight * ((d - x) ** 2).mean(dim=1)).cpu().numpy()


def context_window(x: np.ndarray, gap_start: int, gap_end: int, n: int) -> np.ndarray | None:
    """``n`` samples of ``x`` (time last) that end where the gap starts, else start where it ends.

    None when neither side has ``n`` samples of context.
    """
    start = gap_start - n if gap_start >= n else gap_end
    w = x[..., start : start + n]
    return w if w.shape[-1] == n else None


def model_window(
    x: np.ndarray, sr: int, gap_start: int, gap_end: int, *, sr_m: int, n_m: int, sigma_data: float
) -> np.ndarray | None:
    """The scaled mono context window the fit is measured on, or None without enough context.

    Parameters
    ----------
    x : numpy.ndarray, shape (channels, n_samples)
        The track at rate ``sr``.
    gap_start, gap_end : int
        The gap ``[start, end)`` in samples at rate ``sr``.
    sr_m, n_m : int
        The model's rate (Hz) and window length (samples at that rate).
    sigma_data : float
        RMS the window is scaled to.

    Returns
    -------
    numpy.ndarray, shape (n_m,), float32, or None
        None also for a silent context (nothing to judge).
    """
    mono = np.asarray(x, np.float32).reshape(-1, np.shape(x)[-1]).mean(axis=0)
    n_track = int(math.ceil(n_m * sr / sr_m))
    w = context_window(mono, gap_start, gap_end, n_track)
    if w is None:
        return None
    if sr != sr_m:
        w = resample(w[None], sr, sr_m)[0]
    if len(w) < n_m:
        return None
    w = w[:n_m]
    rms = float(np.sqrt(np.mean(w.astype(np.float64) ** 2)))
    if not np.isfinite(rms) or rms < 1e-6:
        return None
    return (w / rms * sigma_data).astype(np.float32)


def prior_fit(
    denoiser: torch.nn.Module, x: np.ndarray, sr: int, gap_start: int, gap_end: int
) -> float | None:
    """Mean denoising loss of the prior on the gap's context, or None without enough context.

    One network call on a batch of ``len(FIT_SIGMAS)`` windows, without gradients. Compare with
    the model's validation loss (``session.engines.POOR_FIT_RATIO``).
    """
    w = model_window(
        x,
        sr,
        gap_start,
        gap_end,
        sr_m=int(denoiser.sample_rate),
        n_m=int(denoiser.segment_length),
        sigma_data=float(denoiser.sigma_data),
    )
    if w is None:
        return None
    return float(np.mean(denoising_loss(denoiser, w)))
