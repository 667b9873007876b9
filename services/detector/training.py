"""Trains a YOLOv5 detector with ultralytics, reporting every epoch and able to resume from ``last.pt``.

Call ``services.detector.offline.prepare_ultralytics`` once per process before this module is used.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from services.common.detectors import PASSTHROUGH_TRAIN_ARGS, check_hyperparameters, get_architecture
from services.detector.weights import WeightsError, inspect_weights

_OPTIMIZERS = ("auto", "SGD", "Adam", "AdamW", "NAdam", "RAdam", "RMSProp", "Adamax")


def _allowed_hyperparameters() -> frozenset[str]:
    """The passthrough set, minus anything the installed ultralytics does not know."""
    from ultralytics.cfg import DEFAULT_CFG_DICT

    return PASSTHROUGH_TRAIN_ARGS & frozenset(DEFAULT_CFG_DICT)


@dataclass
class DetectorTrainConfig:
    """What a user chooses for a detector training; validated before any compute starts."""

    model: str = "yolov5s"
    imgsz: int = 640
    epochs: int = 100
    batch: int = 16
    seed: int = 0
    workers: int | None = None  # None: 0 on CPU (no fork overhead), up to 8 on GPU
    device: str = "auto"  # "auto" -> cuda:0 when available, else cpu; or "cpu", "cuda", "cuda:1"
    devices: list[int] | None = None  # GPU indices; two or more: ultralytics DDP (overrides device)
    optimizer: str = "auto"
    lr0: float = 0.01
    patience: int = 100  # epochs without fitness improvement before stopping early
    deterministic: bool = True
    amp: bool = True  # mixed precision on GPU (bf16 where supported); ignored on CPU
    hyperparameters: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        """Raise ValueError naming the field to change; also checks hyperparameter types with ultralytics."""
        get_architecture(self.model)
        for name in ("imgsz", "epochs", "batch"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.imgsz < 32 or self.imgsz > 4096:
            raise ValueError(f"imgsz must be between 32 and 4096 pixels, got {self.imgsz}")
        if self.workers is not None and (not isinstance(self.workers, int) or self.workers < 0):
            raise ValueError(f"workers must be a non-negative integer or null, got {self.workers!r}")
        if not isinstance(self.patience, int) or self.patience < 1:
            raise ValueError(f"patience must be a positive integer, got {self.patience!r}")
        if not (isinstance(self.lr0, int | float) and math.isfinite(self.lr0) and 0 < self.lr0 <= 1):
            raise ValueError(f"lr0 must be in (0, 1], got {self.lr0!r}")
        if self.optimizer not in _OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(_OPTIMIZERS)}, got {self.optimizer!r}")
        resolve_device(self.device, self.devices)
        if self.devices and len(self.devices) > 1 and self.batch % len(self.devices):
            raise ValueError(f"batch ({self.batch}) must be a multiple of the {len(self.devices)} devices")
        self._validate_hyperparameters()

    def _validate_hyperparameters(self) -> None:
        # The API's table (one definition), limited to what the installed ultralytics knows.
        check_hyperparameters(self.hyperparameters, _allowed_hyperparameters())


def resolve_device(device: str, devices: list[int] | None = None) -> str:
    """Map the config's device to ultralytics' form: "cpu", a CUDA index such as "0", or several ("0,1":
    DDP). `devices` (GPU indices) wins over `device`; it must name GPUs this worker has."""
    import torch

    if devices:
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        missing = [d for d in devices if d >= count]
        if missing:
            has = f"{count} GPU{'s' if count != 1 else ''}" + (f" (0-{count - 1})" if count else "")
            raise ValueError(
                f"devices {devices} names GPU {', '.join(map(str, missing))} but this worker sees {has}; "
                "name only GPUs it has, or leave devices out to train on the worker's device"
            )
        return ",".join(str(d) for d in devices)
    d = str(device).strip().lower()
    if d == "auto":
        return "0" if torch.cuda.is_available() else "cpu"
    if d == "cpu":
        return "cpu"
    if d == "cuda" or d.startswith("cuda:"):
        index = d.partition(":")[2] or "0"
        if not index.isdigit():
            raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {device!r}")
        if not torch.cuda.is_available() or int(index) >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} is not available on this worker; use auto or cpu")
        return index
    raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {device!r}")


@dataclass(frozen=True)
class EpochRecord:
    """One finished epoch: training losses (mean over batches) and validation metrics after it."""

    epoch: int  # 1-based
    epochs: int  # planned total
    losses: dict[str, float]  # box_loss, cls_loss, dfl_loss
    val_losses: dict[str, float]
    precision: float
    recall: float
    map50: float
    map50_95: float
    fitness: float | None
    lr: dict[str, float]  # per parameter group, e.g. {"pg0": 0.001, ...}
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TrainResult:
    best: Path
    last: Path
    epochs: list[EpochRecord]  # the epochs this call ran (a resumed run starts after the checkpoint's)
    final_metrics: dict[str, Any]  # validation of `best`: precision, recall, map50, map50_95, ap50 per class
    start_epoch: int  # 1-based number of the first epoch this call ran
    architecture: str
    class_names: list[str]


class TrainingStopped(Exception):
    """should_stop() asked to stop; ``last`` is a resumable checkpoint of the last finished epoch."""

    def __init__(self, last: Path, epochs: list[EpochRecord]) -> None:
        done = epochs[-1].epoch if epochs else 0
        super().__init__(f"training stopped on request after epoch {done}")
        self.last = last
        self.epochs = epochs


def _floats(d: dict[str, Any] | None, prefix: str = "") -> dict[str, float]:
    return {k.removeprefix(prefix): float(v) for k, v in (d or {}).items() if k.startswith(prefix)}


def _box_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    return {
        "precision": float(metrics.get("metrics/precision(B)", 0.0)),
        "recall": float(metrics.get("metrics/recall(B)", 0.0)),
        "map50": float(metrics.get("metrics/mAP50(B)", 0.0)),
        "map50_95": float(metrics.get("metrics/mAP50-95(B)", 0.0)),
    }


def _final_metrics(results: Any, class_names: list[str]) -> dict[str, Any]:
    """Summary plus per-class AP50 of ultralytics' DetMetrics (classes absent from val are left out)."""
    if results is None or not hasattr(results, "box"):
        return {}
    box = results.box
    ap50 = {class_names[int(c)]: float(a) for c, a in zip(results.ap_class_index, box.ap50, strict=False)}
    return {
        "precision": float(box.mp),
        "recall": float(box.mr),
        "map50": float(box.map50),
        "map50_95": float(box.map),
        "ap50_per_class": ap50,
    }


