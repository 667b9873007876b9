"""The `translate_dataset` job: a new dataset whose images are translated and whose labels are carried over.

The job is a parent: it splits the selected images into `translate_shard` children (SIM2REAL_SHARD_IMAGES
each, on the batch queue, so every batch worker takes some), parks while they run, and records the dataset
and its index once, from its own plan, so every selected image is in it exactly once whatever the shards
went through. `translate_images` is the per-image loop a shard runs on its list."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from typing import Any

import numpy as np

from services.common.contracts.translate_dataset import (
    TranslateDatasetPayload,
    TranslateDatasetResult,
    TranslateShardPayload,
)
from services.common.core.db.models import Dataset, DatasetImage
from services.common.core.db.session import session_scope
from services.common.core.images import ImageError, decode_image, encode_jpeg, encode_png
from services.common.core.threads import worker_threads
from services.common.datasets import store as ds
from services.common.datasets.filters import parse_filter
from services.common.datasets.image_format import CONTENT_TYPES, EXTENSIONS, ImageFormat
from services.common.datasets.sequences import by_sequence
from services.common.runtime.lifecycle import JobError
from services.common.runtime.shards import run_shards, split
from services.common.runtime.worker import JobContext, JobOutcome
from services.translator import pipeline
from services.translator.inputs import depth_metres, translator_for
from services.translator.quality.label_audit import ImageAudit
from services.translator.quality_sets import measure_translation
from services.translator.sequences import sequence_params
from services.translator.stored_audit import audit_record, audit_stored, stored_form
from services.translator.translators import ImageTranslator


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


def translation_visibility(params: dict) -> float | None:
    """The visibility a translation renders at, when its request names one (`visibility_m`), else None."""
    value = params.get("visibility_m")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def translated(
    item: ds.StoredImage,
    dataset_id: str,
    weather: str,
    image_format: ImageFormat = "png",
    visibility_m: float | None = None,
) -> ds.StoredImage:
    """Where a source image goes in the new dataset: its keys derive from the dataset id, so every attempt
    and every shard writes one image to one place. The source's visibility no longer holds: the record
    takes the translation's (`visibility_m`, None when it names none)."""
    record = dataclasses.replace(
        item.record,
        weather=ds.WEATHER_WORDS.get(weather, weather),
        timeofday=ds.TIME_WORDS.get(weather, item.record.timeofday),
        visibility_m=visibility_m,
    )
    image_id = record.image_id
    return ds.StoredImage(
        record,
        item.split,
        ds.image_key(dataset_id, image_id, EXTENSIONS[image_format]),
        ds.label_key(dataset_id, image_id),
        None,
    )


