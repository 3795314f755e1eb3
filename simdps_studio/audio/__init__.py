"""Audio I/O (soundfile), resampling (soxr), dither and the waveform peak pyramid.

The playback engine (sounddevice) lives in its own module and is imported lazily.
"""

from simdps_studio.audio.dsp import raised_cosine, resample, rms_db, to_mono, tpdf_dither_quantize
from simdps_studio.audio.io import AudioFileInfo, file_sha256, info, load, read_cues, write
from simdps_studio.audio.peaks import PeakPyramid

__all__ = [
    "AudioFileInfo",
    "PeakPyramid",
    "file_sha256",
    "info",
    "load",
    "raised_cosine",
    "read_cues",
    "resample",
    "rms_db",
    "to_mono",
    "tpdf_dither_quantize",
    "write",
]
