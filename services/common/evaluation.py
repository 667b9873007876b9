"""What an evaluation request may ask for, checked by the API and used by the evaluator: slice kinds and
occlusion bucket rules. Pure Python (and numpy integers): no evaluator code."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

DEFAULT_BUCKETS: tuple[int | None, ...] = (5, 10, None)
SLICE_KINDS = ("occlusion", "weather", "timeofday", "scene")
SliceKind = Literal["occlusion", "weather", "timeofday", "scene"]
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


def bucket_name(bound: int | None) -> str:
    return ALL if bound is None else f"occluded<={bound}"
