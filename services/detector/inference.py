"""Runs a trained detector on RGB images and writes its boxes as pictures or YOLO prediction files.

Call ``services.detector.offline.prepare_ultralytics`` once per process before this module is used.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from services.common.datasets.canonical import pixel_box, yolo_box
from services.detector.training import resolve_device
from services.detector.weights import inspect_weights


@dataclass(frozen=True)
class Detection:
    """One box in pixel coordinates of the image it was found in (x2, y2 exclusive edges)."""

    cls: int
    name: str
    conf: float
    x1: float
    y1: float
    x2: float
    y2: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_image(image: Any, i: int) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        got = f"{type(image).__name__} {getattr(image, 'shape', '')} {getattr(image, 'dtype', '')}".strip()
        raise ValueError(f"image {i} must be an HxWx3 uint8 RGB array, got {got}")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise ValueError(f"image {i} is too small ({image.shape[1]}x{image.shape[0]})")
    return image


class Detector:
    """A detector loaded once (weights checked first) and reused for every request of a worker."""

    def __init__(self, weights: Path, device: str = "auto") -> None:
        from ultralytics import YOLO

        info = inspect_weights(Path(weights))  # refuses non-checkpoints with a WeightsError
        self.weights = Path(weights)
        self.class_names: list[str] = info["class_names"]
        self.architecture: str | None = info["architecture"]
        self.train_imgsz: int = info["imgsz"] or 640
        self.device = resolve_device(device)
        self._model = YOLO(str(weights), task="detect")

    def predict(
        self,
        images: Sequence[np.ndarray],
        conf: float = 0.25,
        iou: float = 0.7,
        imgsz: int | None = None,
        max_det: int = 300,
        batch: int = 8,
    ) -> list[list[Detection]]:
        """Detect objects in RGB images; ``imgsz`` defaults to the size the model was trained at."""
        if not 0.0 <= conf <= 1.0:
            raise ValueError(f"conf must be between 0 and 1, got {conf}")
        if not 0.0 < iou <= 1.0:
            raise ValueError(f"iou must be in (0, 1], got {iou}")
        if imgsz is not None and not 32 <= imgsz <= 4096:
            raise ValueError(f"imgsz must be between 32 and 4096, got {imgsz}")
        checked = [_check_image(im, i) for i, im in enumerate(images)]
        # ultralytics reads numpy arrays as OpenCV BGR; reversing the channels hands it what it expects.
        bgr = [np.ascontiguousarray(im[..., ::-1]) for im in checked]
        out: list[list[Detection]] = []
        for start in range(0, len(bgr), max(1, batch)):
            results = self._model.predict(
                bgr[start : start + batch],
                conf=conf,
                iou=iou,
                imgsz=imgsz or self.train_imgsz,
                max_det=max_det,
                device=self.device,
                verbose=False,
                save=False,
            )
            out.extend(self._detections(r) for r in results)
        return out

    def _detections(self, result: Any) -> list[Detection]:
        boxes = result.boxes
        xyxy = boxes.xyxy.cpu().numpy().astype(float)
        confs = boxes.conf.cpu().numpy().astype(float)
        classes = boxes.cls.cpu().numpy().astype(int)
        names = self.class_names
        return [
            Detection(int(c), names[c] if 0 <= c < len(names) else str(c), float(s), *map(float, box))
            for box, s, c in zip(xyxy, confs, classes, strict=True)
        ]


def _colour(cls: int) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb((cls * 0.618034) % 1.0, 0.85, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def annotate(image: np.ndarray, detections: Sequence[Detection], line_width: int | None = None) -> np.ndarray:
    """A copy of the RGB image with each box and its ``name conf`` label drawn in a per-class colour."""
    import cv2

    out = np.ascontiguousarray(_check_image(image, 0).copy())
    h, w = out.shape[:2]
    lw = line_width or max(1, round((h + w) / 600))
    scale = max(0.35, lw / 3)
    for d in detections:
        colour = _colour(d.cls)
        p1 = (int(round(d.x1)), int(round(d.y1)))
        p2 = (int(round(d.x2)), int(round(d.y2)))
        cv2.rectangle(out, p1, p2, colour, lw, cv2.LINE_AA)
        label = f"{d.name} {d.conf:.2f}"
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, max(1, lw - 1))
        above = p1[1] - th - base >= 0
        top = p1[1] - th - base if above else p1[1]
        cv2.rectangle(out, (p1[0], top), (p1[0] + tw, top + th + base), colour, -1)
        text_colour = (0, 0, 0) if sum(colour) > 380 else (255, 255, 255)
        thickness = max(1, lw - 1)
        cv2.putText(out, label, (p1[0], top + th), cv2.FONT_HERSHEY_SIMPLEX, scale, text_colour, thickness)
    return out


def write_predictions_txt(detections: Sequence[Detection], image_size: tuple[int, int]) -> str:
    """YOLO prediction lines ``cls cx cy w h conf``, normalised to ``image_size`` = (width, height).

    The same text ultralytics writes with ``save_txt=True, save_conf=True``, so the evaluator reads
    predictions made here and predictions a user uploads in one format.
    """
    width, height = image_size
    if width <= 0 or height <= 0:
        raise ValueError(f"image_size must be a positive (width, height), got {image_size}")
    lines = []
    for d in detections:
        values = yolo_box(d.x1, d.y1, d.x2, d.y2, width, height)
        lines.append(("%g " * 6).rstrip() % (d.cls, *values, d.conf))
    return "".join(f"{line}\n" for line in lines)


def read_predictions_txt(
    text: str, image_size: tuple[int, int], class_names: Sequence[str] | None = None
) -> list[Detection]:
    """Parse ``cls cx cy w h conf`` lines back into pixel-coordinate detections."""
    width, height = image_size
    names = list(class_names or [])
    out = []
    for k, raw in enumerate(text.splitlines(), start=1):
        parts = raw.split()
        if not parts:
            continue
        if len(parts) != 6:
            raise ValueError(f"prediction line {k}: expected 'cls cx cy w h conf', got {raw.strip()!r}")
        try:
            cls = int(float(parts[0]))
            cx, cy, w, h, conf = (float(p) for p in parts[1:])
        except ValueError:
            raise ValueError(f"prediction line {k}: not numbers: {raw.strip()!r}") from None
        name = names[cls] if 0 <= cls < len(names) else str(cls)
        out.append(Detection(cls, name, conf, *pixel_box(cx, cy, w, h, width, height)))
    return out
