"""Fog by Koschmieder scattering over a depth map, composited in linear light.

I = J·t + A·(1 − t), t = exp(−β·d), on linear-light values (sRGB decoded first, encoded at the end). The
depth is the given map or the scene estimate (scene.py); the sky takes the airlight through the soft sky
matte, so there is no seam at its edge. The default airlight is neutral: the brightness of the dark-channel
estimate with its chroma limited to what real fog shows (a few per cent), and a dataset translation fixes
it once per sequence (`atmospheric_light`), so it does not change colour from frame to frame.
"""

from __future__ import annotations

import cv2
import numpy as np

from services.common.methods.physics import FogParams
from services.translator.weather.atmosphere import (
    estimate_atmospheric_light,
    extinction_from_visibility,
    transmission_from_depth,
)
from services.translator.weather.colour import LUMA, srgb_to_linear
from services.translator.weather.guided_filter import guided_filter
from services.translator.weather.precipitation import composite
from services.translator.weather.scene import Scene, scene_for

GUIDED_SUBSAMPLE = 4  # fast guided filter: coefficients at 1/4 resolution (He & Sun, 2015)
_NOISE_CELL_PX = 48  # spatial scale of fog heterogeneity
FOG_CHROMA_MAX = 0.03  # relative chroma of the default airlight (real fog is near-neutral)


def smooth_noise(rng: np.random.Generator, height: int, width: int, cell_px: int) -> np.ndarray:
    """Zero-mean, unit-std noise that varies over about `cell_px` pixels (bicubic upsampled white noise)."""
    grid = rng.standard_normal((height // cell_px + 2, width // cell_px + 2)).astype(np.float32)
    noise = cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    std = float(noise.std())
    return (noise - noise.mean()) / std if std > 0 else noise * 0


def neutral_airlight(image: np.ndarray, chroma_max: float = FOG_CHROMA_MAX) -> np.ndarray:
    """Airlight as sRGB in [0, 1]: the dark-channel estimate's brightness, chroma limited to `chroma_max`.

    A coloured bright object (a lime vehicle, a salmon wall) can win the dark-channel estimate; its
    luminance is a fair guess of the fog's brightness, its colour is not.
    """
    linear = srgb_to_linear(estimate_atmospheric_light(image))
    y = float(linear @ LUMA)
    limited = y + np.clip(linear - y, -chroma_max * y, chroma_max * y)
    limited = np.clip(limited, 0.0, 1.0)
    return np.where(limited <= 0.0031308, limited * 12.92, 1.055 * limited ** (1 / 2.4) - 0.055).astype(
        np.float32
    )


def fog_transmission(
    image: np.ndarray,
    depth_m: np.ndarray,
    params: FogParams,
    rng: np.random.Generator | None = None,
    refine: bool = True,
) -> np.ndarray:
    """Transmission t = exp(−β·d), β from visibility (optionally heterogeneous); a measured depth map is
    refined edge-aware against the image (an estimate is smooth already)."""
    beta: float | np.ndarray = extinction_from_visibility(params.visibility_m)
    height, width = depth_m.shape
    if params.heterogeneity > 0:
        rng = rng or np.random.default_rng(params.seed)
        noise = smooth_noise(rng, height, width, _NOISE_CELL_PX)
        beta = np.float32(beta) * np.clip(1.0 + params.heterogeneity * noise, 0.1, None)
    t = transmission_from_depth(depth_m, beta)
    if refine:
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) * np.float32(1.0 / 255.0)
        subsample = GUIDED_SUBSAMPLE if min(height, width) >= 16 * GUIDED_SUBSAMPLE else 1
        t = guided_filter(grey, t, params.guided_radius_px, params.guided_eps, subsample=subsample)
    return np.clip(t, 0.0, 1.0)


def scene_transmission(image: np.ndarray, scene: Scene, params: FogParams) -> np.ndarray:
    """t of the scenery times (1 − sky): the sky itself is all airlight, blended through the soft matte."""
    t = fog_transmission(image, scene.depth_m, params, refine=scene.source == "provided")
    return t * (np.float32(1.0) - scene.sky)


def render_fog(
    image: np.ndarray, params: FogParams, depth_m: np.ndarray | None = None, fast: bool | None = None
) -> np.ndarray:
    """Fog of `params.visibility_m`; without a depth map the scene estimate (scene.py) stands in.

    fast: None composites with the C++ kernels when they build here, False forces the numpy reference.
    """
    if params.atmospheric_light is not None:
        airlight = np.asarray(params.atmospheric_light, dtype=np.float32)
    else:
        airlight = neutral_airlight(image)
    scene = scene_for(image, params, depth_m)
    t = scene_transmission(image, scene, params)
    return composite(image, t, None, srgb_to_linear(airlight), np.zeros(3, np.float32), 1.0, fast)
