"""Operator-supplied weights that cannot be downloaded at run time: what is present, in which versions, what
each method needs, and uploading a new version (operator key)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, HTTPException, Path, UploadFile

from services.api.deps import SessionDep, SettingsDep, StoreDep
from services.api.schemas import WeightsList, WeightsStatus, WeightsUploaded, WeightsVersionOut
from services.api.uploads import read_capped
from services.common import methods
from services.common.core import weights
from services.common.core.checkpoints import CheckpointError

router = APIRouter(prefix="/v1/weights", tags=["weights"])
WeightsName = Annotated[
    str, Path(max_length=64, description="e.g. vgg19 or yolov5s (GET /v1/weights lists them)")
]


def _spec(name: str) -> weights.WeightsSpec:
    try:
        return weights.spec(name)
    except KeyError as exc:
        raise HTTPException(404, str(exc.args[0])) from exc


@router.get("", response_model=WeightsList, response_model_exclude_unset=True)
def list_weights(session: SessionDep) -> dict[str, Any]:
    """Every operator weights file: its versions (the newest is used by new jobs), and which methods need it."""
    return {
        "weights": [
            {
                "name": w.name,
                "description": w.description,
                "available": weights.current(session, w.name) is not None,
                "needed_by": methods.needing_weights(w.name),
                "versions": [
                    WeightsVersionOut.model_validate(v).model_dump(mode="json")
                    for v in weights.versions(session, w.name)
                ],
            }
            for w in weights.OPERATOR_WEIGHTS.values()
        ]
    }


@router.post("/{name}", status_code=201, response_model=WeightsUploaded, response_model_exclude_unset=True)
def upload_weights(
    name: WeightsName,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    file: Annotated[
        UploadFile,
        File(
            description="the weights file: torchvision's vgg19 state_dict (.pth), or an ultralytics YOLOv5 "
            "checkpoint (.pt, e.g. yolov5su.pt) for yolov5n … yolov5x6"
        ),
    ],
) -> dict[str, Any]:
    """Checked (architecture, finite values, no constant layer) before it is kept as a new version; needs the
    operator key (SIM2REAL_ADMIN_API_KEY) when keys are set."""
    spec = _spec(name)
    data = read_capped(file, max(settings.max_upload_bytes, spec.max_bytes), "file")
    try:
        row = weights.add_version(session, store, name, data, "upload")
    except CheckpointError as exc:
        raise HTTPException(422, f"file: {exc}") from exc
    return {"key": row.key, "sha256": row.sha256, "bytes": row.bytes, "version": row.version}


@router.get("/{name}", response_model=WeightsStatus, response_model_exclude_unset=True)
def weights_status(name: WeightsName, session: SessionDep) -> dict[str, bool]:
    _spec(name)
    return {"available": weights.current(session, name) is not None}
