"""Particle footprints (numpy reference): ink, defocus, antialiased thin lines, occlusion, compositing."""

import cv2
import numpy as np
import pytest

from services.translator.weather.particles import (
    CAPSULE,
    STREAK,
    THIN,
    Particles,
    defocus_sigma_px,
    footprints,
    render_transmittance,
    thin_line_pixels,
)

FOCAL = 725.0


def particles(x, y, z, dx, dy, thickness, opacity) -> Particles:
    arrays = [np.atleast_1d(np.asarray(v, dtype=np.float32)) for v in (x, y, z, dx, dy, thickness, opacity)]
    return Particles(*arrays)


def ink(p: Particles, height: int = 120, width: int = 160, depth=None) -> np.ndarray:
    """Opacity per pixel of a single particle (1 − its transmittance)."""
    return 1.0 - render_transmittance(p, height, width, FOCAL, depth)


def test_defocus_is_a_quarter_of_the_blur_disc():
    # A uniform disc of diameter b has σ = b/4 along each axis; b = f·aperture/z.
    assert defocus_sigma_px(np.float32(1.0), FOCAL) == pytest.approx(FOCAL * 0.002 / 4)
    assert defocus_sigma_px(np.float32(0.5), FOCAL) == pytest.approx(2 * defocus_sigma_px(1.0, FOCAL))


@pytest.mark.parametrize("z", [3.0, 0.6])  # a thin line, and a defocused (soft) footprint
def test_every_footprint_carries_opacity_times_area(z):
    p = particles(80.3, 60.7, z, 4.0, 18.0, 0.8, 0.3)
    fp = footprints(p, FOCAL)
    assert fp.shape[0] == (STREAK if z < 1.0 else THIN)
    alpha = ink(p)
    width = 1.0  # thinner than a pixel: drawn 1 px wide at the particle's (already thinned) opacity
    expected = 0.3 * width * (np.hypot(4.0, 18.0) + width)
    assert alpha.sum() == pytest.approx(expected, rel=0.1)
    assert alpha.max() <= 0.3 + 1e-6


def test_near_particles_are_wider_and_fainter_than_far_ones():
    def spread(z: float) -> tuple[float, float]:
        alpha = ink(particles(80.0, 60.0, z, 0.0, 20.0, 0.9, 0.5))
        columns = (alpha > 0.01).any(axis=0).sum()
        return float(columns), float(alpha.max())

    near, far = spread(0.55), spread(3.0)
    assert near[0] >= far[0] + 2 and near[1] < far[1]


def test_wide_particles_are_round_capsules_with_their_ink():
    # A 12-px flake at 0.3 m that hardly moves: a blurred disc, as far along the diagonal as along an axis.
    p = particles(80.0, 60.0, 0.3, 0.0, 0.5, 12.0, 0.8)
    assert footprints(p, FOCAL).shape[0] == CAPSULE
    alpha = ink(p)
    assert alpha[60, 80] == pytest.approx(0.8, abs=1e-3)
    # Pixels at the same distance from the centre (5: (0, 5), (3, 4), (4, 3); 6.5-ish) are equally covered.
    at_five = [alpha[60 + dy, 80 + dx] for dy, dx in ((0, 5), (3, 4), (4, 3), (-5, 0), (-3, -4))]
    assert 0.3 < min(at_five) and max(at_five) - min(at_five) < 0.05
    assert alpha[60 + 6, 80 + 6] < 0.05  # a square would still be opaque at its corner
    assert alpha.sum() == pytest.approx(0.8 * (np.pi * 6.0**2 + 12.0 * 0.5), rel=0.1)


def test_thin_lines_lie_on_the_cv2_line_and_split_opacity_between_two_pixels():
    rng = np.random.default_rng(5)
    for _ in range(100):
        x, y = rng.uniform(40, 120), rng.uniform(30, 90)
        length, angle = rng.uniform(0, 30), rng.uniform(-1.4, 1.4)
        dx, dy = length * np.sin(angle), length * np.cos(angle)
        p = particles(x, y, 3.0, dx, dy, 0.5, 0.5)
        assert footprints(p, FOCAL).shape[0] == THIN
        rows, cols, alpha, _ = thin_line_pixels(footprints(p, FOCAL), np.array([0]))
        mine = np.zeros((120, 160), np.float32)
        np.add.at(mine, (rows, cols), alpha)
        ref = np.zeros((120, 160), np.uint8)
        ends = [(int(round(x + s * dx / 2)), int(round(y + s * dy / 2))) for s in (-1, 1)]
        cv2.line(ref, ends[0], ends[1], 255, 1, cv2.LINE_8)
        near = cv2.dilate(ref, np.ones((3, 3), np.uint8)) > 0
        assert (mine[~near] == 0).all()  # every pixel touches the cv2 line
        # Opacity × width (1 px) at each step along the major axis, ends rounded to whole steps.
        assert abs(mine.sum() - 0.5 * (max(abs(dx), abs(dy)) + 1)) <= 0.5 + 1e-4
        assert mine.max() <= 0.5 + 1e-6


def test_overlapping_particles_compose_over_and_nearer_surfaces_hide_them():
    one = particles(50.0, 50.0, 3.0, 0.0, 20.0, 0.9, 0.5)
    a = ink(one, 100, 100)
    two = particles([50.0, 50.0], [50.0, 50.0], [3.0, 2.5], [0.0, 0.0], [20.0, 20.0], [0.9, 0.9], [0.5, 0.5])
    both = ink(two, 100, 100)
    # Light passes each particle in turn: 1 − (1 − a)².
    np.testing.assert_allclose(both, 1 - (1 - a) ** 2, atol=1e-6)
    wall = np.full((100, 100), 2.0, np.float32)  # nearer than both particles
    assert ink(two, 100, 100, wall).max() == 0
    between = np.full((100, 100), 2.8, np.float32)  # hides the farther one only
    np.testing.assert_allclose(ink(two, 100, 100, between), a, atol=1e-6)


def test_particles_outside_the_frame_or_empty_sets_draw_nothing():
    assert ink(particles(-500.0, 20.0, 3.0, 0.0, 10.0, 1.0, 1.0)).max() == 0
    empty = particles([], [], [], [], [], [], [])
    assert render_transmittance(empty, 5, 7, FOCAL, None).shape == (5, 7)
    assert render_transmittance(empty, 5, 7, FOCAL, None).min() == 1.0
