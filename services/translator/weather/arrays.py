"""Input checks and dtype conversions shared by the weather renderers."""

from __future__ import annotations

import numpy as np


def check_image(image: np.ndarray) -> None:
    """Reject anything but an HxWx3 uint8 RGB image, with a message that says what to pass."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise ValueError(f"Expected an HxWx3 uint8 RGB image, got shape {shape} and dtype {dtype}.")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"Image must be at least 1x1 pixels, got {image.shape[1]}x{image.shape[0]}.")


def check_depth(depth_m: np.ndarray | None, height: int, width: int) -> np.ndarray | None:
    """Return depth as contiguous float32 metres (NaN treated as sky), or None when absent."""
    if depth_m is None:
        return None
    if not isinstance(depth_m, np.ndarray) or depth_m.shape != (height, width):
        raise ValueError(
            f"Depth map must be an HxW array matching the image ({height}x{width}), "
            f"got shape {getattr(depth_m, 'shape', None)}."
        )
    depth = np.ascontiguousarray(depth_m, dtype=np.float32)
    nearest = depth.min() if depth.size else np.float32(0)  # min propagates NaN: one pass checks both
    if np.isnan(nearest):
        depth = np.where(np.isnan(depth), np.float32(np.inf), depth)
        nearest = depth.min()
    if nearest < 0:
        raise ValueError("Depth map must hold distances >= 0 metres (np.inf for sky).")
    return depth


def to_uint8(image: np.ndarray) -> np.ndarray:
    """float32 in [0, 1] to uint8 with rounding and clipping."""
    return np.clip(image * np.float32(255.0) + np.float32(0.5), 0.0, 255.0).astype(np.uint8)
