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


def random_inputs(seed: int, height: int = 97, width: int = 131):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    t = rng.random((height, width), dtype=np.float32)
    t[:10] = 0.0  # sky
    t[-10:] = 1.0  # at the lens
    return image, t


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("gain", [1.0, 0.8])
def test_fixed_point_composite_matches_the_float_one(seed, gain):
    image, t = random_inputs(seed)
    airlight = np.array([0.55, 0.6, 0.7], np.float32)
    fast = composite_u8(image, t, airlight, gain)
    # The float model, fed the same 8-bit weight w = t that the fixed-point path shares.
    weight = cv2.convertScaleAbs(t, alpha=255.0).astype(np.float32)
    ref = composite(image / 255.0, weight / 255.0, airlight, gain) * 255.0
    assert np.abs(fast.astype(np.float32) - np.clip(ref, 0, 255)).max() <= 1.0 + 1e-3
    # And against the unquantised float model the error stays within about a grey level.
    exact = composite(image / 255.0, t, airlight, gain) * 255.0
    loose = np.abs(fast.astype(np.float32) - np.clip(exact, 0, 255))
    assert loose.max() <= 2.0 and loose.mean() < 0.5


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
