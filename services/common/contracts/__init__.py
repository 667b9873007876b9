"""One typed contract per job kind: its queue, the payload a route submits and the result a job records.

A kind is one module in this package that calls `register(JobKind(...))`, plus its body at
`services/<service>/jobs/<kind>.py` (a `run(ctx, payload)` function). The registry loads every module of
this package on first use, so nothing else lists the kinds. Pydantic only: the API imports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from services.common.core.plugins import once_importing_submodules

__all__ = [
    "JobKind",
    "Payload",
    "Result",
    "get",
    "kinds",
    "latency_class",
    "queues",
    "register",
    "services",
    "unregister",
]


class Payload(BaseModel):
    """What a route hands to a job: validated once, at submit, and stored as the job's params (JSON, so no
    NaN or infinity)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Result(BaseModel):
    """What a job records as its result when it succeeds."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class JobKind:
    name: str
    service: str  # the worker package whose `jobs/<name>.py` runs it
    # `<service>.<latency class>` (interactive, batch, training) or one queue for the whole service
    # (`evaluator`): each queue has worker processes of its own, so a click never waits behind a training.
    queue: str
    payload: type[Payload]
    result: type[BaseModel]
    # Parks while child jobs run (the sweeper wakes it if a wake-up was lost).
    orchestrator: bool = False
    # One slice of a parent's list of independent items: its progress rolls up into the parked parent's.
    shard: bool = False
    # The part of this (parent) kind's progress its shards make, e.g. an evaluation's detections.
    children_share: float = 1.0

    @property
    def task_name(self) -> str:
        return f"sim2real.{self.service}.{self.name}"

    @property
    def body_module(self) -> str:
        return f"services.{self.service}.jobs.{self.name}"

    def parse(self, params: dict[str, Any] | None) -> Payload:
        return self.payload.model_validate(params or {})


_KINDS: dict[str, JobKind] = {}


def register(kind: JobKind) -> JobKind:
    """Add a job kind (tests may register their own); the same name twice is a programming error."""
    existing = _KINDS.get(kind.name)
    if existing is not None and existing != kind:
        raise ValueError(f"job kind {kind.name!r} is registered twice")
    _KINDS[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    _KINDS.pop(name, None)


_load = once_importing_submodules(__name__, __path__)


def kinds() -> dict[str, JobKind]:
    _load()
    return dict(_KINDS)


def get(name: str) -> JobKind:
    _load()
    try:
        return _KINDS[name]
    except KeyError:
        raise KeyError(f"unknown job kind {name!r}; known: {', '.join(sorted(_KINDS))}") from None


def services() -> dict[str, tuple[str, ...]]:
    """Each worker service and the queues it consumes (its kinds' queues)."""
    out: dict[str, set[str]] = {}
    for k in kinds().values():
        out.setdefault(k.service, set()).add(k.queue)
    return {s: tuple(sorted(q)) for s, q in sorted(out.items())}


def latency_class(queue: str) -> str:
    """`batch` for `translator.batch`; a queue without a class (`evaluator`) is its own class."""
    return queue.rsplit(".", 1)[-1]


def queues() -> tuple[str, ...]:
    """Every queue some kind is routed to, in a stable order."""
    return tuple(sorted({k.queue for k in kinds().values()}))
