"""Read a folder of YOLO prediction files into flat arrays.

One ``<image stem>.txt`` per image, one line per box: ``class cx cy w h conf`` with coordinates
normalised to the image size, as ultralytics writes with ``save_txt=True, save_conf=True``. An image
without a file has no predictions. Errors name the file and line to fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

COORD_TOLERANCE = 1e-3  # ultralytics prints 6 significant digits; boxes touching the border may round over


class PredictionFileError(ValueError):
    """A prediction file that cannot be read as YOLO ``class cx cy w h conf`` lines."""


@dataclass(frozen=True)
class Predictions:
    image: np.ndarray  # int64 index into the dataset's images
    cls: np.ndarray  # int64
    conf: np.ndarray  # float32
    boxes: np.ndarray  # float32 (N, 4) xyxy pixels


def _check_rows(rows: np.ndarray, path: Path, line_numbers: np.ndarray, n_classes: int, tol: float) -> None:
    cls = rows[:, 0]
    checks = (
        (
            (cls != np.round(cls)) | (cls < 0) | (cls >= n_classes),
            f"class index not an integer in 0..{n_classes - 1}",
        ),
        ((rows[:, 5] < 0) | (rows[:, 5] > 1), "confidence outside [0, 1]"),
        (
            ((rows[:, 1:3] < -tol) | (rows[:, 1:3] > 1 + tol)).any(1),
            "box centre outside [0, 1] (not normalised?)",
        ),
        (((rows[:, 3:5] < 0) | (rows[:, 3:5] > 1 + tol)).any(1), "box size outside [0, 1] (not normalised?)"),
        (~np.isfinite(rows).all(1), "non-finite number"),
    )
    for bad, what in checks:
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise PredictionFileError(
                f"{path.name} line {line_numbers[i]}: {what}: {' '.join(map(str, rows[i]))}"
            )
    x1, x2 = rows[:, 1] - rows[:, 3] / 2, rows[:, 1] + rows[:, 3] / 2
    y1, y2 = rows[:, 2] - rows[:, 4] / 2, rows[:, 2] + rows[:, 4] / 2
    out = (x1 < -tol) | (y1 < -tol) | (x2 > 1 + tol) | (y2 > 1 + tol)
    if out.any():
        i = int(np.flatnonzero(out)[0])
        raise PredictionFileError(f"{path.name} line {line_numbers[i]}: box extends outside the image")


def parse_prediction_file(path: Path, n_classes: int, tol: float = COORD_TOLERANCE) -> np.ndarray:
    """(N, 6) float64 rows ``class cx cy w h conf``; blank lines are skipped."""
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    lines = text.splitlines()
    kept = [(i + 1, ln.split()) for i, ln in enumerate(lines) if ln.strip()]
    for number, fields in kept:
        if len(fields) != 6:
            raise PredictionFileError(
                f"{Path(path).name} line {number}: expected 6 fields 'class cx cy w h conf' "
                f"(save_txt with save_conf), got {len(fields)}"
            )
    try:
        rows = np.array([f for _, f in kept], dtype=np.float64).reshape(-1, 6)
    except ValueError:
        for number, fields in kept:
            try:
                [float(f) for f in fields]
            except ValueError:
                raise PredictionFileError(
                    f"{Path(path).name} line {number}: non-numeric field in {fields}"
                ) from None
        raise
    _check_rows(rows, Path(path), np.array([n for n, _ in kept], dtype=np.int64), n_classes, tol)
    return rows


def read_yolo_predictions(
    folder: Path,
    image_stems: Sequence[str],
    image_sizes: np.ndarray,
    n_classes: int,
    tol: float = COORD_TOLERANCE,
) -> Predictions:
    """Predictions of a dataset from a folder of ``<stem>.txt`` files.

    ``image_sizes`` is (n_images, 2) width, height in pixels, in the order of ``image_stems``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"prediction folder {folder} does not exist")
    sizes = np.asarray(image_sizes, dtype=np.float64).reshape(-1, 2)
    if sizes.shape[0] != len(image_stems):
        raise ValueError(f"{sizes.shape[0]} image sizes for {len(image_stems)} images")
    index = {stem: i for i, stem in enumerate(image_stems)}
    files = sorted(p for p in folder.iterdir() if p.suffix == ".txt" and p.is_file())
    unknown = [p.name for p in files if p.stem not in index]
    if unknown:
        raise PredictionFileError(
            f"{len(unknown)} prediction file(s) match no image of the dataset, e.g. {unknown[0]}: "
            "files must be named after the image stems"
        )
    images, rows = [], []
    for p in files:
        r = parse_prediction_file(p, n_classes, tol)
        images.append(np.full(r.shape[0], index[p.stem], dtype=np.int64))
        rows.append(r)
    if not rows:
        z = np.zeros(0)
        return Predictions(
            z.astype(np.int64), z.astype(np.int64), z.astype(np.float32), np.zeros((0, 4), np.float32)
        )
    image = np.concatenate(images)
    r = np.concatenate(rows)
    wh = sizes[image]
    cx, cy, w, h = r[:, 1] * wh[:, 0], r[:, 2] * wh[:, 1], r[:, 3] * wh[:, 0], r[:, 4] * wh[:, 1]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1).astype(np.float32)
    return Predictions(image, r[:, 0].astype(np.int64), r[:, 5].astype(np.float32), boxes)
