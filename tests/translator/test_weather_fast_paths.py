"""The vectorised fast paths of the physics weathers agree with their straightforward float versions."""

import cv2
import numpy as np
import pytest

from services.translator.weather.atmosphere import (
    composite,
    composite_u8,
    dark_channel,
    estimate_atmospheric_light,
    transmission_from_depth,
)
from services.translator.weather.colour import LUMA, SRGB_TO_LINEAR_LUT, luminance, srgb_u8_to_linear
from services.translator.weather.particles import Particles, render_alpha


def random_inputs(seed: int, height: int = 97, width: int = 131):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    t = rng.random((height, width), dtype=np.float32)
    t[:10] = 0.0  # sky
    t[-10:] = 1.0  # at the lens
    alpha = (rng.random((height, width)) < 0.3) * rng.integers(0, 256, (height, width))
    return image, t, alpha.astype(np.uint8)


@pytest.mark.parametrize("seed", range(4))
def test_fixed_point_composite_matches_the_float_one(seed):
    image, t, alpha = random_inputs(seed)
    airlight = np.array([0.55, 0.6, 0.7], np.float32)
    colour = np.array([0.65, 0.69, 0.5], np.float32)  # one channel darker than the airlight
    for gain, a in ((1.0, None), (0.8, alpha)):
        fast = composite_u8(image, t, airlight, gain, a, colour if a is not None else None)
        # The float model, fed the same 8-bit weight w = t·(1 − α) that the fixed-point path shares.
        weight = cv2.convertScaleAbs(t, alpha=255.0).astype(np.float32)
        if a is not None:
            weight = np.round(weight * (255 - a) / 255.0)
        ref = composite(image / 255.0, weight / 255.0, airlight, gain) * 255.0
        if a is not None:
            ref += (colour - airlight) * a[..., None].astype(np.float32)
        diff = np.abs(fast.astype(np.float32) - np.clip(ref, 0, 255))
        assert diff.max() <= 1.0 + 1e-3
        # And against the unquantised float model the error stays within about a grey level.
        exact = composite(image / 255.0, t, airlight, gain, None if a is None else a / 255.0, colour) * 255.0
        loose = np.abs(fast.astype(np.float32) - np.clip(exact, 0, 255))
        assert loose.max() <= 2.0 and loose.mean() < 0.5


def test_composite_u8_needs_the_particle_colour():
    image, t, alpha = random_inputs(0)
    with pytest.raises(ValueError, match="particle_colour"):
        composite_u8(image, t, np.array([0.5, 0.5, 0.5]), 1.0, alpha)


def full_resolution_airlight(image: np.ndarray, top_fraction: float = 0.001, patch: int = 15) -> np.ndarray:
    small = image.astype(np.float32) / 255.0
    dark = dark_channel(small, patch).ravel()
    count = max(1, round(dark.size * top_fraction))
    top = np.argpartition(dark, dark.size - count)[dark.size - count :]
    return small.reshape(-1, 3)[top].mean(axis=0)


