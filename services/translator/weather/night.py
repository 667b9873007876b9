"""Dusk and night: less light, a different light colour, a dark sky, glowing lights, high-gain noise.

Works in linear light. Exposure drops by `exposure_stops`; the light's colour temperature is applied as
white-balance gains against the daylight (6500 K) the input was lit by; the sky (infinite depth, or the
sky heuristic without a depth map) loses `sky_darkening_stops` more and is tinted from the light colour
at the horizon to deep blue overhead (a tint of its luminance, not of its daytime blue). Light sources are
small, compact, saturated-bright blobs (head and tail lamps, street lamps, lit windows): pixels whose
brightest channel exceeds `bloom_threshold` and that survive a small opening (thin bright lines such as
window frames are not lamps) but not a large one (a sunlit wall or the sky is a large bright surface, not a
lamp). They keep their brightness (they emit; they do not reflect the vanished daylight) and only they glow,
a multi-scale Gaussian halo like lens and sensor scatter. Finally a sensor at gain g = ISO/100 records the result: full
scale holds full_well/g electrons, shot noise is Poisson (Gaussian with variance = electrons) and read noise
is Gaussian, both scaled by the gain, so noise rises as light falls and gain rises.
"""

from __future__ import annotations

import cv2
import numpy as np

from services.common.methods.physics import DuskParams, NightParams
from services.translator.weather import kernels
from services.translator.weather.colour import (
    blackbody_rgb,
    linear_to_srgb_u8,
    luminance,
    srgb_u8_to_linear,
    white_balance_gains,
)
from services.translator.weather.scene import scene_for, sky_colour, unmix

DAYLIGHT_K = 6500.0
ZENITH_K = 12_000.0  # deep blue of the twilight sky overhead
_BLOOM_SIGMAS_FRACTION = (0.004, 0.012, 0.03)  # of the image width
LAMP_MAX_FRACTION = 0.025  # of the image width: a bright blob with a longer side is a surface, not a lamp
LAMP_MAX_SIDE_FLOOR = 8  # analysis pixels: the size limit of small frames (a lamp in an 80-pixel crop)
LAMP_MIN_AREA = 2  # analysis pixels (about 600 wide): single bright pixels are glints
LAMP_MIN_FILL = 0.35  # of its box: thinner shapes are lines and frames
LAMP_MAX_ASPECT = 3.0  # longest to shortest side of its box
LAMP_LOCAL_LEVELS = 12  # sRGB levels a candidate must stand above the mean of its wide neighbourhood
LAMP_CONTRAST = 2.5  # linear brightness over the ring around it, for a white blob
LAMP_CONTRAST_SATURATED = 1.6  # for a saturated one (its colour is evidence too)
LAMP_WHITE_LEVEL = 0.96  # a white lamp's mean brightest channel: lit lamps clip, sunlit paint often not
LAMP_SKY_LEVELS = 30.0  # a white blob above the horizon this close (per channel) to the sky's colour is sky
# 256 quantiles of the standard normal: uniform bytes through this table are Gaussian noise, several times
# faster than drawing normals (the tails are cut at about ±2.9σ).
_NORMAL_LUT = np.array(
    [__import__("statistics").NormalDist().inv_cdf((i + 0.5) / 256) for i in range(256)], dtype=np.float32
)


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


