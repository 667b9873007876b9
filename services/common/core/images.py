"""Safe decoding of user-uploaded images (pixel cap checked from the header, truncation refused).

Pillow's own decompression-bomb guard is a process-wide setting with a fixed limit and raises only far
above it; uploads need our configured limit, enforced before any pixel data is decoded. So the header
is read by the format plugin directly and the size checked here, and Pillow's global settings are left
alone.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageFile, ImageOps

LIMIT_SETTING = "SIM2REAL_MAX_IMAGE_PIXELS"
_DEPTH_REQUIREMENT = (
    "depth maps must be 16-bit single-channel (greyscale) PNGs in centimetres, 65535 for sky "
    "(the Virtual KITTI 2 convention)"
)
# What Pillow raises for malformed data while parsing or decoding.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error, zlib.error)


class ImageError(ValueError):
    """An upload that cannot be used as an image; `status_code` is the HTTP status to answer with."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code


def _formats_text(formats: Sequence[str]) -> str:
    names = [f.upper() for f in formats]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _open_header(data: bytes, formats: Sequence[str]) -> ImageFile.ImageFile:
    """Identify the image and read its header only (no pixel data), bypassing Image.open's bomb check."""
    if not data:
        raise ImageError(f"empty file: upload a {_formats_text(formats)} image")
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # Someone enabled this process-wide; truncated uploads would decode as silently grey images.
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is enabled; refusing to decode uploads")
    prefix = data[:16]
    for fmt in formats:
        name = fmt.upper()
        if name not in Image.OPEN:
            Image.init()
        if name not in Image.OPEN:
            raise ValueError(f"unknown image format {fmt!r}")
        factory, accept = Image.OPEN[name]
        verdict = accept(prefix) if accept else True
        if not verdict or isinstance(verdict, str):
            continue
        try:
            image = factory(io.BytesIO(data), "")
        except _DECODE_ERRORS as exc:
            if "truncated" in str(exc).lower():
                raise ImageError("image file is truncated; upload the complete file") from None
            raise ImageError(
                f"the {name} header is damaged ({exc}); upload a valid {_formats_text(formats)} image"
            ) from None
        return image
    raise ImageError(f"not a {_formats_text(formats)} file; upload a {_formats_text(formats)} image")


def _check_pixels(image: Image.Image, max_pixels: int) -> None:
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageError(f"image is {width}×{height}; upload an image with at least one pixel")
    pixels = width * height
    if pixels > max_pixels:
        raise ImageError(
            f"image is {width}×{height} = {pixels} pixels; the limit is {max_pixels} ({LIMIT_SETTING}): "
            "upload a smaller image",
            status_code=413,
        )


def _load(image: ImageFile.ImageFile) -> None:
    try:
        image.load()
    except Image.DecompressionBombError as exc:  # only if the operator's limit exceeds Pillow's
        raise ImageError(f"image is too large to decode safely ({exc})", status_code=413) from None
    except _DECODE_ERRORS as exc:
        if "truncated" in str(exc).lower():
            raise ImageError("image file is truncated; upload the complete file") from None
        raise ImageError(f"image data is corrupt ({exc}); upload a valid image file") from None


def image_size(data: bytes, formats: Sequence[str] = ("PNG", "JPEG")) -> tuple[int, int]:
    """(width, height) from the header alone: what decoding would cost, before paying it."""
    return _open_header(data, formats).size


def decode_image(
    data: bytes, max_pixels: int, formats: Sequence[str] = ("PNG", "JPEG"), *, orient: bool = True
) -> np.ndarray:
    """Decode an upload to an HxWx3 uint8 RGB array, refusing oversized images from the header alone.

    With `orient`, JPEG EXIF orientation is applied, so the array matches what the user saw; dataset
    images are decoded without it (orient=False), because their labels are in stored-pixel coordinates.
    Alpha is dropped; greyscale and palette images become RGB; 16-bit greyscale is scaled to 8 bits.
    """
    image = _open_header(data, formats)
    _check_pixels(image, max_pixels)
    _load(image)
    try:
        oriented = ImageOps.exif_transpose(image) if orient else image
    except _DECODE_ERRORS + (KeyError,):
        oriented = image  # a damaged EXIF block should not cost the user the upload
    if oriented.mode in ("I;16", "I;16B", "I;16L", "I"):
        wide = np.asarray(oriented).astype(np.uint32)
        grey = ((np.clip(wide, 0, 65535) * 255 + 32767) // 65535).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    if oriented.mode != "RGB":
        oriented = oriented.convert("RGB")
    array = np.asarray(oriented, dtype=np.uint8)
    if array.ndim != 3 or array.shape[2] != 3:  # pragma: no cover - convert("RGB") guarantees it
        raise ImageError(f"could not convert the image (mode {image.mode}) to RGB")
    return np.ascontiguousarray(array)


def decode_depth_png(data: bytes, max_pixels: int) -> np.ndarray:
    """Decode a Virtual KITTI 2 depth map: HxW uint16 centimetres, 65535 = sky (values kept exactly)."""
    image = _open_header(data, ("PNG",))
    _check_pixels(image, max_pixels)
    if image.mode not in ("I;16", "I;16B", "I;16L", "I"):
        raise ImageError(f"{_DEPTH_REQUIREMENT}; this PNG has mode {image.mode}")
    _load(image)
    array = np.asarray(image)
    if array.ndim != 2:  # pragma: no cover - the modes above are single-channel
        raise ImageError(f"{_DEPTH_REQUIREMENT}; this PNG has {array.shape[2]} channels")
    if array.dtype != np.uint16:
        if array.min() < 0 or array.max() > 65535:
            raise ImageError(f"{_DEPTH_REQUIREMENT}; this PNG holds values outside 0–65535")
        array = array.astype(np.uint16)
    return np.ascontiguousarray(array)


def encode_png(image: np.ndarray) -> bytes:
    """PNG of an HxWx3 uint8 RGB image or HxW uint16 depth map; fast compression, as results are big."""
    array = np.asarray(image)
    if array.dtype == np.uint8 and array.ndim == 3 and array.shape[2] == 3:
        pil = Image.fromarray(np.ascontiguousarray(array))
    elif array.dtype == np.uint16 and array.ndim == 2:
        pil = Image.fromarray(np.ascontiguousarray(array))
    else:
        raise ValueError(
            f"encode_png takes an HxWx3 uint8 RGB image or an HxW uint16 depth map, "
            f"got shape {array.shape} dtype {array.dtype}"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"cannot encode an empty image of shape {array.shape}")
    buffer = io.BytesIO()
    pil.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    """JPEG of an HxWx3 uint8 RGB image at `quality` (1-100), 4:2:0 as the cameras of JPEG datasets write."""
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(
            f"encode_jpeg takes an HxWx3 uint8 RGB image, got shape {array.shape} dtype {array.dtype}"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"cannot encode an empty image of shape {array.shape}")
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be 1-100, got {quality}")
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def thumbnail_jpeg(data: bytes, size: int, max_pixels: int) -> bytes:
    """A JPEG whose longest side is at most `size`, in stored-pixel orientation (labels' coordinates)."""
    pixels = decode_image(data, max_pixels, orient=False)
    pil = Image.fromarray(pixels)
    pil.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    pil.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()
