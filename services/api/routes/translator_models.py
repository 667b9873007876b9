"""Translator models: train a learned method on two image domains, or import a trained checkpoint."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from services.api.deletions import delete_row_then_objects, jobs_using, refuse_if_used
from services.api.deps import CeleryDep, SessionDep, SettingsDep, StoreDep
from services.api.lookups import get_or_404
from services.api.schemas import JobOut, TranslatorModelOut
from services.api.submit import save_with_objects, submit
from services.api.translation_requests import method_spec
from services.api.uploads import read_capped
from services.common import methods
from services.common.contracts.train_translator import DomainSpec, TrainTranslatorPayload
from services.common.core import keys
from services.common.core.checkpoints import CheckpointError
from services.common.core.db.models import Dataset, DatasetImage, TranslatorModel, new_id
from services.common.core.fields import Text
from services.common.core.weights import current_versions, missing_weights
from services.common.datasets import store as ds
from services.common.datasets.filters import parse_filter

router = APIRouter(prefix="/v1/translator-models", tags=["translator models"])


class TranslatorModelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255)
    method: str | None = Field(
        None,
        max_length=64,
        description="a trainable method (GET /v1/weathers lists each method's training options); default: "
        "the default trainable method",
    )
    domain_a: DomainSpec = Field(description="the source look, e.g. Virtual KITTI 2 clone")
    domain_b: DomainSpec = Field(description="the target look, e.g. BDD100K foggy daytime")
    weather: str = Field(
        min_length=1,
        max_length=32,
        pattern=r"^[a-z0-9_\-]+$",
        description="the domain the model produces (A→B), e.g. fog, overcast, rain",
    )
    options: dict[str, Any] = Field(default_factory=dict, description="the method's training options")


def _out(model: TranslatorModel) -> TranslatorModelOut:
    out = TranslatorModelOut.model_validate(model)
    out.samples = [f"/v1/translator-models/{model.id}/samples/{i}" for i in range(len(model.sample_keys))]
    return out


def _check_domain(session, store, spec: DomainSpec, which: str) -> None:  # noqa: ANN001
    if spec.dataset_id:
        get_or_404(session, Dataset, spec.dataset_id, "dataset", f"{which}.dataset_id")
        try:
            flt = parse_filter(spec.filter)
        except ValueError as exc:
            raise HTTPException(422, f"{which}.filter: {exc}") from exc
        query = ds.select_images(spec.dataset_id, flt).where(DatasetImage.image_key.is_not(None))
        if not session.scalar(select(func.count()).select_from(query.subquery())):
            raise HTTPException(422, f"{which}.filter: selects no images with pixels")
    else:
        try:
            first = next(iter(store.list(spec.prefix)), None)
        except ValueError as exc:
            raise HTTPException(422, f"{which}.prefix: {exc}") from exc
        if first is None:
            raise HTTPException(422, f"{which}.prefix: no objects under {spec.prefix!r}")


@router.post("", status_code=202, response_model=JobOut)
def train_model(
    body: TranslatorModelCreate,
    session: SessionDep,
    store: StoreDep,
    celery: CeleryDep,
    settings: SettingsDep,
):
    """Train a method A→B with its own trainer; the model appears in GET /v1/translator-models when the job
    succeeds."""
    spec = method_spec(body.method or methods.default(trainable_only=True), "method: ")
    if not spec.trainable:
        raise HTTPException(
            422, f"method: {spec.name} cannot be trained; trainable methods: {', '.join(methods.trainable())}"
        )
    try:
        options = spec.parse_training_options(body.options)
    except methods.MethodError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    needed = spec.weights + methods.weights_needed(options)
    missing = missing_weights(session, needed)
    if missing:
        raise HTTPException(409, missing)
    _check_domain(session, store, body.domain_a, "domain_a")
    _check_domain(session, store, body.domain_b, "domain_b")
    payload = TrainTranslatorPayload(
        **body.model_dump(exclude={"method", "options"}),
        method=spec.name,
        options=options.model_dump(mode="json"),
        weights=current_versions(session, needed),
    )
    return submit(session, celery, settings, "train_translator", payload)


@router.post("/import", status_code=201, response_model=TranslatorModelOut)
async def import_model(
    request: Request,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    file: Annotated[
        UploadFile, File(description="the method's checkpoint, e.g. a generator state_dict (.pth)")
    ],
    name: Annotated[Text, Form(min_length=1, max_length=255)],
    weather: Annotated[
        str, Form(pattern=r"^[a-z0-9_\-]+$", max_length=32, description="the domain it produces, e.g. fog")
    ],
    method: Annotated[
        str | None, Form(max_length=64, description="an importable method; default: the first importable one")
    ] = None,
) -> TranslatorModelOut:
    """Check the file is a checkpoint of the method's architecture (without unpickling code), then store it.

    Any other form field is one of the method's import options (its `import_options_schema` in
    GET /v1/weathers), e.g. `n_blocks` and `ngf` for a ResNet generator."""
    spec = method_spec(method or (methods.importable() or [""])[0], "method: ")
    if spec.importer is None or spec.import_options is None:
        raise HTTPException(
            422, f"method: {spec.name} cannot be imported; importable: {', '.join(methods.importable())}"
        )
    form = await request.form()
    known = {"file", "name", "weather", "method"}
    raw = {k: v for k, v in form.items() if k not in known and isinstance(v, str)}
    try:
        options = methods.validated(spec.import_options, raw, "", "import options")
    except methods.MethodError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    data = await run_in_threadpool(read_capped, file, settings.max_upload_bytes, "file")
    try:
        config = await run_in_threadpool(spec.importer, data, options)
    except CheckpointError as exc:
        raise HTTPException(422, f"file: {exc}") from exc
    model_id = new_id()
    key = keys.translator_weights(model_id)
    model = TranslatorModel(
        id=model_id,
        name=name,
        method=spec.name,
        weather=weather,
        options={"imported_from": (file.filename or "")[:255], **options.model_dump(mode="json")},
        config=config,
        checkpoint_key=key,
        metrics={},
        sample_keys=[],
    )
    await run_in_threadpool(
        save_with_objects, session, store, model, [(key, data, "application/octet-stream")]
    )
    return _out(model)


@router.get("", response_model=list[TranslatorModelOut])
def list_models(session: SessionDep) -> list[TranslatorModelOut]:
    rows = session.scalars(select(TranslatorModel).order_by(TranslatorModel.created_at.desc()))
    return [_out(m) for m in rows]


@router.get("/{model_id}", response_model=TranslatorModelOut)
def get_model(model_id: str, session: SessionDep) -> TranslatorModelOut:
    return _out(get_or_404(session, TranslatorModel, model_id, "translator model"))


@router.delete("/{model_id}", status_code=204)
def delete_model(model_id: str, session: SessionDep, store: StoreDep) -> Response:
    """The model and its weights, checkpoints and samples; 409 while a job uses it."""
    model = get_or_404(session, TranslatorModel, model_id, "translator model")
    refuse_if_used(f"translator model {model_id}", jobs_using(session, model_id))
    delete_row_then_objects(session, store, model, [keys.translator_prefix(model_id)])
    return Response(status_code=204)


@router.get(
    "/{model_id}/weights",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_weights(model_id: str, session: SessionDep, store: StoreDep) -> StreamingResponse:
    """The generator (CycleGAN, pytorch-CycleGAN-and-pix2pix layout) or decoder (AdaIN) state_dict."""
    model = get_or_404(session, TranslatorModel, model_id, "translator model")
    return StreamingResponse(
        store.open_stream(model.checkpoint_key),
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{model_id}.pth"'},
    )


@router.get(
    "/{model_id}/samples/{index}", response_class=Response, responses={200: {"content": {"image/png": {}}}}
)
def get_sample(model_id: str, index: int, session: SessionDep, store: StoreDep) -> Response:
    model = get_or_404(session, TranslatorModel, model_id, "translator model")
    if not 0 <= index < len(model.sample_keys):
        raise HTTPException(404, f"model {model_id} has {len(model.sample_keys)} sample images")
    return Response(store.get_bytes(model.sample_keys[index]), media_type="image/png")