@pytest.mark.parametrize("noise", [0.0, 4.0, 15.0])
def test_downsampled_airlight_close_to_full_resolution(noise):
    rng = np.random.default_rng(1)
    height, width = 375, 1242
    image = np.zeros((height, width, 3), np.float32)
    rows = np.linspace(0, 1, height // 2, dtype=np.float32)[:, None, None]
    image[: height // 2] = np.array([90, 140, 215]) * (1 - rows) + np.array([200, 215, 230]) * rows
    image[height // 2 :] = (95, 95, 100)
    image[150:200, 300:500] = (120, 110, 100)  # a building on the horizon
    image += rng.normal(0, noise, image.shape).astype(np.float32)
    image = np.clip(image, 0, 255).astype(np.uint8)
    fast = estimate_atmospheric_light(image) * 255.0
    full = full_resolution_airlight(image) * 255.0
    np.testing.assert_allclose(fast, full, atol=3.0)


def test_airlight_accepts_float_images_and_tiny_ones():
    image = np.full((40, 70, 3), (60, 70, 80), np.uint8)
    image[:12] = (170, 190, 220)  # sky
    np.testing.assert_allclose(
        estimate_atmospheric_light(image.astype(np.float32) / 255.0),
        estimate_atmospheric_light(image),
        atol=1e-3,
    )
    assert estimate_atmospheric_light(np.full((1, 1, 3), 200, np.uint8)) == pytest.approx(200 / 255, abs=1e-6)


def test_transmission_matches_numpy_and_sky_is_zero():
    rng = np.random.default_rng(3)
    depth = (rng.random((50, 60)) * 500).astype(np.float32)
    depth[:5] = np.inf
    t = transmission_from_depth(depth, 0.01)
    assert t.dtype == np.float32
    np.testing.assert_allclose(t, np.exp(-0.01 * depth.astype(np.float64)), rtol=1e-5, atol=1e-7)
    assert t[:5].max() < 1e-25 and t[:5].min() > np.finfo(np.float32).tiny  # zero, never denormal
    beta = np.full(depth.shape, 0.02, np.float32)
    np.testing.assert_allclose(
        transmission_from_depth(depth, beta), np.exp(-0.02 * depth), rtol=1e-5, atol=1e-7
    )


def test_colour_fast_paths_match_the_tables():
    image = np.random.default_rng(4).integers(0, 256, (31, 47, 3), dtype=np.uint8)
    linear = srgb_u8_to_linear(image)
    assert linear.dtype == np.float32 and np.array_equal(linear, SRGB_TO_LINEAR_LUT[image])
    np.testing.assert_allclose(luminance(linear), linear @ LUMA, atol=1e-6)


def streaks(x, y, dx, dy, thickness, opacity) -> Particles:
    arrays = [np.asarray(v, dtype=np.float64) for v in (x, y, dx, dy, thickness, opacity)]
    return Particles(arrays[0], arrays[1], np.full(arrays[0].shape, 3.0), *arrays[2:])


def test_thin_streaks_set_the_pixels_cv2_line_sets():
    rng = np.random.default_rng(5)
    count = 200
    x, y = rng.random(count) * 300, rng.random(count) * 100
    length = rng.random(count) * 30
    angle = rng.uniform(-1.0, 1.0, count)
    dx, dy = length * np.sin(angle), length * np.cos(angle)
    for i in range(count):
        one = streaks([x[i]], [y[i]], [dx[i]], [dy[i]], [0.5], [1.0])
        mine = render_alpha(one, 100, 300, 725.0, (2.0, 4.0), None) > 0
        ref = np.zeros((100, 300), np.uint8)
        ends = [(int(round(x[i] + s * dx[i] / 2)), int(round(y[i] + s * dy[i] / 2))) for s in (-1, 1)]
        cv2.line(ref, ends[0], ends[1], 255, 1, cv2.LINE_8)
        ref_mask = ref > 0
        # Same pixel count up to the rounding of the ends, and every pixel next to the cv2 line.
        assert abs(int(mine.sum()) - int(ref_mask.sum())) <= 2
        near = cv2.dilate(ref, np.ones((3, 3), np.uint8)) > 0
        assert (mine <= near).all()


def test_alpha_layers_composite_over_and_respect_occlusion():
    one = streaks([50.0, 50.0], [50.0, 50.0], [0.0, 0.0], [20.0, 20.0], [0.5, 0.5], [0.5, 0.5])
    far_only = render_alpha(one, 100, 100, 725.0, (2.0, 4.0), None)
    assert far_only.dtype == np.uint8 and far_only.max() == round(0.5 * 255)
    z = np.array([0.7, 3.0])  # one streak in a blurred near layer, one in the sharp far layer
    two = Particles(one.x, one.y, z, one.dx, one.dy, one.thickness, one.opacity)
    both = render_alpha(two, 100, 100, 725.0, (0.5, 1.0, 4.0), None)
    assert both[50, 50] > far_only[50, 50]  # a + b·(1 − a) exceeds either layer
    wall = np.full((100, 100), 0.6, np.float32)  # a surface in front of both layers
    assert render_alpha(two, 100, 100, 725.0, (0.5, 1.0, 4.0), wall).max() == 0
