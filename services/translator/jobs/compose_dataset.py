"""The `compose_dataset` job: the reference study's training sets (baseline, translated) as a composition.

The composition (services.common.datasets.compositions) picks one source per frame index; this job copies the
chosen KITTI and Virtual KITTI 2 frames, translates the clone frames standing in for fog / overcast /
rain (labels carried over), splits by scene with a seed, and records the composition in the dataset's lineage.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

from services.common.contracts.compose_dataset import ComposeDatasetPayload, ComposeDatasetResult
from services.common.core.db.models import Dataset
from services.common.core.db.session import session_scope
from services.common.core.images import decode_image, encode_png
from services.common.datasets import store as ds
from services.common.datasets.checks import split_warnings
from services.common.datasets.compositions import COMPOSITIONS, CompositionEntry, describe
from services.common.datasets.splits import assign_splits
from services.common.runtime.lifecycle import JobError
from services.common.runtime.worker import JobContext, JobOutcome
from services.translator.inputs import depth_metres, translator_for


def run(ctx: JobContext, p: ComposeDatasetPayload) -> JobOutcome:
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
    if result.missing:
        missing = ", ".join(f"{origin}: {n}" for origin, n in sorted(result.missing.items()))
        ctx.warn(
            f"{sum(result.missing.values())} composition slots are empty because their source lacks the "
            f"frame ({missing}; lineage.missing)"
        )
    translators = {
        weather: translator_for(ctx, translation) for weather, translation in p.translations.items()
    }
    # By scene (a KITTI sequence and its virtual clone stay together), never by frame.
    split_of = assign_splits(
        "vkitti2", [e.record for e in result.entries], {"val_fraction": p.val_fraction, "seed": p.seed}
    )
    new_id = ctx.job_id
    ctx.outputs(ds.prefix(new_id))
    items: list[ds.StoredImage] = []
    origins: Counter[str] = Counter()
    for n, entry in enumerate(result.entries):
        source = (kitti if entry.origin == "kitti" else vkitti)[entry.record.image_id]
        item = compose_one(ctx, new_id, entry, source, translators, class_names, split_of)
        if item is not None:
            items.append(item)
            origins[entry.origin] += 1
        if n % 20 == 0:
            ctx.progress(
                None, f"composed {n}/{len(result.entries)} frames", done=n, total=len(result.entries)
            )
    if not items:
        raise JobError(f"none of the composition's {len(result.entries)} frames has pixels to copy")
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


def compose_one(
    ctx: JobContext,
    new_id: str,
    entry: CompositionEntry,
    source: ds.StoredImage,
    translators: dict[str, Any],
    class_names: list[str],
    split_of: dict[str, str],
) -> ds.StoredImage | None:
    """Copy (or translate) one chosen frame; a frame without pixels or one that cannot be decoded is
    skipped with a warning naming it (under strict the job fails)."""
    record = entry.record
    if not source.image_key:
        ctx.warn(
            f"skipped {record.image_id} ({entry.origin}): the source dataset has no pixels for this frame"
        )
        return None
    if entry.translate_to:
        tr = translators[entry.translate_to]
        try:
            image = decode_image(
                ctx.store.get_bytes(source.image_key), ctx.settings.max_image_pixels, orient=False
            )
            depth = depth_metres(ctx, source.depth_key) if tr.uses_depth else None
        except ValueError as exc:
            ctx.warn(
                f"skipped {record.image_id} ({entry.origin}): its image or depth map cannot be decoded ({exc})"
            )
            return None
        (out,) = tr.translate([image], [depth])
        key = ds.image_key(new_id, ds.flat_name(record.image_id), ".png")
        ctx.store.put_bytes(key, encode_png(out), "image/png")
        record = dataclasses.replace(record, image_path=None, depth_path=None)
    else:
        key = ds.image_key(new_id, ds.flat_name(record.image_id), "." + source.image_key.rsplit(".", 1)[-1])
        ctx.store.put_bytes(key, ctx.store.get_bytes(source.image_key))
    label = ds.label_key(new_id, record.image_id)
    ctx.store.put_bytes(label, ds.label_text(record, class_names), "text/plain")
    return ds.StoredImage(record, split_of.get(record.image_id, "train"), key, label, source.depth_key)
