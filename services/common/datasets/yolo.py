"""YOLO folders (``data.yaml`` + ``images/`` + ``labels/``) into canonical records.

Follows the ultralytics conventions: ``names`` is a list or an ``{index: name}`` dict; ``train`` /
``val`` / ``test`` are folders of images, text files listing images, or lists of either, relative
to ``path`` (itself relative to the yaml's folder); each image's label file is found by replacing
the last ``images`` path component with ``labels`` and the suffix with ``.txt``. An image without
a label file is a background image (no boxes; ``notes['no_label_file']``). Sizes come from headers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from services.common.datasets.canonical import (
    Box,
    DatasetFormatError,
    ImageRecord,
    ReadReport,
    from_yolo_lines,
    image_size,
    relpath,
)
from services.common.datasets.taxonomy import Taxonomy

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
SPLITS = ("train", "val", "test")


def read_names(data: dict[str, Any], file: Path) -> list[str]:
    """Class names by index from a data.yaml mapping (list or dict form)."""
    names = data.get("names")
    if isinstance(names, list):
        return [str(n) for n in names]
    if isinstance(names, dict):
        try:
            by_index = {int(k): str(v) for k, v in names.items()}
        except ValueError as e:
            raise DatasetFormatError(file, None, "names dict keys must be class indices") from e
        if sorted(by_index) != list(range(len(by_index))):
            raise DatasetFormatError(file, None, f"names dict indices must be 0..n-1, got {sorted(by_index)}")
        return [by_index[i] for i in range(len(by_index))]
    raise DatasetFormatError(file, None, "data.yaml needs 'names' as a list or an {index: name} mapping")


def load_data_yaml(path: Path) -> dict[str, Any]:
    import yaml  # lazy: only YOLO folders need it

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise DatasetFormatError(path, None, f"invalid YAML ({e})") from e
    if not isinstance(data, dict):
        raise DatasetFormatError(path, None, "data.yaml must be a mapping")
    return data


def _split_images(base: Path, entry: Any, yaml_file: Path) -> list[Path]:
    entries = entry if isinstance(entry, list) else [entry]
    images: list[Path] = []
    for e in entries:
        p = base / str(e)
        if p.is_dir():
            images.extend(q for q in p.rglob("*") if q.suffix.lower() in IMAGE_EXTS)
        elif p.is_file() and p.suffix == ".txt":
            for line in p.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    images.append(
                        (p.parent / line.strip()).resolve()
                        if not Path(line.strip()).is_absolute()
                        else Path(line.strip())
                    )
        else:
            raise DatasetFormatError(
                yaml_file, None, f"split path {str(e)!r} ({p}) is neither a folder nor a list file"
            )
    return sorted(set(images))


def label_path_for(image: Path) -> Path:
    """ultralytics rule: last ``images`` component → ``labels``, suffix → ``.txt``."""
    parts = list(image.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def iter_records(
    root: Path,
    taxonomy: Taxonomy | None = None,
    report: ReadReport | None = None,
    *,
    split: str | None = None,
    data_yaml: Path | None = None,
) -> Iterator[ImageRecord]:
    """Records for one split (``train``/``val``/``test``) or, with ``split=None``, all listed splits."""
    root = Path(root).resolve()
    taxonomy = taxonomy or Taxonomy()
    report = report if report is not None else ReadReport()
    yaml_file = Path(data_yaml) if data_yaml is not None else root / "data.yaml"
    if not yaml_file.is_file():
        raise ValueError(f"{root}: no data.yaml; pass data_yaml= or point at the YOLO dataset folder")
    data = load_data_yaml(yaml_file)
    names = read_names(data, yaml_file)
    to_cls = [taxonomy.class_index("yolo", n) for n in names]
    base = (yaml_file.parent / str(data.get("path") or ".")).resolve()
    splits = [split] if split is not None else [s for s in SPLITS if data.get(s)]
    seen: set[Path] = set()
    for s in splits:
        if not data.get(s):
            raise ValueError(
                f"{yaml_file}: no {s!r} entry; splits listed: {[k for k in SPLITS if data.get(k)]}"
            )
        for image in _split_images(base, data[s], yaml_file):
            if image in seen:
                continue
            seen.add(image)
            if not image.is_file():
                report.skip("missing_image")
                continue
            width, height = image_size(image)
            label_file = label_path_for(image)
            boxes: list[Box] = []
            if label_file.is_file():
                raw = from_yolo_lines(
                    label_file.read_text(encoding="utf-8").splitlines(),
                    width,
                    height,
                    num_classes=len(names),
                    file=label_file,
                )
                for b in raw:
                    cls = to_cls[b.cls]
                    if cls is None:
                        report.skip(f"class_not_in_taxonomy:{names[b.cls]}")
                    elif b.height < taxonomy.min_box_height:
                        report.skip("box_too_small")
                    else:
                        boxes.append(Box(cls, b.x1, b.y1, b.x2, b.y2))
            else:
                report.notes["no_label_file"] += 1
            rel = relpath(image, root) if image.is_relative_to(root) else str(image)
            record = ImageRecord(
                image_id=str(Path(rel).with_suffix("")),
                source="yolo",
                image_path=rel,
                width=width,
                height=height,
                boxes=boxes,
                frame=None,
            )
            report.kept(record)
            yield record
