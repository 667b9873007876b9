"""The `compose_dataset` job: the reference study's training sets (baseline, translated) as a recipe.

The recipe (services.common.datasets.recipes) picks one source per frame index; this job copies the
chosen KITTI and Virtual KITTI 2 frames, translates the clone frames standing in for fog / overcast /
rain (labels carried over), splits by scene with a seed, and records the recipe with the dataset.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from services.common import dataset_store as ds
from services.common.datasets.recipes import RECIPES, describe
from services.common.datasets.stats import compute_stats
from services.common.db.models import Dataset
from services.common.db.session import session_scope
from services.common.images import decode_image, encode_png
from services.common.ingest import assign_splits
from services.common.jobs import JobError
from services.common.worker import JobContext, JobOutcome
from services.translator import methods
from services.translator.tasks import depth_metres, recipe_context


def compose_dataset(ctx: JobContext) -> JobOutcome:
    p = ctx.params
    with session_scope(ctx.db_url) as s:
        sources = {k: s.get(Dataset, p[k]) for k in ("kitti_dataset_id", "vkitti_dataset_id")}
        if None in sources.values():
            raise JobError("a source dataset of the recipe no longer exists")
        class_names = list(sources["vkitti_dataset_id"].class_names)
    kitti = {i.record.image_id: i for i in ds.load_items(ctx.store, p["kitti_dataset_id"])}
    vkitti = {i.record.image_id: i for i in ds.load_items(ctx.store, p["vkitti_dataset_id"])}
    build = RECIPES[p["recipe"]]
    kwargs: dict[str, Any] = {"camera": p["camera"]}
    if p["recipe"] == "translated":
        kwargs["translated"] = tuple(p["translations"])
    result = build([i.record for i in kitti.values()], [i.record for i in vkitti.values()], **kwargs)
    if not result.entries:
        raise JobError(f"the recipe selects no frames (missing per source: {dict(result.missing)})")
    translators = {
        w: methods.build(r, ctx.store, ctx.settings, ctx=ctx, **recipe_context(ctx, r))
        for w, r in p.get("translations", {}).items()
    }
    records = [e.record for e in result.entries]
    # By scene (a KITTI sequence and its virtual clone stay together), never by frame.
    split_of = assign_splits("vkitti2", records, {"val_fraction": p["val_fraction"], "seed": p["seed"]})
    new_id = ctx.job_id
    ctx.outputs(ds.prefix(new_id))
    items: list[ds.StoredImage] = []
    for n, entry in enumerate(result.entries):
        source = (kitti if entry.origin == "kitti" else vkitti)[entry.record.image_id]
        if not source.image_key:
            raise JobError(f"{entry.record.image_id}: the source dataset has no pixels for this frame")
        record = entry.record
        if entry.translate_to:
            tr = translators[entry.translate_to]
            image = decode_image(
                ctx.store.get_bytes(source.image_key), ctx.settings.max_image_pixels, orient=False
            )
            depth = depth_metres(ctx, source.depth_key) if tr.uses_depth else None
            (out,) = tr.translate([image], [depth])
            key = ds.image_key(new_id, ds.flat_name(record.image_id), ".png")
            ctx.store.put_bytes(key, encode_png(out), "image/png")
            record = dataclasses.replace(record, image_path=None, depth_path=None)
        else:
            key = ds.image_key(
                new_id, ds.flat_name(record.image_id), "." + source.image_key.rsplit(".", 1)[-1]
            )
            ctx.store.put_bytes(key, ctx.store.get_bytes(source.image_key))
        label = ds.label_key(new_id, record.image_id)
        ctx.store.put_bytes(label, ds.label_text(record, class_names), "text/plain")
        items.append(
            ds.StoredImage(record, split_of.get(record.image_id, "train"), key, label, source.depth_key)
        )
        if n % 20 == 0:
            ctx.progress(n / len(result.entries), f"composed {n}/{len(result.entries)} frames")
    ds.write_meta(ctx.store, new_id, items, {"images": len(items), "missing": dict(result.missing)})
    stats = compute_stats(records, class_names).to_dict()
    stats["splits"] = {s: sum(1 for i in items if i.split == s) for s in ("train", "val")}
    stats["origins"] = result.counts_by_origin()
    lineage = {
        "recipe": describe(p["recipe"]),
        "kitti_dataset_id": p["kitti_dataset_id"],
        "vkitti_dataset_id": p["vkitti_dataset_id"],
        "translations": p.get("translations", {}),
        "missing": dict(result.missing),
        "split": {"by": "scene", "val_fraction": p["val_fraction"], "seed": p["seed"]},
    }
    dataset = Dataset(
        id=new_id,
        name=p["name"],
        format="recipe",
        uri=None,
        options={},
        class_names=class_names,
        stats=stats,
        parent_id=p["vkitti_dataset_id"],
        recipe=lineage,
        job_id=ctx.job_id,
    )
    return JobOutcome(
        {"dataset_id": new_id, "images": len(items), "origins": stats["origins"]},
        write=lambda s: ds.save_index(s, dataset, items),
    )
