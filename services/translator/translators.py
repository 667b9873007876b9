"""From a resolved translation to something that translates images: the method's builder, found through
the method registry, given the rows and weights it needs."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from services.common import methods
from services.common.core.settings import Settings
from services.common.core.storage import ObjectStore
from services.common.methods.translation import Translation


@dataclass
class ImageTranslator:
    """Translates a batch of RGB uint8 images (with optional depth in metres) to the same sizes."""

    translate: Callable[[list[np.ndarray], list[np.ndarray | None]], list[np.ndarray]]
    batch_size: int = 1
    uses_depth: bool = False
    # Where each translated image's depth came from (source -> images), filled as it translates; the job
    # records it with the result. Empty for methods that use no depth.
    depth_sources: Counter[str] = field(default_factory=Counter)
    # Params a dataset translation fixes once per sequence from the sequence's first frame, so every frame
    # of it looks alike (e.g. fog's airlight when the request gives none); None when there are none.
    sequence_params: Callable[[np.ndarray], dict[str, Any]] | None = None


@dataclass
class BuildContext:
    """What a builder may use besides its params: the store, settings, the model and style rows the
    translation names (as plain dicts), and the running job (for progress and cancellation)."""

    store: ObjectStore
    settings: Settings
    translation: Translation
    model: dict[str, Any] | None = None
    style: dict[str, Any] | None = None
    ctx: Any = None
    report_iterations: bool = False


def device_for(settings: Settings) -> str:
    import torch

    if settings.device != "auto":
        return settings.device
    return "cuda" if torch.cuda.is_available() else "cpu"


def build(
    translation: Translation,
    store: ObjectStore,
    settings: Settings,
    *,
    model: dict[str, Any] | None = None,
    style: dict[str, Any] | None = None,
    ctx: Any = None,
    report_iterations: bool = False,
) -> ImageTranslator:
    """The method's translator for these params; `report_iterations` puts iterative methods' steps on the
    job's progress (single-image jobs)."""
    spec = methods.get(translation.method)
    params = spec.parse_params(translation.weather if spec.weather_params else None, translation.params)
    context = BuildContext(store, settings, translation, model, style, ctx, report_iterations)
    translator = spec.load_builder()(params, context)
    return dataclasses.replace(translator, uses_depth=spec.uses_depth)
