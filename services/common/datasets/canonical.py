"""The canonical per-image record every reader produces, and its YOLO label round trip.

Readers differ in layout and quirks; everything downstream (stats, filters, recipes, the YOLO
export, the database rows) sees only ``ImageRecord`` and ``Box``.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.common.core.paths import PathNotAllowed, UnreadableFile

SOURCES = ("kitti", "kitti_tracking", "vkitti2", "bdd100k", "yolo")

# How ImageRecord.size_source says where width/height came from.
SIZE_FROM_HEADER = "header"  # read from the image file's header
SIZE_FROM_DEFAULT = "default"  # image file absent: the format's documented default size was used


class DatasetFormatError(ValueError):
    """A line or file that cannot be skipped safely; the message names the file and line number."""

    def __init__(self, file: str | Path, line: int | None, message: str) -> None:
        self.file = str(file)
        self.line = line
        where = f"{self.file}:{line}" if line is not None else self.file
        super().__init__(f"{where}: {message}")


# What a reader skips one file for (or raises without a problem handler): malformed or unreadable.
FILE_PROBLEMS = (DatasetFormatError, UnreadableFile)
# What a reader skips one file for: a bad file, or a path leading out of the dataset folder.
READ_PROBLEMS = (PathNotAllowed, *FILE_PROBLEMS)


@dataclass(frozen=True, slots=True)
class Box:
    """One object box in pixel coordinates (x2/y2 exclusive, as continuous coordinates)."""

    cls: int
    x1: float
    y1: float
    x2: float
    y2: float
    occluded: bool = False
    truncated: float | bool = False
    track_id: int | None = None

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1


@dataclass(slots=True)
class ImageRecord:
    """One image and its boxes after taxonomy mapping and filtering.

    ``occluded_vehicles`` is derived from ``boxes`` (every taxonomy class is a vehicle class), so it
    can never disagree with them; ``dataclasses.replace`` recomputes it.
    """

    image_id: str
    source: str
    image_path: str | None
    width: int
    height: int
    boxes: list[Box] = field(default_factory=list)
    scene: str | None = None
    variation: str | None = None
    camera: str | None = None
    frame: int | None = None
    weather: str | None = None
    timeofday: str | None = None
    depth_path: str | None = None
    visibility_m: float | None = None  # the fog visibility an image was rendered or recorded with
    size_source: str = SIZE_FROM_HEADER
    occluded_vehicles: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.occluded_vehicles = sum(1 for b in self.boxes if b.occluded)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (boxes as lists) for the per-image metadata file."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "boxes"}
        d["boxes"] = [
            [b.cls, b.x1, b.y1, b.x2, b.y2, b.occluded, b.truncated, b.track_id] for b in self.boxes
        ]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ImageRecord:
        kwargs = {k: v for k, v in d.items() if k not in ("boxes", "occluded_vehicles")}
        kwargs["boxes"] = [Box(*b) for b in d.get("boxes", [])]
        return cls(**kwargs)


@dataclass
class ReadReport:
    """What a reader kept and what it skipped, per reason.

    ``skipped`` counts boxes for box-level reasons (``dontcare``, ``no_box2d``,
    ``class_not_in_taxonomy:<label>``, ``box_too_small``, ``degenerate_box``,
    ``occupancy_below_min``, ``truncation_above_max``, ``track_id_not_in_info``) and images for
    image-level reasons (``missing_image``). A box counts under the first reason that applies, in
    the order listed (label kind, class, geometry, vkitti2 ratios, height). ``notes`` counts facts
    that are not skips (``size_assumed_1280x720``, ``frame_without_labels``, ``rgb_missing`` …).

    A file the reader cannot use (malformed labels, an unreadable image header, a link leading out of
    the dataset folder) goes to ``problem``: without ``on_problem`` it is raised, as a library caller
    expects; with it (the ingest job warns) the file is skipped under ``skipped[reason]`` and reading
    goes on.
    """

    images: int = 0
    boxes: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)
    on_problem: Callable[[str], None] | None = field(default=None, repr=False, compare=False)

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] += n

    def problem(self, exc: Exception, reason: str) -> None:
        """A file skipped because of ``exc`` (its message names the file); raised if nobody handles it."""
        if self.on_problem is None:
            raise exc
        self.skip(reason)
        self.on_problem(f"skipped {exc}")

    def file_problem(self, exc: Exception) -> None:
        """`problem` with the reason its kind implies (one of READ_PROBLEMS)."""
        self.problem(exc, "outside_dataset_folder" if isinstance(exc, PathNotAllowed) else "unreadable_file")

    def kept(self, record: ImageRecord) -> None:
        self.images += 1
        self.boxes += len(record.boxes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "images": self.images,
            "boxes": self.boxes,
            "skipped": dict(sorted(self.skipped.items())),
            "notes": dict(sorted(self.notes.items())),
        }


def image_size(path: Path, name: str | None = None) -> tuple[int, int]:
    """(width, height) from the image header only; Pillow does not decode pixels for ``.size``.

    ``name`` is how errors call the file (its path inside the dataset); the default is ``path``.
    """
    from PIL import Image  # lazy: only readers that see image files need Pillow

    try:
        with Image.open(path) as im:
            return im.size
    # PIL raises these for truncated / unknown files; ImportError when a process-wide Image.open patch
    # (ultralytics tries pi_heif) falls back to a plugin that is not installed.
    except (OSError, SyntaxError, ValueError, ImportError) as e:
        reason = str(e).replace(str(path), name or str(path))
        raise DatasetFormatError(name or path, None, f"cannot read the image header ({reason})") from e


def _fmt(v: float) -> str:
    return f"{v:.6f}"


def yolo_box(
    x1: float, y1: float, x2: float, y2: float, width: float, height: float
) -> tuple[float, float, float, float]:
    """Pixel corners to YOLO's normalised (cx, cy, w, h), the box clipped to the image first."""
    x1, x2 = min(max(x1, 0.0), width), min(max(x2, 0.0), width)
    y1, y2 = min(max(y1, 0.0), height), min(max(y2, 0.0), height)
    return (x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height


def pixel_box(
    cx: float, cy: float, w: float, h: float, width: float, height: float
) -> tuple[float, float, float, float]:
    """YOLO's normalised (cx, cy, w, h) to pixel corners (x1, y1, x2, y2)."""
    return (cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height


def to_yolo_lines(record: ImageRecord, class_names: Sequence[str]) -> list[str]:
    """``cls cx cy w h`` lines, normalised by the record's size, boxes clipped to the image.

    Boxes that have no area left after clipping are dropped (YOLO cannot represent them).
    ``class_names`` is the taxonomy the record was read with; a box outside it is a bug upstream.
    """
    w, h = float(record.width), float(record.height)
    if w <= 0 or h <= 0:
        raise ValueError(f"{record.image_id}: image size {record.width}x{record.height} is not positive")
    lines = []
    for b in record.boxes:
        if not 0 <= b.cls < len(class_names):
            raise ValueError(
                f"{record.image_id}: box class index {b.cls} outside the {len(class_names)} class names "
                f"{list(class_names)}"
            )
        cx, cy, bw, bh = yolo_box(b.x1, b.y1, b.x2, b.y2, w, h)
        if bw <= 0 or bh <= 0:
            continue
        lines.append(f"{b.cls} {_fmt(cx)} {_fmt(cy)} {_fmt(bw)} {_fmt(bh)}")
    return lines


def from_yolo_lines(
    lines: Iterable[str],
    width: int,
    height: int,
    *,
    num_classes: int | None = None,
    file: str | Path = "<yolo labels>",
) -> list[Box]:
    """Boxes in pixels from normalised ``cls cx cy w h`` lines; blank lines are ignored."""
    boxes = []
    for lineno, raw in enumerate(lines, start=1):
        parts = raw.split()
        if not parts:
            continue
        if len(parts) != 5:
            raise DatasetFormatError(file, lineno, f"expected 5 fields 'cls cx cy w h', got {len(parts)}")
        try:
            cls = int(parts[0])
            cx, cy, bw, bh = (float(p) for p in parts[1:])
        except ValueError as e:
            raise DatasetFormatError(file, lineno, f"not a number: {raw.strip()!r}") from e
        if cls < 0 or (num_classes is not None and cls >= num_classes):
            raise DatasetFormatError(file, lineno, f"class index {cls} outside 0..{(num_classes or 1) - 1}")
        if bw < 0 or bh < 0:
            raise DatasetFormatError(file, lineno, "negative box width or height")
        boxes.append(Box(cls, *pixel_box(cx, cy, bw, bh, width, height)))
    return boxes


def relpath(path: Path, root: Path) -> str:
    """POSIX path of ``path`` relative to the dataset root (stable across machines)."""
    return path.relative_to(root).as_posix()
