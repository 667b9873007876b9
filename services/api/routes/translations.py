"""Translating one image to a weather, and downloading the result."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Query, UploadFile, status
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from services.api.deps import CeleryDep, SessionDep, SettingsDep, StoreDep
from services.api.lookups import get_or_404
from services.api.schemas import JobOut
from services.api.submit import Submission, submit
from services.api.translation_requests import resolve_translation
from services.api.uploads import image_http_error, parse_json_object, read_capped
from services.common import methods
from services.common.contracts.translate import TranslatePayload
from services.common.core.db.models import Job
from services.common.core.images import ImageError, decode_depth_png, decode_image, encode_png

router = APIRouter(prefix="/v1/translations", tags=["translations"])


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=JobOut)
def create_translation(
    session: SessionDep,
    store: StoreDep,
    celery: CeleryDep,
    settings: SettingsDep,
    image: Annotated[UploadFile, File(description="PNG or JPEG driving image")],
    weather: Annotated[
        str | None,
        Form(description="the weather to render, for methods with fixed weathers; see GET /v1/weathers"),
    ] = None,
    method: Annotated[
        str | None,
        Form(description="a translation method (GET /v1/weathers lists them); default: the default method"),
    ] = None,
    model_id: Annotated[
        str | None, Form(description="a translator model id, for methods that need one")
    ] = None,
    style_id: Annotated[str | None, Form(description="a style id, for methods that take one")] = None,
    depth: Annotated[
        UploadFile | None, File(description="16-bit PNG depth in cm (Virtual KITTI 2); 65535 = sky")
    ] = None,
    params: Annotated[
        str | None, Form(description='JSON object, e.g. {"visibility_m": 150, "seed": 1}')
    ] = None,
):
    raw_params = parse_json_object(params, "params")
    translation = resolve_translation(
        session,
        settings,
        store,
        method or methods.default(),
        weather or None,
        model_id or None,
        style_id or None,
        raw_params,
    )

    image_bytes = read_capped(image, settings.max_upload_bytes, "image")
    try:
        pixels = decode_image(image_bytes, settings.max_image_pixels)
    except ImageError as exc:
        raise image_http_error("image", exc) from exc
    depth_png = None
    if depth is not None:
        depth_bytes = read_capped(depth, settings.max_upload_bytes, "depth")
        try:
            depth_map = decode_depth_png(depth_bytes, settings.max_image_pixels)
        except ImageError as exc:
            raise image_http_error("depth", exc) from exc
        if depth_map.shape != pixels.shape[:2]:
            raise HTTPException(
                422,
                f"depth: size {depth_map.shape[1]}x{depth_map.shape[0]} differs from the image's "
                f"{pixels.shape[1]}x{pixels.shape[0]}; send the depth map of this frame",
            )
        depth_png = depth_bytes

    sub = Submission(store)
    try:
        # The decoded pixels are stored as PNG so the worker never sees a format we did not validate.
        image_key = sub.put("image.png", encode_png(pixels), "image/png")
        depth_key = sub.put("depth.png", depth_png, "image/png") if depth_png is not None else None
    except Exception:
        sub.discard()
        raise
    payload = TranslatePayload(
        translation=translation,
        image_key=image_key,
        depth_key=depth_key,
        filename=(image.filename or "")[:255],
    )
    return submit(session, celery, settings, "translate", payload, sub)


@router.get(
    "/{job_id}/image",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, 409: {"description": "not finished"}},
)
def translation_image(
    job_id: str,
    session: SessionDep,
    store: StoreDep,
    redirect: Annotated[
        bool, Query(description="307 to a short-lived presigned URL when the store is S3")
    ] = False,
) -> Response:
    job = get_or_404(session, Job, job_id, "job")
    if job.kind != "translate":
        raise HTTPException(404, f"job {job_id} is a {job.kind} job, not a translation")
    if job.status != "succeeded":
        hint = {"failed": f"it failed: {job.error}", "cancelled": "it was cancelled"}.get(
            job.status, f"it is {job.status} ({job.progress:.0%}); poll GET /v1/jobs/{job_id}"
        )
        raise HTTPException(status.HTTP_409_CONFLICT, f"translation {job_id} has no image yet: {hint}")
    key = job.result["image_key"]
    url = store.presigned_get_url(key, expires_s=600) if redirect else None
    if url:
        return RedirectResponse(url, status_code=307)
    return StreamingResponse(
        store.open_stream(key),
        media_type="image/png",
        headers={"Content-Disposition": f'inline; filename="{job_id}.png"'},
    )
