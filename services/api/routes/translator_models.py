"""Translator models: train CycleGAN on two image domains, or import a pytorch-CycleGAN-and-pix2pix generator."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, HTTPException, UploadFile, status
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func, select

from services.api.deps import CeleryDep, SessionDep, SettingsDep, StoreDep
from services.api.schemas import JobOut
from services.api.submit import save_with_objects, submit
from services.api.uploads import read_capped
from services.common import dataset_store as ds
from services.common.checkpoints import CheckpointError, check_generator, read_tensor_shapes
from services.common.datasets.filters import parse_filter
from services.common.db.models import Dataset, DatasetImage, TranslatorModel, new_id
from services.common.translation_params import parse_training_options
from services.common.weights import VGG_MISSING, vgg19_available

router = APIRouter(prefix="/v1/translator-models", tags=["translator models"])


class DomainSpec(BaseModel):
    """An image domain: a registered dataset with a filter, or an object-store prefix (e.g. an image set)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, description="e.g. 'vkitti2 clone' or 'bdd foggy daytime'")
    dataset_id: str | None = None
    filter: str | list[str] | None = Field(None, description="e.g. 'weather=foggy;timeofday=daytime'")
    prefix: str | None = Field(
        None, description="object-store prefix, e.g. the `prefix` of POST /v1/image-sets"
    )
    limit: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one_source(self) -> DomainSpec:
        if bool(self.dataset_id) == bool(self.prefix):
            raise ValueError("give exactly one of dataset_id (with an optional filter) or prefix")
        if self.prefix and self.filter:
            raise ValueError("filter applies to datasets; a prefix is taken whole")
        return self


class TranslatorModelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255)
    method: Literal["cyclegan", "adain"] = Field(
        "cyclegan",
        description="cyclegan: unpaired A→B; adain: feed-forward style transfer, A = content, B = style",
    )
    domain_a: DomainSpec = Field(description="the source look, e.g. Virtual KITTI 2 clone")
    domain_b: DomainSpec = Field(description="the target look, e.g. BDD100K foggy daytime")
    weather: str = Field(
        min_length=1,
        max_length=32,
        pattern=r"^[a-z0-9_\-]+$",
        description="the domain the model produces (A→B), e.g. fog, overcast, rain",
    )
    options: dict[str, Any] = Field(default_factory=dict, description="CycleGAN training options")


class TranslatorModelOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    method: str
    weather: str
    domain_a: dict[str, Any] | None
    domain_b: dict[str, Any] | None
    options: dict[str, Any]
    config: dict[str, Any]
    metrics: dict[str, Any]
    job_id: str | None
    samples: list[str] = []


def _out(model: TranslatorModel) -> TranslatorModelOut:
    out = TranslatorModelOut.model_validate(model)
    out.samples = [f"/v1/translator-models/{model.id}/samples/{i}" for i in range(len(model.sample_keys))]
    return out


def _check_domain(session, store, spec: DomainSpec, which: str) -> None:  # noqa: ANN001
    if spec.dataset_id:
        if session.get(Dataset, spec.dataset_id) is None:
            raise HTTPException(404, f"{which}: no dataset with id {spec.dataset_id!r}")
        try:
            flt = parse_filter(spec.filter)
        except ValueError as exc:
            raise HTTPException(422, f"{which}.filter: {exc}") from exc
        query = ds.select_images(spec.dataset_id, flt).where(DatasetImage.image_key.is_not(None))
        if not session.scalar(select(func.count()).select_from(query.subquery())):
            raise HTTPException(422, f"{which}: the filter selects no images with pixels")
    else:
        try:
            first = next(iter(store.list(spec.prefix)), None)
        except ValueError as exc:
            raise HTTPException(422, f"{which}.prefix: {exc}") from exc
        if first is None:
            raise HTTPException(422, f"{which}: no objects under prefix {spec.prefix!r}")


