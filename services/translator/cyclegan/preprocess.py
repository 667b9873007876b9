"""Training-time preprocessing as upstream ``data/base_dataset.py``: resize, random crop, random flip."""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

PreprocessMode = Literal["resize_and_crop", "scale_width_and_crop"]


def scale_width(img: np.ndarray, target_width: int, crop_size: int) -> np.ndarray:
    """Scale to ``target_width`` keeping the aspect ratio, but never below ``crop_size`` in height.

    As upstream, a wide frame (1242×375 at width 286 would be 86 high) is stretched vertically to
    ``crop_size`` so a square crop fits; that distorts aspect for such frames, on purpose, identically in
    training and in the sample translations.
    """
    oh, ow = img.shape[:2]
    if ow == target_width and oh >= crop_size:
        return img
    h = int(max(target_width * oh / ow, crop_size))
    return cv2.resize(img, (target_width, h), interpolation=cv2.INTER_CUBIC)


def preprocess(
    img: np.ndarray,
    rng: np.random.Generator,
    *,
    mode: PreprocessMode,
    load_size: int,
    crop_size: int,
    no_flip: bool,
) -> np.ndarray:
    """H×W×3 uint8 -> 3×crop×crop float32 in [-1, 1]."""
    if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        desc = f"{img.dtype} {img.shape}" if isinstance(img, np.ndarray) else type(img).__name__
        raise ValueError(f"training images must be H×W×3 uint8 RGB arrays, got {desc}")
    if mode == "resize_and_crop":
        img = cv2.resize(img, (load_size, load_size), interpolation=cv2.INTER_CUBIC)
    elif mode == "scale_width_and_crop":
        img = scale_width(img, load_size, crop_size)
    else:
        raise ValueError(f"preprocess must be 'resize_and_crop' or 'scale_width_and_crop', got {mode!r}")
    h, w = img.shape[:2]
    y = int(rng.integers(0, h - crop_size + 1))
    x = int(rng.integers(0, w - crop_size + 1))
    img = img[y : y + crop_size, x : x + crop_size]
    if not no_flip and rng.random() < 0.5:
        img = img[:, ::-1]
    return np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32) / 127.5 - 1.0
