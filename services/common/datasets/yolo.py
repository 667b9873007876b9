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
from typing import Any, Literal

from services.common.core.paths import DataRoot, PathNotAllowed
from services.common.datasets.canonical import (
    READ_PROBLEMS,
    Box,
    DatasetFormatError,
    ImageRecord,
    ReadReport,
    from_yolo_lines,
    image_size,
)
from services.common.datasets.taxonomy import Taxonomy

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
SPLITS = ("train", "val", "test")
Split = Literal[SPLITS]  # type: ignore[valid-type]
MAX_YAML_CHARS = 1_000_000


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


def load_data_yaml(path: Path, name: str | None = None, text: str | None = None) -> dict[str, Any]:
    import yaml  # lazy: only YOLO folders need it

    name = name or str(path)
    text = text if text is not None else path.read_text(encoding="utf-8")
    if len(text) > MAX_YAML_CHARS:
        raise DatasetFormatError(name, None, f"{len(text)} characters; a data.yaml is far smaller")
    try:
        # Aliases can expand a few hundred bytes into gigabytes (a "billion laughs"); no data.yaml needs them.
        if any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=yaml.SafeLoader)):
            raise DatasetFormatError(
                name, None, "YAML aliases (*name) are not accepted; write the values out"
            )
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise DatasetFormatError(name, None, f"invalid YAML ({e})") from e
    if not isinstance(data, dict):
        raise DatasetFormatError(name, None, "data.yaml must be a mapping")
    return data


def _split_images(
    files: DataRoot, base: Path, entry: Any, where: str, report: ReadReport
) -> list[Path | PathNotAllowed]:
    """The images a split names: folders are searched, list files read line by line.

    Each image is a path inside the dataset folder, or the refusal of an entry that leads outside
    (reported when the split is read, so the message names the list file and line, never the target).
    """
    entries = entry if isinstance(entry, list) else [entry]
    images: list[Path | PathNotAllowed] = []
    for n, e in enumerate(entries):
        # The message names the entry by its place in data.yaml, never by the path it gives (which may
        # lead outside the dataset folder).
        p = files.path(base / str(e), where=f"{where}[{n}]" if len(entries) > 1 else where)
        if p.is_dir():
            images.extend(q for q in p.rglob("*") if q.suffix.lower() in IMAGE_EXTS)
        elif p.is_file() and p.suffix == ".txt":
            list_name = files.name(p)
            for lineno, line in enumerate(files.read_text(p).splitlines(), start=1):
                if line.strip():
                    try:
                        images.append(files.path(p.parent / line.strip(), where=f"{list_name}:{lineno}"))
                    except PathNotAllowed as exc:
                        images.append(exc)
        else:
            raise DatasetFormatError(
                where, None, f"split path {files.name(p)!r} is neither a folder nor a list file"
            )
    paths = sorted({i for i in images if isinstance(i, Path)})
    return [*paths, *(i for i in images if not isinstance(i, Path))]


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
    split: Split | None = None,
    data_yaml: Path | None = None,
) -> Iterator[ImageRecord]:
    """Records for one split (``train``/``val``/``test``) or, with ``split=None``, all listed splits.

    Everything opened stays inside the dataset folder: the yaml's ``path``, split folders, list-file
    entries and label files that lead outside are refused (a list entry or a linked file is skipped
    through ``report.problem``; the yaml's own paths stop the read).
    """
    files = DataRoot.of(root)
    taxonomy = taxonomy or Taxonomy()
    report = report if report is not None else ReadReport()
    yaml_file = files.path(data_yaml if data_yaml is not None else "data.yaml", where="data_yaml")
    yaml_name = files.name(yaml_file)
    if not yaml_file.is_file():
        raise ValueError("no data.yaml; pass options.reader.data_yaml or point at the YOLO dataset folder")
    data = load_data_yaml(yaml_file, yaml_name, files.read_text(yaml_file))
    names = read_names(data, Path(yaml_name))
    to_cls = [taxonomy.class_index("yolo", n) for n in names]
    base = files.path(yaml_file.parent / str(data.get("path") or "."), where=f"{yaml_name}: path")
    splits = [split] if split is not None else [s for s in SPLITS if data.get(s)]
    seen: set[Path] = set()
    for s in splits:
        if not data.get(s):
            raise ValueError(
                f"{yaml_name}: no {s!r} entry; splits listed: {[k for k in SPLITS if data.get(k)]}"
            )
        for image in _split_images(files, base, data[s], f"{yaml_name}: {s}", report):
            if isinstance(image, PathNotAllowed):
                report.problem(image, "outside_dataset_folder")
                continue
            if image in seen:
                continue
            seen.add(image)
            try:
                if not files.is_file(image):
                    report.skip("missing_image")
                    continue
                rel = files.name(image)
                width, height = image_size(files.path(image), rel)
                label_file = label_path_for(image)
                boxes: list[Box] = []
                if files.is_file(label_file):
                    raw = from_yolo_lines(
                        files.read_text(label_file).splitlines(),
                        width,
                        height,
                        num_classes=len(names),
                        file=files.name(label_file),
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
            except READ_PROBLEMS as exc:
                report.file_problem(exc)
                continue
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
