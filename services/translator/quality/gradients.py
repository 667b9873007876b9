"""The label audit's colour gradient magnitude: one C++ pass where a compiler is found, else OpenCV.

Why C++: the audit runs inside every dataset translation, twice per image (source and translation). In
OpenCV the magnitude is six full-frame float planes (per-channel Sobel x and y, their magnitudes, the
channel mean) written and read back, which on a 1242x375 frame cost as much as rendering the fog and
contend for memory when two workers share a machine. The kernel (gradients.cpp) reads the 8-bit frame
once and writes the float magnitude once. Its values are those of `reference` to float rounding (tested).
"""

from __future__ import annotations

import ctypes
from functools import lru_cache

import cv2
import numpy as np

from services.translator.native import CppSource, load_library, loadable

_SOURCE = CppSource(__package__, "gradients.cpp")
_FLAGS = ["-O3", "-march=native", "-fno-math-errno", "-shared", "-fPIC", "-std=c++17", "-pthread"]
_MEAN3 = np.full((1, 3), 1.0 / 3.0, np.float32)


@lru_cache(maxsize=1)
def load() -> ctypes.CDLL:
    """The compiled kernel (built on first call, then reused from the cache)."""
    dll = load_library("audit", _SOURCE, _FLAGS, "label-audit kernel")
    dll.colour_gradient.argtypes = [
        ctypes.c_int64,
        ctypes.c_int64,
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_int,
    ]
    dll.colour_gradient.restype = None
    return dll


@lru_cache(maxsize=1)
def available() -> bool:
    """Whether the kernel builds and loads here (a missing compiler is looked for once)."""
    return loadable(load)


def _three_channels(image: np.ndarray) -> np.ndarray:
    img = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., :3])


def sobel(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel Sobel gradients (x, y), H x W x 3 float32, borders reflected (OpenCV's default)."""
    img = _three_channels(image)
    if img.dtype != np.uint8:
        img = img.astype(np.float32)
    return cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3)


def reference(image: np.ndarray) -> np.ndarray:
    """The magnitude through OpenCV: the root mean square over the channels of each channel's Sobel
    magnitude, H x W float32."""
    gx, gy = sobel(image)
    height, width = gx.shape[:2]
    squared = cv2.magnitude(gx.reshape(height, -1), gy.reshape(height, -1))
    cv2.multiply(squared, squared, dst=squared)  # gx² + gy² per channel, in place
    return cv2.sqrt(cv2.transform(squared.reshape(height, width, 3), _MEAN3))


def colour_gradient(image: np.ndarray, threads: int = 1) -> np.ndarray:
    """Colour gradient magnitude of an H x W (x C) image, H x W float32: the C++ kernel for 8-bit images
    when it is available, else `reference`."""
    img = _three_channels(image)
    if img.dtype != np.uint8 or not available():
        return reference(img)
    out = np.empty(img.shape[:2], np.float32)
    load().colour_gradient(img.shape[0], img.shape[1], img.ctypes.data, out.ctypes.data, max(1, threads))
    return out
