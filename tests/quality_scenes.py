"""Driving frames with two structured cars at known boxes, and test translations that erase or recolour
one of them (for the label-safety audit)."""

from __future__ import annotations

import cv2
import numpy as np

from tests.scenes import road_scene

WIDTH, HEIGHT = 320, 160
LEFT_CAR = (40, 84, 120, 134)  # x1, y1, x2, y2 (pixels)
RIGHT_CAR = (200, 84, 280, 134)


def _car(img: np.ndarray, box: tuple[int, int, int, int], colour: tuple[int, int, int]) -> None:
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    cv2.rectangle(img, (x1 + 2, y1 + h // 3), (x2 - 3, y2 - 8), colour, -1)  # body
    cv2.rectangle(img, (x1 + w // 5, y1 + 2), (x2 - w // 5, y1 + h // 3), colour, -1)  # cabin
    cv2.rectangle(img, (x1 + w // 5 + 4, y1 + 5), (x1 + w // 2 - 2, y1 + h // 3 - 1), (200, 220, 235), -1)
    cv2.rectangle(img, (x1 + w // 2 + 2, y1 + 5), (x2 - w // 5 - 4, y1 + h // 3 - 1), (200, 220, 235), -1)
    for cx in (x1 + w // 5, x2 - w // 5):
        cv2.circle(img, (cx, y2 - 8), 7, (15, 15, 15), -1)
        cv2.circle(img, (cx, y2 - 8), 3, (170, 170, 170), -1)
    cv2.rectangle(img, (x2 - 10, y1 + h // 3 + 4), (x2 - 4, y1 + h // 3 + 9), (250, 240, 120), -1)  # lamp


def car_scene(seed: int = 0) -> np.ndarray:
    img, _ = road_scene(WIDTH, HEIGHT, seed=seed)
    img = np.ascontiguousarray(img)
    rng = np.random.default_rng(seed)
    _car(img, LEFT_CAR, tuple(int(v) for v in rng.integers(30, 200, 3)))
    _car(img, RIGHT_CAR, tuple(int(v) for v in rng.integers(30, 200, 3)))
    return img


def erase(img: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The object painted over with its surroundings (what a translation that loses it does)."""
    mask = np.zeros(img.shape[:2], np.uint8)
    x1, y1, x2, y2 = box
    mask[max(0, y1 - 2) : y2 + 2, max(0, x1 - 2) : x2 + 2] = 255
    return cv2.inpaint(img, mask, 5, cv2.INPAINT_TELEA)


def car_mask(box: tuple[int, int, int, int]) -> np.ndarray:
    """The pixels of the car car_scene draws in `box`."""
    canvas = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    _car(canvas, box, (1, 1, 1))
    return canvas.any(axis=2)


def recolour(img: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The car's hue turned and its colours strengthened; its shape and the background untouched."""
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = (hsv[..., 0].astype(np.int32) + 70) % 180
    hsv[..., 1] = np.maximum(hsv[..., 1], 150)
    mask = car_mask(box)
    out = img.copy()
    out[mask] = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[mask]
    return out


def erase_left_recolour_right(img: np.ndarray) -> np.ndarray:
    """A test translation, for images of car_scene's size: the left car erased, the right one recoloured."""
    return recolour(erase(img, LEFT_CAR), RIGHT_CAR)
