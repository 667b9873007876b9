"""The `detect` job: boxes for one uploaded image, or predictions over a dataset for an evaluation."""

from __future__ import annotations

import io

from services.common.contracts.detect import DatasetPredictions, DetectPayload, ImageDetections
from services.common.core import keys
from services.common.core.images import decode_image, encode_png
from services.common.datasets import store as ds
from services.common.runtime.worker import JobContext
from services.detector.loaded_models import load_detector, weights_key_of


def run(ctx: JobContext, p: DetectPayload) -> ImageDetections | DatasetPredictions:
    """One uploaded image, or (with `dataset_id`) every image of a dataset for an evaluation."""
    if p.on_dataset:
        return detect_dataset(ctx, p)
    from services.detector.inference import annotate

    assert p.image_key is not None
    weights_key = weights_key_of(ctx, p.model_id)
    image = decode_image(ctx.store.get_bytes(p.image_key), ctx.settings.max_image_pixels)
    detector = load_detector(ctx.store, ctx.settings, weights_key)
    (found,) = detector.predict([image], conf=p.conf, iou=p.iou, imgsz=p.imgsz)
    annotated_key = None
    if p.annotate:
        ctx.outputs(keys.detection_prefix(ctx.job_id))
        annotated_key = keys.detection_annotated(ctx.job_id)
        ctx.store.put_bytes(annotated_key, encode_png(annotate(image, found)), "image/png")
    return ImageDetections.model_validate(
        {
            "detections": [d.to_dict() for d in found],
            "width": image.shape[1],
            "height": image.shape[0],
            "annotated_key": annotated_key,
        }
    )


def detect_dataset(ctx: JobContext, p: DetectPayload) -> DatasetPredictions:
    """Predictions for every image (of a split) with pixels, on this (GPU) worker, stored as arrays at
    `output_key` for the evaluation that asked: image ids, model class names, boxes in pixels."""
    import numpy as np

    assert p.dataset_id is not None and p.output_key is not None
    weights_key = weights_key_of(ctx, p.model_id)
    items = [
        i
        for i in ds.load_items(ctx.store, p.dataset_id)
        if i.image_key and (not p.split or i.split == p.split)
    ]
    detector = load_detector(ctx.store, ctx.settings, weights_key)
    # Batches of one image size: ultralytics letterboxes a mixed batch differently (square), which would
    # make an image's detections depend on its neighbours.
    groups: dict[tuple[int, int], list[int]] = {}
    for n, item in enumerate(items):
        groups.setdefault((item.record.height, item.record.width), []).append(n)
    parts: list[tuple[np.ndarray, ...]] = []
    done, batch = 0, p.batch
    for members in groups.values():
        for start in range(0, len(members), batch):
            chunk = members[start : start + batch]
            pixels = [
                decode_image(
                    ctx.store.get_bytes(items[n].image_key), ctx.settings.max_image_pixels, orient=False
                )
                for n in chunk
            ]
            found = detector.predict(pixels, conf=p.conf, iou=p.iou, imgsz=p.imgsz, max_det=300)
            # Arrays per batch: millions of predictions must not live as Python objects.
            flat = [(n, d) for n, dets in zip(chunk, found, strict=True) for d in dets]
            parts.append(
                (
                    np.fromiter((n for n, _ in flat), np.int64, len(flat)),
                    np.fromiter((d.cls for _, d in flat), np.int64, len(flat)),
                    np.fromiter((d.conf for _, d in flat), np.float32, len(flat)),
                    np.asarray([(d.x1, d.y1, d.x2, d.y2) for _, d in flat], np.float32).reshape(-1, 4),
                )
            )
            done += len(chunk)
            ctx.check_cancelled()
            ctx.progress(done / len(items), f"detecting: {done}/{len(items)} images")
    arrays = [
        np.concatenate([part[k] for part in parts]) if parts else empty
        for k, empty in enumerate(
            (
                np.zeros(0, np.int64),
                np.zeros(0, np.int64),
                np.zeros(0, np.float32),
                np.zeros((0, 4), np.float32),
            )
        )
    ]
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        image_ids=np.asarray([i.record.image_id for i in items], dtype=str),
        class_names=np.asarray(detector.class_names, dtype=str),
        image=arrays[0],
        cls=arrays[1],
        conf=arrays[2],
        boxes=arrays[3],
    )
    ctx.store.put_bytes(p.output_key, buf.getvalue(), "application/octet-stream")
    return DatasetPredictions(
        predictions_key=p.output_key, images=len(items), predictions=int(len(arrays[0]))
    )
