"""The AdaIN method's builder: the trained decoder with the style's feature statistics."""

from __future__ import annotations

import io

from services.common.core.model_cache import MODELS
from services.common.methods.adain import AdaINParams
from services.translator.inputs import style_images, vgg_features
from services.translator.translators import BuildContext, ImageTranslator, device_for


def build(params: AdaINParams, context: BuildContext) -> ImageTranslator:
    import torch

    from services.translator.adain.network import AdaINTranslator

    model, store, settings = context.model, context.store, context.settings
    assert model is not None, "the spec requires a model"
    features = vgg_features(store, settings, context.translation.weights.get("vgg19", 0))

    def load() -> AdaINTranslator:
        state = torch.load(
            io.BytesIO(store.get_bytes(model["checkpoint_key"])), map_location="cpu", weights_only=True
        )
        return AdaINTranslator(features, state)

    translator = MODELS.get(f"adain:{model['checkpoint_key']}:{device_for(settings)}", load)
    keys = (context.style or {}).get("image_keys") or model["options"].get("style_keys") or []
    keys = keys[: params.max_style_images]
    if not keys:
        raise ValueError("style_id: this model keeps no style images; pass style_id")
    stats = translator.style_statistics(style_images(store, settings, keys))
    return ImageTranslator(
        lambda images, _d: translator.translate_batch(images, stats, params.alpha, params.batch_size),
        batch_size=params.batch_size,
    )
