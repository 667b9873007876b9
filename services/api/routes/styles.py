"""Styles for neural style transfer: uploaded images, or a sample of a dataset filter (e.g. BDD rainy days)."""

from __future__ import annotations

import random
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from services.api.deletions import delete_row_then_objects, jobs_using, refuse_if_used
from services.api.deps import SessionDep, SettingsDep, StoreDep
from services.api.lookups import get_or_404
from services.api.schemas import StyleOut
from services.api.submit import save_with_objects
from services.api.uploads import image_http_error, read_capped
from services.common.core import keys
from services.common.core.db.models import Dataset, DatasetImage, Style, new_id
from services.common.core.fields import Seed, Text
from services.common.core.images import ImageError, decode_image, encode_png
from services.common.datasets import store as ds
from services.common.datasets.filters import parse_filter

router = APIRouter(prefix="/v1/styles", tags=["styles"])
WEATHER_PATTERN = r"^[a-z0-9_\-]+$"


class StyleFromDataset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255)
    weather: str = Field(pattern=WEATHER_PATTERN, max_length=32)
    dataset_id: str
    filter: str | list[str] | None = Field(None, description="e.g. 'weather=rainy;timeofday=daytime'")
    n: int = Field(8, ge=1, le=256, description="images sampled from the filter")
    seed: Seed = 0


@router.post("", status_code=201, response_model=StyleOut)
def create_style(
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    images: Annotated[list[UploadFile], File(description="one or more PNG/JPEG style images")],
    name: Annotated[Text, Form(min_length=1, max_length=255)],
    weather: Annotated[
        str, Form(pattern=WEATHER_PATTERN, max_length=32, description="the look it gives, e.g. rain")
    ],
) -> Style:
    style_id = new_id()
    decoded = []
    for n, upload in enumerate(images):
        data = read_capped(upload, settings.max_upload_bytes, f"images[{n}]")
        try:
            decoded.append(decode_image(data, settings.max_image_pixels))
        except ImageError as exc:
            raise image_http_error(f"images[{n}] ({upload.filename})", exc) from exc
    objects = [
        (keys.style_image(style_id, n), encode_png(pixels), "image/png") for n, pixels in enumerate(decoded)
    ]
    style = Style(
        id=style_id,
        name=name,
        weather=weather,
        image_keys=[k for k, _, _ in objects],
        source={"uploaded": len(objects)},
    )
    save_with_objects(session, store, style, objects)
    return style


@router.post("/from-dataset", status_code=201, response_model=StyleOut)
def style_from_dataset(body: StyleFromDataset, session: SessionDep) -> Style:
    """A style defined by a dataset filter: `n` of its images, sampled with `seed` (their keys are kept)."""
    get_or_404(session, Dataset, body.dataset_id, "dataset", "dataset_id")
    try:
        flt = parse_filter(body.filter)
    except ValueError as exc:
        raise HTTPException(422, f"filter: {exc}") from exc
    query = ds.select_images(body.dataset_id, flt).where(DatasetImage.image_key.is_not(None))
    image_keys = sorted(session.scalars(query.with_only_columns(DatasetImage.image_key)))
    if not image_keys:
        raise HTTPException(422, "filter: selects no images with pixels")
    image_keys = sorted(random.Random(body.seed).sample(image_keys, min(body.n, len(image_keys))))
    style = Style(
        name=body.name,
        weather=body.weather,
        image_keys=image_keys,
        source={
            "dataset_id": body.dataset_id,
            "filter": [str(t) for t in flt.terms],
            "n": body.n,
            "seed": body.seed,
        },
    )
    session.add(style)
    session.commit()
    return style


@router.get("", response_model=list[StyleOut])
def list_styles(session: SessionDep) -> list[Style]:
    return list(session.scalars(select(Style).order_by(Style.created_at.desc())))


@router.get("/{style_id}", response_model=StyleOut)
def get_style(style_id: str, session: SessionDep) -> Style:
    return get_or_404(session, Style, style_id, "style")


@router.delete("/{style_id}", status_code=204)
def delete_style(style_id: str, session: SessionDep, store: StoreDep) -> Response:
    """The style and the images uploaded for it (a style sampled from a dataset keeps the dataset's images);
    409 while a job uses it."""
    style = get_or_404(session, Style, style_id, "style")
    refuse_if_used(f"style {style_id}", jobs_using(session, style_id))
    delete_row_then_objects(session, store, style, [keys.style_prefix(style_id)])
    return Response(status_code=204)
