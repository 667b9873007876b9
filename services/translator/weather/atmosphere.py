"""Koschmieder scattering shared by fog, rain and snow: airlight estimate, extinction, compositing.

I = J·t + A·(1 − t) with t = exp(−β·d). β = ln(20) / V ≈ 2.996 / V ties the extinction coefficient to the
meteorological visibility V (distance at which contrast falls to 5 %, the WMO definition). Like Foggy
Cityscapes (Sakaridis et al., 2018) the model is applied to sRGB values.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

CONTRAST_THRESHOLD_LN = math.log(20.0)  # 5 % contrast threshold -> 2.996


def extinction_from_visibility(visibility_m: float) -> float:
    """Extinction coefficient β in 1/m for a meteorological visibility in metres."""
    if visibility_m <= 0:
        raise ValueError(f"visibility_m must be > 0, got {visibility_m}.")
    return CONTRAST_THRESHOLD_LN / visibility_m


def visibility_from_attenuation_db_km(attenuation_db_km: float) -> float:
    """Visibility in metres for a specific attenuation in dB/km (β[1/km] = α / (10·log10 e))."""
    beta_per_m = attenuation_db_km / (10.0 * math.log10(math.e)) / 1000.0
    return math.inf if beta_per_m <= 0 else CONTRAST_THRESHOLD_LN / beta_per_m


def dark_channel(image: np.ndarray, patch: int) -> np.ndarray:
    """min over RGB, then min over a patch x patch window (He et al., CVPR 2009)."""
    per_pixel = image.min(axis=2)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (patch, patch))
    return cv2.erode(per_pixel, kernel, borderType=cv2.BORDER_REPLICATE)


def estimate_atmospheric_light(
    image: np.ndarray, top_fraction: float = 0.001, patch: int = 15, max_side: int = 320
) -> np.ndarray:
    """Airlight A (RGB, [0, 1]) as the mean colour of the pixels with the brightest dark channel.

    `image` is HxWx3 RGB, uint8 or float in [0, 1].

    He et al. take the top 0.1 % of the dark channel; averaging their colours (rather than picking the single
    brightest) is steadier on clean synthetic images. Runs on a copy shrunk to `max_side` for speed; the patch
    shrinks with it.
    """
    height, width = image.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    small = image
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    if small.dtype == np.uint8:
        small = small.astype(np.float32) * np.float32(1.0 / 255.0)
    patch = max(1, round(patch * scale)) | 1
    dark = dark_channel(small, patch).ravel()
    count = max(1, int(round(dark.size * top_fraction)))
    top = np.argpartition(dark, dark.size - count)[dark.size - count :]
    return small.reshape(-1, 3)[top].mean(axis=0).astype(np.float32)


def composite(scene: np.ndarray, transmission: np.ndarray, airlight: np.ndarray) -> np.ndarray:
    """I = J·t + A·(1 − t) for an HxWx3 float32 scene and HxW transmission."""
    t = transmission[..., None]
    return (scene - airlight) * t + airlight


def composite_u8(image: np.ndarray, transmission: np.ndarray, airlight: np.ndarray) -> np.ndarray:
    """composite() on a uint8 image in one OpenCV pass (airlight rounded to 8 bits); returns uint8."""
    air = np.empty_like(image)
    air[:] = np.clip(np.round(np.asarray(airlight) * 255.0), 0, 255).astype(np.uint8)
    t = np.ascontiguousarray(transmission, dtype=np.float32)
    return cv2.blendLinear(np.ascontiguousarray(image), air, t, np.float32(1.0) - t)


def transmission_from_depth(depth_m: np.ndarray, beta: float | np.ndarray) -> np.ndarray:
    """t = exp(−β·d); infinite depth (sky) gives 0."""
    return np.exp(-(depth_m * np.float32(beta) if np.isscalar(beta) else depth_m * beta)).astype(np.float32)
