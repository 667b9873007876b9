"""Operator-supplied weights that cannot be downloaded at run time (VGG-19 for style transfer)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, HTTPException, UploadFile

from services.api.deps import SettingsDep, StoreDep
from services.api.uploads import read_capped
from services.common.core.checkpoints import CheckpointError
from services.common.core.weights import VGG19_KEY, store_vgg19, vgg19_available

router = APIRouter(prefix="/v1/weights", tags=["weights"])

VGG19_MAX_BYTES = 700 * 1024 * 1024  # torchvision's vgg19 state_dict is ~548 MB


@router.post("/vgg19", status_code=201)
def upload_vgg19(
    store: StoreDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="torchvision vgg19 state_dict (.pth)")],
) -> dict:
    """Checked layer by layer against torchvision's VGG-19 (features.0.weight 64×3×3×3 …) before it is kept."""
    data = read_capped(file, max(settings.max_upload_bytes, VGG19_MAX_BYTES), "file")
    try:
        digest = store_vgg19(store, data)
    except CheckpointError as exc:
        raise HTTPException(422, f"file: {exc}") from exc
    return {"key": VGG19_KEY, "sha256": digest, "bytes": len(data)}


@router.get("/vgg19")
def vgg19_status(store: StoreDep, settings: SettingsDep) -> dict:
    return {"available": vgg19_available(settings, store)}
