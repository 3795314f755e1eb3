"""Octave-based multi-resolution CQT U-Net score network, in the manner of MR-CQTdiff.

Written from the description of MR-CQTdiff (da Costa & Moliner 2025) and CQTdiff+ (Moliner et al.
2023); not copied from their code.

Data flow, for a waveform of ``segment_length`` samples::

    waveform -> MultiResCQT -> per-octave (real, imag) maps -> U-Net -> per-octave maps -> inverse CQT

Each octave ``o`` (``o = 0`` the highest) has its own map ``(2, rows_o, T_o)``: rows are its bins,
``T_o`` its frame count, which halves from one octave to the next inside an octave group and stays
the same where the bins per octave halve (see :mod:`.cqt`). The U-Net has one level per octave and
its levels *add one octave at a time*:

- encoder level ``l`` works at ``T_l`` frames on octaves ``0 .. l`` stacked along frequency (low
  rows first): it downsamples level ``l - 1``'s features in time by ``T_{l-1} / T_l`` (1 or 2) and
  appends the embedding of octave ``l``, which arrives at its native resolution. Level 0 sees only
  the top octave at full time resolution; the deepest level sees every octave at the coarsest time
  resolution (long-range structure: harmony, rhythm), which costs little because it is small;
- decoder level ``l`` concatenates the skip of encoder level ``l`` (channels), refines, emits
  octave ``l``'s output from its rows at its native resolution, and hands the remaining (higher)
  octaves up, upsampled in time, to level ``l - 1``.

So every octave is read and written at exactly its own time resolution, low octaves take part in
few levels (they are small) and high octaves in many (at falling cost, as time is downsampled).

Blocks are residual: GroupNorm, SiLU, 3x3 convolution, noise-level FiLM (scale and shift), SiLU, a
3x3 convolution dilated along frequency, and a per-channel gate from the noise embedding on the
residual branch. Each level cycles through ``freq_dilations`` from its own offset, so the stack
sees partials up to octaves apart; the extra blocks at the deepest level dilate along time instead
(context of a second or more). The noise level enters as Fourier features of ``c_noise`` through a
two-layer MLP. Each octave's input carries a third channel with the rows' places on the warped
frequency axis, because convolutions alone cannot tell which octave (and bin density) they see.

The network is fully convolutional in time: it also runs on windows shorter or longer than the
training segment (:meth:`CQTUNet.supports_length`); the pipeline's windowing options use that
(measured, off by default: docs/sampler.md).

Feature maps are kept in ``channels_last`` memory format: oneDNN's convolutions on the CPU are
several times faster on it for the small channel counts used here.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from simdps_studio.inpaint.cqt import MultiResCQT
from simdps_studio.inpaint.presets import ModelConfig

_CL = torch.channels_last


def _groups(channels: int) -> int:
    """GroupNorm groups: 8 where possible, channels of 4 or more per group."""
    for g in (8, 4, 2):
        if channels % g == 0 and channels // g >= 4:
            return g
    return 1


class FourierEmbedding(nn.Module):
    """Random Fourier features of a scalar (fixed, stored with the weights)."""

    def __init__(self, dim: int, scale: float = 16.0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.register_buffer("freqs", torch.randn(dim // 2, generator=gen) * scale)

    def forward(self, t: Tensor) -> Tensor:
        """``t`` (B,) -> (B, dim)."""
        arg = (2 * math.pi) * t[:, None] * self.freqs[None, :]
        return torch.cat([torch.cos(arg), torch.sin(arg)], dim=1)


class ResBlock(nn.Module):
    """Residual block with FiLM (scale, shift) and gate from the noise embedding.

    Parameters
    ----------
    in_channels, out_channels : int
        Feature channels in and out (a 1x1 convolution adapts the skip path when they differ).
    emb_dim : int
        Width of the noise embedding.
    freq_dilation : int
        Dilation of the second convolution along frequency (rows).
    time_dilation : int
        Dilation of the second convolution along time (frames).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        emb_dim: int,
        freq_dilation: int = 1,
        time_dilation: int = 1,
    ):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(in_channels), in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = nn.GroupNorm(_groups(out_channels), out_channels)
        d = (freq_dilation, time_dilation)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=d, dilation=d)
        self.film = nn.Linear(emb_dim, 3 * out_channels)
        self.skip = (
            nn.Conv2d(in_channels, out_channels, 1)
            if in_channels != out_channels
            else nn.Identity()
        )

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        """``x`` (B, C_in, rows, T), ``emb`` (B, emb_dim) -> (B, C_out, rows, T)."""
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift, gate = self.film(emb)[:, :, None, None].chunk(3, dim=1)
        h = F.silu(torch.addcmul(shift, self.norm2(h), scale + 1.0))
        h = self.conv2(h)
        return (self.skip(x) + h * (gate + 1.0)) * (1.0 / math.sqrt(2.0))


