"""`compose_dataset`: the reference study's training sets (baseline, translated) composed frame by frame.

A parent (it parks while its shards run): `compose_shard` children copy or translate SIM2REAL_SHARD_IMAGES
frames each; the parent records the dataset once."""

from __future__ import annotations

from typing import Any, Literal

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


class ComposeShardPayload(Payload):
    """Frames `start` to `stop` (exclusive) of the composition the parent's request makes (it is
    deterministic, so every shard computes the same one), written into the parent's dataset."""

    request: ComposeDatasetPayload
    dataset_id: str
    start: int = Field(ge=0)
    stop: int = Field(ge=1)
    shard: int = Field(ge=0)
    shards: int = Field(ge=1)
    strict: bool = False
    # weather -> sequence key -> params the parent fixed once (fog's airlight), so every shard renders a
    # clone scene's frames alike.
    sequence_params: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)


class ComposeShardResult(Result):
    images: int
    skipped: list[str] = []  # image ids without pixels or that could not be read (each one a warning)
    worker: str  # the worker process that finished the shard
    depth_sources: dict[str, dict[str, int]] = {}  # weather -> depth source -> translated frames


KIND = register(
    JobKind(
        "compose_dataset",
        "translator",
        "translator.batch",
        ComposeDatasetPayload,
        ComposeDatasetResult,
        orchestrator=True,
    )
)
SHARD = register(
    JobKind(
        "compose_shard", "translator", "translator.batch", ComposeShardPayload, ComposeShardResult, shard=True
    )
)
