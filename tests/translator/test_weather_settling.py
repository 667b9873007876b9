"""Snow lying on upward-facing surfaces, found from the depth map's normals (weather/settling.py)."""

import cv2
import numpy as np

from services.common.methods.physics import SnowParams
from services.translator.weather.depth import focal_length_px
from services.translator.weather.registry import render
from services.translator.weather.settling import up_facing

WIDTH, HEIGHT = 400, 200
HORIZON = 80
FOCAL = focal_length_px(WIDTH, 81.1)
WALL = (slice(40, 130), slice(250, 330))  # a fronto-parallel wall standing on the road, 12 m away


def scene() -> tuple[np.ndarray, np.ndarray]:
    """A grey road (ground plane from a 1.65 m camera), blue sky, a brown wall at 12 m; depth in metres."""
    rows = np.arange(HEIGHT, dtype=np.float32)[:, None]
    depth = np.full((HEIGHT, WIDTH), np.inf, np.float32)
    below = np.maximum(rows[HORIZON:] - (HORIZON - 0.5), 0.5)
    depth[HORIZON:] = np.broadcast_to(1.65 * FOCAL / below, (HEIGHT - HORIZON, WIDTH))
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    image[:HORIZON] = (110, 150, 215)
    image[HORIZON:] = (95, 95, 100)
    depth[WALL] = 12.0
    image[WALL] = (120, 80, 60)
    rng = np.random.default_rng(0)
    noisy = image.astype(np.int16) + rng.integers(-6, 7, image.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8), depth


def luma(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)


def test_the_ground_faces_up_and_a_wall_does_not():
    _, depth = scene()
    facing = up_facing(depth, FOCAL)
    assert facing[150:, :200].mean() > 0.95  # road
    assert facing[50:120, 260:320].mean() < 0.05  # the wall's face
    assert facing[: HORIZON - 5].max() == 0.0  # the sky
    # This depth is of a level camera: said to be pitched 45°, its up vector is 45° off the road's normal.
    for pitch in (45.0, -45.0):
        assert up_facing(depth, FOCAL, pitch_deg=pitch)[150:, :200].mean() < 0.8


def test_settled_snow_whitens_the_road_not_the_wall_or_the_sky():
    image, depth = scene()
    clear = SnowParams(intensity_mm_h=0.2, visibility_m=100_000, flake_opacity=0.01)
    settled = clear.model_copy(update={"settled_cover": 1.0})
    without = luma(render("snow", image, clear, depth))
    with_snow = luma(render("snow", image, settled, depth))
    road = (slice(150, HEIGHT), slice(0, 200))
    assert with_snow[road].mean() > without[road].mean() + 60
    assert abs(with_snow[50:120, 260:320].mean() - without[50:120, 260:320].mean()) < 3
    assert abs(with_snow[: HORIZON - 5].mean() - without[: HORIZON - 5].mean()) < 3


def test_partial_cover_lies_in_drifts_and_is_seeded():
    image, depth = scene()
    params = SnowParams(intensity_mm_h=0.2, visibility_m=100_000, flake_opacity=0.01, settled_cover=0.5)
    out = luma(render("snow", image, params, depth))
    road = out[110:, :]
    white, bare = (road > 170).mean(), (road < 120).mean()
    assert 0.15 < white < 0.85 and bare > 0.1, (white, bare)
    assert np.array_equal(render("snow", image, params, depth), render("snow", image, params, depth))
    other = params.model_copy(update={"seed": 1})
    assert not np.array_equal(render("snow", image, params, depth), render("snow", image, other, depth))


def test_no_cover_changes_nothing():
    image, depth = scene()
    assert np.array_equal(
        render("snow", image, SnowParams(), depth),
        render("snow", image, SnowParams(settled_cover=0.0), depth),
    )
