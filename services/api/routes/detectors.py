"""Detectors: YOLOv5 trainings, uploaded weights, models, and detections on single images."""

from __future__ import annotations

import time
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, HTTPException, Query, UploadFile
from fastapi.responses import JSONResponse, Response, StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.api.deletions import delete_row_then_objects, jobs_using, refuse_if_used
from services.api.deps import CeleryDep, SessionDep, SettingsDep, StoreDep
from services.api.lookups import get_or_404
from services.api.schemas import DetectorModelOut, JobOut
from services.api.submit import Submission, save_with_objects, submit
from services.api.uploads import image_http_error, read_capped
from services.common.contracts.common import DetectorTrainingSettings
from services.common.contracts.detect import DetectPayload
from services.common.contracts.train_detector import TrainDetectorPayload
from services.common.core import keys
from services.common.core import weights as operator_weights
from services.common.core.checkpoints import CheckpointError, read_detector_checkpoint
from services.common.core.db.models import Dataset, DetectorModel, Job, new_id
from services.common.core.db.session import session_scope
from services.common.core.fields import Text
from services.common.core.images import ImageError, decode_image, encode_png
from services.common.detectors import check_hyperparameters, get_architecture

router = APIRouter(tags=["detectors"])


def validate_training(
    session: Session, body: TrainDetectorPayload, where: str = "", dataset_field: str = "dataset_id"
) -> TrainDetectorPayload:
    """Everything a user can get wrong is refused here, before GPU time is spent; the payload to submit
    (with the architecture's canonical name and, with `pretrained`, the checkpoint version it starts from).
    `where` prefixes field names (an experiment's "model."); `dataset_field` names the training dataset's
    field (an experiment's "arms[0].train_dataset_id")."""
    try:
        arch = get_architecture(body.model).name
    except ValueError as exc:
        raise HTTPException(422, f"{where}model: {exc}") from exc
    if body.pretrained and body.weights_id:
        raise HTTPException(
            422,
            f"{where}pretrained: give either {where}weights_id (a detector to start from) or "
            f"{where}pretrained: true (the operator's {arch} checkpoint), not both",
        )
    dataset = get_or_404(session, Dataset, body.dataset_id, "dataset", field=dataset_field)
    if body.val_dataset_id:
        val = get_or_404(session, Dataset, body.val_dataset_id, "dataset", field=f"{where}val_dataset_id")
        if list(val.class_names) != list(dataset.class_names):
            raise HTTPException(
                422,
                f"{where}val_dataset_id: dataset {val.id} has classes {val.class_names}, the training "
                f"dataset ({dataset_field}) {dataset.class_names}; use datasets ingested with the same "
                "taxonomy",
            )
    elif not (dataset.stats or {}).get("splits", {}).get("val"):
        raise HTTPException(
            422, f"{dataset_field}: dataset {dataset.id} has no validation split; pass {where}val_dataset_id"
        )
    if body.weights_id:
        start = get_or_404(
            session, DetectorModel, body.weights_id, "detector weights", field=f"{where}weights_id"
        )
        if get_architecture(start.architecture).name != arch:
            raise HTTPException(
                422,
                f"{where}weights_id: weights {body.weights_id} are a {start.architecture}; set {where}model to it",
            )
    try:
        check_hyperparameters(body.hyperparameters, where=where)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    return body.model_copy(
        update={"model": arch, "pretrained_version": pretrained_version(session, body, arch, where)}
    )


def pretrained_version(session: Session, body: DetectorTrainingSettings, arch: str, where: str) -> int | None:
    """The version of the operator's `arch` checkpoint a `pretrained` training starts from (the newest
    unless pinned); 409 saying how to supply it when there is none."""
    if not body.pretrained:
        if body.pretrained_version is not None:
            raise HTTPException(
                422, f"{where}pretrained_version: only with {where}pretrained: true; leave it out"
            )
        return None
    present = {row.version for row in operator_weights.versions(session, arch)}
    if not present:
        raise HTTPException(
            409,
            f"{where}pretrained: no pretrained {arch} checkpoint has been supplied. "
            f"{operator_weights.spec(arch).missing}. Or leave {where}pretrained out to train from random "
            "weights (from scratch)",
        )
    if body.pretrained_version is None:
        return max(present)
    if body.pretrained_version not in present:
        raise HTTPException(
            409,
            f"{where}pretrained_version: {arch} has versions {', '.join(map(str, sorted(present)))}, "
            f"not {body.pretrained_version} (GET /v1/weights); leave it out for the newest",
        )
    return body.pretrained_version


@router.post("/v1/detector-trainings", status_code=202, response_model=JobOut)
def create_training(
    body: TrainDetectorPayload, session: SessionDep, celery: CeleryDep, settings: SettingsDep
):
    """Train a YOLOv5 detector; the model appears in GET /v1/detector-models when the job succeeds."""
    return submit(session, celery, settings, "train_detector", validate_training(session, body))


