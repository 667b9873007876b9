"""KITTI 2D object (``training/image_2`` + ``training/label_2``) into canonical records.

Label lines have 15 fields: ``type truncated occluded alpha x1 y1 x2 y2 h w l x y z ry``.
``DontCare`` lines are ignore regions, not objects. ``occluded`` is 0 (visible), 1 (partly),
2 (largely) or 3 (unknown); a box counts as occluded when it is 1 or more. KITTI images differ
by a few pixels between drives, so each image's size comes from its own header.
"""

from __future__ import annotations

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
from services.common.datasets.taxonomy import Taxonomy

IMAGE_EXTS = (".png", ".jpg", ".jpeg")


class ObjectParser:
    """Turns the KITTI object fields (shared by 2D object and tracking labels) into a Box or a skip."""

    def __init__(self, source: str, taxonomy: Taxonomy, report: ReadReport) -> None:
        self.source, self.taxonomy, self.report = source, taxonomy, report

    def parse(self, fields: list[str], file: str, lineno: int, track_id: int | None = None) -> Box | None:
        label = fields[0]
        try:  # every line is validated, also those skipped below: a broken file should not pass silently
            truncated = float(fields[1])
            occluded = int(fields[2])
            x1, y1, x2, y2 = (float(v) for v in fields[4:8])
            for v in fields[8:15]:
                float(v)
        except ValueError as e:
            raise DatasetFormatError(file, lineno, f"not a number in {' '.join(fields)!r}") from e
        if label == "DontCare":
            self.report.skip("dontcare")
            return None
        cls = self.taxonomy.class_index(self.source, label)
        if cls is None:
            self.report.skip(f"class_not_in_taxonomy:{label}")
            return None
        if occluded not in (0, 1, 2, 3):
            raise DatasetFormatError(file, lineno, f"occluded must be 0..3, got {occluded}")
        if x2 <= x1 or y2 <= y1:
            self.report.skip("degenerate_box")
            return None
        if y2 - y1 < self.taxonomy.min_box_height:
            self.report.skip("box_too_small")
            return None
        return Box(cls, x1, y1, x2, y2, occluded=occluded >= 1, truncated=truncated, track_id=track_id)


def _find_split_dir(files: DataRoot) -> Path:
    for cand in (files.folder / "training", files.folder):
        if files.is_dir(cand / "label_2"):
            return cand
    raise ValueError("no KITTI 'training/label_2' (or 'label_2') folder; point at the KITTI root")


def _find_image(files: DataRoot, image_dir: Path, stem: str) -> Path | None:
    """The image of ``stem``; one that leads outside the dataset folder raises PathNotAllowed."""
    for ext in IMAGE_EXTS:
        p = image_dir / f"{stem}{ext}"
        if files.is_file(p):
            return files.path(p)
    return None


def read_lines(files: DataRoot, label_file: Path) -> list[str]:
    """A label file's lines, read through the dataset folder (a link leading outside is refused)."""
    return files.read_text(label_file).splitlines()


def iter_records(
    root: Path, taxonomy: Taxonomy | None = None, report: ReadReport | None = None
) -> Iterator[ImageRecord]:
    """One record per label file whose image exists (others are skipped as ``missing_image``)."""
    files = DataRoot.of(root)
    taxonomy = taxonomy or Taxonomy()
    report = report if report is not None else ReadReport()
    split = _find_split_dir(files)
    image_dir = split / "image_2"
    parser = ObjectParser("kitti", taxonomy, report)
    for label_file in files.glob(split / "label_2", "*.txt"):
        stem = label_file.stem
        name = files.name(label_file)
        try:
            image = _find_image(files, image_dir, stem)
            if image is None:
                report.skip("missing_image")
                continue
            boxes = []
            for lineno, line in enumerate(read_lines(files, label_file), start=1):
                fields = line.split()
                if not fields:
                    continue
                if len(fields) not in (15, 16):  # 16 = with a detection score
                    raise DatasetFormatError(name, lineno, f"expected 15 fields, got {len(fields)}")
                box = parser.parse(fields, name, lineno)
                if box is not None:
                    boxes.append(box)
            width, height = image_size(image, files.name(image))
        except READ_PROBLEMS as exc:
            report.file_problem(exc)
            continue
        record = ImageRecord(
            image_id=stem,
            source="kitti",
            image_path=files.name(image),
            width=width,
            height=height,
            boxes=boxes,
            frame=int(stem) if stem.isdigit() else None,
        )
        report.kept(record)
        yield record
