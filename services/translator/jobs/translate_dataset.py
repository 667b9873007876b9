"""The `translate_dataset` job: a new dataset whose images are translated and whose labels are carried over."""

from __future__ import annotations

import dataclasses
import time
from contextlib import closing

import numpy as np

from services.common.contracts.translate_dataset import TranslateDatasetPayload, TranslateDatasetResult
from services.common.core.db.models import Dataset, DatasetImage
from services.common.core.db.session import session_scope
from services.common.core.images import ImageError, decode_image, encode_jpeg, encode_png
from services.common.core.threads import worker_threads
from services.common.datasets import store as ds
from services.common.datasets.filters import parse_filter
from services.common.datasets.image_format import CONTENT_TYPES, EXTENSIONS
from services.common.runtime.lifecycle import JobError
from services.common.runtime.worker import JobContext, JobOutcome
from services.translator import pipeline
from services.translator.inputs import depth_metres, translator_for

PROGRESS_EVERY_S = 1.0  # progress writes (and cancellation checks) at most this often


class Unreadable(Exception):
    """A source file of one item cannot be decoded: that item is skipped with a warning naming it."""


def load_inputs(
    ctx: JobContext, src: ds.StoredImage, uses_depth: bool, max_pixels: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """The source image (and depth map) of one item; `Unreadable` names the file that failed (a store
    outage is not this file's problem and raises as itself)."""
    image_id = src.record.image_id
    try:
        image = decode_image(ctx.store.get_bytes(src.image_key), max_pixels, orient=False)
    except (ImageError, ValueError) as exc:
        raise Unreadable(
            f"skipped {image_id}: its image {src.record.image_path or ''} cannot be decoded ({exc})"
        ) from exc
    try:
        depth = depth_metres(ctx, src.depth_key) if uses_depth else None
    except (ImageError, ValueError) as exc:
        raise Unreadable(
            f"skipped {image_id}: its depth map {src.record.depth_path or ''} cannot be decoded ({exc})"
        ) from exc
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
    new_id = ctx.job_id
    ctx.outputs(ds.prefix(new_id))
    max_pixels = ctx.settings.max_image_pixels
    ext, content_type = EXTENSIONS[p.image_format], CONTENT_TYPES[p.image_format]

    def encode(image: np.ndarray) -> bytes:
        return encode_png(image) if p.image_format == "png" else encode_jpeg(image, p.jpeg_quality)

    def translated(item: ds.StoredImage) -> ds.StoredImage:
        record = dataclasses.replace(
            item.record,
            weather=ds.WEATHER_WORDS.get(weather, weather),
            timeofday=ds.TIME_WORDS.get(weather, item.record.timeofday),
        )
        image_id = record.image_id
        return ds.StoredImage(
            record, item.split, ds.image_key(new_id, image_id, ext), ds.label_key(new_id, image_id), None
        )

    pairs = [(item, translated(item)) for item in items]
    # A retry after a dead worker keeps what the earlier attempt finished (keys derive from the job id).
    finished = {
        dst.record.image_id
        for _, dst in pairs
        if ctx.attempt > 1 and ctx.store.exists(dst.label_key) and ctx.store.exists(dst.image_key)
    }

    def store(pair: tuple[ds.StoredImage, ds.StoredImage], out: np.ndarray) -> None:
        dst = pair[1]
        ctx.store.put_bytes(dst.image_key, encode(out), content_type)
        # The label last: its presence marks the image as done.
        ctx.store.put_bytes(dst.label_key, ds.label_text(dst.record, class_names), "text/plain")

    done, reported = len(finished), 0.0
    outcomes = pipeline.run(
        [pair for pair in pairs if pair[1].record.image_id not in finished],
        lambda pair: load_inputs(ctx, pair[0], translator.uses_depth, max_pixels),
        lambda loaded: translator.translate([i for i, _ in loaded], [d for _, d in loaded]),
        store,
        threads=worker_threads(ctx.settings),
        batch_size=translator.batch_size,
    )
    with closing(outcomes):  # a cancel or failure stops the pool's threads before the job ends
        for outcome in outcomes:
            if isinstance(outcome.error, Unreadable):
                ctx.warn(str(outcome.error))
            elif outcome.error is not None:
                raise outcome.error
            else:
                finished.add(outcome.item[1].record.image_id)
            done += 1
            if done == len(items) or time.monotonic() - reported > PROGRESS_EVERY_S:
                reported = time.monotonic()
                ctx.progress(done / len(items), f"translated {done}/{len(items)} images to {weather}")
    out_items = [dst for _, dst in pairs if dst.record.image_id in finished]
    if not out_items:
        raise JobError(
            f"none of the {len(items)} selected images could be translated: {'; '.join(ctx.warnings)}"
        )
    lineage = {
        **translation.model_dump(),
        "source_dataset_id": source_id,
        "filter": p.filter,
        "image_format": p.image_format,
        **({"jpeg_quality": p.jpeg_quality} if p.image_format == "jpeg" else {}),
    }
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
