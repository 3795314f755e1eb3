"""A sample-based piano: plays a :class:`~simdps_studio.data.midi.Performance` through recorded notes.

This is the second piano of the training-data renderer, beside FluidSynth and its SoundFonts: the
Salamander Grand Piano (:mod:`~simdps_studio.data.salamander`) or any folder laid out like it.
For each performed note:

* **Pitch.** The nearest sampled key of the chosen layer is shifted to the played key by
  resampling: the recording is read as if it had been made at ``src_sr * 2**(shift / 12)`` and
  resampled to the output rate in one soxr pass, which also does the rate conversion. The ratio is
  exact in double precision, so the pitch is exact to far below a cent; the timbre is stretched by
  at most one semitone on the Salamander set (it samples every third key).
* **Velocity.** Each layer ``k`` of 16 stands for velocity ``127 k / 16``; a velocity between two
  layers that are present mixes the two, in proportion (a linear crossfade: both are the same string
  struck at nearly the same strength, so they add coherently). Outside the layers present, the
  nearest one is scaled by ``(v / v_layer) ** 1.5``.
* **Note-off and the dampers.** A damper falls at the note-off, or, while the sustain pedal is down,
  at the next pedal release. From then the note decays exponentially (faster in the treble, slower
  in the bass) and a raised-cosine fade takes it to exactly zero at -80 dB, so the end is smooth.
  Keys from F6 (MIDI 89) up have no damper on a grand and ring on. A key struck again fades its
  previous sound out over 30 ms. When the damper falls the key's release sample (the damper and
  action noise) is added, at -37 dB, louder for harder strikes and softer after a long hold (the
  levels the sample set's author gives for these recordings).

Every decoded sample and every resampled note is cached (least recently used first out, bounded
in bytes), so a corpus decodes each recording once per process. Nothing here is random: the
drawn part is :class:`SamplerSettings`, drawn from the item's generator by the corpus renderer.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import soundfile as sf
import soxr

from simdps_studio.audio.dsp import raised_cosine, raised_cosine_at
from simdps_studio.core.errors import InputError
from simdps_studio.data.midi import Performance
from simdps_studio.data.salamander import LAYERS, SampleSet

#: Keys from this one up (F6) have no dampers: they ring on after the note-off.
NO_DAMPER_FROM = 89
#: Time constant of a damped string's decay at A0 and at E6; log-interpolated in between.
DAMPER_TAU_S = (0.10, 0.025)
#: The damper's fade reaches zero where the exponential is at -80 dB: ln(10**4) time constants.
DAMPER_FADE_TAUS = float(np.log(1e4))
#: A re-struck key's previous sound fades out over this long.
RESTRIKE_FADE_S = 0.03
#: Level of the key-release samples, and how much quieter they get per second the key was held.
RELEASE_DB = -37.0
RELEASE_DECAY_DB_PER_S = 2.0
#: Velocity exponent of a layer's gain outside the layers present, and of the release level.
VELOCITY_EXPONENT = 1.5
#: Recordings are cut where they have decayed below this level relative to their peak.
SILENCE_DB = -80.0
_END_FADE_S = 0.01
_DEFAULT_CACHE_MB = 1024
_SOURCE_CACHE_MB = 192


def layer_velocity(layer: int) -> float:
    """The MIDI velocity a velocity layer (1-16) stands for: ``127 * layer / 16``."""
    return 127.0 * layer / len(LAYERS)


def damper_tau_s(pitch: int) -> float:
    """Time constant (s) of a damped string's decay: long in the bass, short in the treble."""
    lo, hi = DAMPER_TAU_S
    position = np.clip((pitch - 21) / (NO_DAMPER_FROM - 1 - 21), 0.0, 1.0)
    return float(np.exp(np.log(lo) + position * (np.log(hi) - np.log(lo))))


