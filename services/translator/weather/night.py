"""Dusk and night: less light, a different light colour, a dark sky, glowing lights, high-gain noise.

Works in linear light. Exposure drops by `exposure_stops`; the light's colour temperature is applied as
white-balance gains against the daylight (6500 K) the input was lit by; the sky (infinite depth, or the
sky heuristic without a depth map) loses `sky_darkening_stops` more and is tinted from the light colour
at the horizon to deep blue overhead. Pixels brighter than `bloom_threshold` are treated as light sources:
they keep their brightness (they emit; they do not reflect the vanished daylight) and glow, a multi-scale
Gaussian halo like lens and sensor scatter. Finally a sensor at gain g = ISO/100 records the result: full
scale holds full_well/g electrons, shot noise is Poisson (Gaussian with variance = electrons) and read noise
is Gaussian, both scaled by the gain, so noise rises as light falls and gain rises.
"""

from __future__ import annotations

import cv2
import numpy as np

from services.common.methods.physics import DuskParams, NightParams
from services.translator.weather.arrays import to_uint8
from services.translator.weather.colour import (
    blackbody_rgb,
    linear_to_srgb,
    luminance,
    srgb_u8_to_linear,
    white_balance_gains,
)
from services.translator.weather.sky import sky_weight

DAYLIGHT_K = 6500.0
ZENITH_K = 12_000.0  # deep blue of the twilight sky overhead
_BLOOM_SIGMAS_FRACTION = (0.004, 0.012, 0.03)  # of the image width


def _bloom(light: np.ndarray, width: int) -> np.ndarray:
    """Sum of Gaussian halos of increasing size, computed at quarter resolution for speed."""
    height = light.shape[0]
    small_size = (max(1, width // 4), max(1, height // 4))
    small = (
        cv2.resize(light, small_size, interpolation=cv2.INTER_AREA) if width >= 8 and height >= 8 else light
    )
    scale = small.shape[1] / width
    glow = np.zeros_like(small)
    for fraction in _BLOOM_SIGMAS_FRACTION:
        glow += cv2.GaussianBlur(small, (0, 0), max(0.5, fraction * width * scale))
    glow /= len(_BLOOM_SIGMAS_FRACTION)
    if glow.shape[:2] != light.shape[:2]:
        glow = cv2.resize(glow, (width, height), interpolation=cv2.INTER_LINEAR)
    return glow


def _sky_tint(height: int, horizon_k: float) -> np.ndarray:
    """Per-row linear gains from the light colour at the horizon to blue at the top of the frame."""
    fraction = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]  # 0 at the top row
    zenith = blackbody_rgb(ZENITH_K) / blackbody_rgb(DAYLIGHT_K)
    horizon = blackbody_rgb(horizon_k) / blackbody_rgb(DAYLIGHT_K)
    zenith = zenith / float(zenith.max())
    horizon = horizon / float(horizon.max())
    return (zenith * (1.0 - fraction) + horizon * fraction)[:, None, :].astype(np.float32)


def add_sensor_noise(
    linear: np.ndarray, rng: np.random.Generator, iso: float, full_well_e: float, read_noise_e: float
) -> np.ndarray:
    """Shot (Poisson, Gaussian-approximated) plus read noise of a sensor at gain ISO/100, in linear units."""
    gain = iso / 100.0
    electrons_full_scale = full_well_e / gain
    electrons = np.clip(linear, 0.0, 1.0) * np.float32(electrons_full_scale)
    noise = rng.standard_normal(linear.shape, dtype=np.float32)
    noise *= np.sqrt(electrons + np.float32(read_noise_e**2))  # shot variance + read variance, in e⁻²
    return linear + noise * np.float32(1.0 / electrons_full_scale)


def render_low_light(image: np.ndarray, params: DuskParams, depth_m: np.ndarray | None = None) -> np.ndarray:
    """Shared by dusk and night; the parameter defaults make the difference."""
    rng = np.random.default_rng(params.seed)
    height, width = image.shape[:2]
    linear = srgb_u8_to_linear(image)
    sky = sky_weight(image, depth_m)

    lum = luminance(linear)
    light = np.clip((lum - params.bloom_threshold) / (1.0 - params.bloom_threshold + 1e-6), 0.0, 1.0)
    light *= 1.0 - sky  # the sky is no light source once the sun is down

    exposure = np.float32(2.0**params.exposure_stops)
    balance = white_balance_gains(params.colour_temperature_k, DAYLIGHT_K)
    lit = linear * (balance * exposure)
    sky_gain = np.float32(2.0**-params.sky_darkening_stops)
    sky_colour = linear * (_sky_tint(height, params.colour_temperature_k) * exposure * sky_gain)
    sky3 = sky[..., None]
    out = lit * (1.0 - sky3) + sky_colour * sky3
    # Light sources keep their own brightness and colour, and glow.
    light3 = light[..., None]
    out = out * (1.0 - light3) + linear * light3
    if params.bloom_strength > 0:
        out += _bloom(linear * light3, width) * np.float32(params.bloom_strength)
    out = add_sensor_noise(out, rng, params.iso, params.full_well_e, params.read_noise_e)
    return to_uint8(linear_to_srgb(out))


def render_dusk(image: np.ndarray, params: DuskParams, depth_m: np.ndarray | None = None) -> np.ndarray:
    """Dusk: about 1.5 stops darker, warm light, twilight sky."""
    return render_low_light(image, params, depth_m)


def render_night(image: np.ndarray, params: NightParams, depth_m: np.ndarray | None = None) -> np.ndarray:
    """Night: about 4 stops darker under street light, near-black sky, ISO 3200 noise."""
    return render_low_light(image, params, depth_m)
