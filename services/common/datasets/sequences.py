"""Sequences: the frames of one recording, which a dataset translation renders alike (e.g. one fog airlight).

A sequence is a Virtual KITTI 2 scene × variation × camera or a KITTI tracking sequence × camera: records
with a scene and a frame index. Images without that notion (KITTI object detection, BDD100K, YOLO folders)
form one sequence per source.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from services.common.datasets.canonical import ImageRecord

T = TypeVar("T")


def sequence_key(record: ImageRecord) -> str:
    """The sequence a record belongs to, as a readable key ('vkitti2/Scene01/fog/Camera_0', 'kitti')."""
    if record.scene is not None and record.frame is not None:
        parts = (record.source, record.scene, record.variation, record.camera)
        return "/".join(p for p in parts if p)
    return record.source


def by_sequence(items: Iterable[T], record_of: Callable[[T], ImageRecord]) -> dict[str, list[T]]:
    """Items grouped by sequence (groups by key), each group in frame order, then by image id."""

    def order(item: T) -> tuple[int, str]:
        record = record_of(item)
        return (record.frame if record.frame is not None else -1, record.image_id)

    groups: dict[str, list[T]] = {}
    for item in items:
        groups.setdefault(sequence_key(record_of(item)), []).append(item)
    return {key: sorted(groups[key], key=order) for key in sorted(groups)}
