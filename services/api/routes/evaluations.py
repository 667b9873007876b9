"""Evaluations (mAP@0.5 by slice and class, with bootstrap intervals), comparisons, and experiments."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.api.data_locations import data_location
from services.api.deletions import delete_row_then_objects, experiments_naming, jobs_using, refuse_if_used
from services.api.deps import CeleryDep, SessionDep, SettingsDep, StoreDep
from services.api.lookups import get_or_404, paginate
from services.api.robustness_requests import resolve_levels
from services.api.routes.detectors import validate_training
from services.api.schemas import JobOut, Offset
from services.api.submit import submit
from services.common import power
from services.common.contracts.common import EvaluationSettings
from services.common.contracts.compare_evaluations import CompareEvaluationsPayload
from services.common.contracts.evaluate import EvaluatePayload, EvaluationCreate
from services.common.contracts.experiment import ExperimentJobPayload, ExperimentPayload
from services.common.contracts.train_detector import TrainDetectorPayload
from services.common.core import keys
from services.common.core.db.models import (
    Dataset,
    DetectorModel,
    Evaluation,
    EvaluationComparison,
    EvaluationMetric,
    Experiment,
    Job,
    new_id,
)
from services.common.evaluation import PAIRED_SETTINGS, SLICE_KINDS, validate_buckets

router = APIRouter(tags=["evaluations"])

EVALUATION_HINT = " (it appears when its job succeeds)"


def check_evaluation_settings(
    session: Session, body: EvaluationSettings, dataset_id: str, what: str = "dataset_id"
) -> Dataset:
    dataset = get_or_404(session, Dataset, dataset_id, "dataset", field=what)
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
    check_evaluation_settings(session, body, body.dataset_id)
    if bool(body.detector_model_id) == bool(body.predictions_uri):
        raise HTTPException(422, "give exactly one of detector_model_id or predictions_uri")
    if body.detector_model_id:
        get_or_404(session, DetectorModel, body.detector_model_id, "detector model")
    if body.predictions_uri:
        data_location(body.predictions_uri, settings, "predictions_uri")
    payload = EvaluatePayload(**body.model_dump())
    return submit(session, celery, settings, "evaluate", payload)


def _rows(session: Session, evaluation_id: str) -> list[dict[str, Any]]:
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


def _comparison_out(c: EvaluationComparison) -> dict[str, Any]:
    return {
        "id": c.id,
        "a": c.evaluation_a_id,
        "b": c.evaluation_b_id,
        "dataset_id": c.dataset_id,
        "n_boot": c.n_boot,
        "seed": c.seed,
        "job_id": c.job_id,
        "rows": c.rows,
    }


@router.post("/v1/evaluations/compare", status_code=202, response_model=JobOut)
def create_comparison(
    body: CompareEvaluationsPayload, session: SessionDep, celery: CeleryDep, settings: SettingsDep
):
    """mAP50(b) − mAP50(a) per slice, with a paired bootstrap interval over the same resampled images, as
    a job; the comparison is at GET /v1/evaluations/comparisons/{job id} when it succeeds."""
    ea = get_or_404(session, Evaluation, body.a, "evaluation", field="a", hint=EVALUATION_HINT)
    eb = get_or_404(session, Evaluation, body.b, "evaluation", field="b", hint=EVALUATION_HINT)
    if ea.dataset_id != eb.dataset_id:
        raise HTTPException(
            422,
            f"evaluations {body.a} and {body.b} are on different datasets; a paired comparison needs the "
            "same images",
        )
    differing = [k for k in PAIRED_SETTINGS if ea.settings.get(k) != eb.settings.get(k)]
    if differing:
        raise HTTPException(422, f"evaluations differ in {differing}; evaluate both with the same settings")
    return submit(session, celery, settings, "compare_evaluations", body)


@router.get("/v1/evaluations/compare")
def latest_comparison(
    session: SessionDep,
    a: Annotated[str, Query(description="evaluation id of the reference")],
    b: Annotated[str, Query(description="evaluation id compared with it")],
    n_boot: Annotated[int | None, Query(ge=1, le=10_000, description="only comparisons with these")] = None,
    seed: Annotated[
        int | None, Query(ge=0, le=2**32 - 1, description="only comparisons with this seed")
    ] = None,
) -> dict[str, Any]:
    """The newest stored comparison of a with b (POST /v1/evaluations/compare makes one)."""
    query = select(EvaluationComparison).where(
        EvaluationComparison.evaluation_a_id == a, EvaluationComparison.evaluation_b_id == b
    )
    if n_boot is not None:
        query = query.where(EvaluationComparison.n_boot == n_boot)
    if seed is not None:
        query = query.where(EvaluationComparison.seed == seed)
    found = session.scalars(query.order_by(EvaluationComparison.created_at.desc()).limit(1)).first()
    if found is None:
        raise HTTPException(
            404,
            f"no stored comparison of evaluation {a} with {b}; comparisons run as jobs: POST "
            "/v1/evaluations/compare {a, b, n_boot, seed}, then GET /v1/evaluations/comparisons/{job id} "
            "when the job succeeds",
        )
    return _comparison_out(found)


@router.get("/v1/evaluations/comparisons/{comparison_id}")
def get_comparison(comparison_id: str, session: SessionDep) -> dict[str, Any]:
    found = session.get(EvaluationComparison, comparison_id)
    if found is not None:
        return _comparison_out(found)
    job = session.get(Job, comparison_id)
    if job is None or job.kind != "compare_evaluations":
        raise HTTPException(
            404, f"no comparison with id {comparison_id!r}; POST /v1/evaluations/compare starts one"
        )
    hint = {
        "failed": f"its job failed: {job.error}",
        "cancelled": "its job was cancelled; POST /v1/evaluations/compare again",
        "succeeded": "its evaluations were deleted since",
    }.get(job.status, f"its job is {job.status} ({job.progress:.0%}); poll GET /v1/jobs/{job.id}")
    raise HTTPException(409, f"comparison {comparison_id} is not available: {hint}")


def _evaluation_out(ev: Evaluation) -> dict[str, Any]:
    """What the list and the single evaluation both show of one."""
    return {
        "id": ev.id,
        "dataset_id": ev.dataset_id,
        "detector_model_id": ev.detector_model_id,
        "predictions_uri": ev.predictions_uri,
        "settings": ev.settings,
        "job_id": ev.job_id,
    }


@router.get("/v1/evaluations")
def list_evaluations(
    session: SessionDep,
    dataset_id: Annotated[str | None, Query(description="only evaluations on this dataset")] = None,
    detector_model_id: Annotated[str | None, Query(description="only evaluations of this detector")] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="page size")] = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Evaluations, newest first, each with its overall mAP50 (slice `all`, class `all`) and interval; the
    full table is at GET /v1/evaluations/{id}."""
    query = select(Evaluation)
    if dataset_id:
        query = query.where(Evaluation.dataset_id == dataset_id)
    if detector_model_id:
        query = query.where(Evaluation.detector_model_id == detector_model_id)
    total, rows = paginate(session, query, (Evaluation.created_at.desc(), Evaluation.id), limit, offset)
    overall = {
        m.evaluation_id: m
        for m in session.scalars(
            select(EvaluationMetric).where(
                EvaluationMetric.evaluation_id.in_([e.id for e in rows]),
                EvaluationMetric.slice == "all",
                EvaluationMetric.class_name == "all",
            )
        )
    }
    items = []
    for ev in rows:
        m = overall.get(ev.id)
        items.append(
            {
                **_evaluation_out(ev),
                "created_at": ev.created_at,
                "ap50": m.ap50 if m else None,
                "ap50_low": m.ap50_low if m else None,
                "ap50_high": m.ap50_high if m else None,
            }
        )
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get("/v1/evaluations/{evaluation_id}")
def get_evaluation(evaluation_id: str, session: SessionDep) -> dict[str, Any]:
    ev = get_or_404(session, Evaluation, evaluation_id, "evaluation", hint=EVALUATION_HINT)
    return {
        **_evaluation_out(ev),
        "plot": f"/v1/evaluations/{ev.id}/plot.png",
        "rows": _rows(session, ev.id),
    }


