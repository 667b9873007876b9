"""One dataset image: its pixels, a cached thumbnail, its labels as JSON, and the same for the source image
of a translated dataset (through its lineage). Image ids may contain '/' (Virtual KITTI 2 frames)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response, StreamingResponse

from services.api import dataset_images as di
from services.api.deps import SessionDep, SettingsDep, StoreDep

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])

DatasetId = Annotated[str, Path(description="a dataset id (GET /v1/datasets)")]
ImageId = Annotated[
    str,
    Path(
        description="an image id as GET /v1/datasets/{dataset_id}/images lists it; may contain '/'",
        examples=["Scene01/clone/Camera_0/00012"],
    ),
]
Size = Annotated[
    int,
    Query(
        description=f"longest side in pixels, one of {', '.join(map(str, di.THUMBNAIL_SIZES))}",
        examples=[256],
    ),
]
_PNG_OR_JPEG = {200: {"content": {"image/png": {}, "image/jpeg": {}}}}
_JPEG = {200: {"content": {"image/jpeg": {}}}}


def _pixels(store, dataset, row) -> StreamingResponse:  # noqa: ANN001
    key = di.pixels_key(dataset, row)
    media = "image/jpeg" if key.lower().endswith((".jpg", ".jpeg")) else "image/png"
    return StreamingResponse(
        store.open_stream(key), media_type=media, headers={"Cache-Control": "private, max-age=3600"}
    )


def _thumb(data: bytes) -> Response:
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


# The suffixed routes come first: `{image_id:path}` would otherwise swallow "/thumbnail".
@router.get("/{dataset_id}/images/{image_id:path}/source/thumbnail", response_class=Response, responses=_JPEG)
def source_thumbnail(
    dataset_id: DatasetId,
    image_id: ImageId,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    size: Size = 256,
) -> Response:
    """The thumbnail of the image this translated image was made from."""
    dataset, row = di.image_row(session, dataset_id, image_id, source=True)
    return _thumb(di.thumbnail(store, dataset, row, size, settings.max_image_pixels))


@router.get("/{dataset_id}/images/{image_id:path}/source/labels")
def source_labels(
    dataset_id: DatasetId, image_id: ImageId, session: SessionDep, store: StoreDep
) -> dict[str, Any]:
    """The labels and metadata of the image this translated image was made from."""
    dataset, row = di.image_row(session, dataset_id, image_id, source=True)
    return di.labels(store, dataset, row)


@router.get(
    "/{dataset_id}/images/{image_id:path}/source", response_class=StreamingResponse, responses=_PNG_OR_JPEG
)
def source_image(
    dataset_id: DatasetId, image_id: ImageId, session: SessionDep, store: StoreDep
) -> StreamingResponse:
    """The pixels of the image this translated image was made from (the parent dataset's image with the
    same id); 404 for a dataset that was not translated from another."""
    dataset, row = di.image_row(session, dataset_id, image_id, source=True)
    return _pixels(store, dataset, row)


@router.get("/{dataset_id}/images/{image_id:path}/thumbnail", response_class=Response, responses=_JPEG)
def image_thumbnail(
    dataset_id: DatasetId,
    image_id: ImageId,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    size: Size = 256,
) -> Response:
    """A JPEG thumbnail in stored-pixel orientation (the labels' coordinates, scaled), made on first request
    and kept under the dataset's prefix."""
    dataset, row = di.image_row(session, dataset_id, image_id)
    return _thumb(di.thumbnail(store, dataset, row, size, settings.max_image_pixels))


@router.get("/{dataset_id}/images/{image_id:path}/labels")
def image_labels(
    dataset_id: DatasetId, image_id: ImageId, session: SessionDep, store: StoreDep
) -> dict[str, Any]:
    """Boxes in pixel coordinates (x2/y2 exclusive) with class names and attributes (occluded, truncated,
    track id), and the image's metadata."""
    dataset, row = di.image_row(session, dataset_id, image_id)
    return di.labels(store, dataset, row)


@router.get("/{dataset_id}/images/{image_id:path}", response_class=StreamingResponse, responses=_PNG_OR_JPEG)
def image_pixels(
    dataset_id: DatasetId, image_id: ImageId, session: SessionDep, store: StoreDep
) -> StreamingResponse:
    """The stored image file as ingested (PNG or JPEG); 404 for a label-only image."""
    dataset, row = di.image_row(session, dataset_id, image_id)
    return _pixels(store, dataset, row)
