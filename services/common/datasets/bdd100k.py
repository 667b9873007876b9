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
The frame attribute ``scene`` (``city street``, ``highway`` …) goes to ``ImageRecord.scene``; a numeric
``visibility_m`` attribute (not BDD100K's own: renderers of foggy frames such as the demo study's target add
it) goes to ``ImageRecord.visibility_m`` for the evaluator's `visibility` slices.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, Literal

from services.common.core.paths import DataRoot, PathNotAllowed
from services.common.datasets.canonical import (
    FILE_PROBLEMS,
    SIZE_FROM_DEFAULT,
    SIZE_FROM_HEADER,
    Box,
    DatasetFormatError,
    ImageRecord,
    ReadReport,
    image_size,
)
from services.common.datasets.taxonomy import Taxonomy

DEFAULT_SIZE = (1280, 720)
LABEL_FILE_PATTERNS = ("bdd100k_labels_images_{split}.json", "det_{split}.json")


def find_label_file(root: Path | DataRoot, split: str | None) -> tuple[Path, str]:
    """The 2018 or 2020 label file and its split (``root`` itself when it is a file).

    Without ``split``: the train file, or the only split present (a folder holding just ``val``).
    """
    files = DataRoot.of(root)
    if not isinstance(root, DataRoot) and Path(root).is_file():
        return files.path(root), split or "train"
    for want in [split] if split is not None else ["train"]:
        for pattern in LABEL_FILE_PATTERNS:
            hits = files.rglob(pattern.format(split=want))
            if hits:
                return hits[0], want
    found = sorted(
        {
            p.name[len(prefix) : -len(".json")]
            for pattern in LABEL_FILE_PATTERNS
            for prefix in [pattern.split("{split}")[0]]
            for p in files.rglob(pattern.format(split="*"))
        }
    )
    if split is None and len(found) == 1:
        return find_label_file(files, found[0])
    names = [p.format(split=split or "train") for p in LABEL_FILE_PATTERNS]
    present = f"splits present: {found}" if found else "no BDD100K label file in the folder"
    raise ValueError(
        f"no BDD100K label file {names} found ({present}); set options.reader.split to a split present "
        "or options.reader.labels to the label file's path inside the dataset folder"
    )


def find_image_dir(root: Path | DataRoot, split: str) -> Path | None:
    """``images/100k/<split>`` (2018 and 2020 layouts) in the dataset folder, if the images were unpacked."""
    files = DataRoot.of(root)
    folder = files.folder
    for cand in (folder / "images" / "100k" / split, folder / "bdd100k" / "images" / "100k" / split):
        if files.contains(cand) and cand.is_dir():
            return files.path(cand)
    hits = [p for p in files.rglob(split) if p.is_dir() and p.parent.name == "100k"]
    return hits[0] if hits else None


def _visibility(value: Any) -> float | None:
    """A frame's `visibility_m` attribute (not in BDD100K itself: written by renderers such as the demo's
    target fog) as a positive float, else None."""
    if isinstance(value, bool | str) or value is None:
        return None
    try:
        number = float(value)  # ijson reads JSON numbers as Decimal
    except (TypeError, ValueError):
        return None
    return number if number > 0 and number == number and number != float("inf") else None


def _iter_frames(f: BinaryIO, name: str) -> Iterator[dict[str, Any]]:
    try:
        import ijson
    except ImportError as e:  # pragma: no cover - ijson is a declared dependency
        raise RuntimeError("reading BDD100K needs the 'ijson' package (pip install ijson)") from e
    try:
        yield from ijson.items(f, "item", use_float=True)
    except ijson.JSONError as e:
        raise DatasetFormatError(name, None, f"invalid JSON ({e})") from e


class _LabelFilter:
    """Per-label decisions with the reason strings cached (1.3 M labels pass through here)."""

    def __init__(self, taxonomy: Taxonomy, report: ReadReport) -> None:
        self.taxonomy, self.report = taxonomy, report
        self.cls: dict[str, int | None] = {}

    def boxes(self, labels: list[dict[str, Any]], file: str, frame_no: int, name: str) -> list[Box]:
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
    split: Literal["train", "val", "test"] | None = None,
    labels: Path | None = None,
    images: Path | None = None,
) -> Iterator[ImageRecord]:
    """Stream records from one BDD100K label file.

    ``labels`` defaults to the split's 2018 or 2020 file under ``root`` (without ``split``: train, or
    the only split present); ``images`` to
    ``images/100k/<split>``. Sizes come from the image header when the file exists, else
    1280×720 with ``size_source='default'`` and ``notes['size_assumed_1280x720']``.
    JSON errors are reported with the frame's position (``frame #n``), as ijson has no line numbers.
    A frame whose image name leads outside the dataset folder, or whose box is malformed, goes to
    ``report.problem`` (raised, or skipped with a warning by the ingest job).
    """
    files = DataRoot.of(root)
    taxonomy = taxonomy or Taxonomy()
    report = report if report is not None else ReadReport()
    if labels is not None:
        label_file, split = files.path(labels, where="options.reader.labels"), split or "train"
    else:
        label_file, split = find_label_file(root, split)
    if images is not None:
        image_dir: Path | None = files.path(images, where="options.reader.images")
    else:
        image_dir = find_image_dir(files, split)
    label_name = files.name(label_file)
    decide = _LabelFilter(taxonomy, report)
    with open(label_file, "rb") as f:  # confined above
        for frame_no, frame in enumerate(_iter_frames(f, label_name)):
            if not isinstance(frame, dict) or not isinstance(frame.get("name"), str):
                raise DatasetFormatError(label_name, None, f"frame #{frame_no} has no 'name' string")
            name = frame["name"]
            raw_labels = frame.get("labels")
            if raw_labels is None:
                report.notes["frame_without_labels"] += 1
                raw_labels = []
            try:
                boxes = decide.boxes(raw_labels, label_name, frame_no, name)
                image = (
                    files.path(image_dir / name, where=f"{label_name}: frame #{frame_no} 'name'")
                    if image_dir is not None
                    else None
                )
                if image is not None and image.is_file():
                    image_path = files.name(image)
                    (width, height), size_source = image_size(image, image_path), SIZE_FROM_HEADER
                else:
                    (width, height), size_source, image_path = DEFAULT_SIZE, SIZE_FROM_DEFAULT, None
                    report.notes["size_assumed_1280x720"] += 1
            except PathNotAllowed as exc:
                report.problem(exc, "outside_dataset_folder")
                continue
            except FILE_PROBLEMS as exc:
                report.problem(exc, "unreadable_frame")
                continue
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
                visibility_m=_visibility(attrs.get("visibility_m")),
                size_source=size_source,
            )
            report.kept(record)
            yield record
