"""The image model rain and snow share: falling particles in front of a scene veiled by the same precipitation.

I = g·J·t·T + A·(1 − t)·T + C·(1 − T) in linear light, with t = exp(−β·d)·(1 − sky) the scene's transmission
through the veil (the sky is all airlight, through the soft sky matte), T the light passing the particles,
A the airlight, C the particles' colour and g the dimming under the clouds. The particles' opacity
1 − T is drawn by the C++ kernels when they build here (kernels.render_precipitation with a black scene and
white particles yields exactly C·(1 − T)), else by the numpy reference (particles.render_transmittance);
snow draws its own shaded flakes (snow.py).
"""

from __future__ import annotations

import cv2
import numpy as np

from services.translator.weather import kernels
from services.translator.weather.atmosphere import transmission_from_depth
from services.translator.weather.colour import linear_to_srgb_u8, srgb_to_linear, srgb_u8_to_linear
from services.translator.weather.particles import Particles, render_transmittance
from services.translator.weather.scene import Scene


def particle_opacity(
    particles: Particles,
    height: int,
    width: int,
    focal_px: float,
    occluder_depth_m: np.ndarray | None,
    fast: bool | None = None,
) -> np.ndarray:
    """HxW float32 1 − T: how much of the scene the particles hide (occluder_depth_m hides particles
    behind nearer surfaces; an estimated depth is not trusted to)."""
    if fast is None:
        fast = kernels.available()
    if fast:
        black = np.zeros((height, width, 3), np.uint8)
        zero_depth = np.zeros((height, width), np.float32)
        drawn = kernels.render_precipitation(
            black, particles, focal_px, zero_depth, occluder_depth_m, 0.0, np.zeros(3), 0.0, np.ones(3)
        )
        return drawn[..., 1].astype(np.float32) * np.float32(1.0 / 255.0)
    opacity = np.float32(1.0) - render_transmittance(particles, height, width, focal_px, occluder_depth_m)
    # The kernel hands its opacity back in 8 bits; the reference rounds the same way, so both agree.
    return np.rint(opacity * np.float32(255.0)) * np.float32(1.0 / 255.0)


def composite_precipitation(
    image: np.ndarray,
    scene: Scene,
    beta: float,
    airlight: np.ndarray,
    gain: float,
    opacity: np.ndarray,
    particle_colour: np.ndarray,
) -> np.ndarray:
    """The veiled, dimmed scene with the particles over it, as uint8 (all in linear light).

    airlight and particle_colour: sRGB in [0, 1]; opacity: HxW 1 − T.
    """
    t = transmission_from_depth(scene.depth_m, beta) * (np.float32(1.0) - scene.sky)
    air = srgb_to_linear(np.clip(airlight, 0.0, 1.0)).reshape(1, 1, 3)
    colour = srgb_to_linear(np.clip(particle_colour, 0.0, 1.0)).reshape(1, 1, 3)
    linear = srgb_u8_to_linear(image)
    out = cv2.multiply(linear * np.float32(gain) - air, cv2.merge([t, t, t]))
    out += air
    a3 = cv2.merge([opacity, opacity, opacity])
    out += (colour - out) * a3
    return linear_to_srgb_u8(out)
