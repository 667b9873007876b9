"""The physics method's builder: each image rendered by its weather's renderer, with the depth source its
request chose (the depth model loaded from the operator's weights when it may be used)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from pydantic import BaseModel

from services.common.methods.physics import DEPTH_MODEL_WEIGHTS, effective_depth_source
from services.translator.translators import BuildContext, ImageTranslator, device_for


def _estimator(context: BuildContext, version: int):  # noqa: ANN202
    from services.common.core.weights import local_path
    from services.translator.weather.depth_model import load_estimator

    path = local_path(context.settings, context.store, DEPTH_MODEL_WEIGHTS, version)
    return load_estimator(path, device_for(context.settings))


def build(params: BaseModel, context: BuildContext) -> ImageTranslator:
    from services.translator.weather.depth_model import model_scene
    from services.translator.weather.fog import neutral_airlight
    from services.translator.weather.registry import render
    from services.translator.weather.scene import Camera, Scene, model_depth

    weather = context.translation.weather
    requested = getattr(params, "depth_source", None)
    # The submit recorded the model's weights version when a request may use it (named, or the default
    # for images without a depth map): that decides this job's fallback, whatever the settings say now.
    version = context.translation.weights.get(DEPTH_MODEL_WEIGHTS)
    if requested == "model" and version is None:
        raise ValueError("depth_source 'model' was chosen but no depth_anything weights version was recorded")
    fallback = "model" if version is not None else "geometric"
    loaded: list = []  # the estimator, loaded on the first image that uses the model

    def estimator():  # noqa: ANN202
        if not loaded:
            loaded.append(_estimator(context, version))
        return loaded[0]

    sources: Counter[str] = Counter()

    def render_by_model(
        image: np.ndarray, chosen: BaseModel, depth: np.ndarray | None
    ) -> tuple[np.ndarray, str]:
        """The image rendered over the model's depth, and the source used ('geometric' if the fit failed)."""
        used = ["model"]

        def scene(img: np.ndarray, camera: Camera) -> Scene:
            found = model_scene(img, camera, estimator())
            used[0] = found.source
            return found

        with model_depth(scene):
            return render(weather, image, chosen, depth), used[0]

    def run(images: list[np.ndarray], depths: list[np.ndarray | None]) -> list[np.ndarray]:
        out = []
        for image, depth in zip(images, depths, strict=True):
            source = effective_depth_source(requested, depth is not None, fallback)
            chosen = params if source == requested else params.model_copy(update={"depth_source": source})
            if source == "model":
                rendered, source = render_by_model(image, chosen, depth)
            else:
                rendered = render(weather, image, chosen, depth)
            out.append(rendered)
            sources[source] += 1
        return out

    def per_sequence(first_frame: np.ndarray) -> dict[str, Any]:
        """Fog's default airlight, estimated once per sequence (neutral, from its first frame)."""
        airlight = neutral_airlight(first_frame)
        return {"atmospheric_light": [round(float(c), 4) for c in airlight]}

    fixes_airlight = weather == "fog" and getattr(params, "atmospheric_light", None) is None
    return ImageTranslator(
        run, batch_size=1, depth_sources=sources, sequence_params=per_sequence if fixes_airlight else None
    )
