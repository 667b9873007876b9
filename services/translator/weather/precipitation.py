"""The image model rain and snow share: falling particles in front of a scene veiled by the same precipitation.

I = g·J·t·T + A·(1 − t)·T + C·(1 − T) in linear light, with t = exp(−β·d)·(1 − sky) the scene's transmission
through the veil (the sky is all airlight, through the soft sky matte), T the light passing the particles,
A the airlight, C the particles' colour and g the dimming under the clouds. With the C++ kernels (when
they build here) rain's streaks and the whole composite are one pass (kernels.render_precipitation) and
snow's shaded flakes (drawn in snow.py) are blended by kernels.composite_linear; the numpy reference
(particles.render_transmittance, composite_reference) gives the same pixels to within one grey level.
"""

from __future__ import annotations

import cv2
import numpy as np

from services.translator.weather import kernels
from services.translator.weather.atmosphere import transmission_from_depth
from services.translator.weather.colour import linear_to_srgb_u8, srgb_to_linear, srgb_u8_to_linear
from services.translator.weather.particles import Particles, render_transmittance
from services.translator.weather.scene import Scene


# The same signature as kernels.composite_linear on purpose: this is the reference the C++ pass is tested
# against, and `composite` below dispatches between the two.
def composite_reference(
    image: np.ndarray,
    transmission: np.ndarray,
    opacity: np.ndarray | None,
    airlight_linear: np.ndarray,
    colour_linear: np.ndarray,
    gain: float = 1.0,
) -> np.ndarray:
    """numpy reference of kernels.composite_linear: ((g·J − A)·t + A)·(1 − α) + C·α in linear light, uint8.

    transmission, opacity (None = 0): HxW float32; airlight and colour: linear RGB in [0, 1].
    """
    air = np.clip(np.asarray(airlight_linear, dtype=np.float32), 0.0, 1.0).reshape(1, 1, 3)
    out = srgb_u8_to_linear(image) * np.float32(gain) - air
    t = np.ascontiguousarray(transmission, dtype=np.float32)
    out = cv2.multiply(out, cv2.merge([t, t, t]))
    out += air
    if opacity is not None:
        colour = np.clip(np.asarray(colour_linear, dtype=np.float32), 0.0, 1.0).reshape(1, 1, 3)
        a = np.ascontiguousarray(opacity, dtype=np.float32)
        out += (colour - out) * cv2.merge([a, a, a])
    return linear_to_srgb_u8(out)


def composite(
    image: np.ndarray,
    transmission: np.ndarray,
    opacity: np.ndarray | None,
    airlight_linear: np.ndarray,
    colour_linear: np.ndarray,
    gain: float = 1.0,
    fast: bool | None = None,
) -> np.ndarray:
    """composite_reference, in C++ when the kernels build here (fast None) or when fast is True."""
    if fast is None:
        fast = kernels.available()
    if fast:
        return kernels.composite_linear(image, transmission, opacity, airlight_linear, colour_linear, gain)
    return composite_reference(image, transmission, opacity, airlight_linear, colour_linear, gain)


def render_precipitation(
    image: np.ndarray,
    particles: Particles,
    focal_px: float,
    scene: Scene,
    occluder_depth_m: np.ndarray | None,
    beta: float,
    airlight: np.ndarray,
    gain: float,
    particle_colour: np.ndarray,
    fast: bool | None = None,
) -> np.ndarray:
    """The veiled, dimmed scene with the particles (rain streaks) over it, as uint8.

    occluder_depth_m: a measured depth map that hides particles behind nearer surfaces, or None (an
    estimated depth is not trusted to hide anything); airlight, particle_colour: sRGB in [0, 1].
    """
    air = srgb_to_linear(np.clip(airlight, 0.0, 1.0))
    colour = srgb_to_linear(np.clip(particle_colour, 0.0, 1.0))
    if fast is None:
        fast = kernels.available()
    if fast:
        return kernels.render_precipitation(
            image, particles, focal_px, scene.depth_m, occluder_depth_m, beta, air, gain, colour, scene.sky
        )
    height, width = image.shape[:2]
    passed = render_transmittance(particles, height, width, focal_px, occluder_depth_m)
    t = transmission_from_depth(scene.depth_m, beta) * (np.float32(1.0) - scene.sky)
    return composite_reference(image, t, np.float32(1.0) - passed, air, colour, gain)


def composite_precipitation(
    image: np.ndarray,
    scene: Scene,
    beta: float,
    airlight: np.ndarray,
    gain: float,
    opacity: np.ndarray,
    particle_colour: np.ndarray,
    fast: bool | None = None,
) -> np.ndarray:
    """The veiled, dimmed scene with particles of a given opacity map (HxW 1 − T, snow's flakes) over it.

    airlight and particle_colour: sRGB in [0, 1].
    """
    t = transmission_from_depth(scene.depth_m, beta)
    t *= np.float32(1.0) - scene.sky
    air = srgb_to_linear(np.clip(airlight, 0.0, 1.0))
    colour = srgb_to_linear(np.clip(particle_colour, 0.0, 1.0))
    return composite(image, t, opacity, air, colour, gain, fast)