@router.post("", status_code=202, response_model=JobOut)
def train_model(
    body: TranslatorModelCreate,
    session: SessionDep,
    store: StoreDep,
    celery: CeleryDep,
    settings: SettingsDep,
):
    """Train CycleGAN A→B (or an AdaIN decoder); the model appears in GET /v1/translator-models when the job
    succeeds."""
    try:
        options = parse_training_options(body.method, body.options)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    if body.method == "adain" and not vgg19_available(settings, store):
        raise HTTPException(409, VGG_MISSING)
    _check_domain(session, store, body.domain_a, "domain_a")
    _check_domain(session, store, body.domain_b, "domain_b")
    params = body.model_dump()
    params["options"] = options
    return submit(session, celery, settings, "train_translator", params)


@router.post("/import", status_code=201, response_model=TranslatorModelOut)
def import_model(
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    file: Annotated[
        UploadFile, File(description="generator state_dict (.pth) from pytorch-CycleGAN-and-pix2pix")
    ],
    name: Annotated[str, Form(min_length=1, max_length=255)],
    weather: Annotated[
        str, Form(pattern=r"^[a-z0-9_\-]+$", max_length=32, description="the domain it produces, e.g. fog")
    ],
    n_blocks: Annotated[int, Form(ge=1, le=32)] = 9,
    ngf: Annotated[int, Form(ge=4, le=256)] = 64,
) -> TranslatorModelOut:
    """Check the file is a ResNet generator of that architecture (without unpickling code), then store it."""
    data = read_capped(file, settings.max_upload_bytes, "file")
    try:
        shapes = read_tensor_shapes(data)
        check_generator(shapes, ngf, n_blocks)
    except CheckpointError as exc:
        raise HTTPException(422, f"file: {exc}") from exc
    model_id = new_id()
    key = f"models/translator/{model_id}/generator.pth"
    model = TranslatorModel(
        id=model_id,
        name=name,
        method="cyclegan",
        weather=weather,
        options={"imported_from": (file.filename or "")[:255]},
        config={"ngf": ngf, "n_blocks": n_blocks, "input_nc": 3, "output_nc": 3},
        checkpoint_key=key,
        metrics={},
        sample_keys=[],
    )
    save_with_objects(session, store, model, [(key, data, "application/octet-stream")])
    return _out(model)


@router.get("", response_model=list[TranslatorModelOut])
def list_models(session: SessionDep) -> list[TranslatorModelOut]:
    rows = session.scalars(select(TranslatorModel).order_by(TranslatorModel.created_at.desc()))
    return [_out(m) for m in rows]


@router.get("/{model_id}", response_model=TranslatorModelOut)
def get_model(model_id: str, session: SessionDep) -> TranslatorModelOut:
    model = session.get(TranslatorModel, model_id)
    if model is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no translator model with id {model_id!r}")
    return _out(model)


@router.get(
    "/{model_id}/weights",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_weights(model_id: str, session: SessionDep, store: StoreDep) -> StreamingResponse:
    """The generator (CycleGAN, pytorch-CycleGAN-and-pix2pix layout) or decoder (AdaIN) state_dict."""
    model = session.get(TranslatorModel, model_id)
    if model is None:
        raise HTTPException(404, f"no translator model with id {model_id!r}")
    return StreamingResponse(
        store.open_stream(model.checkpoint_key),
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{model_id}.pth"'},
    )


@router.get(
    "/{model_id}/samples/{index}", response_class=Response, responses={200: {"content": {"image/png": {}}}}
)
def get_sample(model_id: str, index: int, session: SessionDep, store: StoreDep) -> Response:
    model = session.get(TranslatorModel, model_id)
    if model is None:
        raise HTTPException(404, f"no translator model with id {model_id!r}")
    if not 0 <= index < len(model.sample_keys):
        raise HTTPException(404, f"model {model_id} has {len(model.sample_keys)} sample images")
    return Response(store.get_bytes(model.sample_keys[index]), media_type="image/png")
