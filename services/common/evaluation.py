"""What an evaluation request may ask for, checked by the API and used by the evaluator: slice kinds and
occlusion bucket rules. Pure Python (and numpy integers): no evaluator code."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

DEFAULT_BUCKETS: tuple[int | None, ...] = (5, 10, None)
SLICE_KINDS = ("occlusion", "weather", "timeofday", "scene", "visibility")
SliceKind = Literal["occlusion", "weather", "timeofday", "scene", "visibility"]
# Visibility slices: bin edges in metres over each image's `visibility_m` (fog density): <100 m dense,
# 100-200 m thick, 200-500 m moderate, 500-1000 m light fog, >=1000 m no fog by the meteorological definition.
VISIBILITY_BINS_M = (100, 200, 500, 1000)
ALL = "all"
# The settings two evaluations must share for a paired comparison (the same images in the same slices).
PAIRED_SETTINGS = ("buckets", "slice_by", "classes", "split")


def validate_buckets(buckets: Sequence[int | None]) -> list[int | None]:
    """Check occlusion buckets: ints >= 0, strictly increasing, None (= all images) only last."""
    out = list(buckets)
    if not out:
        raise ValueError("occlusion buckets are empty: give upper bounds such as [5, 10, null]")
    for i, b in enumerate(out):
        if b is None:
            if i != len(out) - 1:
                raise ValueError(f"occlusion bucket None (all images) must be the last bucket, got {out}")
            continue
        if isinstance(b, bool) or not isinstance(b, int | np.integer):
            raise ValueError(f"occlusion bucket {b!r} is not an integer count of occluded vehicles")
        if b < 0:
            raise ValueError(
                f"occlusion bucket {b} is negative; bounds are counts of occluded vehicles (>= 0)"
            )
        if i and out[i - 1] is not None and b <= out[i - 1]:
            raise ValueError(f"occlusion buckets must be strictly increasing, got {out}")
    return [None if b is None else int(b) for b in out]


def visibility_bin(visibility_m: float | None) -> str:
    """The visibility slice an image with this `visibility_m` falls in (`unknown` without one)."""
    if visibility_m is None or not np.isfinite(visibility_m):
        return "unknown"
    edges = VISIBILITY_BINS_M
    if visibility_m < edges[0]:
        return f"<{edges[0]}m"
    for lo, hi in zip(edges, edges[1:], strict=False):
        if visibility_m < hi:
            return f"{lo}-{hi}m"
    return f">={edges[-1]}m"


def visibility_bins() -> list[str]:
    """Every visibility bin name, in order of increasing visibility, then `unknown`."""
    edges = VISIBILITY_BINS_M
    return [
        f"<{edges[0]}m",
        *(f"{lo}-{hi}m" for lo, hi in zip(edges, edges[1:], strict=False)),
        f">={edges[-1]}m",
        "unknown",
    ]


def bucket_name(bound: int | None) -> str:
    return ALL if bound is None else f"occluded<={bound}"
