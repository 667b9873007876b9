"""Falling particles (rain drops, snowflakes) in the camera frustum, drawn as motion-blurred strokes.

Particles are sampled uniformly in the volume of the viewing frustum between z_near and z_far, so their
count follows a physical number density (per m³). Each is projected with the pinhole model: its size is
f·D/z pixels and, while the shutter is open, it moves fall-speed × exposure metres, i.e. f·v·T/z pixels.
Drawing that path as a line is the point convolved with its own motion-blur line kernel (per particle,
so lengths vary with size and distance); strokes under a pixel wide are drawn 1 px wide at proportionally
lower opacity, wider ones antialiased. Depth layers then get a defocus blur (the lens is
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


def _stroke_values(opacity: np.ndarray) -> np.ndarray:
    """Peak opacities as 8-bit canvas values (255 = opaque)."""
    return np.clip(np.round(opacity * 255.0), 0, 255).astype(np.uint8)


def _splat_thin_strokes(canvas: np.ndarray, margin: int, particles: Particles, index: np.ndarray) -> None:
    """Draw 1-px strokes as one point per pixel along the major axis, vectorised over all strokes.

    The same pixels cv2.line(LINE_8) would set (round the minor coordinate at each major-axis step), but
    without cv2.polylines' fixed cost per stroke, which dominates for thousands of 10-px streaks. Strokes
    are grouped by sample count (powers of two) so short ones are not padded much; padding repeats a
    stroke's last sample. Overlaps keep the later stroke, as cv2.line does.
    `canvas` has `margin` pixels of padding on every side, enough for any stroke end.
    """
    x = particles.x[index].astype(np.float32)
    y = particles.y[index].astype(np.float32)
    dx = particles.dx[index].astype(np.float32)
    dy = particles.dy[index].astype(np.float32)
    values = _stroke_values(particles.opacity[index])
    steps = np.ceil(np.maximum(np.abs(dx), np.abs(dy))).astype(np.int64) + 1
    stride = canvas.shape[1]
    x += np.float32(margin + 0.5)  # +0.5 then truncation rounds to the nearest pixel centre
    y += np.float32(margin + 0.5)
    group = np.ceil(np.log2(steps)).astype(np.int64)
    flat = canvas.reshape(-1)
    last = steps - 1
    spacing = (1.0 / np.maximum(last, 1)).astype(np.float32)
    for level in np.unique(group).tolist():
        members = np.flatnonzero(group == level)
        # Sample k of a stroke with n steps sits at k/(n − 1) of its length; k ≥ n repeats the last one.
        k = np.minimum(np.arange(1 << level, dtype=np.int64)[None, :], last[members, None])
        along = k.astype(np.float32) * spacing[members, None] - np.float32(0.5)
        cols = (x[members, None] + dx[members, None] * along).astype(np.int32)
        rows = (y[members, None] + dy[members, None] * along).astype(np.int32)
        rows *= stride
        rows += cols
        flat[rows] = values[members, None]


def _draw_thick_strokes(
    canvas: np.ndarray, margin: int, particles: Particles, index: np.ndarray, widths: np.ndarray
) -> None:
    """Antialiased strokes wider than a pixel, one cv2.polylines call per (width, opacity) pair."""
    scale = 1 << _SHIFT
    x, y = particles.x[index] + margin, particles.y[index] + margin
    dx, dy = particles.dx[index] / 2, particles.dy[index] / 2
    points = np.empty((index.size, 2, 2), np.int32)
    points[:, 0, 0] = np.round((x - dx) * scale)
    points[:, 0, 1] = np.round((y - dy) * scale)
    points[:, 1, 0] = np.round((x + dx) * scale)
    points[:, 1, 1] = np.round((y + dy) * scale)
    values = _stroke_values(particles.opacity[index]).astype(np.int64)
    key = widths * 256 + values
    for k in np.unique(key).tolist():
        members = key == k
        cv2.polylines(canvas, points[members], False, int(k % 256), int(k // 256), cv2.LINE_AA, _SHIFT)


def _draw_layer(
    particles: Particles, index: np.ndarray, widths: np.ndarray, height: int, width: int
) -> np.ndarray:
    """HxW uint8 view into a padded canvas holding the strokes of `index`; padding catches stroke ends."""
    reach = np.maximum(np.abs(particles.dx[index]), np.abs(particles.dy[index])) / 2 + widths[index]
    margin = int(np.ceil(reach.max())) + 2
    canvas = np.zeros((height + 2 * margin, width + 2 * margin), dtype=np.uint8)
    thin = index[widths[index] == 1]
    thick = index[widths[index] > 1]
    if thin.size:
        _splat_thin_strokes(canvas, margin, particles, thin)
    if thick.size:
        _draw_thick_strokes(canvas, margin, particles, thick, widths[thick])
    return canvas[margin : margin + height, margin : margin + width]


def render_alpha(
    particles: Particles,
    height: int,
    width: int,
    focal_px: float,
    layer_edges_m: tuple[float, ...],
    depth_m: np.ndarray | None,
) -> np.ndarray:
    """HxW uint8 opacity (255 = opaque) of all particles, with defocus per depth layer and occlusion.

    8-bit canvases: strokes, blur and the "over" compositing of layers are vectorised integer OpenCV passes.
    """
    alpha: np.ndarray | None = None
    widths = np.clip(np.round(particles.thickness), 1, 64).astype(np.int64)
    nearest = float(np.min(depth_m)) if depth_m is not None and depth_m.size else math.inf
    for near, far in zip(layer_edges_m[:-1], layer_edges_m[1:], strict=True):
        in_layer = (particles.z >= near) & (particles.z < far)
        if not in_layer.any():
            continue
        layer = _draw_layer(particles, np.flatnonzero(in_layer), widths, height, width)
        z_mid = math.sqrt(near * far)
        sigma = 0.5 * focal_px * APERTURE_M / z_mid  # half the blur-circle diameter
        if sigma >= 0.5:
            layer = cv2.GaussianBlur(layer, (0, 0), sigma)
        if depth_m is not None and nearest <= z_mid:  # some surface is nearer than this layer
            layer = cv2.bitwise_and(layer, cv2.compare(depth_m, z_mid, cv2.CMP_GT))
        if alpha is None:
            alpha = layer
        else:  # "over" compositing of independent layers: a + b·(1 − a)
            alpha = cv2.add(alpha, cv2.multiply(layer, cv2.bitwise_not(alpha), scale=1.0 / 255.0))
    return np.zeros((height, width), dtype=np.uint8) if alpha is None else np.ascontiguousarray(alpha)


def render_layers_fast(
    particles: Particles, height: int, width: int, focal_px: float, layer_edges_m: tuple[float, ...]
) -> tuple[list[np.ndarray], list[float]]:
    """The defocused depth layers of render_alpha (before occlusion), thin strokes drawn by the C++ kernel.

    Returns HxW uint8 views and each layer's mid depth. Needs weather.rain_kernel.available().
    """
    from services.translator.weather import rain_kernel

    widths = np.clip(np.round(particles.thickness), 1, 64).astype(np.int64)
    layer_of = np.full(particles.z.shape, -1, np.int8)
    canvases: list[np.ndarray] = []
    margins: list[int] = []
    plans: list[tuple[np.ndarray, int, float]] = []  # (thick strokes, margin, z_mid) per drawn layer
    for near, far in zip(layer_edges_m[:-1], layer_edges_m[1:], strict=True):
        index = np.flatnonzero((particles.z >= near) & (particles.z < far))
        if not index.size:
            continue
        reach = np.maximum(np.abs(particles.dx[index]), np.abs(particles.dy[index])) / 2 + widths[index]
        margin = int(np.ceil(reach.max())) + 2
        thick = index[widths[index] > 1]
        pad = margin if thick.size else 0  # only cv2's antialiased strokes need the padding drawn
        layer_of[index] = len(canvases)
        canvases.append(np.zeros((height + 2 * pad, width + 2 * pad), dtype=np.uint8))
        margins.append(margin)
        plans.append((thick, margin, math.sqrt(near * far)))
    if not canvases:
        return [], []
    thin_layer = np.where(widths == 1, layer_of, np.int8(-1)).astype(np.int8)
    rain_kernel.splat_thin(
        particles.x,
        particles.y,
        particles.dx,
        particles.dy,
        _stroke_values(particles.opacity),
        thin_layer,
        margins,
        canvases,
        height,
        width,
    )
    layers: list[np.ndarray] = []
    mids: list[float] = []
    for canvas, (thick, margin, z_mid) in zip(canvases, plans, strict=True):
        if thick.size:
            _draw_thick_strokes(canvas, margin, particles, thick, widths[thick])
            canvas = canvas[margin : margin + height, margin : margin + width]
        sigma = 0.5 * focal_px * APERTURE_M / z_mid
        if sigma >= 0.5:
            canvas = cv2.GaussianBlur(canvas, (0, 0), sigma)
        layers.append(canvas)
        mids.append(z_mid)
    return layers, mids
