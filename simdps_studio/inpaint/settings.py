"""The sampler's and the repair's defaults, in one torch-free home.

The diffusion code (``sampler``, ``guidance``, ``pipeline``) and the torch-free layers above it
(``session.engines``, the app's panels and estimate, the benchmark) all read these values here,
so that what the app promises (steps, network calls, window sizes) is what the sampler does.
Standard library only: importing this module never imports torch (``tests/test_layering.py``).
"""

from __future__ import annotations

#: The model a repair uses when none is named (``--method auto``, the app, ``--version``).
DEFAULT_MODEL = "piano-small"

#: Sampler steps of a repair when none are asked for: the paper's 35 for the full sampler, 20 in
#: draft mode, whose fills were no worse with 20 than with 35 and which is the fast path
#: (docs/sampler.md, *Number of steps*).
FULL_STEPS = 35
DRAFT_STEPS = 20
#: The sampler's own default (``inpaint.sampler.edm_sigmas``, ``inpaint_gap``): the full sampler's.
DEFAULT_STEPS = FULL_STEPS
#: Solver of the full sampler (stochastic Heun) and of draft mode (Euler, one network call a step).
FULL_SOLVER = "heun"
DRAFT_SOLVER = "euler"

#: Noise schedule of the inpainting sampler (Karras et al. 2022, eq. 5), after Moliner &
#: Välimäki's settings for audio inpainting: sigma from 1 down to 1e-4, rho 13.
DEFAULT_SIGMA_MIN = 1e-4
DEFAULT_SIGMA_MAX = 1.0
DEFAULT_RHO = 13.0

#: Named settings of the candidate weight ω_x̃: the SimDPS paper's strict (0.15) and relaxed
#: (0.04), free (plain DPS) and copy, the weight at which the fill reproduces the candidate
#: (LSD to it 0.1-2 dB with piano-small, against 5-8 dB at 0.15; docs/omega.md) and the
#: diffusion only shapes the seams.
OMEGA_PRESETS = {"strict": 0.15, "relaxed": 0.04, "free": 0.0, "copy": 0.5}
#: Weight of the observed context in the guidance (ω_y) when none is asked for.
OMEGA_Y_DEFAULT = 0.25

#: Share of each model window the pipeline keeps as context before (and after) the part being
#: filled, at least: a window fills 60 % of its length at most.
CONTEXT_FRACTION = 0.2


def solver_for(draft: bool) -> str:
    """The solver a repair samples with by default: :data:`DRAFT_SOLVER` in draft mode."""
    return DRAFT_SOLVER if draft else FULL_SOLVER


def n_denoiser_calls(steps: int, solver: str = FULL_SOLVER) -> int:
    """Denoiser (network) evaluations for ``steps`` sampler steps.

    Heun evaluates twice a step but the last (2N - 1), Euler once a step (N).

    Parameters
    ----------
    steps : int
        Sampler steps that run.
    solver : str
        ``"heun"`` or ``"euler"``.

    Returns
    -------
    int
        Network calls per window and take (0 for no steps).
    """
    if solver == DRAFT_SOLVER:
        return max(steps, 0)
    return max(2 * steps - 1, 0)
