"""How well does the diffusion prior fit each material of the quality benchmark?

For every track of ``bench quality``'s materials (held-out rendered piano, the ``asc-music``
recordings, the demo) and each of the benchmark's gap positions, one model window of *context*
is taken (the window that ends where the gap starts, or the one after the gap when there is no
room before it), mixed to mono, resampled to the model rate and scaled to the model's
``sigma_data`` RMS as the pipeline scales its input. The prior's EDM-weighted denoising loss on it
is measured at a few noise levels with fixed noise (the training loss's weighting: 1 means the
network is no better than predicting its input's expected value)::

    loss(σ) = (σ² + σ_d²) / (σ σ_d)² · mean((D(x + σ n, σ) − x)²)

Printed per track: the loss at each σ, averaged over the gap positions, and its mean over σ. A
material the prior knows scores near the model's validation loss; a higher value says the prior
does not know this kind of music (docs/omega.md discusses a run).

Usage::

    .venv/bin/python benchmarks/prior_fit.py --tracks 3
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from simdps_studio.audio.dsp import resample
from simdps_studio.inpaint.checkpoint import load_model
from simdps_studio.session import evaluate as ev

SIGMAS = (0.005, 0.02, 0.08, 0.3)


def context_window(x: np.ndarray, gap_start: int, gap_end: int, n: int) -> np.ndarray | None:
    """``n`` samples of ``x`` (time last) just before the gap, else just after it, else None."""
    start = gap_start - n if gap_start >= n else gap_end
    w = x[..., start : start + n]
    return w if w.shape[-1] == n else None


def prior_loss(denoiser, window: np.ndarray, sigmas, noise: torch.Tensor) -> np.ndarray:
    """EDM-weighted denoising loss of ``window`` (shape (n,), already scaled) at each sigma."""
    sd = float(denoiser.sigma_data)
    x = torch.from_numpy(window.astype(np.float32))[None].repeat(len(sigmas), 1)
    s = torch.tensor(sigmas, dtype=torch.float32)
    with torch.no_grad():
        d = denoiser(x + s[:, None] * noise, s)
    weight = (s**2 + sd**2) / (s * sd) ** 2
    return (weight * ((d - x) ** 2).mean(dim=1)).numpy()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, default=3, help="tracks per material")
    ap.add_argument("--model", default="piano-small")
    args = ap.parse_args()

    denoiser = load_model(args.model)
    sr_m, n_m, sd = denoiser.sample_rate, denoiser.segment_length, float(denoiser.sigma_data)
    noise = torch.randn(len(SIGMAS), n_m, generator=torch.Generator().manual_seed(0))
    materials = [
        ev.prepare_rendered(args.tracks),
        ev.prepare_real(args.tracks, install=False),
        ev.prepare_demo(),
    ]
    print(f"# prior fit of {args.model}: EDM-weighted denoising loss on context windows")
    print(f"{'track':<48}" + "".join(f" σ={s:<6g}" for s in SIGMAS) + "   mean")
    for info in materials:
        if info.skipped:
            print(f"{info.material}: skipped ({info.skipped})")
            continue
        for track in info.tracks:
            x = track.samples.mean(axis=0)
            n_track = int(np.ceil(n_m * track.sr / sr_m))
            losses = []
            for gap_s in ev.DEFAULT_GAPS_S:
                gap = ev.gap_position(track.samples.shape[1], track.sr, gap_s)
                w = context_window(x, gap.start_sample, gap.end_sample, n_track)
                if w is None:
                    continue
                w = resample(w[None], track.sr, sr_m)[0][:n_m] if track.sr != sr_m else w
                if len(w) < n_m:
                    continue
                w = w / max(float(np.sqrt(np.mean(w**2))), 1e-6) * sd
                losses.append(prior_loss(denoiser, w, SIGMAS, noise))
            if not losses:
                continue
            mean = np.mean(losses, axis=0)
            print(
                f"{track.name:<48}" + "".join(f" {v:8.3f}" for v in mean) + f"  {mean.mean():6.3f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
