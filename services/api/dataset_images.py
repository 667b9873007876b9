"""One dataset image for the routes that show it: its index row (or its source's, through the lineage), its
labels as JSON, and its thumbnail cached in the store."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

from fastapi import HTTPException
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.api.lookups import get_or_404
from services.common.core import keys
from services.common.core.db.models import Dataset, DatasetImage
from services.common.core.images import ImageError, thumbnail_jpeg
from services.common.core.storage import ObjectNotFound, ObjectStore
from services.common.datasets import store as ds

THUMBNAIL_SIZES = (64, 128, 256, 512)
_METADATA = (
    "split",
    "source",
    "width",
    "height",
    "scene",
    "variation",
    "camera",
    "frame",
    "weather",
    "timeofday",
    "occluded_vehicles",
)


def image_row(
    session: Session, dataset_id: str, image_id: str, source: bool = False, field: str = ""
) -> tuple[Dataset, DatasetImage]:
    """The dataset and the image's index row; with `source`, the image of the parent dataset it was
    translated from (translations keep image ids). `field`: the request field naming the dataset."""
    dataset = get_or_404(session, Dataset, dataset_id, "dataset", field)
    if source:
        if dataset.parent_id is None:
            raise HTTPException(
                404,
                f"dataset {dataset_id} was not translated from another dataset, so its images have no "
                "source; use …/images/{image_id} instead",
            )
        dataset = get_or_404(
            session, Dataset, dataset.parent_id, "source dataset", hint=" (it was deleted since)"
        )
    row = session.scalars(
        select(DatasetImage).where(DatasetImage.dataset_id == dataset.id, DatasetImage.image_id == image_id)
    ).first()
    if row is None:
        raise HTTPException(
            404, f"image_id: no image {image_id!r} in dataset {dataset.id}; list them at GET …/images"
        )
    return dataset, row


def pixels_key(dataset: Dataset, row: DatasetImage) -> str:
    if row.image_key is None:
        raise HTTPException(
            404,
            f"image {row.image_id!r} of dataset {dataset.id} is label-only (its file was not found at "
            "ingest); its labels are at …/labels",
        )
    return row.image_key


def thumbnail(store: ObjectStore, dataset: Dataset, row: DatasetImage, size: int, max_pixels: int) -> bytes:
    """The cached thumbnail, made and stored on first request."""
    if size not in THUMBNAIL_SIZES:
        raise HTTPException(
            422, f"size: {size} is not offered; use one of {', '.join(map(str, THUMBNAIL_SIZES))}"
        )
    source_key = pixels_key(dataset, row)
    key = keys.dataset_thumbnail(dataset.id, row.image_id, size)
    try:
        return store.get_bytes(key)
    except ObjectNotFound:
        pass
    try:
        data = thumbnail_jpeg(store.get_bytes(source_key), size, max_pixels)
    except ImageError as exc:
        raise HTTPException(
            409, f"image {row.image_id!r} of dataset {dataset.id} cannot be decoded: {exc}"
        ) from exc
    store.put_bytes(key, data, "image/jpeg")
    return data


class _Records:
    """Each dataset's records file as raw lines by image id, for the few datasets browsed last (datasets
    never change once made, so nothing goes stale; a deleted one is refused before its lookup)."""

    def __init__(self, keep: int = 4) -> None:
        self.keep = keep
        self.lines: OrderedDict[str, dict[str, str]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, store: ObjectStore, dataset_id: str, image_id: str) -> dict[str, Any] | None:
        with self.lock:
            lines = self.lines.get(dataset_id)
            if lines is not None:
                self.lines.move_to_end(dataset_id)
        if lines is None:
            lines = {}
            for line in store.get_bytes(keys.dataset_file(dataset_id, ds.RECORDS)).decode().splitlines():
                if line.strip():
                    lines[json.loads(line)["image_id"]] = line
            with self.lock:
                self.lines[dataset_id] = lines
                while len(self.lines) > self.keep:
                    self.lines.popitem(last=False)
        line = lines.get(image_id)
        return json.loads(line) if line is not None else None


RECORDS = _Records()


def labels(store: ObjectStore, dataset: Dataset, row: DatasetImage) -> dict[str, Any]:
    """Boxes in stored-pixel coordinates with class names and attributes, plus the image's metadata."""
    record = RECORDS.get(store, dataset.id, row.image_id) or {"boxes": []}
    names = list(dataset.class_names)
    audit = (row.meta or {}).get("label_audit")
    boxes = []
    for cls, x1, y1, x2, y2, occluded, truncated, track_id in record["boxes"]:
        boxes.append(
            {
                "class_id": cls,
                "class_name": names[cls] if 0 <= cls < len(names) else str(cls),
                "x1": x1,
                "y1": y1,
                "x2": x2,
                "y2": y2,
                "occluded": bool(occluded),
                "truncated": truncated,
                "track_id": track_id,
            }
        )
    if audit:  # the label-safety audit's view of each box (a translated dataset)
        for i, box in enumerate(boxes):
            box["fidelity"] = audit["box_fidelity"][i] if i < len(audit["box_fidelity"]) else None
            box["erased"] = i in audit["erased"]
    return {
        "dataset_id": dataset.id,
        "image_id": row.image_id,
        "has_pixels": row.image_key is not None,
        "class_names": names,
        "metadata": {
            **{name: getattr(row, name) for name in _METADATA},
            "visibility_m": record.get("visibility_m"),
        },
        "boxes": boxes,
        "label_audit": ({k: audit[k] for k in ("fidelity", "invented", "invented_count")} if audit else None),
    }
