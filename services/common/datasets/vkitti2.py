"""Virtual KITTI 2 (per scene and variation ``textgt`` + ``frames/rgb|depth``) into records.

Layout quirks handled here:

* The distributed archives unpack rgb, depth and textgt under different top-level folders
  (``vkitti_2.0.3_rgb/Scene01/clone/frames/rgb/Camera_0/rgb_00000.jpg``,
  ``vkitti_2.0.3_textgt/Scene01/clone/bbox.txt``), so ``bbox.txt`` is found by searching the root
  and the frames folders are matched by scene/variation.
* ``bbox.txt`` columns are ``frame cameraID trackID left right top bottom number_pixels
  truncation_ratio occupancy_ratio isMoving``; left/right/top/bottom are inclusive pixel indices
  (so ``x2 = right + 1``); ``isMoving`` is written ``True``/``False``; both cameras share the file.
* ``info.txt`` (``trackID label model color``) is unsorted and has gaps; track ids are per scene,
  so each box takes its class from its own scene/variation's ``info.txt``.

Weather / time of day use the BDD100K vocabulary so one filter works across sources:
``clone``, the camera-rotation variations (``15-deg-left`` …) → clear/daytime; ``fog`` → foggy;
``rain`` → rainy; ``overcast`` → overcast (all daytime); ``morning`` and ``sunset`` → clear with
time of day ``dawn/dusk`` (low sun, the closest BDD100K class).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from services.common.core.paths import DataRoot
from services.common.datasets.canonical import (
    READ_PROBLEMS,
    SIZE_FROM_DEFAULT,
    SIZE_FROM_HEADER,
    Box,
    DatasetFormatError,
    ImageRecord,
    ReadReport,
    image_size,
)
from services.common.datasets.taxonomy import Taxonomy

SCENES = ("Scene01", "Scene02", "Scene06", "Scene18", "Scene20")
VARIATIONS = (
    "clone",
    "fog",
    "morning",
    "overcast",
    "rain",
    "sunset",
    "15-deg-left",
    "15-deg-right",
    "30-deg-left",
    "30-deg-right",
)
# What the reader's options may name (the request is checked against these at submit).
Scene = Literal[SCENES]  # type: ignore[valid-type]
Variation = Literal[VARIATIONS]  # type: ignore[valid-type]
Camera = Literal["Camera_0", "Camera_1"]
WEATHER = {
    "fog": ("foggy", "daytime"),
    "rain": ("rainy", "daytime"),
    "overcast": ("overcast", "daytime"),
    "morning": ("clear", "dawn/dusk"),
    "sunset": ("clear", "dawn/dusk"),
}
DEFAULT_WEATHER = ("clear", "daytime")  # clone and the rotated-camera variations
DEFAULT_SIZE = (1242, 375)  # used only when the rgb file is absent

BBOX_COLUMNS = (
    "frame",
    "cameraID",
    "trackID",
    "left",
    "right",
    "top",
    "bottom",
    "number_pixels",
    "truncation_ratio",
    "occupancy_ratio",
    "isMoving",
)
_BOOLS = {"True": True, "False": False, "true": True, "false": False, "1": True, "0": False}


def weather_of(variation: str) -> tuple[str, str]:
    """(weather, timeofday) for a variation name, in the BDD100K vocabulary."""
    return WEATHER.get(variation, DEFAULT_WEATHER)


def _scan(root: Path) -> tuple[list[Path], dict[tuple[str, str], list[Path]]]:
    """All bbox.txt files and, per (scene, variation), the ``frames`` folders; never walks into frames."""
    bboxes: list[Path] = []
    frames: dict[tuple[str, str], list[Path]] = defaultdict(list)
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        if "bbox.txt" in filenames:
            bboxes.append(d / "bbox.txt")
        if "frames" in dirnames:
            frames[(d.parent.name, d.name)].append(d / "frames")
            dirnames.remove("frames")
        dirnames.sort()
    return sorted(bboxes), frames


def read_info(path: Path, files: DataRoot | None = None) -> dict[int, str]:
    """trackID → label from one ``info.txt`` (read through ``files`` when given: errors name it inside)."""
    labels: dict[int, str] = {}
    opener = files.open if files is not None else open
    path_name = files.name(path) if files is not None else path
    with opener(path, encoding="utf-8") as f:
        path = path_name  # type: ignore[assignment]  # errors below name the file as the dataset does
        header = f.readline().split()
        if header[:2] != ["trackID", "label"]:
            raise DatasetFormatError(path, 1, f"expected header 'trackID label model color', got {header}")
        for lineno, line in enumerate(f, start=2):
            parts = line.split()
            if not parts:
                continue
            if len(parts) < 2:
                raise DatasetFormatError(path, lineno, "expected 'trackID label model color'")
            try:
                track = int(parts[0])
            except ValueError as e:
                raise DatasetFormatError(path, lineno, f"trackID {parts[0]!r} is not an integer") from e
            if track in labels:
                raise DatasetFormatError(path, lineno, f"trackID {track} listed twice")
            labels[track] = parts[1]
    return labels


def _read_bbox(
    files: DataRoot, path: Path, info: dict[int, str], taxonomy: Taxonomy, report: ReadReport
) -> dict[tuple[int, int], list[Box]]:
    """(camera, frame) → boxes kept, with every skip counted."""
    out: dict[tuple[int, int], list[Box]] = defaultdict(list)
    with files.open(path, encoding="utf-8") as f:
        path = files.name(path)  # type: ignore[assignment]  # errors below name the file inside the dataset
        header = f.readline().split()
        missing = [c for c in BBOX_COLUMNS if c not in header]
        if missing:
            raise DatasetFormatError(path, 1, f"header lacks columns {missing}")
        col = {name: header.index(name) for name in BBOX_COLUMNS}
        n = len(header)
        for lineno, line in enumerate(f, start=2):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != n:
                raise DatasetFormatError(path, lineno, f"expected {n} fields, got {len(parts)}")
            try:
                frame = int(parts[col["frame"]])
                camera = int(parts[col["cameraID"]])
                track = int(parts[col["trackID"]])
                left, right = float(parts[col["left"]]), float(parts[col["right"]])
                top, bottom = float(parts[col["top"]]), float(parts[col["bottom"]])
                truncation = float(parts[col["truncation_ratio"]])
                occupancy = float(parts[col["occupancy_ratio"]])
            except ValueError as e:
                raise DatasetFormatError(path, lineno, f"not a number in {line.strip()!r}") from e
            if parts[col["isMoving"]] not in _BOOLS:
                raise DatasetFormatError(
                    path, lineno, f"isMoving must be True/False, got {parts[col['isMoving']]!r}"
                )
            out.setdefault((camera, frame), [])
            label = info.get(track)
            if label is None:
                report.skip("track_id_not_in_info")
                continue
            cls = taxonomy.class_index("vkitti2", label)
            if cls is None:
                report.skip(f"class_not_in_taxonomy:{label}")
                continue
            x1, y1, x2, y2 = left, top, right + 1.0, bottom + 1.0
            if x2 <= x1 or y2 <= y1:
                report.skip("degenerate_box")
                continue
            if occupancy < taxonomy.min_occupancy:
                report.skip("occupancy_below_min")
                continue
            if truncation > taxonomy.max_truncation:
                report.skip("truncation_above_max")
                continue
            if y2 - y1 < taxonomy.min_box_height:
                report.skip("box_too_small")
                continue
            out[(camera, frame)].append(
                Box(
                    cls,
                    x1,
                    y1,
                    x2,
                    y2,
                    occluded=occupancy < taxonomy.occlusion_occupancy_below,
                    truncated=truncation,
                    track_id=track,
                )
            )
    return out


def _frame_files(
    root: DataRoot, frames_dirs: list[Path], kind: str, camera: str, prefix: str
) -> dict[int, Path]:
    """Frame index → file; a frames folder linked outside the dataset folder is not listed."""
    files: dict[int, Path] = {}
    for fd in frames_dirs:
        d = fd / kind / camera
        if root.contains(d) and d.is_dir():
            for p in d.iterdir():
                stem = p.stem
                if stem.startswith(prefix) and stem[len(prefix) :].isdigit():
                    files[int(stem[len(prefix) :])] = p
    return files


def iter_records(
    root: Path,
    taxonomy: Taxonomy | None = None,
    report: ReadReport | None = None,
    *,
    scenes: list[Scene] | None = None,
    variations: list[Variation] | None = None,
    cameras: list[Camera] | None = None,
) -> Iterator[ImageRecord]:
    """Records per scene/variation/camera/frame: frames listed in bbox.txt or present as rgb files.

    A frame whose rgb file is absent still yields a record (``image_path=None``, default size);
    ``report.notes['rgb_missing']`` counts them.
    """
    files = DataRoot.of(root)
    taxonomy = taxonomy or Taxonomy()
    report = report if report is not None else ReadReport()
    bbox_files, frames = _scan(files.folder)
    if not bbox_files:
        raise ValueError("no Virtual KITTI 2 'bbox.txt' found; point at the folder holding the textgt")
    for bbox in bbox_files:
        variation, scene = bbox.parent.name, bbox.parent.parent.name
        if (scenes is not None and scene not in scenes) or (
            variations is not None and variation not in variations
        ):
            continue
        info_file = bbox.parent / "info.txt"
        try:
            if not files.is_file(info_file):
                raise DatasetFormatError(
                    files.name(bbox), None, "no info.txt next to this bbox.txt; the classes are unknowable"
                )
            boxes = _read_bbox(files, bbox, read_info(info_file, files), taxonomy, report)
        except READ_PROBLEMS as exc:
            report.file_problem(exc)
            continue
        weather, timeofday = weather_of(variation)
        frames_dirs = frames.get((scene, variation), [])
        rgb_cams = {
            p.name[7:] for fd in frames_dirs if files.contains(fd / "rgb") for p in fd.glob("rgb/Camera_*")
        }
        cam_ids = sorted({c for c, _ in boxes} | {int(c) for c in rgb_cams if c.isdigit()})
        for cam_id in cam_ids:
            camera = f"Camera_{cam_id}"
            if cameras is not None and camera not in cameras:
                continue
            rgb = _frame_files(files, frames_dirs, "rgb", camera, "rgb_")
            depth = _frame_files(files, frames_dirs, "depth", camera, "depth_")
            cam_frames = {f for c, f in boxes if c == cam_id} | set(rgb)
            for frame in sorted(cam_frames):
                image = rgb.get(frame)
                try:
                    if image is not None:
                        size = image_size(files.path(image), files.name(image))
                        (width, height), size_source = size, SIZE_FROM_HEADER
                    else:
                        (width, height), size_source = DEFAULT_SIZE, SIZE_FROM_DEFAULT
                        report.notes["rgb_missing"] += 1
                    depth_file = depth.get(frame)
                    depth_path = files.name(files.path(depth_file)) if depth_file is not None else None
                except READ_PROBLEMS as exc:
                    report.file_problem(exc)
                    continue
                record = ImageRecord(
                    image_id=f"{scene}/{variation}/{camera}/{frame:05d}",
                    source="vkitti2",
                    image_path=files.name(image) if image is not None else None,
                    width=width,
                    height=height,
                    boxes=boxes.get((cam_id, frame), []),
                    scene=scene,
                    variation=variation,
                    camera=camera,
                    frame=frame,
                    weather=weather,
                    timeofday=timeofday,
                    depth_path=depth_path,
                    size_source=size_source,
                )
                report.kept(record)
                yield record
