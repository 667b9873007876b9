"""The `compose_shard` job: a slice of a composition's frames, copied or translated into its parent's
dataset."""

from __future__ import annotations

from services.common.contracts.compose_dataset import ComposeShardPayload, ComposeShardResult
from services.common.runtime.worker import JobContext
from services.translator.inputs import translator_for
from services.translator.jobs.compose_dataset import compose_one, composed_item, plan
from services.translator.sequences import PerSequence


def run(ctx: JobContext, p: ComposeShardPayload) -> ComposeShardResult:
    """Copy or translate frames `start`..`stop` of the composition into the parent's dataset."""
    composed = plan(ctx, p.request)
    entries = composed.result.entries[p.start : p.stop]
    translators = {
        weather: PerSequence(
            ctx, translation, translator_for(ctx, translation), p.sequence_params.get(weather, {})
        )
        for weather, translation in p.request.translations.items()
    }
    skipped: list[str] = []
    for n, entry in enumerate(entries, 1):
        item = composed_item(p.dataset_id, entry, composed.source(entry), composed.split_of)
        ctx.output_object(item.image_key or "")
        ctx.output_object(item.label_key)
        if not compose_one(ctx, item, entry, composed.source(entry), translators, composed.class_names):
            skipped.append(entry.record.image_id)
        if n % 20 == 0 or n == len(entries):
            ctx.progress(None, f"composed {n}/{len(entries)} frames", done=n, total=len(entries))
    return ComposeShardResult(
        images=len(entries) - len(skipped),
        skipped=skipped,
        worker=ctx.worker_id,
        depth_sources={w: dict(t.depth_sources) for w, t in translators.items() if t.depth_sources},
    )