def epoch_record(trainer: Any, epoch: int, losses: dict[str, float]) -> EpochRecord:
    """An ultralytics trainer's state after an epoch's validation, as a record."""
    return EpochRecord(
        epoch=epoch,
        epochs=int(trainer.epochs),
        losses=losses,
        val_losses=_floats(trainer.metrics, "val/"),
        fitness=float(trainer.fitness) if trainer.fitness is not None else None,
        lr=_floats(getattr(trainer, "lr", None), "lr/"),
        seconds=float(getattr(trainer, "epoch_time", 0.0) or 0.0),
        **_box_metrics(trainer.metrics or {}),
    )


def _train_kwargs(cfg: DetectorTrainConfig, device: str) -> dict[str, Any]:
    workers = cfg.workers
    if workers is None:
        workers = 0 if device == "cpu" else min(8, os.cpu_count() or 1)
    kwargs: dict[str, Any] = {"device": device, "workers": workers, "batch": cfg.batch, "verbose": False}
    if device != "cpu":
        import torch

        # ultralytics' fp16 self-check downloads a model; bf16 skips it and is the safer format anyway.
        kwargs["amp"] = "bf16" if cfg.amp and torch.cuda.is_bf16_supported() else False
    else:
        kwargs["amp"] = False
    return kwargs


