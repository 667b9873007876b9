"""`compose_dataset`: the reference study's training sets (baseline, translated) composed frame by frame."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from services.common.contracts import JobKind, Payload, Result, register
from services.common.core.fields import Seed
from services.common.methods.translation import Translation


class ComposeDatasetPayload(Payload):
    name: str
    composition: Literal["baseline", "translated"]
    kitti_dataset_id: str
    vkitti_dataset_id: str
    camera: Literal["Camera_0", "Camera_1"] = "Camera_0"
    # translated composition: how each weather slot is made from the clone frame
    translations: dict[str, Translation] = Field(default_factory=dict)
    val_fraction: float = Field(0.2, ge=0, lt=1)
    seed: Seed = 0
    strict: bool = False  # a missing slot, a frame without pixels or an empty split fails the job


class ComposeDatasetResult(Result):
    dataset_id: str
    images: int
    origins: dict[str, int]


KIND = register(
    JobKind("compose_dataset", "translator", "translator.batch", ComposeDatasetPayload, ComposeDatasetResult)
)
