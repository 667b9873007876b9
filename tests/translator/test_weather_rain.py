import numpy as np
import pytest

from services.common.methods.physics import RainParams
from services.translator.weather.rain import rain_visibility_m, visible_drop_density
from services.translator.weather.registry import render

GREY = np.full((150, 400, 3), 90, np.uint8)


def clear_air(**kwargs) -> RainParams:
    """Rain without the veil or dimming, so only the streaks change the image."""
    return RainParams(visibility_m=100_000, dimming=1.0, **kwargs)


def streak_fraction(out: np.ndarray, background: int = 90) -> float:
    return float((np.abs(out.astype(int) - background).max(axis=2) > 3).mean())


def test_same_seed_same_bytes_different_seed_differs():
    a = render("rain", GREY, RainParams(seed=3))
    b = render("rain", GREY, RainParams(seed=3))
    c = render("rain", GREY, RainParams(seed=4))
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("shape", [(375, 1242), (1, 1), (3, 5)])
def test_size_preserved(shape):
    out = render("rain", np.full((*shape, 3), 120, np.uint8), RainParams(intensity_mm_h=50))
    assert out.shape == (*shape, 3) and out.dtype == np.uint8


def test_streak_density_grows_with_intensity():
    fractions = [streak_fraction(render("rain", GREY, clear_air(intensity_mm_h=r))) for r in (2.5, 10, 50)]
    assert 0 < fractions[0] < fractions[1] < fractions[2]


def test_physical_relations_are_monotonic():
    assert visible_drop_density(2.5) < visible_drop_density(10) < visible_drop_density(50)
    assert 50 < visible_drop_density(2.5) < 120 and 500 < visible_drop_density(50) < 1000
    assert rain_visibility_m(2.5) > rain_visibility_m(10) > rain_visibility_m(50)
    assert 2000 < rain_visibility_m(10) < 3500


def test_streaks_follow_the_angle():
    def correlation(diff: np.ndarray, dy: int, dx: int) -> float:
        a = diff[20 : 130 - dy, 20 : 380 - abs(dx)]
        b = diff[20 + dy : 130, 20 + max(dx, 0) : 380 + min(dx, 0)]
        return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])

    vertical = render("rain", GREY, clear_air(angle_deg=0, intensity_mm_h=25)).astype(np.float32)[..., 0] - 90
    assert correlation(vertical, 3, 0) > 2 * correlation(vertical, 0, 3)
    slanted = render("rain", GREY, clear_air(angle_deg=45, intensity_mm_h=25)).astype(np.float32)[..., 0] - 90
    assert correlation(slanted, 3, 3) > 2 * correlation(slanted, 3, -3)


def test_heavier_rain_veils_far_scene_more():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    depth = np.full((60, 80), 0.3, np.float32)  # nothing falls between the camera and this close wall
    depth[:, 40:] = 800.0
    stds = []
    for rate in (2.5, 50):
        out = render("rain", image, RainParams(intensity_mm_h=rate, dimming=1.0), depth).astype(np.float32)
        stds.append(out[:, 50:].std())
    assert stds[1] < stds[0]


def test_nearer_surfaces_hide_the_drops():
    depth = np.full(GREY.shape[:2], 0.3, np.float32)  # a surface nearer than any drop
    out = render("rain", GREY, clear_air(intensity_mm_h=50), depth)
    assert streak_fraction(out) == 0
    assert streak_fraction(render("rain", GREY, clear_air(intensity_mm_h=50))) > 0.02
