"""Request schemas shared by several job contracts (and by the routes that submit them): what an
evaluation measures, and what a detector training chooses. Each exists once, here."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.common.core.fields import GpuIndices
from services.common.detectors import ARCHITECTURES
from services.common.evaluation import SliceKind


class EvaluationSettings(BaseModel):
    """How detections are scored: identical settings make two evaluations comparable."""

    model_config = ConfigDict(extra="forbid")

    buckets: list[int | None] = Field(
        [5, 10, None], description="cumulative upper bounds on occluded vehicles"
    )
    slice_by: list[SliceKind] = Field(
        ["occlusion"],
        description="image attributes to report mAP for separately, besides the `all` slice: occlusion "
        "(cumulative buckets of occluded vehicles, from `buckets`), weather, timeofday, scene, visibility "
        "(each image's `visibility_m` in bins <100, 100-200, 200-500, 500-1000, >=1000 m)",
        examples=[["occlusion", "weather"]],
    )
    classes: list[str] | None = Field(None, description="default: every class of the dataset")
    imgsz: int | None = Field(None, ge=32, le=4096, description="default: the detector's training size")
    conf: float = Field(0.001, ge=0, le=1)
    iou: float = Field(0.6, gt=0, le=1, description="NMS IoU")
    n_boot: int = Field(200, ge=0, le=10_000, description="bootstrap resamples over images (0: no intervals)")


class DetectorTrainingSettings(BaseModel):
    """What a detector training chooses besides its data and seed (an experiment trains every arm with it)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field("yolov5s", description=", ".join(ARCHITECTURES))
    imgsz: int = Field(640, ge=32, le=4096)
    epochs: int = Field(100, ge=1, le=10_000)
    batch: int = Field(16, ge=1, le=1024)
    val_dataset_id: str | None = Field(None, description="else the dataset's own validation split")
    weights_id: str | None = Field(
        None, description="an uploaded or trained detector (POST /v1/detector-weights) to start from"
    )
    pretrained: bool = Field(
        False,
        description="start from the operator's pretrained checkpoint for `model` (POST /v1/weights/{model}, "
        "e.g. /v1/weights/yolov5s; 409 saying how to supply it when there is none). Without it or "
        "`weights_id`, training starts from random weights (from scratch)",
    )
    pretrained_version: int | None = Field(
        None,
        ge=1,
        le=2**31 - 1,
        description="with `pretrained`: that version of the checkpoint (GET /v1/weights); default: the "
        "newest, recorded here at submit so the job always loads the same file",
    )
    hyperparameters: dict[str, Any] = Field(default_factory=dict, description="ultralytics train arguments")
    devices: GpuIndices | None = Field(
        None,
        description="GPU indices to train on, e.g. [0, 1]: two or more train with DistributedDataParallel "
        "(batch is split across them and must be a multiple of their number); default: the worker's "
        "device (SIM2REAL_DEVICE: the first GPU when there is one, else the CPU). A list naming GPUs the "
        "worker does not have fails the job with the worker's GPU count",
    )

    @model_validator(mode="after")
    def _batch_splits_across_devices(self) -> DetectorTrainingSettings:
        if self.devices and self.batch % len(self.devices):
            raise ValueError(
                f"batch ({self.batch}) must be a multiple of the {len(self.devices)} GPUs in devices, "
                "as DDP splits it evenly; change batch or devices"
            )
        return self