@router.post("/v1/detector-weights", status_code=201, response_model=DetectorModelOut)
def upload_weights(
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="an ultralytics YOLOv5 checkpoint (.pt)")],
    name: Annotated[Text, Form(min_length=1, max_length=255)],
) -> DetectorModel:
    """Read the checkpoint's architecture and classes without executing it, then store it."""
    data = read_capped(file, settings.max_upload_bytes, "file")
    try:
        info = read_detector_checkpoint(data)
        arch = get_architecture(info["yaml_file"]).name
    except (CheckpointError, ValueError) as exc:
        raise HTTPException(422, f"file: {exc}") from exc
    model_id = new_id()
    key = keys.detector_weights(model_id, "weights")
    model = DetectorModel(
        id=model_id,
        name=name,
        origin="uploaded",
        architecture=arch,
        imgsz=int(info["imgsz"] or 640),
        class_names=info["class_names"],
        weights_key=key,
        metrics={},
        options={"filename": (file.filename or "")[:255]},
    )
    save_with_objects(session, store, model, [(key, data, "application/octet-stream")])
    return model


@router.get("/v1/detector-models", response_model=list[DetectorModelOut])
def list_models(session: SessionDep) -> list[DetectorModel]:
    return list(session.scalars(select(DetectorModel).order_by(DetectorModel.created_at.desc())))


def get_model_or_404(session: Session, model_id: str, field: str = "") -> DetectorModel:
    return get_or_404(session, DetectorModel, model_id, "detector model", field=field)


@router.get("/v1/detector-models/{model_id}", response_model=DetectorModelOut)
def get_model(model_id: str, session: SessionDep) -> DetectorModel:
    return get_model_or_404(session, model_id)


@router.delete("/v1/detector-models/{model_id}", status_code=204)
def delete_model(model_id: str, session: SessionDep, store: StoreDep) -> Response:
    """The model and its checkpoints; 409 while a job (a detection, an evaluation, a training starting from
    it) uses it. Evaluations made with it keep their numbers."""
    model = get_model_or_404(session, model_id)
    refuse_if_used(f"detector model {model_id}", jobs_using(session, model_id))
    delete_row_then_objects(session, store, model, [keys.detector_prefix(model_id)])
    return Response(status_code=204)


@router.get(
    "/v1/detector-models/{model_id}/weights",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_weights(
    model_id: str,
    session: SessionDep,
    store: StoreDep,
    which: Annotated[
        Literal["best", "last"], Query(description="best (chosen on the validation split) or last")
    ] = "best",
) -> StreamingResponse:
    """The ultralytics checkpoint, for use outside the service (`YOLO("best.pt")`)."""
    model = get_model_or_404(session, model_id)
    key = model.weights_key if which == "best" else model.last_key
    if not key:
        raise HTTPException(
            404, f"detector {model_id} has no {which} checkpoint (uploaded weights have one file)"
        )
    return StreamingResponse(
        store.open_stream(key),
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{model_id}-{which}.pt"'},
    )


@router.post(
    "/v1/detections",
    status_code=202,
    response_model=JobOut,
    responses={200: {"model": JobOut, "description": "finished within `wait` seconds"}},
)
def create_detection(
    session: SessionDep,
    store: StoreDep,
    celery: CeleryDep,
    settings: SettingsDep,
    image: Annotated[UploadFile, File(description="PNG or JPEG")],
    model_id: Annotated[str, Form()],
    conf: Annotated[float, Form(ge=0, le=1)] = 0.25,
    iou: Annotated[float, Form(gt=0, le=1)] = 0.7,
    imgsz: Annotated[int | None, Form(ge=32, le=4096)] = None,
    annotate: Annotated[bool, Form(description="also draw the boxes into a PNG")] = False,
    wait: Annotated[
        float, Form(ge=0, le=60, description="seconds to wait for the boxes before answering")
    ] = 0,
):
    """Boxes with class names and confidences; with `wait`, the answer carries them when they are ready."""
    get_model_or_404(session, model_id, field="model_id")
    data = read_capped(image, settings.max_upload_bytes, "image")
    try:
        pixels = decode_image(data, settings.max_image_pixels)
    except ImageError as exc:
        raise image_http_error("image", exc) from exc
    sub = Submission(store)
    key = sub.put("image.png", encode_png(pixels), "image/png")
    payload = DetectPayload(
        model_id=model_id, image_key=key, conf=conf, iou=iou, imgsz=imgsz, annotate=annotate
    )
    job = submit(session, celery, settings, "detect", payload, sub)
    # Poll with a short session each time, so a waiting request holds no database connection.
    session.close()
    deadline = time.monotonic() + wait
    url = settings.resolved_database_url
    while wait and time.monotonic() < deadline:
        with session_scope(url) as s:
            current = s.get(Job, job.id)
            if current is not None and current.status in ("succeeded", "failed", "cancelled"):
                return JSONResponse(JobOut.model_validate(current).model_dump(mode="json"), status_code=200)
        time.sleep(0.1)
    return job


@router.get("/v1/detections/{job_id}", response_model=JobOut)
def get_detection(job_id: str, session: SessionDep) -> Job:
    job = get_or_404(session, Job, job_id, "job")
    if job.kind != "detect":
        raise HTTPException(404, f"job {job_id} is a {job.kind} job, not a detection")
    return job


@router.get(
    "/v1/detections/{job_id}/image", response_class=Response, responses={200: {"content": {"image/png": {}}}}
)
def detection_image(job_id: str, session: SessionDep, store: StoreDep) -> Response:
    job = get_detection(job_id, session)
    if job.status != "succeeded":
        raise HTTPException(409, f"detection {job_id} is {job.status}; poll GET /v1/detections/{job_id}")
    key = (job.result or {}).get("annotated_key")
    if not key:
        raise HTTPException(404, "this detection was requested without annotate=true")
    return Response(store.get_bytes(key), media_type="image/png")
