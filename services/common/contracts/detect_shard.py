"""`detect_shard`: a detector over a list of a dataset's images, for an evaluation (its parent), whose
predictions are stored as arrays at `output_key`. The evaluation splits its images into shards of
SIM2REAL_SHARD_IMAGES and merges their arrays in its own image order."""

from __future__ import annotations

from pydantic import Field

from services.common.contracts import JobKind, Payload, Result, register


class DetectShardPayload(Payload):
    model_id: str
    conf: float = Field(ge=0, le=1)
    iou: float = Field(gt=0, le=1)
    imgsz: int | None = Field(None, ge=32, le=4096)
    dataset_id: str
    image_ids: list[str] = Field(min_length=1)
    output_key: str
    batch: int = Field(8, ge=1, le=1024)
    shard: int = Field(0, ge=0)
    shards: int = Field(1, ge=1)


class DatasetPredictions(Result):
    predictions_key: str
    images: int
    predictions: int
    worker: str  # the worker process that finished the shard


KIND = register(
    JobKind("detect_shard", "detector", "detector.batch", DetectShardPayload, DatasetPredictions, shard=True)
)
