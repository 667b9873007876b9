"""`translate_dataset`: a new dataset whose images are translated and whose labels are carried over."""

from __future__ import annotations

from typing import Any

from services.common.contracts import JobKind, Payload, Result, register
from services.common.contracts.translation_quality import QualityReport, QualityRequest
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


class TranslateDatasetResult(Result):
    dataset_id: str
    images: int
    label_audit: dict[str, Any] | None = None  # the summary, as in the dataset's stats.label_audit
    quality: QualityReport | None = None


KIND = register(
    JobKind("translate_dataset", "translator", "translator", TranslateDatasetPayload, TranslateDatasetResult)
)
