"""Synthetic driving frames for tests (defined in sim2real.demo.scenes, which the demo data uses too)."""

from __future__ import annotations

import numpy as np

from sim2real.demo.scenes import jpeg_bytes, png_bytes, road_scene

__all__ = ["jpeg_bytes", "png_bytes", "rms_contrast", "road_scene"]


def rms_contrast(image: np.ndarray) -> float:
    return float(image.astype(np.float32).mean(axis=2).std())
