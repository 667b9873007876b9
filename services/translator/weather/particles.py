"""Falling particles (rain drops, snowflakes) in the camera frustum, drawn as motion-blurred strokes.

Particles are sampled uniformly in the volume of the viewing frustum between z_near and z_far, so their
count follows a physical number density (per m³). Each is projected with the pinhole model: its size is
f·D/z pixels and, while the shutter is open, it moves fall-speed × exposure metres, i.e. f·v·T/z pixels.
Drawing that path with an antialiased cv2.line is the point convolved with its own motion-blur line kernel
(per particle, so lengths vary with size and distance). Depth layers then get a defocus blur (the lens is
focused far away, so near particles are blurrier) and are hidden behind closer scene surfaces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

APERTURE_M = 0.002  # entrance pupil of a dashcam-class lens (about 4 mm focal length at f/2)
_SHIFT = 4  # cv2.line sub-pixel precision: coordinates in 1/16 px


@dataclass(frozen=True)
class Particles:
    """Projected particles: centre (px), depth (m), stroke vector (px), thickness (px), peak opacity."""

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    dx: np.ndarray
    dy: np.ndarray
    thickness: np.ndarray
    opacity: np.ndarray


def frustum_volume_m3(width: int, height: int, focal_px: float, z_near: float, z_far: float) -> float:
    """Volume of the pyramid of view between depths z_near and z_far."""
    return (width / focal_px) * (height / focal_px) * (z_far**3 - z_near**3) / 3.0


def sample_positions(
    rng: np.random.Generator,
    density_per_m3: float,
    width: int,
    height: int,
    focal_px: float,
    z_near: float,
    z_far: float,
    max_count: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Poisson number of particles for the density, uniform in the frustum volume (pdf of z ∝ z²)."""
    expected = density_per_m3 * frustum_volume_m3(width, height, focal_px, z_near, z_far)
    count = int(min(rng.poisson(expected), max_count))
    u = rng.random(count)
    z = np.cbrt(z_near**3 + u * (z_far**3 - z_near**3))
    x = rng.random(count) * width
    y = rng.random(count) * height
    return x, y, z


def render_alpha(
    particles: Particles,
    height: int,
    width: int,
    focal_px: float,
    layer_edges_m: tuple[float, ...],
    depth_m: np.ndarray | None,
) -> np.ndarray:
    """HxW float32 opacity in [0, 1] of all particles, with defocus per depth layer and occlusion."""
    alpha = np.zeros((height, width), dtype=np.float32)
    scale = 1 << _SHIFT
    x0 = np.round((particles.x - particles.dx / 2) * scale).astype(np.int64)
    y0 = np.round((particles.y - particles.dy / 2) * scale).astype(np.int64)
    x1 = np.round((particles.x + particles.dx / 2) * scale).astype(np.int64)
    y1 = np.round((particles.y + particles.dy / 2) * scale).astype(np.int64)
    thickness = np.clip(np.round(particles.thickness), 1, 64).astype(np.int64)
    for near, far in zip(layer_edges_m[:-1], layer_edges_m[1:], strict=True):
        index = np.flatnonzero((particles.z >= near) & (particles.z < far))
        if index.size == 0:
            continue
        layer = np.zeros((height, width), dtype=np.float32)
        for a, b, c, d, t, o in zip(
            x0[index].tolist(),
            y0[index].tolist(),
            x1[index].tolist(),
            y1[index].tolist(),
            thickness[index].tolist(),
            particles.opacity[index].tolist(),
            strict=True,
        ):
            cv2.line(layer, (a, b), (c, d), o, t, cv2.LINE_AA, _SHIFT)
        z_mid = math.sqrt(near * far)
        sigma = 0.5 * focal_px * APERTURE_M / z_mid  # half the blur-circle diameter
        if sigma >= 0.5:
            layer = cv2.GaussianBlur(layer, (0, 0), sigma)
        if depth_m is not None:
            layer *= depth_m > np.float32(z_mid)
        alpha += layer * (1.0 - alpha)  # "over" compositing of independent layers
    return np.clip(alpha, 0.0, 1.0)
