"""Adapts YOLOv5 training and inference to the queue: datasets from the store, weights back to it."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

from services.common import dataset_store as ds
from services.common.db.models import Dataset, DetectorModel
from services.common.db.session import session_scope
from services.common.images import decode_image, encode_png
from services.common.jobs import JobCancelled, JobError
from services.common.model_cache import MODELS
from services.common.settings import Settings
from services.common.storage import ObjectStore
from services.common.worker import JobContext, JobOutcome, WorkerRuntime


def model_prefix(model_id: str) -> str:
    return f"models/detector/{model_id}/"


def fetch_split(
    ctx: JobContext, items: list[ds.StoredImage], class_names: list[str], staging: Path
) -> list[tuple[Path, list[str]]]:
    """(local image, YOLO label lines) for the images with pixels; write_yolo_dataset hard-links them."""
    from services.common.datasets.canonical import to_yolo_lines

    samples = []
    for item in items:
        if not item.image_key:
            continue
        path = staging / f"{ds.flat_name(item.record.image_id)}{Path(item.image_key).suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        ctx.store.download_file(item.image_key, path)
        samples.append((path, to_yolo_lines(item.record, class_names)))
        ctx.check_cancelled()
    return samples


def prepare_training_data(ctx: JobContext, root: Path) -> tuple[Path, list[str], dict[str, int]]:
    """The training dataset's train split, validated on its val split or on another dataset."""
    from services.detector.yolo_dataset import write_yolo_dataset

    p = ctx.params
    with session_scope(ctx.db_url) as s:
        dataset = s.get(Dataset, p["dataset_id"])
        if dataset is None:
            raise JobError(f"dataset {p['dataset_id']} no longer exists")
        class_names = list(dataset.class_names)
    items = ds.load_items(ctx.store, p["dataset_id"])
    train = [i for i in items if i.split == "train"]
    if p.get("val_dataset_id"):
        val = ds.load_items(ctx.store, p["val_dataset_id"])
        val = [i for i in val if i.split == "val"] or val
    else:
        val = [i for i in items if i.split == "val"]
    if not val:
        raise JobError(
            f"dataset {p['dataset_id']} has no validation split (a single scene cannot be split without "
            "leaking frames); pass val_dataset_id"
        )
    train_samples = fetch_split(ctx, train, class_names, root / "staging" / "train")
    val_samples = fetch_split(ctx, val, class_names, root / "staging" / "val")
    counts = {"train": len(train_samples), "val": len(val_samples)}
    if not counts["train"] or not counts["val"]:
        raise JobError(f"no images with pixels to train on (train {counts['train']}, val {counts['val']})")
    data_yaml = write_yolo_dataset(root / "yolo", class_names, train_samples, val_samples)
    shutil.rmtree(root / "staging", ignore_errors=True)  # the dataset holds hard links (or copies)
    return data_yaml, class_names, counts


def train_detector(ctx: JobContext) -> JobOutcome:
    from services.detector.training import DetectorTrainConfig, TrainingStopped
    from services.detector.training import train_detector as run_training

    p = ctx.params
    model_id = ctx.job_id
    base = ctx.outputs(model_prefix(model_id))
    store = ctx.store
    work = ctx.settings.home / "cache" / "detector" / model_id
    shutil.rmtree(work, ignore_errors=True)
    try:
        ctx.progress(0.0, "downloading the dataset")
        data_yaml, class_names, counts = prepare_training_data(ctx, work / "data")
        cfg = DetectorTrainConfig(
            model=p["model"],
            imgsz=p["imgsz"],
            epochs=p["epochs"],
            batch=p["batch"],
            seed=p["seed"],
            hyperparameters=dict(p.get("hyperparameters") or {}),
            device=ctx.settings.device,
        )
        resume_from = None
        history: list[dict[str, Any]] = []
        if store.exists(base + "last.pt"):
            resume_from = work / "resume" / "last.pt"
            resume_from.parent.mkdir(parents=True, exist_ok=True)
            store.download_file(base + "last.pt", resume_from)
            if store.exists(base + "best.pt"):
                store.download_file(base + "best.pt", resume_from.with_name("best.pt"))
            if store.exists(base + "history.json"):
                history = json.loads(store.get_bytes(base + "history.json"))
        weights = None
        if p.get("weights_id") and resume_from is None:  # a resumed run's checkpoint already holds them
            start_key = weights_key_of(ctx, p["weights_id"])
            weights = work / "start.pt"
            store.download_file(start_key, weights)

        def on_epoch_end(record) -> None:  # noqa: ANN001
            history.append(record.to_dict())
            store.put_bytes(base + "history.json", json.dumps(history).encode(), "application/json")
            losses = " ".join(f"{k} {v:.3f}" for k, v in record.losses.items())
            ctx.progress(
                record.epoch / record.epochs,
                f"epoch {record.epoch}/{record.epochs} {losses} mAP50 {record.map50:.3f}",
                extra={"epochs": history},
            )

        def on_checkpoint(path: Path) -> None:
            store.put_file(base + path.name, path, "application/octet-stream")

        try:
            result = run_training(
                cfg,
                data_yaml,
                work / "run",
                weights=weights,
                resume_from=resume_from,
                on_epoch_end=on_epoch_end,
                should_stop=ctx.cancelled.is_set,
                on_checkpoint=on_checkpoint,
            )
        except TrainingStopped as exc:
            raise JobCancelled(ctx.job_id) from exc
        store.put_file(base + "best.pt", result.best, "application/octet-stream")
        store.put_file(base + "last.pt", result.last, "application/octet-stream")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    metrics = {"epochs": history, "final": result.final_metrics, "images": counts}
    model = DetectorModel(
        id=model_id,
        name=p.get("name") or f"{p['model']} on {p['dataset_id'][:8]}",
        origin="trained",
        architecture=result.architecture,
        imgsz=p["imgsz"],
        class_names=class_names,
        dataset_id=p["dataset_id"],
        val_dataset_id=p.get("val_dataset_id"),
        weights_key=base + "best.pt",
        last_key=base + "last.pt",
        metrics=metrics,
        options={k: p[k] for k in ("epochs", "batch", "seed", "hyperparameters") if k in p},
        job_id=ctx.job_id,
    )
    return JobOutcome(
        {"model_id": model_id, "resumed_from_epoch": result.start_epoch - 1, "final": result.final_metrics},
        rows=[model],
    )


