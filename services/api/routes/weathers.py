"""What the running system can translate to, so a client can discover it instead of guessing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.api.deps import SessionDep, SettingsDep, StoreDep
from services.api.schemas import WeatherRow
from services.common import methods
from services.common.core import weights
from services.common.core.db.models import Style, TranslatorModel

router = APIRouter(prefix="/v1/weathers", tags=["weathers"])


@dataclass(frozen=True)
class Unavailable:
    """Why a row cannot be used now, and what to do about it."""

    reason: str  # e.g. "no style yet", "vgg19 weights missing"
    fix: str  # the request or setting that makes it available

    def __add__(self, other: Unavailable | None) -> Unavailable:
        if other is None:
            return self
        return Unavailable(f"{self.reason}; {other.reason}", f"{self.fix} {other.fix}")


def weights_problem(session: Session, names: tuple[str, ...]) -> Unavailable | None:
    """The operator weights among `names` that nobody supplied yet."""
    absent = [name for name in dict.fromkeys(names) if weights.current(session, name) is None]
    if not absent:
        return None
    return Unavailable(
        f"{' and '.join(absent)} weights missing", " ".join(f"{weights.spec(w).missing}." for w in absent)
    )


def nothing_to_use(spec: methods.MethodSpec) -> Unavailable | None:
    """Why a method that renders no weather by itself has no row: no model or no style of it yet. Read
    from the spec (what it needs, whether it trains or imports), so a new method needs no change here."""
    if spec.model == "required":
        ways = []
        if spec.trainable:
            ways.append(
                f'train one: POST /v1/translator-models {{"method": "{spec.name}", "name": …, "weather": …, '
                '"domain_a": {"dataset_id": …}, "domain_b": {"dataset_id": …}}'
            )
        if spec.importer is not None:
            ways.append(
                f"import one: POST /v1/translator-models/import with method={spec.name}, name, weather and "
                "file=@checkpoint"
            )
        fix = "; or ".join(ways) or "this deployment can neither train nor import one"
        return Unavailable(f"no {spec.name} model yet", f"{fix[:1].upper()}{fix[1:]}.")
    if spec.style == "required":
        return Unavailable(
            "no style yet",
            "Create one: POST /v1/styles with images=@… (reference images of the target look), name and "
            "weather; or POST /v1/styles/from-dataset {dataset_id, filter, name, weather}.",
        )
    return None


def _depth_sources(session: Session, spec: methods.MethodSpec, default: str) -> dict[str, Any] | None:
    """Where a depth-using method may take distances from, each available or not (and why not), and the
    source a request that names none gets."""
    if not spec.depth_sources:
        return None
    sources = []
    for name, needed in spec.depth_sources.items():
        needs = weights.missing_weights(session, needed)
        sources.append({"name": name, "available": needs is None, "needs": needs})
    return {
        "sources": sources,
        "default": f"'provided' when the image has a depth map, else '{default}' "
        "(SIM2REAL_DEFAULT_DEPTH_SOURCE)",
        "default_without_depth": default,
    }


def _row(
    spec: methods.MethodSpec,
    weather: str | None,
    problem: Unavailable | None,
    params: Any,
    depth: dict[str, Any] | None = None,
    **ids: str,
) -> dict[str, Any]:
    """One method × weather row; `ids` name the model or style it uses."""
    return {
        "method": spec.name,
        "weather": weather,
        **ids,
        "available": problem is None,
        "needs": f"{problem.reason}: {problem.fix}" if problem else None,
        "reason": problem.reason if problem else None,
        "fix": problem.fix if problem else None,
        "params_schema": params.model_json_schema() if params is not None else None,
        "description": spec.description,
        "trainable": spec.trainable,
        "uses_depth": spec.uses_depth,
        "depth_sources": depth,
        # The parameter a robustness curve varies (POST /v1/robustness), when the weather has one.
        "intensity": spec.intensity.get(weather),
        "training_options_schema": spec.training_options.model_json_schema()
        if spec.training_options
        else None,
        "import_options_schema": spec.import_options.model_json_schema() if spec.import_options else None,
    }


@router.get("", response_model=list[WeatherRow], response_model_exclude_unset=True)
def list_weathers(session: SessionDep, store: StoreDep, settings: SettingsDep) -> list[dict[str, Any]]:
    """Every method, usable now or not: one row per weather a method renders by itself, per trained model
    and per style, and one row (weather null) for a method with no model or style yet. Where a row cannot
    be used now, `available` is false, `reason` says why and `fix` what to send (`needs` holds both).
    `params_schema` is the JSON schema of the row's `params` (units, ranges, defaults). `depth_sources` (for
    methods that use depth) lists each `params.depth_source` with whether it is available now and, if not,
    what the operator must supply."""
    registry = methods.registry()
    default = settings.default_depth_source
    # A request naming no depth source needs the default source's weights too (SIM2REAL_DEFAULT_DEPTH_SOURCE).
    needs = {
        name: weights_problem(session, spec.weights + tuple(spec.depth_sources.get(default, ())))
        for name, spec in registry.items()
    }
    depth = {name: _depth_sources(session, spec, default) for name, spec in registry.items()}
    out: list[dict[str, Any]] = []
    for spec in registry.values():
        for weather, model in spec.weather_params.items():
            out.append(_row(spec, weather, needs[spec.name], model, depth[spec.name]))
    for m in session.scalars(select(TranslatorModel).order_by(TranslatorModel.created_at)):
        spec = registry.get(m.method)
        if spec is None:  # a model of a method this deployment no longer registers
            continue
        out.append(
            _row(spec, m.weather, needs[m.method], spec.params, depth[m.method], model_id=m.id, name=m.name)
        )
    # Styles serve every method that needs a style and no model.
    style_methods = [s for s in registry.values() if s.style == "required" and s.model == "no"]
    for st in session.scalars(select(Style).order_by(Style.created_at)):
        for spec in style_methods:
            out.append(
                _row(
                    spec,
                    st.weather,
                    needs[spec.name],
                    spec.params,
                    depth[spec.name],
                    style_id=st.id,
                    name=st.name,
                )
            )
    # A method with no row yet (no model, no style) is listed with what it lacks.
    listed = {row["method"] for row in out}
    for spec in registry.values():
        missing = nothing_to_use(spec)
        if spec.name not in listed and missing is not None:
            out.append(_row(spec, None, missing + needs[spec.name], spec.params, depth[spec.name]))
    return out
