"""Retention: the inputs of failed and cancelled jobs, and image sets nothing names, removed after a while.

The sweeper calls `expire` at most once per hour per worker; each call removes a bounded batch, so a
backlog (a first run after an upgrade, a week of failures) drains over several passes instead of one long
one. What is removed is returned, for the log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session

from services.common.core import keys
from services.common.core.db.models import ImageSet, Job, Style, TranslatorModel, utcnow
from services.common.core.storage import ObjectStore

log = logging.getLogger("sim2real.retention")

# Job kinds whose payload can name an object-store prefix a user uploaded (a training domain's `prefix`).
KINDS_NAMING_PREFIXES = ("train_translator",)
UPLOADS = keys.UPLOADS
# Job kinds that write a dataset under their own id and record it only when they succeed: a failed or
# cancelled one (say, cancelled while parked, after some of its shards had finished) leaves that prefix.
KINDS_WRITING_DATASETS = ("translate_dataset", "compose_dataset")


@dataclass
class Removed:
    """What one pass removed: job ids whose inputs went, image set ids, and the objects deleted."""

    job_inputs: list[str] = field(default_factory=list)
    image_sets: list[str] = field(default_factory=list)
    objects: int = 0

    def __bool__(self) -> bool:
        return bool(self.job_inputs or self.image_sets)


def expire_job_inputs(
    session: Session, store: ObjectStore, queues: Sequence[str], before: datetime, limit: int, out: Removed
) -> None:
    """Remove `uploads/{job_id}/` of failed and cancelled jobs of these queues finished before `before`, and
    the unrecorded dataset of such a dataset-writing job (`datasets/{job_id}/`)."""
    rows = list(
        session.execute(
            select(Job.id, Job.kind)
            .where(
                Job.queue.in_(list(queues)),
                Job.status.in_(("failed", "cancelled")),
                Job.finished_at < before,
                Job.inputs_removed_at.is_(None),
            )
            .order_by(Job.finished_at)
            .limit(limit)
        )
    )
    done: list[str] = []
    try:
        for job_id, kind in rows:
            out.objects += store.delete_prefix(keys.upload_prefix(job_id))
            if kind in KINDS_WRITING_DATASETS:
                out.objects += store.delete_prefix(keys.dataset_prefix(job_id))
            done.append(job_id)
    finally:  # what was removed is recorded even when the store fails half way
        if done:
            session.execute(
                update(Job)
                .where(Job.id.in_(done))
                .values(inputs_removed_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            session.commit()
        out.job_inputs.extend(done)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def referenced_upload_prefixes(session: Session) -> set[str]:
    """Every `uploads/...` key or prefix a job's payload, a translator model's domains or a style names."""
    found: list[Any] = list(session.scalars(select(Job.params).where(Job.kind.in_(KINDS_NAMING_PREFIXES))))
    for a, b in session.execute(select(TranslatorModel.domain_a, TranslatorModel.domain_b)):
        found += [a, b]
    found += list(session.scalars(select(Style.image_keys)))
    return {s.rstrip("/") + "/" for s in _strings(found) if s.startswith(UPLOADS)}


def _overlaps(prefix: str, refs: set[str]) -> bool:
    """A reference inside the set, or one that takes the set whole (a parent folder), keeps it."""
    prefix = prefix.rstrip("/") + "/"
    return any(ref.startswith(prefix) or prefix.startswith(ref) for ref in refs)


def expire_image_sets(
    session: Session, store: ObjectStore, before: datetime, limit: int, out: Removed
) -> None:
    """Remove image sets uploaded before `before` that nothing names, at most `limit` of them."""
    refs = referenced_upload_prefixes(session)
    after: tuple[datetime, str] | None = None
    removed = 0
    while removed < limit:
        query = select(ImageSet).where(ImageSet.created_at < before)
        if after is not None:  # sets still in use are passed over, not re-read every page
            query = query.where(
                or_(
                    ImageSet.created_at > after[0],
                    and_(ImageSet.created_at == after[0], ImageSet.id > after[1]),
                )
            )
        page = list(
            session.execute(
                query.with_only_columns(ImageSet.id, ImageSet.prefix, ImageSet.created_at)
                .order_by(ImageSet.created_at, ImageSet.id)
                .limit(limit)
            )
        )
        if not page:
            return
        after = (page[-1].created_at, page[-1].id)
        for set_id, prefix, _created in page:
            if removed >= limit:
                return
            if _overlaps(prefix, refs):
                continue
            out.objects += store.delete_prefix(prefix)
            session.execute(delete(ImageSet).where(ImageSet.id == set_id))
            session.commit()
            out.image_sets.append(set_id)
            removed += 1


def expire(
    session: Session, store: ObjectStore, queues: Sequence[str], before: datetime, limit: int = 500
) -> Removed:
    """One retention pass: job inputs of these queues, then unused image sets; each at most `limit`."""
    out = Removed()
    expire_job_inputs(session, store, queues, before, limit, out)
    expire_image_sets(session, store, before, limit, out)
    return out
