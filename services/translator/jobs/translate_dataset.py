"""The `translate_dataset` job: a new dataset whose images are translated and whose labels are carried over."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from services.common.contracts.translate_dataset import TranslateDatasetPayload, TranslateDatasetResult
from services.common.core.db.models import Dataset, DatasetImage
from services.common.core.db.session import session_scope
from services.common.core.images import ImageError, decode_image, encode_png
from services.common.datasets import store as ds
from services.common.datasets.filters import parse_filter
from services.common.datasets.sequences import by_sequence
from services.common.runtime.lifecycle import JobError
from services.common.runtime.worker import JobContext, JobOutcome
from services.translator.inputs import depth_metres, translator_for
from services.translator.sequences import per_sequence


def load_inputs(
    ctx: JobContext, src: ds.StoredImage, uses_depth: bool, max_pixels: int
) -> tuple[np.ndarray, np.ndarray | None] | None:
    """The source image (and depth map) of one item, or None with a warning naming the file that failed
    (under strict the warning fails the job): one bad file does not stop the others."""
    image_id = src.record.image_id
    try:
        image = decode_image(ctx.store.get_bytes(src.image_key), max_pixels, orient=False)
    except (ImageError, ValueError) as exc:  # this file's problem; a store outage is not
        ctx.warn(f"skipped {image_id}: its image {src.record.image_path or ''} cannot be decoded ({exc})")
        return None
    try:
        depth = depth_metres(ctx, src.depth_key) if uses_depth else None
    except (ImageError, ValueError) as exc:
        ctx.warn(f"skipped {image_id}: its depth map {src.record.depth_path or ''} cannot be decoded ({exc})")
        return None
    return image, depth


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
    if translator.sequence_params is not None:  # frames of one sequence together, in order
        items = [item for group in by_sequence(items, lambda item: item.record).values() for item in group]
    translator_of = per_sequence(ctx, translation, translator, items, p.sequence_params)

    new_id = ctx.job_id
    ctx.outputs(ds.prefix(new_id))
    out_items: list[ds.StoredImage] = []
    max_pixels = ctx.settings.max_image_pixels

    def translated(item: ds.StoredImage) -> ds.StoredImage:
        record = dataclasses.replace(
            item.record,
            weather=ds.WEATHER_WORDS.get(weather, weather),
            timeofday=ds.TIME_WORDS.get(weather, item.record.timeofday),
            # The source's visibility no longer holds; the translation's own when it names one.
            visibility_m=_visibility(translation.params),
        )
        image_id = record.image_id
        return ds.StoredImage(
            record, item.split, ds.image_key(new_id, image_id, ".png"), ds.label_key(new_id, image_id), None
        )

    start = 0
    while start < len(items):
        # A batch shares one translator: with per-sequence params it ends where its sequence does.
        current = translator_of(items[start].record)
        end = start + 1
        while (
            end < min(len(items), start + current.batch_size) and translator_of(items[end].record) is current
        ):
            end += 1
        batch = [(item, translated(item)) for item in items[start:end]]
        # A retry after a dead worker keeps what the earlier attempt finished (keys derive from the job id).
        todo = [
            (src, dst)
            for src, dst in batch
            if ctx.attempt == 1 or not (ctx.store.exists(dst.label_key) and ctx.store.exists(dst.image_key))
        ]
        if todo:
            loaded = [
                (src, dst, load_inputs(ctx, src, translator.uses_depth, max_pixels)) for src, dst in todo
            ]
            ready = [(dst, inputs) for _, dst, inputs in loaded if inputs is not None]
            outs = current.translate([i for _, (i, _) in ready], [d for _, (_, d) in ready]) if ready else []
            for (dst, _), out in zip(ready, outs, strict=True):
                ctx.store.put_bytes(dst.image_key, encode_png(out), "image/png")
                # The label last: its presence marks the image as done.
                ctx.store.put_bytes(dst.label_key, ds.label_text(dst.record, class_names), "text/plain")
            failed = {src.record.image_id for src, _, inputs in loaded if inputs is None}
            batch = [(src, dst) for src, dst in batch if src.record.image_id not in failed]
        out_items.extend(dst for _, dst in batch)
        start = end
        ctx.progress(end / len(items), f"translated {end}/{len(items)} images to {weather}")
    if not out_items:
        raise JobError(
            f"none of the {len(items)} selected images could be translated: {'; '.join(ctx.warnings)}"
        )
    lineage: dict[str, Any] = {**translation.model_dump(), "source_dataset_id": source_id, "filter": p.filter}
    if translator_of.depth_sources:  # source -> images that used it
        lineage["depth_sources"] = dict(sorted(translator_of.depth_sources.items()))
    if translator_of.fixed:  # sequence -> params fixed for it (fog: atmospheric_light)
        lineage["sequence_params"] = translator_of.fixed
    ds.write_meta(ctx.store, new_id, out_items, {"images": len(out_items), "translated_from": source_id})
    stats = ds.stored_stats(out_items, class_names, ctx.warnings)
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


def _visibility(params: dict) -> float | None:
    """The visibility a translation renders at, when its request names one (`visibility_m`), else None."""
    value = params.get("visibility_m")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
