"""The `robustness` job: render the evaluation set at each level (child `translate_dataset` jobs, or a set an
earlier curve rendered), evaluate the detector on each (child `evaluate` jobs), and record the curve.

It orchestrates like the experiment job: each step creates the children that are due, then parks until one
finishes. The cache: a rendered set is a dataset whose lineage is exactly the level's translation (method,
weather, every parameter with the level and the seed, operator weights' versions) over the whole source,
so a later curve with the same (dataset, weather, level, seed) evaluates it instead of rendering again.
Two curves running at the same time may each render a level once; after that both are cached.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select

from services.common.contracts.common import EvaluationSettings
from services.common.contracts.evaluate import EvaluatePayload
from services.common.contracts.robustness import RobustnessPayload, RobustnessResult
from services.common.contracts.translate_dataset import TranslateDatasetPayload
from services.common.core import keys
from services.common.core.db.models import Dataset, DatasetImage, EvaluationMetric, Job, RobustnessCurve
from services.common.core.db.session import session_scope
from services.common.datasets import store as ds
from services.common.methods.translation import Translation
from services.common.runtime.lifecycle import JobError, JobWaiting, cancel_children
from services.common.runtime.worker import JobContext, JobOutcome

NAMESPACE = uuid.UUID("2d5e8f1a-7c3b-4e9d-a6f2-0b1c4d7e9a35")


def child_id(curve_id: str, role: str, index: int) -> str:
    """Deterministic, so a re-run step finds the children it already made."""
    return uuid.uuid5(NAMESPACE, f"{curve_id}:{role}:{index}").hex


def cached_render(session, dataset_id: str, translation: Translation) -> str | None:  # noqa: ANN001
    """The oldest dataset rendered from the whole of `dataset_id` by exactly `translation`, if any."""
    want = translation.model_dump(mode="json")
    query = select(Dataset).where(Dataset.parent_id == dataset_id).order_by(Dataset.created_at, Dataset.id)
    for d in session.scalars(query):
        lineage = d.lineage or {}
        if not lineage.get("filter") and {k: lineage.get(k) for k in want} == want:
            return d.id
    return None


def _check(ctx: JobContext, job: Job, what: str) -> None:
    if job.status in ("failed", "cancelled"):
        with session_scope(ctx.db_url) as s:
            cancel_children(s, ctx.job_id)
        raise JobError(f"{what} failed: {job.error}" if job.status == "failed" else f"{what} was cancelled")


def _level_name(p: RobustnessPayload, level: float | None) -> str:
    return "the unmodified set" if level is None else f"{p.weather} {p.parameter}={level:g}"


def run(ctx: JobContext, p: RobustnessPayload) -> JobOutcome:
    curve_id = ctx.job_id
    settings = p.model_dump(include=set(EvaluationSettings.model_fields))
    with session_scope(ctx.db_url) as s:
        source = s.get(Dataset, p.dataset_id)
        if source is None:
            raise JobError(f"dataset {p.dataset_id} no longer exists")
        source_name = source.name
        n_images = s.scalar(
            select(func.count()).select_from(
                ds.select_images(p.dataset_id).where(DatasetImage.image_key.is_not(None)).subquery()
            )
        )
    points: list[dict[str, Any]] = []
    rendered = 0
    for i, (level, translation) in enumerate(zip(p.levels, p.renders, strict=True)):
        point: dict[str, Any] = {
            "level": level,
            "dataset_id": p.dataset_id if translation is None else None,
            "cached": False,
            "render_job": None,
            "evaluation_id": None,
        }
        if translation is not None:
            render_id = child_id(curve_id, "render", i)
            with session_scope(ctx.db_url) as s:
                ours = s.get(Job, render_id) is not None
                cached = None if ours else cached_render(s, p.dataset_id, translation)
            if cached:
                point.update(dataset_id=cached, cached=True)
            else:
                job = ctx.submit_child(
                    "translate_dataset",
                    TranslateDatasetPayload(
                        source_dataset_id=p.dataset_id,
                        translation=translation,
                        name=f"{source_name} / {p.weather} {p.parameter}={level:g} (seed {p.seed})"[:255],
                        images=n_images or 0,
                    ),
                    render_id,
                )
                _check(ctx, job, f"rendering {_level_name(p, level)}")
                point["render_job"] = job.id
                if job.status == "succeeded":
                    point["dataset_id"] = job.result["dataset_id"]
                    rendered += 1
        if point["dataset_id"]:
            ev = ctx.submit_child(
                "evaluate",
                EvaluatePayload(
                    **settings,
                    dataset_id=point["dataset_id"],
                    detector_model_id=p.detector_model_id,
                    seed=p.seed,
                ),
                child_id(curve_id, "eval", i),
            )
            _check(ctx, ev, f"evaluation at {_level_name(p, level)}")
            if ev.status == "succeeded":
                point["evaluation_id"] = ev.id
        points.append(point)
    waiting = [pt for pt in points if pt["evaluation_id"] is None]
    if waiting:
        rendering = sum(1 for pt in waiting if pt["dataset_id"] is None)
        raise JobWaiting(
            f"{len(points) - len(waiting)}/{len(points)} levels evaluated; {rendering} rendering, "
            f"{len(waiting) - rendering} evaluating",
            (len(points) - len(waiting)) / len(points),
            delay_s=60,
        )
    rows = curve_rows(ctx, points)
    from services.evaluator.plot import plot_robustness

    ctx.outputs(keys.robustness_prefix(curve_id))
    ctx.store.put_bytes(
        keys.robustness_plot(curve_id), plot_robustness(rows, p.weather, p.parameter), "image/png"
    )
    curve = RobustnessCurve(
        id=curve_id,
        detector_model_id=p.detector_model_id,
        dataset_id=p.dataset_id,
        weather=p.weather,
        parameter=p.parameter,
        levels=list(p.levels),
        settings={**settings, "seed": p.seed},
        points=points,
        rows=rows,
        job_id=ctx.job_id,
    )
    return JobOutcome(
        RobustnessResult(robustness_id=curve_id, levels=len(points), rendered=rendered), rows=[curve]
    )


def curve_rows(ctx: JobContext, points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each level's evaluation rows (as GET /v1/evaluations/{id} gives them) with the level first."""
    rows = []
    with session_scope(ctx.db_url) as s:
        for pt in points:
            metrics = s.scalars(
                select(EvaluationMetric)
                .where(EvaluationMetric.evaluation_id == pt["evaluation_id"])
                .order_by(EvaluationMetric.id)
            )
            for m in metrics:
                rows.append(
                    {
                        "level": pt["level"],
                        "slice": m.slice,
                        "class": m.class_name,
                        "ap50": m.ap50,
                        "ap50_low": m.ap50_low,
                        "ap50_high": m.ap50_high,
                        "ap50_95": m.ap50_95,
                        "precision": m.precision,
                        "recall": m.recall,
                        "images": m.images,
                        "instances": m.instances,
                    }
                )
    return rows
