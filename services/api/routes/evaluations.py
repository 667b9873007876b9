"""Evaluations (mAP@0.5 by slice and class, with bootstrap intervals), comparisons, and experiments."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from services.api.deps import CeleryDep, SessionDep, SettingsDep, StoreDep
from services.api.lookups import get_or_404
from services.api.schemas import JobOut
from services.api.submit import submit
from services.common.core import keys
from services.common.core.db.models import (
    Dataset,
    DetectorModel,
    Evaluation,
    EvaluationMetric,
    Experiment,
    Job,
    new_id,
)
from services.common.core.paths import PathNotAllowed, parse_data_uri
from services.common.runtime import lifecycle as jobs
from services.evaluator.slices import SLICE_KINDS, validate_buckets

router = APIRouter(tags=["evaluations"])

SliceKind = Literal["occlusion", "weather", "timeofday", "scene"]


class EvaluationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    buckets: list[int | None] = Field(
        [5, 10, None], description="cumulative upper bounds on occluded vehicles"
    )
    slice_by: list[SliceKind] = ["occlusion"]
    classes: list[str] | None = Field(None, description="default: every class of the dataset")
    imgsz: int | None = Field(None, ge=32, le=4096, description="default: the detector's training size")
    conf: float = Field(0.001, ge=0, le=1)
    iou: float = Field(0.6, gt=0, le=1, description="NMS IoU")
    n_boot: int = Field(200, ge=0, le=10_000, description="bootstrap resamples over images (0: no intervals)")


class EvaluationCreate(EvaluationSettings):
    dataset_id: str
    detector_model_id: str | None = None
    predictions_uri: str | None = Field(None, description="folder of YOLO `class cx cy w h conf` .txt files")
    split: Literal["train", "val"] | None = Field(None, description="default: every image of the dataset")


class ExperimentArm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    train_dataset_id: str


class ExperimentModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = "yolov5s"
    imgsz: int = Field(640, ge=32, le=4096)
    epochs: int = Field(100, ge=1, le=10_000)
    batch: int = Field(16, ge=1, le=1024)
    val_dataset_id: str | None = None
    weights_id: str | None = None
    hyperparameters: dict[str, Any] = Field(default_factory=dict)


class ExperimentCreate(EvaluationSettings):
    name: str = Field(min_length=1, max_length=255)
    arms: list[ExperimentArm] = Field(min_length=1)
    eval_dataset_id: str
    model: ExperimentModel = Field(default_factory=ExperimentModel)
    seeds: list[int] = Field([0, 1, 2], min_length=1)


def _check_settings(session, body: EvaluationSettings, dataset_id: str, what: str = "dataset_id") -> Dataset:  # noqa: ANN001
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise HTTPException(404, f"{what}: no dataset with id {dataset_id!r}")
    try:
        validate_buckets(body.buckets)
    except ValueError as exc:
        raise HTTPException(422, f"buckets: {exc}") from exc
    unknown = [c for c in body.classes or [] if c not in dataset.class_names]
    if unknown:
        raise HTTPException(
            422, f"classes: {unknown} are not classes of dataset {dataset_id} ({dataset.class_names})"
        )
    assert set(body.slice_by) <= set(SLICE_KINDS)
    return dataset


def _settings(body: EvaluationSettings) -> dict[str, Any]:
    return body.model_dump(include=set(EvaluationSettings.model_fields))


@router.post("/v1/evaluations", status_code=202, response_model=JobOut)
def create_evaluation(body: EvaluationCreate, session: SessionDep, celery: CeleryDep, settings: SettingsDep):
    _check_settings(session, body, body.dataset_id)
    if bool(body.detector_model_id) == bool(body.predictions_uri):
        raise HTTPException(422, "give exactly one of detector_model_id or predictions_uri")
    if body.detector_model_id and session.get(DetectorModel, body.detector_model_id) is None:
        raise HTTPException(404, f"no detector model with id {body.detector_model_id!r}")
    if body.predictions_uri:
        try:
            parse_data_uri(body.predictions_uri, settings.allowed_data_roots, settings.allowed_data_buckets)
        except PathNotAllowed as exc:
            raise HTTPException(403, str(exc)) from exc
        except (FileNotFoundError, ValueError) as exc:
            raise HTTPException(422, f"predictions_uri: {exc}") from exc
    params = {
        **_settings(body),
        "dataset_id": body.dataset_id,
        "detector_model_id": body.detector_model_id,
        "predictions_uri": body.predictions_uri,
        "split": body.split,
    }
    return submit(session, celery, settings, "evaluate", params)


def _evaluation_or_404(session, evaluation_id: str) -> Evaluation:  # noqa: ANN001
    evaluation = session.get(Evaluation, evaluation_id)
    if evaluation is None:
        raise HTTPException(
            404, f"no evaluation with id {evaluation_id!r} (it appears when its job succeeds)"
        )
    return evaluation


def _rows(session, evaluation_id: str) -> list[dict[str, Any]]:  # noqa: ANN001
    metrics = session.scalars(
        select(EvaluationMetric)
        .where(EvaluationMetric.evaluation_id == evaluation_id)
        .order_by(EvaluationMetric.id)
    )
    return [
        {
            "slice": m.slice,
            "class": m.class_name,
            "ap50": m.ap50,
            "ap50_95": m.ap50_95,
            "precision": m.precision,
            "recall": m.recall,
            "images": m.images,
            "instances": m.instances,
            "ap50_low": m.ap50_low,
            "ap50_high": m.ap50_high,
        }
        for m in metrics
    ]


@router.get("/v1/evaluations/compare")
def compare(
    session: SessionDep,
    store: StoreDep,
    a: Annotated[str, Query(description="evaluation id of the reference")],
    b: Annotated[str, Query(description="evaluation id compared with it")],
    n_boot: Annotated[int, Query(ge=1, le=10_000)] = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """mAP50(b) − mAP50(a) per slice, with a paired bootstrap interval over the same resampled images."""
    ea, eb = _evaluation_or_404(session, a), _evaluation_or_404(session, b)
    if ea.dataset_id != eb.dataset_id:
        raise HTTPException(
            422,
            f"evaluations {a} and {b} are on different datasets; a paired comparison needs the same images",
        )
    keys = ("buckets", "slice_by", "classes", "split")
    differing = [k for k in keys if ea.settings.get(k) != eb.settings.get(k)]
    if differing:
        raise HTTPException(422, f"evaluations differ in {differing}; evaluate both with the same settings")

    def run() -> list[dict[str, Any]]:
        from services.evaluator.bootstrap import paired_difference
        from services.evaluator.evaluate import evaluate
        from services.evaluator.persist import load_detection_set

        s = ea.settings
        ev_a = evaluate(load_detection_set(store, ea.matches_key), s["buckets"], s["slice_by"], n_boot=0)
        ev_b = evaluate(load_detection_set(store, eb.matches_key), s["buckets"], s["slice_by"], n_boot=0)
        return paired_difference(ev_a, ev_b, n_boot=n_boot, seed=seed)

    return {"a": a, "b": b, "dataset_id": ea.dataset_id, "n_boot": n_boot, "rows": run()}


@router.get("/v1/evaluations/{evaluation_id}")
def get_evaluation(evaluation_id: str, session: SessionDep) -> dict[str, Any]:
    ev = _evaluation_or_404(session, evaluation_id)
    return {
        "id": ev.id,
        "dataset_id": ev.dataset_id,
        "detector_model_id": ev.detector_model_id,
        "predictions_uri": ev.predictions_uri,
        "settings": ev.settings,
        "job_id": ev.job_id,
        "plot": f"/v1/evaluations/{ev.id}/plot.png",
        "rows": _rows(session, ev.id),
    }


@router.get(
    "/v1/evaluations/{evaluation_id}/plot.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def evaluation_plot(evaluation_id: str, session: SessionDep, store: StoreDep) -> Response:
    _evaluation_or_404(session, evaluation_id)
    return Response(store.get_bytes(keys.evaluation_file(evaluation_id, "plot.png")), media_type="image/png")


@router.post("/v1/experiments", status_code=202, response_model=JobOut)
def create_experiment(body: ExperimentCreate, session: SessionDep, celery: CeleryDep, settings: SettingsDep):
    """Train every arm × seed, evaluate each on the evaluation set with identical settings, tabulate."""
    from services.api.routes.detectors import DetectorTrainingCreate, validate_training

    eval_ds = _check_settings(session, body, body.eval_dataset_id, "eval_dataset_id")
    names = [a.name for a in body.arms]
    if len(set(names)) != len(names):
        raise HTTPException(422, "arms: names must be unique")
    if len(set(body.seeds)) != len(body.seeds):
        raise HTTPException(422, "seeds: must be unique")
    for arm in body.arms:
        if body.eval_dataset_id in (arm.train_dataset_id, body.model.val_dataset_id):
            raise HTTPException(
                422,
                f"arm {arm.name!r}: the evaluation dataset must not be used for training or "
                "checkpoint selection",
            )
        ds = session.get(Dataset, arm.train_dataset_id)
        if ds is not None and list(ds.class_names) != list(eval_ds.class_names):
            raise HTTPException(
                422,
                f"arm {arm.name!r}: classes {ds.class_names} differ from the evaluation "
                f"dataset's {eval_ds.class_names}",
            )
        model = body.model.model_dump()
        validate_training(session, DetectorTrainingCreate(dataset_id=arm.train_dataset_id, **model))
    params = body.model_dump()
    params["buckets"] = body.buckets
    job_id = new_id()
    experiment = Experiment(
        id=job_id,
        name=body.name,
        eval_dataset_id=body.eval_dataset_id,
        arms=[a.model_dump() for a in body.arms],
        seeds=body.seeds,
        settings={**_settings(body), "model": body.model.model_dump()},
        status="queued",
        job_id=None,
    )
    session.add(experiment)
    session.flush()
    job = jobs.create_job(session, "experiment", params, max_attempts=settings.max_attempts, job_id=job_id)
    experiment.job_id = job.id
    session.commit()
    from services.common.core.queue import send_job

    try:
        send_job(celery, "experiment", job.id)
    except Exception as exc:
        session.delete(experiment)
        session.delete(job)
        session.commit()
        raise HTTPException(
            503, f"the job queue is unreachable ({type(exc).__name__}); nothing was stored"
        ) from exc
    session.refresh(job)
    return job


@router.get("/v1/experiments/{experiment_id}")
def get_experiment(experiment_id: str, session: SessionDep) -> dict[str, Any]:
    exp = session.get(Experiment, experiment_id)
    if exp is None:
        raise HTTPException(404, f"no experiment with id {experiment_id!r}")
    job = get_or_404(session, Job, exp.job_id, "job") if exp.job_id else None
    status = (
        job.status if job is not None and job.status in ("failed", "cancelled", "succeeded") else exp.status
    )
    return {
        "id": exp.id,
        "name": exp.name,
        "status": status,
        "progress": job.progress if job else None,
        "message": job.message if job else None,
        "error": job.error if job else None,
        "arms": exp.arms,
        "seeds": exp.seeds,
        "eval_dataset_id": exp.eval_dataset_id,
        "settings": exp.settings,
        "runs": exp.runs,
        "table": exp.table,
        "plot": f"/v1/experiments/{exp.id}/plot.png" if exp.table else None,
    }


@router.get(
    "/v1/experiments/{experiment_id}/plot.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def experiment_plot(experiment_id: str, session: SessionDep, store: StoreDep) -> Response:
    exp = session.get(Experiment, experiment_id)
    if exp is None or not exp.table:
        raise HTTPException(404 if exp is None else 409, "no experiment table yet")
    return Response(store.get_bytes(keys.experiment_file(experiment_id, "plot.png")), media_type="image/png")