def train_detector(
    cfg: DetectorTrainConfig,
    data_yaml: Path,
    out_dir: Path,
    *,
    weights: Path | None = None,
    resume_from: Path | None = None,
    on_epoch_end: Callable[[EpochRecord], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_checkpoint: Callable[[Path], None] | None = None,
) -> TrainResult:
    """Train into ``out_dir/weights/{best,last}.pt``; raise TrainingStopped when should_stop() says so.

    ``weights``: an ultralytics checkpoint of the same architecture to start from (its layers are
    transferred by name and shape, so a model with other classes still seeds the backbone).
    ``resume_from``: a resumable ``last.pt`` of an interrupted training (a ``best.pt`` next to it is
    restored too); training continues at the epoch after it with its saved optimizer state and the
    checkpoint's own settings, so ``cfg`` contributes only device, workers and batch.
    ``on_checkpoint`` gets ``last.pt`` after every epoch, and ``best.pt`` whenever it improved.
    """
    from ultralytics import YOLO

    cfg.validate()
    arch = get_architecture(cfg.model)
    data_yaml = Path(data_yaml).resolve()
    if not data_yaml.is_file():
        raise ValueError(f"dataset spec {data_yaml} does not exist; write it with write_yolo_dataset()")
    if weights is not None and resume_from is not None:
        raise ValueError("give either weights (start a new training) or resume_from (continue one), not both")
    out_dir = Path(out_dir).resolve()
    wdir = out_dir / "weights"
    device = resolve_device(cfg.device, cfg.devices)
    kwargs = _train_kwargs(cfg, device)
    kwargs.update(data=str(data_yaml), save_dir=str(out_dir), plots=False)

    if resume_from is not None:
        info = inspect_weights(resume_from)
        if (
            not info["resumable"]
            and info["epoch"] in (-1, None)
            and Path(resume_from).with_name("best.pt").is_file()
        ):
            # ultralytics strips the optimizer from last.pt when a training completes: the worker died
            # after the end, before the job was recorded. Nothing is left to train.
            wdir.mkdir(parents=True, exist_ok=True)
            _copy_into(Path(resume_from), wdir / "last.pt")
            _copy_into(Path(resume_from).with_name("best.pt"), wdir / "best.pt")
            arch_name = info["architecture"] or arch.name
            done = int(info["epochs"] or 0) + 1
            return TrainResult(
                wdir / "best.pt", wdir / "last.pt", [], {}, done, arch_name, info["class_names"]
            )
        if not info["resumable"]:
            raise WeightsError(
                f"{Path(resume_from).name} has no optimizer state (a finished training's weights); "
                "start a new training with it as weights instead of resuming"
            )
        wdir.mkdir(parents=True, exist_ok=True)
        _copy_into(Path(resume_from), wdir / "last.pt")
        _copy_into(Path(resume_from).with_name("best.pt"), wdir / "best.pt", required=False)
        arch_name = info["architecture"] or arch.name
        if info["epochs"] is not None and info["epoch"] + 1 >= info["epochs"]:
            # The worker died after the final epoch was saved: nothing left to train.
            best = wdir / "best.pt" if (wdir / "best.pt").is_file() else wdir / "last.pt"
            names = info["class_names"]
            return TrainResult(best, wdir / "last.pt", [], {}, info["epochs"] + 1, arch_name, names)
        model = YOLO(str(wdir / "last.pt"))
        kwargs["resume"] = True
    else:
        for stale in (wdir, out_dir / "results.csv"):  # a retried fresh run must not append to old results
            if stale.is_dir():
                shutil.rmtree(stale)
            elif stale.exists():
                stale.unlink()
        model = YOLO(arch.yaml)
        arch_name = arch.name
        if weights is not None:
            info = inspect_weights(weights)
            if info["architecture"] != arch.name:
                held = info["architecture"] or info["yaml"] or "non-YOLOv5"
                raise WeightsError(
                    f"{Path(weights).name} holds a {held} model "
                    f"but the training asks for {arch.name}; set model to match the weights"
                )
            model.load(str(weights))
        kwargs.update(
            epochs=cfg.epochs,
            imgsz=cfg.imgsz,
            seed=cfg.seed,
            optimizer=cfg.optimizer,
            lr0=cfg.lr0,
            patience=cfg.patience,
            deterministic=cfg.deterministic,
            exist_ok=True,
            **cfg.hyperparameters,
        )

    records: list[EpochRecord] = []
    state: dict[str, Any] = {"pending": None, "final": None, "start": None}

    def train_epoch_end(trainer: Any) -> None:
        if state["start"] is None:
            state["start"] = trainer.epoch + 1
        losses = {k: float(v) for k, v in (trainer.tloss or {}).items()}
        state["pending"] = (trainer.epoch + 1, losses)

    def model_save(trainer: Any) -> None:
        if on_checkpoint is None:
            return
        # best before last: a resume trusts last.pt's record of the best epoch, so best.pt must be there first.
        if trainer.best_fitness == trainer.fitness and Path(trainer.best).is_file():
            on_checkpoint(Path(trainer.best))
        on_checkpoint(Path(trainer.last))

    def fit_epoch_end(trainer: Any) -> None:
        if state["pending"] is None:  # ultralytics' final validation of best.pt, after the last epoch
            state["final"] = dict(trainer.metrics or {})
            return
        epoch, losses = state["pending"]
        state["pending"] = None
        record = epoch_record(trainer, epoch, losses)
        records.append(record)
        if on_epoch_end is not None:
            on_epoch_end(record)
        if should_stop is not None and epoch < trainer.epochs and should_stop():
            # Raising (rather than trainer.stop) skips ultralytics' final step, which strips the
            # optimizer out of last.pt and would make the run impossible to resume.
            raise TrainingStopped(Path(trainer.last), list(records))

    def train_batch_end(trainer: Any) -> None:
        # A cancel must not wait for the end of an epoch (an hour on a large dataset); last.pt is the
        # previous epoch's, still resumable.
        if should_stop is not None and should_stop():
            raise TrainingStopped(Path(trainer.last), list(records))

    if "," in device:
        results = _train_ddp(model, kwargs, out_dir, records, state, on_epoch_end, should_stop, on_checkpoint)
    else:
        model.add_callback("on_train_batch_end", train_batch_end)
        model.add_callback("on_train_epoch_end", train_epoch_end)
        model.add_callback("on_model_save", model_save)
        model.add_callback("on_fit_epoch_end", fit_epoch_end)
        try:
            results = model.train(**kwargs)
        except TrainingStopped:
            _close_loaders(model)
            raise

    last = wdir / "last.pt"
    best = wdir / "best.pt" if (wdir / "best.pt").is_file() else last
    if not last.is_file():
        raise RuntimeError(f"ultralytics finished without writing {last}")
    if "," in device:  # the model was trained in the DDP children: its classes are in the checkpoint
        class_names = list(inspect_weights(best)["class_names"] or [])
    else:
        class_names = _names_list(getattr(model, "names", None))
    final = _final_metrics(results, class_names)
    if not final and state["final"]:
        final = _box_metrics(state["final"])
    start = state["start"] or (records[0].epoch if records else 1)
    return TrainResult(best, last, records, final, start, arch_name, class_names)


def _train_ddp(
    model: Any,
    kwargs: dict[str, Any],
    out_dir: Path,
    records: list[EpochRecord],
    state: dict[str, Any],
    on_epoch_end: Callable[[EpochRecord], None] | None,
    should_stop: Callable[[], bool] | None,
    on_checkpoint: Callable[[Path], None] | None,
) -> Any:
    """Several GPUs: ultralytics runs DDP children; their events reach the job through `ddp_relay`."""
    import subprocess

    from services.detector import ddp_relay

    def deliver(event: dict[str, Any]) -> None:
        if event["type"] == "epoch":
            record = EpochRecord(**event["record"])
            if state["start"] is None:
                state["start"] = record.epoch
            records.append(record)
            if on_epoch_end is not None:
                on_epoch_end(record)
        elif event["type"] == "checkpoint" and on_checkpoint is not None:
            on_checkpoint(Path(event["path"]))
        elif event["type"] == "final":
            state["final"] = event["metrics"]

    folder = out_dir / "ddp"
    relay = ddp_relay.Relay(folder, deliver, should_stop)
    for name, callback in ddp_relay.child_callbacks(folder, epoch_record).items():
        model.add_callback(name, callback)
    try:
        with relay:
            return model.train(**kwargs)
    except subprocess.CalledProcessError as exc:
        if relay.stop_requested:
            raise TrainingStopped(out_dir / "weights" / "last.pt", list(records)) from exc
        raise RuntimeError(
            f"multi-GPU training on devices {kwargs['device']} failed in its DDP processes "
            f"(exit status {exc.returncode}); the worker's log has their output"
        ) from exc


def _names_list(names: Any) -> list[str]:
    if isinstance(names, dict):
        return [str(names[k]) for k in sorted(names)]
    return [str(n) for n in names or []]


def _copy_into(src: Path, dst: Path, required: bool = True) -> None:
    if not src.is_file():
        if required:
            raise ValueError(f"checkpoint {src} does not exist")
        return
    if src.resolve() != dst.resolve():
        shutil.copyfile(src, dst)


def _close_loaders(model: Any) -> None:
    """Shut dataloader worker processes down; ultralytics only does this on a normal finish."""
    trainer = getattr(model, "trainer", None)
    for name in ("train_loader", "test_loader"):
        loader = getattr(trainer, name, None)
        if hasattr(loader, "close"):
            loader.close()
