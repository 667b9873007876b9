"""One entry point over all readers, so the ingest job can take the format as data."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from services.common.datasets import bdd100k, kitti, kitti_tracking, vkitti2, yolo
from services.common.datasets.canonical import ImageRecord, ReadReport
from services.common.datasets.taxonomy import Taxonomy

READERS: dict[str, Callable[..., Iterator[ImageRecord]]] = {
    "kitti": kitti.iter_records,
    "kitti_tracking": kitti_tracking.iter_records,
    "vkitti2": vkitti2.iter_records,
    "bdd100k": bdd100k.iter_records,
    "yolo": yolo.iter_records,
}


def iter_dataset(
    fmt: str,
    root: Path,
    taxonomy: Taxonomy | None = None,
    report: ReadReport | None = None,
    **options: Any,
) -> Iterator[ImageRecord]:
    """Records of a dataset in format ``fmt``; ``options`` are that reader's keyword options."""
    if fmt not in READERS:
        raise ValueError(f"unknown dataset format {fmt!r}; known formats: {', '.join(READERS)}")
    try:
        return READERS[fmt](Path(root), taxonomy, report, **options)
    except TypeError as e:  # an option the reader does not take
        raise ValueError(f"bad options for format {fmt!r}: {e}") from e
