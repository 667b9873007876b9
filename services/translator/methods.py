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
    backend = params.get("backend", "fast")
    batch_size = int(params.get("batch_size", 4))

    def load() -> Translator:
        generator = load_generator_state(
            store.get_bytes(model["checkpoint_key"]), GeneratorConfig.from_dict(model["config"])
        )
        return Translator(generator, device, backend=backend, batch_size=batch_size)

    translator = MODELS.get(f"cyclegan:{model['checkpoint_key']}:{device}:{backend}:{batch_size}", load)
    return ImageTranslator(lambda images, _depths: translator.translate(images), batch_size=batch_size)


BUILDERS: dict[str, Callable[..., ImageTranslator]] = {
    "physics": build_physics,
    "cyclegan": build_cyclegan,
}


def build(recipe: dict[str, Any], store: ObjectStore, settings: Settings, **context: Any) -> ImageTranslator:
    method = recipe["method"]
    if method not in BUILDERS:
        raise ValueError(f"method {method!r} is not served by this worker; known: {', '.join(BUILDERS)}")
    return BUILDERS[method](recipe, store, settings, **context)
