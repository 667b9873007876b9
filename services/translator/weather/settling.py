"""Snow lying on the scene: white cover on upward-facing surfaces (road, roofs, bonnets, ledges).

Where a surface faces up is read from the depth map: each pixel's 3-D point is back-projected through the
pinhole camera (focal length from the field of view, principal point at the centre), the surface normal
is the cross product of the point's horizontal and vertical differences, and its cosine with the world's
up direction (the camera's pitch turns it) says how much snow can lie there. Depth steps (object
silhouettes) have no normal and get no cover. The cover is patchy: a smooth random field, seeded, thins it
where `cover` is below 1, so snow lies in drifts rather than as paint. The snow itself is a bright, slightly
blue-white diffuse surface lit as the ground under it was (its shading follows the scene's large-scale
light, so snow in a cast shadow is darker), with a fine grain; composited in linear light.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from services.translator.weather.colour import linear_to_srgb_u8, luminance, srgb_u8_to_linear

SNOW_ALBEDO_LINEAR = np.array([0.80, 0.83, 0.88], np.float32)  # fresh snow, a little blue in diffuse light
_UP_COSINE = (0.55, 0.85)  # cos(angle to up): steeper than ~57° holds no snow, flatter than ~32° holds all
_EDGE_RELATIVE_STEP = 0.08  # a depth step larger than this fraction between neighbours is a silhouette
_DRIFT_SCALE_FRACTION = 0.04  # of the width: the size of drifts and bare patches
_DRIFT_EDGE = 0.25  # width of the ramp at a drift's edge, in units of the drift field
_GRAIN = 0.04  # relative brightness grain of the snow surface
_RELIEF = 0.5  # how much of the surface's own fine contrast shows through the snow


def up_facing(depth_m: np.ndarray, focal_px: float, pitch_deg: float = 0.0) -> np.ndarray:
    """HxW float32 in [0, 1]: how much each pixel's surface faces up (1 = flat ground), 0 at depth steps
    and on the sky (non-finite depth)."""
    height, width = depth_m.shape
    finite = np.isfinite(depth_m)
    z = np.where(finite, depth_m, 0.0).astype(np.float32)
    z = cv2.medianBlur(z, 3) if min(height, width) >= 3 else z
    u = (np.arange(width, dtype=np.float32) - (width - 1) / 2.0) / np.float32(focal_px)
    v = (np.arange(height, dtype=np.float32) - (height - 1) / 2.0) / np.float32(focal_px)
    x = z * u[None, :]
    y = z * v[:, None]  # camera y points down
    # Central differences along columns (du) and rows (dv) of the back-projected points.
    dxu, dyu, dzu = (np.gradient(a, axis=1) for a in (x, y, z))
    dxv, dyv, dzv = (np.gradient(a, axis=0) for a in (x, y, z))
    nx = dyu * dzv - dzu * dyv
    ny = dzu * dxv - dxu * dzv
    nz = dxu * dyv - dyu * dxv
    norm = np.sqrt(nx * nx + ny * ny + nz * nz) + np.float32(1e-12)
    pitch = math.radians(pitch_deg)
    up = (0.0, -math.cos(pitch), -math.sin(pitch))  # world up in camera coordinates (y down, z forward)
    cosine = np.abs(nx * up[0] + ny * up[1] + nz * up[2]) / norm
    # Silhouettes: a large relative depth step to a neighbour has no surface (nor a trustworthy normal).
    step = np.maximum(np.abs(np.gradient(z, axis=0)), np.abs(np.gradient(z, axis=1))) / np.maximum(z, 1e-3)
    low, high = _UP_COSINE
    facing = np.clip((cosine - low) / (high - low), 0.0, 1.0)
    facing *= (step < _EDGE_RELATIVE_STEP) & finite & (z > 0)
    return facing.astype(np.float32)


def drift_field(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """HxW float32 in about [0, 1]: smooth random field (two octaves of blurred noise), mean about 0.5."""
    out = np.zeros((height, width), np.float32)
    for scale, weight in ((1.0, 0.7), (0.35, 0.3)):
        sigma = max(1.0, _DRIFT_SCALE_FRACTION * width * scale)
        step = max(1, int(sigma // 2))
        gh, gw = -(-height // step) + 1, -(-width // step) + 1
        coarse = rng.standard_normal((gh, gw)).astype(np.float32)
        coarse = cv2.GaussianBlur(coarse, (0, 0), max(0.5, sigma / step / 2))
        coarse /= max(float(coarse.std()), 1e-6)
        layer = cv2.resize(coarse, (gw * step, gh * step), interpolation=cv2.INTER_CUBIC)[:height, :width]
        out += np.float32(weight) * layer
    return (0.5 + 0.18 * out).astype(np.float32)


def settle_snow(
    image: np.ndarray,
    depth_m: np.ndarray,
    cover: float,
    focal_px: float,
    rng: np.random.Generator,
    pitch_deg: float = 0.0,
    sky: np.ndarray | None = None,
) -> np.ndarray:
    """`image` (HxWx3 uint8 sRGB) with snow lying on its upward-facing surfaces.

    cover: 0 = none (the image is returned as is), 1 = every surface that faces up is white; between, the
    drift field decides where it lies. sky: the sky matte (no snow lies on the sky)."""
    if cover <= 0 or image.size == 0:
        return image
    height, width = image.shape[:2]
    facing = up_facing(depth_m, focal_px, pitch_deg)
    if sky is not None:
        facing *= np.float32(1.0) - sky
    drifts = drift_field(rng, height, width)
    # Where the field exceeds 1 − cover snow lies; a soft ramp gives drift edges.
    amount = np.clip((drifts - (1.0 - cover)) / _DRIFT_EDGE + 0.5, 0.0, 1.0) * facing
    if not amount.any():
        return image
    linear = srgb_u8_to_linear(image)
    lum = luminance(linear) + np.float32(1e-4)
    # The light falling on the surface: its large-scale luminance against the lit level of the surfaces
    # snow can lie on (not the sky), softened: snow in a cast shadow is darker, but snow days are dull.
    light = cv2.GaussianBlur(lum, (0, 0), max(1.0, 0.01 * width))
    ground = light[facing > 0.5]
    lit = max(float(np.percentile(ground, 90)) if ground.size else float(light.max()), 1e-3)
    shade = np.sqrt(np.clip(light / np.float32(lit), 0.25, 1.0))
    # The surface's own relief shows through a thin cover (tracks, kerbs, lane marks), and snow has grain.
    detail = np.clip(lum / light - np.float32(1.0), -0.5, 0.5) * np.float32(_RELIEF)
    grain = np.float32(_GRAIN) * rng.standard_normal((height, width)).astype(np.float32)
    snow = SNOW_ALBEDO_LINEAR[None, None, :] * (shade * (np.float32(1.0) + detail + grain))[..., None]
    out = linear + (snow - linear) * amount[..., None]
    return linear_to_srgb_u8(out)
