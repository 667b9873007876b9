"""The label-safety audit over stored images: what a dataset translation and the audit_dataset job share
(the audit itself is quality/label_audit.py, which knows nothing of the store)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from services.common.core.images import ImageError, decode_image
from services.common.datasets import store as ds
from services.common.datasets.canonical import ImageRecord
from services.common.runtime.worker import JobContext
from services.translator.quality.label_audit import ImageAudit, audit_image, summarize


def audit_record(source: np.ndarray, translated: np.ndarray, record: ImageRecord) -> ImageAudit:
    """One translated image of a dataset against its source, for the record's boxes."""
    return audit_image(source, translated, [(b.x1, b.y1, b.x2, b.y2) for b in record.boxes])


def audit_stored(
    ctx: JobContext, pairs: Iterable[tuple[ds.StoredImage, ds.StoredImage]]
) -> dict[str, ImageAudit]:
    """Audit (source, translated) items read from the store; a pair whose file cannot be decoded is
    skipped with a warning."""
    out: dict[str, ImageAudit] = {}
    for src, dst in pairs:
        image_id = dst.record.image_id
        if not src.image_key or not dst.image_key:
            ctx.warn(f"label audit: skipped {image_id}: it has no pixels in the source or the translation")
            continue
        try:
            images = [
                decode_image(ctx.store.get_bytes(k), ctx.settings.max_image_pixels, orient=False)
                for k in (src.image_key, dst.image_key)
            ]
        except (ImageError, ValueError) as exc:
            ctx.warn(f"label audit: skipped {image_id}: {exc}")
            continue
        out[image_id] = audit_record(images[0], images[1], dst.record)
    return out


def stored_form(audits: Mapping[str, ImageAudit]) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """(per image id its stored dict, the dataset summary) for `store.save_label_audit`."""
    return {k: a.to_dict() for k, a in audits.items()}, summarize(audits.values())
