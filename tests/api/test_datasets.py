"""Datasets through the API: ingest each original layout, index and filters, export, translated versions."""

from __future__ import annotations

import io
import os
import zipfile

import numpy as np
import pytest

from tests.api.conftest import ingest, label_of, run_one, run_sharded
from tests.common.dataset_fixtures import make_bdd2018, make_bdd2020, make_kitti, make_vkitti2, make_yolo
from tests.scenes import png_bytes, road_scene


def test_vkitti2_ingest_counts_filters_and_export(api, run_queued, settings, data_root) -> None:
    make_vkitti2(data_root / "vkitti")
    d = ingest(api, run_queued, settings, "vkitti2", f"file://{data_root}/vkitti", name="vkitti2 → ü")
    stats = d["stats"]
    assert d["class_names"] == ["car", "van", "truck"]
    assert stats["boxes_per_class"] == {"car": 4, "van": 1, "truck": 3}
    assert stats["weather"] == {"clear": 5, "foggy": 1}
    assert stats["occluded_vehicles"]["0"] == 3 and stats["occluded_vehicles"]["1"] == 3
    assert sum(stats["occluded_vehicles"].values()) == 6
    assert stats["occlusion_buckets"] == {"<=5": 6, "<=10": 6, "all": 6}
    assert stats["skipped"] == {"class_not_in_taxonomy:Tram": 1, "track_id_not_in_info": 1}
    assert sum(stats["splits"].values()) == 6

    def count(*filters: str) -> int:
        r = api.get(f"/v1/datasets/{d['id']}/images", params={"filter": list(filters), "limit": 1})
        assert r.status_code == 200, r.text
        return r.json()["total"]

    assert count() == 6
    assert count("variation=clone") == 5
    assert count("variation=clone", "camera=Camera_0") == 3
    assert count("scene=Scene02") == 1 and count("weather=foggy") == 1
    assert count("occluded_vehicles>=1") == 3 and count("occluded_vehicles<=0") == 3
    assert api.get(f"/v1/datasets/{d['id']}/images", params={"filter": "colour=red"}).status_code == 422

    r = api.get(f"/v1/datasets/{d['id']}/export")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert "filename*=UTF-8''vkitti2_%E2%86%92_%C3%BC" in r.headers["content-disposition"]
    z = zipfile.ZipFile(io.BytesIO(r.content))
    names = z.namelist()
    assert "data.yaml" in names and "car" in z.read("data.yaml").decode()
    images = [n for n in names if n.startswith("images/")]
    labels = [n for n in names if n.startswith("labels/")]
    assert len(images) == len(labels) == 5  # Scene02/fog has no rgb
    label = z.read([n for n in labels if "Scene01__clone__Camera_0__00000" in n][0]).decode().split()
    assert label[0] == "0" and len(label) == 10  # car and van boxes, 5 fields each


def test_kitti_and_yolo_ingest(api, run_queued, settings, data_root) -> None:
    make_kitti(data_root / "kitti")
    d = ingest(api, run_queued, settings, "kitti", f"file://{data_root}/kitti")
    assert d["stats"]["boxes_per_class"] == {"car": 3, "van": 1, "truck": 1}
    assert d["stats"]["images"] == 2
    make_yolo(data_root / "yolo")
    y = ingest(api, run_queued, settings, "yolo", f"file://{data_root}/yolo")
    assert y["stats"]["images"] == 3 and y["stats"]["splits"] == {"train": 2, "val": 1}
    assert y["stats"]["boxes_per_class"] == {"car": 2, "van": 0, "truck": 1}


def test_duplicate_image_ids_are_skipped_not_fatal(api, run_queued, settings, data_root) -> None:
    import shutil

    make_yolo(data_root / "yolo")
    # The same stem twice in one split (x.jpg and x.png), and once more in the other split.
    shutil.copyfile(data_root / "yolo/images/train/x.jpg", data_root / "yolo/images/train/x.png")
    shutil.copyfile(data_root / "yolo/images/train/y.png", data_root / "yolo/images/val/y.png")
    y = ingest(api, run_queued, settings, "yolo", f"file://{data_root}/yolo")
    assert y["stats"]["skipped"].get("duplicate_image_id", 0) >= 1
    images = api.get(f"/v1/datasets/{y['id']}/images", params={"limit": 100}).json()["items"]
    ids = [i["image_id"] for i in images]
    assert len(ids) == len(set(ids))


