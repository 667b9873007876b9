"""The `train_detector` job: YOLOv5 on a dataset's train split, checkpointed, resumable."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from services.common.contracts.train_detector import (
    TrainDetectorPayload,
    TrainDetectorResult,
    initial_weights,
)
from services.common.core import keys
from services.common.core.db.models import Dataset, DetectorModel
from services.common.core.db.session import session_scope
from services.common.core.weights import local_path
from services.common.datasets import store as ds
from services.common.runtime.lifecycle import JobCancelled, JobError
from services.common.runtime.worker import JobContext, JobOutcome
from services.detector.loaded_models import weights_key_of


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


def prepare_training_data(
    ctx: JobContext, p: TrainDetectorPayload, root: Path
) -> tuple[Path, list[str], dict[str, int]]:
    """The training dataset's train split, validated on its val split or on another dataset."""
    from services.detector.yolo_dataset import write_yolo_dataset

    with session_scope(ctx.db_url) as s:
        dataset = s.get(Dataset, p.dataset_id)
        if dataset is None:
            raise JobError(f"dataset {p.dataset_id} no longer exists")
        class_names = list(dataset.class_names)
    items = ds.load_items(ctx.store, p.dataset_id)
    train = [i for i in items if i.split == "train"]
    if p.val_dataset_id:
        val = ds.load_items(ctx.store, p.val_dataset_id)
        val = [i for i in val if i.split == "val"] or val
    else:
        val = [i for i in items if i.split == "val"]
    if not val:
        # An experiment's trainings take the field from the experiment's `model` settings.
        field = "model.val_dataset_id" if ctx.parent_id else "val_dataset_id"
        raise JobError(
            f"dataset {p.dataset_id} has no validation split (a single scene cannot be split without "
            f"leaking frames); pass {field}"
        )
    train_samples = fetch_split(ctx, train, class_names, root / "staging" / "train")
    val_samples = fetch_split(ctx, val, class_names, root / "staging" / "val")
    counts = {"train": len(train_samples), "val": len(val_samples)}
    if not counts["train"] or not counts["val"]:
        raise JobError(f"no images with pixels to train on (train {counts['train']}, val {counts['val']})")
    data_yaml = write_yolo_dataset(root / "yolo", class_names, train_samples, val_samples)
    shutil.rmtree(root / "staging", ignore_errors=True)  # the dataset holds hard links (or copies)
    return data_yaml, class_names, counts


def run(ctx: JobContext, p: TrainDetectorPayload) -> JobOutcome:
    from services.detector.training import DetectorTrainConfig, TrainingStopped, resolve_device
    from services.detector.training import train_detector as run_training

    if p.devices:  # before any download: a device list this worker cannot serve fails at once
        try:
            resolve_device(ctx.settings.device, p.devices)
        except ValueError as exc:
            raise JobError(str(exc)) from exc
    model_id = ctx.job_id
    ctx.outputs(keys.detector_prefix(model_id))
    store = ctx.store
    work = ctx.settings.home / "cache" / "detector" / model_id
    shutil.rmtree(work, ignore_errors=True)
    start = initial_weights(p)  # said in every progress message, the result and the model's options
    try:
        ctx.progress(0.0, f"downloading the dataset; {p.model} starts from {start}")
        data_yaml, class_names, counts = prepare_training_data(ctx, p, work / "data")
        cfg = DetectorTrainConfig(
            model=p.model,
            imgsz=p.imgsz,
            epochs=p.epochs,
            batch=p.batch,
            seed=p.seed,
            hyperparameters=dict(p.hyperparameters),
            device=ctx.settings.device,
            devices=p.devices,
        )
        resume_from = None
        history: list[dict[str, Any]] = []
        if store.exists(keys.detector_weights(model_id, "last")):
            resume_from = work / "resume" / "last.pt"
            resume_from.parent.mkdir(parents=True, exist_ok=True)
            store.download_file(keys.detector_weights(model_id, "last"), resume_from)
            if store.exists(keys.detector_weights(model_id, "best")):
                store.download_file(keys.detector_weights(model_id, "best"), resume_from.with_name("best.pt"))
            if store.exists(keys.detector_file(model_id, "history.json")):
                history = json.loads(store.get_bytes(keys.detector_file(model_id, "history.json")))
        weights = None
        if resume_from is None:  # a resumed run's checkpoint already holds its initial weights
            if p.weights_id:
                weights = work / "start.pt"
                store.download_file(weights_key_of(ctx, p.weights_id), weights)
            elif p.pretrained:
                if p.pretrained_version is None:
                    raise JobError("pretrained: the job names no checkpoint version; submit it again")
                try:  # exactly the version recorded at submit
                    weights = local_path(ctx.settings, store, p.model, p.pretrained_version)
                except ValueError as exc:
                    raise JobError(f"pretrained: {exc}") from exc

        def on_epoch_end(record) -> None:  # noqa: ANN001
            history.append(record.to_dict())
            store.put_bytes(
                keys.detector_file(model_id, "history.json"), json.dumps(history).encode(), "application/json"
            )
            losses = " ".join(f"{k} {v:.3f}" for k, v in record.losses.items())
            ctx.progress(
                record.epoch / record.epochs,
                f"epoch {record.epoch}/{record.epochs} (from {start}) {losses} mAP50 {record.map50:.3f}",
                extra={"epochs": history},
                done=record.epoch,
                total=record.epochs,
            )

        def on_checkpoint(path: Path) -> None:
            store.put_file(keys.detector_file(model_id, path.name), path, "application/octet-stream")

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
        store.put_file(keys.detector_weights(model_id, "best"), result.best, "application/octet-stream")
        store.put_file(keys.detector_weights(model_id, "last"), result.last, "application/octet-stream")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    metrics = {"epochs": history, "final": result.final_metrics, "images": counts}
    model = DetectorModel(
        id=model_id,
        name=p.name or f"{p.model} on {p.dataset_id[:8]}",
        origin="trained",
        architecture=result.architecture,
        imgsz=p.imgsz,
        class_names=class_names,
        dataset_id=p.dataset_id,
        val_dataset_id=p.val_dataset_id,
        weights_key=keys.detector_weights(model_id, "best"),
        last_key=keys.detector_weights(model_id, "last"),
        metrics=metrics,
        options={
            **p.model_dump(mode="json", include={"epochs", "batch", "seed", "hyperparameters"}),
            "initial_weights": start,
        },
        job_id=ctx.job_id,
    )
    return JobOutcome(
        TrainDetectorResult(
            model_id=model_id,
            resumed_from_epoch=result.start_epoch - 1,
            final=result.final_metrics,
            initial_weights=start,
        ),
        rows=[model],
    )
