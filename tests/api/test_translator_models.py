"""Translator models: import upstream generators, train CycleGAN through the job runner, translate with them."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from services.translator.cyclegan.networks import GeneratorConfig, build_generator
from tests.scenes import png_bytes, road_scene


def _pth(obj) -> bytes:  # noqa: ANN001
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


@pytest.fixture(scope="module")
def tiny_generator() -> dict:
    torch.manual_seed(0)
    return build_generator(GeneratorConfig(ngf=8, n_blocks=2)).state_dict()


def _import(client, data: bytes, **form) -> object:  # noqa: ANN001
    fields = {"name": "tiny fog", "weather": "fog", "n_blocks": "2", "ngf": "8", **form}
    return client.post("/v1/translator-models/import", data=fields, files={"file": ("g.pth", data)})


def test_import_then_translate_at_exact_size(client, run_queued, server_settings, tiny_generator) -> None:
    r = _import(client, _pth(tiny_generator))
    assert r.status_code == 201, r.text
    model = r.json()
    assert (model["method"], model["weather"], model["config"]["n_blocks"]) == ("cyclegan", "fog", 2)
    assert client.get(f"/v1/translator-models/{model['id']}").json()["id"] == model["id"]
    assert client.get(f"/v1/translator-models/{model['id']}/weights").content == _pth(tiny_generator)

    rgb, _ = road_scene(1242, 375)
    r = client.post(
        "/v1/translations",
        data={"method": "cyclegan", "model_id": model["id"]},
        files={"image": ("f.png", png_bytes(rgb))},
    )
    assert r.status_code == 202, r.text
    assert r.json()["params"]["translation"]["weather"] == "fog"
    jobs = [j for j in run_queued(server_settings, "translate") if j.id == r.json()["id"]]
    assert jobs[0].status == "succeeded", jobs[0].error
    out = np.asarray(Image.open(io.BytesIO(client.get(f"/v1/translations/{jobs[0].id}/image").content)))
    assert out.shape == rgb.shape


def test_import_accepts_stale_norm_keys_and_dataparallel_prefix(client, tiny_generator) -> None:
    dirty = {f"module.{k}": v for k, v in tiny_generator.items()}
    dirty["module.model.2.running_mean"] = torch.zeros(8)
    dirty["module.model.2.running_var"] = torch.ones(8)
    dirty["module.model.2.num_batches_tracked"] = torch.tensor(0)
    assert _import(client, _pth(dirty)).status_code == 201


class _Evil:
    def __reduce__(self):  # noqa: ANN204
        return (os.system, ("touch /tmp/sim2real-pwned",))


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("wrong blocks", "9 residual blocks and ngf 8"),
        ("pickle with code", "Python object"),
        ("not a checkpoint", "zip format"),
    ],
)
def test_import_refuses_and_stores_nothing(client, tiny_generator, case, words) -> None:
    data = {
        "wrong blocks": _pth(tiny_generator),
        "pickle with code": _pth({"x": _Evil()}),
        "not a checkpoint": b"GIF89a not weights",
    }[case]
    before = list(client.app.state.store.list("models/"))
    r = _import(client, data, n_blocks="9" if case == "wrong blocks" else "2")
    assert r.status_code == 422 and words in r.json()["detail"], r.text
    assert list(client.app.state.store.list("models/")) == before
    assert not os.path.exists("/tmp/sim2real-pwned")


def test_translation_with_unknown_or_missing_model(client) -> None:
    rgb, _ = road_scene(64, 32)
    files = {"image": ("f.png", png_bytes(rgb))}
    r = client.post("/v1/translations", data={"method": "cyclegan"}, files=files)
    assert r.status_code == 422 and "model_id" in r.json()["detail"]
    r = client.post("/v1/translations", data={"method": "cyclegan", "model_id": "nope"}, files=files)
    assert r.status_code == 404


def _archive(kind: str, n: int, seed: int) -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(seed)
    images = [png_bytes(rng.integers(0, 255, (48, 80, 3), dtype=np.uint8)) for _ in range(n)]
    if kind == "zip":
        with zipfile.ZipFile(buf, "w") as z:
            for i, b in enumerate(images):
                z.writestr(f"set/img_{i}.png", b)
            z.writestr("set/readme.txt", "not an image")
            z.writestr("../escape.png", images[0])
    else:
        with tarfile.open(fileobj=buf, mode="w:gz") as t:
            for i, b in enumerate(images):
                info = tarfile.TarInfo(f"img_{i}.png")
                info.size = len(b)
                t.addfile(info, io.BytesIO(b))
    return buf.getvalue()


def upload_set(client, kind: str, n: int, seed: int) -> dict:  # noqa: ANN001
    r = client.post("/v1/image-sets", files={"archive": (f"a.{kind}", _archive(kind, n, seed))})
    assert r.status_code == 201, r.text
    return r.json()


def test_image_sets_keep_images_and_skip_the_rest(client) -> None:
    s = upload_set(client, "zip", 3, 0)
    assert s["images"] == 3 and s["skipped"] == {"not_an_image_name": 1, "unsafe_path": 1}
    assert len(list(client.app.state.store.list(s["prefix"]))) == 3
    assert upload_set(client, "tgz", 2, 1)["images"] == 2
    r = client.post("/v1/image-sets", files={"archive": ("a.zip", b"not an archive")})
    assert r.status_code == 422
    truncated = _archive("tgz", 3, 5)[:-200]
    r = client.post("/v1/image-sets", files={"archive": ("a.tgz", truncated)})
    assert r.status_code == 422 and "archive" in r.json()["detail"]


def test_training_request_validation(client) -> None:
    s = upload_set(client, "zip", 2, 3)
    ok = {"prefix": s["prefix"]}
    cases = [
        ({"domain_a": ok, "domain_b": {"prefix": "uploads/none/"}}, 422, "no objects"),
        ({"domain_a": ok, "domain_b": {"dataset_id": "nope"}}, 404, "no dataset"),
        ({"domain_a": ok, "domain_b": {"prefix": s["prefix"], "dataset_id": "x"}}, 422, "exactly one"),
        ({"domain_a": ok, "domain_b": ok, "options": {"crop_size": 30}}, 422, "multiple of 4"),
        ({"domain_a": ok, "domain_b": ok, "options": {"ngf": 8, "learning_rate": 1}}, 422, "learning_rate"),
    ]
    for body, code, words in cases:
        r = client.post("/v1/translator-models", json={"name": "m", "weather": "fog", **body})
        assert r.status_code == code and words in r.text, (body, r.text)


def test_tiny_cyclegan_trains_resumes_and_translates(client, run_queued, server_settings) -> None:
    a, b = upload_set(client, "zip", 4, 10), upload_set(client, "tgz", 4, 11)
    options = {
        "ngf": 8,
        "ndf": 8,
        "n_blocks": 2,
        "n_epochs": 1,
        "n_epochs_decay": 1,
        "load_size": 72,
        "crop_size": 64,
        "checkpoint_every_iters": 2,
        "sample_count": 2,
        "preprocess": "resize_and_crop",
    }
    r = client.post(
        "/v1/translator-models",
        json={
            "name": "tiny",
            "weather": "fog",
            "domain_a": {"prefix": a["prefix"]},
            "domain_b": {"prefix": b["prefix"]},
            "options": options,
        },
    )
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    (job,) = [j for j in run_queued(server_settings, "train_translator") if j.id == job_id]
    assert job.status == "succeeded", job.error
    model = client.get(f"/v1/translator-models/{job_id}").json()
    assert [e["epoch"] for e in model["metrics"]["epochs"]] == [1, 2]
    assert set(model["metrics"]["final_losses"]) >= {"G_A", "D_A", "cycle_A", "idt_B"}
    assert len(model["samples"]) == 4 and client.get(model["samples"][0]).status_code == 200
    store = client.app.state.store
    assert store.exists(f"models/translator/{job_id}/checkpoint/state.pt")
    rgb, _ = road_scene(97, 45)
    r = client.post(
        "/v1/translations",
        data={"method": "cyclegan", "model_id": job_id},
        files={"image": ("f.png", png_bytes(rgb))},
    )
    (t,) = [j for j in run_queued(server_settings, "translate") if j.id == r.json()["id"]]
    assert t.status == "succeeded", t.error
    assert t.result["width"] == 97 and t.result["height"] == 45
