import numpy as np
import pytest
import torch

from services.translator.cyclegan.fast import FastResnetGenerator
from services.translator.cyclegan.inference import Translator, pad_to_model, tile_grid
from services.translator.cyclegan.networks import ResnetGenerator, init_weights

torch.set_num_threads(2)


def _tiny(ngf: int = 4, n_blocks: int = 1, gain: float = 0.2) -> ResnetGenerator:
    torch.manual_seed(0)
    g = ResnetGenerator(ngf=ngf, n_blocks=n_blocks)
    init_weights(g, gain=gain)
    for m in g.modules():
        if isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d):
            torch.nn.init.normal_(m.bias, 0.0, 0.1)
    return g.eval()


def _smooth_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([np.sin(xx / 37 + c) * np.cos(yy / 23 - c) for c in range(3)], -1) * 80 + 128
    return np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("size", [(375, 1242), (1, 1), (2, 3), (720, 1280), (5, 9), (8, 8)])
def test_output_has_exactly_the_input_size(size: tuple[int, int]) -> None:
    img = np.random.default_rng(0).integers(0, 256, (*size, 3), dtype=np.uint8)
    (out,) = Translator(_tiny()).translate([img])
    assert out.shape == img.shape and out.dtype == np.uint8


def test_padding_is_pixel_aligned() -> None:
    # The padded region is cropped with the offsets it was added at: the input reappears unchanged.
    x = torch.rand(1, 3, 375, 1242)
    xp, (top, _, left, _) = pad_to_model(x)
    assert xp.shape[-2] % 4 == 0 and xp.shape[-1] % 4 == 0
    assert torch.equal(xp[..., top : top + 375, left : left + 1242], x)
    tiny, _ = pad_to_model(torch.rand(1, 3, 1, 1))
    assert tiny.shape[-2:] == (8, 8)


def test_identity_like_generator_keeps_content_aligned() -> None:
    # A generator whose output depends on the pixel itself must reproduce a bright dot where it was.
    g = _tiny()
    img = np.zeros((37, 53, 3), np.uint8)
    img[20, 31] = 255
    (a,) = Translator(g).translate([img])
    shifted = np.zeros_like(img)
    shifted[21, 31] = 255
    (b,) = Translator(g).translate([shifted])
    assert not np.array_equal(a, b)


def test_batching_matches_one_by_one() -> None:
    t1 = Translator(_tiny(), batch_size=1)
    t3 = Translator(_tiny(), batch_size=3)
    imgs = [_smooth_image(30, 50, s) for s in range(4)] + [_smooth_image(17, 23, 9)]
    one = t1.translate(imgs)
    many = t3.translate(imgs)
    for a, b in zip(one, many, strict=True):
        assert a.shape == b.shape
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_tiling_agrees_with_untiled_and_blends_seams() -> None:
    g = _tiny(ngf=4, n_blocks=1, gain=0.05)
    tiled_t = Translator(g, max_tile_pixels=160 * 160, tile_overlap=64)
    th, tw = tiled_t._tile_shape(160, 400)
    assert th < 160 and tw < 400  # really tiled in both directions
    # Statistically uniform content: per-tile instance-norm statistics match the global ones, so the tiled
    # result must agree closely everywhere (a one-pixel misplacement of a tile would differ by ~60 levels).
    noise = np.random.default_rng(0).integers(0, 256, (160, 400, 3), dtype=np.uint8)
    (full,) = Translator(g).translate([noise])
    (tiled,) = tiled_t.translate([noise])
    diff = np.abs(tiled.astype(int) - full.astype(int))
    assert diff.mean() < 3.0 and np.percentile(diff, 99) <= 12, (diff.mean(), np.percentile(diff, 99))


class _TileMean(torch.nn.Module):
    """Stands in for instance norm's per-tile behaviour at its most extreme: each tile becomes its mean."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(1, 2, 3), keepdim=True).expand_as(x).clone()


def test_tile_seams_are_feathered_not_cut() -> None:
    ramp = np.broadcast_to(np.linspace(0, 255, 400)[None, :, None], (160, 400, 3)).astype(np.uint8)
    t = Translator(_TileMean(), max_tile_pixels=160 * 160, tile_overlap=64)  # type: ignore[arg-type]
    (out,) = t.translate([np.ascontiguousarray(ramp)])
    _, tw = t._tile_shape(160, 400)
    starts = tile_grid(400, tw, 64)
    tile_means = [ramp[:, x0 : x0 + tw].mean() for x0 in starts]
    step = max(abs(a - b) for a, b in zip(tile_means, tile_means[1:], strict=False))
    assert step > 40  # a hard cut between tiles would jump by this much
    col_jump = np.abs(np.diff(out[0, :, 0].astype(int))).max()
    assert col_jump <= step / 64 * 2 + 2, (col_jump, step)
    assert out[:, 0].std() == 0  # rows agree: the vertical seam is blended the same way


def test_tile_grid_covers_with_overlap() -> None:
    starts = tile_grid(1000, 300, 64)
    assert starts[0] == 0 and starts[-1] + 300 == 1000
    assert all(b - a <= 300 - 64 for a, b in zip(starts, starts[1:], strict=False))
    assert tile_grid(100, 300, 64) == [0]


@pytest.mark.parametrize(("ngf", "n_blocks", "size"), [(8, 2, (64, 100)), (16, 3, (36, 52)), (4, 1, (8, 8))])
def test_fast_backend_matches_eager(ngf: int, n_blocks: int, size: tuple[int, int]) -> None:
    g = _tiny(ngf=ngf, n_blocks=n_blocks, gain=0.1)
    x = torch.rand(2, 3, *size) * 2 - 1
    with torch.inference_mode():
        ref = g(x)
        fast = FastResnetGenerator(g, openvino=False)(x)
    assert (fast - ref).abs().max() <= 1e-3
    imgs = [_smooth_image(45, 70)]
    a = Translator(g, backend="eager").translate(imgs)[0]
    b = Translator(g, backend="fast").translate(imgs)[0]
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_rejects_bad_inputs() -> None:
    t = Translator(_tiny())
    with pytest.raises(ValueError, match="uint8"):
        t.translate([np.zeros((10, 10, 3), np.float32)])
    with pytest.raises(ValueError, match="H×W×3"):
        t.translate([np.zeros((10, 10), np.uint8)])
    with pytest.raises(ValueError, match="backend"):
        Translator(_tiny(), backend="onnx")  # type: ignore[arg-type]
