"""Training data: piano audio rendered from public-domain scores and generated textures.

Uses numpy, scipy, soundfile, soxr, music21, mido and the ``fluidsynth`` program; no torch, no Qt.
The entry point is :func:`render_corpus`; :func:`list_soundfonts` tells what can be rendered with.
"""

from simdps_studio.data.render import CATEGORY_WEIGHTS, render_corpus
from simdps_studio.data.synth import (
    Preset,
    SoundFont,
    fluidsynth_executable,
    list_soundfonts,
    resolve_soundfonts,
)

__all__ = [
    "CATEGORY_WEIGHTS",
    "Preset",
    "SoundFont",
    "fluidsynth_executable",
    "list_soundfonts",
    "render_corpus",
    "resolve_soundfonts",
]
