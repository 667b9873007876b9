"""The `detect_shard` job: a detector's predictions over one shard of an evaluation's images."""

from __future__ import annotations

import io

from services.common.contracts.detect_shard import DatasetPredictions, DetectShardPayload
from services.common.core.images import decode_image
from services.common.datasets import store as ds
from services.common.runtime.lifecycle import JobError
from services.common.runtime.worker import JobContext
from services.detector.loaded_models import load_detector, weights_key_of


def run(ctx: JobContext, p: DetectShardPayload) -> DatasetPredictions:
    """Predictions for this shard's images, on this (GPU) worker, stored as arrays at `output_key` for
    the evaluation that asked: image ids, model class names, boxes in pixels."""
    import numpy as np

    weights_key = weights_key_of(ctx, p.model_id)
    by_id = {i.record.image_id: i for i in ds.load_items(ctx.store, p.dataset_id, set(p.image_ids))}
    missing = [i for i in p.image_ids if i not in by_id or not by_id[i].image_key]
    if missing:
        raise JobError(f"{len(missing)} images of this shard left the dataset, e.g. {missing[0]}")
    items = [by_id[i] for i in p.image_ids]
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
            ctx.progress(None, f"detecting: {done}/{len(items)} images", done=done, total=len(items))
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
        predictions_key=p.output_key,
        images=len(items),
        predictions=int(len(arrays[0])),
        worker=ctx.worker_id,
    )
