"""The physics method: its spec and the parameter schema of each weather it renders.

Pydantic only: the API validates a request with these models before a job is queued, and must not import
numpy-heavy or OpenCV code. The renderers in `services.translator.weather` take the same models.
Every field has a default, so `{}` is a valid request for every weather.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.common.core.fields import Seed
from services.common.methods import MethodSpec, register

_UnitFloat = Annotated[float, Field(ge=0.0, le=1.0)]
DepthSource = Literal["provided", "model", "geometric"]
DEPTH_MODEL_WEIGHTS = "depth_anything"  # the operator weights of depth_source 'model'
# Each depth source with the operator weights it needs.
DEPTH_SOURCES: dict[str, tuple[str, ...]] = {"provided": (), "model": (DEPTH_MODEL_WEIGHTS,), "geometric": ()}


def effective_depth_source(requested: str | None, has_depth: bool, fallback: str) -> str:
    """The source one image uses: the one named, else 'provided' when it has a depth map, else `fallback`
    (SIM2REAL_DEFAULT_DEPTH_SOURCE at submit: 'geometric' or 'model')."""
    if requested:
        return requested
    return "provided" if has_depth else fallback


class _WeatherParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: Seed = Field(0, description="Random seed; the same seed and inputs give the same bytes.")
    depth_source: DepthSource | None = Field(
        None,
        description="Where distances come from: 'provided' (the depth map sent with the image), 'model' (a "
        "monocular depth model, Depth Anything V2 Small, scaled to metres by the ground plane; needs the "
        "operator's depth_anything weights; slower) or 'geometric' (ground plane from the camera, structures "
        "at their ground contact, sky at infinity). None = 'provided' when a depth map is given, else the "
        "service's default (SIM2REAL_DEFAULT_DEPTH_SOURCE: 'geometric' unless the operator chose 'model').",
    )
    camera_height_m: float = Field(
        1.65,
        gt=0.1,
        le=20.0,
        description="Camera height above the road in metres (geometric depth; KITTI 1.65).",
    )
    camera_pitch_deg: float = Field(
        0.0,
        ge=-30.0,
        le=30.0,
        description="Camera pitch in degrees, positive looking down (geometric depth).",
    )
    hfov_deg: float = Field(
        81.1, gt=10.0, lt=170.0, description="Horizontal field of view in degrees (KITTI 81.1, nuScenes 64)."
    )
    horizon_fraction: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Horizon row as a fraction of the image height from the top; None = from the pitch and the "
        "image (sky seen lower moves it down).",
    )


class FogParams(_WeatherParams):
    """Homogeneous fog by Koschmieder scattering: I = J·t + A·(1 − t), t = exp(−β·d), β = 2.996 / V."""

    visibility_m: float = Field(
        150.0, gt=1.0, le=10_000.0, description="Meteorological visibility V in metres (fog is < 1000 m)."
    )
    atmospheric_light: tuple[_UnitFloat, _UnitFloat, _UnitFloat] | None = Field(
        None,
        description="Airlight A as sRGB in [0, 1]; None = estimate: the brightness of the He et al. dark-channel "
        "estimate with its chroma limited to 3 % (real fog is near-neutral), once per sequence in a dataset.",
    )
    heterogeneity: float = Field(
        0.0,
        ge=0.0,
        le=0.9,
        description="Relative amplitude of smooth random variation of extinction (0 = uniform).",
    )
    guided_radius_px: int = Field(
        24, ge=1, le=256, description="Radius in pixels of the guided filter that refines transmission."
    )
    guided_eps: float = Field(
        1e-3, gt=0.0, le=1.0, description="Guided filter regularisation (grey levels in [0, 1], squared)."
    )


class RainParams(_WeatherParams):
    """Rain streaks (Marshall–Palmer drops) over a scene veiled by rain extinction."""

    intensity_mm_h: float = Field(
        10.0,
        gt=0.0,
        le=200.0,
        description="Rainfall rate in mm/h: light 2.5, moderate 10, heavy 25, violent 50 and above.",
    )
    angle_deg: float = Field(
        10.0, ge=-60.0, le=60.0, description="Slant of the streaks from vertical in degrees (wind)."
    )
    exposure_ms: float = Field(
        8.0, gt=0.0, le=50.0, description="Camera exposure in ms; a streak is fall speed × exposure long."
    )
    streak_opacity: float = Field(
        0.5,
        gt=0.0,
        le=1.0,
        description="Peak opacity of a streak of a 2 mm drop (larger drops are brighter).",
    )
    visibility_m: float | None = Field(
        None,
        gt=1.0,
        le=100_000.0,
        description="Visibility in metres; None derives it from the rainfall rate (1.076·R^0.67 dB/km).",
    )
    dimming: float = Field(
        0.8, gt=0.0, le=1.0, description="Scene radiance multiplier for the rain-cloud sky (1 = unchanged)."
    )


class OvercastParams(_WeatherParams):
    """Diffuse light under a cloud deck: soft shadows, low contrast, pale grey sky."""

    contrast: float = Field(0.75, gt=0.0, le=1.0, description="Global contrast multiplier (1 = unchanged).")
    saturation: float = Field(
        0.6, ge=0.0, le=1.0, description="Colour saturation multiplier (1 = unchanged)."
    )
    shadow_softening: float = Field(
        0.6,
        ge=0.0,
        le=1.0,
        description="Fraction by which large-scale luminance variations (cast shadows) are compressed.",
    )
    exposure_stops: float = Field(
        -0.3, ge=-4.0, le=2.0, description="Exposure change in photographic stops (negative = darker)."
    )
    sky_brightness: float = Field(
        0.82, ge=0.0, le=1.0, description="Grey level in [0, 1] of the overcast sky that replaces the sky."
    )
    colour_temperature_k: float = Field(
        7000.0, ge=1500.0, le=15_000.0, description="Colour temperature of the diffuse light in kelvin."
    )


class DuskParams(_WeatherParams):
    """Low sun: a dimmer, warmer scene under a graded sky, light sources glowing, some sensor noise."""

    exposure_stops: float = Field(
        -1.5, ge=-8.0, le=0.0, description="Exposure drop in photographic stops relative to the input."
    )
    iso: float = Field(800.0, ge=100.0, le=25_600.0, description="Sensor ISO; gain = ISO / 100.")
    colour_temperature_k: float = Field(
        3800.0, ge=1500.0, le=15_000.0, description="Colour temperature of the scene light in kelvin."
    )
    sky_darkening_stops: float = Field(
        1.0, ge=0.0, le=8.0, description="Extra darkening of the sky in stops beyond `exposure_stops`."
    )
    bloom_threshold: float = Field(
        0.9,
        gt=0.0,
        le=1.0,
        description="Brightest sRGB channel above which a small compact blob is a light source that glows.",
    )
    bloom_strength: float = Field(0.6, ge=0.0, le=4.0, description="Gain of the glow around light sources.")
    read_noise_e: float = Field(3.0, ge=0.0, le=100.0, description="Sensor read noise in electrons (RMS).")
    full_well_e: float = Field(
        10_000.0, ge=100.0, le=200_000.0, description="Electrons at full scale at ISO 100."
    )


# Night repeats Dusk's fields with its own defaults and descriptions: pydantic takes a default only from the
# field's own declaration, so the lines look alike while the numbers differ.
class NightParams(DuskParams):
    """Night: several stops darker, street-light colour, near-black sky, high-gain sensor noise."""

    exposure_stops: float = Field(
        -4.0, ge=-8.0, le=0.0, description="Exposure drop in photographic stops relative to the input."
    )
    iso: float = Field(3200.0, ge=100.0, le=25_600.0, description="Sensor ISO; gain = ISO / 100.")
    colour_temperature_k: float = Field(
        3000.0, ge=1500.0, le=15_000.0, description="Colour temperature of the (street) light in kelvin."
    )
    sky_darkening_stops: float = Field(
        3.0, ge=0.0, le=8.0, description="Extra darkening of the sky in stops beyond `exposure_stops`."
    )
    bloom_threshold: float = Field(
        0.8,
        gt=0.0,
        le=1.0,
        description="Brightest sRGB channel above which a small compact blob is a light source that glows.",
    )
    bloom_strength: float = Field(1.0, ge=0.0, le=4.0, description="Gain of the glow around light sources.")


class SnowParams(_WeatherParams):
    """Falling snowflakes (size by distance) over a scene veiled by snow extinction."""

    intensity_mm_h: float = Field(
        1.0,
        gt=0.0,
        le=30.0,
        description="Snowfall rate, liquid-water equivalent mm/h: light 0.5, moderate 1–2.5, heavy > 2.5.",
    )
    visibility_m: float | None = Field(
        None,
        gt=1.0,
        le=100_000.0,
        description="Visibility in metres; None derives it from the snowfall (5.5·S^1.38 dB/km).",
    )
    flake_size_mm: float = Field(5.0, gt=0.5, le=30.0, description="Mean snowflake diameter in millimetres.")
    angle_deg: float = Field(
        0.0, ge=-60.0, le=60.0, description="Direction of fall from vertical in degrees (wind)."
    )
    exposure_ms: float = Field(
        8.0, gt=0.0, le=50.0, description="Camera exposure in ms; flakes blur by fall speed × exposure."
    )
    flake_opacity: float = Field(0.85, gt=0.0, le=1.0, description="Peak opacity of a flake.")
    settled_cover: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Snow lying on upward-facing surfaces (road, roofs, bonnets), found from the depth's "
        "normals: 0 = none, 1 = all of them; between, it lies in drifts.",
    )


PHYSICS_WEATHERS: dict[str, type[BaseModel]] = {
    "fog": FogParams,
    "rain": RainParams,
    "overcast": OvercastParams,
    "dusk": DuskParams,
    "night": NightParams,
    "snow": SnowParams,
}


def parse_physics_params(weather: str, raw: dict | None, where: str = "") -> BaseModel:
    """Validate user parameters for a physics weather into its model; MethodError (a ValueError) names
    each bad field by its path and allowed range, or the known weathers."""
    return SPEC.parse_params(weather, raw, where)


SPEC = register(
    MethodSpec(
        name="physics",
        description="Physically based weather rendered onto the image (Koschmieder fog, particle rain and "
        "snow, overcast, dusk and night light); uses a depth map when one is given.",
        weather_params=PHYSICS_WEATHERS,
        uses_depth=True,
        depth_sources=DEPTH_SOURCES,
        # What a robustness curve varies: fog by visibility, rain and snow by precipitation rate.
        intensity={"fog": "visibility_m", "rain": "intensity_mm_h", "snow": "intensity_mm_h"},
        builder="services.translator.weather.builder:build",
        default=True,
        rank=0,
    )
)
