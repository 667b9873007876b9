"""Data problems a dataset job reports as warnings (pure: the jobs decide to warn or, under strict, fail)."""

from __future__ import annotations

from collections.abc import Iterable

SPLITS = ("train", "val")


def split_warnings(items: Iterable[tuple[str, bool]], *, val_expected: bool = True) -> list[str]:
    """Warnings for a dataset given each image's (split, has pixels).

    Label-only images are named by count (evaluation and the export cannot use them); a split without
    one image with pixels is named (``val`` only when a validation split was asked for).
    """
    items = list(items)
    out: list[str] = []
    label_only = sum(1 for _, pixels in items if not pixels)
    if label_only:
        out.append(
            f"{label_only} of {len(items)} images have labels but no image file (label-only; "
            "stats.label_only_images): evaluation and the export leave them out"
        )
    for split in SPLITS:
        if split == "val" and not val_expected:
            continue
        total = sum(1 for s, _ in items if s == split)
        if any(s == split and pixels for s, pixels in items):
            continue
        why = f" (its {total} images are label-only)" if total else ""
        out.append(f"split {split!r} has no images with pixels{why}")
    return out
