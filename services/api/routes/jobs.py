"""Jobs: status, listing, cancellation, and a server-sent event stream of progress."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select

from services.api.deps import SessionDep
from services.api.lookups import get_or_404
from services.api.schemas import JobOut, JobPage, Offset
from services.common import contracts
from services.common.core.db.models import Job
from services.common.core.db.session import session_scope
from services.common.runtime import lifecycle as jobs

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.get("", response_model=JobPage)
def list_jobs(
    session: SessionDep,
    kind: Annotated[str | None, Query(description=f"one of {', '.join(contracts.kinds())}")] = None,
    status_: Annotated[str | None, Query(alias="status", description=", ".join(jobs.STATES))] = None,
    parent_id: Annotated[
        str | None,
        Query(description="children of an experiment, an evaluation or a dataset translation (its shards)"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> JobPage:
    if kind is not None and kind not in contracts.kinds():
        raise HTTPException(422, f"kind: unknown kind {kind!r}; use one of {', '.join(contracts.kinds())}")
    if status_ is not None and status_ not in jobs.STATES:
        raise HTTPException(422, f"status: unknown status {status_!r}; use one of {', '.join(jobs.STATES)}")
    query = select(Job)
    if kind:
        query = query.where(Job.kind == kind)
    if status_:
        query = query.where(Job.status == status_)
    if parent_id:
        query = query.where(Job.parent_id == parent_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Job.created_at.desc(), Job.id).limit(limit).offset(offset))
    return JobPage(items=[JobOut.model_validate(j) for j in rows], total=total, limit=limit, offset=offset)


@router.get("/{job_id}", response_model=JobOut)
def get_job(job_id: str, session: SessionDep) -> Job:
    return get_or_404(session, Job, job_id, "job")


@router.delete("/{job_id}", response_model=JobOut)
def cancel_job(job_id: str, session: SessionDep) -> Job:
    job = get_or_404(session, Job, job_id, "job")
    if job.status in jobs.TERMINAL:
        raise HTTPException(status.HTTP_409_CONFLICT, f"job {job_id} already {job.status}; nothing to cancel")
    if not jobs.cancel(session, job_id):
        session.refresh(job)
        raise HTTPException(status.HTTP_409_CONFLICT, f"job {job_id} already {job.status}; nothing to cancel")
    session.refresh(job)
    return job


def _snapshot(url: str, job_id: str) -> dict | None:
    with session_scope(url) as s:
        job = s.get(Job, job_id)
        if job is None:
            return None
        return {
            "id": job.id,
            "status": job.status,
            "progress": job.progress,
            "eta_s": job.eta_s,
            "message": job.message,
            "error": job.error,
            "warnings": job.warnings or [],
        }


@router.get(
    "/{job_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def job_events(job_id: str, request: Request) -> StreamingResponse:
    """Server-sent events: one `progress` event per change, then `end` when the job is finished.

    Each poll uses its own short session, so a long-lived stream holds no database connection."""
    url = request.app.state.settings.resolved_database_url
    if await run_in_threadpool(_snapshot, url, job_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job with id {job_id!r}")

    async def stream():  # noqa: ANN202
        last = None
        idle = 0.0
        while True:
            snap = await run_in_threadpool(_snapshot, url, job_id)
            if snap is None:
                yield 'event: end\ndata: {"status": "deleted"}\n\n'
                return
            if snap != last:
                last = snap
                idle = 0.0
                yield f"event: progress\ndata: {json.dumps(snap)}\n\n"
            if snap["status"] in jobs.TERMINAL:
                yield f"event: end\ndata: {json.dumps(snap)}\n\n"
                return
            if await request.is_disconnected():
                return
            await asyncio.sleep(0.5)
            idle += 0.5
            if idle >= 15:
                idle = 0.0
                yield ": keep-alive\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
