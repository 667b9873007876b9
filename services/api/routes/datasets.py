"""Datasets: ingest from original layouts, browse the index, export as YOLO, derive translated versions."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from services.api.data_locations import data_location
from services.api.deletions import dataset_users, delete_row_then_objects, refuse_if_used
from services.api.deps import CeleryDep, SessionDep, SettingsDep, StoreDep
from services.api.lookups import get_or_404
from services.api.quality_requests import QualityTargetIn, quality_request
from services.api.schemas import DatasetOut, ImageOut, ImagePage, JobOut, Offset
from services.api.submit import submit
from services.api.translation_requests import method_spec, resolve_translation
from services.common import methods
from services.common.contracts.compose_dataset import ComposeDatasetPayload
from services.common.contracts.ingest_dataset import DatasetFormat, IngestDatasetPayload
from services.common.contracts.translate_dataset import TranslateDatasetPayload
from services.common.core import keys
from services.common.core.db.models import Dataset, DatasetImage
from services.common.core.fields import Seed
from services.common.datasets import store as ds
from services.common.datasets.compositions import TRANSLATED
from services.common.datasets.filters import parse_filter
from services.common.datasets.image_format import DEFAULT_JPEG_QUALITY, ImageFormat, source_format
from services.common.datasets.reader_options import validate_reader_options, validate_split_options
from services.common.datasets.taxonomy import make_taxonomy
from services.common.methods.translation import Translation

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])


class DatasetCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255)
    format: DatasetFormat
    uri: str = Field(max_length=4096, description="file://… under SIM2REAL_DATA_ROOTS, or s3://bucket/prefix")
    options: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            '`reader` (format options, e.g. {"split": "val"} for BDD100K, {"variations": ["clone"]} for '
            'Virtual KITTI 2), `taxonomy` ({"merge_van_into_car": true, "include_bus": true, '
            '"min_box_height": 25} or a full mapping), `split` ({"val_fraction": 0.2, "seed": 0})'
        ),
    )
    strict: bool = Field(
        False,
        description="fail the ingest on the first data problem (a file skipped as malformed, unreadable or "
        "leading outside the dataset folder; label-only images; a split without images) instead of "
        "recording it in the job's and the dataset's `warnings`",
    )


class DatasetTranslationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: str | None = Field(
        None, description="a translation method (GET /v1/weathers); default: the default"
    )
    weather: str | None = None
    model_id: str | None = None
    style_id: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    filter: str | list[str] | None = Field(default=None, description="e.g. 'variation=clone;camera=Camera_0'")
    name: str | None = Field(None, min_length=1, max_length=255)
    strict: bool = Field(
        False,
        description="fail on an image or depth map that cannot be decoded instead of skipping it with a "
        "warning",
    )
    quality: QualityTargetIn | None = Field(
        None,
        description="also measure KID/FID of the translated and the source images against this target set "
        "(needs the operator's `inception` weights); the job's result and the dataset's lineage hold it",
    )
    image_format: ImageFormat | None = Field(
        None,
        description="how translated images are stored: png (lossless) or jpeg; default: the source's "
        "format (jpeg when every selected source image is a JPEG, as in Virtual KITTI 2 and BDD100K)",
    )
    jpeg_quality: int | None = Field(
        None, ge=1, le=100, description=f"JPEG quality 1-100 (default {DEFAULT_JPEG_QUALITY}); jpeg only"
    )


@router.post("", status_code=202, response_model=JobOut)
def create_dataset(body: DatasetCreate, session: SessionDep, celery: CeleryDep, settings: SettingsDep):
    loc = data_location(body.uri, settings, "uri")
    if loc.scheme == "s3" and not settings.store_endpoint:
        raise HTTPException(
            422, "uri: s3:// dataset URIs need an S3/MinIO object store (set SIM2REAL_STORE_ENDPOINT)"
        )
    unknown = set(body.options) - {"reader", "taxonomy", "split"}
    if unknown:
        raise HTTPException(422, f"options: unknown keys {sorted(unknown)}; use reader, taxonomy, split")
    for name in ("reader", "taxonomy", "split"):
        if not isinstance(body.options.get(name) or {}, dict):
            raise HTTPException(422, f"options.{name}: must be a JSON object")
    try:
        validate_reader_options(body.format, body.options.get("reader") or {})
        validate_split_options(body.options.get("split") or {})
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    try:
        make_taxonomy(body.options.get("taxonomy") or {})
    except ValueError as exc:
        # make_taxonomy names the key inside the taxonomy; the full path starts at the request.
        raise HTTPException(422, f"options.taxonomy.{exc}") from exc
    return submit(session, celery, settings, "ingest_dataset", IngestDatasetPayload(**body.model_dump()))


@router.get("", response_model=list[DatasetOut])
def list_datasets(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> list[Dataset]:
    return list(
        session.scalars(select(Dataset).order_by(Dataset.created_at.desc()).limit(limit).offset(offset))
    )


@router.get("/{dataset_id}", response_model=DatasetOut)
def get_dataset(dataset_id: str, session: SessionDep) -> Dataset:
    return get_or_404(session, Dataset, dataset_id, "dataset")


@router.delete("/{dataset_id}", status_code=204)
def delete_dataset(dataset_id: str, session: SessionDep, store: StoreDep) -> Response:
    """The dataset, its index and its stored images; 409 while a job, an evaluation or another kept thing
    (a style, a model's style images, a composition's depth maps) uses it."""
    dataset = get_or_404(session, Dataset, dataset_id, "dataset")
    prefix = keys.dataset_prefix(dataset_id)
    refuse_if_used(f"dataset {dataset_id}", dataset_users(session, dataset_id, prefix))
    delete_row_then_objects(session, store, dataset, [prefix])
    return Response(status_code=204)


@router.get("/{dataset_id}/images", response_model=ImagePage)
def list_images(
    dataset_id: str,
    session: SessionDep,
    filter: Annotated[
        list[str] | None, Query(description="repeatable, e.g. weather=foggy, occluded_vehicles<=5")
    ] = None,
    split: Annotated[Literal["train", "val"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> ImagePage:
    get_or_404(session, Dataset, dataset_id, "dataset")
    try:
        flt = parse_filter(filter)
    except ValueError as exc:
        raise HTTPException(422, f"filter: {exc}") from exc
    query = ds.select_images(dataset_id, flt, split)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(DatasetImage.image_id).limit(limit).offset(offset))
    return ImagePage(
        items=[ImageOut.model_validate(r) for r in rows], total=total, limit=limit, offset=offset
    )


class _Pipe(io.RawIOBase):
    """A write-only sink whose bytes the response generator drains after each file."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # noqa: ANN001
        self.chunks.append(bytes(b))
        return len(b)

    def drain(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        return data


@router.get(
    "/{dataset_id}/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}}},
)
def export_dataset(dataset_id: str, session: SessionDep, store: StoreDep) -> StreamingResponse:
    """The dataset as a YOLO folder (images/, labels/, data.yaml) in a zip, streamed file by file.

    Only images with pixels can be exported; label-only images are counted in data.yaml and the
    `X-Label-Only-Images` header, and a dataset with none at all is refused (409)."""
    dataset = get_or_404(session, Dataset, dataset_id, "dataset")
    rows = list(
        session.execute(
            select(DatasetImage.image_id, DatasetImage.split, DatasetImage.image_key, DatasetImage.label_key)
            .where(DatasetImage.dataset_id == dataset_id, DatasetImage.image_key.is_not(None))
            # Images sharing a label chunk come together, so each chunk is read once.
            .order_by(DatasetImage.label_key, DatasetImage.image_id)
        )
    )
    label_only = (
        session.scalar(
            select(func.count()).where(
                DatasetImage.dataset_id == dataset_id, DatasetImage.image_key.is_(None)
            )
        )
        or 0
    )
    if not rows:
        raise HTTPException(
            409,
            f"dataset {dataset_id} has no images with pixels ({label_only} label-only images); a YOLO "
            "export needs image files: ingest the dataset with its images",
        )
    data_yaml = export_yaml(dataset.class_names, {r.split for r in rows}, label_only)

    def stream() -> Iterator[bytes]:
        pipe, labels = _Pipe(), ds.LabelReader(store)
        with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_STORED) as zf:
            zf.writestr("data.yaml", data_yaml)
            yield pipe.drain()
            for row in rows:
                stem = ds.flat_name(row.image_id)
                ext = row.image_key.rsplit(".", 1)[-1]
                with zf.open(f"images/{row.split}/{stem}.{ext}", "w") as out:
                    for chunk in store.open_stream(row.image_key):
                        out.write(chunk)
                        yield pipe.drain()
                zf.writestr(
                    f"labels/{row.split}/{stem}.txt",
                    labels.text(row.label_key, row.image_id),
                    compress_type=zipfile.ZIP_DEFLATED,
                )
                yield pipe.drain()
        yield pipe.drain()

    return StreamingResponse(
        stream(),
        media_type="application/zip",
        headers={
            "Content-Disposition": attachment(f"{dataset.name}-{dataset_id[:8]}.zip"),
            "X-Label-Only-Images": str(label_only),  # left out: YOLO needs image files
        },
    )


