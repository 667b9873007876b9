"""Physics weathers by name: a new weather is one module plus one line in RENDERERS."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from pydantic import BaseModel

from services.common.methods.physics import PHYSICS_WEATHERS
from services.translator.weather.arrays import check_depth, check_image
from services.translator.weather.fog import render_fog
from services.translator.weather.night import render_dusk, render_night
from services.translator.weather.overcast import render_overcast
from services.translator.weather.rain import render_rain
from services.translator.weather.snow import render_snow

Renderer = Callable[[np.ndarray, BaseModel, np.ndarray | None], np.ndarray]

RENDERERS: dict[str, Renderer] = {
    "fog": render_fog,
    "rain": render_rain,
    "overcast": render_overcast,
    "dusk": render_dusk,
    "night": render_night,
    "snow": render_snow,
}


def render(
    weather: str, image: np.ndarray, params: BaseModel | None = None, depth_m: np.ndarray | None = None
) -> np.ndarray:
    """Render `weather` onto an HxWx3 uint8 RGB image; returns a new uint8 image of the same size.

    depth_m: optional HxW float32 metres (np.inf = sky), e.g. from depth.vkitti_depth_to_metres; without it
    a flat-ground estimate is used. params: the weather's model from services.common.methods.physics
    (None = defaults). Geometry is untouched, so labels stay valid; output is deterministic per params.seed.
    """
    renderer = RENDERERS.get(weather)
    if renderer is None:
        raise ValueError(
            f"Unknown physics weather '{weather}'; known weathers: {', '.join(sorted(RENDERERS))}."
        )
    model = PHYSICS_WEATHERS[weather]
    if params is None:
        params = model()
    elif type(params) is not model:
        raise ValueError(
            f"Weather '{weather}' takes {model.__name__} parameters, got {type(params).__name__}."
        )
    check_image(image)
    depth = check_depth(depth_m, image.shape[0], image.shape[1])
    out = renderer(np.ascontiguousarray(image), params, depth)
    if out.shape != image.shape or out.dtype != np.uint8:
        raise RuntimeError(f"{weather} renderer returned {out.shape} {out.dtype} for a {image.shape} image.")
    return out
