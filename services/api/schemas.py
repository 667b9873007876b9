"""Response models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field

# Past this an offset only ever returns an empty page (and past 2^63 Postgres cannot take it at all).
MAX_OFFSET = 2**31 - 1
# How many rows a list skips: bounded, so the database's integer types hold it.
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="rows to skip (0 to 2^31 - 1)")]


class JobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    status: str
    progress: float
    eta_s: float | None = Field(
        None, description="seconds still needed at the rate so far; null when unknown"
    )
    message: str
    error: str | None
    result: dict[str, Any] | None
    warnings: list[str] | None = None
    params: dict[str, Any]
    attempts: int
    max_attempts: int
    worker_id: str | None = Field(None, description="the worker process that holds or last held the job")
    parent_id: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime


class JobPage(BaseModel):
    items: list[JobOut]
    total: int
    limit: int
    offset: int