def translate_images(
    ctx: JobContext,
    translator_of: Callable[[Any], ImageTranslator],
    work: list[tuple[ds.StoredImage, ds.StoredImage]],
    class_names: list[str],
    report: Callable[[int], None],
    image_format: ImageFormat = "png",
    jpeg_quality: int = 95,
) -> tuple[set[str], dict[str, ImageAudit]]:
    """Translate each (source, destination) pair into the destination's keys, each with the translator
    `translator_of(record)` gives (one per sequence where a method fixes params per sequence); `report(done)`
    as images finish. Decoding, encoding and the label-safety audit overlap the rendering on the worker's
    thread pool (services/translator/pipeline.py), results in order; with one thread, only the writes to
    the store overlap (they wait on the disk). Returns the ids of images that could
    not be read (each one a warning) and the audit of every image translated here. A retry after a dead
    worker keeps what the earlier attempt finished."""
    failed: set[str] = set()
    audits: dict[str, ImageAudit] = {}
    max_pixels = ctx.settings.max_image_pixels
    content_type = CONTENT_TYPES[image_format]
    finished = {
        dst.record.image_id
        for _, dst in work
        if ctx.attempt > 1 and ctx.store.exists(dst.label_key) and ctx.store.exists(dst.image_key)
    }
    todo = [pair for pair in work if pair[1].record.image_id not in finished]
    # Each item's translator, chosen here in the calling thread (they are built on first use).
    translator = {id(pair): translator_of(pair[0].record) for pair in todo}

    def encode(image: np.ndarray) -> bytes:
        return encode_png(image) if image_format == "png" else encode_jpeg(image, jpeg_quality)

    def load(pair: tuple[ds.StoredImage, ds.StoredImage]) -> tuple[Any, ...]:
        tr = translator[id(pair)]
        return (*load_inputs(ctx, pair[0], tr.uses_depth, max_pixels), tr)

    def render(loaded: list[tuple[Any, ...]]) -> list[tuple[np.ndarray, np.ndarray]]:
        """(translated, source) per item; consecutive items of one translator render as one batch."""
        outs: list[tuple[np.ndarray, np.ndarray]] = []
        start = 0
        while start < len(loaded):
            tr, end = loaded[start][2], start + 1
            while end < len(loaded) and loaded[end][2] is tr:
                end += 1
            images = [image for image, _, _ in loaded[start:end]]
            outs.extend(zip(tr.translate(images, [d for _, d, _ in loaded[start:end]]), images, strict=True))
            start = end
        return outs

    def store(
        pair: tuple[ds.StoredImage, ds.StoredImage], rendered: tuple[np.ndarray, np.ndarray]
    ) -> tuple[ImageAudit, bytes]:
        out, image = rendered
        return audit_record(image, out, pair[1].record), encode(out)

    def write(pair: tuple[ds.StoredImage, ds.StoredImage], stored: tuple[ImageAudit, bytes]) -> ImageAudit:
        dst = pair[1]
        ctx.store.put_bytes(dst.image_key, stored[1], content_type)
        # The label last: its presence marks the image as done.
        ctx.store.put_bytes(dst.label_key, ds.label_text(dst.record, class_names), "text/plain")
        return stored[0]

    done = len(finished)
    batch_size = max((t.batch_size for t in translator.values()), default=1)
    outcomes = pipeline.run(
        todo, load, render, store, write=write, threads=worker_threads(ctx.settings), batch_size=batch_size
    )
    with closing(outcomes):  # a cancel or failure stops the pool's threads before the job ends
        for outcome in outcomes:
            if isinstance(outcome.error, Unreadable):
                ctx.warn(str(outcome.error))
                failed.add(outcome.item[0].record.image_id)
            elif outcome.error is not None:
                raise outcome.error
            else:
                audits[outcome.item[1].record.image_id] = outcome.result
            done += 1
            report(done)
    if not todo:
        report(len(work))
    return failed, audits


def selected(ctx: JobContext, p: TranslateDatasetPayload) -> tuple[Dataset, list[ds.StoredImage]]:
    """The source dataset (detached) and the images the filter selects that have pixels, in its order."""
    source_id = p.source_dataset_id
    with session_scope(ctx.db_url) as s:
        source = s.get(Dataset, source_id)
        if source is None:
            raise JobError(f"source dataset {source_id} no longer exists")
        query = ds.select_images(source_id, parse_filter(p.filter or None))
        wanted = {row.image_id for row in s.scalars(query.where(DatasetImage.image_key.is_not(None)))}
        s.expunge(source)
    items = [i for i in ds.load_items(ctx.store, source_id, wanted) if i.image_key]
    if not items:
        raise JobError("the filter selects no images with pixels")
    return source, items


def fixed_per_sequence(
    ctx: JobContext, p: TranslateDatasetPayload, items: list[ds.StoredImage]
) -> tuple[list[ds.StoredImage], dict[str, dict[str, Any]]]:
    """(the items, frames of one sequence together and in order, when the method fixes params per
    sequence; those params per sequence key, estimated once here unless the request carries them)."""
    estimate = translator_for(ctx, p.translation).sequence_params
    if estimate is None:
        return items, {}
    items = [item for group in by_sequence(items, lambda item: item.record).values() for item in group]
    return items, sequence_params(ctx, items, estimate, p.sequence_params)


