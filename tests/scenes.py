"""Synthetic driving frames for tests: a sky, a road receding to a horizon, boxes as cars, and depth."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def road_scene(width: int = 1242, height: int = 375, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """RGB uint8 frame and its Virtual KITTI 2-style depth (uint16 centimetres, 65535 = sky)."""
    rng = np.random.default_rng(seed)
    horizon = int(height * 0.42)
    rows = np.arange(height, dtype=np.float32)[:, None]
    img = np.zeros((height, width, 3), np.float32)
    sky = np.clip(rows / max(horizon, 1), 0, 1)
    img[:horizon] = (np.array([90, 140, 220]) * (1 - 0.3 * sky[:horizon]) + 40 * sky[:horizon])[:, None, :]
    ground_t = np.clip((rows[horizon:] - horizon) / max(height - horizon, 1), 0, 1)
    img[horizon:] = (np.array([70, 90, 60]) + 50 * ground_t)[:, None, :]
    road = np.abs(np.arange(width)[None, :] - width / 2) < (rows[horizon:] - horizon + 5) * 1.6
    img[horizon:][road] = [105, 105, 110]
    for _ in range(6):
        x = int(rng.integers(0, max(width - 60, 1)))
        y = int(rng.integers(horizon, max(height - 30, horizon + 1)))
        img[y : y + 30, x : x + 60] = rng.integers(20, 240, 3)
    img += rng.normal(0, 4, img.shape)
    depth_m = np.full((height, width), np.inf, np.float32)
    below = np.maximum(rows[horizon:] - horizon, 0.5)
    depth_m[horizon:] = np.broadcast_to(np.clip(1.65 * 720 / below, 2, 600), (height - horizon, width))
    depth_cm = np.where(np.isinf(depth_m), 65535, np.minimum(depth_m * 100, 65534)).astype(np.uint16)
    return np.clip(img, 0, 255).astype(np.uint8), depth_cm


def png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def jpeg_bytes(array: np.ndarray, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def rms_contrast(image: np.ndarray) -> float:
    return float(image.astype(np.float32).mean(axis=2).std())
