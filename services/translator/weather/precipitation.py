"""The image model rain and snow share: falling particles in front of a scene veiled by the same precipitation.

I = g·J·t·T + A·(1 − t)·T + C·(1 − T) with t = exp(−β·d) the scene's transmission through the veil, T the
light passing the particles (particles.py), A the airlight, C the particles' colour and g the dimming
under the clouds. Drawn by the C++ kernels when they build here, else by the numpy reference (same model,
pixels equal to within float rounding).
"""

from __future__ import annotations

import numpy as np

from services.translator.weather import kernels
from services.translator.weather.atmosphere import composite, transmission_from_depth
from services.translator.weather.particles import Particles, render_transmittance


def render_precipitation(
    image: np.ndarray,
    particles: Particles,
    focal_px: float,
    scene_depth_m: np.ndarray,
    occluder_depth_m: np.ndarray | None,
    beta: float,
    airlight: np.ndarray,
    gain: float,
    particle_colour: np.ndarray,
    fast: bool | None = None,
) -> np.ndarray:
    """The veiled, dimmed scene with the particles over it, as uint8.

    scene_depth_m: the distances the veil uses (a measured or an estimated depth); occluder_depth_m: a
    measured depth map that hides particles behind nearer surfaces, or None (an estimate is not trusted to
    hide anything). fast: None uses the C++ kernels when they build, False forces numpy.
    """
    height, width = image.shape[:2]
    if fast is None:
        fast = kernels.available()
    if fast:
        return kernels.render_precipitation(
            image, particles, focal_px, scene_depth_m, occluder_depth_m, beta, airlight, gain, particle_colour
        )
    passed = render_transmittance(particles, height, width, focal_px, occluder_depth_m)
    t = transmission_from_depth(scene_depth_m, beta)
    scene = image.astype(np.float32) * np.float32(1.0 / 255.0)
    colour = np.clip(np.asarray(particle_colour, dtype=np.float32), 0.0, 1.0)
    air = np.clip(np.asarray(airlight, dtype=np.float32), 0.0, 1.0)
    out = composite(scene, t, air, gain, 1.0 - passed, colour) * np.float32(255.0)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