def run(ctx: JobContext, p: TranslateDatasetPayload) -> JobOutcome:
    """A new dataset: the selected images translated by shards, labels and metadata carried over, each
    image's label-safety audit, lineage recorded (and the translation's quality, when asked)."""
    translation, source_id = p.translation, p.source_dataset_id
    new_id = ctx.job_id
    ctx.outputs(ds.prefix(new_id))

    def plan() -> list[TranslateShardPayload]:
        _, items = selected(ctx, p)
        items, fixed = fixed_per_sequence(ctx, p, items)
        chunks = split([i.record.image_id for i in items], ctx.settings.shard_images)
        return [
            TranslateShardPayload(
                source_dataset_id=source_id,
                dataset_id=new_id,
                translation=translation,
                image_ids=chunk,
                shard=n,
                shards=len(chunks),
                strict=p.strict,
                sequence_params=fixed,
                image_format=p.image_format,
                jpeg_quality=p.jpeg_quality,
            )
            for n, chunk in enumerate(chunks)
        ]

    shards = run_shards(ctx, "translate_shard", plan, "translation")
    source, items = selected(ctx, p)
    items, fixed = fixed_per_sequence(ctx, p, items)
    class_names = list(source.class_names)
    skipped: set[str] = set()
    audits: dict[str, ImageAudit] = {}
    depth_sources: Counter[str] = Counter()
    for shard in shards:
        result = shard.result or {}
        skipped.update(result.get("skipped", []))
        audits.update({k: ImageAudit.from_dict(v) for k, v in (result.get("audits") or {}).items()})
        depth_sources.update(result.get("depth_sources") or {})
        for warning in shard.warnings or []:
            if warning not in ctx.warnings:
                ctx.warnings.append(warning)
    weather = translation.weather
    pairs = [
        (i, translated(i, new_id, weather, p.image_format, translation_visibility(translation.params)))
        for i in items
        if i.record.image_id not in skipped
    ]
    out_items = [dst for _, dst in pairs]
    if not out_items:
        raise JobError(
            f"none of the {len(items)} selected images could be translated: {'; '.join(ctx.warnings)}"
        )
    # Images an earlier attempt of a shard finished are audited from the store.
    audits.update(audit_stored(ctx, [(src, dst) for src, dst in pairs if dst.record.image_id not in audits]))
    per_image, audit_summary = stored_form(audits)
    quality = measure_translation(ctx, pairs, p.quality) if p.quality is not None else None
    lineage: dict[str, Any] = {
        **translation.model_dump(),
        "source_dataset_id": source_id,
        "filter": p.filter,
        "image_format": p.image_format,
        **({"jpeg_quality": p.jpeg_quality} if p.image_format == "jpeg" else {}),
    }
    if depth_sources:  # source -> images that used it
        lineage["depth_sources"] = dict(sorted(depth_sources.items()))
    if fixed:  # sequence -> params fixed for it (fog: atmospheric_light)
        lineage["sequence_params"] = fixed
    if quality is not None:
        lineage["quality"] = quality.model_dump()
    ds.write_meta(ctx.store, new_id, out_items, {"images": len(out_items), "translated_from": source_id})
    stats = ds.stored_stats(out_items, class_names, ctx.warnings)
    dataset = Dataset(
        id=new_id,
        name=p.name,
        format=source.format,
        uri=None,
        options={},
        class_names=class_names,
        stats=stats,
        parent_id=source_id,
        lineage=lineage,
        job_id=ctx.job_id,
    )
    return JobOutcome(
        TranslateDatasetResult(
            dataset_id=new_id,
            images=len(out_items),
            shards=len(shards),
            label_audit=audit_summary,
            quality=quality,
        ),
        write=lambda s: (
            ds.save_index(s, dataset, out_items),
            ds.save_label_audit(s, new_id, per_image, audit_summary),
        ),
    )
