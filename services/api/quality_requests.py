"""A request's image sets and Inception weights for a quality measurement -> the payload's parts.

Shared by `POST /v1/translation-quality` and a dataset translation that asks for the metric. Every refusal
names the field by its full path (`translated.filter`, `quality.target.dataset_id`) and leaves nothing.
Like a translation request, the sets are checked first (404/422), then the operator weights (409)."""

from __future__ import annotations

from fastapi import HTTPException
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.api.lookups import get_or_404
from services.common.contracts.translation_quality import ImageSetRef, QualityRequest
from services.common.core.db.models import Dataset, DatasetImage
from services.common.core.fields import Seed
from services.common.core.weights import current_versions, missing_weights
from services.common.datasets import store as ds
from services.common.datasets.filters import parse_filter

MAX_QUALITY_IMAGES = 10_000


class ImageSetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset_id: str = Field(min_length=1, max_length=64, description="a dataset (GET /v1/datasets)")
    filter: str | list[str] | None = Field(
        None, description="as for GET /v1/datasets/{id}/images, e.g. 'weather=foggy;timeofday=daytime'"
    )


class QualityTargetIn(BaseModel):
    """A dataset translation's request for the metric: the target set and the sample size."""

    model_config = ConfigDict(extra="forbid")

    target: ImageSetIn
    max_images: int = Field(500, ge=2, le=MAX_QUALITY_IMAGES, description="images drawn per set, at most")
    seed: Seed = 0


def image_set(session: Session, spec: ImageSetIn, where: str) -> ImageSetRef:
    """The set as the payload names it (filter terms parsed); 404/422 naming `where`."""
    get_or_404(session, Dataset, spec.dataset_id, "dataset", f"{where}.dataset_id")
    try:
        flt = parse_filter(spec.filter)
    except ValueError as exc:
        raise HTTPException(422, f"{where}.filter: {exc}") from exc
    count = session.scalar(
        select(func.count()).select_from(
            ds.select_images(spec.dataset_id, flt).where(DatasetImage.image_key.is_not(None)).subquery()
        )
    )
    if (count or 0) < 2:
        raise HTTPException(
            422,
            f"{where}: the filter {spec.filter!r} selects {count or 0} images with pixels in dataset "
            f"{spec.dataset_id}; KID and FID need at least 2: widen {where}.filter",
        )
    return ImageSetRef(dataset_id=spec.dataset_id, filter=[str(t) for t in flt.terms])


def inception_weights(session: Session) -> dict[str, int]:
    """{"inception": its newest version}; 409 with instructions when the operator has supplied none."""
    missing = missing_weights(session, ("inception",))
    if missing:
        raise HTTPException(409, missing)
    return current_versions(session, ("inception",))


def quality_request(
    session: Session, target: ImageSetIn, max_images: int, seed: int, target_field: str
) -> QualityRequest:
    """The target set (404/422 naming `target_field`), then the weights (409)."""
    ref = image_set(session, target, target_field)
    return QualityRequest(target=ref, max_images=max_images, seed=seed, weights=inception_weights(session))
