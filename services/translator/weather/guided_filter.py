"""Fast guided filter (He, Sun & Tang, TPAMI 2013; subsampled variant, He & Sun 2015) with cv2.boxFilter.

Edge-aware smoothing: the output is locally a linear function of the guide, so it keeps the guide's edges
where a box blur would smear across them. opencv-python-headless ships no ximgproc, hence this module.
"""

from __future__ import annotations

import cv2
import numpy as np


def guided_filter(
    guide: np.ndarray, src: np.ndarray, radius: int, eps: float, subsample: int = 1
) -> np.ndarray:
    """Filter HxW float32 `src` guided by HxW float32 `guide` (both roughly in [0, 1]).

    radius: window radius in full-resolution pixels; eps: regularisation (larger = smoother);
    subsample: compute the linear coefficients at 1/subsample resolution (cost falls by subsample²).
    """
    if guide.shape != src.shape or guide.ndim != 2:
        raise ValueError(f"guide and src must be matching HxW arrays, got {guide.shape} and {src.shape}.")
    if radius < 1 or eps <= 0 or subsample < 1:
        raise ValueError("guided_filter needs radius >= 1, eps > 0 and subsample >= 1.")
    guide = np.asarray(guide, dtype=np.float32)
    src = np.asarray(src, dtype=np.float32)
    height, width = guide.shape
    small_size = (max(1, width // subsample), max(1, height // subsample))
    if subsample > 1 and small_size != (width, height):
        g = cv2.resize(guide, small_size, interpolation=cv2.INTER_AREA)
        p = cv2.resize(src, small_size, interpolation=cv2.INTER_AREA)
        r = max(1, round(radius / subsample))
    else:
        g, p, r = guide, src, radius
    ksize = (2 * r + 1, 2 * r + 1)

    def box(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, cv2.CV_32F, ksize, borderType=cv2.BORDER_REFLECT)

    mean_g = box(g)
    mean_p = box(p)
    cov_gp = box(g * p) - mean_g * mean_p
    var_g = box(g * g) - mean_g * mean_g
    a = cov_gp / (var_g + np.float32(eps))
    b = mean_p - a * mean_g
    mean_a = box(a)
    mean_b = box(b)
    if mean_a.shape != guide.shape:
        mean_a = cv2.resize(mean_a, (width, height), interpolation=cv2.INTER_LINEAR)
        mean_b = cv2.resize(mean_b, (width, height), interpolation=cv2.INTER_LINEAR)
    return mean_a * guide + mean_b
