"""The `translate` job: one uploaded image translated to a weather."""

from __future__ import annotations

from services.common.contracts.translate import TranslatePayload, TranslateResult
from services.common.core import keys
from services.common.core.images import decode_image, encode_png
from services.common.runtime.worker import JobContext
from services.translator.inputs import depth_metres, translator_for


def run(ctx: JobContext, p: TranslatePayload) -> TranslateResult:
    tr = p.translation
    image = decode_image(ctx.store.get_bytes(p.image_key), ctx.settings.max_image_pixels)
    translator = translator_for(ctx, tr, report_iterations=True)
    depth = depth_metres(ctx, p.depth_key) if translator.uses_depth else None
    ctx.progress(0.1, f"translating {image.shape[1]}x{image.shape[0]} to {tr.weather} ({tr.method})")
    (out,) = translator.translate([image], [depth])
    ctx.check_cancelled()
    ctx.outputs(keys.translation_prefix(ctx.job_id))
    key = keys.translation_result(ctx.job_id)
    ctx.store.put_bytes(key, encode_png(out), "image/png")
    return TranslateResult(
        image_key=key,
        width=int(out.shape[1]),
        height=int(out.shape[0]),
        method=tr.method,
        weather=tr.weather,
        depth_source=next(iter(translator.depth_sources), None),
        weights=tr.weights,
    )
