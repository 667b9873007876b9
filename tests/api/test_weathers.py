"""GET /v1/weathers lists every registered method, usable or not: a method with no model or style yet, or
without its operator weights, is listed with the reason and the request that fixes it."""

from __future__ import annotations

import numpy as np
import pytest

from services.common import methods
from tests.fixtures import toy_methods
from tests.scenes import png_bytes


def _by_method(client) -> dict[str, list[dict]]:  # noqa: ANN001
    rows: dict[str, list[dict]] = {}
    for row in client.get("/v1/weathers").json():
        rows.setdefault(row["method"], []).append(row)
    return rows


def test_every_method_is_listed_before_anything_exists(client) -> None:
    rows = _by_method(client)
    assert set(rows) == set(methods.registry())
    for name, spec in methods.registry().items():
        if spec.weather_params:  # renders its weathers by itself
            assert [r["weather"] for r in rows[name]] == list(spec.weather_params)
            assert all(r["available"] is (not spec.weights) for r in rows[name])
            continue
        # Earlier tests of the run may have made a model or style of this method: then it has rows of its
        # own and no placeholder; otherwise exactly one placeholder row says what it lacks.
        placeholders = [r for r in rows[name] if r["weather"] is None]
        if len(placeholders) < len(rows[name]):
            assert not placeholders, rows[name]
            continue
        (row,) = placeholders
        assert row["available"] is False
        assert row["needs"] == f"{row['reason']}: {row['fix']}"
        if spec.model == "required":
            assert row["reason"].startswith(f"no {name} model yet")
            assert ("POST /v1/translator-models {" in row["fix"]) is spec.trainable
            assert ("/v1/translator-models/import" in row["fix"]) is (spec.importer is not None)
        else:
            assert row["reason"].startswith("no style yet") and "POST /v1/styles" in row["fix"]
        for w in spec.weights:
            assert f"{w} weights missing" in row["reason"] and f"/v1/weights/{w}" in row["fix"]
            assert f"SIM2REAL_{w.upper()}_WEIGHTS" in row["fix"]
        assert row["params_schema"] is not None and row["description"] == spec.description


@pytest.fixture
def tint():  # noqa: ANN201
    methods.register(toy_methods.TINT)
    yield
    methods.unregister("tint")


def test_a_new_method_is_listed_with_no_route_change(client, tint) -> None:  # noqa: ANN001
    # Earlier tests of the run may have trained tint models: the row of a method with none is the one
    # whose weather is null.
    rows = _by_method(client)["tint"]
    (row,) = [r for r in rows if r["weather"] is None] or rows
    if row["weather"] is not None:
        pytest.skip("an earlier test of this run made a tint model, so tint has rows of its own")
    assert row["available"] is False and row["reason"] == "no tint model yet"
    assert row["fix"].startswith('Train one: POST /v1/translator-models {"method": "tint"')
    assert "import" not in row["fix"]  # the toy method has no importer


def test_a_style_and_the_weights_make_the_style_methods_available(client, vgg_features_pth) -> None:  # noqa: ANN001
    style_methods = [s.name for s in methods.registry().values() if s.style == "required" and s.model == "no"]
    assert style_methods
    rng = np.random.default_rng(0)
    files = [("images", ("s.png", png_bytes(rng.integers(0, 255, (32, 48, 3), dtype=np.uint8))))]
    style = client.post("/v1/styles", data={"name": "wet", "weather": "rain"}, files=files).json()

    def mine() -> dict[str, dict]:  # this style's row per style method (earlier tests add their own)
        rows = _by_method(client)
        return {n: next(r for r in rows[n] if r.get("style_id") == style["id"]) for n in style_methods}

    # Earlier tests of the run may have supplied the VGG-19 weights already.
    if any(w["name"] == "vgg19" and w["available"] for w in client.get("/v1/weights").json()["weights"]):
        pytest.skip("an earlier test of this run supplied the vgg19 weights")
    for row in mine().values():
        assert row["weather"] == "rain"
        assert row["available"] is False and row["reason"] == "vgg19 weights missing"
    assert client.post("/v1/weights/vgg19", files={"file": ("v.pth", vgg_features_pth)}).status_code == 201
    for row in mine().values():
        assert row["available"] is True and row["reason"] is None and row["fix"] is None
