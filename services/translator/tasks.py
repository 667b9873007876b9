"""Adapts the translators to the queue: read inputs from the store, translate, write the result."""

from __future__ import annotations

from typing import Any

from services.common.images import decode_depth_png, decode_image, encode_png
from services.common.weather_params import parse_physics_params
from services.common.worker import JobContext, WorkerRuntime


def translate(ctx: JobContext) -> dict[str, Any]:
    from services.translator.weather.depth import vkitti_depth_to_metres
    from services.translator.weather.registry import render

    p = ctx.params
    max_pixels = ctx.settings.max_image_pixels
    image = decode_image(ctx.store.get_bytes(p["image_key"]), max_pixels)
    depth_m = None
    if p.get("depth_key"):
        depth_m = vkitti_depth_to_metres(decode_depth_png(ctx.store.get_bytes(p["depth_key"]), max_pixels))
    ctx.progress(0.1, f"translating {image.shape[1]}x{image.shape[0]} to {p['weather']} ({p['method']})")
    if p["method"] != "physics":
        raise ValueError(f"method {p['method']!r} is not served by this worker")
    out = render(p["weather"], image, parse_physics_params(p["weather"], p.get("params")), depth_m)
    ctx.check_cancelled()
    key = ctx.outputs(f"translations/{ctx.job_id}/") + "result.png"
    ctx.store.put_bytes(key, encode_png(out), "image/png")
    return {
        "image_key": key,
        "width": int(out.shape[1]),
        "height": int(out.shape[0]),
        "method": p["method"],
        "weather": p["weather"],
    }


def register(runtime: WorkerRuntime) -> None:
    runtime.task("translate")(translate)
