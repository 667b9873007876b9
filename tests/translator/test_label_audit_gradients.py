"""The label audit's colour gradient: the C++ pass gives OpenCV's values on every size (borders included),
the OpenCV path runs where no compiler is found, and a region's gradients equal the whole frame's there."""

from __future__ import annotations

import numpy as np
import pytest

from services.translator.quality import gradients
from services.translator.quality.label_audit import _region_sobel

needs_kernel = pytest.mark.skipif(not gradients.available(), reason="no C++ compiler for the audit kernel")


@needs_kernel
@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (7, 1), (2, 2), (3, 3), (64, 97), (375, 1242)])
@pytest.mark.parametrize("threads", [1, 3])
def test_the_kernel_gives_opencvs_values_on_every_size(shape: tuple[int, int], threads: int) -> None:
    rng = np.random.default_rng(sum(shape))
    image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    got = gradients.colour_gradient(image, threads=threads)
    want = gradients.reference(image)
    assert got.shape == shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3)


@needs_kernel
def test_grey_and_four_channel_images_use_their_first_three_channels() -> None:
    rng = np.random.default_rng(4)
    grey = rng.integers(0, 256, (20, 30), dtype=np.uint8)
    rgba = rng.integers(0, 256, (20, 30, 4), dtype=np.uint8)
    np.testing.assert_allclose(
        gradients.colour_gradient(grey), gradients.reference(grey), rtol=1e-5, atol=1e-3
    )
    np.testing.assert_allclose(
        gradients.colour_gradient(rgba), gradients.reference(rgba[..., :3]), rtol=1e-5, atol=1e-3
    )
    # A grey step of 30 levels gives ~120 (the unit the audit's thresholds are in).
    step = np.zeros((9, 9, 3), np.uint8)
    step[:, 5:] = 30
    assert gradients.colour_gradient(step)[4, 4] == pytest.approx(120.0)


def test_without_a_compiler_the_opencv_path_gives_the_values(monkeypatch: pytest.MonkeyPatch) -> None:
    image = np.random.default_rng(5).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    monkeypatch.setattr(gradients, "available", lambda: False)
    monkeypatch.setattr(gradients, "load", lambda: pytest.fail("the kernel was used without a compiler"))
    # (OpenCV's own SIMD and scalar paths differ in the last float bit, with the buffer's alignment.)
    np.testing.assert_allclose(gradients.colour_gradient(image), gradients.reference(image), rtol=1e-6)
    # Float images always take the OpenCV path.
    monkeypatch.undo()
    as_float = image.astype(np.float32)
    np.testing.assert_allclose(gradients.colour_gradient(as_float), gradients.reference(as_float), rtol=1e-6)


@pytest.mark.parametrize("region", [(0, 0, 10, 8), (5, 4, 12, 9), (38, 30, 12, 10), (0, 20, 50, 20)])
def test_a_regions_gradients_equal_the_whole_frames_there(region: tuple[int, int, int, int]) -> None:
    image = np.random.default_rng(6).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    x, y, w, h = region
    gx, gy = gradients.sobel(image)
    rx, ry = _region_sobel(image, x, y, w, h)
    np.testing.assert_array_equal(rx, gx[y : y + h, x : x + w])
    np.testing.assert_array_equal(ry, gy[y : y + h, x : x + w])
