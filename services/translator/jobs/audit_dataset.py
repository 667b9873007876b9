"""The `audit_dataset` job: the label-safety audit of an existing translated dataset against its source."""

from __future__ import annotations

from services.common.contracts.audit_dataset import AuditDatasetPayload, AuditDatasetResult
from services.common.datasets import store as ds
from services.common.runtime.lifecycle import JobError
from services.common.runtime.worker import JobContext, JobOutcome
from services.translator.quality.label_audit import ImageAudit
from services.translator.stored_audit import audit_stored, stored_form

PROGRESS_EVERY = 25


def run(ctx: JobContext, p: AuditDatasetPayload) -> JobOutcome:
    sources = {i.record.image_id: i for i in ds.load_items(ctx.store, p.source_dataset_id)}
    items = [i for i in ds.load_items(ctx.store, p.dataset_id) if i.image_key]
    audits: dict[str, ImageAudit] = {}
    for start in range(0, len(items), PROGRESS_EVERY):
        pairs = []
        for item in items[start : start + PROGRESS_EVERY]:
            src = sources.get(item.record.image_id)
            if src is None:
                ctx.warn(f"label audit: skipped {item.record.image_id}: the source dataset no longer has it")
            else:
                pairs.append((src, item))
        audits.update(audit_stored(ctx, pairs))
        done = min(start + PROGRESS_EVERY, len(items))
        ctx.progress(done / len(items), f"audited {done}/{len(items)} images")
    if not audits:
        raise JobError(f"no image of dataset {p.dataset_id} could be compared with its source")
    per_image, summary = stored_form(audits)
    return JobOutcome(
        AuditDatasetResult(dataset_id=p.dataset_id, images=len(audits), summary=summary),
        write=lambda s: ds.save_label_audit(s, p.dataset_id, per_image, summary),
    )
