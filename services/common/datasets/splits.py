"""Train/val splits by group (scene, sequence), never by random frame.

Neighbouring frames of a driving sequence are near duplicates; splitting frames at random leaks
them across the split and inflates validation scores.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from services.common.datasets.canonical import ImageRecord
from services.common.datasets.compositions import scene_group


def _key_fn(key: str | Callable[[ImageRecord], str | None]) -> Callable[[ImageRecord], str | None]:
    if callable(key):
        return key
    if key not in ImageRecord.__dataclass_fields__:
        raise ValueError(f"unknown split key {key!r}; use a record field such as 'scene' or a function")
    return lambda r: getattr(r, key)


def split_by_group(
    records: Iterable[ImageRecord],
    key: str | Callable[[ImageRecord], str | None] = "scene",
    val_fraction: float = 0.2,
    seed: int = 0,
) -> tuple[list[str], list[str]]:
    """(train image ids, val image ids), each sorted; whole groups go to one side.

    Groups are shuffled with ``seed`` and moved to val until val holds at least ``val_fraction``
    of the images; at least one group always stays in train. Same records + seed → same split.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    get = _key_fn(key)
    groups: dict[str, list[str]] = defaultdict(list)
    seen: set[str] = set()
    for r in records:
        g = get(r)
        if g is None:
            raise ValueError(f"{r.image_id}: no split group ({key!r} is None); choose a key every record has")
        if r.image_id in seen:
            raise ValueError(f"image id {r.image_id!r} appears twice; ids must be unique to split")
        seen.add(r.image_id)
        groups[str(g)].append(r.image_id)
    if val_fraction > 0 and len(groups) < 2:
        raise ValueError(f"need at least 2 groups to split by {key!r}, found {len(groups)}")
    order = sorted(groups)
    random.Random(seed).shuffle(order)
    total = len(seen)
    target = val_fraction * total
    val_groups: list[str] = []
    val_count = 0
    for g in order[:-1]:  # the last group always stays in train
        if val_count >= target or val_fraction == 0:
            break
        val_groups.append(g)
        val_count += len(groups[g])
    val_set = set(val_groups)
    train = sorted(i for g in order if g not in val_set for i in groups[g])
    val = sorted(i for g in val_groups for i in groups[g])
    return train, val


# Video-like sources: frames of one sequence stay in one split.
SEQUENCE_FORMATS = ("vkitti2", "kitti_tracking")


def assign_splits(fmt: str, records: list[ImageRecord], split_options: dict[str, Any]) -> dict[str, str]:
    """Validation split by scene/sequence for video-like sources, by image otherwise."""
    val_fraction = float(split_options.get("val_fraction", 0.2))
    seed = int(split_options.get("seed", 0))
    key = scene_group if fmt in SEQUENCE_FORMATS else (lambda r: r.image_id)
    if len({key(r) for r in records}) < 2 or val_fraction == 0:
        # One scene cannot be split without leaking frames: everything trains; validate on another dataset.
        return {r.image_id: "train" for r in records}
    train, val = split_by_group(records, key=key, val_fraction=val_fraction, seed=seed)
    return {**{i: "train" for i in train}, **{i: "val" for i in val}}
