"""Snowflakes are shaded soft discs: brightness falls from the centre, no flat-topped pills."""

import cv2
import numpy as np

from services.common.methods.physics import SnowParams
from services.translator.weather.depth import focal_length_px
from services.translator.weather.particles import falling
from services.translator.weather.registry import render
from services.translator.weather.snow import flake_opacity_map

FOCAL = focal_length_px(200, 81.1)


def luma(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)


def radial_profile(values: np.ndarray, cy: float, cx: float, radius: float) -> np.ndarray:
    """Mean of `values` over one-pixel rings around (cy, cx), out to `radius`."""
    ys, xs = np.indices(values.shape)
    ring = np.hypot(ys - cy, xs - cx).round().astype(int)
    inside = ring <= radius
    return np.bincount(ring[inside], values[inside]) / np.bincount(ring[inside])


def assert_shaded(profile: np.ndarray) -> None:
    """Falls monotonically from the centre, with no flat run wider than 20 % of the radius."""
    assert np.all(np.diff(profile) <= 1e-3 * profile[0]), profile
    flat = np.abs(np.diff(profile)) < 0.01 * profile[0]
    longest, run = 0, 0
    for f in flat:
        run = run + 1 if f else 0
        longest = max(longest, run)
    assert longest <= 0.2 * (len(profile) - 1), (longest, profile)


def test_a_snowflake_is_a_shaded_soft_disc():
    one = falling(
        np.array([100.0], np.float32), np.array([90.0], np.float32), np.array([1.5], np.float32),
        np.array([0.0], np.float32), 0.0, np.array([14.0], np.float32), np.array([0.9], np.float32),
    )  # fmt: skip
    opacity = flake_opacity_map(one, 180, 200, FOCAL, None)
    cy, cx = np.unravel_index(np.argmax(opacity), opacity.shape)
    profile = radial_profile(opacity, cy, cx, 12)
    visible = profile[: int(np.argmax(profile < 0.05 * profile[0])) or len(profile)]
    assert len(visible) >= 5  # a disc several pixels across, not a dot
    assert_shaded(visible)


def test_rendered_flakes_fall_off_from_their_centres():
    image = np.full((240, 400, 3), 30, np.uint8)
    params = SnowParams(intensity_mm_h=0.3, visibility_m=100_000, exposure_ms=0.5, flake_size_mm=8.0)
    out = luma(render("snow", image, params)) - 30
    cy, cx = np.unravel_index(np.argmax(out), out.shape)  # the brightest (nearest) flake's centre
    profile = radial_profile(out, cy, cx, 15)
    own = profile[: int(np.argmax(profile < 0.1 * profile[0]))]  # out to where it fades into the rest
    assert len(own) >= 4, profile  # a disc several pixels across, not a dot
    assert_shaded(own)