class CQTUNet(nn.Module):
    """The raw score network ``F``: waveform in, waveform out, conditioned on ``c_noise``.

    Parameters
    ----------
    config : ModelConfig
        Architecture; ``config.channels[l]`` is the width of level ``l`` (octave ``l``).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.cqt = MultiResCQT(config.sample_rate, config.segment_length, config.octave_groups)
        octaves = self.cqt.layout.octaves
        if len(octaves) != len(config.channels):
            raise ValueError("one channel width per octave is needed")
        self.n_levels = len(octaves)
        self.rows = [o.n_rows for o in octaves]
        self.frames = [o.n_frames for o in octaves]
        ch = config.channels
        emb = config.emb_dim
        dil = config.freq_dilations

        self.noise_features = FourierEmbedding(config.fourier_dim)
        self.noise_mlp = nn.Sequential(
            nn.Linear(config.fourier_dim, emb), nn.SiLU(), nn.Linear(emb, emb), nn.SiLU()
        )
        for lvl, o in enumerate(octaves):
            # One column, broadcast over however many frames a window has.
            pos = torch.tensor(o.position, dtype=torch.float32)[:, None]
            self.register_buffer(f"position_{lvl}", pos, persistent=False)
        # Filterbanks for other window lengths (plain dict: not submodules, nothing to save).
        self._other_cqts: dict[int, MultiResCQT] = {}

        self.embed = nn.ModuleList(nn.Conv2d(3, ch[lvl], 3, padding=1) for lvl in range(len(ch)))
        self.down = nn.ModuleList()
        self.up = nn.ModuleList()
        for lvl in range(1, self.n_levels):
            ratio = self.frames[lvl - 1] // self.frames[lvl]
            if ratio == 2:
                down = nn.Conv2d(ch[lvl - 1], ch[lvl], (1, 4), stride=(1, 2), padding=(0, 1))
                up = nn.ConvTranspose2d(ch[lvl], ch[lvl - 1], (1, 4), stride=(1, 2), padding=(0, 1))
            elif ratio == 1:
                down = nn.Conv2d(ch[lvl - 1], ch[lvl], 1)
                up = nn.Conv2d(ch[lvl], ch[lvl - 1], 1)
            else:  # pragma: no cover - the CQT guarantees 1 or 2
                raise ValueError(f"unsupported frame ratio {ratio} between octaves")
            self.down.append(down)
            self.up.append(up)

        n_blocks = config.blocks_per_level

        def dilation(lvl: int, j: int) -> int:
            # Block j of level lvl (encoder blocks first): each level cycles through the
            # dilations from its own offset, so the network as a whole uses all of them.
            return dil[(lvl + j) % len(dil)]

        self.enc = nn.ModuleList(
            nn.ModuleList(
                ResBlock(ch[lvl], ch[lvl], emb, dilation(lvl, j)) for j in range(n_blocks)
            )
            for lvl in range(self.n_levels)
        )
        mid_dil = config.mid_time_dilations
        self.mid = nn.ModuleList(
            ResBlock(ch[-1], ch[-1], emb, 1, mid_dil[i % len(mid_dil)])
            for i in range(config.mid_blocks)
        )
        self.dec = nn.ModuleList(
            nn.ModuleList(
                ResBlock(ch[lvl] * (2 if j == 0 else 1), ch[lvl], emb, dilation(lvl, n_blocks + j))
                for j in range(n_blocks)
            )
            for lvl in range(self.n_levels)
        )
        self.head = nn.ModuleList(
            nn.Sequential(
                nn.GroupNorm(_groups(ch[lvl]), ch[lvl]),
                nn.SiLU(),
                nn.Conv2d(ch[lvl], 2, 3, padding=1),
            )
            for lvl in range(self.n_levels)
        )

    def supports_length(self, n_samples: int) -> bool:
        """Whether the network can run on windows of ``n_samples`` samples.

        True for the training segment and for every other length whose filterbank has the same
        rows per octave and the same frame ratios between octaves (so every layer's shapes line
        up); for ``small``, every multiple of 4096 samples from 8192 on.
        """
        return self._cqt_for(int(n_samples)) is not None

    def _cqt_for(self, n_samples: int) -> MultiResCQT | None:
        if n_samples == self.cqt.n_samples:
            return self.cqt
        if n_samples in self._other_cqts:
            return self._other_cqts[n_samples]
        try:
            cqt = MultiResCQT(self.cqt.sample_rate, n_samples, self.config.octave_groups)
        except ValueError:
            cqt = None
        if cqt is not None:
            frames = [o.n_frames for o in cqt.layout.octaves]
            rows = [o.n_rows for o in cqt.layout.octaves]
            same_ratios = all(
                frames[i] * self.frames[i + 1] == frames[i + 1] * self.frames[i]
                for i in range(len(frames) - 1)
            )
            # Below 4 frames at the deepest level the mid blocks' time-dilated convolutions would
            # see little but padding.
            if rows != self.rows or not same_ratios or frames[-1] < 4:
                cqt = None
        self._other_cqts[n_samples] = cqt
        return cqt

    def _octave_input(self, coef: Tensor, lvl: int) -> Tensor:
        """Complex (B, rows, T) -> real (B, 3, rows, T): real, imag, frequency position."""
        b, rows, frames = coef.shape
        pos = getattr(self, f"position_{lvl}").to(coef.real.dtype)
        parts = torch.stack([coef.real, coef.imag, pos.expand(b, rows, frames)], dim=1)
        return parts.contiguous(memory_format=_CL)

    def forward(self, x: Tensor, c_noise: Tensor) -> Tensor:
        """Apply the network.

        Parameters
        ----------
        x : Tensor, shape (B, n_samples)
            Scaled noisy waveform (``c_in * x`` in EDM terms); ``n_samples`` is the segment length
            or another length :meth:`supports_length` accepts.
        c_noise : Tensor, shape (B,)
            Noise-level condition (``ln(sigma) / 4``).

        Returns
        -------
        Tensor, shape (B, n_samples)
        """
        cqt = self._cqt_for(int(x.shape[-1]))
        if cqt is None:
            raise ValueError(f"the network cannot run on windows of {x.shape[-1]} samples")
        emb = self.noise_mlp(self.noise_features(c_noise))
        coefs = cqt(x)
        skips = []
        h = None
        for lvl in range(self.n_levels):
            e = self.embed[lvl](self._octave_input(coefs[lvl], lvl))
            h = e if h is None else torch.cat([e, self.down[lvl - 1](h)], dim=2)
            for block in self.enc[lvl]:
                h = block(h, emb)
            skips.append(h)
        for block in self.mid:
            h = block(h, emb)
        outs: list[Tensor] = [None] * self.n_levels  # type: ignore[list-item]
        for lvl in range(self.n_levels - 1, -1, -1):
            h = torch.cat([h, skips[lvl]], dim=1)
            for block in self.dec[lvl]:
                h = block(h, emb)
            rows = self.rows[lvl]
            out = self.head[lvl](h[:, :, :rows]).float()  # float32 even under autocast
            outs[lvl] = torch.complex(out[:, 0].contiguous(), out[:, 1].contiguous())
            if lvl > 0:
                h = self.up[lvl - 1](h[:, :, rows:])
        return cqt.inverse(outs)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable-parameter elements (buffers excluded)."""
    return sum(p.numel() for p in module.parameters())
