"""The `evaluate` job: ground truth from a dataset, predictions from a detector or prediction files,
ultralytics-exact AP per slice and class, bootstrap intervals; rows to Postgres, arrays to the store."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np

from services.common.contracts.detect_shard import DetectShardPayload
from services.common.contracts.evaluate import KIND, EvaluatePayload, EvaluateResult
from services.common.core import keys
from services.common.core.db.models import Dataset, Evaluation, EvaluationMetric
from services.common.core.db.session import session_scope
from services.common.core.paths import PathNotAllowed, parse_data_uri
from services.common.core.storage import make_source_store
from services.common.datasets import store as ds
from services.common.runtime.lifecycle import JobError
from services.common.runtime.shards import run_shards, split
from services.common.runtime.worker import JobContext, JobOutcome
from services.evaluator.evaluate import DetectionSet, evaluate
from services.evaluator.persist import save_detection_set
from services.evaluator.predictions import read_yolo_predictions
from services.evaluator.slices import ImageMeta


def ground_truth(items: list[ds.StoredImage], keep: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes of the evaluated classes, class indices renumbered to positions in `keep`."""
    remap = {c: i for i, c in enumerate(keep)}
    image, cls, boxes = [], [], []
    for n, item in enumerate(items):
        for b in item.record.boxes:
            if b.cls in remap:
                image.append(n)
                cls.append(remap[b.cls])
                boxes.append((b.x1, b.y1, b.x2, b.y2))
    return (
        np.asarray(image, np.int64),
        np.asarray(cls, np.int64),
        np.asarray(boxes, np.float32).reshape(-1, 4),
    )


def model_predictions(
    ctx: JobContext,
    p: EvaluatePayload,
    evaluation_id: str,
    items: list[ds.StoredImage],
    class_names: list[str],
    keep: list[int],
) -> tuple[np.ndarray, ...]:
    """The detector runs as child `detect_shard` jobs on the detector batch (GPU) queue, one per
    SIM2REAL_SHARD_IMAGES images; this job waits for them and merges their predictions, ordered by image
    (stable), so the result does not depend on how the images were split."""
    assert p.detector_model_id is not None
    model_id = p.detector_model_id

    def plan() -> list[DetectShardPayload]:
        chunks = split([i.record.image_id for i in items], ctx.settings.shard_images)
        return [
            DetectShardPayload(
                model_id=model_id,
                dataset_id=p.dataset_id,
                image_ids=chunk,
                conf=p.conf,
                iou=p.iou,
                imgsz=p.imgsz,
                output_key=keys.evaluation_predictions(evaluation_id, n),
                shard=n,
                shards=len(chunks),
            )
            for n, chunk in enumerate(chunks)
        ]

    shards = run_shards(
        ctx, "detect_shard", plan, f"detection on {len(items)} images", share=KIND.children_share
    )
    position = {item.record.image_id: n for n, item in enumerate(items)}
    parts: list[tuple[np.ndarray, ...]] = []
    for shard in shards:
        key = (shard.result or {})["predictions_key"]
        with np.load(io.BytesIO(ctx.store.get_bytes(key)), allow_pickle=False) as z:
            ids, names = [str(i) for i in z["image_ids"]], [str(n) for n in z["class_names"]]
            image, cls, conf, boxes = z["image"], z["cls"], z["conf"], z["boxes"]
        # Images: the detector's order -> this evaluation's; classes: by name, those not evaluated dropped.
        img_map = np.asarray([position.get(i, -1) for i in ids], np.int64)
        cls_map = np.asarray(
            [
                keep.index(class_names.index(n)) if n in class_names and class_names.index(n) in keep else -1
                for n in names
            ],
            np.int64,
        )
        mask = (img_map[image] >= 0) & (cls_map[cls] >= 0) if len(image) else np.zeros(0, bool)
        parts.append((img_map[image[mask]], cls_map[cls[mask]], conf[mask], boxes[mask]))
    merged = [np.concatenate([part[k] for part in parts]) for k in range(4)]
    order = np.argsort(merged[0], kind="stable")
    return tuple(a[order] for a in merged)


def file_predictions(
    ctx: JobContext, uri: str, items: list[ds.StoredImage], n_classes: int, keep: list[int]
) -> tuple:
    try:
        loc = parse_data_uri(uri, ctx.settings.allowed_data_roots, ctx.settings.allowed_data_buckets)
    except (PathNotAllowed, FileNotFoundError) as exc:
        raise JobError(str(exc)) from exc
    stems = [ds.flat_name(i.record.image_id) for i in items]
    sizes = np.asarray([(i.record.width, i.record.height) for i in items], np.float64)
    with tempfile.TemporaryDirectory(dir=ctx.settings.home) as tmp:
        folder = loc.path
        if loc.scheme == "s3":
            src = make_source_store(ctx.settings, loc.bucket or "")
            folder = Path(tmp)
            base = loc.prefix.rstrip("/") + "/" if loc.prefix else ""
            for key in src.list(base):
                if "/" not in key[len(base) :]:
                    src.download_file(key, folder / key[len(base) :])
        assert folder is not None
        preds = read_yolo_predictions(folder, stems, sizes, n_classes)
    remap = np.full(n_classes, -1, np.int64)
    remap[keep] = np.arange(len(keep))
    mask = remap[preds.cls] >= 0
    return preds.image[mask], remap[preds.cls[mask]], preds.conf[mask], preds.boxes[mask]


