"""Shared test helpers: audio the tests synthesise, with known answers."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def piano_like(sr: int, duration_s: float, *, seed: int = 0, channels: int = 1) -> np.ndarray:
    """Piano-like notes: decaying, slightly inharmonic partials. Shape (channels, n), float32."""
    rng = np.random.default_rng(seed)
    n = int(round(sr * duration_s))
    t = np.arange(n) / sr
    out = np.zeros((channels, n))
    note_s = 0.25
    for k in range(int(np.ceil(duration_s / note_s))):
        f0 = 110.0 * 2 ** (rng.integers(0, 30) / 12)
        start = int(k * note_s * sr)
        tt = t[start:] - t[start]
        env = np.exp(-tt * rng.uniform(1.5, 4.0))
        for h in range(1, 7):
            f = f0 * h * np.sqrt(1 + 1e-4 * h * h)
            if f >= sr / 2:
                break
            for c in range(channels):
                out[c, start:] += (
                    (0.3 / h) * env * np.sin(2 * np.pi * f * tt + rng.uniform(0, 2 * np.pi) + c)
                )
    out *= 0.5 / max(np.abs(out).max(), 1e-9)
    return out.astype(np.float32)


@pytest.fixture
def piano():
    """The :func:`piano_like` generator."""
    return piano_like


@pytest.fixture
def torch_one_thread():
    """Run torch on one thread for the test: the models in tests are small, and on a busy shared
    CPU OpenMP's worker threads slow every operation down many times over."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
