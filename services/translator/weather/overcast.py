"""Overcast: light from a uniform cloud deck instead of the sun.

The sky becomes a pale, featureless grey; sunlit/shadow contrast shrinks because diffuse light fills the
shadows. Shadows are softened by compressing the large-scale part of log-luminance, separated from texture
edge-aware with a guided filter (the tone-mapping decomposition of Durand & Dorsey, 2002): cast-shadow
boundaries are strong edges, so they sit in the base layer and are compressed, while texture is kept.
Then global contrast and saturation drop, and the white balance moves to the cooler cloud light.
"""

from __future__ import annotations

import cv2
import numpy as np

from services.common.methods.physics import OvercastParams
from services.translator.weather import kernels
from services.translator.weather.colour import (
    linear_to_srgb_u8,
    luminance,
    srgb_to_linear,
    srgb_u8_to_linear,
    white_balance_gains,
)
from services.translator.weather.guided_filter import guided_filter
from services.translator.weather.scene import scene_for

SUN_COLOUR_TEMPERATURE_K = 5500.0  # direct sunlight plus sky, the assumed light of the input
_BASE_RADIUS_FRACTION = 1.0 / 25.0  # base-layer window relative to the image width
_BASE_EPS = 0.1  # in (natural-log luminance)²: steps of about e^0.3 or more count as edges


def render_overcast(
    image: np.ndarray, params: OvercastParams, depth_m: np.ndarray | None = None, fast: bool | None = None
) -> np.ndarray:
    """Overcast relighting; deterministic (no randomness), `params.seed` unused.

    fast: None runs the per-pixel tone map as one C++ pass (kernels.overcast_finish) when the kernels
    build here, False forces the numpy reference; both give the same pixels within one grey level.
    """
    if fast is None:
        fast = kernels.available()
    if not fast:
        return render_overcast_reference(image, params, depth_m)
    height, width = image.shape[:2]
    if image.size == 0:
        return image.copy()
    _, log_lum = kernels.overcast_luminance(image)
    base, anchor = _base_layer(log_lum, height, width)
    sky = scene_for(image, params, depth_m).sky
    return kernels.overcast_finish(
        image, base, anchor, params.shadow_softening, _balance(params), params.saturation, params.contrast,
        sky if sky.any() else None, _cloud_rows(params, height),
    )  # fmt: skip


def _base_layer(log_lum: np.ndarray, height: int, width: int) -> tuple[np.ndarray, float]:
    """The edge-aware large-scale part of log-luminance and its median (the level that stays put)."""
    radius = max(1, round(width * _BASE_RADIUS_FRACTION))
    base = guided_filter(log_lum, log_lum, radius, _BASE_EPS, subsample=4 if min(height, width) >= 8 else 1)
    return base, float(np.float32(np.median(base)))


def _balance(params: OvercastParams) -> np.ndarray:
    return white_balance_gains(params.colour_temperature_k, SUN_COLOUR_TEMPERATURE_K) * np.float32(
        2.0**params.exposure_stops
    )


def _cloud_rows(params: OvercastParams, height: int) -> np.ndarray:
    """The cloud deck's linear grey per row: uniform, a little brighter toward the horizon."""
    shade = np.linspace(0.92, 1.0, height, dtype=np.float32)
    return srgb_to_linear(np.float32(params.sky_brightness) * shade)


def render_overcast_reference(
    image: np.ndarray, params: OvercastParams, depth_m: np.ndarray | None = None
) -> np.ndarray:
    """The numpy reference of render_overcast (each step a whole-frame array pass)."""
    height, width = image.shape[:2]
    linear = srgb_u8_to_linear(image)
    lum = luminance(linear)
    log_lum = np.log(lum + np.float32(1e-4))
    base, anchor32 = _base_layer(log_lum, height, width)
    anchor = np.float32(anchor32)
    target = anchor + (base - anchor) * np.float32(1.0 - params.shadow_softening)
    gain = np.exp(target - base).astype(np.float32)
    linear = linear * gain[..., None] * _balance(params)

    # Saturation and contrast in linear light: chroma scaled around each pixel's luminance, luminance
    # raised to the power `contrast` around its mean (a tone curve; texture is kept in ratio).
    lum = luminance(linear)
    grey = lum[..., None]
    linear = grey + (linear - grey) * np.float32(params.saturation)
    mean = np.float32(max(float(lum.mean()), 1e-4))
    ratio = cv2.pow(np.maximum(lum, np.float32(1e-5)) / mean, float(params.contrast - 1.0))
    linear = linear * ratio[..., None]

    # A diffuse cloud deck: uniform grey, a little brighter toward the horizon, through the soft sky matte.
    # Only the rows the matte reaches are blended (the sky is the top of the frame).
    sky = scene_for(image, params, depth_m).sky
    rows = np.flatnonzero(sky.max(axis=1) > 0)
    if rows.size:
        top, bottom = int(rows[0]), int(rows[-1]) + 1
        cloud = _cloud_rows(params, height)[top:bottom, None, None]
        band = linear[top:bottom]
        band += (cloud - band) * sky[top:bottom, :, None]
    return linear_to_srgb_u8(linear)
