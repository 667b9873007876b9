import math

import cv2
import numpy as np
import pytest

from services.common.methods.physics import FogParams
from services.translator.weather.atmosphere import estimate_atmospheric_light, extinction_from_visibility
from services.translator.weather.depth import focal_length_px, ground_plane_depth, vkitti_depth_to_metres
from services.translator.weather.guided_filter import guided_filter
from services.translator.weather.registry import render


def textured(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_same_seed_same_bytes_and_seed_matters_only_with_randomness():
    image = textured(60, 90)
    a = render("fog", image, FogParams(heterogeneity=0.5, seed=1))
    b = render("fog", image, FogParams(heterogeneity=0.5, seed=1))
    c = render("fog", image, FogParams(heterogeneity=0.5, seed=2))
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("shape", [(375, 1242), (1, 1), (3, 5), (5, 3), (2, 7)])
def test_size_preserved(shape):
    image = textured(*shape)
    for depth in (None, np.full(shape, 20.0, np.float32)):
        out = render("fog", image, FogParams(), depth)
        assert out.shape == image.shape and out.dtype == np.uint8


def test_fog_lowers_contrast():
    image = textured(80, 120)
    out = render("fog", image, FogParams(visibility_m=100), np.full((80, 120), 50.0, np.float32))
    assert out.astype(np.float32).std() < 0.5 * image.astype(np.float32).std()


def test_far_pixels_move_toward_airlight_more_than_near():
    image = textured(64, 128)
    depth = np.full((64, 128), 5.0, np.float32)
    depth[:, 64:] = 200.0
    airlight = np.array([0.8, 0.8, 0.8])
    out = render("fog", image, FogParams(atmospheric_light=tuple(airlight)), depth).astype(np.float32) / 255
    distance = np.abs(out - airlight).mean(axis=2)
    near, far = distance[:, 8:56].mean(), distance[:, 72:120].mean()
    assert far < 0.2 * near
    original = np.abs(image.astype(np.float32) / 255 - airlight).mean(axis=2)
    assert near < original[:, 8:56].mean()


def test_contrast_is_five_percent_at_the_visibility_distance():
    image = np.zeros((40, 40, 3), np.uint8)
    image[:, ::2] = 255  # maximal contrast stripes
    visibility = 300.0
    out = render(
        "fog",
        image,
        FogParams(visibility_m=visibility, atmospheric_light=(0.5, 0.5, 0.5)),
        np.full((40, 40), visibility, np.float32),
    ).astype(np.float32)
    contrast = (out[:, ::2].mean() - out[:, 1::2].mean()) / 255.0
    assert contrast == pytest.approx(0.05, abs=0.01)
    assert extinction_from_visibility(visibility) == pytest.approx(2.996 / visibility, rel=1e-3)


def test_depth_map_changes_the_result():
    image = textured(90, 300)
    depth = np.full((90, 300), 120.0, np.float32)  # far: the estimate keeps standing structure near
    with_depth = render("fog", image, FogParams(), depth)
    without = render("fog", image, FogParams())
    assert np.abs(with_depth.astype(int) - without.astype(int)).mean() > 5


def test_sky_in_the_depth_map_becomes_airlight():
    image = textured(60, 80)
    image[:20] = (150, 180, 220)
    depth = np.full((60, 80), 5.0, np.float32)
    depth[:20] = np.inf
    out = render("fog", image, FogParams(atmospheric_light=(0.7, 0.75, 0.8), guided_radius_px=4), depth)
    np.testing.assert_allclose(out[:12].reshape(-1, 3).mean(axis=0), [178.5, 191.25, 204], atol=3)


def test_guided_filter_keeps_an_edge_a_box_blur_smears():
    rng = np.random.default_rng(0)
    clean = np.zeros((64, 64), np.float32)
    clean[:, 32:] = 1.0
    noisy = clean + rng.normal(0, 0.05, clean.shape).astype(np.float32)
    radius = 6
    guided = guided_filter(clean, noisy, radius, 1e-3)
    box = cv2.blur(noisy, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)
    band = slice(26, 38)
    guided_error = np.abs(guided[:, band] - clean[:, band]).mean()
    box_error = np.abs(box[:, band] - clean[:, band]).mean()
    assert guided_error < 0.25 * box_error
    # It still smooths: noise away from the edge goes down.
    assert guided[:, :20].std() < 0.5 * noisy[:, :20].std()


def test_subsampled_guided_filter_close_to_full():
    rng = np.random.default_rng(1)
    guide = cv2.GaussianBlur(rng.random((96, 128)).astype(np.float32), (0, 0), 3)
    src = guide * 0.5 + 0.2
    full = guided_filter(guide, src, 8, 1e-3)
    fast = guided_filter(guide, src, 8, 1e-3, subsample=4)
    assert np.abs(full - fast).mean() < 0.02


def test_guided_filter_rejects_mismatched_inputs():
    with pytest.raises(ValueError):
        guided_filter(np.zeros((4, 4), np.float32), np.zeros((4, 5), np.float32), 2, 1e-3)


def test_airlight_estimate_finds_the_sky_colour():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 120, (200, 400, 3), dtype=np.uint8)
    sky = np.array([180, 200, 235], np.uint8)
    image[:60] = sky
    image[150, 10] = (255, 255, 255)  # an isolated white pixel must not win (dark-channel patch)
    airlight = estimate_atmospheric_light(image)
    np.testing.assert_allclose(airlight, sky / 255.0, atol=0.03)


def test_vkitti_depth_conversion():
    png = np.array([[100, 65535], [1234, 0]], np.uint16)
    depth = vkitti_depth_to_metres(png)
    assert depth.dtype == np.float32
    assert depth[0, 0] == pytest.approx(1.0) and depth[1, 0] == pytest.approx(12.34)
    assert math.isinf(depth[0, 1]) and depth[1, 1] == 0
    with pytest.raises(ValueError, match="uint16"):
        vkitti_depth_to_metres(png.astype(np.float32))


def test_ground_plane_depth_geometry():
    depth = ground_plane_depth(375, 1242, camera_height_m=1.65, horizon_fraction=0.5)
    assert depth.shape == (375, 1242) and depth.dtype == np.float32
    assert np.isinf(depth[:187]).all()
    column = depth[188:, 0]
    assert np.all(np.diff(column) < 0)  # nearer toward the bottom, farther toward the horizon
    focal = focal_length_px(1242, 81.1)
    assert focal == pytest.approx(725, rel=0.01)
    assert depth[-1, 0] == pytest.approx(focal * 1.65 / (374.5 - 187.5), rel=1e-4)
    assert (depth[-1] == depth[-1, 0]).all()
    with pytest.raises(ValueError):
        ground_plane_depth(10, 10, horizon_fraction=1.5)


def test_bad_depth_shape_rejected():
    with pytest.raises(ValueError, match="Depth map"):
        render("fog", textured(10, 10), FogParams(), np.ones((10, 11), np.float32))