def weights_key_of(ctx: JobContext, model_id: str) -> str:
    with session_scope(ctx.db_url) as s:
        model = s.get(DetectorModel, model_id)
        if model is None:
            raise JobError(f"detector model {model_id} no longer exists")
        return model.weights_key


def load_detector(store: ObjectStore, settings: Settings, weights_key: str):  # noqa: ANN201
    """A Detector for weights in the store, loaded once per worker process."""
    from services.detector.inference import Detector

    def load() -> Detector:
        path = settings.home / "cache" / "weights" / weights_key
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            store.download_file(weights_key, path)
        return Detector(path, device=settings.device)

    return MODELS.get(f"detector:{weights_key}", load)


def detect(ctx: JobContext) -> dict[str, Any]:
    """One uploaded image, or (with `dataset_id`) every image of a dataset for an evaluation."""
    if ctx.params.get("dataset_id"):
        return detect_dataset(ctx)
    from services.detector.inference import annotate

    p = ctx.params
    weights_key = weights_key_of(ctx, p["model_id"])
    image = decode_image(ctx.store.get_bytes(p["image_key"]), ctx.settings.max_image_pixels)
    detector = load_detector(ctx.store, ctx.settings, weights_key)
    (found,) = detector.predict([image], conf=p["conf"], iou=p["iou"], imgsz=p.get("imgsz"))
    result: dict[str, Any] = {
        "detections": [d.to_dict() for d in found],
        "width": image.shape[1],
        "height": image.shape[0],
    }
    if p.get("annotate"):
        key = ctx.outputs(f"detections/{ctx.job_id}/") + "annotated.png"
        ctx.store.put_bytes(key, encode_png(annotate(image, found)), "image/png")
        result["annotated_key"] = key
    return result


def detect_dataset(ctx: JobContext) -> dict[str, Any]:
    """Predictions for every image (of a split) with pixels, on this (GPU) worker, stored as arrays at
    `output_key` for the evaluation that asked: image ids, model class names, boxes in pixels."""
    import numpy as np

    p = ctx.params
    weights_key = weights_key_of(ctx, p["model_id"])
    items = [
        i
        for i in ds.load_items(ctx.store, p["dataset_id"])
        if i.image_key and (not p.get("split") or i.split == p["split"])
    ]
    detector = load_detector(ctx.store, ctx.settings, weights_key)
    # Batches of one image size: ultralytics letterboxes a mixed batch differently (square), which would
    # make an image's detections depend on its neighbours.
    groups: dict[tuple[int, int], list[int]] = {}
    for n, item in enumerate(items):
        groups.setdefault((item.record.height, item.record.width), []).append(n)
    parts: list[tuple[np.ndarray, ...]] = []
    done, batch = 0, int(p.get("batch", 8))
    for members in groups.values():
        for start in range(0, len(members), batch):
            chunk = members[start : start + batch]
            pixels = [
                decode_image(
                    ctx.store.get_bytes(items[n].image_key), ctx.settings.max_image_pixels, orient=False
                )
                for n in chunk
            ]
            found = detector.predict(pixels, conf=p["conf"], iou=p["iou"], imgsz=p.get("imgsz"), max_det=300)
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
    ctx.store.put_bytes(p["output_key"], buf.getvalue(), "application/octet-stream")
    return {"predictions_key": p["output_key"], "images": len(items), "predictions": int(len(arrays[0]))}


def register(runtime: WorkerRuntime) -> None:
    from services.detector.offline import prepare_ultralytics

    # Before anything imports ultralytics: offline mode, fonts and settings under the service's home.
    prepare_ultralytics(runtime.settings.home / "detector")
    runtime.task("train_detector")(train_detector)
    runtime.task("detect")(detect)
