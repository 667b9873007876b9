"""KITTI tracking (``training/image_02/<seq>/`` + ``training/label_02/<seq>.txt``) into records.

The reference study pairs Virtual KITTI 2 scenes with these sequences, so recipes need them.
Label lines have 17 fields: ``frame track_id`` then the 15 KITTI object fields. Every image of a
sequence becomes a record (frames without objects have no label lines); label lines whose image
is missing are skipped as ``missing_image`` (counted once per frame).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from services.common.datasets.canonical import (
    Box,
    DatasetFormatError,
    ImageRecord,
    ReadReport,
    image_size,
    relpath,
)
from services.common.datasets.kitti import IMAGE_EXTS, ObjectParser
from services.common.datasets.taxonomy import Taxonomy


def _find_split_dir(root: Path) -> Path:
    for cand in (root / "training", root):
        if (cand / "label_02").is_dir():
            return cand
    raise ValueError(
        f"{root}: no KITTI tracking 'training/label_02' folder; point at the KITTI tracking root"
    )


def _read_labels(label_file: Path, parser: ObjectParser) -> dict[int, list[Box]]:
    by_frame: dict[int, list[Box]] = defaultdict(list)
    with open(label_file, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) not in (17, 18):
                raise DatasetFormatError(label_file, lineno, f"expected 17 fields, got {len(fields)}")
            try:
                frame, track = int(fields[0]), int(fields[1])
            except ValueError as e:
                raise DatasetFormatError(label_file, lineno, "frame and track_id must be integers") from e
            by_frame.setdefault(frame, [])
            box = parser.parse(fields[2:], label_file, lineno, track_id=track if track >= 0 else None)
            if box is not None:
                by_frame[frame].append(box)
    return by_frame


def iter_records(
    root: Path,
    taxonomy: Taxonomy | None = None,
    report: ReadReport | None = None,
    *,
    sequences: list[str] | None = None,
) -> Iterator[ImageRecord]:
    """Records with ``scene`` = sequence id (``"0001"``) and ``frame`` = frame index."""
    root = Path(root)
    taxonomy = taxonomy or Taxonomy()
    report = report if report is not None else ReadReport()
    split = _find_split_dir(root)
    parser = ObjectParser("kitti_tracking", taxonomy, report)
    for label_file in sorted((split / "label_02").glob("*.txt")):
        seq = label_file.stem
        if sequences is not None and seq not in sequences:
            continue
        by_frame = _read_labels(label_file, parser)
        image_dir = split / "image_02" / seq
        images = {
            int(p.stem): p for p in image_dir.glob("*") if p.suffix.lower() in IMAGE_EXTS and p.stem.isdigit()
        }
        for frame in sorted(set(by_frame) | set(images)):
            image = images.get(frame)
            if image is None:
                report.skip("missing_image")
                continue
            width, height = image_size(image)
            record = ImageRecord(
                image_id=f"{seq}/{frame:06d}",
                source="kitti_tracking",
                image_path=relpath(image, root),
                width=width,
                height=height,
                boxes=by_frame.get(frame, []),
                scene=seq,
                camera="image_02",
                frame=frame,
            )
            report.kept(record)
            yield record
