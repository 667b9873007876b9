"""`translate`: one uploaded image translated to a weather (interactive)."""

from __future__ import annotations

from services.common.contracts import JobKind, Payload, Result, register
from services.common.methods.translation import Translation


class TranslatePayload(Payload):
    translation: Translation
    image_key: str
    depth_key: str | None = None
    filename: str = ""


class TranslateResult(Result):
    image_key: str
    width: int
    height: int
    method: str
    weather: str
    depth_source: str | None = None  # where the image's depth came from: provided | model | geometric
    weights: dict[str, int] = {}  # the operator weights' versions the translation used


KIND = register(
    JobKind("translate", "translator", "translator.interactive", TranslatePayload, TranslateResult)
)
