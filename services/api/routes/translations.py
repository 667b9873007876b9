"""Translating one image to a weather, and downloading the result."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Query, UploadFile, status
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from services.api.dataset_images import image_row, pixels_key
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
    image: Annotated[
        UploadFile | None,
        File(description="PNG or JPEG driving image; or name a stored one with dataset_id and image_id"),
    ] = None,
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
    dataset_id: Annotated[
        str | None,
        Form(description="instead of an upload: a dataset holding the image (its depth map is used too)"),
    ] = None,
    image_id: Annotated[
        str | None, Form(description="instead of an upload: the image's id in dataset_id")
    ] = None,
):
    """Translate one image: an upload (with an optional depth map), or a dataset's stored image with its
    depth map when the dataset has one."""
    stored = _stored_image(session, store, image, depth, dataset_id or None, image_id or None)
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

    if stored is not None:
        image_bytes, depth_bytes = stored
    else:
        assert image is not None
        image_bytes = read_capped(image, settings.max_upload_bytes, "image")
        depth_bytes = read_capped(depth, settings.max_upload_bytes, "depth") if depth is not None else None
    try:
        pixels = decode_image(image_bytes, settings.max_image_pixels)
    except ImageError as exc:
        raise image_http_error("image", exc) from exc
    depth_png = None
    if depth_bytes is not None:
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
    if translation.params.get("depth_source") == "provided" and depth_png is None:
        raise HTTPException(
            422,
            "params.depth_source: 'provided' needs a depth map: send `depth` (or name a dataset image that "
            "has one), or leave depth_source out, or use 'geometric' or 'model'",
        )

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
        filename=((image.filename if image is not None else image_id) or "")[:255],
    )
    return submit(session, celery, settings, "translate", payload, sub)


def _stored_image(
    session: SessionDep,
    store: StoreDep,
    image: UploadFile | None,
    depth: UploadFile | None,
    dataset_id: str | None,
    image_id: str | None,
) -> tuple[bytes, bytes | None] | None:
    """A dataset image's bytes and its depth map's (or None), when the request names one instead of
    uploading; None for an upload. Exactly one of the two ways must be used."""
    if image is not None:
        if dataset_id or image_id:
            raise HTTPException(422, "image: send an upload or dataset_id + image_id, not both")
        return None
    if not (dataset_id and image_id):
        missing = "image_id" if dataset_id else "dataset_id" if image_id else "image"
        raise HTTPException(
            422, f"{missing}: required; send an image upload, or dataset_id and image_id of a stored image"
        )
    if depth is not None:
        raise HTTPException(422, "depth: a stored image uses its dataset's depth map; do not upload one")
    dataset, row = image_row(session, dataset_id, image_id, field="dataset_id")
    key = pixels_key(dataset, row)
    return store.get_bytes(key), store.get_bytes(row.depth_key) if row.depth_key else None


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
