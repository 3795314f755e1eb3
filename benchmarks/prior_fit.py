"""How well does the diffusion prior fit each material of the quality benchmark?

For every track of ``bench quality``'s materials (held-out rendered piano, the ``asc-music``
recordings, the demo) and each of the benchmark's gap positions, one model window of *context*
is taken (the window that ends where the gap starts, or the one after the gap when there is no
room before it), mixed to mono, resampled to the model rate and scaled to the model's
``sigma_data`` RMS as the pipeline scales its input. The prior's EDM-weighted denoising loss on it
is measured at a few noise levels with fixed noise (the training loss's weighting: 1 is what a
denoiser that knows only the signal's level achieves, the optimal one for white Gaussian noise)::

    loss(σ) = (σ² + σ_d²) / (σ σ_d)² · mean((D(x + σ n, σ) − x)²)

Printed per track: the loss at each σ, averaged over the gap positions, its mean over σ, and the
range of that mean over the single windows (what the app sees for one gap:
``simdps_studio.inpaint.fit`` measures the same quantity before every diffusion repair). A
material the prior knows scores near the model's validation loss; a higher value says the prior
does not know this kind of music (docs/omega.md discusses a run).

Usage::

    .venv/bin/python benchmarks/prior_fit.py --tracks 3
"""

from __future__ import annotations

import argparse

import numpy as np

from simdps_studio.bench import material
from simdps_studio.bench.config import DEFAULT_GAPS_S
from simdps_studio.inpaint.checkpoint import load_model
from simdps_studio.inpaint.fit import FIT_SIGMAS, denoising_loss, fit_noise, model_window


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, default=3, help="tracks per material")
    ap.add_argument("--model", default="piano-small")
    args = ap.parse_args()

    denoiser = load_model(args.model)
    sr_m, n_m, sd = denoiser.sample_rate, denoiser.segment_length, float(denoiser.sigma_data)
    noise = fit_noise(n_m)
    materials = [
        material.prepare_rendered(args.tracks),
        material.prepare_real(args.tracks),
        material.prepare_demo(),
    ]
    print(f"# prior fit of {args.model}: EDM-weighted denoising loss on context windows")
    print(f"{'track':<48}" + "".join(f" σ={s:<6g}" for s in FIT_SIGMAS) + "   mean  windows")
    for info in materials:
        if info.skipped:
            print(f"{info.material}: skipped ({info.skipped})")
            continue
        for track in info.tracks:
            losses = []
            for gap_s in DEFAULT_GAPS_S:
                gap = material.gap_position(track.samples.shape[1], track.sr, gap_s)
                w = model_window(
                    track.samples,
                    track.sr,
                    gap.start_sample,
                    gap.end_sample,
                    sr_m=sr_m,
                    n_m=n_m,
                    sigma_data=sd,
                )
                if w is not None:
                    losses.append(denoising_loss(denoiser, w, FIT_SIGMAS, noise))
            if not losses:
                continue
            mean = np.mean(losses, axis=0)
            per_window = np.mean(losses, axis=1)
            print(
                f"{track.name:<48}"
                + "".join(f" {v:8.3f}" for v in mean)
                + f"  {mean.mean():6.3f}  {per_window.min():6.3f}-{per_window.max():.3f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
