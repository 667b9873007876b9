"""Snow: falling flakes sized by distance over a scene veiled by snow extinction.

Flake number density from the water-equivalent snowfall rate S (mm/h = kg m⁻² h⁻¹):
N = S / 3600 / (m̄·v), with the mass of dry aggregate flakes m = 0.037·D^1.9 mg (D in mm; Locatelli &
Hobbs, 1974), averaged over an exponential size distribution of mean D̄ (E[D^1.9] = Γ(2.9)·D̄^1.9), and a
fall speed v ≈ 1 m/s. D̄ = 5 mm gives about 190 flakes per m³ per mm/h: density is linear in intensity.
Near flakes are large and defocused, far ones small (size f·D/z pixels); each moves v × exposure.
Veil: dry-snow attenuation for optical links α = a·S^b dB/km with a = 5.42e-5·λ + 5.4958776 (λ in nm, here
550) and b = 1.38 (free-space-optics snow model, e.g. Kim & Korevaar / Nadeem et al.), i.e. visibility
≈ 0.9 km at 2 mm/h and ≈ 0.26 km at 5 mm/h.
"""

from __future__ import annotations

import math

import numpy as np

from services.common.methods.physics import SnowParams
from services.translator.weather.atmosphere import (
    estimate_atmospheric_light,
    extinction_from_visibility,
    visibility_from_attenuation_db_km,
)
from services.translator.weather.depth import DEFAULT_HFOV_DEG, focal_length_px
from services.translator.weather.particles import Particles, falling, sample_positions
from services.translator.weather.precipitation import render_precipitation
from services.translator.weather.sky import scene_depth

FALL_SPEED_M_S = 1.0
Z_NEAR_M, Z_FAR_M = 0.3, 4.0  # farther flakes are sub-pixel and belong to the veil
MAX_FLAKES = 40_000
_GAMMA_2_9 = math.gamma(2.9)
WAVELENGTH_NM = 550.0


def flake_density(intensity_mm_h: float, mean_diameter_mm: float) -> float:
    """Flakes per m³ that carry `intensity_mm_h` of water at FALL_SPEED_M_S."""
    mean_mass_kg = 0.037 * _GAMMA_2_9 * mean_diameter_mm**1.9 * 1e-6
    flux_kg_m2_s = intensity_mm_h / 3600.0
    return flux_kg_m2_s / (mean_mass_kg * FALL_SPEED_M_S)


def snow_visibility_m(intensity_mm_h: float) -> float:
    """Visibility in metres from the dry-snow attenuation a·S^1.38 dB/km at 550 nm."""
    a = 5.42e-5 * WAVELENGTH_NM + 5.4958776
    return visibility_from_attenuation_db_km(a * intensity_mm_h**1.38)


def sample_flakes(rng: np.random.Generator, params: SnowParams, height: int, width: int) -> Particles:
    focal = focal_length_px(width, DEFAULT_HFOV_DEG)
    density = flake_density(params.intensity_mm_h, params.flake_size_mm)
    x, y, z = sample_positions(rng, density, width, height, focal, Z_NEAR_M, Z_FAR_M, MAX_FLAKES)
    diameter = np.clip(rng.exponential(params.flake_size_mm, size=z.size), 1.0, 4.0 * params.flake_size_mm)
    size_px = focal * diameter * 1e-3 / z
    length = focal * FALL_SPEED_M_S * (params.exposure_ms * 1e-3) / z
    # A flake smaller than a pixel covers only part of it.
    opacity = params.flake_opacity * np.minimum(1.0, size_px) ** 2
    return falling(x, y, z, length, params.angle_deg, size_px, opacity)


def render_snow(
    image: np.ndarray, params: SnowParams, depth_m: np.ndarray | None = None, fast: bool | None = None
) -> np.ndarray:
    """Snowfall of `params.intensity_mm_h` (water equivalent); deterministic for `params.seed`.

    fast: None draws with the C++ kernels when they build here, False forces the numpy reference.
    """
    rng = np.random.default_rng(params.seed)
    height, width = image.shape[:2]
    airlight = estimate_atmospheric_light(image)
    airlight = 0.7 * airlight.mean() + 0.3 * airlight  # snow clouds are grey-white
    visibility = params.visibility_m or snow_visibility_m(params.intensity_mm_h)
    flakes = sample_flakes(rng, params, height, width)
    # Flakes scatter diffuse daylight almost white; never darker than the sky they fall from.
    flake_colour = np.maximum(airlight, np.float32(0.92)).astype(np.float32)
    return render_precipitation(
        image,
        flakes,
        focal_length_px(width, DEFAULT_HFOV_DEG),
        scene_depth(image, depth_m),
        depth_m,
        extinction_from_visibility(visibility),
        airlight,
        1.0,
        flake_colour,
        fast,
    )
