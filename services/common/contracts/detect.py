"""`detect`: a detector on one uploaded image (interactive). A detector over a dataset, for an
evaluation, is `detect_shard` (batch)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from services.common.contracts import JobKind, Payload, Result, register


class DetectPayload(Payload):
    model_id: str
    conf: float = Field(ge=0, le=1)
    iou: float = Field(gt=0, le=1)
    imgsz: int | None = Field(None, ge=32, le=4096)
    image_key: str
    annotate: bool = False


# The same fields as services/detector/inference.Detection on purpose: the API and its clients read this one
# without torch, and the worker keeps a plain dataclass per box (millions of boxes per dataset).
class Detection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cls: int
    name: str
    conf: float
    x1: float
    y1: float
    x2: float
    y2: float


class ImageDetections(Result):
    detections: list[Detection]
    width: int
    height: int
    annotated_key: str | None = None  # with annotate: the image with its boxes drawn


KIND = register(JobKind("detect", "detector", "detector.interactive", DetectPayload, ImageDetections))