def damper_times(performance: Performance) -> np.ndarray:
    """When each note's damper falls: its note-off, or the next pedal release while the pedal is
    down then (``inf`` when the pedal stays down to the end).

    At equal times a note-off comes before a pedal change (as in the MIDI file FluidSynth plays),
    so a pedal pressed at the very time of a note-off does not catch it.

    Returns
    -------
    numpy.ndarray, shape (n_notes,)
        Seconds, in the order of ``performance.notes``.
    """
    pedal = sorted(performance.pedal)
    times = [t for t, _ in pedal]
    out = np.empty(len(performance.notes))
    for i, note in enumerate(performance.notes):
        k = bisect.bisect_left(times, note.end_s) - 1  # last change strictly before the note-off
        if k < 0 or not pedal[k][1]:
            out[i] = note.end_s
            continue
        later_ups = [t for t, down in pedal[k + 1 :] if not down]
        out[i] = later_ups[0] if later_ups else np.inf
    return out


def next_strikes(performance: Performance) -> np.ndarray:
    """Start of the next note on the same key after each note (``inf`` when there is none)."""
    out = np.full(len(performance.notes), np.inf)
    last: dict[int, int] = {}
    order = sorted(range(len(performance.notes)), key=lambda i: performance.notes[i].start_s)
    for i in order:
        pitch = performance.notes[i].pitch
        if pitch in last:
            out[last[pitch]] = performance.notes[i].start_s
        last[pitch] = i
    return out


@dataclass(frozen=True)
class SamplerSettings:
    """The drawn part of a sampled rendering: touch, damper speed and release-noise level.

    Attributes
    ----------
    touch : float
        Velocity curve ``v -> 127 (v / 127) ** touch``: above 1 plays softer layers, below harder.
    damper : float
        Scale of the damper time constants (felt and regulation differ between pianos).
    release_db : float
        Offset of the key-release noise level, dB.
    """

    touch: float = 1.0
    damper: float = 1.0
    release_db: float = 0.0

    @classmethod
    def draw(cls, rng: np.random.Generator) -> SamplerSettings:
        """Mild random variation of the three."""
        return cls(
            touch=float(rng.uniform(0.85, 1.2)),
            damper=float(rng.uniform(0.7, 1.5)),
            release_db=float(rng.uniform(-6.0, 4.0)),
        )

    def describe(self) -> dict:
        """JSON-ready description for the manifest."""
        return {
            "touch": round(self.touch, 3),
            "damper": round(self.damper, 3),
            "release_db": round(self.release_db, 2),
        }


class _Ending(NamedTuple):
    """The end of a note: from ``begin`` (samples after its start) a fade of ``n_fade`` samples to
    zero, times an exponential decay of time constant ``tau_s`` (0: the fade alone)."""

    begin: int
    n_fade: int
    tau_s: float


#: One sound to add: start sample, recording, gain, and how it ends (``None``: plays out).
_Voice = tuple[int, np.ndarray, float, "_Ending | None"]


