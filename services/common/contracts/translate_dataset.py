"""`translate_dataset`: a new dataset whose images are translated and whose labels are carried over.

A parent (it parks while its shards run) splits the selected images into `translate_shard` children of
SIM2REAL_SHARD_IMAGES images each, then records the dataset and its index once.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from services.common.contracts import JobKind, Payload, Result, register
from services.common.methods.translation import Translation


class TranslateDatasetPayload(Payload):
    source_dataset_id: str
    filter: list[str] = []
    translation: Translation
    name: str
    images: int  # selected at submit, for progress and ETA
    strict: bool = False  # an image that cannot be translated fails the job instead of being skipped


class TranslateDatasetResult(Result):
    dataset_id: str
    images: int
    shards: int = 0


class TranslateShardPayload(Payload):
    """One shard: these images of the source translated into the parent's dataset (its keys)."""

    source_dataset_id: str
    dataset_id: str  # the dataset the parent records (its job id): image and label keys derive from it
    translation: Translation
    image_ids: list[str] = Field(min_length=1)
    shard: int = Field(ge=0)
    shards: int = Field(ge=1)  # how many the parent planned: it re-plans until it sees them all
    strict: bool = False
    # Parameters the parent estimated once for the whole selection (per sequence, e.g. a fog's
    # atmospheric light), so splitting into shards never changes a result: the shard adds them to the
    # translation's `params` (over the request's). Empty while no method estimates any.
    shared_params: dict[str, Any] = Field(default_factory=dict)


class TranslateShardResult(Result):
    images: int  # translated (by this or an earlier attempt)
    skipped: list[str] = []  # image ids that could not be read (each one a warning)
    worker: str  # the worker process that finished the shard


KIND = register(
    JobKind(
        "translate_dataset",
        "translator",
        "translator.batch",
        TranslateDatasetPayload,
        TranslateDatasetResult,
        orchestrator=True,
    )
)
SHARD = register(
    JobKind(
        "translate_shard",
        "translator",
        "translator.batch",
        TranslateShardPayload,
        TranslateShardResult,
        shard=True,
    )
)
