"""C++ kernels for rain and snow at frame rate: particle footprints and the whole composite in one pass.

Why C++: in numpy a particle footprint is a dozen array passes over padded boxes and the composite
(transmission exp, particle blend, rounding) a dozen full-frame passes; here each particle is one loop
over its box and the composite one pass over each block of rows (two threads, the block kept in cache),
vectorised by the compiler. The pixels are those of the numpy reference (particles.render_transmittance
and atmosphere.composite) to within float rounding (tested). Where the CPU has AVX-512 (VBMI) the composite
is written with intrinsics (interleaved RGB in and out, one pass); elsewhere portable loops give the same
pixels (tested). The C++ is kernels.cpp beside this module. No torch headers: the library builds with g++
in about a second, is loaded with ctypes and cached next to the CycleGAN kernels (same cache folder and CPU
key). Without a compiler :func:`load` raises :class:`KernelBuildError` and the callers use numpy.
"""

from __future__ import annotations

import ctypes
from functools import lru_cache

import numpy as np

from services.translator.native import CppSource, KernelBuildError, load_library
from services.translator.weather.particles import Particles, kernel_constants, phi_table

# The C++ (kernels.cpp beside this module, with the shared parallel.hpp).
_SOURCE = CppSource(__package__, "kernels.cpp")

# -ffp-contract=off: an FMA would round the footprint coordinates differently from numpy.
_FLAGS = [
    "-O3",
    "-march=native",
    "-fno-math-errno",
    "-fno-trapping-math",
    "-ffp-contract=off",
    "-shared",
    "-fPIC",
    "-std=c++17",
    "-pthread",
]


@lru_cache(maxsize=1)
def load() -> ctypes.CDLL:
    """The compiled kernels (built on first call, then reused from the cache)."""
    return build(_FLAGS)


def build(flags: list[str]) -> ctypes.CDLL:
    """The kernels compiled with `flags` (tests build a second, non-AVX-512 copy to check that path)."""
    dll = load_library("weather", _SOURCE, flags, "weather kernels")
    p, i, f = ctypes.c_void_p, ctypes.c_int, ctypes.c_float
    dll.render_precipitation.argtypes = [i, p, p, p, p, i, p, p, f, p, p, f, i, i, p, i]
    dll.render_precipitation.restype = None
    return dll


@lru_cache(maxsize=1)
def available() -> bool:
    """Whether the kernels build and load here (cached: a missing compiler is looked for once)."""
    try:
        load()
    except KernelBuildError:
        return False
    return True


def _ptr(array: np.ndarray | None) -> int | None:
    return None if array is None else array.ctypes.data


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
    threads: int = 2,
) -> np.ndarray:
    """precipitation.render_precipitation in one C++ pass: the particles' transmittance
    (particles.render_transmittance), then atmosphere.composite with α = 1 − transmittance, as uint8.

    scene_depth_m: HxW metres for the veil (inf = sky); occluder_depth_m: HxW metres that hide particles
    behind nearer surfaces, or None; airlight and particle_colour: RGB in [0, 1].
    """
    height, width = image.shape[:2]
    image = np.ascontiguousarray(image, dtype=np.uint8)
    out = np.empty_like(image)
    if image.size == 0:
        return out
    planes = {"scene depth": scene_depth_m, "occluder depth": occluder_depth_m}
    for name, plane in planes.items():
        if plane is not None and plane.shape != (height, width):
            raise ValueError(f"{name} is {plane.shape}, expected {(height, width)} like the image.")
    depth = np.ascontiguousarray(scene_depth_m, dtype=np.float32)
    occluders = None if occluder_depth_m is None else np.ascontiguousarray(occluder_depth_m, np.float32)
    arrays = [
        np.ascontiguousarray(getattr(particles, name), dtype=np.float32)
        for name in ("x", "y", "z", "dx", "dy", "thickness", "opacity")
    ]
    pointers = (ctypes.c_void_p * len(arrays))(*[_ptr(a) for a in arrays])
    model = np.array(kernel_constants(focal_px), dtype=np.float32)
    air = np.clip(np.asarray(airlight, dtype=np.float32).reshape(3), 0.0, 1.0) * np.float32(255.0)
    colour = np.clip(np.asarray(particle_colour, dtype=np.float32).reshape(3), 0.0, 1.0) * np.float32(255.0)
    table = phi_table()
    load().render_precipitation(
        arrays[0].size, ctypes.addressof(pointers), _ptr(model), _ptr(occluders), _ptr(table), table.size,
        _ptr(image), _ptr(depth), float(beta), _ptr(air), _ptr(colour), float(gain), height, width,
        _ptr(out), threads,
    )  # fmt: skip
    return out