def export_yaml(class_names: list[Any], splits: set[str], label_only: int) -> bytes:
    """The export's data.yaml: it names only folders the archive holds (a split without images falls
    back to the other) and says how many label-only images were left out."""
    train = "train" if "train" in splits else "val"
    val = "val" if "val" in splits else train
    names = "\n".join(f"  {i}: {json.dumps(n)}" for i, n in enumerate(class_names))
    note = (
        f"# {label_only} label-only images (no image file) are not in this export; "
        "see the dataset's stats.label_only_images\n"
        if label_only
        else ""
    )
    return f"{note}path: .\ntrain: images/{train}\nval: images/{val}\nnames:\n{names}\n".encode()


def attachment(filename: str) -> str:
    """A Content-Disposition value for any name: an ASCII fallback plus the UTF-8 name (RFC 6266)."""
    cleaned = "".join(c for c in filename if c.isprintable()).replace(" ", "_")
    ascii_name = (
        cleaned.encode("ascii", "replace").decode().replace("?", "_").replace('"', "").replace("\\", "")
    )
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(cleaned, safe='')}"


@router.post("/{dataset_id}/translations", status_code=202, response_model=JobOut)
def translate_dataset(
    dataset_id: str,
    body: DatasetTranslationCreate,
    session: SessionDep,
    celery: CeleryDep,
    settings: SettingsDep,
    store: StoreDep,
):
    """A new dataset whose images are translated and whose labels are the source's, with lineage."""
    dataset = get_or_404(session, Dataset, dataset_id, "dataset")
    try:
        flt = parse_filter(body.filter)
    except ValueError as exc:
        raise HTTPException(422, f"filter: {exc}") from exc
    translation = resolve_translation(
        session,
        settings,
        store,
        body.method or methods.default(),
        body.weather,
        body.model_id,
        body.style_id,
        body.params,
    )
    selected = ds.select_images(dataset_id, flt).where(DatasetImage.image_key.is_not(None)).subquery()
    count = session.scalar(select(func.count()).select_from(selected))
    if not count:
        raise HTTPException(
            422, f"filter: {body.filter!r} selects no images with pixels in dataset {dataset_id}"
        )
    if translation.params.get("depth_source") == "provided":
        without = session.scalar(
            select(func.count()).select_from(
                ds.select_images(dataset_id, flt)
                .where(DatasetImage.image_key.is_not(None), DatasetImage.depth_key.is_(None))
                .subquery()
            )
        )
        if without:
            raise HTTPException(
                422,
                f"params.depth_source: 'provided' needs a depth map for every image, and {without} of the "
                f"{count} selected images of dataset {dataset_id} have none; leave depth_source out (each "
                "image then uses its depth map when it has one), use 'geometric' or 'model', or filter to "
                "images with depth",
            )
    quality = (
        quality_request(
            session, body.quality.target, body.quality.max_images, body.quality.seed, "quality.target"
        )
        if body.quality is not None
        else None
    )
    image_format = body.image_format or source_format(session.scalars(select(selected.c.image_key)))
    if body.jpeg_quality is not None and image_format != "jpeg":
        why = (
            "image_format is png"
            if body.image_format
            else "the default here is png, as the selected source images are not all JPEG"
        )
        raise HTTPException(
            422,
            f"jpeg_quality: applies only to image_format jpeg, and {why}; set image_format to jpeg or "
            "leave jpeg_quality out",
        )
    payload = TranslateDatasetPayload(
        source_dataset_id=dataset_id,
        filter=[str(t) for t in flt.terms],
        translation=translation,
        name=(body.name or f"{dataset.name} -> {translation.method}:{translation.weather}")[:255],
        images=count,
        strict=body.strict,
        quality=quality,
        image_format=image_format,
        jpeg_quality=body.jpeg_quality or DEFAULT_JPEG_QUALITY,
    )
    return submit(session, celery, settings, "translate_dataset", payload)


class TranslationSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: str | None = Field(
        None, description="a translation method (GET /v1/weathers); default: the default"
    )
    model_id: str | None = None
    style_id: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class CompositionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255)
    composition: Literal["baseline", "translated"]
    kitti_dataset_id: str = Field(
        description="a kitti_tracking dataset (sequences 0001, 0002, 0006, 0018, 0020)"
    )
    vkitti_dataset_id: str = Field(description="a vkitti2 dataset with the clone and weather variations")
    camera: Literal["Camera_0", "Camera_1"] = "Camera_0"
    translations: dict[Literal["fog", "overcast", "rain"], TranslationSpec] | None = Field(
        None,
        description="translated composition: how each weather is made from the clone frame (default: the "
        "default method)",
    )
    val_fraction: float = Field(0.2, ge=0, lt=1)
    seed: Seed = 0
    strict: bool = Field(
        False,
        description="fail on a missing composition slot, a frame without pixels or an empty split instead "
        "of recording it in the job's and the dataset's `warnings`",
    )


@router.post("/compositions", status_code=202, response_model=JobOut)
def compose_dataset(
    body: CompositionCreate, session: SessionDep, celery: CeleryDep, settings: SettingsDep, store: StoreDep
):
    """The reference study's training sets as a documented composition: one source per frame index
    (`SLOTS[f % 7]`), translated clone frames standing in for fog/overcast/rain, split by scene."""
    kitti = get_or_404(session, Dataset, body.kitti_dataset_id, "dataset", "kitti_dataset_id")
    vkitti = get_or_404(session, Dataset, body.vkitti_dataset_id, "dataset", "vkitti_dataset_id")
    for field, row, wanted in (
        ("kitti_dataset_id", kitti, "kitti_tracking"),
        ("vkitti_dataset_id", vkitti, "vkitti2"),
    ):
        if row.format != wanted:
            raise HTTPException(
                422, f"{field}: the composition needs a {wanted} dataset here, got a {row.format} one"
            )
    if list(kitti.class_names) != list(vkitti.class_names):
        raise HTTPException(
            422,
            f"vkitti_dataset_id: its classes {vkitti.class_names} differ from kitti_dataset_id's "
            f"{kitti.class_names}; ingest both with the same taxonomy",
        )
    translations: dict[str, Translation] = {}
    if body.composition == "translated":
        specs = body.translations or {w: TranslationSpec() for w in TRANSLATED}
        for weather, spec in specs.items():
            method = method_spec(spec.method or methods.default(), f"translations.{weather}.")
            translations[weather] = resolve_translation(
                session,
                settings,
                store,
                method.name,
                # A method with fixed weathers renders the slot's weather; others produce their model's.
                weather if method.weather_params else None,
                spec.model_id,
                spec.style_id,
                spec.params,
                where=f"translations.{weather}.",
            )
    elif body.translations:
        raise HTTPException(422, "translations: apply to the translated composition only")
    payload = ComposeDatasetPayload(**body.model_dump(exclude={"translations"}), translations=translations)
    return submit(session, celery, settings, "compose_dataset", payload)
