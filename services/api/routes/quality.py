"""Measuring translations: translation quality (KID/FID against a target set) and the label-safety audit."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from services.api.deps import CeleryDep, SessionDep, SettingsDep, StoreDep
from services.api.lookups import get_or_404
from services.api.quality_requests import MAX_QUALITY_IMAGES, ImageSetIn, image_set, quality_request
from services.api.schemas import JobOut
from services.api.submit import submit
from services.common.contracts.audit_dataset import AuditDatasetPayload
from services.common.contracts.translation_quality import TranslationQualityPayload
from services.common.core.db.models import Dataset, Job

router = APIRouter(tags=["quality"])

# The jobs whose result may hold quality grids.
GRID_KINDS = ("translation_quality", "translate_dataset")


class TranslationQualityCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    translated: ImageSetIn = Field(description="the translated images, e.g. a translated dataset")
    target: ImageSetIn = Field(description="real images of the target domain")
    source: ImageSetIn | None = Field(
        None, description="the images before translation: the result then says how far translation moved them"
    )
    max_images: int = Field(500, ge=2, le=MAX_QUALITY_IMAGES, description="images drawn per set, at most")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="draws the images when a set holds more")


@router.post("/v1/translation-quality", status_code=202, response_model=JobOut)
def create_translation_quality(
    body: TranslationQualityCreate, session: SessionDep, celery: CeleryDep, settings: SettingsDep
):
    """KID (mean and std over subsets) and FID from the translated set to the target set, the same from
    the source set when given (and how far translation moved the set toward the target), and sample grids.
    Needs the operator's `inception` weights: 409 with instructions without them."""
    translated = image_set(session, body.translated, "translated")
    source = image_set(session, body.source, "source") if body.source is not None else None
    quality = quality_request(session, body.target, body.max_images, body.seed, "target")
    payload = TranslationQualityPayload(translated=translated, source=source, quality=quality)
    return submit(session, celery, settings, "translation_quality", payload)


@router.get(
    "/v1/translation-quality/{job_id}/grids/{which}.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def quality_grid(
    job_id: Annotated[str, Path(description="a translation_quality or translate_dataset job's id")],
    which: Annotated[Literal["translated", "target", "source"], Path(description="which measured set")],
    session: SessionDep,
    store: StoreDep,
) -> Response:
    """A sample grid of one measured set, from a translation-quality job or a dataset translation that
    asked for the metric."""
    job = get_or_404(session, Job, job_id, "job")
    result = job.result or {}
    grids = (
        (result.get("quality") or {}).get("grids") if job.kind == "translate_dataset" else result.get("grids")
    )
    if job.kind not in GRID_KINDS or not grids or which not in grids:
        raise HTTPException(
            404,
            f"job {job_id} has no {which} grid: grids come from a finished translation_quality job (or a "
            "dataset translation with quality), and the source grid only when a source set was given",
        )
    return Response(store.get_bytes(grids[which]), media_type="image/png")


@router.post("/v1/datasets/{dataset_id}/audit", status_code=202, response_model=JobOut)
def audit_dataset(dataset_id: str, session: SessionDep, celery: CeleryDep, settings: SettingsDep):
    """The label-safety audit of a translated dataset against its source: per box whether the object
    survived, per image object-like structure that appeared outside every box; stored per box and image
    (filter `min_box_fidelity>=0.5`) with a summary in the dataset's `stats.label_audit`."""
    dataset = get_or_404(session, Dataset, dataset_id, "dataset")
    source_id = (dataset.lineage or {}).get("source_dataset_id")
    if not source_id or "method" not in (dataset.lineage or {}):
        raise HTTPException(
            422,
            f"dataset_id: dataset {dataset_id} is not a translated dataset (its lineage names no translation "
            "of a source dataset); the audit compares a translation with its source: give a dataset made "
            "by POST /v1/datasets/{id}/translations",
        )
    if session.get(Dataset, source_id) is None:
        raise HTTPException(
            409,
            f"dataset_id: the source dataset {source_id} of dataset {dataset_id} was deleted, so there is "
            "nothing to compare the translation with",
        )
    payload = AuditDatasetPayload(dataset_id=dataset_id, source_dataset_id=source_id)
    return submit(session, celery, settings, "audit_dataset", payload)
