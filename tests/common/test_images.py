"""Safe decoding of uploads: formats, modes, truncation, header-checked pixel cap, 16-bit depth."""

from __future__ import annotations

import io
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

from services.common.core.images import ImageError, decode_depth_png, decode_image, encode_png

LIMIT = 40_000_000


def _encode(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def _gradient(height: int = 48, width: int = 64) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // (width - 1), y * 255 // (height - 1), (x + y) % 256], axis=2).astype(np.uint8)


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png_declaring(width: int, height: int, rows: int = 2) -> bytes:
    """A well-formed RGB PNG header declaring width×height, with pixel data for only a few rows."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress((b"\x00" + bytes(width * 3)) * rows, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def test_png_rgb_decodes_exactly() -> None:
    pixels = _gradient()
    decoded = decode_image(_encode(Image.fromarray(pixels), "PNG"), LIMIT)
    assert decoded.dtype == np.uint8 and decoded.shape == (48, 64, 3)
    np.testing.assert_array_equal(decoded, pixels)


def test_jpeg_decodes_close_to_source() -> None:
    pixels = _gradient()
    decoded = decode_image(_encode(Image.fromarray(pixels), "JPEG", quality=95), LIMIT)
    assert decoded.dtype == np.uint8 and decoded.shape == (48, 64, 3)
    assert np.abs(decoded.astype(int) - pixels.astype(int)).mean() < 4


def test_greyscale_becomes_rgb() -> None:
    grey = _gradient()[:, :, 0]
    decoded = decode_image(_encode(Image.fromarray(grey), "PNG"), LIMIT)
    assert decoded.shape == (48, 64, 3)
    for channel in range(3):
        np.testing.assert_array_equal(decoded[:, :, channel], grey)


def test_rgba_and_palette_become_rgb() -> None:
    pixels = _gradient()
    rgba = np.concatenate([pixels, np.full((48, 64, 1), 128, np.uint8)], axis=2)
    np.testing.assert_array_equal(decode_image(_encode(Image.fromarray(rgba), "PNG"), LIMIT), pixels)

    palette = Image.fromarray(pixels).quantize(colors=16)
    decoded = decode_image(_encode(palette, "PNG"), LIMIT)
    np.testing.assert_array_equal(decoded, np.asarray(palette.convert("RGB")))


def test_16_bit_greyscale_is_scaled_to_8_bits() -> None:
    wide = np.array([[0, 257, 65535, 32896]], dtype=np.uint16)
    decoded = decode_image(encode_png(wide), LIMIT)
    np.testing.assert_array_equal(decoded[0, :, 0], [0, 1, 255, 128])
    np.testing.assert_array_equal(decoded[:, :, 0], decoded[:, :, 2])


def test_jpeg_exif_orientation_is_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise for display
    data = _encode(Image.fromarray(_gradient(48, 64)), "JPEG", exif=exif)
    assert decode_image(data, LIMIT).shape == (64, 48, 3)


def test_zero_bytes_refused() -> None:
    with pytest.raises(ImageError, match="empty file") as info:
        decode_image(b"", LIMIT)
    assert info.value.status_code == 400
    assert isinstance(info.value, ValueError)


def test_random_bytes_refused() -> None:
    noise = np.random.default_rng(0).bytes(4096)
    with pytest.raises(ImageError, match="upload a PNG or JPEG image") as info:
        decode_image(noise, LIMIT)
    assert info.value.status_code == 400


def test_other_formats_refused_unless_allowed() -> None:
    gif = _encode(Image.fromarray(_gradient()).quantize(colors=8), "GIF")
    with pytest.raises(ImageError, match="PNG or JPEG") as info:
        decode_image(gif, LIMIT)
    assert info.value.status_code == 400
    assert decode_image(gif, LIMIT, formats=("GIF",)).shape == (48, 64, 3)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_images_refused(fmt: str, keep: float) -> None:
    pixels = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = _encode(Image.fromarray(pixels), fmt)
    with pytest.raises(ImageError, match="truncated") as info:
        decode_image(data[: int(len(data) * keep)], LIMIT)
    assert info.value.status_code == 400


def test_load_truncated_images_setting_is_not_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(RuntimeError, match="LOAD_TRUNCATED_IMAGES"):
        decode_image(_encode(Image.fromarray(_gradient()), "PNG"), LIMIT)


def test_png_bomb_refused_from_header() -> None:
    bomb = _png_declaring(20000, 20000)
    assert len(bomb) < 1000
    max_before = Image.MAX_IMAGE_PIXELS
    started = time.perf_counter()
    with pytest.raises(ImageError) as info:
        decode_image(bomb, LIMIT)
    assert time.perf_counter() - started < 0.5  # decoding 400 Mpx would take seconds and 1.2 GB
    error = info.value
    assert error.status_code == 413
    assert str(error).startswith(
        "image is 20000×20000 = 400000000 pixels; the limit is 40000000 (SIM2REAL_MAX_IMAGE_PIXELS)"
    )
    assert error.__context__ is None and error.__cause__ is None  # not Pillow's DecompressionBombError
    assert Image.MAX_IMAGE_PIXELS == max_before


def test_pixel_limit_is_ours_not_pillows() -> None:
    """Limits far below Pillow's own are enforced, and an image at the limit is accepted."""
    data = _encode(Image.fromarray(_gradient(100, 100)), "PNG")
    assert decode_image(data, max_pixels=10_000).shape == (100, 100, 3)
    with pytest.raises(ImageError, match="100×100 = 10000 pixels; the limit is 9999") as info:
        decode_image(data, max_pixels=9_999)
    assert info.value.status_code == 413


def test_jpeg_bomb_refused_from_header() -> None:
    data = bytearray(_encode(Image.fromarray(_gradient()), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 20000, 20000)  # height, width in the SOF0 segment
    with pytest.raises(ImageError, match="20000×20000") as info:
        decode_image(bytes(data), LIMIT)
    assert info.value.status_code == 413


def test_depth_round_trip_is_exact() -> None:
    depth = np.random.default_rng(2).integers(0, 65536, (37, 53)).astype(np.uint16)
    depth[0, 0], depth[-1, -1] = 0, 65535  # 65535 is sky in Virtual KITTI 2
    decoded = decode_depth_png(encode_png(depth), LIMIT)
    assert decoded.dtype == np.uint16 and decoded.shape == (37, 53)
    np.testing.assert_array_equal(decoded, depth)


@pytest.mark.parametrize(
    "image",
    [
        Image.fromarray(np.full((8, 8), 200, np.uint8)),  # 8-bit greyscale
        Image.fromarray(_gradient(8, 8)),  # colour
    ],
)
def test_depth_refuses_8_bit_and_colour(image: Image.Image) -> None:
    with pytest.raises(ImageError, match="16-bit single-channel") as info:
        decode_depth_png(_encode(image, "PNG"), LIMIT)
    assert info.value.status_code == 400


def test_depth_refuses_non_png_truncated_and_bombs() -> None:
    with pytest.raises(ImageError, match="PNG"):
        decode_depth_png(_encode(Image.fromarray(_gradient()), "JPEG"), LIMIT)
    depth = np.random.default_rng(3).integers(0, 65536, (64, 64)).astype(np.uint16)
    with pytest.raises(ImageError, match="truncated"):
        decode_depth_png(encode_png(depth)[:3000], LIMIT)
    with pytest.raises(ImageError) as info:
        decode_depth_png(_png_declaring(20000, 20000), LIMIT)
    assert info.value.status_code == 413


def test_encode_png_round_trips_rgb_and_refuses_other_arrays() -> None:
    pixels = _gradient()
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(encode_png(pixels)))), pixels)
    for bad in [
        pixels.astype(np.float32),
        np.zeros((4, 4, 4), np.uint8),
        np.zeros((4, 4), np.uint8),
        np.zeros((4, 4, 3), np.uint16),
    ]:
        with pytest.raises(ValueError, match="HxWx3 uint8"):
            encode_png(bad)