def test_bdd100k_2018_ingest_counts(api, run_queued, settings, data_root) -> None:
    make_bdd2018(data_root / "bdd")
    d = ingest(
        api,
        run_queued,
        settings,
        "bdd100k",
        f"file://{data_root}/bdd",
        reader={"split": "train"},
        taxonomy={"include_bus": True},
    )
    st = d["stats"]
    assert d["class_names"] == ["car", "van", "truck", "bus"]
    assert st["boxes_per_class"] == {"car": 5, "van": 0, "truck": 1, "bus": 1}
    assert st["weather"] == {"clear": 1, "foggy": 1, "rainy": 1, "undefined": 1}
    assert st["timeofday"] == {"daytime": 2, "dawn/dusk": 1, "night": 1}
    assert {k: v for k, v in st["occluded_vehicles"].items() if v} == {"0": 2, "1": 1, "2": 1}
    assert st["skipped"]["no_box2d"] == 2 and st["notes"]["frame_without_labels"] == 1
    assert d["options"]["taxonomy"]["classes"] == d["class_names"]


def test_bdd100k_2020_ingest_counts(api, run_queued, settings, data_root) -> None:
    make_bdd2020(data_root / "bdd")
    d = ingest(
        api,
        run_queued,
        settings,
        "bdd100k",
        f"file://{data_root}/bdd",
        reader={"labels": "det_20/det_train.json"},
        taxonomy={"other_vehicle_as": "truck"},
    )
    assert d["stats"]["images"] == 3
    assert d["stats"]["boxes_per_class"] == {"car": 2, "van": 0, "truck": 3}
    assert "class_not_in_taxonomy:other vehicle" not in d["stats"]["skipped"]
    assert d["stats"]["skipped"]["class_not_in_taxonomy:trailer"] == 1
    body = {"name": "x", "format": "bdd100k", "uri": f"file://{data_root}/bdd"}
    # Refused at submit now (issue 11: every option validated at submit), naming the option's full path.
    r = api.post("/v1/datasets", json={**body, "options": {"reader": {"labels": "../../etc/passwd"}}})
    assert (
        r.status_code == 422 and r.json()["detail"].startswith("options.reader.labels: ") and ".." in r.text
    )


@pytest.mark.parametrize("uri", ["file:///etc", "file://{root}/../outside", "file://{root}/link/secrets"])
def test_paths_outside_the_roots_are_refused(api, settings, data_root, uri) -> None:
    outside = data_root.parent / "outside"
    (outside / "secrets").mkdir(parents=True)
    os.symlink(outside, data_root / "link")
    before = api.get("/v1/jobs", params={"kind": "ingest_dataset"}).json()["total"]
    r = api.post("/v1/datasets", json={"name": "x", "format": "kitti", "uri": uri.format(root=data_root)})
    assert r.status_code == 403, r.text
    assert "outside" in r.json()["detail"] or ".." in r.json()["detail"]
    assert api.get("/v1/jobs", params={"kind": "ingest_dataset"}).json()["total"] == before


def test_bad_dataset_requests(api, data_root) -> None:
    r = api.post("/v1/datasets", json={"name": "x", "format": "coco", "uri": f"file://{data_root}"})
    assert r.status_code == 422
    r = api.post("/v1/datasets", json={"name": "x", "format": "kitti", "uri": "http://example.com/kitti"})
    assert r.status_code == 422 and "file://" in r.json()["detail"]
    r = api.post("/v1/datasets", json={"name": "x", "format": "kitti", "uri": f"file://{data_root}/missing"})
    assert r.status_code == 422 and "no such" in r.json()["detail"]
    r = api.post(
        "/v1/datasets",
        json={
            "name": "x",
            "format": "kitti",
            "uri": f"file://{data_root}",
            "options": {"taxonomy": {"merge_vans": True}},
        },
    )
    assert r.status_code == 422 and "taxonomy" in r.json()["detail"]
    assert api.get("/v1/datasets/nope").status_code == 404


def test_ingest_of_an_empty_folder_fails_with_a_reason(api, run_queued, settings, data_root) -> None:
    (data_root / "empty" / "training" / "label_2").mkdir(parents=True)
    r = api.post("/v1/datasets", json={"name": "x", "format": "kitti", "uri": f"file://{data_root}/empty"})
    jobs = [j for j in run_queued(settings, "ingest_dataset") if j.id == r.json()["id"]]
    assert jobs[0].status == "failed" and jobs[0].error
    assert "no images found" in jobs[0].error
    assert api.get(f"/v1/datasets/{jobs[0].id}").status_code == 404
    assert list(api.app.state.store.list(f"datasets/{jobs[0].id}/")) == []


