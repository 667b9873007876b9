"""`ingest_dataset`: read a dataset in its original layout, store it in canonical form, index it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from services.common.contracts import JobKind, Payload, Result, register
from services.common.datasets.readers import READERS

DatasetFormat = Literal[tuple(READERS)]  # type: ignore[valid-type]


class IngestDatasetPayload(Payload):
    name: str = Field(min_length=1, max_length=255)
    format: DatasetFormat
    uri: str
    # `reader` (format options), `taxonomy`, `split`: checked by the route, read by the job.
    options: dict[str, Any] = Field(default_factory=dict)
    strict: bool = False  # a data problem (a skipped file, an empty split) fails the job


class IngestDatasetResult(Result):
    dataset_id: str
    images: int
    images_with_pixels: int
    boxes: int
    skipped: dict[str, int]


KIND = register(
    JobKind("ingest_dataset", "evaluator", "evaluator", IngestDatasetPayload, IngestDatasetResult)
)
