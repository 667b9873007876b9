"""Where operator-supplied weights live: the object store is the one place every process can see."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from services.common.core import keys
from services.common.core.checkpoints import check_vgg19, read_tensor_shapes
from services.common.core.settings import Settings
from services.common.core.storage import ObjectStore

log = logging.getLogger("sim2real.weights")

VGG19_KEY = keys.operator_weights("vgg19")

VGG_MISSING = (
    "neural style transfer needs VGG-19 ImageNet weights, which are not downloaded at run time: upload "
    "torchvision's vgg19 state_dict with `curl -F file=@vgg19.pth .../v1/weights/vgg19`, or set "
    "SIM2REAL_VGG19_WEIGHTS to that file on the translator (or bake it into the image, see docs/deploy.md)"
)


def missing_weights(names: tuple[str, ...], settings: Settings, store: ObjectStore) -> str | None:
    """Instructions for the first operator-supplied weights file in `names` that is not present, else None."""
    available = {"vgg19": vgg19_available}
    for name in names:
        if name not in available:
            return f"operator weights {name!r} are not supported by this service"
        if not available[name](settings, store):
            return VGG_MISSING
    return None


def vgg19_available(settings: Settings, store: ObjectStore) -> bool:
    """Uploaded through the API, or published by a translator that has SIM2REAL_VGG19_WEIGHTS."""
    if store.exists(VGG19_KEY):
        return True
    path = settings.vgg19_weights
    return bool(path and path.is_file())


def store_vgg19(store: ObjectStore, data: bytes) -> str:
    """Verify the architecture (no unpickling) and store; returns the file's sha256."""
    check_vgg19(read_tensor_shapes(data))
    store.put_bytes(VGG19_KEY, data, "application/octet-stream")
    return hashlib.sha256(data).hexdigest()


def publish_configured_vgg19(settings: Settings, store: ObjectStore) -> None:
    """A translator started with SIM2REAL_VGG19_WEIGHTS makes them visible to the API and other workers."""
    path = settings.vgg19_weights
    if path is None:
        return
    if not path.is_file():
        log.error("SIM2REAL_VGG19_WEIGHTS=%s does not exist: bake the file into the image or mount it", path)
        return
    try:
        if not store.exists(VGG19_KEY):
            store_vgg19(store, path.read_bytes())
    except Exception:
        log.exception("could not publish the VGG-19 weights from %s", path)


def vgg19_local_path(settings: Settings, store: ObjectStore) -> Path:
    """A local file with the VGG-19 weights (downloaded once per worker), or ValueError saying how to add them."""
    if store.exists(VGG19_KEY):
        path = settings.home / "cache" / "weights" / "vgg19.pth"
        if not path.exists() or path.stat().st_size != store.size(VGG19_KEY):
            path.parent.mkdir(parents=True, exist_ok=True)
            store.download_file(VGG19_KEY, path)
        return path
    if settings.vgg19_weights and settings.vgg19_weights.is_file():
        return settings.vgg19_weights
    raise ValueError(VGG_MISSING)
