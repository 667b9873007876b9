"""The `translate_shard` job: one slice of a dataset translation, written into its parent's dataset."""

from __future__ import annotations

import time

from services.common.contracts.translate_dataset import TranslateShardPayload, TranslateShardResult
from services.common.core.db.models import Dataset
from services.common.core.db.session import session_scope
from services.common.datasets import store as ds
from services.common.runtime.lifecycle import JobError
from services.common.runtime.worker import JobContext
from services.translator.inputs import translator_for
from services.translator.jobs.translate_dataset import translate_images, translated, translation_visibility
from services.translator.sequences import PerSequence

# Seconds between progress reports of a shard (each one a database write; cancel is noticed meanwhile by
# the heartbeat).
REPORT_EVERY_S = 0.5


def run(ctx: JobContext, p: TranslateShardPayload) -> TranslateShardResult:
    """Translate this shard's images (skipping those an earlier attempt finished). A run that does not
    succeed removes the images it owns, never the rest of the dataset."""
    with session_scope(ctx.db_url) as s:
        source = s.get(Dataset, p.source_dataset_id)
        if source is None:
            raise JobError(f"source dataset {p.source_dataset_id} no longer exists")
        class_names = list(source.class_names)
    by_id = {i.record.image_id: i for i in ds.load_items(ctx.store, p.source_dataset_id, set(p.image_ids))}
    missing = [i for i in p.image_ids if i not in by_id or not by_id[i].image_key]
    if missing:
        raise JobError(f"{len(missing)} images of this shard left the source dataset, e.g. {missing[0]}")
    weather = p.translation.weather
    visibility = translation_visibility(p.translation.params)
    work = [
        (by_id[i], translated(by_id[i], p.dataset_id, weather, p.image_format, visibility))
        for i in p.image_ids
    ]
    for _, dst in work:
        ctx.output_object(dst.image_key)
        ctx.output_object(dst.label_key)
    # What the parent estimated once for the whole selection joins the method's params (it wins over
    # the request's), so each shard renders as the unsharded job would.
    translation = p.translation.model_copy(update={"params": {**p.translation.params, **p.shared_params}})
    # Per sequence, the params the parent fixed (fog's airlight): one translator per distinct set.
    translator_of = PerSequence(ctx, translation, translator_for(ctx, translation), p.sequence_params)
    total = len(work)
    last = [0.0]

    def report(done: int) -> None:
        # A database write per image would cost more than a fast image: at most every REPORT_EVERY_S.
        ctx.check_cancelled()
        if done == total or time.monotonic() - last[0] >= REPORT_EVERY_S:
            last[0] = time.monotonic()
            ctx.progress(None, f"translated {done}/{total} images to {weather}", done=done, total=total)

    failed, audits = translate_images(
        ctx, translator_of, work, class_names, report, p.image_format, p.jpeg_quality
    )
    return TranslateShardResult(
        images=total - len(failed),
        skipped=sorted(failed),
        worker=ctx.worker_id,
        audits={k: a.to_dict() for k, a in audits.items()},
        depth_sources=dict(translator_of.depth_sources),
    )
