"""`translation_quality`: how close a translated image set comes to a target domain (KID and FID), and how
far translation moved it there from its source set; sample grids of each set."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.common.contracts import JobKind, Payload, Result, register
from services.common.core.fields import Seed

QUALITY_SETS = ("translated", "target", "source")


class ImageSetRef(BaseModel):
    """Images of a registered dataset that a filter selects (the filter's terms, parsed at submit)."""

    model_config = ConfigDict(extra="forbid")

    dataset_id: str
    filter: list[str] = []


class QualityRequest(BaseModel):
    """What a measurement needs besides the sets: the sample size, the seed and the Inception version."""

    model_config = ConfigDict(extra="forbid")

    target: ImageSetRef
    max_images: int = Field(ge=2)
    seed: Seed = 0
    weights: dict[str, int]  # {"inception": version}, fixed at submit


class TranslationQualityPayload(Payload):
    translated: ImageSetRef
    source: ImageSetRef | None = None
    quality: QualityRequest


class SetDistanceOut(BaseModel):
    kid_mean: float
    kid_std: float  # over the KID subsets
    fid: float
    images: int
    reference_images: int
    kid_subsets: int
    kid_subset_size: int


class QualityReport(BaseModel):
    """KID/FID translated -> target, source -> target (with a source) and how far translation moved the set."""

    model_config = ConfigDict(extra="forbid")

    translated_to_target: SetDistanceOut
    source_to_target: SetDistanceOut | None = None
    # kid_reduction, kid_ratio, fid_reduction, fid_ratio, statement
    movement: dict[str, Any] | None = None
    grids: dict[str, str] = {}  # set -> object key (GET /v1/translation-quality/{job_id}/grids/{set}.png)
    weights: dict[str, int] = {}
    notes: list[str] = []


class TranslationQualityResult(Result, QualityReport):
    pass


KIND = register(
    JobKind(
        "translation_quality",
        "translator",
        "translator.batch",
        TranslationQualityPayload,
        TranslationQualityResult,
    )
)
