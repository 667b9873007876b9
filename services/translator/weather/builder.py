"""The physics method's builder: each image rendered by its weather's renderer."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel

from services.translator.translators import BuildContext, ImageTranslator


def build(params: BaseModel, context: BuildContext) -> ImageTranslator:
    from services.translator.weather.registry import render

    weather = context.translation.weather

    def run(images: list[np.ndarray], depths: list[np.ndarray | None]) -> list[np.ndarray]:
        return [render(weather, img, params, depth) for img, depth in zip(images, depths, strict=True)]

    return ImageTranslator(run, batch_size=1)
