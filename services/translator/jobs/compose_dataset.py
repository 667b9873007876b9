"""The `compose_dataset` job: the reference study's training sets (baseline, translated) as a composition.

The composition (services.common.datasets.compositions) picks one source per frame index; this job copies the
chosen KITTI and Virtual KITTI 2 frames, translates the clone frames standing in for fog / overcast /
rain (labels carried over), splits by scene with a seed, and records the composition in the dataset's lineage.
The copying and translating runs in `compose_shard` children (compose_shard.py, with `compose_one` and
`composed_item` from here); this job plans them and records the dataset once.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from typing import Any

from services.common.contracts.compose_dataset import (
    ComposeDatasetPayload,
    ComposeDatasetResult,
    ComposeShardPayload,
)
from services.common.core.db.models import Dataset
from services.common.core.db.session import session_scope
from services.common.core.images import decode_image, encode_png
from services.common.datasets import store as ds
from services.common.datasets.checks import split_warnings
from services.common.datasets.compositions import COMPOSITIONS, Composition, CompositionEntry, describe
from services.common.datasets.splits import assign_splits
from services.common.runtime.lifecycle import JobError
from services.common.runtime.shards import run_shards, split
from services.common.runtime.worker import JobContext, JobOutcome
from services.translator.inputs import depth_metres, translator_for
from services.translator.sequences import sequence_params


@dataclass
class Plan:
    """The composition a request makes (deterministic: the parent and every shard compute the same)."""

    kitti: dict[str, ds.StoredImage]
    vkitti: dict[str, ds.StoredImage]
    result: Composition
    class_names: list[str]
    split_of: dict[str, str]

    def source(self, entry: CompositionEntry) -> ds.StoredImage:
        return (self.kitti if entry.origin == "kitti" else self.vkitti)[entry.record.image_id]


def plan(ctx: JobContext, p: ComposeDatasetPayload) -> Plan:
    with session_scope(ctx.db_url) as s:
        kitti_row, vkitti_row = s.get(Dataset, p.kitti_dataset_id), s.get(Dataset, p.vkitti_dataset_id)
        if kitti_row is None or vkitti_row is None:
            raise JobError("a source dataset of the composition no longer exists")
        class_names = list(vkitti_row.class_names)
    kitti = {i.record.image_id: i for i in ds.load_items(ctx.store, p.kitti_dataset_id)}
    vkitti = {i.record.image_id: i for i in ds.load_items(ctx.store, p.vkitti_dataset_id)}
    build = COMPOSITIONS[p.composition]
    kwargs: dict[str, Any] = {"camera": p.camera}
    if p.composition == "translated":
        kwargs["translated"] = tuple(p.translations)
    result = build([i.record for i in kitti.values()], [i.record for i in vkitti.values()], **kwargs)
    if not result.entries:
        raise JobError(f"the composition selects no frames (missing per source: {dict(result.missing)})")
    # By scene (a KITTI sequence and its virtual clone stay together), never by frame.
    split_of = assign_splits(
        "vkitti2", [e.record for e in result.entries], {"val_fraction": p.val_fraction, "seed": p.seed}
    )
    return Plan(kitti, vkitti, result, class_names, split_of)


def fixed_per_sequence(
    ctx: JobContext, p: ComposeDatasetPayload, composed: Plan
) -> dict[str, dict[str, Any]]:
    """weather -> sequence key -> the params its translation fixes once per sequence (fog's airlight from a
    clone scene's first frame), for the translations whose method fixes any."""
    fixed: dict[str, dict[str, Any]] = {}
    for weather, translation in p.translations.items():
        estimate = translator_for(ctx, translation).sequence_params
        if estimate is None:
            continue
        frames = [
            composed.vkitti[e.record.image_id]
            for e in composed.result.entries
            if e.translate_to == weather and composed.vkitti[e.record.image_id].image_key
        ]
        fixed[weather] = sequence_params(ctx, frames, estimate)
    return fixed


def warn_missing(ctx: JobContext, result: Composition) -> None:
    if result.missing:
        missing = ", ".join(f"{origin}: {n}" for origin, n in sorted(result.missing.items()))
        ctx.warn(
            f"{sum(result.missing.values())} composition slots are empty because their source lacks the "
            f"frame ({missing}; lineage.missing)"
        )


def run(ctx: JobContext, p: ComposeDatasetPayload) -> JobOutcome:
    """Plan the composition, let shards copy and translate its frames, then record the dataset once."""
    new_id = ctx.job_id
    ctx.outputs(ds.prefix(new_id))

    def shards_of() -> list[ComposeShardPayload]:
        composed = plan(ctx, p)
        warn_missing(ctx, composed.result)  # under strict: fails before any frame is copied
        fixed = fixed_per_sequence(ctx, p, composed)
        ranges = split(range(len(composed.result.entries)), ctx.settings.shard_images)
        return [
            ComposeShardPayload(
                request=p,
                dataset_id=new_id,
                start=r[0],
                stop=r[-1] + 1,
                shard=n,
                shards=len(ranges),
                strict=p.strict,
                sequence_params=fixed,
            )
            for n, r in enumerate(ranges)
        ]

    shards = run_shards(ctx, "compose_shard", shards_of, "composition")
    composed = plan(ctx, p)
    result = composed.result
    warn_missing(ctx, result)
    skipped: set[str] = set()
    depth_sources: dict[str, Counter[str]] = {}
    for shard in shards:
        skipped.update((shard.result or {}).get("skipped", []))
        for weather, counts in ((shard.result or {}).get("depth_sources") or {}).items():
            depth_sources.setdefault(weather, Counter()).update(counts)
        ctx.warnings.extend(w for w in shard.warnings or [] if w not in ctx.warnings)
    items = [
        composed_item(new_id, entry, composed.source(entry), composed.split_of)
        for entry in result.entries
        if entry.record.image_id not in skipped
    ]
    if not items:
        raise JobError(f"none of the composition's {len(result.entries)} frames has pixels to copy")
    origins = Counter(entry.origin for entry in result.entries if entry.record.image_id not in skipped)
    class_names = composed.class_names
    for warning in split_warnings(((i.split, True) for i in items), val_expected=p.val_fraction > 0):
        ctx.warn(warning)
    ds.write_meta(ctx.store, new_id, items, {"images": len(items), "missing": dict(result.missing)})
    stats = ds.stored_stats(items, class_names, ctx.warnings)
    stats["origins"] = dict(sorted(origins.items()))
    lineage = {
        "composition": describe(p.composition),
        "kitti_dataset_id": p.kitti_dataset_id,
        "vkitti_dataset_id": p.vkitti_dataset_id,
        "translations": {w: tr.model_dump() for w, tr in p.translations.items()},
        "missing": dict(result.missing),
        "split": {"by": "scene", "val_fraction": p.val_fraction, "seed": p.seed},
    }
    if any(depth_sources.values()):  # weather -> source -> translated frames that used it
        lineage["depth_sources"] = {w: dict(sorted(c.items())) for w, c in depth_sources.items() if c}
    fixed = fixed_per_sequence(ctx, p, composed)
    if any(fixed.values()):  # weather -> sequence -> params fixed for it (fog's airlight)
        lineage["sequence_params"] = {w: f for w, f in fixed.items() if f}
    dataset = Dataset(
        id=new_id,
        name=p.name,
        format="composition",
        uri=None,
        options={},
        class_names=class_names,
        stats=stats,
        parent_id=p.vkitti_dataset_id,
        lineage=lineage,
        job_id=ctx.job_id,
    )
    return JobOutcome(
        ComposeDatasetResult(dataset_id=new_id, images=len(items), origins=stats["origins"]),
        write=lambda s: ds.save_index(s, dataset, items),
    )


def composed_item(
    new_id: str, entry: CompositionEntry, source: ds.StoredImage, split_of: dict[str, str]
) -> ds.StoredImage:
    """Where a chosen frame goes in the composed dataset (keys from the dataset id and the frame)."""
    record = entry.record
    if entry.translate_to:
        key = ds.image_key(new_id, ds.flat_name(record.image_id), ".png")
        record = dataclasses.replace(record, image_path=None, depth_path=None)
    else:
        ext = "." + (source.image_key or ".png").rsplit(".", 1)[-1]
        key = ds.image_key(new_id, ds.flat_name(record.image_id), ext)
    label = ds.label_key(new_id, record.image_id)
    return ds.StoredImage(record, split_of.get(record.image_id, "train"), key, label, source.depth_key)


def compose_one(
    ctx: JobContext,
    item: ds.StoredImage,
    entry: CompositionEntry,
    source: ds.StoredImage,
    translators: dict[str, Any],
    class_names: list[str],
) -> bool:
    """Copy (or translate) one chosen frame to `item`'s keys; a frame without pixels or one that cannot
    be decoded is skipped (False) with a warning naming it (under strict the job fails)."""
    record = entry.record
    if not source.image_key:
        ctx.warn(
            f"skipped {record.image_id} ({entry.origin}): the source dataset has no pixels for this frame"
        )
        return False
    assert item.image_key is not None
    if entry.translate_to:
        tr = translators[entry.translate_to](record)  # the weather's translator for this frame's sequence
        try:
            image = decode_image(
                ctx.store.get_bytes(source.image_key), ctx.settings.max_image_pixels, orient=False
            )
            depth = depth_metres(ctx, source.depth_key) if tr.uses_depth else None
        except ValueError as exc:
            ctx.warn(
                f"skipped {record.image_id} ({entry.origin}): its image or depth map cannot be decoded ({exc})"
            )
            return False
        (out,) = tr.translate([image], [depth])
        ctx.store.put_bytes(item.image_key, encode_png(out), "image/png")
    else:
        ctx.store.put_bytes(item.image_key, ctx.store.get_bytes(source.image_key))
    ctx.store.put_bytes(item.label_key, ds.label_text(item.record, class_names), "text/plain")
    return True
