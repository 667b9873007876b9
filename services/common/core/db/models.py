"""SQLAlchemy models: the job row is the single source of truth for the state of any work."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    """Naive UTC, so SQLite and Postgres compare timestamps the same way."""
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True, default="queued")
    queue: Mapped[str] = mapped_column(String(32))
    task_name: Mapped[str] = mapped_column(String(128))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    # Seconds still needed at the rate so far, where the work is countable (runtime/progress.py).
    eta_s: Mapped[float | None] = mapped_column(Float, default=None)
    message: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text, default=None)
    result: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    # Data problems the job went on past (skipped files, empty splits ...): shown while it runs and after.
    warnings: Mapped[list[Any] | None] = mapped_column(default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    worker_id: Mapped[str | None] = mapped_column(String(255), default=None)
    parent_id: Mapped[str | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), default=None, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    # When retention removed the inputs (uploads/{id}/) of this failed or cancelled job.
    inputs_removed_at: Mapped[datetime | None] = mapped_column(default=None)


class ImageSet(Base):
    """An uploaded archive of images (POST /v1/image-sets) under `prefix`; retention removes the set
    when it is old and nothing names it."""

    __tablename__ = "image_sets"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    prefix: Mapped[str] = mapped_column(Text)
    images: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Dataset(Base):
    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    format: Mapped[str] = mapped_column(String(32))
    uri: Mapped[str | None] = mapped_column(Text, default=None)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    class_names: Mapped[list[Any]] = mapped_column(default=list)
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Derived datasets: the source and how they were made (translation or composition, with its inputs).
    parent_id: Mapped[str | None] = mapped_column(
        ForeignKey("datasets.id", ondelete="SET NULL"), default=None
    )
    lineage: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DatasetImage(Base):
    """Per-image metadata, queryable as filters."""

    __tablename__ = "dataset_images"
    __table_args__ = (
        Index("ix_dataset_images_dataset_image", "dataset_id", "image_id", unique=True),
        Index("ix_dataset_images_weather", "dataset_id", "weather", "timeofday"),
        Index("ix_dataset_images_occluded", "dataset_id", "occluded_vehicles"),
        Index("ix_dataset_images_box_fidelity", "dataset_id", "box_fidelity"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    image_id: Mapped[str] = mapped_column(String(512))
    split: Mapped[str] = mapped_column(String(16), default="train")
    source: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    scene: Mapped[str | None] = mapped_column(String(128), default=None)
    variation: Mapped[str | None] = mapped_column(String(64), default=None)
    camera: Mapped[str | None] = mapped_column(String(32), default=None)
    frame: Mapped[int | None] = mapped_column(Integer, default=None)
    weather: Mapped[str | None] = mapped_column(String(32), default=None)
    timeofday: Mapped[str | None] = mapped_column(String(32), default=None)
    occluded_vehicles: Mapped[int] = mapped_column(Integer, default=0)
    # The column keeps its first name; the API, filters and index rows call it num_boxes.
    num_boxes: Mapped[int] = mapped_column("boxes", Integer, default=0)
    image_key: Mapped[str | None] = mapped_column(Text, default=None)
    label_key: Mapped[str | None] = mapped_column(Text, default=None)
    depth_key: Mapped[str | None] = mapped_column(Text, default=None)
    # The label-safety audit of a translated image: its lowest box fidelity (1.0 without boxes; NULL when
    # not audited); the per-box values are in meta["label_audit"].
    box_fidelity: Mapped[float | None] = mapped_column(Float, default=None)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)


class OperatorWeights(Base):
    """One version of an operator-supplied weights file (VGG-19, ...): replacing it adds a version, and jobs
    record the version they used."""

    __tablename__ = "operator_weights"
    __table_args__ = (Index("ix_operator_weights_name_version", "name", "version", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    bytes: Mapped[int] = mapped_column(BigInteger)
    # "upload", "path" (SIM2REAL_<NAME>_WEIGHTS at start-up) or "legacy" (stored before versions existed)
    source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Style(Base):
    __tablename__ = "styles"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    weather: Mapped[str] = mapped_column(String(32))
    image_keys: Mapped[list[Any]] = mapped_column(default=list)
    source: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TranslatorModel(Base):
    __tablename__ = "translator_models"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(32))
    # The weather/domain this model produces (what `POST /v1/translations` asks for).
    weather: Mapped[str] = mapped_column(String(64))
    domain_a: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    domain_b: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    checkpoint_key: Mapped[str] = mapped_column(Text)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sample_keys: Mapped[list[Any]] = mapped_column(default=list)
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DetectorModel(Base):
    __tablename__ = "detector_models"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    origin: Mapped[str] = mapped_column(String(16))  # trained | uploaded
    architecture: Mapped[str] = mapped_column(String(32))
    imgsz: Mapped[int] = mapped_column(Integer)
    class_names: Mapped[list[Any]] = mapped_column(default=list)
    dataset_id: Mapped[str | None] = mapped_column(
        ForeignKey("datasets.id", ondelete="SET NULL"), default=None
    )
    val_dataset_id: Mapped[str | None] = mapped_column(
        ForeignKey("datasets.id", ondelete="SET NULL"), default=None
    )
    weights_key: Mapped[str] = mapped_column(Text)
    last_key: Mapped[str | None] = mapped_column(Text, default=None)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Evaluation(Base):
    __tablename__ = "evaluations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    detector_model_id: Mapped[str | None] = mapped_column(
        ForeignKey("detector_models.id", ondelete="SET NULL"), default=None
    )
    predictions_uri: Mapped[str | None] = mapped_column(Text, default=None)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    matches_key: Mapped[str | None] = mapped_column(Text, default=None)
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EvaluationMetric(Base):
    """One row per evaluation × slice × class."""

    __tablename__ = "evaluation_metrics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    evaluation_id: Mapped[str] = mapped_column(ForeignKey("evaluations.id", ondelete="CASCADE"), index=True)
    slice: Mapped[str] = mapped_column(String(128))
    class_name: Mapped[str] = mapped_column(String(64))
    ap50: Mapped[float] = mapped_column(Float)
    ap50_95: Mapped[float] = mapped_column(Float)
    precision: Mapped[float] = mapped_column(Float)
    recall: Mapped[float] = mapped_column(Float)
    images: Mapped[int] = mapped_column(Integer)
    instances: Mapped[int] = mapped_column(Integer)
    ap50_low: Mapped[float | None] = mapped_column(Float, default=None)
    ap50_high: Mapped[float | None] = mapped_column(Float, default=None)


class EvaluationComparison(Base):
    """mAP50(b) − mAP50(a) per slice of two evaluations on the same images, with paired bootstrap intervals."""

    __tablename__ = "evaluation_comparisons"
    __table_args__ = (
        Index("ix_evaluation_comparisons_pair", "evaluation_a_id", "evaluation_b_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    evaluation_a_id: Mapped[str] = mapped_column(ForeignKey("evaluations.id", ondelete="CASCADE"))
    evaluation_b_id: Mapped[str] = mapped_column(ForeignKey("evaluations.id", ondelete="CASCADE"))
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    n_boot: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(BigInteger)  # 0 .. 2^32 - 1 (fields.Seed): past int4
    rows: Mapped[list[Any]] = mapped_column(default=list)
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RobustnessCurve(Base):
    """mAP50 of one detector on one dataset rendered at several intensities of one weather (rows as an
    evaluation's, plus `level`); written by the robustness job when it succeeds (its id is the job's)."""

    __tablename__ = "robustness_curves"
    __table_args__ = (Index("ix_robustness_curves_dataset", "dataset_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    detector_model_id: Mapped[str | None] = mapped_column(
        ForeignKey("detector_models.id", ondelete="SET NULL"), default=None
    )
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    weather: Mapped[str] = mapped_column(String(32))
    parameter: Mapped[str] = mapped_column(String(64))  # the weather's intensity parameter, e.g. visibility_m
    levels: Mapped[list[Any]] = mapped_column(default=list)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Per level: the rendered dataset (cached: made by an earlier curve) and its evaluation.
    points: Mapped[list[Any]] = mapped_column(default=list)
    rows: Mapped[list[Any]] = mapped_column(default=list)
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Experiment(Base):
    __tablename__ = "experiments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    eval_dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    arms: Mapped[list[Any]] = mapped_column(default=list)
    seeds: Mapped[list[Any]] = mapped_column(default=list)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    runs: Mapped[list[Any]] = mapped_column(default=list)
    table: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
