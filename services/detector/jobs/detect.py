"""The `detect` job: boxes for one uploaded image (interactive)."""

from __future__ import annotations

from services.common.contracts.detect import DetectPayload, ImageDetections
from services.common.core import keys
from services.common.core.images import decode_image, encode_png
from services.common.runtime.worker import JobContext
from services.detector.loaded_models import load_detector, weights_key_of


def run(ctx: JobContext, p: DetectPayload) -> ImageDetections:
    """Boxes for one uploaded image, and with `annotate` the image with them drawn."""
    from services.detector.inference import annotate

    weights_key = weights_key_of(ctx, p.model_id)
    image = decode_image(ctx.store.get_bytes(p.image_key), ctx.settings.max_image_pixels)
    detector = load_detector(ctx.store, ctx.settings, weights_key)
    (found,) = detector.predict([image], conf=p.conf, iou=p.iou, imgsz=p.imgsz)
    annotated_key = None
    if p.annotate:
        ctx.outputs(keys.detection_prefix(ctx.job_id))
        annotated_key = keys.detection_annotated(ctx.job_id)
        ctx.store.put_bytes(annotated_key, encode_png(annotate(image, found)), "image/png")
    return ImageDetections.model_validate(
        {
            "detections": [d.to_dict() for d in found],
            "width": image.shape[1],
            "height": image.shape[0],
            "annotated_key": annotated_key,
        }
    )
