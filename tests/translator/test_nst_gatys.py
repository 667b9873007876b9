"""Gatys NST on tiny images with a random-weight VGG-19 written by the test (no downloads)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from services.translator.nst.gatys import GatysConfig, gram_matrix, stylize
from services.translator.tensor_images import rgb_to_yiq, to_tensor
from services.translator.vgg.network import VGGFeatures
from services.translator.vgg.weights import load_vgg19_features

torch.set_num_threads(1)  # the 2 cores are shared: 2 threads ran 5-10x slower under contention
STYLE_LAYERS = GatysConfig().style_layers


@pytest.fixture(scope="module")
def features() -> nn.Sequential:
    torch.manual_seed(0)
    state = torchvision.models.vgg19(weights=None).features.state_dict()
    return load_vgg19_features({f"features.{k}": v for k, v in state.items()}, "cpu")


def _content(height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    """Smooth gradients and a few blocks: a scene-like image with structure and little texture."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width]
    image = np.stack(
        [xs / width * 200 + 30, ys / height * 150 + 50, (xs + ys) / (width + height) * 120 + 60], -1
    )
    for _ in range(3):
        y, x = rng.integers(0, height - 8), rng.integers(0, width - 8)
        image[y : y + 8, x : x + 10] = rng.integers(0, 255, 3)
    return image.clip(0, 255).astype(np.uint8)


def _style(seed: int = 1) -> np.ndarray:
    """Coarse, strongly coloured checker texture: far from the content in every Gram matrix."""
    rng = np.random.default_rng(seed)
    cells = rng.integers(0, 255, (8, 10, 3), dtype=np.uint8)
    return cells.repeat(6, axis=0).repeat(6, axis=1)


def _gram_distance(features: nn.Sequential, a: np.ndarray, b: np.ndarray) -> float:
    extractor = VGGFeatures(features, STYLE_LAYERS)
    with torch.no_grad():
        fa, fb = extractor(to_tensor(a)), extractor(to_tensor(b))
        return sum(float(((gram_matrix(fa[n]) - gram_matrix(fb[n])) ** 2).sum()) for n in STYLE_LAYERS)


def test_loss_falls_and_output_grams_move_toward_the_style(features: nn.Sequential) -> None:
    content, style = _content(), _style()
    seen: list[tuple[int, float]] = []
    out, history = stylize(
        content, [style], features, GatysConfig(iterations=15), on_progress=lambda i, v: seen.append((i, v))
    )
    assert out.shape == content.shape and out.dtype == np.uint8
    assert len(history) == 15 and [i for i, _ in seen] == list(range(1, 16))
    assert history[-1] < 0.5 * history[0]
    # the strong-Wolfe line search never accepts a step that raises the loss
    assert all(b <= a * (1 + 1e-6) for a, b in zip(history, history[1:], strict=False))
    assert _gram_distance(features, out, style) < 0.8 * _gram_distance(features, content, style)
    assert np.abs(out.astype(int) - content.astype(int)).mean() > 1.0  # it did change the image


def test_adam_optimizer_also_lowers_the_loss(features: nn.Sequential) -> None:
    _, history = stylize(_content(), [_style()], features, GatysConfig(iterations=10, optimizer="adam"))
    assert history[-1] < history[0]


@pytest.mark.parametrize(
    ("height", "width", "max_side", "iterations"), [(41, 67, 512, 3), (375, 1242, 64, 3), (50, 33, 40, 2)]
)
def test_output_is_exactly_the_input_size(
    features: nn.Sequential, height: int, width: int, max_side: int, iterations: int
) -> None:
    content = _content(height, width)
    out, _ = stylize(
        content, [_style()], features, GatysConfig(iterations=iterations, working_max_side=max_side)
    )
    assert out.shape == (height, width, 3)


def test_zero_iterations_return_the_content_pixel_for_pixel(features: nn.Sequential) -> None:
    # The full-resolution output is content + upsampled residual: no optimisation, no change at all.
    content = _content(120, 200)
    out, history = stylize(content, [_style()], features, GatysConfig(iterations=0, working_max_side=64))
    assert history == []
    np.testing.assert_array_equal(out, content)


