"""Fog by Koschmieder scattering over a depth map, transmission refined edge-aware with a guided filter."""

from __future__ import annotations

import cv2
import numpy as np

from services.common.methods.physics import FogParams
from services.translator.weather.atmosphere import (
    composite_u8,
    estimate_atmospheric_light,
    extinction_from_visibility,
    transmission_from_depth,
)
from services.translator.weather.guided_filter import guided_filter
from services.translator.weather.sky import scene_depth

GUIDED_SUBSAMPLE = 4  # fast guided filter: coefficients at 1/4 resolution (He & Sun, 2015)
_NOISE_CELL_PX = 48  # spatial scale of fog heterogeneity


def smooth_noise(rng: np.random.Generator, height: int, width: int, cell_px: int) -> np.ndarray:
    """Zero-mean, unit-std noise that varies over about `cell_px` pixels (bicubic upsampled white noise)."""
    grid = rng.standard_normal((height // cell_px + 2, width // cell_px + 2)).astype(np.float32)
    noise = cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    std = float(noise.std())
    return (noise - noise.mean()) / std if std > 0 else noise * 0


def fog_transmission(
    image: np.ndarray, depth_m: np.ndarray, params: FogParams, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Transmission t = exp(−β·d), β from visibility (optionally heterogeneous), guided by the image."""
    beta: float | np.ndarray = extinction_from_visibility(params.visibility_m)
    height, width = depth_m.shape
    if params.heterogeneity > 0:
        rng = rng or np.random.default_rng(params.seed)
        noise = smooth_noise(rng, height, width, _NOISE_CELL_PX)
        beta = np.float32(beta) * np.clip(1.0 + params.heterogeneity * noise, 0.1, None)
    t = transmission_from_depth(depth_m, beta)
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) * np.float32(1.0 / 255.0)
    subsample = GUIDED_SUBSAMPLE if min(height, width) >= 16 * GUIDED_SUBSAMPLE else 1
    t = guided_filter(grey, t, params.guided_radius_px, params.guided_eps, subsample=subsample)
    return np.clip(t, 0.0, 1.0)


def render_fog(image: np.ndarray, params: FogParams, depth_m: np.ndarray | None = None) -> np.ndarray:
    """Fog of `params.visibility_m`; without a depth map sky.scene_depth's estimate stands in."""
    if params.atmospheric_light is not None:
        airlight = np.asarray(params.atmospheric_light, dtype=np.float32)
    else:
        airlight = estimate_atmospheric_light(image)
    depth = scene_depth(image, depth_m)
    t = fog_transmission(image, depth, params)
    return composite_u8(image, t, airlight)
