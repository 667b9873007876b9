import cv2
import numpy as np
import pytest

from services.common.methods.physics import (
    PHYSICS_WEATHERS,
    DuskParams,
    FogParams,
    NightParams,
    OvercastParams,
    SnowParams,
)
from services.translator.weather.colour import white_balance_gains
from services.translator.weather.registry import RENDERERS, render
from services.translator.weather.snow import flake_density, snow_visibility_m

RANDOM_WEATHERS = ("rain", "snow", "dusk", "night")


def road_scene(height: int = 120, width: int = 240) -> tuple[np.ndarray, np.ndarray]:
    """Sky gradient on top, a shadowed road below, a red box; with its depth map (sky = inf)."""
    image = np.zeros((height, width, 3), np.uint8)
    horizon = height // 2
    image[:horizon] = np.linspace([90, 140, 215], [200, 215, 230], horizon)[:, None, :].astype(np.uint8)
    image[horizon:] = (150, 150, 150)
    image[horizon:, : width // 3] = (50, 50, 55)  # a hard cast shadow on the road
    image[horizon - 20 : horizon + 10, width // 2 : width // 2 + 40] = (200, 40, 40)
    depth = np.full((height, width), 20.0, np.float32)
    depth[:horizon] = np.inf
    depth[horizon - 20 : horizon + 10, width // 2 : width // 2 + 40] = 12.0
    return image, depth


def grey_luma(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)


def high_frequency_std(image: np.ndarray) -> float:
    luma = grey_luma(image)
    return float((luma - cv2.GaussianBlur(luma, (0, 0), 2)).std())


def test_registry_matches_the_param_schemas():
    assert set(RENDERERS) == set(PHYSICS_WEATHERS)


@pytest.mark.parametrize("weather", sorted(PHYSICS_WEATHERS))
@pytest.mark.parametrize("shape", [(375, 1242), (1, 1), (3, 5), (5, 3)])
def test_every_weather_preserves_size_and_dtype(weather, shape):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    for depth in (None, np.full(shape, 15.0, np.float32)):
        out = render(weather, image, None, depth)
        assert out.shape == image.shape and out.dtype == np.uint8


@pytest.mark.parametrize("weather", sorted(PHYSICS_WEATHERS))
def test_every_weather_is_deterministic_for_a_seed(weather):
    image, depth = road_scene()
    model = PHYSICS_WEATHERS[weather]
    first = render(weather, image, model(seed=5), depth)
    again = render(weather, image, model(seed=5), depth)
    assert first.tobytes() == again.tobytes()
    assert not np.array_equal(first, image)
    if weather in RANDOM_WEATHERS:
        assert not np.array_equal(first, render(weather, image, model(seed=6), depth))


def test_input_is_not_modified():
    image, depth = road_scene()
    before = image.copy()
    for weather in PHYSICS_WEATHERS:
        render(weather, image, None, depth)
    assert np.array_equal(image, before)


def test_unknown_weather_lists_the_known_ones():
    with pytest.raises(ValueError) as info:
        render("hail", road_scene()[0])
    for name in PHYSICS_WEATHERS:
        assert name in str(info.value)


def test_params_of_another_weather_rejected():
    with pytest.raises(ValueError, match="FogParams"):
        render("fog", road_scene()[0], SnowParams())
    with pytest.raises(ValueError, match="DuskParams"):
        render("dusk", road_scene()[0], NightParams())


@pytest.mark.parametrize(
    "bad", [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float32), np.zeros((4, 4, 4), np.uint8)]
)
def test_bad_images_rejected(bad):
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        render("overcast", bad)


def test_overcast_lowers_contrast_and_saturation():
    image, depth = road_scene()
    out = render("overcast", image, OvercastParams(), depth)
    assert grey_luma(out).std() < 0.85 * grey_luma(image).std()
    saturation_in = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)[..., 1].astype(np.float32).mean()
    saturation_out = cv2.cvtColor(out, cv2.COLOR_RGB2HSV)[..., 1].astype(np.float32).mean()
    assert saturation_out < 0.8 * saturation_in


def test_overcast_softens_the_cast_shadow():
    image, depth = road_scene()
    out = grey_luma(render("overcast", image, OvercastParams(contrast=1.0, saturation=1.0), depth))
    inp = grey_luma(image)
    ratio_in = inp[100:, 150:].mean() / inp[100:, :60].mean()
    ratio_out = out[100:, 150:].mean() / out[100:, :60].mean()
    assert ratio_out < 0.8 * ratio_in


def test_overcast_sky_becomes_uniform_grey():
    image, depth = road_scene()
    out = render("overcast", image, OvercastParams(), depth)
    sky = out[:35].astype(np.float32)  # above the red box
    assert sky.std(axis=(0, 1)).max() < 6
    assert np.ptp(sky.mean(axis=(0, 1))) < 3  # no colour cast left


def test_night_is_darker_and_noisier_than_dusk_and_day():
    image, depth = road_scene()
    smooth = cv2.GaussianBlur(image, (0, 0), 3)  # so the input has almost no high frequencies
    dusk = render("dusk", smooth, DuskParams(), depth)
    night = render("night", smooth, NightParams(), depth)
    assert grey_luma(night).mean() < grey_luma(dusk).mean() < grey_luma(smooth).mean()
    assert high_frequency_std(night) > high_frequency_std(smooth) + 1.0
    low_gain = render("night", smooth, NightParams(iso=100), depth)
    assert high_frequency_std(night) > 1.5 * high_frequency_std(low_gain)


def test_night_sky_darker_than_the_road():
    image, depth = road_scene()
    out = grey_luma(render("night", image, NightParams(), depth))
    assert out[:50].mean() < out[70:, 100:].mean()


def test_lights_glow_at_night():
    image = np.full((80, 80, 3), 100, np.uint8)
    image[38:42, 38:42] = 255  # a lamp
    depth = np.full((80, 80), 10.0, np.float32)
    glow = grey_luma(render("night", image, NightParams(read_noise_e=0, full_well_e=200_000, iso=100), depth))
    dark = grey_luma(render("night", image, NightParams(bloom_strength=0, read_noise_e=0, iso=100), depth))
    assert glow[40, 40] > 200  # the lamp keeps its brightness
    assert glow[40, 46] > dark[40, 46] + 5  # and lights up its surroundings
    assert abs(glow[5, 5] - dark[5, 5]) < 3


def test_colour_temperature_gains():
    warm = white_balance_gains(3000.0)
    cool = white_balance_gains(10_000.0)
    assert warm[0] > warm[2] and cool[2] > cool[0]
    np.testing.assert_allclose(white_balance_gains(6500.0), [1, 1, 1], atol=1e-3)


def count_flakes(out: np.ndarray, background: int) -> int:
    bright = (grey_luma(out) > background + 40).astype(np.uint8)
    return cv2.connectedComponents(bright)[0] - 1


def test_snow_flake_count_grows_with_intensity():
    image = np.full((200, 600, 3), 60, np.uint8)
    counts = [
        count_flakes(render("snow", image, SnowParams(intensity_mm_h=s, visibility_m=100_000)), 60)
        for s in (0.05, 0.2, 0.8)
    ]
    assert 0 < counts[0] < counts[1] < counts[2]


def test_snow_veil_and_physical_relations():
    assert flake_density(2.0, 5.0) == pytest.approx(2 * flake_density(1.0, 5.0))
    assert snow_visibility_m(0.5) > snow_visibility_m(2.0) > snow_visibility_m(5.0)
    assert 700 < snow_visibility_m(2.0) < 1100
    image, depth = road_scene()
    far = np.full(depth.shape, 300.0, np.float32)
    far_light = render("snow", image, SnowParams(intensity_mm_h=0.5, flake_opacity=0.01), far)
    far_heavy = render("snow", image, SnowParams(intensity_mm_h=10, flake_opacity=0.01), far)
    assert grey_luma(far_heavy).std() < 0.5 * grey_luma(far_light).std()


def test_fog_default_params_accepted_as_none():
    image, depth = road_scene()
    assert np.array_equal(render("fog", image, None, depth), render("fog", image, FogParams(), depth))
