"""Piano-like test music with known structure, for tests and benchmarks (numpy and audio.dsp).

The signals are sums of exponentially decaying, slightly inharmonic partials (a crude piano model),
arranged as random note sequences and chords. They are deterministic for a given seed, so tests can
plant repeats and dropouts at known positions and check the answers.
"""

from __future__ import annotations

import numpy as np

from simdps_studio.audio.dsp import raised_cosine

#: Inharmonicity coefficient B of the partials: f_k = k f0 sqrt(1 + B k^2).
INHARMONICITY = 4e-4


def midi_to_hz(note: float) -> float:
    """Frequency in Hz of a MIDI note number (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((note - 69.0) / 12.0)


def piano_tone(
    f0_hz: float,
    duration_s: float,
    sr: int,
    *,
    n_partials: int = 10,
    decay_s: float = 1.5,
    release_s: float = 0.08,
    phase_seed: int = 0,
) -> np.ndarray:
    """One piano-like note: decaying, slightly inharmonic partials with a short attack and release.

    Parameters
    ----------
    f0_hz : float
        Fundamental frequency in Hz.
    duration_s : float
        Length of the note including its release, in seconds.
    sr : int
        Sample rate in Hz.
    n_partials : int
        Number of partials (those above 0.45 sr are dropped).
    decay_s : float
        Time constant of the fundamental's decay; higher partials decay faster.
    release_s : float
        Raised-cosine fade at the end, so the note never stops abruptly.
    phase_seed : int
        Seed of the partials' random phases.

    Returns
    -------
    numpy.ndarray, shape (n_samples,), float32
    """
    n = max(1, int(round(duration_s * sr)))
    t = np.arange(n) / sr
    rng = np.random.default_rng(phase_seed)
    y = np.zeros(n)
    for k in range(1, n_partials + 1):
        f_k = k * f0_hz * np.sqrt(1.0 + INHARMONICITY * k * k)
        if f_k >= 0.45 * sr:
            break
        amp = 1.0 / k**1.2
        tau = decay_s / (1.0 + 0.35 * (k - 1))
        y += amp * np.exp(-t / tau) * np.sin(2 * np.pi * f_k * t + rng.uniform(0, 2 * np.pi))
    attack = min(n, max(1, int(0.004 * sr)))
    y[:attack] *= np.linspace(0.0, 1.0, attack)
    release = min(n, max(1, int(release_s * sr)))
    y[n - release :] *= raised_cosine(release, falling=True, offset=0.0, dtype=np.float64)
    return y.astype(np.float32)


def sustained_tone(
    sr: int, duration_s: float, *, f0_hz: float = 220.0, decay_s: float = 3.0
) -> np.ndarray:
    """A single long piano-like note (for LPC tests), shape (n_samples,), float32."""
    return piano_tone(f0_hz, duration_s, sr, decay_s=decay_s, release_s=0.05, phase_seed=1)


def piano_music(
    duration_s: float,
    sr: int,
    *,
    seed: int = 0,
    note_s: float = 0.25,
    chord_every: int = 4,
    level: float = 0.25,
    channels: int = 1,
) -> np.ndarray:
    """Random piano-like music: a melody of notes on a grid plus a chord every few notes.

    Every note position gets a random pitch, so passages do not repeat unless a test plants a
    repeat. Stereo output pans each note slightly differently, so channels are not identical.

    Parameters
    ----------
    duration_s : float
        Length in seconds.
    sr : int
        Sample rate in Hz.
    seed : int
        Random seed (pitches, timing jitter, velocities, phases).
    note_s : float
        Grid step between note onsets in seconds.
    chord_every : int
        A three-note chord starts on every ``chord_every``-th grid step.
    level : float
        Peak-ish level of the mix (the result is scaled so that its peak equals ``2 * level``).
    channels : int
        Number of output channels.

    Returns
    -------
    numpy.ndarray, shape (channels, n_samples), float32
    """
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * sr))
    out = np.zeros((channels, n))
    n_steps = int(np.ceil(duration_s / note_s))
    scale = np.array([0, 2, 4, 5, 7, 9, 11])
    for step in range(n_steps):
        onset = int(round((step * note_s + rng.uniform(0, 0.01)) * sr))
        if onset >= n:
            break
        notes = [60 + 12 * rng.integers(-1, 2) + scale[rng.integers(0, 7)]]
        if step % chord_every == 0:
            root = 48 + scale[rng.integers(0, 7)]
            notes += [root, root + 4, root + 7]
        for note in notes:
            dur = rng.uniform(0.3, 1.2)
            tone = piano_tone(
                midi_to_hz(note),
                dur,
                sr,
                n_partials=8,
                decay_s=rng.uniform(0.6, 2.0),
                phase_seed=int(rng.integers(1 << 30)),
            )
            tone = tone[: n - onset] * rng.uniform(0.4, 1.0)
            pan = rng.uniform(0.3, 0.7)
            gains = np.linspace(1 - pan, pan, channels) if channels > 1 else np.ones(1)
            out[:, onset : onset + tone.size] += gains[:, None] * tone[None, :]
    peak = float(np.max(np.abs(out))) or 1.0
    return (out * (2 * level / peak)).astype(np.float32)


def plant_repeat(
    x: np.ndarray,
    src_start_sample: int,
    dst_start_sample: int,
    n_samples: int,
    *,
    gain_db: float = 0.0,
) -> np.ndarray:
    """Copy ``x[..., src : src + n]`` over ``x[..., dst : dst + n]`` with a gain; returns a new array."""
    y = np.array(x, copy=True)
    seg = x[..., src_start_sample : src_start_sample + n_samples] * 10.0 ** (gain_db / 20.0)
    y[..., dst_start_sample : dst_start_sample + n_samples] = seg
    return y


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Signal-to-noise ratio of ``estimate`` against ``reference`` in dB (inf for an exact match)."""
    ref = np.asarray(reference, dtype=np.float64)
    err = np.asarray(estimate, dtype=np.float64) - ref
    e = float(np.sum(err * err))
    if e == 0.0:
        return float("inf")
    return 10.0 * np.log10(float(np.sum(ref * ref)) / e)
