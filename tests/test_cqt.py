"""The multi-resolution CQT: exact inverse, gradients, localisation, caching, layout."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from simdps_studio.inpaint.cqt import MultiResCQT, cqt_layout

GROUPS = ((3, 8), (4, 16), (2, 32))


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _signal(n: int, sr: int, batch: int, dtype: torch.dtype) -> torch.Tensor:
    """Noise, a few partials and a click: broadband content in every band, DC included."""
    gen = torch.Generator().manual_seed(7)
    t = torch.arange(n, dtype=torch.float64) / sr
    x = 0.1 * torch.randn(batch, n, generator=gen, dtype=torch.float64)
    for f_hz, a in ((27.5, 0.5), (440.0, 0.3), (3520.0, 0.2), (0.45 * sr, 0.05)):
        x = x + a * torch.sin(2 * math.pi * f_hz * t)
    x[:, n // 3] += 1.0
    return (x + 0.01).to(dtype)


@pytest.mark.parametrize(
    ("sr", "n", "dtype", "tol"),
    [
        (22050, 81920, torch.float32, 1e-5),
        (44100, 131072, torch.float32, 1e-5),
        (22050, 81920, torch.float64, 1e-12),
        (44100, 131072, torch.float64, 1e-12),
    ],
)
def test_reconstruction_is_exact(sr, n, dtype, tol):
    cqt = MultiResCQT(sr, n, GROUPS)
    x = _signal(n, sr, batch=3, dtype=dtype)
    coefs = cqt(x)
    assert all(
        c.dtype == (torch.complex64 if dtype == torch.float32 else torch.complex128) for c in coefs
    )
    assert [tuple(c.shape) for c in coefs] == [
        (3, o.n_rows, o.n_frames) for o in cqt.layout.octaves
    ]
    y = cqt.inverse(coefs)
    assert y.shape == x.shape and y.dtype == dtype
    rel = ((y - x).norm() / x.norm()).item()
    assert rel < tol, rel


def test_batch_items_are_independent():
    cqt = MultiResCQT(22050, 16384, GROUPS)
    x = _signal(16384, 22050, batch=4, dtype=torch.float64).reshape(2, 2, -1)
    full = cqt(x)
    single = cqt(x[1, 0])
    for a, b in zip(full, single):
        assert a.shape[:2] == (2, 2)
        torch.testing.assert_close(a[1, 0], b, rtol=0, atol=1e-12)


def test_frame_is_nearly_parseval():
    # sum |c|^2 = ||x||^2 for zero-mean real input (DC and Nyquist bins aside).
    cqt = MultiResCQT(22050, 32768, GROUPS)
    x = torch.randn(2, 32768, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x = x - x.mean(dim=-1, keepdim=True)
    energy = sum(c.abs().square().sum(dim=(-2, -1)) for c in cqt(x))
    torch.testing.assert_close(energy, x.square().sum(-1), rtol=1e-3, atol=0)


def test_gradients_flow_through_forward_and_inverse():
    cqt = MultiResCQT(22050, 16384, GROUPS)
    x = _signal(16384, 22050, batch=2, dtype=torch.float32).requires_grad_(True)
    w = torch.randn(2, 16384, generator=torch.Generator().manual_seed(3))
    (cqt.inverse(cqt(x)) * w).sum().backward()
    # inverse(forward(.)) is the identity, so its Jacobian is too.
    torch.testing.assert_close(x.grad, w, rtol=0, atol=1e-5)

    x2 = x.detach().clone().requires_grad_(True)
    sum(c.abs().square().sum() for c in cqt(x2)).backward()
    assert torch.isfinite(x2.grad).all() and x2.grad.abs().sum() > 0


def test_sinusoid_lands_in_its_bin_and_impulse_at_its_time():
    sr, n = 22050, 65536
    cqt = MultiResCQT(sr, n, GROUPS)
    layout = cqt.layout
    t = torch.arange(n, dtype=torch.float64) / sr
    for f_hz in (55.0, 440.0, 1760.0, 7040.0):
        coefs = cqt(torch.sin(2 * math.pi * f_hz * t))
        energy = [(c.abs() ** 2).mean(-1) for c in coefs]
        o = int(np.argmax([e.max().item() for e in energy]))
        row = int(energy[o].argmax())
        assert abs(math.log2(layout.octaves[o].center_hz[row] / f_hz)) < 0.05, (f_hz, o, row)

    impulse = torch.zeros(n, dtype=torch.float64)
    at = 20000
    impulse[at] = 1.0
    for o, c in zip(layout.octaves, cqt(impulse)):
        frame = int(c.abs().sum(0).argmax())
        hop = n // o.n_frames
        assert abs(frame * hop - at) <= hop, (o, frame)


def test_layout_frames_and_cache():
    layout = cqt_layout(22050, 81920, GROUPS)
    frames = [o.n_frames for o in layout.octaves]
    assert all(81920 % f == 0 for f in frames)
    assert all(a // b in (1, 2) and a % b == 0 for a, b in itertools.pairwise(frames))
    assert layout.octaves[0].center_hz[-1] == 11025.0  # Nyquist band on top
    assert layout.octaves[-1].center_hz[0] == 0.0  # lowpass band at the bottom
    assert sum(o.n_rows for o in layout.octaves) == 3 * 8 + 4 * 16 + 2 * 32 + 2
    # Filters are built once and shared.
    a = MultiResCQT(22050, 81920, GROUPS)
    b = MultiResCQT(22050, 81920, [list(g) for g in GROUPS])
    assert a._filters(torch.device("cpu"), torch.float32) is b._filters(
        torch.device("cpu"), torch.float32
    )


def test_bad_lengths_raise():
    cqt = MultiResCQT(22050, 16384, GROUPS)
    with pytest.raises(ValueError):
        cqt(torch.zeros(1, 1000))
    with pytest.raises(ValueError):
        MultiResCQT(22050, 1001, GROUPS)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_reconstruction_on_cuda():
    cqt = MultiResCQT(44100, 131072, GROUPS)
    x = _signal(131072, 44100, batch=2, dtype=torch.float32).cuda()
    y = cqt.inverse(cqt(x))
    assert ((y - x).norm() / x.norm()).item() < 1e-5
