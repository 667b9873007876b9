"""BDD100K detection labels (2018 ``bdd100k_labels_images_*.json`` and 2020 ``det_20`` Scalabel JSON).

Both are one top-level JSON array of frames ``{name, attributes{weather, scene, timeofday},
labels[{category, attributes{occluded, truncated, …}, box2d{x1, y1, x2, y2}}]}``; they differ in
category names (2018 ``person/bike/motor``, 2020 ``pedestrian/bicycle/motorcycle/other vehicle/
trailer/…``), which the taxonomy's ``bdd100k`` mapping covers at once. The files are large (the
2018 train file: 70,000 frames, ~1.3 M boxes plus lane and drivable-area polygons), so frames are
streamed with ``ijson`` and never held together.

Choices: labels without ``box2d`` (2018 lanes, drivable area) are skipped as ``no_box2d``; a frame
with no ``labels`` key still yields a record with no boxes (a valid negative image), counted in
``notes['frame_without_labels']``; box coordinates are taken as stored (continuous pixels).
The frame attribute ``scene`` (``city street``, ``highway`` …) goes to ``ImageRecord.scene``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from services.common.datasets.canonical import (
    SIZE_FROM_DEFAULT,
    SIZE_FROM_HEADER,
    Box,
    DatasetFormatError,
    ImageRecord,
    ReadReport,
    image_size,
    relpath,
)
from services.common.datasets.taxonomy import Taxonomy

DEFAULT_SIZE = (1280, 720)
LABEL_FILE_PATTERNS = ("bdd100k_labels_images_{split}.json", "det_{split}.json")


def find_label_file(root: Path, split: str) -> Path:
    """The 2018 or 2020 label file for ``split`` under ``root`` (or ``root`` itself when it is a file)."""
    if root.is_file():
        return root
    for pattern in LABEL_FILE_PATTERNS:
        hits = sorted(root.rglob(pattern.format(split=split)))
        if hits:
            return hits[0]
    names = [p.format(split=split) for p in LABEL_FILE_PATTERNS]
    raise ValueError(f"{root}: no BDD100K label file {names} found; pass labels= or another split")


def find_image_dir(root: Path, split: str) -> Path | None:
    """``images/100k/<split>`` (2018 and 2020 layouts) under root, if the images were unpacked."""
    if root.is_file():
        root = root.parent
    for cand in (root / "images" / "100k" / split, root / "bdd100k" / "images" / "100k" / split):
        if cand.is_dir():
            return cand
    hits = sorted(p for p in root.rglob(split) if p.is_dir() and p.parent.name == "100k")
    return hits[0] if hits else None


def _iter_frames(label_file: Path) -> Iterator[dict[str, Any]]:
    try:
        import ijson
    except ImportError as e:  # pragma: no cover - ijson is a declared dependency
        raise RuntimeError("reading BDD100K needs the 'ijson' package (pip install ijson)") from e
    with open(label_file, "rb") as f:
        try:
            yield from ijson.items(f, "item", use_float=True)
        except ijson.JSONError as e:
            raise DatasetFormatError(label_file, None, f"invalid JSON ({e})") from e


class _LabelFilter:
    """Per-label decisions with the reason strings cached (1.3 M labels pass through here)."""

    def __init__(self, taxonomy: Taxonomy, report: ReadReport) -> None:
        self.taxonomy, self.report = taxonomy, report
        self.cls: dict[str, int | None] = {}

    def boxes(self, labels: list[dict[str, Any]], file: Path, frame_no: int, name: str) -> list[Box]:
        report, out = self.report, []
        min_h = self.taxonomy.min_box_height
        for label in labels:
            box2d = label.get("box2d")
            if box2d is None:
                report.skipped["no_box2d"] += 1
                continue
            category = label.get("category")
            try:
                cls = self.cls[category]
            except KeyError:
                cls = self.cls[category] = self.taxonomy.class_index("bdd100k", category)
            if cls is None:
                report.skipped[f"class_not_in_taxonomy:{category}"] += 1
                continue
            try:
                x1, y1, x2, y2 = (
                    float(box2d["x1"]),
                    float(box2d["y1"]),
                    float(box2d["x2"]),
                    float(box2d["y2"]),
                )
            except (KeyError, TypeError, ValueError) as e:
                raise DatasetFormatError(
                    file, None, f"frame #{frame_no} ({name}): box2d needs numeric x1 y1 x2 y2, got {box2d!r}"
                ) from e
            if x2 <= x1 or y2 <= y1:
                report.skipped["degenerate_box"] += 1
                continue
            if y2 - y1 < min_h:
                report.skipped["box_too_small"] += 1
                continue
            attrs = label.get("attributes") or {}
            out.append(
                Box(
                    cls,
                    x1,
                    y1,
                    x2,
                    y2,
                    occluded=bool(attrs.get("occluded", False)),
                    truncated=bool(attrs.get("truncated", False)),
                )
            )
        return out


def iter_records(
    root: Path,
    taxonomy: Taxonomy | None = None,
    report: ReadReport | None = None,
    *,
    split: str = "train",
    labels: Path | None = None,
    images: Path | None = None,
) -> Iterator[ImageRecord]:
    """Stream records from one BDD100K label file.

    ``labels`` defaults to the split's 2018 or 2020 file under ``root``; ``images`` to
    ``images/100k/<split>``. Sizes come from the image header when the file exists, else
    1280×720 with ``size_source='default'`` and ``notes['size_assumed_1280x720']``.
    JSON errors are reported with the frame's position (``frame #n``), as ijson has no line numbers.
    """
    root = Path(root)
    taxonomy = taxonomy or Taxonomy()
    report = report if report is not None else ReadReport()
    label_file = Path(labels) if labels is not None else find_label_file(root, split)
    image_dir = Path(images) if images is not None else find_image_dir(root, split)
    base = root if root.is_dir() else root.parent
    decide = _LabelFilter(taxonomy, report)
    for frame_no, frame in enumerate(_iter_frames(label_file)):
        if not isinstance(frame, dict) or not isinstance(frame.get("name"), str):
            raise DatasetFormatError(label_file, None, f"frame #{frame_no} has no 'name' string")
        name = frame["name"]
        raw_labels = frame.get("labels")
        if raw_labels is None:
            report.notes["frame_without_labels"] += 1
            raw_labels = []
        boxes = decide.boxes(raw_labels, label_file, frame_no, name)
        image = image_dir / name if image_dir is not None else None
        if image is not None and image.is_file():
            (width, height), size_source = image_size(image), SIZE_FROM_HEADER
            image_path = relpath(image, base) if image.is_relative_to(base) else str(image)
        else:
            (width, height), size_source, image_path = DEFAULT_SIZE, SIZE_FROM_DEFAULT, None
            report.notes["size_assumed_1280x720"] += 1
        attrs = frame.get("attributes") or {}
        record = ImageRecord(
            image_id=name,
            source="bdd100k",
            image_path=image_path,
            width=width,
            height=height,
            boxes=boxes,
            scene=attrs.get("scene"),
            weather=attrs.get("weather"),
            timeofday=attrs.get("timeofday"),
            size_source=size_source,
        )
        report.kept(record)
        yield record
