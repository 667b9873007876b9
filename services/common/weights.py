"""Where operator-supplied weights live: the object store is the one place every process can see."""

from __future__ import annotations

from services.common.settings import Settings
from services.common.storage import ObjectStore

VGG19_KEY = "models/vgg19/vgg19.pth"


def vgg19_available(settings: Settings, store: ObjectStore) -> bool:
    """Uploaded through the API, or published by a translator that has SIM2REAL_VGG19_WEIGHTS."""
    if store.exists(VGG19_KEY):
        return True
    path = settings.vgg19_weights
    return bool(path and path.is_file())
