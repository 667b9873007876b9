"""sRGB transfer curves, luminance and colour temperature: exposure and white balance act on linear light."""

from __future__ import annotations

import math

import cv2
import numpy as np

_U8 = np.arange(256, dtype=np.float64) / 255.0
# uint8 sRGB code -> linear light, exact per the sRGB standard (IEC 61966-2-1).
SRGB_TO_LINEAR_LUT = np.where(_U8 <= 0.04045, _U8 / 12.92, ((_U8 + 0.055) / 1.055) ** 2.4).astype(np.float32)
_ENCODE_STEPS = 4096
_LIN = np.arange(_ENCODE_STEPS + 1, dtype=np.float64) / _ENCODE_STEPS
# Linear light sampled on 4097 steps -> sRGB in [0, 1]; a table lookup is much faster than np.power.
_LINEAR_TO_SRGB_LUT = np.where(
    _LIN <= 0.0031308, _LIN * 12.92, 1.055 * np.power(_LIN, 1.0 / 2.4) - 0.055
).astype(np.float32)

ENCODE_STEPS = 16384
_STEPS = np.arange(ENCODE_STEPS + 1, dtype=np.float64) / ENCODE_STEPS
# Linear light sampled on ENCODE_STEPS + 1 steps -> uint8 sRGB code: one multiply, one cast, one lookup in a
# 16 KB table (cache-resident; the C++ kernels use this same table, so both paths encode alike). Near
# black a step moves the code by at most 12.92·255/16384 ≈ 0.2 levels.
LINEAR_TO_SRGB_U8 = np.clip(
    np.rint(255.0 * np.where(_STEPS <= 0.0031308, _STEPS * 12.92, 1.055 * _STEPS ** (1.0 / 2.4) - 0.055)),
    0,
    255,
).astype(np.uint8)

LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


def srgb_u8_to_linear(image: np.ndarray) -> np.ndarray:
    """uint8 sRGB to float32 linear light in [0, 1] (cv2.LUT: ~10x faster than fancy indexing)."""
    if image.ndim in (2, 3) and image.size and (image.ndim == 2 or image.shape[2] <= 4):
        return cv2.LUT(np.ascontiguousarray(image), SRGB_TO_LINEAR_LUT)
    return SRGB_TO_LINEAR_LUT[image]


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """float32 linear light (clipped to [0, 1]) to float32 sRGB in [0, 1]."""
    index = np.clip(linear * np.float32(_ENCODE_STEPS) + np.float32(0.5), 0, _ENCODE_STEPS).astype(np.int32)
    return _LINEAR_TO_SRGB_LUT[index]


def linear_to_srgb_u8(linear: np.ndarray) -> np.ndarray:
    """float32 linear light to uint8 sRGB (clipped): every weather composites in linear light and encodes
    once at the end, index int(clip(v, 0, 1)·ENCODE_STEPS + 0.5) as the C++ kernels do."""
    index = np.empty(linear.shape, np.int32)
    scaled = np.clip(linear, 0.0, 1.0, dtype=np.float32)
    scaled *= np.float32(ENCODE_STEPS)
    scaled += np.float32(0.5)
    np.copyto(index, scaled, casting="unsafe")
    return np.take(LINEAR_TO_SRGB_U8, index)


def srgb_to_linear(value: np.ndarray | float) -> np.ndarray:
    """sRGB in [0, 1] (any shape) to linear light, float32."""
    v = np.asarray(value, dtype=np.float64)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(np.float32)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Rec. 709 luminance of an HxWx3 float32 image (cv2.transform: one pass instead of a matmul)."""
    if rgb.ndim == 3 and rgb.dtype == np.float32 and rgb.size:
        return cv2.transform(rgb, LUMA.reshape(1, 3))
    return rgb @ LUMA


def blackbody_rgb(kelvin: float) -> np.ndarray:
    """Approximate linear RGB of a black body (Tanner Helland's fit of the CIE data), max channel 1."""
    t = kelvin / 100.0
    if t <= 66:
        r = 255.0
        g = 99.4708025861 * math.log(t) - 161.1195681661
    else:
        r = 329.698727446 * (t - 60) ** -0.1332047592
        g = 288.1221695283 * (t - 60) ** -0.0755148492
    if t >= 66:
        b = 255.0
    elif t <= 19:
        b = 0.0
    else:
        b = 138.5177312231 * math.log(t - 10) - 305.0447927307
    srgb = np.clip(np.array([r, g, b]) / 255.0, 0.0, 1.0)
    lin = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    return (lin / lin.max()).astype(np.float32)


def white_balance_gains(kelvin: float, reference_k: float = 6500.0) -> np.ndarray:
    """Per-channel linear gains that relight a scene lit at `reference_k` as if lit at `kelvin`.

    Normalised to unit luminance so a colour-temperature change does not also change exposure.
    """
    gains = blackbody_rgb(kelvin) / blackbody_rgb(reference_k)
    return (gains / float(gains @ LUMA)).astype(np.float32)
