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

from services.common.core.paths import DataRoot
from services.common.datasets.canonical import (
    READ_PROBLEMS,
    Box,
    DatasetFormatError,
    ImageRecord,
    ReadReport,
    image_size,
)
from services.common.datasets.kitti import IMAGE_EXTS, ObjectParser, read_lines
from services.common.datasets.taxonomy import Taxonomy


def _find_split_dir(files: DataRoot) -> Path:
    for cand in (files.folder / "training", files.folder):
        if files.is_dir(cand / "label_02"):
            return cand
    raise ValueError("no KITTI tracking 'training/label_02' folder; point at the KITTI tracking root")


def _read_labels(files: DataRoot, label_file: Path, parser: ObjectParser) -> dict[int, list[Box]]:
    by_frame: dict[int, list[Box]] = defaultdict(list)
    name = files.name(label_file)
    for lineno, line in enumerate(read_lines(files, label_file), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) not in (17, 18):
            raise DatasetFormatError(name, lineno, f"expected 17 fields, got {len(fields)}")
        try:
            frame, track = int(fields[0]), int(fields[1])
        except ValueError as e:
            raise DatasetFormatError(name, lineno, "frame and track_id must be integers") from e
        by_frame.setdefault(frame, [])
        box = parser.parse(fields[2:], name, lineno, track_id=track if track >= 0 else None)
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
    files = DataRoot.of(root)
    taxonomy = taxonomy or Taxonomy()
    report = report if report is not None else ReadReport()
    split = _find_split_dir(files)
    parser = ObjectParser("kitti_tracking", taxonomy, report)
    for label_file in files.glob(split / "label_02", "*.txt"):
        seq = label_file.stem
        if sequences is not None and seq not in sequences:
            continue
        try:
            by_frame = _read_labels(files, label_file, parser)
            images = {
                int(p.stem): p
                for p in files.glob(split / "image_02" / seq, "*")
                if p.suffix.lower() in IMAGE_EXTS and p.stem.isdigit()
            }
        except READ_PROBLEMS as exc:
            report.file_problem(exc)
            continue
        for frame in sorted(set(by_frame) | set(images)):
            image = images.get(frame)
            if image is None:
                report.skip("missing_image")
                continue
            try:
                image = files.path(image)
                width, height = image_size(image, files.name(image))
            except READ_PROBLEMS as exc:
                report.file_problem(exc)
                continue
            record = ImageRecord(
                image_id=f"{seq}/{frame:06d}",
                source="kitti_tracking",
                image_path=files.name(image),
                width=width,
                height=height,
                boxes=by_frame.get(frame, []),
                scene=seq,
                camera="image_02",
                frame=frame,
            )
            report.kept(record)
            yield record
