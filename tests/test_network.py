"""The CQT U-Net score network, its presets and the EDM preconditioning."""

from __future__ import annotations

import json
import math

import pytest
import torch

from simdps_studio.core.errors import ModelError
from simdps_studio.inpaint.precond import Denoiser, build_denoiser, edm_scalings
from simdps_studio.inpaint.presets import PRESETS, ModelConfig, get_config

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def tiny() -> Denoiser:
    torch.manual_seed(0)
    return build_denoiser("tiny").eval()


def _x(model: Denoiser, batch: int, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(batch, model.segment_length, generator=gen)


def test_tiny_shape_size_and_contract(tiny):
    assert tiny.n_parameters < 1_000_000
    assert tiny.sample_rate == 22050 and tiny.segment_length == 32768
    assert tiny.sigma_data == tiny.config.sigma_data
    x = _x(tiny, 3)
    with torch.no_grad():
        out = tiny(x, torch.tensor([0.01, 0.1, 1.0]))
    assert out.shape == x.shape and out.dtype == torch.float32
    assert torch.isfinite(out).all()


def test_noise_conditioning_changes_the_network_output(tiny):
    x = _x(tiny, 1)
    with torch.no_grad():
        a = tiny.net(x, torch.full((1,), math.log(0.01) / 4))
        b = tiny.net(x, torch.full((1,), math.log(1.0) / 4))
    assert (a - b).abs().max() > 1e-3 * a.abs().max()


def test_deterministic_and_batch_independent_on_cpu(tiny):
    x = _x(tiny, 3)
    sigma = torch.tensor([0.05, 0.2, 0.7])
    with torch.no_grad():
        a = tiny(x, sigma)
        b = tiny(x, sigma)
        single = tiny(x[1:2], sigma[1:2])
    assert torch.equal(a, b)
    torch.testing.assert_close(single[0], a[1], rtol=1e-4, atol=1e-6)
    torch.manual_seed(0)
    again = build_denoiser("tiny").eval()
    with torch.no_grad():
        assert torch.equal(again(x, sigma), a)


def test_scalar_and_vector_sigma_agree(tiny):
    x = _x(tiny, 1)
    with torch.no_grad():
        ref = tiny(x, torch.tensor([0.3]))
        assert torch.equal(tiny(x, 0.3), ref)
        assert torch.equal(tiny(x, torch.tensor(0.3)), ref)


def test_differentiable_with_respect_to_the_input(tiny):
    frozen = build_denoiser("tiny").eval().requires_grad_(False)
    x = _x(frozen, 2).requires_grad_(True)
    out = frozen(x, torch.tensor([0.1, 0.5]))
    mask = torch.zeros_like(out)
    mask[:, :1000] = 1.0
    (g,) = torch.autograd.grad((mask * out).square().sum(), x)
    assert torch.isfinite(g).all()
    assert g[0].abs().sum() > 0 and g[1].abs().sum() > 0


def test_edm_scalings_known_values():
    sd = 0.08
    c_skip, c_out, c_in, c_noise = edm_scalings(torch.tensor([sd, 1e-4]), sd)
    torch.testing.assert_close(c_skip[0], torch.tensor(0.5))
    torch.testing.assert_close(c_out[0], torch.tensor(sd / math.sqrt(2)))
    torch.testing.assert_close(c_in[0], torch.tensor(1 / (sd * math.sqrt(2))))
    torch.testing.assert_close(c_noise[0], torch.tensor(math.log(sd) / 4))
    assert c_skip[1] > 0.999 and c_out[1] < 2e-4


def test_denoiser_is_nearly_identity_at_tiny_sigma(tiny):
    x = _x(tiny, 1)
    with torch.no_grad():
        out = tiny(x, 1e-5)
    assert (out - x).norm() < 1e-2 * x.norm()


def test_bad_input_shapes_raise(tiny):
    with pytest.raises(ValueError):
        tiny(torch.zeros(1, 1000), 0.1)
    with pytest.raises(ValueError):
        tiny(torch.zeros(2, tiny.segment_length), torch.tensor([0.1, 0.2, 0.3]))


def test_shorter_windows_run_without_changing_the_model(tiny):
    n = tiny.segment_length // 2
    assert tiny.supports_length(tiny.segment_length) and tiny.supports_length(n)
    assert not tiny.supports_length(n + 2)  # frames of neighbouring octaves no longer line up
    assert not tiny.supports_length(256)  # too short to resolve the lowest bins
    full_x = _x(tiny, 1)
    gen = torch.Generator().manual_seed(2)
    x = 0.1 * torch.randn(2, n, generator=gen)
    with torch.no_grad():
        before = tiny(full_x, 0.1)
        out = tiny(x, torch.tensor([0.05, 1.0]))
        after = tiny(full_x, 0.1)
    assert out.shape == x.shape and torch.isfinite(out).all()
    # Each batch item is denoised on its own, as at the full length.
    with torch.no_grad():
        assert torch.allclose(tiny(x[1:], 1.0), out[1:], atol=1e-6)
    # The other length's filterbank does not disturb the training segment's.
    assert torch.equal(before, after)
    with pytest.raises(ValueError, match=r"cannot run on windows|supported window"):
        tiny(torch.zeros(1, n + 2), 0.1)


def test_presets_and_config_round_trip():
    assert set(PRESETS) >= {"tiny", "small", "paper"}
    for name, cfg in PRESETS.items():
        data = json.loads(json.dumps(cfg.to_dict()))
        assert ModelConfig.from_dict(data) == cfg, name
    small = get_config("small")
    # A 2-s gap with at least 0.5 s of context on each side fits the small window.
    assert small.segment_length / small.sample_rate >= 3.0
    with pytest.raises(ModelError):
        get_config("huge")
    with pytest.raises(ModelError):
        build_denoiser("tiny", channels=(8, 8))
    with pytest.raises(ValueError):
        ModelConfig.from_dict({**small.to_dict(), "bogus": 1})


def test_parameter_counts_of_the_bigger_presets():
    small = build_denoiser("small")
    assert 1_000_000 < small.n_parameters < 10_000_000
    paper = Denoiser(get_config("paper"))
    assert 30_000_000 < paper.n_parameters < 50_000_000
