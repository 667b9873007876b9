"""How a dataset translation stores its images: PNG (lossless) or JPEG at a quality.

Encoding dominates a dataset translation's time, and a lossless copy of a lossy source only costs
space and time, so the default follows the source: Virtual KITTI 2 and BDD100K ship JPEG, KITTI PNG.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

ImageFormat = Literal["png", "jpeg"]
FORMATS: tuple[str, ...] = ("png", "jpeg")
# High enough that detectors see no difference from the lossless frame (JPEG sources ship at ~90-95).
DEFAULT_JPEG_QUALITY = 95
EXTENSIONS = {"png": ".png", "jpeg": ".jpg"}
CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg"}
_JPEG_SUFFIXES = (".jpg", ".jpeg")


def source_format(image_keys: Iterable[str]) -> ImageFormat:
    """The format of the source's stored images: JPEG only when every one of them is a JPEG, so a source
    holding any lossless image is never stored lossy by default."""
    seen = False
    for key in image_keys:
        seen = True
        if not key.lower().endswith(_JPEG_SUFFIXES):
            return "png"
    return "jpeg" if seen else "png"
