"""Deleting a thing a user made: refused (409, naming who) while a job or another kept thing uses it;
otherwise its row goes, then its stored objects."""

from __future__ import annotations

import logging

from fastapi import HTTPException, status
from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session

from services.common.core.db.models import (
    DatasetImage,
    Evaluation,
    Experiment,
    Job,
    RobustnessCurve,
    Style,
    TranslatorModel,
)
from services.common.core.storage import ObjectStore

log = logging.getLogger("sim2real.api")
SHOWN = 5  # users named in a refusal


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def jobs_using(session: Session, *needles: str) -> list[str]:
    """Unfinished jobs whose parameters name any of `needles` (an id or a key prefix)."""
    found: list[str] = []
    for needle in needles:
        query = (
            select(Job.id, Job.kind)
            .where(
                Job.status.in_(("queued", "running")),
                cast(Job.params, Text).like(f'%"{_like(needle)}%', escape="\\"),
            )
            .limit(SHOWN)
        )
        found += [f"{kind} job {job_id}" for job_id, kind in session.execute(query)]
    return sorted(set(found))


def rows_using_objects(session: Session, prefix: str, own_dataset: str | None = None) -> list[str]:
    """Kept rows that point at objects under `prefix`: styles, translator models (style images), and
    other datasets' images or depth maps (compositions reuse their sources' depth)."""
    pattern = f'%"{_like(prefix)}%'
    users = [
        f"style {i}"
        for i in session.scalars(
            select(Style.id).where(cast(Style.image_keys, Text).like(pattern, escape="\\")).limit(SHOWN)
        )
    ]
    users += [
        f"translator model {i}"
        for i in session.scalars(
            select(TranslatorModel.id)
            .where(cast(TranslatorModel.options, Text).like(pattern, escape="\\"))
            .limit(SHOWN)
        )
    ]
    starts = f"{_like(prefix)}%"
    query = (
        select(DatasetImage.dataset_id)
        .where(
            DatasetImage.image_key.like(starts, escape="\\")
            | DatasetImage.depth_key.like(starts, escape="\\")
        )
        .distinct()
        .limit(SHOWN + 1)
    )
    users += [f"dataset {i}" for i in session.scalars(query) if i != own_dataset]
    return users


def experiments_naming(session: Session, evaluation_id: str) -> list[str]:
    """Experiments whose runs name the evaluation (their tables were computed from it)."""
    pattern = f'%"{_like(evaluation_id)}"%'
    query = select(Experiment.id).where(cast(Experiment.runs, Text).like(pattern, escape="\\")).limit(SHOWN)
    return list(session.scalars(query))


def dataset_users(session: Session, dataset_id: str, prefix: str) -> list[str]:
    users = jobs_using(session, dataset_id)
    users += [
        f"evaluation {i}"
        for i in session.scalars(
            select(Evaluation.id).where(Evaluation.dataset_id == dataset_id).limit(SHOWN)
        )
    ]
    users += [
        f"experiment {i}"
        for i in session.scalars(
            select(Experiment.id).where(Experiment.eval_dataset_id == dataset_id).limit(SHOWN)
        )
    ]
    users += [
        f"robustness curve {i}"
        for i in session.scalars(
            select(RobustnessCurve.id).where(RobustnessCurve.dataset_id == dataset_id).limit(SHOWN)
        )
    ]
    return users + rows_using_objects(session, prefix, own_dataset=dataset_id)


def refuse_if_used(what: str, users: list[str]) -> None:
    if users:
        named = ", ".join(users[:SHOWN]) + (" …" if len(users) > SHOWN else "")
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"{what} is in use by {named}; cancel or delete those first, then delete it again",
        )


def delete_row_then_objects(session: Session, store: ObjectStore, row: object, prefixes: list[str]) -> None:
    """The row first (so nothing visible points at missing objects), then its objects; objects a failure
    leaves behind are logged (the retention sweep removes unreferenced uploads)."""
    session.delete(row)
    session.commit()
    for prefix in prefixes:
        try:
            store.delete_prefix(prefix)
        except Exception:
            log.exception("could not remove the objects under %s", prefix)
