"""Training data: piano audio rendered from public-domain scores and generated textures.

Uses numpy, scipy, soundfile, soxr, music21, mido, the ``fluidsynth`` program (SoundFont pianos)
and the ``npm`` program (only to fetch the Salamander samples); no torch, no Qt. The entry point is
:func:`render_corpus`; :func:`list_soundfonts` tells what SoundFonts can be rendered with,
:func:`~simdps_studio.data.salamander.fetch_salamander` fetches the sampled piano.
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
