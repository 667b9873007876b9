"""Rain: Marshall–Palmer drops drawn as motion-blurred streaks over a scene dimmed and veiled by rain.

Drops: Marshall & Palmer (1948) size distribution N(D) = N0·exp(−Λ·D), N0 = 8000 m⁻³ mm⁻¹,
Λ = 4.1·R^−0.21 mm⁻¹ (R in mm/h). Only drops above 1 mm make visible streaks; their number density is
N0/Λ·exp(−Λ·1 mm), about 80 m⁻³ at 2.5 mm/h, 250 at 10 and 730 at 50, so density and (through larger
drops) streak length and brightness grow with intensity. Fall speed: Atlas et al. (1973)
v = 9.65 − 10.3·exp(−0.6·D) m/s. A streak is v × exposure long in the world, f·v·T/z pixels on screen.
Veil: the specific attenuation of rain for optical links, α = 1.076·R^0.67 dB/km (Carbonneau & Wisely,
used for free-space optics), turned into a visibility with β = α / 4.343 and V = 2.996 / β
(≈ 2.6 km at 10 mm/h, ≈ 0.9 km at 50 mm/h).
"""

from __future__ import annotations

import math

import numpy as np

from services.common.methods.physics import RainParams
from services.translator.weather.atmosphere import (
    extinction_from_visibility,
    visibility_from_attenuation_db_km,
)
from services.translator.weather.depth import DEFAULT_HFOV_DEG, focal_length_px
from services.translator.weather.fog import neutral_airlight
from services.translator.weather.particles import Particles, falling, sample_positions
from services.translator.weather.precipitation import render_precipitation
from services.translator.weather.scene import scene_for

MP_N0 = 8000.0  # m⁻³ mm⁻¹
MIN_VISIBLE_DROP_MM = 1.0
Z_NEAR_M, Z_FAR_M = 0.5, 4.0  # beyond ~4 m a drop is a fraction of a pixel wide and merges into the veil
MAX_DROPS = 40_000


def marshall_palmer_slope(intensity_mm_h: float) -> float:
    """Λ in 1/mm."""
    return 4.1 * intensity_mm_h**-0.21


def visible_drop_density(intensity_mm_h: float) -> float:
    """Drops larger than MIN_VISIBLE_DROP_MM per m³."""
    slope = marshall_palmer_slope(intensity_mm_h)
    return MP_N0 / slope * math.exp(-slope * MIN_VISIBLE_DROP_MM)


def terminal_velocity_m_s(diameter_mm: np.ndarray) -> np.ndarray:
    """Atlas et al. (1973) fit for raindrops."""
    return 9.65 - 10.3 * np.exp(-0.6 * diameter_mm)


def rain_visibility_m(intensity_mm_h: float) -> float:
    """Visibility in metres from the rain attenuation 1.076·R^0.67 dB/km."""
    return visibility_from_attenuation_db_km(1.076 * intensity_mm_h**0.67)


def sample_drops(rng: np.random.Generator, params: RainParams, height: int, width: int) -> Particles:
    """Visible drops in the near frustum, projected to streaks for this exposure and wind angle."""
    focal = focal_length_px(width, DEFAULT_HFOV_DEG)
    density = visible_drop_density(params.intensity_mm_h)
    x, y, z = sample_positions(rng, density, width, height, focal, Z_NEAR_M, Z_FAR_M, MAX_DROPS)
    slope = marshall_palmer_slope(params.intensity_mm_h)
    # float32 throughout (Python scalars keep the dtype); drops above 6 mm break up.
    exponential = rng.standard_exponential(z.size, dtype=np.float32)
    diameter = np.minimum(MIN_VISIBLE_DROP_MM + exponential * (1.0 / slope), 6.0)
    inverse_z = 1.0 / z
    length = terminal_velocity_m_s(diameter) * inverse_z * (focal * params.exposure_ms * 1e-3)
    width_px = diameter * inverse_z * (focal * 1e-3)
    opacity = np.minimum(diameter, 2.0) * np.minimum(width_px, 1.0) * (params.streak_opacity / 2.0)
    return falling(x, y, z, length, params.angle_deg, width_px, opacity)


def render_rain(
    image: np.ndarray, params: RainParams, depth_m: np.ndarray | None = None, fast: bool | None = None
) -> np.ndarray:
    """Rain of `params.intensity_mm_h`; deterministic for `params.seed`.

    fast: None draws with the C++ kernels when they build here, False forces the numpy reference.
    """
    rng = np.random.default_rng(params.seed)
    height, width = image.shape[:2]
    airlight = neutral_airlight(image)
    # Under rain clouds the sky is grey: pull the airlight toward its own grey level, then dim everything.
    airlight = (0.6 * airlight.mean() + 0.4 * airlight) * np.float32(params.dimming)
    visibility = params.visibility_m or rain_visibility_m(params.intensity_mm_h)
    drops = sample_drops(rng, params, height, width)
    # A drop refracts light from a wide cone of the environment, dominated by the sky (Garg & Nayar, 2007).
    streak_colour = np.minimum(1.0, airlight * np.float32(1.15))
    scene = scene_for(image, params, depth_m)
    focal = focal_length_px(width, DEFAULT_HFOV_DEG)
    beta = extinction_from_visibility(visibility)
    return render_precipitation(
        image, drops, focal, scene, depth_m, beta, airlight, params.dimming, streak_colour, fast
    )
