"""The translator registry: a recipe (method, weather, model/style, params) -> something that translates.

A new method is one builder here plus its domain package; the API and the tasks stay untouched. Loaded
models are cached per worker process, keyed by what identifies their weights.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from services.common.model_cache import MODELS
from services.common.settings import Settings
from services.common.storage import ObjectStore


@dataclass
class ImageTranslator:
    """Translates a batch of RGB uint8 images (with optional depth in metres) to the same sizes."""

    translate: Callable[[list[np.ndarray], list[np.ndarray | None]], list[np.ndarray]]
    batch_size: int = 1
    uses_depth: bool = False


def device_for(settings: Settings) -> str:
    import torch

    if settings.device != "auto":
        return settings.device
    return "cuda" if torch.cuda.is_available() else "cpu"


def build_physics(
    recipe: dict[str, Any], store: ObjectStore, settings: Settings, **_: Any
) -> ImageTranslator:
    from services.common.weather_params import parse_physics_params
    from services.translator.weather.registry import render

    weather = recipe["weather"]
    params = parse_physics_params(weather, recipe.get("params"))

    def run(images: list[np.ndarray], depths: list[np.ndarray | None]) -> list[np.ndarray]:
        return [render(weather, img, params, depth) for img, depth in zip(images, depths, strict=True)]

    return ImageTranslator(run, batch_size=1, uses_depth=True)


def build_cyclegan(
    recipe: dict[str, Any], store: ObjectStore, settings: Settings, *, model: dict[str, Any], **_: Any
) -> ImageTranslator:
    from services.translator.cyclegan.checkpoint import load_generator_state
    from services.translator.cyclegan.inference import Translator
    from services.translator.cyclegan.networks import GeneratorConfig

    params = recipe.get("params") or {}
    device = device_for(settings)
    backend = params.get("backend", "auto")
    batch_size = int(params.get("batch_size", 4))

    def load() -> Translator:
        generator = load_generator_state(
            store.get_bytes(model["checkpoint_key"]), GeneratorConfig.from_dict(model["config"])
        )
        return Translator(generator, device, backend=backend, batch_size=batch_size)

    translator = MODELS.get(f"cyclegan:{model['checkpoint_key']}:{device}:{backend}:{batch_size}", load)
    return ImageTranslator(lambda images, _depths: translator.translate(images), batch_size=batch_size)


VGG = None  # the per-process VGG-19 cache, created on first NST use


def vgg_features(store: ObjectStore, settings: Settings):  # noqa: ANN201
    from services.common.weights import vgg19_local_path
    from services.translator.nst.weights import VGGCache

    global VGG
    if VGG is None:
        VGG = VGGCache()
    return VGG.get(vgg19_local_path(settings, store), device_for(settings))


def style_images(store: ObjectStore, settings: Settings, keys: list[str]) -> list[np.ndarray]:
    from services.common.images import decode_image

    return [decode_image(store.get_bytes(k), settings.max_image_pixels) for k in keys]


def build_nst(
    recipe: dict[str, Any],
    store: ObjectStore,
    settings: Settings,
    *,
    style: dict[str, Any],
    ctx: Any = None,
    report_iterations: bool = False,
    **_: Any,
) -> ImageTranslator:
    """Gatys NST; `report_iterations` puts each iteration on the job's progress (single-image jobs)."""
    from services.translator.nst.gatys import GatysConfig, stylize

    params = dict(recipe.get("params") or {})
    cfg = GatysConfig(
        **{
            **params,
            "content_layers": tuple(params.get("content_layers", ("conv4_2",))),
            "style_layers": tuple(params.get("style_layers", GatysConfig.style_layers)),
        }
    )
    features = vgg_features(store, settings)
    styles = style_images(store, settings, style["image_keys"])

    def run(images: list[np.ndarray], _depths: list[np.ndarray | None]) -> list[np.ndarray]:
        out = []
        for img in images:

            def progress(i: int, loss: float) -> None:
                if ctx is not None and report_iterations and (i % 10 == 0 or i == cfg.iterations):
                    ctx.progress(
                        0.1 + 0.85 * i / max(cfg.iterations, 1),
                        f"NST iteration {i}/{cfg.iterations} loss {loss:.4g}",
                    )

            stylised, _history = stylize(
                img,
                styles,
                features,
                cfg,
                on_progress=progress,
                should_stop=ctx.cancelled.is_set if ctx is not None else None,
            )
            if ctx is not None:
                ctx.check_cancelled()
            out.append(stylised)
        return out

    return ImageTranslator(run, batch_size=1)


def build_adain(
    recipe: dict[str, Any],
    store: ObjectStore,
    settings: Settings,
    *,
    model: dict[str, Any],
    style: dict[str, Any] | None = None,
    **_: Any,
) -> ImageTranslator:
    import io

    import torch

    from services.translator.nst.adain import AdaINTranslator

    params = recipe.get("params") or {}
    features = vgg_features(store, settings)

    def load() -> AdaINTranslator:
        state = torch.load(
            io.BytesIO(store.get_bytes(model["checkpoint_key"])), map_location="cpu", weights_only=True
        )
        return AdaINTranslator(features, state)

    translator = MODELS.get(f"adain:{model['checkpoint_key']}:{device_for(settings)}", load)
    keys = (style or {}).get("image_keys") or model["options"].get("style_keys") or []
    keys = keys[: int(params.get("max_style_images", 16))]
    if not keys:
        raise ValueError("no style images: pass style_id")
    stats = translator.style_statistics(style_images(store, settings, keys))
    alpha = float(params.get("alpha", 1.0))
    return ImageTranslator(lambda images, _d: [translator.translate(i, stats, alpha) for i in images])


BUILDERS: dict[str, Callable[..., ImageTranslator]] = {
    "physics": build_physics,
    "cyclegan": build_cyclegan,
    "nst": build_nst,
    "adain": build_adain,
}


def build(recipe: dict[str, Any], store: ObjectStore, settings: Settings, **context: Any) -> ImageTranslator:
    method = recipe["method"]
    if method not in BUILDERS:
        raise ValueError(f"method {method!r} is not served by this worker; known: {', '.join(BUILDERS)}")
    return BUILDERS[method](recipe, store, settings, **context)