def test_translated_version_keeps_labels_and_records_lineage(api, run_queued, settings, data_root) -> None:
    make_vkitti2(data_root / "vk")
    # Real frames and 16-bit depth maps, so physics fog uses the Virtual KITTI 2 depth automatically.
    rgb_dir = data_root / "vk/vkitti_2.0.3_rgb/Scene01/clone/frames/rgb/Camera_0"
    depth_dir = data_root / "vk/vkitti_2.0.3_depth/Scene01/clone/frames/depth/Camera_0"
    for f in range(2):
        rgb, depth = road_scene(1242, 375, seed=f)
        from PIL import Image

        Image.fromarray(rgb).save(rgb_dir / f"rgb_{f:05d}.jpg", quality=95)
        (depth_dir / f"depth_{f:05d}.png").write_bytes(png_bytes(depth))
    src = ingest(api, run_queued, settings, "vkitti2", f"file://{data_root}/vk")
    r = api.post(
        f"/v1/datasets/{src['id']}/translations",
        json={
            "method": "physics",
            "weather": "fog",
            "params": {"visibility_m": 60},
            "filter": "variation=clone;camera=Camera_0;frame<=1",
        },
    )
    assert r.status_code == 202, r.text
    job = run_sharded(run_queued, settings, "translate_dataset", r.json()["id"])
    assert job.status == "succeeded", job.error
    d = api.get(f"/v1/datasets/{job.result['dataset_id']}").json()
    assert d["parent_id"] == src["id"]
    assert d["lineage"]["method"] == "physics" and d["lineage"]["weather"] == "fog"
    assert d["lineage"]["params"]["visibility_m"] == 60 and d["lineage"]["filter"]
    assert d["stats"]["images"] == 2 and d["stats"]["weather"] == {"foggy": 2}
    # Virtual KITTI 2 ships JPEG: by default the translation is stored as JPEG too, and says so.
    assert d["lineage"]["image_format"] == "jpeg" and d["lineage"]["jpeg_quality"] == 95
    store = api.app.state.store
    for image_id in ("Scene01/clone/Camera_0/00000", "Scene01/clone/Camera_0/00001"):
        assert store.get_bytes(f"datasets/{d['id']}/labels/{image_id}.txt") == label_of(
            settings, store, src["id"], image_id
        )
    from services.common.core.images import decode_image

    before = decode_image(
        store.get_bytes(f"datasets/{src['id']}/images/Scene01/clone/Camera_0/00000.jpg"), 10**8
    )
    after = decode_image(
        store.get_bytes(f"datasets/{d['id']}/images/Scene01/clone/Camera_0/00000.jpg"), 10**8
    )
    assert after.shape == before.shape
    assert after.astype(np.float32).std() < before.astype(np.float32).std()
    r = api.post(
        f"/v1/datasets/{src['id']}/translations",
        json={"method": "physics", "weather": "fog", "filter": "scene=Nowhere"},
    )
    assert r.status_code == 422 and "selects no images" in r.json()["detail"]


