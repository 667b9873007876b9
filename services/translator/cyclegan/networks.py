"""CycleGAN generator and PatchGAN discriminator, layer-for-layer compatible with the upstream
pytorch-CycleGAN-and-pix2pix checkpoints (``netG=resnet_{6,9}blocks``, ``norm=instance``, ``no_dropout``).

The ``nn.Sequential`` indices are part of the checkpoint format: every padding, norm and activation
layer occupies a slot, so a parameter lives at e.g. ``model.10.conv_block.5.weight``. Do not reorder.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class GeneratorConfig:
    """Architecture of a generator; stored next to every checkpoint so the weights can be rebuilt."""

    ngf: int = 64
    n_blocks: int = 9
    input_nc: int = 3
    output_nc: int = 3

    def __post_init__(self) -> None:
        if self.ngf < 1 or self.n_blocks < 0 or self.input_nc < 1 or self.output_nc < 1:
            raise ValueError(
                f"invalid generator config {self}: ngf, input_nc, output_nc >= 1 and n_blocks >= 0"
            )

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, int]) -> GeneratorConfig:
        return cls(**{k: int(data[k]) for k in ("ngf", "n_blocks", "input_nc", "output_nc") if k in data})


def _norm(channels: int) -> nn.InstanceNorm2d:
    # Upstream "instance" norm: no affine parameters and no running statistics, so it holds no state.
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


class ResnetBlock(nn.Module):
    """pad-conv-norm-relu-pad-conv-norm with a skip connection (reflection padding, no dropout)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, kernel_size=3, padding=0, bias=True),
            _norm(dim),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, kernel_size=3, padding=0, bias=True),
            _norm(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """c7s1-ngf, two stride-2 downsamplings, ``n_blocks`` residual blocks, two transposed-conv upsamplings,
    c7s1-output_nc, tanh. Output size equals input size when both sides are multiples of 4."""

    n_downsampling = 2

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 64, n_blocks: int = 9) -> None:
        super().__init__()
        if n_blocks < 0:
            raise ValueError(f"n_blocks must be >= 0, got {n_blocks}")
        self.config = GeneratorConfig(ngf=ngf, n_blocks=n_blocks, input_nc=input_nc, output_nc=output_nc)
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(input_nc, ngf, kernel_size=7, padding=0, bias=True),
            _norm(ngf),
            nn.ReLU(True),
        ]
        for i in range(self.n_downsampling):
            mult = 2**i
            layers += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, kernel_size=3, stride=2, padding=1, bias=True),
                _norm(ngf * mult * 2),
                nn.ReLU(True),
            ]
        mult = 2**self.n_downsampling
        layers += [ResnetBlock(ngf * mult) for _ in range(n_blocks)]
        for i in range(self.n_downsampling):
            mult = 2 ** (self.n_downsampling - i)
            layers += [
                nn.ConvTranspose2d(
                    ngf * mult,
                    ngf * mult // 2,
                    kernel_size=3,
                    stride=2,
                    padding=1,
                    output_padding=1,
                    bias=True,
                ),
                _norm(ngf * mult // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, kernel_size=7, padding=0), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class NLayerDiscriminator(nn.Module):
    """70×70 PatchGAN (for n_layers=3): outputs one real/fake score per overlapping patch."""

    def __init__(self, input_nc: int = 3, ndf: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        kw, padw = 4, 1
        seq: list[nn.Module] = [
            nn.Conv2d(input_nc, ndf, kernel_size=kw, stride=2, padding=padw),
            nn.LeakyReLU(0.2, True),
        ]
        nf_mult = 1
        for n in range(1, n_layers):
            nf_mult_prev, nf_mult = nf_mult, min(2**n, 8)
            seq += [
                nn.Conv2d(
                    ndf * nf_mult_prev, ndf * nf_mult, kernel_size=kw, stride=2, padding=padw, bias=True
                ),
                _norm(ndf * nf_mult),
                nn.LeakyReLU(0.2, True),
            ]
        nf_mult_prev, nf_mult = nf_mult, min(2**n_layers, 8)
        seq += [
            nn.Conv2d(ndf * nf_mult_prev, ndf * nf_mult, kernel_size=kw, stride=1, padding=padw, bias=True),
            _norm(ndf * nf_mult),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * nf_mult, 1, kernel_size=kw, stride=1, padding=padw),
        ]
        self.model = nn.Sequential(*seq)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def init_weights(net: nn.Module, gain: float = 0.02) -> None:
    """Upstream 'normal' init: conv weights ~ N(0, gain), biases 0 (norms carry no parameters)."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def build_generator(cfg: GeneratorConfig) -> ResnetGenerator:
    return ResnetGenerator(input_nc=cfg.input_nc, output_nc=cfg.output_nc, ngf=cfg.ngf, n_blocks=cfg.n_blocks)
