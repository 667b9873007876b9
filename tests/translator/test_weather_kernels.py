import platform

import numpy as np
import pytest

from services.common.methods.physics import (
    DuskParams,
    FogParams,
    NightParams,
    OvercastParams,
    RainParams,
    SnowParams,
)
from services.translator.weather import kernels
from services.translator.weather.colour import ENCODE_STEPS, LINEAR_TO_SRGB_U8, linear_to_srgb_u8
from services.translator.weather.depth import ground_plane_depth
from services.translator.weather.fog import render_fog
from services.translator.weather.night import _NORMAL_LUT, render_dusk, render_night
from services.translator.weather.overcast import render_overcast
from services.translator.weather.precipitation import composite_reference
from services.translator.weather.rain import render_rain, sample_drops
from services.translator.weather.snow import render_snow

pytestmark = pytest.mark.skipif(not kernels.available(), reason="no C++ compiler for the kernels")


def road_scene(height: int = 200, width: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """Textured frame with a ground-plane depth, sky (inf) on top and a near box (occludes far drops)."""
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    depth = ground_plane_depth(height, width)
    depth[height // 2 :, 50:120] = 0.8  # nearer than most drops
    return image, depth


def assert_same_pixels(reference: np.ndarray, fast: np.ndarray) -> None:
    diff = np.abs(reference.astype(int) - fast.astype(int))
    assert diff.max() <= 1  # float rounding (FMA, exp approximation) only
    assert (diff > 0).mean() < 0.001


@pytest.mark.parametrize("intensity", [2.5, 10.0, 50.0])
@pytest.mark.parametrize("with_depth", [True, False])
def test_rain_kernel_matches_the_numpy_reference(intensity, with_depth):
    image, depth = road_scene()
    params = RainParams(intensity_mm_h=intensity, seed=5, angle_deg=-20.0)
    depth_m = depth if with_depth else None
    fast = render_rain(image, params, depth_m, fast=True)
    assert_same_pixels(render_rain(image, params, depth_m, fast=False), fast)
    assert np.abs(fast.astype(int) - image).max() > 20  # the scene did change: streaks and veil


@pytest.mark.parametrize("angle", [0.0, 55.0])  # x-major lines at 55°
def test_clear_air_streaks_match_exactly_enough(angle):
    grey = np.full((120, 300, 3), 90, np.uint8)
    params = RainParams(intensity_mm_h=25, seed=1, angle_deg=angle, visibility_m=100_000, dimming=1.0)
    assert_same_pixels(
        render_rain(grey, params, None, fast=False), render_rain(grey, params, None, fast=True)
    )


def test_snow_kernel_matches_the_numpy_reference():
    image, depth = road_scene()
    params = SnowParams(intensity_mm_h=2.0, seed=3)
    assert_same_pixels(
        render_snow(image, params, depth, fast=False), render_snow(image, params, depth, fast=True)
    )


def test_result_does_not_depend_on_the_thread_count():
    image, depth = road_scene(97, 131)
    drops = sample_drops(np.random.default_rng(2), RainParams(intensity_mm_h=50), 97, 131)
    air = np.array([0.6, 0.62, 0.65], np.float32)
    frames = [
        kernels.render_precipitation(image, drops, 100.0, depth, depth, 0.002, air, 0.8, air, threads=n)
        for n in (1, 2, 3)
    ]
    assert frames[0].tobytes() == frames[1].tobytes() == frames[2].tobytes()


def test_mismatched_depth_is_refused():
    image, depth = road_scene(20, 30)
    drops = sample_drops(np.random.default_rng(0), RainParams(), 20, 30)
    with pytest.raises(ValueError, match="scene depth"):
        kernels.render_precipitation(image, drops, 30.0, depth[:10], None, 0.001, np.ones(3), 1.0, np.ones(3))


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86-64 instruction sets")
def test_the_portable_composite_gives_the_same_pixels_as_the_native_one(monkeypatch):
    # -march=native and x86-64-v3 (AVX2) vectorise the composite differently: the pixels must not change.
    portable_flags = [f for f in kernels._FLAGS if f != "-march=native"] + ["-march=x86-64-v3"]
    image, depth = road_scene()
    params = RainParams(intensity_mm_h=25, seed=4)
    native = render_rain(image, params, depth, fast=True)
    monkeypatch.setattr(kernels, "load", lambda: kernels.build(portable_flags))
    portable = render_rain(image, params, depth, fast=True)
    assert np.array_equal(native, portable)


@pytest.mark.parametrize("with_opacity", [True, False])
def test_linear_composite_matches_the_numpy_reference(with_opacity):
    rng = np.random.default_rng(11)
    image = rng.integers(0, 256, (61, 173, 3), dtype=np.uint8)
    t = rng.random((61, 173), dtype=np.float32)
    opacity = rng.random((61, 173), dtype=np.float32) if with_opacity else None
    air, colour = np.array([0.5, 0.52, 0.55], np.float32), np.array([0.9, 0.9, 0.95], np.float32)
    fast = kernels.composite_linear(image, t, opacity, air, colour, 0.8)
    assert_same_pixels(composite_reference(image, t, opacity, air, colour, 0.8), fast)
    # t = 1 and no particles: the image comes back through decode and encode unchanged.
    same = kernels.composite_linear(image, np.ones((61, 173), np.float32), None, air, colour, 1.0)
    assert np.array_equal(same, image)


@pytest.mark.parametrize("with_depth", [True, False])
def test_fog_kernel_matches_the_numpy_reference(with_depth):
    image, depth = road_scene()
    params = FogParams(visibility_m=80.0, heterogeneity=0.3, seed=2)
    depth_m = depth if with_depth else None
    fast = render_fog(image, params, depth_m, fast=True)
    assert_same_pixels(render_fog(image, params, depth_m, fast=False), fast)
    assert np.abs(fast.astype(int) - image).max() > 20


def test_the_encode_table_is_within_half_a_level_of_the_exact_curve():
    linear = np.linspace(0.0, 1.0, 200_001, dtype=np.float64)
    exact = 255.0 * np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)
    coded = linear_to_srgb_u8(linear.astype(np.float32)).astype(np.float64)
    assert np.abs(coded - exact).max() <= 0.5 + 12.92 * 255.0 / ENCODE_STEPS / 2 + 1e-6
    assert LINEAR_TO_SRGB_U8[0] == 0 and LINEAR_TO_SRGB_U8[-1] == 255


def lit_street(height: int = 160, width: int = 420) -> tuple[np.ndarray, np.ndarray]:
    """road_scene with a smooth sky on top and a few small lamps (bright compact blobs) below it."""
    image, depth = road_scene(height, width)
    image[: height // 3] = np.linspace(120, 220, height // 3, dtype=np.uint8)[:, None, None]
    depth[: height // 3] = np.inf
    for x in (60, 200, 330):
        image[height // 2 : height // 2 + 4, x : x + 5] = (255, 230, 180)
    return image, depth


@pytest.mark.parametrize("with_depth", [True, False])
def test_overcast_kernel_matches_the_numpy_reference(with_depth):
    image, depth = lit_street()
    depth_m = depth if with_depth else None
    fast = render_overcast(image, OvercastParams(), depth_m, fast=True)
    assert_same_pixels(render_overcast(image, OvercastParams(), depth_m, fast=False), fast)
    assert np.abs(fast.astype(int) - image).max() > 20


@pytest.mark.parametrize("render", [render_dusk, render_night])
@pytest.mark.parametrize("with_depth", [True, False])
def test_low_light_kernel_matches_the_numpy_reference(render, with_depth):
    image, depth = lit_street()
    params = (DuskParams if render is render_dusk else NightParams)(seed=3)
    depth_m = depth if with_depth else None
    fast = render(image, params, depth_m, fast=True)
    assert_same_pixels(render(image, params, depth_m, fast=False), fast)
    assert np.abs(fast.astype(int) - image).max() > 20


def test_tone_map_kernels_do_not_depend_on_the_thread_count():
    image, _ = road_scene(97, 131)
    rng = np.random.default_rng(4)
    base = rng.normal(-2.0, 0.5, (97, 131)).astype(np.float32)
    sky = np.clip(rng.random((97, 131), dtype=np.float32) - 0.5, 0, 1)
    cloud = np.linspace(0.5, 0.6, 97, dtype=np.float32)
    noise = rng.integers(0, 256, image.shape, dtype=np.uint8)
    glow = rng.random(image.shape, dtype=np.float32) * 0.1
    wb = np.array([1.1, 1.0, 0.8], np.float32)
    tint = rng.random((97, 3), dtype=np.float32)
    for frames in (
        [kernels.overcast_finish(image, base, wb, 0.8, 0.9, sky, cloud, threads=n) for n in (1, 2, 3)],
        [
            kernels.low_light(image, wb, sky, tint, sky, glow, noise, _NORMAL_LUT, 500.0, 3.0, threads=n)
            for n in (1, 2, 3)
        ],
    ):
        assert frames[0].tobytes() == frames[1].tobytes() == frames[2].tobytes()
