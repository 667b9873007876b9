"""Adapts the translators to the queue: read inputs from the store, translate, write the results."""

from __future__ import annotations

import dataclasses
from typing import Any

from services.common import dataset_store as ds
from services.common.datasets.filters import parse_filter
from services.common.datasets.stats import compute_stats
from services.common.db.models import Dataset, DatasetImage, Style, TranslatorModel
from services.common.db.session import session_scope
from services.common.images import decode_depth_png, decode_image, encode_png
from services.common.jobs import JobError
from services.common.weights import publish_configured_vgg19
from services.common.worker import JobContext, JobOutcome, WorkerRuntime
from services.translator import methods


def recipe_context(ctx: JobContext, recipe: dict[str, Any]) -> dict[str, Any]:
    """The model and style rows a recipe names, as plain dicts (they may be gone since the request)."""
    context: dict[str, Any] = {}
    with session_scope(ctx.db_url) as s:
        if recipe.get("model_id"):
            model = s.get(TranslatorModel, recipe["model_id"])
            if model is None:
                raise JobError(f"translator model {recipe['model_id']} no longer exists")
            context["model"] = {
                "id": model.id,
                "checkpoint_key": model.checkpoint_key,
                "config": model.config,
                "options": model.options,
                "weather": model.weather,
            }
        if recipe.get("style_id"):
            style = s.get(Style, recipe["style_id"])
            if style is None:
                raise JobError(f"style {recipe['style_id']} no longer exists")
            context["style"] = {
                "id": style.id,
                "image_keys": list(style.image_keys),
                "weather": style.weather,
            }
    return context


def depth_metres(ctx: JobContext, key: str | None):  # noqa: ANN202
    if not key:
        return None
    from services.translator.weather.depth import vkitti_depth_to_metres

    return vkitti_depth_to_metres(decode_depth_png(ctx.store.get_bytes(key), ctx.settings.max_image_pixels))


def translate(ctx: JobContext) -> dict[str, Any]:
    p = ctx.params
    recipe = p["recipe"]
    image = decode_image(ctx.store.get_bytes(p["image_key"]), ctx.settings.max_image_pixels)
    translator = methods.build(
        recipe, ctx.store, ctx.settings, ctx=ctx, report_iterations=True, **recipe_context(ctx, recipe)
    )
    depth = depth_metres(ctx, p.get("depth_key")) if translator.uses_depth else None
    ctx.progress(
        0.1, f"translating {image.shape[1]}x{image.shape[0]} to {recipe['weather']} ({recipe['method']})"
    )
    (out,) = translator.translate([image], [depth])
    ctx.check_cancelled()
    key = ctx.outputs(f"translations/{ctx.job_id}/") + "result.png"
    ctx.store.put_bytes(key, encode_png(out), "image/png")
    return {
        "image_key": key,
        "width": int(out.shape[1]),
        "height": int(out.shape[0]),
        "method": recipe["method"],
        "weather": recipe["weather"],
    }


def translate_dataset(ctx: JobContext) -> JobOutcome:
    """A new dataset: the selected images translated, labels and metadata carried over, lineage recorded."""
    p = ctx.params
    recipe, source_id = p["recipe"], p["source_dataset_id"]
    with session_scope(ctx.db_url) as s:
        source = s.get(Dataset, source_id)
        if source is None:
            raise JobError(f"source dataset {source_id} no longer exists")
        class_names = list(source.class_names)
        source_format = source.format
        query = ds.select_images(source_id, parse_filter(p.get("filter") or None))
        wanted = {row.image_id for row in s.scalars(query.where(DatasetImage.image_key.is_not(None)))}
    items = [i for i in ds.load_items(ctx.store, source_id) if i.record.image_id in wanted and i.image_key]
    if not items:
        raise JobError("the filter selects no images with pixels")
    translator = methods.build(recipe, ctx.store, ctx.settings, ctx=ctx, **recipe_context(ctx, recipe))
    weather = recipe["weather"]
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
    lineage = {**recipe, "source_dataset_id": source_id, "filter": p.get("filter") or []}
    ds.write_meta(ctx.store, new_id, out_items, {"images": len(out_items), "translated_from": source_id})
    stats = compute_stats([i.record for i in out_items], class_names).to_dict()
    stats["splits"] = {s: sum(1 for i in out_items if i.split == s) for s in ("train", "val")}
    dataset = Dataset(
        id=new_id,
        name=p["name"],
        format=source_format,
        uri=None,
        options={},
        class_names=class_names,
        stats=stats,
        parent_id=source_id,
        recipe=lineage,
        job_id=ctx.job_id,
    )
    return JobOutcome(
        {"dataset_id": new_id, "images": len(out_items)}, write=lambda s: ds.save_index(s, dataset, out_items)
    )


def register(runtime: WorkerRuntime) -> None:
    from services.translator.compose_task import compose_dataset
    from services.translator.train_task import train_translator

    publish_configured_vgg19(runtime.settings, runtime.store)
    runtime.task("translate")(translate)
    runtime.task("translate_dataset")(translate_dataset)
    runtime.task("train_translator")(train_translator)
    runtime.task("compose_dataset")(compose_dataset)
