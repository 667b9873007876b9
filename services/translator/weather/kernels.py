"""C++ kernels for rain and snow at frame rate: particle footprints and the whole composite in one pass.

Why C++: in numpy a particle footprint is a dozen array passes over padded boxes and the composite
(sRGB decode, transmission exp, particle blend in linear light, encode) a dozen full-frame float passes;
here each particle is one loop over its box and the composite one pass over each block of rows (two
threads, one in a worker capped at one: native.kernel_threads; the block kept in cache): decode and
encode are lookups in the tables colour.py builds (256 floats in, ENCODE_STEPS + 1 codes out), the blend is a few float operations per pixel, and the result is
written as uint8. Fog and snow, whose maps are made in numpy, use the same composite
(:func:`composite_linear`). The pixels are those of the numpy reference (particles.render_transmittance,
precipitation.composite_reference) to within one grey level (tested). The C++ is kernels.cpp beside this module. No torch headers: the library builds with g++
in about a second, is loaded with ctypes and cached next to the CycleGAN kernels (same cache folder and CPU
key). Without a compiler :func:`load` raises :class:`KernelBuildError` and the callers use numpy.
"""

from __future__ import annotations

import ctypes
from functools import lru_cache

import numpy as np

from services.translator.native import CppSource, kernel_threads, load_library, loadable
from services.translator.weather.colour import ENCODE_STEPS, LINEAR_TO_SRGB_U8, SRGB_TO_LINEAR_LUT
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
    dll.render_precipitation.argtypes = [i, p, p, p, p, i, p, p, p, f, p, p, f, p, p, i, i, i, p, i]
    dll.render_precipitation.restype = None
    dll.composite_linear.argtypes = [i, i, p, p, p, p, p, i, p, p, f, p, i]
    dll.composite_linear.restype = None
    dll.overcast_luminance.argtypes = [i, i, p, p, p, p, i]
    dll.overcast_luminance.restype = None
    dll.overcast_finish.argtypes = [i, i, p, p, p, p, f, f, p, p, p, i, p, i]
    dll.overcast_finish.restype = None
    dll.low_light.argtypes = [i, i, p, p, p, p, p, p, p, p, p, f, f, p, i, p, i]
    dll.low_light.restype = None
    return dll


@lru_cache(maxsize=1)
def available() -> bool:
    """Whether the kernels build and load here (cached: a missing compiler is looked for once)."""
    return loadable(load)


def _ptr(array: np.ndarray | None) -> int | None:
    return None if array is None else array.ctypes.data


def _plane(name: str, plane: np.ndarray | None, height: int, width: int) -> np.ndarray | None:
    if plane is None:
        return None
    if plane.shape != (height, width):
        raise ValueError(f"{name} is {plane.shape}, expected {(height, width)} like the image.")
    return np.ascontiguousarray(plane, dtype=np.float32)


def _rgb(value: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(value, dtype=np.float32).reshape(3), 0.0, 1.0)


def composite_linear(
    image: np.ndarray,
    transmission: np.ndarray,
    opacity: np.ndarray | None,
    airlight_linear: np.ndarray,
    colour_linear: np.ndarray,
    gain: float = 1.0,
    threads: int | None = None,
) -> np.ndarray:
    """uint8 of ((g·J − A)·t + A)·(1 − α) + C·α in linear light, J the decoded image: the numpy reference
    is precipitation.composite_reference. transmission, opacity (None = 0): HxW; A, C: linear RGB."""
    height, width = image.shape[:2]
    image = np.ascontiguousarray(image, dtype=np.uint8)
    out = np.empty_like(image)
    if image.size == 0:
        return out
    trans = _plane("transmission", transmission, height, width)
    alpha = _plane("opacity", opacity, height, width)
    air, colour = _rgb(airlight_linear), _rgb(colour_linear)
    load().composite_linear(
        height, width, _ptr(image), _ptr(trans), _ptr(alpha), _ptr(SRGB_TO_LINEAR_LUT), _ptr(LINEAR_TO_SRGB_U8),
        ENCODE_STEPS, _ptr(air), _ptr(colour), float(gain), _ptr(out), kernel_threads(threads),
    )  # fmt: skip
    return out


