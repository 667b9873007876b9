"""One storage contract, run against the local-folder store and a real S3 HTTP server (moto)."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import httpx
import pytest
from minio.error import S3Error

from services.common.core.settings import Settings
from services.common.core.storage import (
    CHUNK_SIZE,
    LocalStore,
    ObjectNotFound,
    ObjectStore,
    S3Store,
    StoreUnavailable,
    make_store,
    validate_key,
)
from tests.fixtures.s3 import S3Server, s3_server, s3_store  # noqa: F401


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return LocalStore(tmp_path / "objects")
    return request.getfixturevalue("s3_store")


def test_bytes_round_trip(store: ObjectStore) -> None:
    payload = bytes(range(256)) * 10
    store.put_bytes("uploads/job1/a.bin", payload)
    assert store.get_bytes("uploads/job1/a.bin") == payload
    store.put_bytes("uploads/job1/empty", b"")
    assert store.get_bytes("uploads/job1/empty") == b""
    assert store.size("uploads/job1/empty") == 0


def test_file_round_trip_and_stream(store: ObjectStore, tmp_path: Path) -> None:
    payload = os.urandom(CHUNK_SIZE * 2 + 123)
    source = tmp_path / "source.bin"
    source.write_bytes(payload)
    store.put_file("models/detector/m1/best.pt", source)

    target = tmp_path / "deep" / "er" / "copy.bin"
    store.download_file("models/detector/m1/best.pt", target)
    assert target.read_bytes() == payload

    chunks = list(store.open_stream("models/detector/m1/best.pt"))
    assert len(chunks) >= 2
    assert b"".join(chunks) == payload
    assert store.size("models/detector/m1/best.pt") == len(payload)


def test_overwrite_replaces_content(store: ObjectStore) -> None:
    store.put_bytes("translations/j/out.png", b"first version, longer")
    store.put_bytes("translations/j/out.png", b"second")
    assert store.get_bytes("translations/j/out.png") == b"second"
    assert store.size("translations/j/out.png") == len(b"second")
    assert list(store.list("translations")) == ["translations/j/out.png"]


def test_list_is_sorted_recursive_and_folder_like(store: ObjectStore) -> None:
    keys = ["a/b/z.txt", "a/b/c/d.txt", "a/b/a.txt", "a/bc/x.txt", "a/bcd", "a/b.txt", "b/one"]
    for key in keys:
        store.put_bytes(key, key.encode())
    assert list(store.list("a/b")) == ["a/b/a.txt", "a/b/c/d.txt", "a/b/z.txt"]
    assert list(store.list("a/b/")) == list(store.list("a/b"))
    assert list(store.list("a/bc")) == ["a/bc/x.txt"]
    assert list(store.list("a")) == sorted(k for k in keys if k.startswith("a/"))
    assert list(store.list("")) == sorted(keys)
    assert list(store.list("nothing/here")) == []


def test_exists_size_and_delete(store: ObjectStore) -> None:
    assert not store.exists("x/y")
    store.put_bytes("x/y", b"12345")
    assert store.exists("x/y")
    assert store.size("x/y") == 5
    assert not store.exists("x")  # a "folder" is not an object
    store.delete("x/y")
    assert not store.exists("x/y")
    store.delete("x/y")  # missing key is not an error
    store.delete("never/was")
    assert list(store.list("")) == []


def test_delete_prefix_counts_and_keeps_siblings(store: ObjectStore) -> None:
    for i in range(5):
        store.put_bytes(f"datasets/d1/images/{i}.png", b"i")
    store.put_bytes("datasets/d1/meta/info.json", b"{}")
    store.put_bytes("datasets/d10/images/0.png", b"keep")
    assert store.delete_prefix("datasets/d1") == 6
    assert list(store.list("datasets")) == ["datasets/d10/images/0.png"]
    assert store.delete_prefix("datasets/d1") == 0
    with pytest.raises(ValueError):
        store.delete_prefix("")


def test_missing_key_raises_object_not_found(store: ObjectStore, tmp_path: Path) -> None:
    calls = [
        lambda: store.get_bytes("no/such/key"),
        lambda: store.size("no/such/key"),
        lambda: store.open_stream("no/such/key"),
        lambda: store.download_file("no/such/key", tmp_path / "out.bin"),
    ]
    for call in calls:
        with pytest.raises(ObjectNotFound) as info:
            call()
        assert isinstance(info.value, KeyError)
        assert "no/such/key" in str(info.value)
    assert not (tmp_path / "out.bin").exists()


BAD_KEYS = ["", "/abs/key", "a/../b", "..", "a\\b", "a//b", "a/", "./a", "a/./b"]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_invalid_keys_refused(store: ObjectStore, key: str) -> None:
    with pytest.raises(ValueError):
        store.put_bytes(key, b"x")
    with pytest.raises(ValueError):
        store.get_bytes(key)
    with pytest.raises(ValueError):
        store.exists(key)
    with pytest.raises(ValueError):
        store.delete(key)


def test_validate_key_accepts_ordinary_keys() -> None:
    for key in ["a", "uploads/123/img 1.png", "datasets/x/images/a.b.c.jpg", "..hidden/x", "a/b..c"]:
        assert validate_key(key) == key


def test_ping_succeeds(store: ObjectStore) -> None:
    store.ping()


def test_presigned_url(store: ObjectStore) -> None:
    store.put_bytes("evaluations/e1/report.json", b'{"map50": 0.5}', content_type="application/json")
    url = store.presigned_get_url("evaluations/e1/report.json", expires_s=60)
    if isinstance(store, LocalStore):
        assert url is None
        return
    assert url is not None
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == b'{"map50": 0.5}'
    with pytest.raises(ValueError):
        store.presigned_get_url("evaluations/e1/report.json", expires_s=8 * 24 * 3600)


# --- S3-specific behaviour -------------------------------------------------------------------------


def test_s3_bucket_creation_is_idempotent(s3_server: S3Server, s3_store: S3Store) -> None:  # noqa: F811
    s3_store.put_bytes("k", b"v")
    again = S3Store(s3_server.endpoint, s3_server.access_key, s3_server.secret_key, s3_store.bucket)
    again.ping()
    assert again.get_bytes("k") == b"v"
    again.put_bytes("k2", b"v2")
    assert list(s3_store.list("")) == ["k", "k2"]


def test_s3_tolerates_losing_the_bucket_creation_race(
    s3_server: S3Server,  # noqa: F811
    s3_store: S3Store,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Real MinIO raises BucketAlreadyOwnedByYou when another process created the bucket first."""
    s3_store.ping()  # the bucket now exists
    racer = S3Store(s3_server.endpoint, s3_server.access_key, s3_server.secret_key, s3_store.bucket)
    monkeypatch.setattr(racer._client, "bucket_exists", lambda name: made)
    made = False

    def make_bucket(name: str, location: str | None = None) -> None:
        nonlocal made
        made = True
        raise S3Error(None, "BucketAlreadyOwnedByYou", "yours already", f"/{name}", "r", "h")  # type: ignore[arg-type]

    monkeypatch.setattr(racer._client, "make_bucket", make_bucket)
    racer.put_bytes("after-race", b"ok")
    assert made
    assert s3_store.get_bytes("after-race") == b"ok"