def light_sources(
    image: np.ndarray,
    threshold: float,
    sky_colour: np.ndarray | None = None,
    horizon_row: float | None = None,
) -> np.ndarray:
    """HxW float32 in [0, 1]: how much each pixel is a light source (a small, compact, saturated-bright blob).

    Candidates are pixels whose brightest channel (a red tail lamp is as bright as a white one) exceeds
    `threshold` and stands clearly above the mean around it. Each connected blob of candidates, found on a
    copy about 600 pixels wide, is a light source when it is:
    - small: no side longer than LAMP_MAX_FRACTION of the width (a sunlit wall, a lawn or the sky is not);
    - compact: filling its box and not elongated (window frames, kerbs and lane lines are not);
    - brighter than the ring around it, in linear light: LAMP_CONTRAST times for a white blob (a head lamp
      or street lamp), less for a saturated one, whose colour is itself the evidence (a red tail lamp on a
      sunlit road);
    - of a lamp's colour: white, red, amber or green; a saturated blue blob is paint or tiles, not a lamp;
      a white one must be clipped (a lit lamp saturates a daylight exposure; white paint need not);
    - not the sky seen through leaves: a blob above `horizon_row` of the `sky_colour` (sRGB) is sky.
    """
    height, width = image.shape[:2]
    factor = 2 if width >= 800 else 1
    small = (
        cv2.resize(image, (width // factor, height // factor), interpolation=cv2.INTER_AREA)
        if factor > 1
        else image
    )
    r, g, b = cv2.split(small)
    brightest = cv2.max(cv2.max(r, g), b)
    h, w = brightest.shape
    max_side = max(LAMP_MAX_SIDE_FLOOR, int(LAMP_MAX_FRACTION * width / factor))
    around = cv2.blur(brightest, (4 * max_side + 1, 4 * max_side + 1))
    level = np.uint8(min(254, int(threshold * 255)))
    candidate = (brightest > level) & (cv2.subtract(brightest, around) >= LAMP_LOCAL_LEVELS)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(candidate.astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros((height, width), np.float32)
    x0, y0 = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    bw, bh, area = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT], stats[:, cv2.CC_STAT_AREA]
    long_side, short_side = np.maximum(bw, bh), np.minimum(bw, bh)
    shaped = (
        (long_side <= max_side)
        & (area >= LAMP_MIN_AREA)
        & (area >= LAMP_MIN_FILL * bw * bh)
        & (long_side <= LAMP_MAX_ASPECT * short_side)
    )
    # Mean linear brightest channel of each blob and of the ring around it (its box grown by its own size).
    lin = srgb_u8_to_linear(brightest)
    inside = np.flatnonzero(labels)  # candidate pixels only: a few per cent of the frame
    flat = labels.reshape(-1)[inside]
    area_f = area.astype(np.float64)
    blob = np.bincount(flat, lin.reshape(-1)[inside], count) / area_f
    colour = np.stack([np.bincount(flat, ch.reshape(-1)[inside], count) for ch in (r, g, b)], 1)
    colour /= area_f[:, None]
    summed = cv2.integral(lin, sdepth=cv2.CV_64F)
    grow = np.maximum(long_side, 2)
    ax0, ay0 = np.clip(x0 - grow, 0, w), np.clip(y0 - grow, 0, h)
    ax1, ay1 = np.clip(x0 + bw + grow, 0, w), np.clip(y0 + bh + grow, 0, h)
    box_sum = summed[ay1, ax1] - summed[ay0, ax1] - summed[ay1, ax0] + summed[ay0, ax0]
    box_area = (ax1 - ax0) * (ay1 - ay0)
    ring = (box_sum - blob * area_f) / np.maximum(box_area - area_f, 1.0)
    contrast = blob / np.maximum(ring, 1e-3)
    top, bottom = colour.max(axis=1), colour.min(axis=1)
    saturation = (top - bottom) / np.maximum(top, 1.0)
    blue = (colour[:, 2] >= top) & (saturation > 0.25)
    saturated = saturation > 0.5
    dim_white = ~saturated & (top < LAMP_WHITE_LEVEL * 255)
    needed = np.where(saturated, LAMP_CONTRAST_SATURATED, LAMP_CONTRAST)
    score = np.clip((contrast - 1.0) / (needed - 1.0), 0.0, 1.0) ** 2
    lamp = shaped & ~blue & ~dim_white
    if sky_colour is not None and horizon_row is not None:
        above = (y0 + bh) * factor <= horizon_row
        lamp &= ~(
            above & (np.abs(colour - np.asarray(sky_colour, np.float64)).max(axis=1) <= LAMP_SKY_LEVELS)
        )
    score = np.where(lamp, score, 0.0).astype(np.float32)
    score[0] = 0.0
    if not score.any():
        return np.zeros((height, width), np.float32)
    # Each blob's score on its pixels, ramped by brightness above the threshold, then softened by a pixel.
    ramp_top = max(threshold + 1e-3, min(0.97, threshold + 0.15))
    bright = np.clip(
        (brightest.astype(np.float32) * np.float32(1.0 / 255.0) - np.float32(threshold))
        / np.float32(ramp_top - threshold),
        0.0,
        1.0,
    )
    source = score[labels] * bright
    source = cv2.GaussianBlur(source, (3, 3), 0)
    if factor > 1:
        source = cv2.resize(source, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(source, 0.0, 1.0).astype(np.float32)


def add_sensor_noise(
    linear: np.ndarray, rng: np.random.Generator, iso: float, full_well_e: float, read_noise_e: float
) -> np.ndarray:
    """Shot (Poisson, Gaussian-approximated) plus read noise of a sensor at gain ISO/100, in linear units."""
    gain = iso / 100.0
    electrons_full_scale = full_well_e / gain
    electrons = np.clip(linear, 0.0, 1.0) * np.float32(electrons_full_scale)
    uniform = np.frombuffer(rng.bytes(linear.size), dtype=np.uint8).reshape(linear.shape)
    noise = cv2.LUT(uniform, _NORMAL_LUT)
    noise *= cv2.sqrt(electrons + np.float32(read_noise_e**2))  # shot variance + read variance, in e⁻²
    return linear + noise * np.float32(1.0 / electrons_full_scale)


def _sky_tint(height: int, horizon_k: float) -> np.ndarray:
    """Per-row linear gains from the light colour at the horizon to blue at the top of the frame."""
    fraction = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]  # 0 at the top row
    zenith = blackbody_rgb(ZENITH_K) / blackbody_rgb(DAYLIGHT_K)
    horizon = blackbody_rgb(horizon_k) / blackbody_rgb(DAYLIGHT_K)
    zenith = zenith / float(zenith @ np.array([0.2126, 0.7152, 0.0722]))
    horizon = horizon / float(horizon @ np.array([0.2126, 0.7152, 0.0722]))
    return (zenith * (1.0 - fraction) + horizon * fraction)[:, None, :].astype(np.float32)


def render_low_light(
    image: np.ndarray, params: DuskParams, depth_m: np.ndarray | None = None, fast: bool | None = None
) -> np.ndarray:
    """Shared by dusk and night; the parameter defaults make the difference.

    fast: None runs the per-pixel part (exposure, white balance, sky, light sources, halo, sensor noise,
    encode) as one C++ pass (kernels.low_light) when the kernels build here, False forces the numpy
    reference; both give the same pixels within one grey level, from the same noise bytes.
    """
    if fast is None:
        fast = kernels.available()
    if not fast:
        return render_low_light_reference(image, params, depth_m)
    rng = np.random.default_rng(params.seed)
    height, width = image.shape[:2]
    if image.size == 0:
        return image.copy()
    image, sky, light = _scene_and_lights(image, params, depth_m)
    exposure = np.float32(2.0**params.exposure_stops)
    balance = white_balance_gains(params.colour_temperature_k, DAYLIGHT_K) * exposure
    has_sky = bool(sky.any())
    tint = _sky_tint(height, params.colour_temperature_k)[:, 0, :] * _sky_gain(params) if has_sky else None
    lit = np.flatnonzero(light > 0)
    glow = None
    if params.bloom_strength > 0 and lit.size:
        glow = _bloom(_emitted(image, light, lit), width) * np.float32(params.bloom_strength)
    gain = params.iso / 100.0
    noise = np.frombuffer(rng.bytes(image.size), dtype=np.uint8)
    return kernels.low_light(
        image, balance, sky if has_sky else None, tint, light if lit.size else None, glow, noise, _NORMAL_LUT,
        params.full_well_e / gain, params.read_noise_e,
    )  # fmt: skip


def _scene_and_lights(
    image: np.ndarray, params: DuskParams, depth_m: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the image with sky light removed from the matte's boundary, the sky matte, the light sources)."""
    scene = scene_for(image, params, depth_m)
    scenery, sky = unmix(image, scene.sky)
    colour = sky_colour(image, sky)
    light = light_sources(image, params.bloom_threshold, colour, scene.horizon_row)
    if light.any():
        light *= np.float32(1.0) - sky
    return scenery, sky, light


def _sky_gain(params: DuskParams) -> np.float32:
    return np.float32(2.0**params.exposure_stops) * np.float32(2.0**-params.sky_darkening_stops)


def _emitted(image: np.ndarray, light: np.ndarray, lit: np.ndarray) -> np.ndarray:
    """Linear light the sources emit (their own colour times how much they are a source), HxWx3; only the
    lit pixels are decoded when they are a few per cent of the frame."""
    emitted = np.zeros(image.shape, np.float32)
    if lit.size < 0.1 * light.size:
        emitted.reshape(-1, 3)[lit] = (
            srgb_u8_to_linear(image.reshape(-1, 3)[lit]) * light.reshape(-1)[lit][:, None]
        )
    else:
        emitted[:] = srgb_u8_to_linear(image) * light[..., None]
    return emitted


def render_low_light_reference(
    image: np.ndarray, params: DuskParams, depth_m: np.ndarray | None = None
) -> np.ndarray:
    """The numpy reference of render_low_light (each step a whole-frame array pass)."""
    rng = np.random.default_rng(params.seed)
    height, width = image.shape[:2]
    image, sky, light = _scene_and_lights(image, params, depth_m)
    linear = srgb_u8_to_linear(image)

    exposure = np.float32(2.0**params.exposure_stops)
    balance = white_balance_gains(params.colour_temperature_k, DAYLIGHT_K)
    out = linear * (balance * exposure)
    # The sky: its luminance, tinted from the light colour at the horizon to blue overhead, darker still.
    # Only the rows the matte reaches are blended (the sky is the top of the frame: a fraction of it).
    sky_gain = _sky_gain(params)
    rows = np.flatnonzero(sky.max(axis=1) > 0)
    if rows.size:
        top, bottom = int(rows[0]), int(rows[-1]) + 1
        tint = _sky_tint(height, params.colour_temperature_k)[top:bottom] * sky_gain
        sky_colour = luminance(linear[top:bottom])[..., None] * tint
        band = out[top:bottom]
        band += (sky_colour - band) * sky[top:bottom, :, None]
    # Light sources keep their own brightness and colour, and only they glow. Where they are a few per
    # cent of the pixels the blend runs on those alone (fancy indexing loses to a dense pass above ~10 %).
    lit = np.flatnonzero(light > 0)
    if lit.size < 0.1 * light.size:
        flat_out, flat_in = out.reshape(-1, 3), linear.reshape(-1, 3)
        weight = light.reshape(-1)[lit][:, None]
        flat_out[lit] += (flat_in[lit] - flat_out[lit]) * weight
        emitted = np.zeros_like(linear)
        emitted.reshape(-1, 3)[lit] = flat_in[lit] * weight
    else:
        emitted = linear * light[..., None]
        out *= (np.float32(1.0) - light)[..., None]
        out += emitted
    if params.bloom_strength > 0 and lit.size:
        out += _bloom(emitted, width) * np.float32(params.bloom_strength)
    out = add_sensor_noise(out, rng, params.iso, params.full_well_e, params.read_noise_e)
    return linear_to_srgb_u8(out)


def render_dusk(
    image: np.ndarray, params: DuskParams, depth_m: np.ndarray | None = None, fast: bool | None = None
) -> np.ndarray:
    """Dusk: about 1.5 stops darker, warm light, twilight sky."""
    return render_low_light(image, params, depth_m, fast)


def render_night(
    image: np.ndarray, params: NightParams, depth_m: np.ndarray | None = None, fast: bool | None = None
) -> np.ndarray:
    """Night: about 4 stops darker under street light, near-black sky, ISO 3200 noise."""
    return render_low_light(image, params, depth_m, fast)
