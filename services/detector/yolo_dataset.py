"""Writes the folder layout ultralytics trains from, out of canonical images and YOLO label lines.

ultralytics finds a label file by replacing ``/images/`` with ``/labels/`` in the image path, so the
layout below is a contract with it, not a choice.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import yaml

ImageSource = Path | str | bytes
Sample = tuple[ImageSource, Sequence[str] | str]

_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def _suffix_of_bytes(data: bytes) -> str:
    if data[:3] == b"\xff\xd8\xff":
        return ".jpg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return ".png"
    if data[:2] == b"BM":
        return ".bmp"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    raise ValueError("image bytes are neither JPEG, PNG, BMP nor WebP; convert the image to JPEG or PNG")


def _check_label_lines(lines: Sequence[str] | str, n_classes: int, where: str) -> list[str]:
    """Refuse labels ultralytics would silently drop, so a bad dataset fails loudly before training."""
    if isinstance(lines, str):
        lines = lines.splitlines()
    out = []
    for k, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 5:
            raise ValueError(f"{where} label line {k}: expected 'class cx cy w h', got {line!r}")
        try:
            cls = int(parts[0])
            cx, cy, w, h = (float(p) for p in parts[1:])
        except ValueError:
            raise ValueError(f"{where} label line {k}: not numbers: {line!r}") from None
        if not 0 <= cls < n_classes:
            raise ValueError(f"{where} label line {k}: class {cls} outside 0..{n_classes - 1}")
        values = (cx, cy, w, h)
        if not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in values) or w <= 0 or h <= 0:
            raise ValueError(f"{where} label line {k}: coordinates must be normalised to (0, 1]: {line!r}")
        out.append(f"{cls} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
    return out


def _place_image(source: ImageSource, stem: str, folder: Path, where: str) -> None:
    if isinstance(source, bytes):
        (folder / f"{stem}{_suffix_of_bytes(source)}").write_bytes(source)
        return
    src = Path(source)
    suffix = src.suffix.lower()
    if suffix not in _IMAGE_SUFFIXES:
        raise ValueError(f"{where}: {src.name} is not an image file ({', '.join(sorted(_IMAGE_SUFFIXES))})")
    if not src.is_file():
        raise ValueError(f"{where}: image {src} does not exist")
    target = folder / f"{stem}{suffix}"
    try:
        os.link(src, target)  # no copy when on the same filesystem
    except OSError:
        shutil.copyfile(src, target)


def _write_split(root: Path, split: str, samples: Sequence[Sample], n_classes: int) -> None:
    images, labels = root / "images" / split, root / "labels" / split
    for folder in (images, labels):
        if folder.exists():
            shutil.rmtree(folder)  # a rewrite must not keep stale files of an earlier attempt
        folder.mkdir(parents=True)
    for i, (source, lines) in enumerate(samples):
        where = f"{split} sample {i}"
        hint = "" if isinstance(source, bytes) else "_" + Path(source).stem[:60]
        stem = f"{i:06d}{hint}"
        checked = _check_label_lines(lines, n_classes, where)
        _place_image(source, stem, images, where)
        (labels / f"{stem}.txt").write_text("".join(f"{line}\n" for line in checked))


def write_yolo_dataset(
    root: Path, class_names: list[str], train: Sequence[Sample], val: Sequence[Sample]
) -> Path:
    """Write images/{train,val} and labels/{train,val} under ``root`` and return its ``data.yaml``.

    Each sample is (image path or encoded image bytes, YOLO label lines ``class cx cy w h``).
    An image with no label lines is kept as a background image.
    """
    if not class_names:
        raise ValueError("a detector needs at least one class name")
    if len(set(class_names)) != len(class_names):
        raise ValueError(f"class names must be unique, got {class_names}")
    if not train:
        raise ValueError("the training split is empty; give at least one training image")
    if not val:
        raise ValueError("the validation split is empty; give at least one validation image")
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    _write_split(root, "train", train, len(class_names))
    _write_split(root, "val", val, len(class_names))
    data_yaml = root / "data.yaml"
    spec = {"path": str(root), "train": "images/train", "val": "images/val", "names": list(class_names)}
    data_yaml.write_text(yaml.safe_dump(spec, sort_keys=False))
    return data_yaml
