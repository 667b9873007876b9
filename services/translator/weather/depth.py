"""Depth maps in metres: Virtual KITTI 2 depth PNGs, and a flat-ground estimate when no depth exists."""

from __future__ import annotations

import math

import numpy as np

VKITTI_SKY_CODE = 65535  # Virtual KITTI 2 stores depth in centimetres; the clipped maximum is sky.

# Virtual KITTI 2 Camera_0: fx = 725.0087 px, cx = 620.5, cy = 187.0 for 1242x375 frames.
# Horizontal FOV = 2·atan(620.5 / 725.0) ≈ 81.1°; a level camera sees the horizon at cy / H ≈ 0.5.
DEFAULT_HFOV_DEG = 81.1
DEFAULT_HORIZON_FRACTION = 0.5
DEFAULT_CAMERA_HEIGHT_M = 1.65  # KITTI camera height above the road


def vkitti_depth_to_metres(depth_png: np.ndarray) -> np.ndarray:
    """Virtual KITTI 2 depth PNG (uint16 centimetres, 65535 = sky) to float32 metres, sky = np.inf."""
    if not isinstance(depth_png, np.ndarray) or depth_png.dtype != np.uint16 or depth_png.ndim != 2:
        raise ValueError(
            "Virtual KITTI 2 depth must be a single-channel uint16 PNG (read it with cv2.IMREAD_ANYDEPTH), "
            f"got shape {getattr(depth_png, 'shape', None)} dtype {getattr(depth_png, 'dtype', None)}."
        )
    depth = depth_png.astype(np.float32) * np.float32(0.01)
    depth[depth_png == VKITTI_SKY_CODE] = np.inf
    return depth


def focal_length_px(width: int, hfov_deg: float) -> float:
    """Pinhole focal length in pixels for an image `width` wide with horizontal field of view `hfov_deg`."""
    return (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)


def ground_plane_depth(
    height: int,
    width: int,
    camera_height_m: float = DEFAULT_CAMERA_HEIGHT_M,
    horizon_fraction: float = DEFAULT_HORIZON_FRACTION,
    hfov_deg: float = DEFAULT_HFOV_DEG,
) -> np.ndarray:
    """Depth (metres, along the optical axis) of a flat road seen by a level forward-looking camera.

    A ground point imaged `v − v_h` rows below the horizon row v_h lies at depth z = f·h / (v − v_h), with f
    the focal length in pixels (from the horizontal FOV; square pixels) and h the camera height. Distance
    therefore grows toward the horizon; rows at or above it are sky (np.inf). Objects standing on the road
    get the depth of the road behind them, a deliberate approximation for images without a depth map.
    Defaults match Virtual KITTI 2 / KITTI (h = 1.65 m, horizon at 0.5·H, 81.1° horizontal FOV).
    """
    if height < 1 or width < 1:
        raise ValueError(f"ground_plane_depth needs a size of at least 1x1, got {width}x{height}.")
    if camera_height_m <= 0:
        raise ValueError(f"camera_height_m must be > 0, got {camera_height_m}.")
    if not 0.0 <= horizon_fraction <= 1.0:
        raise ValueError(f"horizon_fraction must lie in [0, 1], got {horizon_fraction}.")
    if not 0.0 < hfov_deg < 180.0:
        raise ValueError(f"hfov_deg must lie in (0, 180), got {hfov_deg}.")
    focal = focal_length_px(width, hfov_deg)
    rows_below = (np.arange(height, dtype=np.float32) + np.float32(0.5)) - np.float32(
        horizon_fraction * height
    )
    with np.errstate(divide="ignore"):
        column = np.where(
            rows_below > 0, np.float32(focal * camera_height_m) / rows_below, np.float32(np.inf)
        )
    return np.ascontiguousarray(np.broadcast_to(column.astype(np.float32)[:, None], (height, width)))
