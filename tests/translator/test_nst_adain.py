"""AdaIN: decoder training (resumable), inference size/alpha semantics, with a random-weight VGG-19."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from services.translator.adain.network import (
    AdaINModel,
    AdaINTrainConfig,
    AdaINTranslator,
    adain,
    build_decoder,
    mean_std,
    train_adain,
)
from services.translator.tensor_images import to_tensor, to_uint8
from services.translator.vgg.weights import load_vgg19_features

torch.set_num_threads(1)  # the 2 cores are shared: 2 threads ran 5-10x slower under contention


@pytest.fixture(scope="module")
def features() -> nn.Sequential:
    torch.manual_seed(0)
    state = torchvision.models.vgg19(weights=None).features.state_dict()
    return load_vgg19_features({f"features.{k}": v for k, v in state.items()}, "cpu")


def _images() -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(0)
    contents = [rng.integers(0, 255, (40, 56, 3), dtype=np.uint8) for _ in range(3)]
    styles = [rng.integers(0, 255, (6, 6, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1) for _ in range(2)]
    return contents, styles


def _loaders(images: list[np.ndarray]) -> list[Callable[[], np.ndarray]]:
    return [lambda image=image: image for image in images]


def _small_cfg(**overrides: object) -> AdaINTrainConfig:
    return AdaINTrainConfig(
        **{"iterations": 6, "batch_size": 2, "crop_size": 32, "checkpoint_every": 3, **overrides}
    )


def test_adain_gives_content_the_style_statistics() -> None:
    content, style = torch.randn(2, 8, 5, 7) * 3 + 1, torch.randn(2, 8, 4, 4) * 0.5 - 2
    out = adain(content, style)
    for a, b in zip(mean_std(out), mean_std(style), strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_training_lowers_the_loss_and_reports_progress_and_checkpoints(features: nn.Sequential) -> None:
    contents, styles = _images()
    progress: list[tuple[int, dict[str, float]]] = []
    checkpoints: list[int] = []
    decoder_state = train_adain(
        _small_cfg(iterations=30, checkpoint_every=10),
        _loaders(contents),
        _loaders(styles),
        features=features,
        on_progress=lambda i, d: progress.append((i, d)),
        on_checkpoint=lambda s: checkpoints.append(s["iteration"]),
    )
    losses = [d["loss"] for _, d in progress]
    assert [i for i, _ in progress] == list(range(1, 31)) and checkpoints == [10, 20, 30]
    assert all(np.isfinite(losses))
    assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:5])
    assert set(decoder_state) == set(build_decoder().state_dict())


def test_resume_from_a_saved_checkpoint_reproduces_the_uninterrupted_run(features: nn.Sequential) -> None:
    contents, styles = _images()
    straight = train_adain(_small_cfg(), _loaders(contents), _loaders(styles), features=features)

    saved: list[bytes] = []

    def keep(state: dict) -> None:
        buffer = io.BytesIO()
        torch.save(state, buffer)
        saved.append(buffer.getvalue())

    progress: list[int] = []
    train_adain(
        _small_cfg(),
        _loaders(contents),
        _loaders(styles),
        features=features,
        on_checkpoint=keep,
        on_progress=lambda i, _: progress.append(i),
        should_stop=lambda: len(progress) >= 3,
    )
    assert len(saved) == 1  # stopped at 3 == checkpoint_every: one checkpoint
    state = torch.load(io.BytesIO(saved[0]), weights_only=True)
    assert state["iteration"] == 3 and len(state["losses"]) == 3
    resumed = train_adain(_small_cfg(), _loaders(contents), _loaders(styles), features=features, resume=state)
    for key, value in straight.items():
        torch.testing.assert_close(resumed[key], value, atol=1e-6, rtol=1e-5)
    assert any(
        not torch.equal(straight[k], v) for k, v in build_decoder().state_dict().items() if k in straight
    )

    with pytest.raises(ValueError, match="crop_size"):
        train_adain(
            _small_cfg(crop_size=16), _loaders(contents), _loaders(styles), features=features, resume=state
        )


def test_translate_keeps_odd_sizes_and_reuses_style_statistics(features: nn.Sequential) -> None:
    contents, styles = _images()
    translator = AdaINTranslator(features, build_decoder().state_dict())
    rng = np.random.default_rng(3)
    for height, width in ((41, 67), (9, 13), (64, 64)):
        image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
        assert translator.translate(image, styles).shape == (height, width, 3)
    stats = translator.style_statistics(styles)
    np.testing.assert_array_equal(
        translator.translate(contents[0], stats), translator.translate(contents[0], styles)
    )


def test_style_statistics_are_the_average_over_style_images(features: nn.Sequential) -> None:
    _, styles = _images()
    translator = AdaINTranslator(features, build_decoder().state_dict())
    both = translator.style_statistics(styles)
    one, two = translator.style_statistics(styles[:1]), translator.style_statistics(styles[1:])
    torch.testing.assert_close(both.mean, (one.mean + two.mean) / 2)
    torch.testing.assert_close(both.std, (one.std + two.std) / 2)


def test_alpha_zero_is_the_decoders_reconstruction_of_the_content(features: nn.Sequential) -> None:
    contents, styles = _images()
    torch.manual_seed(1)
    decoder = build_decoder()
    with torch.no_grad():  # an untrained decoder outputs ~0 everywhere: spread it over [0, 1] to compare
        decoder[-1].weight.mul_(30.0)
        decoder[-1].bias.fill_(0.5)
    translator = AdaINTranslator(features, decoder.state_dict())
    image = contents[0]  # 40×56: already a multiple of 8, no padding involved
    model = AdaINModel(features, decoder).eval()
    with torch.no_grad():
        reconstruction = to_uint8(model.decoder(model.encode(to_tensor(image))["relu4_1"]))
    np.testing.assert_allclose(translator.translate(image, styles, alpha=0.0), reconstruction, atol=1)
    assert not np.array_equal(translator.translate(image, styles, alpha=1.0), reconstruction)


def test_alpha_blends_the_adain_target_with_the_content_features(features: nn.Sequential) -> None:
    contents, styles = _images()
    model = AdaINModel(features, decoder=nn.Identity())  # forward() then returns the decoder's input
    content, style = to_tensor(contents[0]), to_tensor(styles[0])
    with torch.no_grad():
        content_feat = model.encode(content)["relu4_1"]
        s_mean, s_std = mean_std(model.encode(style)["relu4_1"])
        full = adain(content_feat, model.encode(style)["relu4_1"])
        torch.testing.assert_close(model(content, s_mean, s_std, alpha=0.0), content_feat)
        torch.testing.assert_close(model(content, s_mean, s_std, alpha=1.0), full)
        torch.testing.assert_close(
            model(content, s_mean, s_std, alpha=0.25), 0.25 * full + 0.75 * content_feat
        )
    assert not torch.allclose(full, content_feat, atol=1e-2)


def test_translator_accepts_a_training_checkpoint_and_refuses_other_states(features: nn.Sequential) -> None:
    contents, styles = _images()
    captured: list[dict] = []
    decoder_state = train_adain(
        _small_cfg(iterations=2),
        _loaders(contents),
        _loaders(styles),
        features=features,
        on_checkpoint=captured.append,
    )
    from_state = AdaINTranslator(features, decoder_state).translate(contents[1], styles)
    from_checkpoint = AdaINTranslator(features, captured[-1]).translate(contents[1], styles)
    np.testing.assert_array_equal(from_state, from_checkpoint)
    with pytest.raises(ValueError, match="decoder"):
        AdaINTranslator(features, {"0.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="alpha"):
        AdaINTranslator(features, decoder_state, alpha=1.5)
    with pytest.raises(ValueError, match="8×8"):
        AdaINTranslator(features, decoder_state).translate(contents[0][:5], styles)
    with pytest.raises(ValueError, match="multiple of 8"):
        AdaINTrainConfig(crop_size=30)


def test_batched_translation_matches_one_image_at_a_time(features: nn.Sequential) -> None:
    """Dataset translation batches same-size frames: every image gets what it alone would get, in order,
    whatever the mix of sizes."""
    torch.manual_seed(3)
    translator = AdaINTranslator(features, build_decoder().state_dict())
    # A random full decoder gives nearly constant frames; this one shows every input's features.
    translator.model.decoder = nn.Sequential(nn.Conv2d(512, 3, 1), nn.Upsample(scale_factor=8), nn.Sigmoid())
    rng = np.random.default_rng(5)
    sizes = [(24, 40), (17, 33), (24, 40), (24, 40), (17, 33)]
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in sizes]
    stats = translator.style_statistics([rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)])
    one_by_one = [translator.translate(image, stats, 0.7) for image in images]
    batched = translator.translate_batch(images, stats, 0.7, batch_size=2)
    assert [b.shape for b in batched] == [o.shape for o in one_by_one]
    for b, o in zip(batched, one_by_one, strict=True):
        assert np.abs(b.astype(int) - o.astype(int)).max() <= 1  # float summation order only
    assert not np.array_equal(batched[0], batched[2])  # distinct inputs stay distinct: nothing is shared
    with pytest.raises(ValueError, match="batch_size"):
        translator.translate_batch(images, stats, batch_size=0)
