"""Submitting a job: inputs to the store, a row to the database, a message to the queue — all or nothing."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from celery import Celery
from fastapi import HTTPException, status
from sqlalchemy.orm import Session

from services.common import contracts
from services.common.core import keys
from services.common.core.db.models import Job, new_id
from services.common.core.queue import send_job
from services.common.core.settings import Settings
from services.common.core.storage import ObjectStore
from services.common.runtime import lifecycle as jobs

log = logging.getLogger("sim2real.api")


class Submission:
    """Collects the objects a request stores, so a failure can remove every one of them."""

    def __init__(self, store: ObjectStore) -> None:
        self.job_id = new_id()
        self.store = store
        self.keys: list[str] = []

    def put(self, name: str, data: bytes, content_type: str) -> str:
        key = keys.upload(self.job_id, name)
        self.store.put_bytes(key, data, content_type)
        self.keys.append(key)
        return key

    def discard(self) -> None:
        for key in self.keys:
            try:
                self.store.delete(key)
            except Exception:
                log.exception("could not remove upload %s", key)
        self.keys.clear()


def submit(
    session: Session,
    celery: Celery,
    settings: Settings,
    kind: str,
    payload: contracts.Payload,
    submission: Submission | None = None,
    *,
    rows: Sequence[object] = (),
    job_id: str | None = None,
) -> Job:
    """Record the job (and `rows` that exist with it, e.g. an experiment) and queue it; on any failure
    nothing of it stays behind."""
    job_id = submission.job_id if submission else job_id or new_id()
    try:
        job = jobs.create_job(session, kind, payload, max_attempts=settings.max_attempts, job_id=job_id)
        session.add_all(rows)
        session.commit()
    except Exception:
        session.rollback()
        if submission:
            submission.discard()
        raise
    try:
        send_job(celery, kind, job.id)
    except Exception as exc:
        log.exception("could not queue job %s", job.id)
        for row in (*rows, job):
            session.delete(row)
        session.commit()
        if submission:
            submission.discard()
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"the job queue is unreachable ({type(exc).__name__}); nothing was stored, try again later",
        ) from exc
    session.refresh(job)
    return job


def save_with_objects(
    session: Session, store: ObjectStore, row: object, objects: list[tuple[str, bytes, str]]
) -> None:
    """Store the objects and commit the row that names them; on any failure neither stays behind."""
    written: list[str] = []
    try:
        for key, data, content_type in objects:
            store.put_bytes(key, data, content_type)
            written.append(key)
        session.add(row)
        session.commit()
    except BaseException:
        session.rollback()
        for key in written:
            try:
                store.delete(key)
            except Exception:
                log.exception("could not remove %s", key)
        raise
