"""`translate_dataset`: a new dataset whose images are translated and whose labels are carried over."""

from __future__ import annotations

from pydantic import Field

from services.common.contracts import JobKind, Payload, Result, register
from services.common.datasets.image_format import DEFAULT_JPEG_QUALITY, ImageFormat
from services.common.methods.translation import Translation


class TranslateDatasetPayload(Payload):
    source_dataset_id: str
    filter: list[str] = []
    translation: Translation
    name: str
    images: int  # selected at submit, for progress and ETA
    strict: bool = False  # an image that cannot be translated fails the job instead of being skipped
    # How the translated images are stored (resolved at submit; the default follows the source's images).
    image_format: ImageFormat = "png"
    jpeg_quality: int = Field(DEFAULT_JPEG_QUALITY, ge=1, le=100)


class TranslateDatasetResult(Result):
    dataset_id: str
    images: int


KIND = register(
    JobKind("translate_dataset", "translator", "translator", TranslateDatasetPayload, TranslateDatasetResult)
)
