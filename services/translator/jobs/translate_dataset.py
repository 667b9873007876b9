"""The `translate_dataset` job: a new dataset whose images are translated and whose labels are carried over."""

from __future__ import annotations

import dataclasses

from services.common.contracts.translate_dataset import TranslateDatasetPayload, TranslateDatasetResult
from services.common.core.db.models import Dataset, DatasetImage
from services.common.core.db.session import session_scope
from services.common.core.images import decode_image, encode_png
from services.common.datasets import store as ds
from services.common.datasets.filters import parse_filter
from services.common.datasets.stats import compute_stats
from services.common.runtime.lifecycle import JobError
from services.common.runtime.worker import JobContext, JobOutcome
from services.translator.inputs import depth_metres, translator_for


def run(ctx: JobContext, p: TranslateDatasetPayload) -> JobOutcome:
    """A new dataset: the selected images translated, labels and metadata carried over, lineage recorded."""
    translation, source_id = p.translation, p.source_dataset_id
    with session_scope(ctx.db_url) as s:
        source = s.get(Dataset, source_id)
        if source is None:
            raise JobError(f"source dataset {source_id} no longer exists")
        class_names = list(source.class_names)
        source_format = source.format
        query = ds.select_images(source_id, parse_filter(p.filter or None))
        wanted = {row.image_id for row in s.scalars(query.where(DatasetImage.image_key.is_not(None)))}
    items = [i for i in ds.load_items(ctx.store, source_id) if i.record.image_id in wanted and i.image_key]
    if not items:
        raise JobError("the filter selects no images with pixels")
    translator = translator_for(ctx, translation)
    weather = translation.weather
    new_id = ctx.job_id
    ctx.outputs(ds.prefix(new_id))
    out_items: list[ds.StoredImage] = []
    max_pixels = ctx.settings.max_image_pixels

    def translated(item: ds.StoredImage) -> ds.StoredImage:
        record = dataclasses.replace(
            item.record,
            weather=ds.WEATHER_WORDS.get(weather, weather),
            timeofday=ds.TIME_WORDS.get(weather, item.record.timeofday),
        )
        image_id = record.image_id
        return ds.StoredImage(
            record, item.split, ds.image_key(new_id, image_id, ".png"), ds.label_key(new_id, image_id), None
        )

    for start in range(0, len(items), translator.batch_size):
        batch = [(item, translated(item)) for item in items[start : start + translator.batch_size]]
        # A retry after a dead worker keeps what the earlier attempt finished (keys derive from the job id).
        todo = [
            (src, dst)
            for src, dst in batch
            if ctx.attempt == 1 or not (ctx.store.exists(dst.label_key) and ctx.store.exists(dst.image_key))
        ]
        if todo:
            images = [
                decode_image(ctx.store.get_bytes(s.image_key), max_pixels, orient=False) for s, _ in todo
            ]
            depths = [depth_metres(ctx, s.depth_key) if translator.uses_depth else None for s, _ in todo]
            for (_, dst), out in zip(todo, translator.translate(images, depths), strict=True):
                ctx.store.put_bytes(dst.image_key, encode_png(out), "image/png")
                # The label last: its presence marks the image as done.
                ctx.store.put_bytes(dst.label_key, ds.label_text(dst.record, class_names), "text/plain")
        out_items.extend(dst for _, dst in batch)
        done = start + len(batch)
        ctx.progress(done / len(items), f"translated {done}/{len(items)} images to {weather}")
    lineage = {**translation.model_dump(), "source_dataset_id": source_id, "filter": p.filter}
    ds.write_meta(ctx.store, new_id, out_items, {"images": len(out_items), "translated_from": source_id})
    stats = compute_stats([i.record for i in out_items], class_names).to_dict()
    stats["splits"] = {s: sum(1 for i in out_items if i.split == s) for s in ("train", "val")}
    dataset = Dataset(
        id=new_id,
        name=p.name,
        format=source_format,
        uri=None,
        options={},
        class_names=class_names,
        stats=stats,
        parent_id=source_id,
        lineage=lineage,
        job_id=ctx.job_id,
    )
    return JobOutcome(
        TranslateDatasetResult(dataset_id=new_id, images=len(out_items)),
        write=lambda s: ds.save_index(s, dataset, out_items),
    )