def test_residual_upsampling_keeps_full_resolution_detail(features: nn.Sequential) -> None:
    content = _content(96, 160)
    content[::2, ::2] = 255  # one-pixel detail a 64-px working image cannot represent
    out, _ = stylize(content, [_style()], features, GatysConfig(iterations=5, working_max_side=64))
    detail_in = np.abs(np.diff(content.astype(int), axis=1)).mean()
    detail_out = np.abs(np.diff(out.astype(int), axis=1)).mean()
    assert detail_out > 0.8 * detail_in


def test_preserve_color_keeps_content_chroma(features: nn.Sequential) -> None:
    content, style = _content(), _style()
    cfg = GatysConfig(iterations=10)
    plain, _ = stylize(content, [style], features, cfg)
    kept, _ = stylize(content, [style], features, GatysConfig(iterations=10, preserve_color=True))

    def yiq(image: np.ndarray) -> torch.Tensor:
        return rgb_to_yiq(to_tensor(image))[0]

    c, p, k = yiq(content), yiq(plain), yiq(kept)
    chroma_kept = float((k[1:] - c[1:]).abs().mean())
    chroma_plain = float((p[1:] - c[1:]).abs().mean())
    assert chroma_kept < 0.01  # only uint8 rounding and clipping remain
    assert chroma_kept < 0.25 * chroma_plain
    assert float((k[0] - c[0]).abs().mean()) > 0.005  # the luminance was stylised


def test_same_seed_same_image_and_noise_init_depends_on_seed(features: nn.Sequential) -> None:
    content, style = _content(), _style()
    a, ha = stylize(content, [style], features, GatysConfig(iterations=5))
    b, hb = stylize(content, [style], features, GatysConfig(iterations=5))
    np.testing.assert_array_equal(a, b)
    assert ha == hb
    n1, _ = stylize(content, [style], features, GatysConfig(iterations=3, init="noise", seed=1))
    n1_again, _ = stylize(content, [style], features, GatysConfig(iterations=3, init="noise", seed=1))
    n2, _ = stylize(content, [style], features, GatysConfig(iterations=3, init="noise", seed=2))
    np.testing.assert_array_equal(n1, n1_again)
    assert not np.array_equal(n1, n2)


def test_several_styles_average_their_grams(features: nn.Sequential) -> None:
    content = _content()
    one, _ = stylize(content, [_style(1)], features, GatysConfig(iterations=4))
    two, _ = stylize(content, [_style(1), _style(2)], features, GatysConfig(iterations=4))
    same_twice, _ = stylize(content, [_style(1), _style(1)], features, GatysConfig(iterations=4))
    np.testing.assert_allclose(one.astype(int), same_twice.astype(int), atol=1)
    assert not np.array_equal(one, two)


def test_should_stop_ends_early(features: nn.Sequential) -> None:
    calls: list[int] = []
    out, history = stylize(
        _content(),
        [_style()],
        features,
        GatysConfig(iterations=50),
        on_progress=lambda i, _: calls.append(i),
        should_stop=lambda: len(calls) >= 3,
    )
    assert len(history) == 3 and out.shape == _content().shape


def test_user_errors_are_value_errors(features: nn.Sequential) -> None:
    with pytest.raises(ValueError, match="optimizer"):
        GatysConfig(optimizer="sgd")
    with pytest.raises(ValueError, match="working_max_side"):
        GatysConfig(working_max_side=8)
    with pytest.raises(ValueError, match="style image"):
        stylize(_content(), [], features, GatysConfig(iterations=1))
    with pytest.raises(ValueError, match="uint8"):
        stylize(_content().astype(np.float32), [_style()], features, GatysConfig(iterations=1))
    with pytest.raises(ValueError, match="conv5_1"):  # 200×10 at working size 64 is 64×3: too thin
        stylize(_content(10, 200), [_style()], features, GatysConfig(iterations=1, working_max_side=64))
    with pytest.raises(ValueError, match="unknown VGG layer"):
        stylize(_content(), [_style()], features, GatysConfig(iterations=1, style_layers=("conv9_1",)))
