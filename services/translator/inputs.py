"""What translation jobs read besides the image: the model and style rows a translation names, depth maps,
style images and the VGG-19 features."""

from __future__ import annotations

from typing import Any

import numpy as np

from services.common.core.db.models import Style, TranslatorModel
from services.common.core.db.session import session_scope
from services.common.core.images import decode_depth_png, decode_image
from services.common.core.settings import Settings
from services.common.core.storage import ObjectStore
from services.common.core.weights import local_path
from services.common.methods.translation import Translation
from services.common.runtime.lifecycle import JobError
from services.common.runtime.worker import JobContext
from services.translator.translators import ImageTranslator, build, device_for


def rows_of(ctx: JobContext, translation: Translation) -> dict[str, Any]:
    """The model and style rows a translation names, as plain dicts (they may be gone since the request)."""
    context: dict[str, Any] = {}
    with session_scope(ctx.db_url) as s:
        if translation.model_id:
            model = s.get(TranslatorModel, translation.model_id)
            if model is None:
                raise JobError(f"translator model {translation.model_id} no longer exists")
            context["model"] = {
                "id": model.id,
                "checkpoint_key": model.checkpoint_key,
                "config": model.config,
                "options": model.options,
                "weather": model.weather,
            }
        if translation.style_id:
            style = s.get(Style, translation.style_id)
            if style is None:
                raise JobError(f"style {translation.style_id} no longer exists")
            context["style"] = {
                "id": style.id,
                "image_keys": list(style.image_keys),
                "weather": style.weather,
            }
    return context


def translator_for(
    ctx: JobContext, translation: Translation, report_iterations: bool = False
) -> ImageTranslator:
    """The translator a job uses: the method's builder with the rows it names."""
    return build(
        translation,
        ctx.store,
        ctx.settings,
        ctx=ctx,
        report_iterations=report_iterations,
        **rows_of(ctx, translation),
    )


def depth_metres(ctx: JobContext, key: str | None):  # noqa: ANN202
    if not key:
        return None
    from services.translator.weather.depth import vkitti_depth_to_metres

    return vkitti_depth_to_metres(decode_depth_png(ctx.store.get_bytes(key), ctx.settings.max_image_pixels))


_VGG = None  # the per-process VGG-19 cache, created on first use


def vgg_features(store: ObjectStore, settings: Settings, version: int):  # noqa: ANN201
    """VGG-19 features on this worker's device, from that version of the operator's weights (loaded once)."""
    from services.translator.vgg.weights import VGGCache

    global _VGG
    if _VGG is None:
        _VGG = VGGCache()
    return _VGG.get(local_path(settings, store, "vgg19", version), device_for(settings))


def style_images(store: ObjectStore, settings: Settings, keys: list[str]) -> list[np.ndarray]:
    return [decode_image(store.get_bytes(k), settings.max_image_pixels) for k in keys]
