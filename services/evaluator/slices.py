"""Image slices an evaluation reports on: cumulative occlusion buckets and metadata values.

A slice is a set of whole images (matching never crosses images), so every slice reuses the one
matching of the evaluation and only selects the predictions and labels of its member images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from services.common.evaluation import (
    ALL,
    DEFAULT_BUCKETS,
    SLICE_KINDS,
    bucket_name,
    validate_buckets,
    visibility_bin,
    visibility_bins,
)


@dataclass(frozen=True)
class ImageMeta:
    """Per-image metadata, one entry per image of the evaluation dataset (same image order)."""

    occluded: np.ndarray  # int, vehicle boxes marked occluded in the image
    weather: np.ndarray | None = None  # str per image
    timeofday: np.ndarray | None = None
    scene: np.ndarray | None = None
    visibility_m: np.ndarray | None = None  # float per image, NaN = not recorded

    @property
    def n_images(self) -> int:
        return int(np.asarray(self.occluded).shape[0])


@dataclass(frozen=True)
class Slice:
    name: str
    images: np.ndarray  # sorted int64 indices of the member images


def occlusion_slices(occluded: np.ndarray, buckets: Sequence[int | None] = DEFAULT_BUCKETS) -> list[Slice]:
    """Cumulative buckets: ``occluded<=b`` holds every image with at most b occluded vehicles."""
    occluded = np.asarray(occluded)
    out = []
    for b in validate_buckets(buckets):
        member = np.ones(occluded.shape[0], dtype=bool) if b is None else occluded <= b
        out.append(Slice(bucket_name(b), np.flatnonzero(member)))
    return out


def value_slices(kind: str, values: np.ndarray) -> list[Slice]:
    """One slice per distinct non-empty value, named ``kind=value``, in sorted value order."""
    values = np.asarray(values, dtype=object)
    present = np.array([v is not None and str(v) != "" for v in values], dtype=bool)
    labels = np.array([str(v) for v in values], dtype=object)
    out = []
    for v in sorted(set(labels[present])):
        out.append(Slice(f"{kind}={v}", np.flatnonzero(present & (labels == v))))
    return out


def visibility_slices(visibility_m: np.ndarray) -> list[Slice]:
    """One slice per non-empty visibility bin (VISIBILITY_BINS_M), named ``visibility=<bin>``, densest
    fog first; images without a visibility go to ``visibility=unknown``."""
    labels = np.asarray(
        [visibility_bin(float(v)) for v in np.asarray(visibility_m, np.float64)], dtype=object
    )
    out = []
    for name in visibility_bins():
        member = np.flatnonzero(labels == name)
        if member.size:
            out.append(Slice(f"visibility={name}", member))
    return out


def build_slices(
    meta: ImageMeta,
    buckets: Sequence[int | None] = DEFAULT_BUCKETS,
    slice_by: Sequence[str] = ("occlusion",),
) -> list[Slice]:
    """Slices for an evaluation: occlusion buckets (if asked), ``all`` always, then metadata values."""
    unknown = [k for k in slice_by if k not in SLICE_KINDS]
    if unknown:
        raise ValueError(f"cannot slice by {unknown}: choose from {list(SLICE_KINDS)}")
    n = meta.n_images
    slices: list[Slice] = []
    if "occlusion" in slice_by:
        slices += occlusion_slices(meta.occluded, buckets)
    if not any(s.name == ALL for s in slices):
        slices.insert(0, Slice(ALL, np.arange(n)))
    for kind in SLICE_KINDS[1:]:
        if kind not in slice_by:
            continue
        if kind == "visibility":
            # Without recorded visibilities every image is `visibility=unknown`, as a missing weather is.
            vis = np.full(n, np.nan) if meta.visibility_m is None else meta.visibility_m
            if len(vis) != n:
                raise ValueError(f"visibility_m metadata has {len(vis)} entries for {n} images")
            slices += visibility_slices(vis)
            continue
        values = getattr(meta, kind)
        if values is None:
            raise ValueError(f"cannot slice by {kind}: the dataset has no per-image {kind} metadata")
        if len(values) != n:
            raise ValueError(f"{kind} metadata has {len(values)} entries for {n} images")
        slices += value_slices(kind, values)
    return slices
