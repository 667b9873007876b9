"""`detect`: a detector on one uploaded image (interactive), or on every image of a dataset (a split of
it) for an evaluation, whose predictions are stored as arrays at `output_key`.

One kind, two shapes: exactly one of `image_key` (with `annotate`) or `dataset_id` (with `split`,
`output_key`, `batch`) is given; the result has the matching shape.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, model_validator

from services.common.contracts import JobKind, Payload, Result, register


class DetectPayload(Payload):
    model_id: str
    conf: float = Field(ge=0, le=1)
    iou: float = Field(gt=0, le=1)
    imgsz: int | None = Field(None, ge=32, le=4096)
    # One uploaded image:
    image_key: str | None = None
    annotate: bool = False
    # A dataset, for an evaluation:
    dataset_id: str | None = None
    split: Literal["train", "val"] | None = None
    output_key: str | None = None
    batch: int = Field(8, ge=1, le=1024)

    @property
    def on_dataset(self) -> bool:
        return self.dataset_id is not None

    @model_validator(mode="after")
    def _one_shape(self) -> DetectPayload:
        if (self.image_key is None) == (self.dataset_id is None):
            raise ValueError("give exactly one of image_key (one image) or dataset_id (a dataset)")
        if self.dataset_id is not None:
            if not self.output_key:
                raise ValueError("a detection on a dataset needs output_key (where its arrays go)")
            if self.annotate:
                raise ValueError("annotate is for one image, not a dataset")
        elif self.split is not None or self.output_key is not None:
            raise ValueError("split and output_key are for a dataset, not one image")
        return self


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


class DatasetPredictions(Result):
    predictions_key: str
    images: int
    predictions: int


class DetectResult(RootModel[ImageDetections | DatasetPredictions]):
    root: ImageDetections | DatasetPredictions


KIND = register(JobKind("detect", "detector", "detector", DetectPayload, DetectResult))
