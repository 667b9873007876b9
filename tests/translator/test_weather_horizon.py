"""Without a depth map, the ground-plane estimate must not draw a line along the horizon."""

import numpy as np
import pytest

from services.common.methods.physics import parse_physics_params
from services.translator.weather.registry import render
from tests.scenes import road_scene


@pytest.mark.parametrize(
    ("weather", "params"), [("fog", {"visibility_m": 80}), ("rain", {"intensity_mm_h": 25})]
)
def test_no_bright_line_at_the_ground_plane_horizon(weather: str, params: dict) -> None:
    image, _ = road_scene(1242, 375)
    out = render(weather, image, parse_physics_params(weather, params)).astype(np.float32)

    def bumps(img: np.ndarray) -> np.ndarray:
        # A one- or two-row band shows up as a large second difference of the row means.
        rows = img.mean(axis=(1, 2))
        return np.abs(rows[2:] - 2 * rows[1:-1] + rows[:-2])

    added = bumps(out) - bumps(image.astype(np.float32))
    horizon = int(0.5 * image.shape[0])  # the ground-plane model's horizon row (not the scene's)
    window = added[horizon - 10 : horizon + 10]
    assert window.max() < 6.0, (horizon - 9 + int(window.argmax()), float(window.max()))
