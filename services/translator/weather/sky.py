"""Where the sky is, and a scene depth to use when no depth map came with the image.

With a depth map the sky is exactly its infinite-depth pixels. Without one, sky is what lies above the
horizon of the flat-ground model and looks like sky: bright in every channel and smooth. Everything else
above the horizon (buildings, trees, tall vehicles) is treated as far scenery at the distance of the ground
just below the horizon, rather than as sky, so scattering veils it strongly but does not erase it.
"""

from __future__ import annotations

import cv2
import numpy as np

from services.translator.weather.depth import DEFAULT_HORIZON_FRACTION, ground_plane_depth
from services.translator.weather.guided_filter import guided_filter

_WORK_SIDE = 320  # sky is estimated on a copy this wide: cheap and smooth enough
_FAR_ROWS_FRACTION = 0.02  # far scenery sits at the ground depth this fraction of H below the horizon


def _smoothstep(x: np.ndarray, low: float, high: float) -> np.ndarray:
    t = np.clip((x - low) / (high - low), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def sky_weight(
    image: np.ndarray, depth_m: np.ndarray | None = None, horizon_fraction: float = DEFAULT_HORIZON_FRACTION
) -> np.ndarray:
    """HxW float32 in [0, 1]: 1 on sky. Exact from a depth map, heuristic without one."""
    height, width = image.shape[:2]
    if depth_m is not None:
        return (~np.isfinite(depth_m)).astype(np.float32)
    scale = min(1.0, _WORK_SIDE / width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA) if scale < 1.0 else image
    small = small.astype(np.float32) * np.float32(1.0 / 255.0)
    grey = small.mean(axis=2)
    ksize = (5, 5)
    mean = cv2.blur(grey, ksize)
    std = np.sqrt(np.maximum(cv2.blur(grey * grey, ksize) - mean * mean, 0.0))
    bright = _smoothstep(small.min(axis=2), 0.3, 0.55)
    smooth = 1.0 - _smoothstep(std, 0.02, 0.07)
    rows = (np.arange(size[1], dtype=np.float32) + 0.5) / size[1]
    above = _smoothstep(-rows, -horizon_fraction, -horizon_fraction + 0.03)[:, None]
    weight = (bright * smooth * above).astype(np.float32)
    if min(size) > 2:
        weight = guided_filter(grey, weight, radius=4, eps=1e-2)
    if scale < 1.0:
        weight = cv2.resize(weight, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(weight, 0.0, 1.0)


def scene_depth(image: np.ndarray, depth_m: np.ndarray | None, sky: np.ndarray | None = None) -> np.ndarray:
    """The depth map if given; else flat ground below the horizon, far scenery or sky (inf) above it."""
    if depth_m is not None:
        return depth_m
    height, width = image.shape[:2]
    depth = ground_plane_depth(height, width)
    far_row = min(height - 1, int(DEFAULT_HORIZON_FRACTION * height + max(1.0, _FAR_ROWS_FRACTION * height)))
    far_m = float(depth[far_row, 0]) if np.isfinite(depth[far_row, 0]) else 1000.0
    sky = sky_weight(image) if sky is None else sky
    above = ~np.isfinite(depth)
    # The last rows below the horizon would be kilometres away (z = f·h / (v − v_h)); capping them at the
    # far-scenery distance keeps the veil continuous across the horizon instead of drawing a bright line.
    ground = np.minimum(depth, np.float32(far_m))
    return np.where(above, np.where(sky > 0.5, np.float32(np.inf), np.float32(far_m)), ground)
