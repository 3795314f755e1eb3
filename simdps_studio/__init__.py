"""SimDPS Studio: repair long gaps in music recordings with similarity-guided diffusion."""

import os

__version__ = "0.1.0"

# Idle OpenMP threads should sleep, not spin: torch's CPU kernels otherwise keep both cores busy
# between calls, starving the GUI and audio threads (and slowing sampling 8x under load). It only
# takes effect before torch is first imported, hence here.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