def test_study_compositions_make_baseline_and_translated_sets(api, run_queued, settings, data_root) -> None:
    from tests.common.dataset_fixtures import make_kitti_tracking

    make_kitti_tracking(data_root / "kt")
    make_vkitti2(data_root / "vk")
    kitti = ingest(api, run_queued, settings, "kitti_tracking", f"file://{data_root}/kt")
    vk = ingest(api, run_queued, settings, "vkitti2", f"file://{data_root}/vk")
    made = {}
    for composition in ("baseline", "translated"):
        r = api.post(
            "/v1/datasets/compositions",
            json={
                "name": composition,
                "composition": composition,
                "kitti_dataset_id": kitti["id"],
                "vkitti_dataset_id": vk["id"],
                "seed": 1,
            },
        )
        assert r.status_code == 202, r.text
        job = run_sharded(run_queued, settings, "compose_dataset", r.json()["id"])
        assert job.status == "succeeded", job.error
        made[composition] = api.get(f"/v1/datasets/{job.result['dataset_id']}").json()
    # Frame f takes SLOTS[f % 7] = (kitti, clone, fog, ...): 0 -> KITTI 0001, 1 -> clone, 2 -> fog.
    assert made["baseline"]["stats"]["origins"] == {"kitti": 1, "vkitti2:clone": 1}
    # Scene01 fog frame 2 does not exist; Scene02 frame 0 would be KITTI 0002, which is not there.
    assert made["baseline"]["lineage"]["missing"] == {"vkitti2:fog": 1, "kitti": 1}
    assert made["translated"]["stats"]["origins"] == {"kitti": 1, "translated:fog": 1, "vkitti2:clone": 1}
    assert made["translated"]["lineage"]["translations"]["fog"]["method"] == "physics"
    # The clone frame standing in for fog (frame 2) has no depth map: the geometric estimate was used.
    assert made["translated"]["lineage"]["depth_sources"] == {"fog": {"geometric": 1}}
    fixed = made["translated"]["lineage"]["sequence_params"]  # fog's airlight, once per clone sequence
    assert list(fixed) == ["fog"] and list(fixed["fog"]) == ["vkitti2/Scene01/clone/Camera_0"]
    assert made["translated"]["lineage"]["composition"]["rule"].startswith("frame index f uses slots[f % 7]")
    images = api.get(
        f"/v1/datasets/{made['translated']['id']}/images", params={"filter": "weather=foggy"}
    ).json()
    assert images["total"] == 1 and images["items"][0]["image_id"] == "Scene01/clone/Camera_0/00002"
    # One frame per shard (three compose_shard jobs): the same dataset, index and labels.
    body = {
        "name": "t",
        "composition": "translated",
        "kitti_dataset_id": kitti["id"],
        "vkitti_dataset_id": vk["id"],
        "seed": 1,
    }
    r = api.post("/v1/datasets/compositions", json=body)
    job = run_sharded(
        run_queued, settings.model_copy(update={"shard_images": 1}), "compose_dataset", r.json()["id"]
    )
    assert job.status == "succeeded" and job.result["images"] == 3, job.error
    sharded = api.get(f"/v1/datasets/{job.id}").json()
    assert sharded["stats"] == made["translated"]["stats"]

    def index(dataset_id: str) -> list[tuple]:
        rows = api.get(f"/v1/datasets/{dataset_id}/images").json()["items"]
        return [(i["image_id"], i["split"], i["weather"]) for i in rows]

    assert index(job.id) == index(made["translated"]["id"])
    for image_id, *_ in index(job.id):
        label = f"/v1/datasets/{{}}/images/{image_id}/labels"
        one, other = (api.get(label.format(d)).json() for d in (job.id, made["translated"]["id"]))
        assert {**one, "dataset_id": None} == {**other, "dataset_id": None}
    r = api.post(
        "/v1/datasets/compositions",
        json={
            "name": "x",
            "composition": "baseline",
            "kitti_dataset_id": vk["id"],
            "vkitti_dataset_id": vk["id"],
        },
    )
    assert r.status_code == 422 and "kitti_tracking" in r.json()["detail"]


def test_ingest_from_an_s3_prefix(client_for, server_settings, run_queued, s3_server, tmp_path) -> None:
    import uuid

    from services.common.core.storage import S3Store

    source_bucket, own_bucket = f"src-{uuid.uuid4().hex[:8]}", f"own-{uuid.uuid4().hex[:8]}"
    make_kitti(tmp_path / "kitti")
    src = S3Store(s3_server.endpoint, s3_server.access_key, s3_server.secret_key, source_bucket)
    for path in (tmp_path / "kitti").rglob("*"):
        if path.is_file():
            src.put_file(f"raw/kitti/{path.relative_to(tmp_path / 'kitti').as_posix()}", path)
    settings = server_settings.model_copy(
        update={
            "store_endpoint": s3_server.endpoint,
            "store_bucket": own_bucket,
            "data_buckets": source_bucket,
            "store_access_key": __import__("pydantic").SecretStr(s3_server.access_key),
            "store_secret_key": __import__("pydantic").SecretStr(s3_server.secret_key),
        }
    )
    api = client_for(settings)
    d = ingest(api, run_queued, settings, "kitti", f"s3://{source_bucket}/raw/kitti")
    assert d["stats"]["boxes_per_class"] == {"car": 3, "van": 1, "truck": 1}
    # Only the configured dataset buckets, and a missing one is never created.
    r = api.post("/v1/datasets", json={"name": "x", "format": "kitti", "uri": f"s3://{own_bucket}x/raw"})
    assert r.status_code == 403 and "SIM2REAL_DATA_BUCKETS" in r.json()["detail"]
    missing = f"gone-{uuid.uuid4().hex[:8]}"
    settings2 = settings.model_copy(update={"data_buckets": missing})
    api2 = client_for(settings2)
    r = api2.post("/v1/datasets", json={"name": "x", "format": "kitti", "uri": f"s3://{missing}/raw"})
    job = run_one(run_queued, settings2, "ingest_dataset", r.json()["id"])
    assert job.status == "failed" and "does not exist" in job.error
    assert not src._client.bucket_exists(missing)


