"""Robustness curves: a detector's mAP50 against the intensity of a rendered weather."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response
from sqlalchemy import func, select

from services.api.deletions import delete_row_then_objects
from services.api.deps import CeleryDep, SessionDep, SettingsDep, StoreDep
from services.api.lookups import get_or_404, paginate
from services.api.robustness_requests import resolve_levels
from services.api.routes.evaluations import check_evaluation_settings
from services.api.schemas import JobOut, Offset
from services.api.submit import submit
from services.common.contracts.robustness import RobustnessCreate, RobustnessPayload
from services.common.core import keys
from services.common.core.db.models import DatasetImage, DetectorModel, Job, RobustnessCurve
from services.common.datasets import store as ds

router = APIRouter(tags=["robustness"])


@router.post("/v1/robustness", status_code=202, response_model=JobOut)
def create_robustness(
    body: RobustnessCreate, session: SessionDep, celery: CeleryDep, settings: SettingsDep, store: StoreDep
):
    """A robustness curve, as a job: the evaluation dataset is rendered at each level of the weather's
    intensity parameter (fog: `visibility_m`, rain and snow: `intensity_mm_h`; `null` = the unmodified
    set) with the physics method, using each image's depth map when the dataset has one, by child
    `translate_dataset` jobs; each rendered set is evaluated by a child `evaluate` job with the request's
    settings. Rendered sets are cached by (dataset, weather, level, seed): a later curve reuses them.
    The curve is at GET /v1/robustness/{job id} when the job succeeds (its result names it)."""
    check_evaluation_settings(session, body, body.dataset_id)
    get_or_404(session, DetectorModel, body.detector_model_id, "detector model", field="detector_model_id")
    parameter, renders = resolve_levels(session, settings, store, body)
    with_pixels = session.scalar(
        select(func.count()).select_from(
            ds.select_images(body.dataset_id, None).where(DatasetImage.image_key.is_not(None)).subquery()
        )
    )
    if not with_pixels:
        raise HTTPException(
            422, f"dataset_id: dataset {body.dataset_id} has no images with pixels to render and detect on"
        )
    payload = RobustnessPayload(**body.model_dump(), parameter=parameter, renders=renders)
    return submit(session, celery, settings, "robustness", payload)


def _curve_out(c: RobustnessCurve) -> dict[str, Any]:
    return {
        "id": c.id,
        "detector_model_id": c.detector_model_id,
        "dataset_id": c.dataset_id,
        "weather": c.weather,
        "parameter": c.parameter,
        "levels": c.levels,
        "settings": c.settings,
        "points": c.points,
        "job_id": c.job_id,
        "created_at": c.created_at,
    }


@router.get("/v1/robustness")
def list_robustness(
    session: SessionDep,
    dataset_id: Annotated[str | None, Query(description="only curves on this dataset")] = None,
    detector_model_id: Annotated[str | None, Query(description="only curves of this detector")] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="page size")] = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Robustness curves, newest first (without their rows: GET /v1/robustness/{id})."""
    query = select(RobustnessCurve)
    if dataset_id:
        query = query.where(RobustnessCurve.dataset_id == dataset_id)
    if detector_model_id:
        query = query.where(RobustnessCurve.detector_model_id == detector_model_id)
    order = (RobustnessCurve.created_at.desc(), RobustnessCurve.id)
    total, rows = paginate(session, query, order, limit, offset)
    return {"items": [_curve_out(c) for c in rows], "total": total, "limit": limit, "offset": offset}


def _curve_or_status(session, robustness_id: str) -> RobustnessCurve:  # noqa: ANN001
    """The curve, or 404 / 409 saying where its job stands."""
    found = session.get(RobustnessCurve, robustness_id) if "\x00" not in robustness_id else None
    if found is not None:
        return found
    job = session.get(Job, robustness_id) if "\x00" not in robustness_id else None
    if job is None or job.kind != "robustness":
        raise HTTPException(
            404, f"no robustness curve with id {robustness_id!r}; POST /v1/robustness starts one"
        )
    hint = {
        "failed": f"its job failed: {job.error}",
        "cancelled": "its job was cancelled; POST /v1/robustness again",
        "succeeded": "it was deleted since",
    }.get(
        job.status,
        f"its job is {job.status} ({job.progress:.0%}): {job.message or ''}; poll GET /v1/jobs/{job.id}",
    )
    raise HTTPException(409, f"robustness curve {robustness_id} is not available: {hint}")


@router.get("/v1/robustness/{robustness_id}")
def get_robustness(robustness_id: str, session: SessionDep) -> dict[str, Any]:
    """The curve: `rows` as an evaluation's (`slice`, `class`, `ap50`, `ap50_low`, `ap50_high`, ...) with
    the `level` each was measured at (null: the unmodified set), and per level the rendered dataset
    (`cached`: made by an earlier curve) and its evaluation in `points`."""
    c = _curve_or_status(session, robustness_id)
    return {**_curve_out(c), "plot": f"/v1/robustness/{c.id}/plot.png", "rows": c.rows}


@router.get(
    "/v1/robustness/{robustness_id}/plot.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def robustness_plot(robustness_id: str, session: SessionDep, store: StoreDep) -> Response:
    """mAP50 against level, one line per slice, with the bootstrap intervals as bands."""
    c = _curve_or_status(session, robustness_id)
    return Response(store.get_bytes(keys.robustness_plot(c.id)), media_type="image/png")


@router.delete("/v1/robustness/{robustness_id}", status_code=204)
def delete_robustness(robustness_id: str, session: SessionDep, store: StoreDep) -> Response:
    """The curve and its plot; its rendered datasets and evaluations are things of their own and stay."""
    c = get_or_404(session, RobustnessCurve, robustness_id, "robustness curve")
    delete_row_then_objects(session, store, c, [keys.robustness_prefix(robustness_id)])
    return Response(status_code=204)
