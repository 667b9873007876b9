"""Turning a robustness request's weather and levels into one translation per level, through the method
registry: the method that declares an intensity parameter for the weather renders it (see
`MethodSpec.intensity`). Shared by POST /v1/robustness and experiments that attach curves."""

from __future__ import annotations

from fastapi import HTTPException
from sqlalchemy.orm import Session

from services.api.translation_requests import resolve_translation
from services.common import methods
from services.common.contracts.robustness import RobustnessLevels
from services.common.core.settings import Settings
from services.common.core.storage import ObjectStore
from services.common.methods.translation import Translation


def resolve_levels(
    session: Session, settings: Settings, store: ObjectStore, body: RobustnessLevels, where: str = ""
) -> tuple[str, list[Translation | None]]:
    """(the intensity parameter, per level its translation or None for the unmodified set); 422 naming
    `weather` or `levels[i]` by their full path."""
    found = methods.with_intensity(body.weather)
    if found is None:
        raise HTTPException(
            422,
            f"{where}weather: {body.weather!r} has no intensity parameter to vary; robustness curves render "
            f"one of {', '.join(methods.intensity_weathers())}",
        )
    spec, param = found
    repeated = sorted(
        {lv for lv in body.levels if body.levels.count(lv) > 1}, key=lambda v: (v is not None, v)
    )
    if repeated:
        raise HTTPException(422, f"{where}levels: {repeated} appear more than once; give each level once")
    renders: list[Translation | None] = []
    for i, level in enumerate(body.levels):
        if level is None:
            renders.append(None)
            continue
        try:
            renders.append(
                resolve_translation(
                    session,
                    settings,
                    store,
                    spec.name,
                    body.weather,
                    None,
                    None,
                    {param: level, "seed": body.seed},
                )  # fmt: skip
            )
        except HTTPException as exc:
            if exc.status_code != 422:
                raise
            raise HTTPException(
                422, f"{where}levels[{i}]: {level:g} is not a valid {body.weather} {param} ({exc.detail})"
            ) from exc
    return param, renders