def run_evaluation(
    ctx: JobContext, p: EvaluatePayload, evaluation_id: str
) -> tuple[Evaluation, list[EvaluationMetric], EvaluateResult]:
    """Evaluate and return the (not yet added) rows and the job's result."""
    from services.evaluator.plot import plot_rows

    with session_scope(ctx.db_url) as s:
        dataset = s.get(Dataset, p.dataset_id)
        if dataset is None:
            raise JobError(f"dataset {p.dataset_id} no longer exists")
        class_names = list(dataset.class_names)
    classes = p.classes or class_names
    keep = [class_names.index(c) for c in classes]
    all_items = ds.load_items(ctx.store, p.dataset_id)
    items = [i for i in all_items if i.split == p.split] if p.split else all_items
    if p.detector_model_id:
        missing = sum(1 for i in items if not i.image_key)
        items = [i for i in items if i.image_key]
        if not items:
            raise JobError("the evaluation dataset has no images with pixels to run the detector on")
        pred = model_predictions(ctx, p, evaluation_id, items, class_names, keep)
    else:
        missing = 0
        # Files may cover the whole dataset: read them against every image, then keep the split's.
        assert p.predictions_uri is not None
        image, cls, conf, boxes = file_predictions(ctx, p.predictions_uri, all_items, len(class_names), keep)
        position = np.full(len(all_items), -1, np.int64)
        ids = {i.record.image_id for i in items}
        members = [n for n, i in enumerate(all_items) if i.record.image_id in ids]
        position[members] = np.arange(len(members))
        inside = position[image] >= 0
        pred = (position[image[inside]], cls[inside], conf[inside], boxes[inside])
    records = [i.record for i in items]
    meta = ImageMeta(
        occluded=np.asarray([r.occluded_vehicles for r in records], np.int64),
        weather=np.asarray([r.weather or "unknown" for r in records], dtype=object),
        timeofday=np.asarray([r.timeofday or "unknown" for r in records], dtype=object),
        scene=np.asarray([r.scene or "unknown" for r in records], dtype=object),
        visibility_m=np.asarray(
            [np.nan if r.visibility_m is None else r.visibility_m for r in records], np.float64
        ),
    )
    detections = DetectionSet.create(classes, meta, *ground_truth(items, keep), *pred)
    ctx.progress(0.85, f"matching {len(pred[0])} predictions against {len(detections.gt_cls)} boxes")
    result = evaluate(detections, p.buckets, p.slice_by, n_boot=p.n_boot, seed=p.seed)
    matches_key = keys.evaluation_detections(evaluation_id)
    save_detection_set(ctx.store, matches_key, detections)
    ctx.store.put_bytes(keys.evaluation_plot(evaluation_id), plot_rows(result.rows), "image/png")
    evaluation = Evaluation(
        id=evaluation_id,
        dataset_id=p.dataset_id,
        detector_model_id=p.detector_model_id,
        predictions_uri=p.predictions_uri,
        settings=p.model_dump(mode="json", include=set(SETTINGS_KEYS)),
        matches_key=matches_key,
        job_id=ctx.job_id,
    )
    rows = [
        EvaluationMetric(
            evaluation_id=evaluation_id,
            slice=r["slice"],
            class_name=r["class"],
            ap50=r["ap50"],
            ap50_95=r["ap50_95"],
            precision=r["precision"],
            recall=r["recall"],
            images=r["images"],
            instances=r["instances"],
            ap50_low=r["ap50_low"],
            ap50_high=r["ap50_high"],
        )
        for r in result.rows
    ]
    summary = EvaluateResult(
        evaluation_id=evaluation_id,
        images=len(items),
        images_without_pixels=missing,
        predictions=int(len(pred[0])),
        map50={r["slice"]: r["ap50"] for r in result.rows if r["class"] == "all"},
    )
    return evaluation, rows, summary


# What an evaluation records as its settings (what a comparison checks is services.common.evaluation's).
SETTINGS_KEYS = ("buckets", "slice_by", "classes", "imgsz", "conf", "iou", "n_boot", "seed", "split")


def run(ctx: JobContext, payload: EvaluatePayload) -> JobOutcome:
    ctx.outputs(keys.evaluation_prefix(ctx.job_id))
    evaluation, rows, summary = run_evaluation(ctx, payload, ctx.job_id)
    return JobOutcome(summary, rows=[evaluation, *rows])