class _LRUCache:
    """Arrays by key, dropping the least recently used beyond ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = int(max_bytes)
        self.bytes = 0
        self.items: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self.misses = 0

    def get(self, key: Hashable, make: Callable[[], np.ndarray]) -> np.ndarray:
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        self.misses += 1
        value = make()
        value.setflags(write=False)
        self.items[key] = value
        self.bytes += value.nbytes
        while self.bytes > self.max_bytes and len(self.items) > 1:
            _, old = self.items.popitem(last=False)
            self.bytes -= old.nbytes
        return value


def _fade_tail(x: np.ndarray, n_fade: int) -> np.ndarray:
    """Raised-cosine fade over the last ``n_fade`` samples (in place)."""
    n_fade = min(n_fade, x.size)
    if n_fade > 1:
        x[-n_fade:] *= raised_cosine(n_fade, falling=True, offset=1.0, dtype=np.float64)
    return x


class SamplerPiano:
    """Renders performances through a :class:`~simdps_studio.data.salamander.SampleSet` at ``sr``.

    Parameters
    ----------
    samples : SampleSet
        The recordings.
    sr : int
        Output sample rate.
    cache_mb : int
        Bound on the resampled notes kept in memory (the decoded recordings have their own,
        smaller bound).
    quality : str
        soxr quality of the pitch shift and rate conversion (``"HQ"``, ``"VHQ"``).
    """

    def __init__(
        self,
        samples: SampleSet,
        sr: int,
        *,
        cache_mb: int = _DEFAULT_CACHE_MB,
        quality: str = "HQ",
    ) -> None:
        if not 8_000 <= int(sr) <= 192_000:
            raise InputError(f"sample rate must be 8000-192000 Hz, not {sr}")
        self.samples = samples
        self.sr = int(sr)
        self.quality = quality
        self._keys = {layer: sorted(keys) for layer, keys in samples.notes.items()}
        self._release_keys = sorted(samples.releases)
        self._notes = _LRUCache(cache_mb << 20)
        self._sources = _LRUCache(_SOURCE_CACHE_MB << 20)
        self._source_rates: dict[str, int] = {}

    # --- sample choice -------------------------------------------------------------------------

    def nearest_key(self, pitch: int, layer: int) -> int:
        """The sampled key of ``layer`` nearest to ``pitch`` (the higher one on a tie)."""
        return min(self._keys[layer], key=lambda k: (abs(k - pitch), -k))

    def layer_mix(self, velocity: float) -> list[tuple[int, float]]:
        """``[(layer, amplitude), ...]`` for a velocity: one layer, or two neighbours crossfaded.

        Parameters
        ----------
        velocity : float
            MIDI velocity (after the touch curve), 1-127.
        """
        layers = self.samples.layers
        nominal = [layer_velocity(k) for k in layers]
        v = float(velocity)
        if v <= nominal[0]:
            return [(layers[0], (v / nominal[0]) ** VELOCITY_EXPONENT)]
        if v >= nominal[-1]:
            return [(layers[-1], (v / nominal[-1]) ** VELOCITY_EXPONENT)]
        i = bisect.bisect_right(nominal, v) - 1
        f = (v - nominal[i]) / (nominal[i + 1] - nominal[i])
        mix = [(layers[i], 1.0 - f), (layers[i + 1], f)]
        return [(k, w) for k, w in mix if w > 0.0]

    # --- decoded and resampled recordings -------------------------------------------------------

    def _source(self, path) -> tuple[np.ndarray, int]:
        """A recording, mono (channel mean), cut where it has decayed to silence, and its rate."""
        key = str(path)

        def load() -> np.ndarray:
            audio, src_sr = sf.read(path, dtype="float32", always_2d=True)
            self._source_rates[key] = int(src_sr)
            # Channel by channel: numpy's strided mean over axis 1 is several times slower.
            mono = audio[:, 0].copy()
            for c in range(1, audio.shape[1]):
                mono += audio[:, c]
            mono *= np.float32(1.0 / audio.shape[1])
            peak = float(np.max(np.abs(mono))) if mono.size else 0.0
            loud = np.flatnonzero(np.abs(mono) > peak * 10.0 ** (SILENCE_DB / 20.0))
            end = int(loud[-1]) + 1 if loud.size else 0
            return _fade_tail(np.ascontiguousarray(mono[:end]), int(_END_FADE_S * src_sr))

        mono = self._sources.get(key, load)
        return mono, self._source_rates[key]

    def note_sample(self, pitch: int, layer: int) -> np.ndarray:
        """The recording for ``pitch`` at ``layer``, pitch-shifted and at :attr:`sr`, cached.

        Returns
        -------
        numpy.ndarray, shape (n,), float32, read-only
        """

        def make() -> np.ndarray:
            key = self.nearest_key(pitch, layer)
            mono, src_sr = self._source(self.samples.notes[layer][key])
            ratio = 2.0 ** ((pitch - key) / 12.0)
            if ratio == 1.0 and src_sr == self.sr:
                return mono.copy()
            # Read at src_sr * ratio, write at sr: the pitch moves by the ratio, the rate to sr.
            out = soxr.resample(mono, src_sr * ratio, self.sr, quality=self.quality)
            return np.ascontiguousarray(out, dtype=np.float32)

        return self._notes.get(("note", pitch, layer), make)

    def release_sample(self, pitch: int) -> np.ndarray | None:
        """The key-release noise of ``pitch`` (or of the nearest key that has one) at :attr:`sr`;
        ``None`` when the set has none."""
        if not self._release_keys:
            return None
        key = min(self._release_keys, key=lambda k: (abs(k - pitch), -k))

        def make() -> np.ndarray:
            mono, src_sr = self._source(self.samples.releases[key])
            if src_sr == self.sr:
                return mono.copy()
            return np.ascontiguousarray(
                soxr.resample(mono, src_sr, self.sr, quality=self.quality), dtype=np.float32
            )

        return self._notes.get(("release", key), make)

    # --- rendering --------------------------------------------------------------------------------

    def render(
        self, performance: Performance, settings: SamplerSettings | None = None
    ) -> np.ndarray:
        """Play a performance.

        Parameters
        ----------
        performance : Performance
            Notes, velocities and sustain pedal, in seconds.
        settings : SamplerSettings, optional
            Touch, dampers and release level; default neutral.

        Returns
        -------
        numpy.ndarray, shape (n_samples,), float32
            Mono, at :attr:`sr`, running until the last sound has died away.
        """
        settings = settings or SamplerSettings()
        sr = self.sr
        dampers = damper_times(performance)
        restrikes = next_strikes(performance)
        voices: list[_Voice] = []
        for i, note in enumerate(performance.notes):
            start = int(round(note.start_s * sr))
            touch_v = 127.0 * (max(note.velocity, 1) / 127.0) ** settings.touch
            ending = self._ending(note.pitch, start, dampers[i], restrikes[i], settings)
            for layer, weight in self.layer_mix(touch_v):
                voices.append((start, self.note_sample(note.pitch, layer), weight, ending))
            release = self.release_sample(note.pitch)
            if release is not None and np.isfinite(dampers[i]):
                held_s = max(0.0, dampers[i] - note.start_s)
                gain_db = (
                    RELEASE_DB + settings.release_db - RELEASE_DECAY_DB_PER_S * min(held_s, 10)
                )
                gain = 10.0 ** (gain_db / 20.0) * (note.velocity / 127.0) ** VELOCITY_EXPONENT
                cut = restrikes[i] + RESTRIKE_FADE_S
                if dampers[i] < cut:  # no damper noise for a key struck again before it fell
                    voices.append((int(round(dampers[i] * sr)), release, gain, None))
        return self._mix(voices)

    def _ending(
        self,
        pitch: int,
        start: int,
        damper_s: float,
        restrike_s: float,
        settings: SamplerSettings,
    ) -> _Ending | None:
        """How a note starting at sample ``start`` stops: the damper or a re-strike, whichever
        silences it first; ``None`` when it plays to the end of its recording."""
        sr = self.sr
        endings = []
        if pitch < NO_DAMPER_FROM and np.isfinite(damper_s):
            tau = damper_tau_s(pitch) * settings.damper
            n_fade = max(int(round(tau * DAMPER_FADE_TAUS * sr)), 1)
            endings.append(_Ending(max(int(round(damper_s * sr)) - start, 0), n_fade, tau))
        if np.isfinite(restrike_s):
            n_fade = max(int(round(RESTRIKE_FADE_S * sr)), 1)
            endings.append(_Ending(max(int(round(restrike_s * sr)) - start, 0), n_fade, 0.0))
        return min(endings, key=lambda e: e.begin + e.n_fade, default=None)

    def _mix(self, voices: list[_Voice]) -> np.ndarray:
        """Add every voice into one buffer, each faded out by its ending."""
        ends = []
        for start, sample, _, ending in voices:
            n = sample.size if ending is None else min(sample.size, ending.begin + ending.n_fade)
            ends.append(start + n)
        out = np.zeros(max(ends, default=0) + 1, dtype=np.float64)
        for (start, sample, gain, ending), end in zip(voices, ends, strict=True):
            n = end - start
            if ending is None or ending.begin >= n:
                out[start:end] += gain * sample[:n]
                continue
            begin = ending.begin
            out[start : start + begin] += gain * sample[:begin]
            k = np.arange(n - begin)
            env = raised_cosine_at(k / ending.n_fade, falling=True)
            if ending.tau_s > 0.0:
                env *= np.exp(-k / (ending.tau_s * self.sr))
            out[start + begin : end] += gain * sample[begin:n] * env
        return out.astype(np.float32)


_SAMPLERS: dict[tuple, SamplerPiano] = {}


def sampler_for(samples: SampleSet, sr: int) -> SamplerPiano:
    """The process's sampler for a sample set and rate, so that its caches last across the files
    of a corpus (worker processes each keep their own). Only the latest one is kept."""
    key = (str(samples.root), samples.layers, tuple(sorted(samples.releases)), int(sr))
    if key not in _SAMPLERS:
        _SAMPLERS.clear()  # free the previous set's caches
        _SAMPLERS[key] = SamplerPiano(samples, sr)
    return _SAMPLERS[key]
