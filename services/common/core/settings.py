"""One settings class for every service. Embedded defaults need no environment at all."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIM2REAL_", extra="ignore")

    # Where embedded mode keeps its SQLite file, object folder and broker spool.
    home: Path = Path("./var")
    host: str = "127.0.0.1"
    port: int = 8000

    # None means embedded: SQLite under `home`.
    database_url: str | None = None
    # None means embedded: kombu's filesystem transport under `home/broker`.
    broker_url: str | None = None
    # Prefix for every Redis key the broker writes, so several deployments can share one Redis.
    broker_key_prefix: str = ""

    # S3/MinIO when `store_endpoint` is set, else a local folder (`store_path`, default `home/objects`).
    store_endpoint: str | None = None
    store_access_key: SecretStr | None = None
    store_secret_key: SecretStr | None = None
    store_bucket: str = "sim2real"
    store_secure: bool = False
    store_region: str | None = None
    store_path: Path | None = None
    # Host clients use for presigned URLs when it differs from the endpoint the services use (e.g. in k8s).
    store_public_endpoint: str | None = None

    # With a key set every route but the health checks needs `Authorization: Bearer <key>`.
    api_key: SecretStr | None = None
    # The operator's key: also needed to change shared weights (POST /v1/weights/{name}).
    admin_api_key: SecretStr | None = None
    # Folders a `file://` dataset URI may point into, separated by ':' like PATH.
    data_roots: str = ""
    # Buckets an s3:// dataset URI may name (':'-separated); by default only SIM2REAL_STORE_BUCKET.
    data_buckets: str = ""

    # Upload limits: bytes per file, and decoded pixels per image (checked from the header).
    max_upload_bytes: int = 64 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    # Pixels decoded across all images of one uploaded archive (checked from the headers first).
    max_archive_pixels: int = 400_000_000
    # Detector trainings one experiment may start (arms × seeds), each a GPU job.
    max_experiment_runs: int = Field(60, ge=1)

    # Job liveness: a running job whose heartbeat is older than the timeout has a dead worker.
    heartbeat_interval_s: float = 10.0
    heartbeat_timeout_s: float = 60.0
    max_attempts: int = 3
    # Redis redelivers an unacknowledged message after this long; it must exceed the longest job.
    visibility_timeout_s: int = 7 * 24 * 3600
    # A queued job nobody touched for this long may have lost its message (the API died between commit
    # and send, the broker lost its data): the sweeper sends it again, at most once per period. Longer than
    # an orchestrator's park delay (60 s); duplicates are harmless, the claim is conditional.
    requeue_after_s: float = Field(300.0, gt=0)
    # A dataset translation, and an evaluation's detection, runs as shards of this many images each:
    # every worker of the batch queue takes shards, and a dead worker costs at most one shard's work.
    shard_images: int = Field(500, ge=1)
    # Worker processes `make up` starts per queue: "2" (every queue), "batch=2" (each batch queue), or
    # several, e.g. "batch=2,translator.training=0"; a queue not named gets one.
    workers: str = ""
    # Inputs of failed and cancelled jobs, and image sets nothing names, are removed after this many days.
    retention_days: float = Field(7.0, gt=0)

    # Operator-supplied VGG-19 ImageNet weights (torchvision state_dict) for neural style transfer.
    vgg19_weights: Path | None = None
    # Operator-supplied pretrained YOLOv5 checkpoints (ultralytics .pt) that `pretrained: true` trainings
    # start from, one per architecture of services/common/detectors.py.
    yolov5n_weights: Path | None = None
    yolov5s_weights: Path | None = None
    yolov5m_weights: Path | None = None
    yolov5l_weights: Path | None = None
    yolov5x_weights: Path | None = None
    yolov5n6_weights: Path | None = None
    yolov5s6_weights: Path | None = None
    yolov5m6_weights: Path | None = None
    yolov5l6_weights: Path | None = None
    yolov5x6_weights: Path | None = None
    # Operator-supplied Depth Anything V2 Small weights (transformers state_dict) for depth_source "model".
    depth_anything_weights: Path | None = None
    # The depth source of a physics request that names none and has no depth map: "geometric" (fast) or
    # "model" (the monocular model; slower, and needs its weights).
    default_depth_source: Literal["geometric", "model"] = "geometric"
    # Operator-supplied FID Inception-v3 weights (torch-fidelity's file) for KID/FID translation quality.
    inception_weights: Path | None = None
    # "auto" picks CUDA when present.
    device: str = "auto"
    # Threads one worker process uses (its I/O pool, torch, OpenCV, OpenMP); unset: every CPU it may use.
    threads: int | None = Field(None, ge=1, le=1024)
    # Freed memory one worker process keeps for reuse instead of returning it to the kernel (glibc's trim
    # threshold; see core/memory.py). 0 leaves the allocator's defaults.
    keep_freed_mb: int = Field(512, ge=0, le=65536)
    log_level: str = "INFO"

    @field_validator(
        "database_url",
        "broker_url",
        "store_endpoint",
        "vgg19_weights",
        "yolov5n_weights",
        "yolov5s_weights",
        "yolov5m_weights",
        "yolov5l_weights",
        "yolov5x_weights",
        "yolov5n6_weights",
        "yolov5s6_weights",
        "yolov5m6_weights",
        "yolov5l6_weights",
        "yolov5x6_weights",
        "depth_anything_weights",
        "inception_weights",
        "store_path",
        "api_key",
        "admin_api_key",
        "threads",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        # A key read from a secret file often ends in a newline; an empty one means "no key".
        if isinstance(value, str):
            value = value.strip()
        return None if value == "" else value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'sim2real.db').resolve()}"

    @property
    def broker_folder(self) -> Path:
        return (self.home / "broker").resolve()

    @property
    def resolved_store_path(self) -> Path:
        return (self.store_path or self.home / "objects").resolve()

    @property
    def allowed_data_buckets(self) -> list[str]:
        return [b for b in self.data_buckets.split(":") if b.strip()] or [self.store_bucket]

    @property
    def allowed_data_roots(self) -> list[Path]:
        return [Path(p).resolve() for p in self.data_roots.split(":") if p.strip()]


@lru_cache
def get_settings() -> Settings:
    return Settings()


# Field names as environment variables, for deployment files to be checked against.
def env_names() -> set[str]:
    prefix = Settings.model_config["env_prefix"]
    return {prefix + name.upper() for name in Settings.model_fields}


__all__ = ["Settings", "get_settings", "env_names", "Field"]
