"""The Gatys NST method's builder: each image optimised towards the style's Gram statistics."""

from __future__ import annotations

import numpy as np

from services.common.methods.nst import NSTParams
from services.translator.inputs import style_images, vgg_features
from services.translator.translators import BuildContext, ImageTranslator


def build(params: NSTParams, context: BuildContext) -> ImageTranslator:
    from services.translator.nst.gatys import GatysConfig, stylize

    assert context.style is not None, "the spec requires a style"
    cfg = GatysConfig(**params.model_dump())
    features = vgg_features(context.store, context.settings, context.translation.weights.get("vgg19", 0))
    styles = style_images(context.store, context.settings, context.style["image_keys"])
    ctx = context.ctx

    def run(images: list[np.ndarray], _depths: list[np.ndarray | None]) -> list[np.ndarray]:
        out = []
        for img in images:

            def progress(i: int, loss: float) -> None:
                if ctx is not None and context.report_iterations and (i % 10 == 0 or i == cfg.iterations):
                    ctx.progress(
                        0.1 + 0.85 * i / max(cfg.iterations, 1),
                        f"NST iteration {i}/{cfg.iterations} loss {loss:.4g}",
                        done=i,
                        total=cfg.iterations,
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