def render_precipitation(
    image: np.ndarray,
    particles: Particles,
    focal_px: float,
    scene_depth_m: np.ndarray,
    occluder_depth_m: np.ndarray | None,
    beta: float,
    airlight_linear: np.ndarray,
    gain: float,
    colour_linear: np.ndarray,
    sky: np.ndarray | None = None,
    threads: int | None = None,
) -> np.ndarray:
    """precipitation.composite_reference in one C++ pass: the particles' transmittance T
    (particles.render_transmittance), then the linear-light composite with t = exp(−β·depth)·(1 − sky) and
    α = 1 − T, as uint8.

    scene_depth_m: HxW metres for the veil; occluder_depth_m: HxW metres that hide particles behind nearer
    surfaces, or None; sky: HxW alpha matte (all airlight) or None; airlight and colour: linear RGB.
    """
    height, width = image.shape[:2]
    image = np.ascontiguousarray(image, dtype=np.uint8)
    out = np.empty_like(image)
    if image.size == 0:
        return out
    depth = _plane("scene depth", scene_depth_m, height, width)
    occluders = _plane("occluder depth", occluder_depth_m, height, width)
    matte = _plane("sky", sky, height, width)
    arrays = [
        np.ascontiguousarray(getattr(particles, name), dtype=np.float32)
        for name in ("x", "y", "z", "dx", "dy", "thickness", "opacity")
    ]
    pointers = (ctypes.c_void_p * len(arrays))(*[_ptr(a) for a in arrays])
    model = np.array(kernel_constants(focal_px), dtype=np.float32)
    air, colour = _rgb(airlight_linear), _rgb(colour_linear)
    table = phi_table()
    load().render_precipitation(
        arrays[0].size, ctypes.addressof(pointers), _ptr(model), _ptr(occluders), _ptr(table), table.size,
        _ptr(image), _ptr(depth), _ptr(matte), float(beta), _ptr(air), _ptr(colour), float(gain),
        _ptr(SRGB_TO_LINEAR_LUT), _ptr(LINEAR_TO_SRGB_U8), ENCODE_STEPS, height, width, _ptr(out), kernel_threads(threads),
    )  # fmt: skip
    return out


def overcast_luminance(image: np.ndarray, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Linear luminance of a uint8 sRGB image and log(luminance + 1e-4), both HxW float32."""
    height, width = image.shape[:2]
    image = np.ascontiguousarray(image, dtype=np.uint8)
    lum = np.empty((height, width), np.float32)
    log_lum = np.empty_like(lum)
    if image.size:
        load().overcast_luminance(
            height,
            width,
            _ptr(image),
            _ptr(SRGB_TO_LINEAR_LUT),
            _ptr(lum),
            _ptr(log_lum),
            kernel_threads(threads),
        )
    return lum, log_lum


def overcast_finish(
    image: np.ndarray,
    log_gain: np.ndarray,
    balance: np.ndarray,
    saturation: float,
    contrast: float,
    sky: np.ndarray | None,
    cloud_rows: np.ndarray,
    threads: int | None = None,
) -> np.ndarray:
    """overcast.render_overcast_reference after its shadow lift, in one pass: gain exp(log_gain),
    white balance and exposure `balance` (linear RGB gains), saturation, contrast around the mean
    luminance, the cloud deck (`cloud_rows`: one linear grey per row) through the sky matte, encode."""
    height, width = image.shape[:2]
    image = np.ascontiguousarray(image, dtype=np.uint8)
    out = np.empty_like(image)
    if image.size == 0:
        return out
    log_gain = _plane("log_gain", log_gain, height, width)
    matte = _plane("sky", sky, height, width)
    wb = np.ascontiguousarray(balance, dtype=np.float32).reshape(3)
    cloud = np.ascontiguousarray(cloud_rows, dtype=np.float32).reshape(height)
    load().overcast_finish(
        height, width, _ptr(image), _ptr(SRGB_TO_LINEAR_LUT), _ptr(log_gain), _ptr(wb), float(saturation),
        float(contrast), _ptr(matte), _ptr(cloud), _ptr(LINEAR_TO_SRGB_U8),
        ENCODE_STEPS, _ptr(out), kernel_threads(threads),
    )  # fmt: skip
    return out


def low_light(
    image: np.ndarray,
    balance: np.ndarray,
    sky: np.ndarray | None,
    tint_rows: np.ndarray | None,
    light: np.ndarray | None,
    glow: np.ndarray | None,
    noise_bytes: np.ndarray,
    normal_table: np.ndarray,
    electrons_full_scale: float,
    read_noise_e: float,
    threads: int | None = None,
) -> np.ndarray:
    """night.render_low_light_reference after its maps, in one pass: exposure and white balance, the sky
    (its luminance times `tint_rows`, rows x 3), light sources, the bloom halo (HxWx3, scaled), sensor
    noise from `noise_bytes` (HxWx3 uniform uint8) through `normal_table`, encode."""
    height, width = image.shape[:2]
    image = np.ascontiguousarray(image, dtype=np.uint8)
    out = np.empty_like(image)
    if image.size == 0:
        return out
    matte = _plane("sky", sky, height, width)
    tint = None if tint_rows is None else np.ascontiguousarray(tint_rows, dtype=np.float32).reshape(height, 3)
    lamps = _plane("light", light, height, width)
    halo = None if glow is None else np.ascontiguousarray(glow, dtype=np.float32).reshape(height, width, 3)
    noise = np.ascontiguousarray(noise_bytes, dtype=np.uint8).reshape(height, width, 3)
    table = np.ascontiguousarray(normal_table, dtype=np.float32).reshape(256)
    wb = np.ascontiguousarray(balance, dtype=np.float32).reshape(3)
    load().low_light(
        height, width, _ptr(image), _ptr(SRGB_TO_LINEAR_LUT), _ptr(wb), _ptr(matte), _ptr(tint), _ptr(lamps),
        _ptr(halo), _ptr(noise), _ptr(table), float(electrons_full_scale), float(read_noise_e) ** 2,
        _ptr(LINEAR_TO_SRGB_U8), ENCODE_STEPS, _ptr(out), kernel_threads(threads),
    )  # fmt: skip
    return out
