"""Koschmieder scattering shared by fog, rain and snow: airlight estimate, extinction, compositing.

I = J·t + A·(1 − t) with t = exp(−β·d). β = ln(20) / V ≈ 2.996 / V ties the extinction coefficient to the
meteorological visibility V (distance at which contrast falls to 5 %, the WMO definition). Like Foggy
Cityscapes (Sakaridis et al., 2018) the model is applied to sRGB values.

Falling particles (rain streaks, snowflakes) sit in front of the veil, so the full image model is
I = g·J·t·(1 − α) + A·(1 − t)·(1 − α) + C·α with particle opacity α, particle colour C and a scene gain g
(the dimming under rain clouds). `composite` is the float model; `composite_u8` evaluates it without
particles in 8-bit fixed point with vectorised OpenCV kernels (fog), precipitation.py with them.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

CONTRAST_THRESHOLD_LN = math.log(20.0)  # 5 % contrast threshold -> 2.996
_AIRLIGHT_FACTOR = 4  # the airlight is estimated on a 4x box-downsampled copy


def extinction_from_visibility(visibility_m: float) -> float:
    """Extinction coefficient β in 1/m for a meteorological visibility in metres."""
    if visibility_m <= 0:
        raise ValueError(f"visibility_m must be > 0, got {visibility_m}.")
    return CONTRAST_THRESHOLD_LN / visibility_m


def visibility_from_attenuation_db_km(attenuation_db_km: float) -> float:
    """Visibility in metres for a specific attenuation in dB/km (β[1/km] = α / (10·log10 e))."""
    beta_per_m = attenuation_db_km / (10.0 * math.log10(math.e)) / 1000.0
    return math.inf if beta_per_m <= 0 else CONTRAST_THRESHOLD_LN / beta_per_m


def channel_min(image: np.ndarray) -> np.ndarray:
    """min over the colour channels of an HxWx3 image (cv2.min is ~10x faster than ndarray.min(axis=2))."""
    r, g, b = cv2.split(image)
    return cv2.min(cv2.min(r, g), b)


def dark_channel(image: np.ndarray, patch: int) -> np.ndarray:
    """min over RGB, then min over a patch x patch window (He et al., CVPR 2009)."""
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (patch, patch))
    return cv2.erode(channel_min(image), kernel, borderType=cv2.BORDER_REPLICATE)


def _box_downsample(image: np.ndarray, factor: int) -> np.ndarray:
    """Mean over factor x factor blocks (image cropped to a multiple of factor), by repeated 2x halving.

    cv2.resize with INTER_LINEAR at exactly half size averages 2x2 blocks on a vectorised fast path, several
    times quicker than INTER_AREA at an arbitrary scale; halving twice is a 4x4 box mean.
    """
    while factor >= 2 and min(image.shape[:2]) >= 2:
        height, width = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
        image = cv2.resize(image[:height, :width], (width // 2, height // 2), interpolation=cv2.INTER_LINEAR)
        factor //= 2
    return image


def estimate_atmospheric_light(
    image: np.ndarray,
    top_fraction: float = 0.001,
    patch: int = 15,
    max_side: int = 320,
) -> np.ndarray:
    """Airlight A (RGB, [0, 1]) as the mean colour of the pixels with the brightest dark channel.

    `image` is HxWx3 RGB, uint8 or float in [0, 1].

    He et al. take the top 0.1 % of the dark channel; averaging their colours (rather than picking the single
    brightest) is steadier on clean synthetic images. A global colour needs no full resolution: the estimate
    runs on a copy box-averaged by 4 (a power of two), halved again while it is wider than `max_side`,
    with the patch shrunk to match; on road scenes it stays within ~2.5 grey levels of the full-res one.
    Ties at the cut are taken in raster order (deterministic whatever numpy's partition does).
    """
    height, width = image.shape[:2]
    factor = 1
    while max(height, width) // factor > max_side or (factor < _AIRLIGHT_FACTOR and min(height, width) >= 64):
        factor *= 2
    small = _box_downsample(image, factor) if factor > 1 else image
    patch = max(1, round(patch * small.shape[1] / width)) | 1
    dark = dark_channel(small, patch).ravel()
    count = max(1, int(round(dark.size * top_fraction)))
    threshold = np.partition(dark, dark.size - count)[dark.size - count]
    above = np.flatnonzero(dark > threshold)
    top = np.concatenate([above, np.flatnonzero(dark == threshold)[: count - above.size]])
    colour = small.reshape(-1, 3)[top].mean(axis=0, dtype=np.float64)
    if small.dtype == np.uint8:
        colour /= 255.0
    return colour.astype(np.float32)


def composite(
    scene: np.ndarray,
    transmission: np.ndarray,
    airlight: np.ndarray,
    gain: float = 1.0,
    alpha: np.ndarray | None = None,
    particle_colour: np.ndarray | None = None,
) -> np.ndarray:
    """Float reference: g·J·t·(1 − α) + A·(1 − t)·(1 − α) + C·α for an HxWx3 float32 scene in [0, 1].

    transmission and alpha are HxW in [0, 1]; without alpha this is I = g·J·t + A·(1 − t).
    """
    t = transmission[..., None].astype(np.float32)
    out = (scene * np.float32(gain) - airlight) * t + airlight
    if alpha is not None:
        a = alpha[..., None].astype(np.float32)
        out = out * (1.0 - a) + np.asarray(particle_colour, dtype=np.float32) * a
    return out.astype(np.float32)


def composite_u8(
    image: np.ndarray, transmission: np.ndarray, airlight: np.ndarray, gain: float = 1.0
) -> np.ndarray:
    """composite() without particles on a uint8 image in 8-bit fixed point; returns uint8 (within ~1 grey
    level of the float).

    transmission: HxW float32 in [0, 1]. The weight w = t is quantised once to 8 bits and shared by both
    terms, so the result is an exact convex blend for that weight: out = g·J·w + A·(1 − w). The first term
    is one cv2.multiply with w replicated to 3 channels, the second one cv2.convertScaleAbs per channel
    (per-channel LUTs or a multiply by a per-channel scalar are several times slower).
    """
    image = np.ascontiguousarray(image)
    weight = cv2.convertScaleAbs(np.ascontiguousarray(transmission, dtype=np.float32), alpha=255.0)
    scene = cv2.multiply(image, cv2.cvtColor(weight, cv2.COLOR_GRAY2RGB), scale=gain / 255.0)
    air = np.clip(np.asarray(airlight, dtype=np.float64).reshape(3), 0.0, 1.0)
    veil = cv2.bitwise_not(weight)  # 255·(1 − w)
    return cv2.add(scene, cv2.merge([cv2.convertScaleAbs(veil, alpha=float(a)) for a in air]))


def transmission_from_depth(depth_m: np.ndarray, beta: float | np.ndarray) -> np.ndarray:
    """t = exp(−β·d) as float32; infinite depth (sky) gives 0 (to 1e-26). cv2.exp is ~8x faster than np.exp."""
    exponent = np.multiply(depth_m, -np.asarray(beta, dtype=np.float32), dtype=np.float32)
    # Clamping keeps -inf (sky) off cv2.exp's 5x slower path. exp(−60) ≈ 1e-26 is 0 at any output precision
    # yet far from float32's denormals (< 1.2e-38), which make every later filter of t crawl.
    np.maximum(exponent, np.float32(-60.0), out=exponent)
    if exponent.ndim == 2 and exponent.size:
        return cv2.exp(exponent)
    return np.exp(exponent)
