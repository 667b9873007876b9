import numpy as np
import pytest

from services.common.weather_params import RainParams
from services.translator.weather import rain_kernel
from services.translator.weather.depth import ground_plane_depth
from services.translator.weather.rain import render_rain

pytestmark = pytest.mark.skipif(not rain_kernel.available(), reason="no C++ compiler for the rain kernels")


def road_scene(height: int = 200, width: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """Textured frame with a ground-plane depth, sky (inf) on top and a near box (occludes far drops)."""
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    depth = ground_plane_depth(height, width)
    depth[height // 2 :, 50:120] = 0.8  # nearer than the far drop layers
    return image, depth


@pytest.mark.parametrize("intensity", [2.5, 10.0, 50.0])
@pytest.mark.parametrize("with_depth", [True, False])
def test_fast_path_matches_numpy_path(intensity, with_depth):
    image, depth = road_scene()
    params = RainParams(intensity_mm_h=intensity, seed=5, angle_deg=-20.0)
    depth_m = depth if with_depth else None
    reference = render_rain(image, params, depth_m, fast=False)
    fast = render_rain(image, params, depth_m, fast=True)
    diff = np.abs(reference.astype(int) - fast.astype(int))
    assert diff.max() <= 2
    assert (diff > 0).mean() < 0.01
    assert np.abs(fast.astype(int) - image).max() > 20  # the scene did change: streaks and veil


def test_fast_path_deterministic_and_size_preserved():
    image, depth = road_scene(37, 53)
    params = RainParams(intensity_mm_h=50, seed=2)
    a = render_rain(image, params, depth, fast=True)
    b = render_rain(image, params, depth, fast=True)
    assert a.shape == image.shape and a.tobytes() == b.tobytes()


def test_composite_rejects_layers_of_wrong_shape():
    image, depth = road_scene(20, 30)
    with pytest.raises(ValueError, match="HxW uint8"):
        rain_kernel.composite_rain(
            image, depth, 0.001, [np.zeros((10, 30), np.uint8)], [False], [1.0], np.ones(3), 1.0, np.ones(3)
        )
