"""The API's public response models, shared by the API (services/api/schemas.py re-exports them) and the
client (sim2real.client parses answers with them): one definition of what the service answers.

Pydantic only: no FastAPI, SQLAlchemy or torch, so the client installs without them. Models of rows the
API reads straight from the database take `from_attributes`; models of answers the API builds as
dictionaries allow extra fields, so a field added on the server reaches the client unchanged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

TERMINAL = ("succeeded", "failed", "cancelled")


class _Open(BaseModel):
    """An answer the API builds as a dictionary: fields added on the server pass through."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class JobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    status: str
    progress: float
    message: str
    error: str | None
    result: dict[str, Any] | None
    warnings: list[str] | None = None
    params: dict[str, Any]
    attempts: int
    max_attempts: int
    worker_id: str | None = Field(None, description="the worker process that holds or last held the job")
    parent_id: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    eta_s: float | None = Field(
        None, description="seconds until the job is expected to finish, where its work is countable"
    )

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL


class JobPage(BaseModel):
    items: list[JobOut]
    total: int
    limit: int
    offset: int


class JobEvent(_Open):
    """One server-sent event of GET /v1/jobs/{id}/events: the job's changing fields."""

    id: str | None = None
    status: str
    progress: float | None = None
    message: str | None = None
    error: str | None = None
    warnings: list[str] = []
    eta_s: float | None = None


class DatasetOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    format: str
    uri: str | None
    options: dict[str, Any]
    class_names: list[Any]
    stats: dict[str, Any]
    parent_id: str | None
    lineage: dict[str, Any] | None
    job_id: str | None


class ImageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    image_id: str
    split: str
    source: str
    width: int
    height: int
    scene: str | None
    variation: str | None
    camera: str | None
    frame: int | None
    weather: str | None
    timeofday: str | None
    occluded_vehicles: int
    num_boxes: int
    image_key: str | None
    box_fidelity: float | None = Field(
        None,
        description="the label-safety audit's lowest box fidelity (1.0 without boxes; null: not audited)",
    )


class ImagePage(BaseModel):
    items: list[ImageOut]
    total: int
    limit: int
    offset: int


class DetectorModelOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    origin: str
    architecture: str
    imgsz: int
    class_names: list[Any]
    dataset_id: str | None
    val_dataset_id: str | None
    metrics: dict[str, Any]
    options: dict[str, Any]
    job_id: str | None


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


class StyleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    weather: str
    image_keys: list[str]
    source: dict[str, Any] | None


class ImageSetOut(BaseModel):
    id: str
    prefix: str
    images: int
    skipped: dict[str, int]


class WeightsVersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    version: int
    key: str
    sha256: str
    bytes: int
    source: str
    created_at: datetime


class WeightsInfo(_Open):
    name: str
    description: str
    available: bool
    needed_by: list[str]
    versions: list[WeightsVersionOut]


class WeightsList(_Open):
    weights: list[WeightsInfo]


class WeightsUploaded(_Open):
    key: str
    sha256: str
    bytes: int
    version: int


class WeightsStatus(_Open):
    available: bool


class WeatherRow(_Open):
    """One method × weather combination of GET /v1/weathers."""

    method: str
    weather: str | None  # None: a method with nothing usable yet (no style or model)
    model_id: str | None = None
    style_id: str | None = None
    name: str | None = None
    available: bool
    needs: str | None = None
    reason: str | None = None  # why the row is not available
    fix: str | None = None  # what makes it available
    params_schema: dict[str, Any] | None = None
    description: str = ""
    trainable: bool = False
    uses_depth: bool = False
    depth_sources: dict[str, Any] | None = None  # physics: each params.depth_source, available or why not
    training_options_schema: dict[str, Any] | None = None
    import_options_schema: dict[str, Any] | None = None


class EvaluationRow(_Open):
    """One slice × class of an evaluation: AP50 with its bootstrap interval."""

    slice: str
    class_name: str = Field(alias="class")
    ap50: float | None
    ap50_95: float | None
    precision: float | None
    recall: float | None
    images: int
    instances: int
    ap50_low: float | None
    ap50_high: float | None


class EvaluationSummary(_Open):
    id: str
    dataset_id: str
    detector_model_id: str | None
    predictions_uri: str | None
    settings: dict[str, Any]
    job_id: str | None
    created_at: datetime | None = None
    ap50: float | None = None
    ap50_low: float | None = None
    ap50_high: float | None = None


class EvaluationPage(_Open):
    items: list[EvaluationSummary]
    total: int
    limit: int
    offset: int


class EvaluationOut(_Open):
    id: str
    dataset_id: str
    detector_model_id: str | None
    predictions_uri: str | None
    settings: dict[str, Any]
    job_id: str | None
    plot: str
    rows: list[EvaluationRow]


class ComparisonOut(_Open):
    id: str
    a: str
    b: str
    dataset_id: str | None
    n_boot: int
    seed: int
    job_id: str | None
    rows: list[dict[str, Any]]


class ExperimentSummary(_Open):
    id: str
    name: str
    status: str
    progress: float | None
    eval_dataset_id: str
    arms: list[str | None]
    seeds: list[int]
    job_id: str | None
    created_at: datetime | None = None
    has_table: bool


class ExperimentPage(_Open):
    items: list[ExperimentSummary]
    total: int
    limit: int
    offset: int


class ExperimentOut(_Open):
    id: str
    name: str
    status: str
    progress: float | None
    message: str | None
    error: str | None
    arms: list[dict[str, Any]]
    seeds: list[int]
    eval_dataset_id: str
    settings: dict[str, Any]
    runs: Any = None
    table: dict[str, Any] | None
    plot: str | None


class RobustnessSummary(_Open):
    """A robustness curve without its rows (the list)."""

    id: str
    detector_model_id: str
    dataset_id: str
    weather: str
    parameter: str
    levels: list[float | None]
    settings: dict[str, Any]
    points: list[dict[str, Any]] | None = None
    job_id: str | None = None
    created_at: datetime | None = None


class RobustnessPage(_Open):
    items: list[RobustnessSummary]
    total: int
    limit: int
    offset: int


class RobustnessOut(RobustnessSummary):
    """mAP50 against the level of a rendered weather: `rows` like an evaluation's, each with its `level`."""

    plot: str
    rows: list[dict[str, Any]]


class ExperimentPlan(_Open):
    """Seeds needed for a difference, before training (POST /v1/experiments/plan)."""

    rows: list[dict[str, Any]]
