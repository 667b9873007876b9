"""Image sets: an uploaded archive of images, stored under a prefix that training domains can name."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from fastapi import APIRouter, File, HTTPException, Path, UploadFile
from fastapi.responses import Response

from services.api.deletions import jobs_using, refuse_if_used, rows_using_objects
from services.api.deps import SessionDep, SettingsDep, StoreDep
from services.api.schemas import ImageSetOut
from services.api.uploads import read_capped
from services.common.core import keys
from services.common.core.archives import ArchiveError, iter_images
from services.common.core.db.models import ImageSet, new_id
from services.common.core.images import ImageError, decode_image, image_size
from services.common.core.settings import Settings
from services.common.core.storage import ObjectStore

router = APIRouter(prefix="/v1/image-sets", tags=["image sets"])


def _store_archive(data: bytes, store: ObjectStore, settings: Settings, set_id: str) -> ImageSetOut:
    prefix = keys.image_set_prefix(set_id)
    skipped: Counter[str] = Counter()
    count = 0
    try:
        members = list(iter_images(data, settings.max_upload_bytes, 8 * settings.max_upload_bytes, skipped))
        # What decoding every member would cost, from the headers, before any pixel is decoded.
        pixels = 0
        for name, blob in members:
            try:
                width, height = image_size(blob)
            except ImageError as exc:
                raise HTTPException(exc.status_code, f"archive: member {name}: {exc}") from exc
            pixels += width * height
            if pixels > settings.max_archive_pixels:
                raise HTTPException(
                    413,
                    f"archive: its images hold more than {settings.max_archive_pixels} pixels "
                    "(SIM2REAL_MAX_ARCHIVE_PIXELS); split it into smaller archives",
                )
        for name, blob in members:
            try:
                decode_image(blob, settings.max_image_pixels)
            except ImageError as exc:
                raise HTTPException(exc.status_code, f"archive: member {name}: {exc}") from exc
            store.put_bytes(
                prefix + name, blob, "image/png" if name.lower().endswith(".png") else "image/jpeg"
            )
            count += 1
    except ArchiveError as exc:
        store.delete_prefix(prefix)
        raise HTTPException(422, f"archive: {exc}") from exc
    except BaseException:
        store.delete_prefix(prefix)
        raise
    if count == 0:
        raise HTTPException(422, f"archive: no PNG or JPEG images inside (skipped: {dict(skipped)})")
    return ImageSetOut(id=set_id, prefix=prefix, images=count, skipped=dict(skipped))


@router.post("", status_code=201, response_model=ImageSetOut)
def upload_image_set(
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    archive: Annotated[UploadFile, File(description="zip or tar(.gz) of PNG/JPEG images")],
) -> ImageSetOut:
    """Every image is decoded (pixel cap) before it is kept; a bad member refuses the whole archive.

    The set is recorded as a row so retention can find it (SIM2REAL_RETENTION_DAYS after its upload,
    when no job, model or style names it)."""
    data = read_capped(archive, settings.max_upload_bytes, "archive")
    out = _store_archive(data, store, settings, new_id())
    try:
        session.add(ImageSet(id=out.id, prefix=out.prefix, images=out.images))
        session.commit()
    except BaseException:
        session.rollback()
        store.delete_prefix(out.prefix)
        raise
    return out


@router.delete("/{set_id}", status_code=204)
def delete_image_set(
    set_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="the set's id")],
    session: SessionDep,
    store: StoreDep,
) -> Response:
    """The set's images and its row; 409 while a job trains on it or a kept model or style uses its images."""
    prefix = keys.image_set_prefix(set_id)
    row = session.get(ImageSet, set_id)
    if row is None and next(iter(store.list(prefix)), None) is None:
        raise HTTPException(404, f"no image set with id {set_id!r}")
    refuse_if_used(f"image set {set_id}", jobs_using(session, prefix) + rows_using_objects(session, prefix))
    if row is not None:
        session.delete(row)
        session.commit()
    store.delete_prefix(prefix)
    return Response(status_code=204)