def test_translated_version_resumes_where_a_dead_worker_stopped(
    api, run_queued, settings, data_root, monkeypatch
) -> None:
    from services.common.core.db.models import Job
    from services.common.core.db.session import session_scope
    from services.common.runtime import lifecycle as jobs
    from services.common.runtime import shards
    from services.common.runtime.worker import WorkerRuntime
    from services.translator.jobs import translate_dataset as tasks

    make_vkitti2(data_root / "vk")
    src = ingest(api, run_queued, settings, "vkitti2", f"file://{data_root}/vk")
    r = api.post(
        f"/v1/datasets/{src['id']}/translations",
        json={
            "method": "physics",
            "weather": "rain",
            "filter": "variation=clone;camera=Camera_1",
            "image_format": "png",
        },
    )
    job_id = r.json()["id"]
    real, encoded = tasks.encode_png, []

    def dies_on_the_second(image):  # noqa: ANN001, ANN202
        if len(encoded) == 1:
            raise SystemExit("worker killed")
        encoded.append(1)
        return real(image)

    monkeypatch.setattr(tasks, "encode_png", dies_on_the_second)
    assert run_one(run_queued, settings, "translate_dataset", job_id).status == "queued"  # planned, parked
    with pytest.raises(SystemExit):
        run_queued(settings, "translate_shard")
    shard_id = shards.shard_id(job_id, 0)
    with session_scope(settings.resolved_database_url) as s:
        s.get(Job, shard_id).heartbeat_at = jobs.stale_cutoff(3600)
    monkeypatch.setattr("services.common.runtime.worker.send_job", lambda *a, **k: None)
    assert WorkerRuntime("translator", settings).recover() == 1
    encoded.clear()
    monkeypatch.setattr(tasks, "encode_png", lambda image: (encoded.append(1), real(image))[1])
    job = run_sharded(run_queued, settings, "translate_dataset", job_id)
    assert job.status == "succeeded" and job.result["images"] == 2
    with session_scope(settings.resolved_database_url) as s:
        assert s.get(Job, shard_id).attempts == 2
    assert len(encoded) == 1  # the finished image was kept, not translated again


def test_parameters_the_parent_estimated_reach_every_shard(api, run_queued, settings, data_root) -> None:
    """A shard renders with the parent's per-sequence estimates (`shared_params`) over the request's."""
    from services.common.core.db.session import session_scope
    from services.common.runtime import lifecycle as jobs
    from tests.common.dataset_fixtures import make_vkitti2_sequence

    make_vkitti2_sequence(data_root / "vk", 1, width=320, height=96)
    src = ingest(api, run_queued, settings, "vkitti2", f"file://{data_root}/vk")
    frame = "Scene01/clone/Camera_0/00000"

    def shard(visibility: float, shared: dict) -> str:
        with session_scope(settings.resolved_database_url) as s:
            job = jobs.create_job(
                s,
                "translate_shard",
                {
                    "source_dataset_id": src["id"],
                    "dataset_id": f"shared-{visibility}-{len(shared)}",
                    "translation": {
                        "method": "physics",
                        "weather": "fog",
                        "params": {"visibility_m": visibility},
                    },
                    "image_ids": [frame],
                    "shard": 0,
                    "shards": 1,
                    "shared_params": shared,
                },
            )
            s.commit()
            job_id = job.id
        done = run_one(run_queued, settings, "translate_shard", job_id)
        assert done.status == "succeeded" and done.result["images"] == 1, (done.error, done.result)
        return api.app.state.store.get_bytes(f"datasets/shared-{visibility}-{len(shared)}/images/{frame}.png")

    estimated = shard(500, {"visibility_m": 40})
    assert estimated == shard(40, {})
    assert estimated != shard(500, {})