@router.delete("/v1/evaluations/{evaluation_id}", status_code=204)
def delete_evaluation(evaluation_id: str, session: SessionDep, store: StoreDep) -> Response:
    """The evaluation, its rows, its comparisons and its stored detections; 409 while a job (a comparison,
    an experiment step) or an experiment's table uses it."""
    ev = get_or_404(session, Evaluation, evaluation_id, "evaluation", hint=EVALUATION_HINT)
    users = jobs_using(session, evaluation_id) + [
        f"experiment {e}" for e in experiments_naming(session, evaluation_id)
    ]
    refuse_if_used(f"evaluation {evaluation_id}", users)
    delete_row_then_objects(session, store, ev, [keys.evaluation_prefix(evaluation_id)])
    return Response(status_code=204)


@router.get(
    "/v1/evaluations/{evaluation_id}/plot.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def evaluation_plot(evaluation_id: str, session: SessionDep, store: StoreDep) -> Response:
    get_or_404(session, Evaluation, evaluation_id, "evaluation", hint=EVALUATION_HINT)
    return Response(store.get_bytes(keys.evaluation_plot(evaluation_id)), media_type="image/png")


def _check_roles(body: ExperimentPayload, names: list[str]) -> None:
    """`baseline_arm` and `oracle_arm` name arms; the oracle is not the baseline and leaves an arm to measure."""
    available = ", ".join(repr(n) for n in names)
    for field, value in (("baseline_arm", body.baseline_arm), ("oracle_arm", body.oracle_arm)):
        if value is not None and value not in names:
            raise HTTPException(422, f"{field}: no arm named {value!r}; the arms are {available}")
    baseline = body.baseline_arm or names[0]
    if body.oracle_arm is not None:
        if body.oracle_arm == baseline:
            raise HTTPException(
                422,
                f"oracle_arm: {body.oracle_arm!r} is the baseline arm; name the arm trained on real "
                f"target-domain images (arms: {available}), or set baseline_arm to another",
            )
        if len(names) < 3:
            raise HTTPException(
                422,
                f"oracle_arm: gap closure needs an arm besides the baseline {baseline!r} and the oracle "
                f"{body.oracle_arm!r}; add the arm to measure",
            )


@router.post("/v1/experiments", status_code=202, response_model=JobOut)
def create_experiment(
    body: ExperimentPayload, session: SessionDep, celery: CeleryDep, settings: SettingsDep, store: StoreDep
):
    """Train every arm × seed, evaluate each on the evaluation set with identical settings, tabulate.

    The table (GET /v1/experiments/{id}) gives per arm and slice mAP50 over seeds and the paired difference
    to the baseline arm (`baseline_arm`, default the first), and:

    - **gap closure** (with `oracle_arm`, an arm trained on real target-domain images): per slice, each
      other arm's (arm − baseline) / (oracle − baseline) of the seed means, with a 95% bootstrap interval
      that resamples images (one resample shared by every evaluation, keeping arms paired) and seeds (drawn
      with replacement, shared by every arm) jointly. When the interval of oracle − baseline includes 0,
      the row says so (`note`) instead of giving a ratio.
    - **power**: per arm and slice, the between-seed variance of the paired per-seed differences
      (`seed_variance`) and the mean image-bootstrap variance of that difference (`image_variance`); for a
      two-sided paired test at α = 0.05 with 80% power over n seeds the smallest detectable difference is
      δ(n) = (t[1−α/2, n−1] + t[0.8, n−1]) · sqrt(seed_variance / n + image_variance), and `seeds_needed`
      is the smallest n with δ(n) ≤ `target_difference` (default 0.02). POST /v1/experiments/plan answers
      the same from a pilot experiment before training.
    - **robustness** (with `robustness`): arm -> robustness curve id (GET /v1/robustness/{id}) of the arm's
      first-seed detector on the evaluation set.
    """
    eval_ds = check_evaluation_settings(session, body, body.eval_dataset_id, "eval_dataset_id")
    names = [a.name for a in body.arms]
    if len(set(names)) != len(names):
        raise HTTPException(422, "arms: names must be unique")
    _check_roles(body, names)
    if len(set(body.seeds)) != len(body.seeds):
        raise HTTPException(422, "seeds: must be unique")
    runs = len(body.arms) * len(body.seeds)
    if runs > settings.max_experiment_runs:
        raise HTTPException(
            422,
            f"arms × seeds: {len(body.arms)} arms × {len(body.seeds)} seeds = {runs} detector trainings, over "
            f"the limit of {settings.max_experiment_runs} (SIM2REAL_MAX_EXPERIMENT_RUNS); use fewer arms or "
            "seeds, or split the experiment",
        )
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
        validate_training(
            session,
            TrainDetectorPayload(**body.model.model_dump(), dataset_id=arm.train_dataset_id),
            where="model.",
        )
    parameter, renders = (
        resolve_levels(session, settings, store, body.robustness, where="robustness.")
        if body.robustness is not None
        else (None, None)
    )
    job_id = new_id()
    experiment = Experiment(
        id=job_id,
        name=body.name,
        eval_dataset_id=body.eval_dataset_id,
        arms=[a.model_dump() for a in body.arms],
        seeds=body.seeds,
        settings={
            **_settings(body),
            "model": body.model.model_dump(),
            **body.model_dump(include={"baseline_arm", "oracle_arm", "target_difference", "robustness"}),
        },
        status="queued",
        job_id=job_id,
    )
    payload = ExperimentJobPayload(
        **body.model_dump(), robustness_parameter=parameter, robustness_renders=renders
    )
    return submit(session, celery, settings, "experiment", payload, rows=[experiment], job_id=job_id)


class PlanRequest(BaseModel):
    """Either a pilot experiment (its table's power rows give the variances) or the two variances."""

    model_config = ConfigDict(extra="forbid")

    experiment_id: str | None = Field(None, description="a finished pilot experiment")
    arm: str | None = Field(None, description="with experiment_id: only this arm (default: every arm)")
    slice: str | None = Field(None, description="with experiment_id: only this slice (default: every slice)")
    seed_variance: float | None = Field(
        None, ge=0, le=1, description="between-seed variance of the paired per-seed mAP50 differences"
    )
    image_variance: float | None = Field(
        None, ge=0, le=1, description="mean image-bootstrap variance of the paired mAP50 difference"
    )
    target_differences: list[Annotated[float, Field(gt=0, le=1)]] = Field(
        [power.DEFAULT_TARGET], min_length=1, max_length=50, description="mAP50 differences to size seeds for"
    )
    seeds: list[Annotated[int, Field(ge=2, le=power.MAX_SEEDS)]] = Field(
        [2, 3, 5, 10, 20],
        min_length=1,
        max_length=50,
        description="seed counts to give the detectable difference at",
    )


@router.post("/v1/experiments/plan")
def plan_experiment(body: PlanRequest, session: SessionDep) -> dict[str, Any]:
    """How many seeds a difference needs, before training: from a pilot experiment's variances (each arm's
    power rows of its table) or from variances given directly.

    For a two-sided paired test at α = 0.05 with 80% power over n seeds, the smallest detectable mAP50
    difference is δ(n) = (t[1−α/2, n−1] + t[0.8, n−1]) · sqrt(seed_variance / n + image_variance): the
    seed variance shrinks with more seeds, the evaluation set's image-sampling variance does not. Each row
    gives δ(n) for every n of `seeds` (`detectable`) and, per target difference, the smallest n ≥ 2 with
    δ(n) ≤ target (`needed`; null with a `note` when the image variance alone puts the target out of reach:
    the `floor` (z[1−α/2] + z[0.8]) · sqrt(image_variance) is the best any number of seeds achieves)."""
    given = body.seed_variance is not None or body.image_variance is not None
    if (body.experiment_id is not None) == given:
        raise HTTPException(
            422, "give either experiment_id (a pilot experiment) or both seed_variance and image_variance"
        )
    if given:
        if body.seed_variance is None or body.image_variance is None:
            missing = "seed_variance" if body.seed_variance is None else "image_variance"
            raise HTTPException(422, f"{missing}: required with the other variance")
        rows = [
            {
                "arm": None,
                "slice": None,
                "seed_variance": body.seed_variance,
                "image_variance": body.image_variance,
            }
        ]
    else:
        assert body.experiment_id is not None
        exp = get_or_404(session, Experiment, body.experiment_id, "experiment", field="experiment_id")
        if not exp.table or "power" not in exp.table:
            raise HTTPException(
                409,
                f"experiment_id: experiment {exp.id} has no power analysis"
                + (
                    " yet (it appears when its job succeeds)"
                    if not exp.table
                    else " (it ran before this version)"
                ),
            )
        rows = exp.table["power"]
        for field, value, known in (
            ("arm", body.arm, {r["arm"] for r in rows}),
            ("slice", body.slice, {r["slice"] for r in rows}),
        ):
            if value is not None and value not in known:
                raise HTTPException(
                    422,
                    f"{field}: experiment {exp.id} has no {field} {value!r} in its power analysis; "
                    f"choose from {sorted(known)}",
                )
        rows = [r for r in rows if body.arm in (None, r["arm"]) and body.slice in (None, r["slice"])]
    out = []
    for r in rows:
        sv, iv = r["seed_variance"], r["image_variance"]
        if sv is None or iv is None:
            out.append(
                {
                    "arm": r["arm"],
                    "slice": r["slice"],
                    "seed_variance": sv,
                    "image_variance": iv,
                    "note": r.get("note") or "no variances: the pilot needs 2+ seeds and n_boot >= 2",
                }
            )
            continue
        out.append(
            {"arm": r["arm"], "slice": r["slice"], **power.plan(sv, iv, body.target_differences, body.seeds)}
        )
    return {"experiment_id": body.experiment_id, "rows": out}


@router.get("/v1/experiments")
def list_experiments(
    session: SessionDep,
    eval_dataset_id: Annotated[
        str | None, Query(description="only experiments evaluated on this dataset")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="page size")] = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Experiments, newest first, with their job's status; the table is at GET /v1/experiments/{id}."""
    query = select(Experiment)
    if eval_dataset_id:
        query = query.where(Experiment.eval_dataset_id == eval_dataset_id)
    total, rows = paginate(session, query, (Experiment.created_at.desc(), Experiment.id), limit, offset)
    jobs = {
        j.id: j for j in session.scalars(select(Job).where(Job.id.in_([e.job_id for e in rows if e.job_id])))
    }
    items = []
    for exp in rows:
        job = jobs.get(exp.job_id or "")
        items.append(
            {
                "id": exp.id,
                "name": exp.name,
                "status": job.status
                if job is not None and job.status in ("failed", "cancelled", "succeeded")
                else exp.status,
                "progress": job.progress if job else None,
                "eval_dataset_id": exp.eval_dataset_id,
                "arms": [a.get("name") for a in exp.arms],
                "seeds": exp.seeds,
                "job_id": exp.job_id,
                "created_at": exp.created_at,
                "has_table": exp.table is not None,
            }
        )
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.delete("/v1/experiments/{experiment_id}", status_code=204)
def delete_experiment(experiment_id: str, session: SessionDep, store: StoreDep) -> Response:
    """The experiment's table and plot; 409 while its job runs (cancel it first). Its trainings' models and
    evaluations are things of their own and stay."""
    exp = get_or_404(session, Experiment, experiment_id, "experiment")
    job = session.get(Job, exp.job_id) if exp.job_id else None
    if job is not None and job.status in ("queued", "running"):
        refuse_if_used(f"experiment {experiment_id}", [f"its {job.kind} job {job.id}"])
    delete_row_then_objects(session, store, exp, [keys.experiment_prefix(experiment_id)])
    return Response(status_code=204)


@router.get("/v1/experiments/{experiment_id}")
def get_experiment(experiment_id: str, session: SessionDep) -> dict[str, Any]:
    exp = get_or_404(session, Experiment, experiment_id, "experiment")
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
    exp = get_or_404(session, Experiment, experiment_id, "experiment")
    if not exp.table:
        raise HTTPException(409, "no experiment table yet")
    return Response(store.get_bytes(keys.experiment_plot(experiment_id)), media_type="image/png")