def test_s3_refuses_bucket_owned_by_someone_else(
    s3_server: S3Server,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = S3Store(s3_server.endpoint, s3_server.access_key, s3_server.secret_key, "taken-bucket")
    monkeypatch.setattr(store._client, "bucket_exists", lambda name: False)

    def make_bucket(name: str, location: str | None = None) -> None:
        raise S3Error(None, "BucketAlreadyExists", "taken", f"/{name}", "r", "h")  # type: ignore[arg-type]

    monkeypatch.setattr(store._client, "make_bucket", make_bucket)
    with pytest.raises(StoreUnavailable, match="SIM2REAL_STORE_BUCKET"):
        store.ping()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_s3_ping_fails_fast_on_closed_port() -> None:
    port = _closed_port()
    store = S3Store(
        f"127.0.0.1:{port}", "testing", "top-secret-key", "some-bucket", connect_timeout_s=2, retries=1
    )
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as info:
        store.ping()
    assert time.monotonic() - started < 10
    message = str(info.value)
    assert f"127.0.0.1:{port}" in message and "some-bucket" in message
    assert "top-secret-key" not in message
    with pytest.raises(StoreUnavailable):
        store.get_bytes("any/key")


def test_s3_content_type_is_stored(s3_store: S3Store) -> None:  # noqa: F811
    s3_store.put_bytes("a.png", b"\x89PNG", content_type="image/png")
    assert s3_store._client.stat_object(s3_store.bucket, "a.png").content_type == "image/png"


def test_s3_accepts_endpoint_with_scheme() -> None:
    store = S3Store("https://minio.example:9000", "k", "s", "b")
    assert store.endpoint == "minio.example:9000" and store.secure
    with pytest.raises(ValueError):
        S3Store("http://minio.example:9000/path", "k", "s", "b")


def test_secrets_stay_out_of_repr_and_make_store(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path,
        store_endpoint="127.0.0.1:9",
        store_access_key="AKIA-visible-id",
        store_secret_key="very-secret-value",
        store_bucket="b1",
    )
    store = make_store(settings)
    assert isinstance(store, S3Store)
    assert store.bucket == "b1" and store.endpoint == "127.0.0.1:9"
    for text in (repr(store), str(store), repr(vars(store).get("bucket"))):
        assert "very-secret-value" not in text

    local = make_store(Settings(home=tmp_path))
    assert isinstance(local, LocalStore)
    assert local.root == (tmp_path / "objects").resolve()


# --- LocalStore-specific behaviour -----------------------------------------------------------------


def _all_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_local_writes_leave_no_temp_files(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "objects")
    source = tmp_path / "src.bin"
    source.write_bytes(b"file content")
    store.put_bytes("a/b/one", b"1")
    store.put_bytes("a/b/one", b"11")
    store.put_file("a/two", source)
    store.download_file("a/two", tmp_path / "dl" / "two")
    assert _all_files(tmp_path / "objects") == ["a/b/one", "a/two"]
    assert os.listdir(tmp_path / "dl") == ["two"]


def test_local_failed_write_keeps_old_object_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalStore(tmp_path / "objects")
    store.put_bytes("k/v", b"old")

    def crash(src: str, dst: str) -> None:
        raise OSError("disk vanished")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk vanished"):
        store.put_bytes("k/v", b"new")
    monkeypatch.undo()
    assert store.get_bytes("k/v") == b"old"
    assert _all_files(tmp_path / "objects") == ["k/v"]


def test_local_list_skips_temp_files_and_delete_prunes_folders(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "objects")
    store.put_bytes("d/x", b"x")
    (tmp_path / "objects" / "d" / ".tmp-abc123.partial").write_bytes(b"half")
    assert list(store.list("d")) == ["d/x"]
    with pytest.raises(ValueError):
        store.put_bytes("d/.tmp-abc123.partial", b"x")
    store.put_bytes("e/f/g/h", b"x")
    store.delete("e/f/g/h")
    assert not (tmp_path / "objects" / "e").exists()


def test_local_key_under_existing_object_is_refused(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "objects")
    store.put_bytes("a/b", b"x")
    with pytest.raises(ValueError, match="a/b"):
        store.put_bytes("a/b/c", b"y")
    store.put_bytes("p/q/r", b"x")
    with pytest.raises(ValueError):
        store.put_bytes("p/q", b"y")
    assert store.get_bytes("p/q/r") == b"x"


def test_local_ping_fails_on_unwritable_root(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(StoreUnavailable, match=str(blocker)):
        LocalStore(blocker / "objects").ping()


def test_presigned_urls_use_the_public_endpoint_when_configured(s3_server: S3Server) -> None:  # noqa: F811
    import uuid

    from services.common.core.storage import S3Store

    store = S3Store(
        s3_server.endpoint,
        s3_server.access_key,
        s3_server.secret_key,
        f"pub-{uuid.uuid4().hex[:8]}",
        public_endpoint="https://files.example.com",
    )
    store.put_bytes("a/b.png", b"x")
    url = store.presigned_get_url("a/b.png", expires_s=60)
    assert url.startswith("https://files.example.com/") and "X-Amz-Signature" in url
