"""Saving an evaluation's detection arrays, so paired comparisons can be recomputed later."""

from __future__ import annotations

import io

import numpy as np

from services.common.core.storage import ObjectStore
from services.evaluator.evaluate import DetectionSet
from services.evaluator.slices import ImageMeta

FIELDS = ("gt_image", "gt_cls", "gt_boxes", "pred_image", "pred_cls", "pred_conf", "pred_boxes")


def save_detection_set(store: ObjectStore, key: str, ds: DetectionSet) -> None:
    arrays = {name: getattr(ds, name) for name in FIELDS}
    arrays["occluded"] = np.asarray(ds.meta.occluded)
    for name in ("weather", "timeofday", "scene"):
        values = getattr(ds.meta, name)
        if values is not None:
            arrays[name] = np.asarray(values, dtype=str)
    if ds.meta.visibility_m is not None:
        arrays["visibility_m"] = np.asarray(ds.meta.visibility_m, np.float64)
    arrays["class_names"] = np.asarray(ds.class_names, dtype=str)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    store.put_bytes(key, buf.getvalue(), "application/octet-stream")


def load_detection_set(store: ObjectStore, key: str) -> DetectionSet:
    with np.load(io.BytesIO(store.get_bytes(key)), allow_pickle=False) as z:
        meta = ImageMeta(
            occluded=z["occluded"],
            **{n: z[n] for n in ("weather", "timeofday", "scene", "visibility_m") if n in z},
        )
        return DetectionSet.create([str(c) for c in z["class_names"]], meta, *(z[name] for name in FIELDS))
