"""Operator weights: checked for content, versioned, changed only with the operator key, recorded by jobs;
detector checkpoints naming anything outside the allow-list are refused before they are stored."""

from __future__ import annotations

import io
import zipfile

import pytest
import torch
from pydantic import SecretStr

from services.common.core.checkpoints import (
    CheckpointError,
    detector_global_allowed,
    read_detector_checkpoint,
)
from tests.api.test_nst import _style
from tests.scenes import png_bytes, road_scene


def _saved(sd: dict) -> bytes:
    buf = io.BytesIO()
    torch.save(sd, buf)
    return buf.getvalue()


def test_weights_are_checked_for_content_not_only_shape(client, vgg_features_pth) -> None:
    sd = torch.load(io.BytesIO(vgg_features_pth), weights_only=True)
    zero = _saved({k: torch.zeros_like(v) for k, v in sd.items()})
    r = client.post("/v1/weights/vgg19", files={"file": ("v.pth", zero)})
    assert (
        r.status_code == 422
        and "constant" in r.json()["detail"]
        and "features.0.weight" in r.json()["detail"]
    )
    nan = dict(sd)
    nan["features.2.weight"] = sd["features.2.weight"].clone()
    nan["features.2.weight"][0, 0, 0, 0] = float("nan")
    r = client.post("/v1/weights/vgg19", files={"file": ("v.pth", _saved(nan))})
    assert r.status_code == 422 and "NaN" in r.json()["detail"]
    png = png_bytes(road_scene(16, 8)[0]) + vgg_features_pth
    r = client.post("/v1/weights/vgg19", files={"file": ("v.pth", png)})
    assert r.status_code == 422 and "first byte" in r.json()["detail"]
    assert client.get("/v1/weights/vgg19").json() == {"available": False}
    assert list(client.app.state.store.list("models/vgg19/")) == []


def test_replacing_weights_adds_a_version_and_jobs_record_theirs(client, vgg_features_pth) -> None:
    first = client.post("/v1/weights/vgg19", files={"file": ("v.pth", vgg_features_pth)}).json()
    again = client.post("/v1/weights/vgg19", files={"file": ("v.pth", vgg_features_pth)}).json()
    assert first["version"] == again["version"] == 1
    style = _style(client)
    image = png_bytes(road_scene(32, 16)[0])
    r = client.post(
        "/v1/translations", data={"method": "nst", "style_id": style["id"]}, files={"image": ("f.png", image)}
    )
    assert r.status_code == 202 and r.json()["params"]["translation"]["weights"] == {"vgg19": 1}

    sd = torch.load(io.BytesIO(vgg_features_pth), weights_only=True)
    sd["features.0.bias"] = sd["features.0.bias"] + 0.5
    second = client.post("/v1/weights/vgg19", files={"file": ("v.pth", _saved(sd))}).json()
    assert second["version"] == 2 and second["key"] != first["key"]
    listed = client.get("/v1/weights").json()["weights"]
    vgg = next(w for w in listed if w["name"] == "vgg19")
    assert [v["version"] for v in vgg["versions"]] == [1, 2] and vgg["available"]
    assert set(vgg["needed_by"]) >= {"nst", "adain"}
    r = client.post(
        "/v1/translations", data={"method": "nst", "style_id": style["id"]}, files={"image": ("f.png", image)}
    )
    assert r.json()["params"]["translation"]["weights"] == {"vgg19": 2}
    assert client.post("/v1/weights/nope", files={"file": ("v.pth", vgg_features_pth)}).status_code == 404


def test_only_the_operator_key_changes_shared_weights(client_for, server_settings, vgg_features_pth) -> None:
    keyed = server_settings.model_copy(
        update={"api_key": SecretStr("user"), "admin_api_key": SecretStr("root")}
    )
    client = client_for(keyed)
    user, root = {"Authorization": "Bearer user"}, {"Authorization": "Bearer root"}
    assert (
        client.post(
            "/v1/weights/vgg19", files={"file": ("v.pth", vgg_features_pth)}, headers=user
        ).status_code
        == 403
    )
    assert client.post("/v1/weights/vgg19", files={"file": ("v.pth", vgg_features_pth)}).status_code == 401
    assert client.get("/v1/weights", headers=user).status_code == 200
    assert client.get("/v1/jobs", headers=root).status_code == 200
    assert (
        client.post(
            "/v1/weights/vgg19", files={"file": ("v.pth", vgg_features_pth)}, headers=root
        ).status_code
        == 201
    )
    no_admin = client_for(server_settings.model_copy(update={"api_key": SecretStr("user")}))
    r = no_admin.post("/v1/weights/vgg19", files={"file": ("v.pth", vgg_features_pth)}, headers=user)
    assert r.status_code == 403 and "SIM2REAL_ADMIN_API_KEY" in r.json()["detail"]


def test_an_all_zero_generator_is_not_imported(client) -> None:
    from services.translator.cyclegan.networks import GeneratorConfig, build_generator

    sd = build_generator(GeneratorConfig(ngf=8, n_blocks=2)).state_dict()
    zero = _saved({k: torch.zeros_like(v) for k, v in sd.items()})
    r = client.post(
        "/v1/translator-models/import",
        data={"name": "z", "weather": "fog", "n_blocks": "2", "ngf": "8"},
        files={"file": ("g.pth", zero)},
    )
    assert r.status_code == 422 and "constant" in r.json()["detail"]


def _checkpoint_with(pickle_bytes: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("archive/data.pkl", pickle_bytes)
    return buf.getvalue()


def test_a_detector_checkpoint_naming_code_is_refused() -> None:
    # {"model": os} reached through ultralytics.utils, the shape of the probe that was stored and served.
    evil = b"\x80\x02}q\x00X\x05\x00\x00\x00modelq\x01cultralytics.utils\nos\nq\x02s."
    with pytest.raises(CheckpointError, match=r"ultralytics\.utils\.os"):
        read_detector_checkpoint(_checkpoint_with(evil))
    system = b"\x80\x02}q\x00X\x05\x00\x00\x00modelq\x01cposix\nsystem\nq\x02s."
    with pytest.raises(CheckpointError, match="posix.system"):
        read_detector_checkpoint(_checkpoint_with(system))
    assert detector_global_allowed("ultralytics.nn.tasks", "DetectionModel")
    assert detector_global_allowed("torch.nn.modules.conv", "Conv2d")
    assert detector_global_allowed("ultralytics.nn.modules.block", "C2f")
    assert not detector_global_allowed("ultralytics.utils", "os")
    assert not detector_global_allowed("ultralytics.nn.tasks", "torch_safe_load")
    assert not detector_global_allowed("ultralytics.nn.modules.block.os", "System")
