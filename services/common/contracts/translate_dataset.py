"""`translate_dataset`: a new dataset whose images are translated and whose labels are carried over.

A parent (it parks while its shards run) splits the selected images into `translate_shard` children of
SIM2REAL_SHARD_IMAGES images each, then records the dataset and its index once.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from services.common.contracts import JobKind, Payload, Result, register
from services.common.contracts.translation_quality import QualityReport, QualityRequest
from services.common.datasets.image_format import DEFAULT_JPEG_QUALITY, ImageFormat
from services.common.methods.translation import Translation


class TranslateDatasetPayload(Payload):
    source_dataset_id: str
    filter: list[str] = []
    translation: Translation
    name: str
    images: int  # selected at submit, for progress and ETA
    strict: bool = False  # an image that cannot be translated fails the job instead of being skipped
    # Params fixed per sequence (sequence key -> params, e.g. fog's airlight) by whoever split the work, so
    # every part renders a sequence alike; sequences missing here are estimated by the job itself.
    sequence_params: dict[str, dict[str, Any]] = {}
    quality: QualityRequest | None = None  # KID/FID of the translation against a target set, when asked
    # How the translated images are stored (resolved at submit; the default follows the source's images).
    image_format: ImageFormat = "png"
    jpeg_quality: int = Field(DEFAULT_JPEG_QUALITY, ge=1, le=100)


class TranslateDatasetResult(Result):
    dataset_id: str
    images: int
    label_audit: dict[str, Any] | None = None  # the summary, as in the dataset's stats.label_audit
    quality: QualityReport | None = None
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
    # Parameters the parent fixed once for the whole selection, so splitting into shards never changes a
    # result: `shared_params` join the translation's `params` (over the request's); `sequence_params` are
    # per sequence (sequence key -> params, e.g. a fog's atmospheric light estimated from its first frame).
    shared_params: dict[str, Any] = Field(default_factory=dict)
    sequence_params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    image_format: ImageFormat = "png"
    jpeg_quality: int = Field(DEFAULT_JPEG_QUALITY, ge=1, le=100)


class TranslateShardResult(Result):
    images: int  # translated (by this or an earlier attempt)
    skipped: list[str] = []  # image ids that could not be read (each one a warning)
    worker: str  # the worker process that finished the shard
    # The label-safety audit of each image this attempt translated (image id -> its stored form).
    audits: dict[str, dict[str, Any]] = {}
    depth_sources: dict[str, int] = {}  # where the translated frames' depth came from -> frames


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
