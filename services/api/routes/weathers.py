"""What the running system can translate to, so a client can discover it instead of guessing."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from services.api.deps import SessionDep, SettingsDep, StoreDep
from services.common.db.models import Style, TranslatorModel
from services.common.weather_params import PHYSICS_WEATHERS
from services.common.weights import VGG_MISSING, vgg19_available

router = APIRouter(prefix="/v1/weathers", tags=["weathers"])


@router.get("")
def list_weathers(session: SessionDep, store: StoreDep, settings: SettingsDep) -> list[dict[str, Any]]:
    """Every method × weather combination; `available` is false (with `needs`) where weights are missing."""
    vgg = vgg19_available(settings, store)
    needs = None if vgg else VGG_MISSING
    out: list[dict[str, Any]] = [
        {
            "method": "physics",
            "weather": w,
            "available": True,
            "needs": None,
            "params_schema": model.model_json_schema(),
        }
        for w, model in PHYSICS_WEATHERS.items()
    ]
    for m in session.scalars(select(TranslatorModel).order_by(TranslatorModel.created_at)):
        out.append(
            {
                "method": m.method,
                "weather": m.weather,
                "model_id": m.id,
                "name": m.name,
                "available": m.method == "cyclegan" or vgg,
                "needs": None if m.method == "cyclegan" else needs,
            }
        )
    for s in session.scalars(select(Style).order_by(Style.created_at)):
        out.append(
            {
                "method": "nst",
                "weather": s.weather,
                "style_id": s.id,
                "name": s.name,
                "available": vgg,
                "needs": needs,
            }
        )
    return out
