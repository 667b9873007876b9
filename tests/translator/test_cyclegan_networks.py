"""Our generator must be a drop-in for upstream pytorch-CycleGAN-and-pix2pix checkpoints."""

import functools

import pytest
import torch
from torch import nn

from services.translator.cyclegan.networks import (
    GeneratorConfig,
    NLayerDiscriminator,
    ResnetGenerator,
    build_generator,
    init_weights,
)

torch.set_num_threads(1)


# --- Transcription of upstream models/networks.py (ResnetGenerator / ResnetBlock), kept literal. ---
class RefResnetBlock(nn.Module):
    def __init__(self, dim, padding_type, norm_layer, use_dropout, use_bias):
        super().__init__()
        self.conv_block = self.build_conv_block(dim, padding_type, norm_layer, use_dropout, use_bias)

    def build_conv_block(self, dim, padding_type, norm_layer, use_dropout, use_bias):
        conv_block = []
        p = 0
        if padding_type == "reflect":
            conv_block += [nn.ReflectionPad2d(1)]
        elif padding_type == "replicate":
            conv_block += [nn.ReplicationPad2d(1)]
        elif padding_type == "zero":
            p = 1
        conv_block += [
            nn.Conv2d(dim, dim, kernel_size=3, padding=p, bias=use_bias),
            norm_layer(dim),
            nn.ReLU(True),
        ]
        if use_dropout:
            conv_block += [nn.Dropout(0.5)]
        p = 0
        if padding_type == "reflect":
            conv_block += [nn.ReflectionPad2d(1)]
        elif padding_type == "replicate":
            conv_block += [nn.ReplicationPad2d(1)]
        elif padding_type == "zero":
            p = 1
        conv_block += [nn.Conv2d(dim, dim, kernel_size=3, padding=p, bias=use_bias), norm_layer(dim)]
        return nn.Sequential(*conv_block)

    def forward(self, x):
        return x + self.conv_block(x)


class RefResnetGenerator(nn.Module):
    def __init__(
        self,
        input_nc,
        output_nc,
        ngf=64,
        norm_layer=nn.BatchNorm2d,
        use_dropout=False,
        n_blocks=6,
        padding_type="reflect",
    ):
        assert n_blocks >= 0
        super().__init__()
        if type(norm_layer) is functools.partial:
            use_bias = norm_layer.func == nn.InstanceNorm2d
        else:
            use_bias = norm_layer == nn.InstanceNorm2d
        model = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(input_nc, ngf, kernel_size=7, padding=0, bias=use_bias),
            norm_layer(ngf),
            nn.ReLU(True),
        ]
        n_downsampling = 2
        for i in range(n_downsampling):
            mult = 2**i
            model += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, kernel_size=3, stride=2, padding=1, bias=use_bias),
                norm_layer(ngf * mult * 2),
                nn.ReLU(True),
            ]
        mult = 2**n_downsampling
        for _ in range(n_blocks):
            model += [
                RefResnetBlock(
                    ngf * mult,
                    padding_type=padding_type,
                    norm_layer=norm_layer,
                    use_dropout=use_dropout,
                    use_bias=use_bias,
                )
            ]
        for i in range(n_downsampling):
            mult = 2 ** (n_downsampling - i)
            model += [
                nn.ConvTranspose2d(
                    ngf * mult,
                    int(ngf * mult / 2),
                    kernel_size=3,
                    stride=2,
                    padding=1,
                    output_padding=1,
                    bias=use_bias,
                ),
                norm_layer(int(ngf * mult / 2)),
                nn.ReLU(True),
            ]
        model += [nn.ReflectionPad2d(3)]
        model += [nn.Conv2d(ngf, output_nc, kernel_size=7, padding=0)]
        model += [nn.Tanh()]
        self.model = nn.Sequential(*model)

    def forward(self, input):
        return self.model(input)


REF_NORM = functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)


def _expected_keys(n_blocks: int) -> list[str]:
    keys = [f"model.{i}.{p}" for i in (1, 4, 7) for p in ("weight", "bias")]
    for b in range(10, 10 + n_blocks):
        keys += [f"model.{b}.conv_block.{c}.{p}" for c in (1, 5) for p in ("weight", "bias")]
    keys += [
        f"model.{i}.{p}" for i in (10 + n_blocks, 13 + n_blocks, 17 + n_blocks) for p in ("weight", "bias")
    ]
    return keys


def test_nine_block_state_dict_has_upstream_keys_and_shapes() -> None:
    ours = ResnetGenerator().state_dict()
    ref = RefResnetGenerator(3, 3, 64, norm_layer=REF_NORM, n_blocks=9).state_dict()
    assert len(ours) == 48
    assert list(ours) == _expected_keys(9) == list(ref)
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in ref.items()}
    assert ours["model.1.weight"].shape == (64, 3, 7, 7)
    assert ours["model.19.weight"].shape == (256, 128, 3, 3)  # ConvTranspose2d: (in, out, kh, kw)
    assert ours["model.26.weight"].shape == (3, 64, 7, 7)


@pytest.mark.parametrize(("ngf", "n_blocks", "size"), [(8, 6, (36, 52)), (4, 9, (32, 44)), (64, 1, (16, 24))])
def test_reference_weights_load_and_outputs_match(ngf: int, n_blocks: int, size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    ref = RefResnetGenerator(3, 3, ngf, norm_layer=REF_NORM, n_blocks=n_blocks).eval()
    for p in ref.parameters():
        nn.init.normal_(p, 0.0, 0.2)
    ours = build_generator(GeneratorConfig(ngf=ngf, n_blocks=n_blocks)).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.rand(2, 3, *size) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), atol=1e-5, rtol=0)
        assert ours(x).shape == x.shape


def test_discriminator_layout_and_patch_output() -> None:
    d = NLayerDiscriminator(3, 64, 3)
    assert list(d.state_dict()) == [f"model.{i}.{p}" for i in (0, 2, 5, 8, 11) for p in ("weight", "bias")]
    assert d(torch.zeros(1, 3, 256, 256)).shape == (1, 1, 30, 30)  # the 70×70 PatchGAN grid


def test_config_roundtrip_and_validation() -> None:
    cfg = GeneratorConfig(ngf=32, n_blocks=6)
    assert GeneratorConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError):
        GeneratorConfig(ngf=0)


def test_init_weights_is_upstream_normal() -> None:
    torch.manual_seed(0)
    g = ResnetGenerator(ngf=16, n_blocks=2)
    init_weights(g)
    w = g.model[10].conv_block[1].weight.detach()
    assert abs(float(w.std()) - 0.02) < 0.002 and float(g.model[1].bias.detach().abs().max()) == 0.0
