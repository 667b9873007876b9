"""Operator-supplied weights (VGG-19, pretrained YOLOv5 checkpoints, Depth Anything V2 Small; Inception
weights join the same way).

Nothing downloads them. Each has a name and arrives either by `POST /v1/weights/{name}` (operator key) or
from the `SIM2REAL_<NAME>_WEIGHTS` path at start-up. Its content is checked without torch (architecture,
finite values, no constant layer), then stored under a versioned key: replacing it adds a version, and a job
records the version it used, so a translation can be reproduced after the weights change.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.core import keys
from services.common.core.checkpoints import (
    CheckpointError,
    check_depth_anything,
    check_inception,
    check_trained_values,
    check_vgg19,
    read_detector_checkpoint,
    read_detector_tensors,
    read_tensor_shapes,
    read_tensor_values,
)
from services.common.core.db.models import OperatorWeights
from services.common.core.db.session import session_scope
from services.common.core.settings import Settings
from services.common.core.storage import ObjectStore
from services.common.detectors import ARCHITECTURES, get_architecture

log = logging.getLogger("sim2real.weights")


@dataclass(frozen=True)
class WeightsSpec:
    name: str
    description: str
    setting: str  # the Settings field with a local path (SIM2REAL_<NAME>_WEIGHTS)
    check: Callable[[bytes], None]  # raises CheckpointError; torch-free
    max_bytes: int
    suffix: str = ".pth"  # the file's extension (what the loader expects), e.g. ".pt" for ultralytics

    @property
    def missing(self) -> str:
        """What to do when no version is present."""
        return (
            f"{self.description} are needed and are not downloaded at run time: upload the file with "
            f"`curl -H 'Authorization: Bearer $SIM2REAL_ADMIN_API_KEY' -F file=@{self.name}{self.suffix} "
            f".../v1/weights/{self.name}`, or set SIM2REAL_{self.name.upper()}_WEIGHTS to that file on a worker "
            "(or bake it into the image, see docs/deploy.md)"
        )


def _check_vgg19(data: bytes) -> None:
    shapes = read_tensor_shapes(data)
    check_vgg19(shapes)
    check_trained_values(read_tensor_values(data, shapes), "vgg19")


def _yolo_check(name: str) -> Callable[[bytes], None]:
    """An ultralytics detection checkpoint of exactly the architecture `name`, read without executing it."""

    def check(data: bytes) -> None:
        info = read_detector_checkpoint(data)
        try:
            held = get_architecture(info["yaml_file"]).name
        except ValueError as exc:
            raise CheckpointError(
                f"the checkpoint's model ({info['yaml_file'] or 'no config recorded'}) is not a YOLOv5 "
                f"architecture; upload an ultralytics YOLOv5 checkpoint such as {name}u.pt"
            ) from exc
        if held != name:
            raise CheckpointError(f"the checkpoint holds a {held} model, not {name}; upload it as {held}")
        if not info["class_names"]:
            raise CheckpointError("the checkpoint names no classes; upload the .pt ultralytics wrote")
        tensors = read_detector_tensors(data)
        check_trained_values(read_tensor_values(data, tensors), name)

    return check


def _yolo_spec(name: str) -> WeightsSpec:
    return WeightsSpec(
        name,
        f"Pretrained {name} weights (an ultralytics YOLOv5 checkpoint such as {name}u.pt, for detector "
        f"trainings with `pretrained: true` and `model: {name}`)",
        f"{name}_weights",
        _yolo_check(name),
        1024 * 1024 * 1024,  # yolov5x6u.pt is ~300 MB, a full training checkpoint ~3x its weights
        suffix=".pt",
    )


def _check_depth_anything(data: bytes) -> None:
    shapes = read_tensor_shapes(data)
    check_depth_anything(shapes)
    values = read_tensor_values(data, shapes)
    # DINOv2's mask token is used only in masked pre-training, never at inference: it may be anything.
    values.pop("backbone.embeddings.mask_token", None)
    check_trained_values(values, "depth_anything")


def _check_inception(data: bytes) -> None:
    shapes = read_tensor_shapes(data)
    check_inception(shapes)
    check_trained_values(read_tensor_values(data, shapes), "inception")


OPERATOR_WEIGHTS: dict[str, WeightsSpec] = {
    "vgg19": WeightsSpec(
        "vgg19",
        "VGG-19 ImageNet weights (torchvision's vgg19 state_dict, for neural style transfer)",
        "vgg19_weights",
        _check_vgg19,
        700 * 1024 * 1024,  # torchvision's is ~548 MB
    ),
    # One pretrained checkpoint per detector architecture: what `pretrained: true` starts from.
    **{name: _yolo_spec(name) for name in ARCHITECTURES},
    "depth_anything": WeightsSpec(
        "depth_anything",
        "Depth Anything V2 Small weights (the state_dict of transformers' DepthAnythingForDepthEstimation, "
        "saved with torch.save, for depth_source 'model')",
        "depth_anything_weights",
        _check_depth_anything,
        200 * 1024 * 1024,  # ~99 MB in float32
    ),
    "inception": WeightsSpec(
        "inception",
        "FID Inception-v3 weights (torch-fidelity's weights-inception-2015-12-05-6726825d.pth, the network "
        "FID and KID are defined with; for translation quality)",
        "inception_weights",
        _check_inception,
        200 * 1024 * 1024,  # the file is ~95 MB
    ),
}


def spec(name: str) -> WeightsSpec:
    if name not in OPERATOR_WEIGHTS:
        raise KeyError(f"no operator weights named {name!r}; known: {', '.join(OPERATOR_WEIGHTS)}")
    return OPERATOR_WEIGHTS[name]


def current(session: Session, name: str) -> OperatorWeights | None:
    """The newest version of `name`, if any was supplied."""
    return session.scalars(
        select(OperatorWeights).where(OperatorWeights.name == name).order_by(OperatorWeights.version.desc())
    ).first()


def versions(session: Session, name: str | None = None) -> list[OperatorWeights]:
    query = select(OperatorWeights).order_by(OperatorWeights.name, OperatorWeights.version)
    if name is not None:
        query = query.where(OperatorWeights.name == name)
    return list(session.scalars(query))


def current_versions(session: Session, names: tuple[str, ...]) -> dict[str, int]:
    """{name: newest version} for the present ones among `names` (what a job records)."""
    out = {}
    for name in names:
        row = current(session, name)
        if row is not None:
            out[name] = row.version
    return out


def missing_weights(session: Session, names: tuple[str, ...]) -> str | None:
    """Instructions for the first of `names` with no version, else None."""
    for name in names:
        if current(session, name) is None:
            return spec(name).missing
    return None


def add_version(session: Session, store: ObjectStore, name: str, data: bytes, source: str) -> OperatorWeights:
    """Check `data` and keep it as the next version of `name` (the current one again if the bytes are the
    same). CheckpointError (a ValueError) says what is wrong with the file."""
    weights = spec(name)
    weights.check(data)
    digest = hashlib.sha256(data).hexdigest()
    for _ in range(3):  # two uploads at once: the second takes the next version number
        latest = current(session, name)
        if latest is not None and latest.sha256 == digest:
            return latest
        version = (latest.version if latest is not None else 0) + 1
        key = keys.operator_weights(name, version, weights.suffix)
        store.put_bytes(key, data, "application/octet-stream")
        row = OperatorWeights(
            name=name, version=version, key=key, sha256=digest, bytes=len(data), source=source
        )
        session.add(row)
        try:
            session.commit()
            return row
        except IntegrityError:
            session.rollback()
    raise RuntimeError(f"could not record a new version of {name}: too many concurrent uploads")


def publish_configured(settings: Settings, store: ObjectStore) -> None:
    """At start-up: weights given as SIM2REAL_<NAME>_WEIGHTS become a version (if new), and a file stored
    before versions existed becomes version 1. A bad file is logged, not fatal: only jobs needing it fail."""
    with session_scope(settings.resolved_database_url) as session:
        for name, weights in OPERATOR_WEIGHTS.items():
            try:
                legacy = keys.operator_weights(name, suffix=weights.suffix)
                if current(session, name) is None and store.exists(legacy):
                    add_version(session, store, name, store.get_bytes(legacy), "legacy")
                path: Path | None = getattr(settings, weights.setting, None)
                if path is None:
                    continue
                if not path.is_file():
                    log.error(
                        "SIM2REAL_%s_WEIGHTS=%s does not exist: mount the file or bake it in",
                        name.upper(),
                        path,
                    )
                    continue
                row = add_version(session, store, name, path.read_bytes(), "path")
                log.info("operator weights %s: version %d from %s", name, row.version, path)
            except Exception:
                session.rollback()
                log.exception("could not publish the operator weights %s", name)


def local_path(settings: Settings, store: ObjectStore, name: str, version: int) -> Path:
    """A local file with that version (downloaded once per worker); ValueError saying how to add it."""
    with session_scope(settings.resolved_database_url) as session:
        row = session.scalars(
            select(OperatorWeights).where(OperatorWeights.name == name, OperatorWeights.version == version)
        ).first()
        if row is None:
            raise ValueError(
                spec(name).missing
                if version == 0
                else f"{name} version {version} is gone; {spec(name).missing}"
            )
        key, size = row.key, row.bytes
    path = settings.home / "cache" / "weights" / name / f"v{version}{spec(name).suffix}"
    if not path.exists() or path.stat().st_size != size:
        path.parent.mkdir(parents=True, exist_ok=True)
        store.download_file(key, path)
    return path
