"""Overcast: light from a uniform cloud deck instead of the sun.

The sky becomes a pale, featureless grey; sunlit/shadow contrast shrinks because diffuse light fills the
shadows. Shadows are found in the large-scale part of log-luminance, separated from texture edge-aware with
a guided filter (the tone-mapping decomposition of Durand & Dorsey, 2002): a region well below the lit
level of the scene (a high percentile of the base layer) is in shadow, and it is lifted toward that level by
`shadow_softening` of its depth. The lift is itself smoothed edge-aware with a coarse tolerance, so it is
one value across a shadow and steps only at the shadow's boundary: texture and the gentle shading of a lit
wall are kept, and lit surfaces are not touched. Then global contrast and saturation drop, and the white
balance moves to the cooler cloud light.
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
_SHADOW_EDGE_EPS = 0.4  # in (natural-log luminance)²: steps of about e^0.6 or more (sun to shade) are edges;
# the patchwork of tiles, bricks and paint below that is surface, not shadow
_LIT_PERCENTILE = 90.0  # of the scenery's base layer: the level of its sunlit surfaces
_SHADOW_DEPTH = (0.2, 0.45)  # log-luminance below the lit level: from shallow shading to a whole shadow
_MEMBER_EPS = 0.05  # the shadow mask's edge tolerance: it follows the base layer's shadow boundaries
_MAX_SHADOW_DEPTH = 2.5  # log: the largest sun-to-shade ratio taken from a scene (about 12×)


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
    sky = scene_for(image, params, depth_m).sky
    lift = _shadow_lift(log_lum, params.shadow_softening, sky)
    return kernels.overcast_finish(
        image, lift, _balance(params), params.saturation, params.contrast,
        sky if sky.any() else None, _cloud_rows(params, height),
    )  # fmt: skip


def _shadow_lift(log_lum: np.ndarray, softening: float, sky: np.ndarray) -> np.ndarray:
    """HxW float32 log-gain (>= 0) that lifts shadows toward the lit level of the scene.

    base: the edge-aware large-scale log-luminance, keeping only edges as strong as a shadow's; lit: its _LIT_PERCENTILE over the scenery (the sky
    excluded). A region more than _SHADOW_DEPTH (log units) below lit is in shadow (a lit surface's own
    shading is shallower): a soft mask, refined edge-aware so it follows shadow boundaries. The scene's
    sun-to-shade ratio is the median depth of its shadows, and the shadows are lifted by `softening` of it:
    one gain across a shadow, so its texture and shading are kept, a step only at its boundary.
    """
    height, width = log_lum.shape
    if softening <= 0 or log_lum.size == 0:
        return np.zeros_like(log_lum, dtype=np.float32)
    subsample = 4 if min(height, width) >= 8 else 1
    radius = max(1, round(width * _BASE_RADIUS_FRACTION))
    base = guided_filter(log_lum, log_lum, radius, _SHADOW_EDGE_EPS, subsample=subsample)
    scenery = base[::subsample, ::subsample][sky[::subsample, ::subsample] < 0.5]
    if scenery.size == 0:
        return np.zeros_like(log_lum, dtype=np.float32)
    lit = np.float32(np.percentile(scenery, _LIT_PERCENTILE))
    low, high = _SHADOW_DEPTH
    deep = lit - scenery
    shaded = deep[deep > high]
    if shaded.size == 0:
        return np.zeros_like(log_lum, dtype=np.float32)
    # The sun-to-shade ratio is one number for the whole scene (direct sun over sky light); what varies
    # beyond it inside a shadow is the surfaces' own albedo and shading, which the lift must not flatten.
    sun = np.float32(min(float(np.median(shaded)), _MAX_SHADOW_DEPTH))
    member = np.clip((lit - base - np.float32(low)) * np.float32(1.0 / (high - low)), 0.0, 1.0)
    member = guided_filter(base, member, radius, _MEMBER_EPS, subsample=subsample)
    return (np.clip(member, 0.0, 1.0) * (sun * np.float32(softening))).astype(np.float32)


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
    log_lum = np.log(luminance(linear) + np.float32(1e-4))
    sky = scene_for(image, params, depth_m).sky
    gain = np.exp(_shadow_lift(log_lum, params.shadow_softening, sky)).astype(np.float32)
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
    rows = np.flatnonzero(sky.max(axis=1) > 0)
    if rows.size:
        top, bottom = int(rows[0]), int(rows[-1]) + 1
        cloud = _cloud_rows(params, height)[top:bottom, None, None]
        band = linear[top:bottom]
        band += (cloud - band) * sky[top:bottom, :, None]
    return linear_to_srgb_u8(linear)
