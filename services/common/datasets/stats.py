"""Dataset statistics in one streaming pass (constant memory; BDD100K has 70,000 images per file).

The occluded-vehicles histogram has exact integer bins ``"0"`` … ``"<cap-1>"`` and one overflow
bin ``"<cap>+"`` (default cap 20: BDD100K rarely has more than 20 occluded vehicles in a frame, and
a fixed set of keys makes tables comparable across datasets). All bins are present, zeros included.
Cumulative occlusion buckets (``<=5``, ``<=10``, ``all`` by default) match the evaluator's slices.
Missing weather / time of day count under ``"unknown"``. ``images`` counts every record;
``images_with_pixels`` those with an image file, ``label_only_images`` those with labels only (a
BDD100K frame whose image is not on disk): evaluation and export can use only the former.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.common.datasets.canonical import ImageRecord, ReadReport

UNKNOWN = "unknown"
DEFAULT_OCCLUSION_CAP = 20
DEFAULT_OCCLUSION_BUCKETS = (5, 10)


@dataclass
class DatasetStats:
    images: int
    boxes: int
    boxes_per_class: dict[str, int]
    images_per_source: dict[str, int]
    weather: dict[str, int]
    timeofday: dict[str, int]
    occluded_vehicles: dict[str, int]
    occlusion_buckets: dict[str, int]
    occluded_boxes: int
    images_with_pixels: int = 0
    label_only_images: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, dict) else v) for k, v in self.__dict__.items()}


def occlusion_bin(count: int, cap: int = DEFAULT_OCCLUSION_CAP) -> str:
    return str(count) if count < cap else f"{cap}+"


def compute_stats(
    records: Iterable[ImageRecord],
    class_names: Sequence[str],
    report: ReadReport | None = None,
    *,
    occlusion_cap: int = DEFAULT_OCCLUSION_CAP,
    occlusion_buckets: Sequence[int] = DEFAULT_OCCLUSION_BUCKETS,
    has_pixels: Callable[[ImageRecord], bool] | None = None,
) -> DatasetStats:
    """Counts over ``records``; pass the reader's ``report`` to include its skip reasons.

    ``has_pixels`` says whether a record's image is stored (default: it has an ``image_path``); a
    derived dataset passes its own rule, as its records may name no source file.

    The report is read after the records are consumed, so a streaming reader's report is complete.
    """
    if occlusion_cap < 1:
        raise ValueError("occlusion_cap must be >= 1")
    per_class = [0] * len(class_names)
    weather: Counter[str] = Counter()
    timeofday: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    occ_hist = [0] * (occlusion_cap + 1)
    pixels = has_pixels or (lambda r: r.image_path is not None)
    images = boxes = occluded_boxes = with_pixels = 0
    for r in records:
        images += 1
        with_pixels += bool(pixels(r))
        boxes += len(r.boxes)
        for b in r.boxes:
            per_class[b.cls] += 1
        occluded_boxes += r.occluded_vehicles
        occ_hist[min(r.occluded_vehicles, occlusion_cap)] += 1
        weather[r.weather or UNKNOWN] += 1
        timeofday[r.timeofday or UNKNOWN] += 1
        sources[r.source] += 1
    hist = {occlusion_bin(i, occlusion_cap): n for i, n in enumerate(occ_hist)}
    buckets: dict[str, int] = {}
    for upper in sorted(occlusion_buckets):
        if upper >= occlusion_cap:
            raise ValueError(f"occlusion bucket {upper} must be below occlusion_cap {occlusion_cap}")
        buckets[f"<={upper}"] = sum(occ_hist[: upper + 1])
    buckets["all"] = images
    return DatasetStats(
        images=images,
        boxes=boxes,
        boxes_per_class=dict(zip(class_names, per_class, strict=True)),
        images_per_source=dict(sorted(sources.items())),
        weather=dict(sorted(weather.items())),
        timeofday=dict(sorted(timeofday.items())),
        occluded_vehicles=hist,
        occlusion_buckets=buckets,
        occluded_boxes=occluded_boxes,
        images_with_pixels=with_pixels,
        label_only_images=images - with_pixels,
        skipped=dict(sorted(report.skipped.items())) if report is not None else {},
        notes=dict(sorted(report.notes.items())) if report is not None else {},
    )
