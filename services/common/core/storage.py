"""Object store: one small interface, an S3/MinIO implementation and a local-folder one.

Both implementations pass the same contract tests (tests/common/test_storage.py), so services can run
embedded on a laptop (folder) or in a cluster (MinIO/S3) without knowing which. This module imports
neither torch nor cv2: the API process uses it.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TypeVar
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from minio import Minio

    from services.common.core.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

CHUNK_SIZE = 1024 * 1024
# S3 accepts presigned URLs valid for at most seven days.
MAX_PRESIGN_S = 7 * 24 * 3600
# LocalStore writes into files named like this before renaming them into place; `list` skips them.
_TMP_PREFIX = ".tmp-"
_TMP_SUFFIX = ".partial"


class ObjectNotFound(KeyError):
    """The key names no object."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key

    def __str__(self) -> str:
        return f"no object with key {self.key!r}"


class StoreUnavailable(RuntimeError):
    """The store cannot be reached or refuses us; the message names the endpoint/bucket or folder."""


def validate_key(key: str) -> str:
    """Refuse keys that could escape a folder or mean different things to S3 and a file system."""
    if not isinstance(key, str) or not key:
        raise ValueError("object key must be a non-empty string")
    if "\\" in key:
        raise ValueError(f"object key {key!r} contains a backslash; use '/' to separate segments")
    if key.startswith("/"):
        raise ValueError(f"object key {key!r} must be relative (no leading '/')")
    if "\x00" in key:
        raise ValueError(f"object key {key!r} contains a NUL character")
    for segment in key.split("/"):
        if segment == "":
            raise ValueError(f"object key {key!r} has an empty segment ('//' or a trailing '/')")
        if segment in (".", ".."):
            raise ValueError(f"object key {key!r} contains a '{segment}' segment")
    return key


def _prefix_path(prefix: str, *, allow_empty: bool) -> str:
    """Normalise a folder-like prefix: 'a/b' and 'a/b/' both mean 'everything under a/b/'."""
    stripped = prefix.rstrip("/") if isinstance(prefix, str) else prefix
    if stripped == "" and allow_empty:
        return ""
    validate_key(stripped)
    return stripped + "/"


class ObjectStore(ABC):
    """Keys are '/'-separated relative paths (see `validate_key`); prefixes behave like folders."""

    @abstractmethod
    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """Write (or overwrite) an object; readers never see a partial object."""

    @abstractmethod
    def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None:
        """Upload a file without holding it in memory."""

    @abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """Read a whole object; raises ObjectNotFound."""

    @abstractmethod
    def download_file(self, key: str, path: Path) -> None:
        """Copy an object to a local file (parents created); raises ObjectNotFound."""

    @abstractmethod
    def open_stream(self, key: str) -> Iterator[bytes]:
        """Chunks of an object for streaming responses.

        ObjectNotFound is raised by this call itself, not on first iteration, so an HTTP handler can
        answer 404 before it starts a response.
        """

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def size(self, key: str) -> int:
        """Size in bytes; raises ObjectNotFound."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove an object; a missing key is not an error (retries stay idempotent)."""

    @abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Remove every object under the folder `prefix`; returns how many were removed."""

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys under the folder `prefix` (all keys for ''), recursive, sorted.

        'a/b' lists 'a/b/x' and 'a/b/c/y' but not 'a/bc' nor an object named exactly 'a/b'.
        """

    @abstractmethod
    def presigned_get_url(self, key: str, expires_s: int = 3600) -> str | None:
        """A short-lived download URL, or None where the store has none (the API streams instead)."""

    @abstractmethod
    def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers and can be written to."""


class _FileChunks(Iterator[bytes]):
    """Iterates an already-open binary file in chunks and closes it at the end or on close()."""

    def __init__(self, handle: BinaryIO, chunk_size: int = CHUNK_SIZE) -> None:
        self._handle = handle
        self._chunk_size = chunk_size

    def __next__(self) -> bytes:
        if self._handle.closed:
            raise StopIteration
        chunk = self._handle.read(self._chunk_size)
        if not chunk:
            self.close()
            raise StopIteration
        return chunk

    def close(self) -> None:
        self._handle.close()

    def __del__(self) -> None:
        self.close()


class LocalStore(ObjectStore):
    """Objects as files under `root`; writes go to a temp file in the same folder and are renamed in."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def __repr__(self) -> str:
        return f"LocalStore(root={str(self.root)!r})"

    def _path(self, key: str) -> Path:
        validate_key(key)
        name = key.rsplit("/", 1)[-1]
        if name.startswith(_TMP_PREFIX) and name.endswith(_TMP_SUFFIX):
            raise ValueError(
                f"object key {key!r} uses the local store's temp-file naming "
                f"('{_TMP_PREFIX}*{_TMP_SUFFIX}'); choose another name"
            )
        return self.root / key

    def _atomic_write(self, path: Path, write: Callable[[BinaryIO], object]) -> None:
        # A concurrent delete may prune the parent folder between mkdir and the temp file: retry.
        for attempt in range(3):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=_TMP_PREFIX, suffix=_TMP_SUFFIX)
                break
            except FileNotFoundError:
                if attempt == 2:
                    raise
            except (FileExistsError, NotADirectoryError) as exc:
                raise ValueError(
                    f"cannot store {path.relative_to(self.root)}: a parent segment is an existing object"
                ) from exc
        try:
            with os.fdopen(fd, "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            if path.is_dir():
                raise ValueError(
                    f"cannot store {path.relative_to(self.root)}: other objects live under that key"
                )
            os.replace(tmp_name, path)
        except BaseException:
            try:
                os.unlink(tmp_name)
            except FileNotFoundError:
                pass
            raise

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self._atomic_write(self._path(key), lambda handle: handle.write(data))

    def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None:
        target = self._path(key)
        with open(path, "rb") as source:

            def copy(handle: BinaryIO) -> None:
                while chunk := source.read(CHUNK_SIZE):
                    handle.write(chunk)

            self._atomic_write(target, copy)

    def _open(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            return open(path, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(key) from None

    def get_bytes(self, key: str) -> bytes:
        with self._open(key) as handle:
            return handle.read()

    def download_file(self, key: str, path: Path) -> None:
        # Not _atomic_write on purpose: a scratch copy into any local folder (a worker's cache), without the
        # store's fsync and key checks, so the temp-file-then-rename lines repeat.
        path = Path(path)
        with self._open(key) as source:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=_TMP_PREFIX, suffix=_TMP_SUFFIX)
            try:
                with os.fdopen(fd, "wb") as handle:
                    while chunk := source.read(CHUNK_SIZE):
                        handle.write(chunk)
                os.replace(tmp_name, path)
            except BaseException:
                try:
                    os.unlink(tmp_name)
                except FileNotFoundError:
                    pass
                raise

    def open_stream(self, key: str) -> Iterator[bytes]:
        return _FileChunks(self._open(key))

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        path = self._path(key)
        if not path.is_file():
            raise ObjectNotFound(key)
        return path.stat().st_size

    def _prune(self, folder: Path) -> None:
        """Remove empty folders up to the root so a deleted prefix leaves nothing behind."""
        while folder != self.root and self.root in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            return
        except IsADirectoryError:
            return  # a "folder" of other objects is not an object
        self._prune(path.parent)

    def _walk(self, folder: str) -> list[str]:
        base = self.root / folder if folder else self.root
        if not base.is_dir():
            return []
        keys = []
        for dirpath, _dirnames, filenames in os.walk(base):
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            for name in filenames:
                if name.startswith(_TMP_PREFIX) and name.endswith(_TMP_SUFFIX):
                    continue
                keys.append(name if rel_dir == "." else f"{rel_dir}/{name}")
        return sorted(keys)

    def delete_prefix(self, prefix: str) -> int:
        folder = _prefix_path(prefix, allow_empty=False)
        count = 0
        for key in self._walk(folder):
            try:
                (self.root / key).unlink()
                count += 1
            except FileNotFoundError:
                pass
        base = self.root / folder
        if base.is_dir():
            for dirpath, _dirnames, _filenames in sorted(os.walk(base), key=lambda e: -len(e[0])):
                try:
                    os.rmdir(dirpath)
                except OSError:
                    pass
            self._prune(base.parent)
        return count

    def list(self, prefix: str = "") -> Iterator[str]:
        return iter(self._walk(_prefix_path(prefix, allow_empty=True)))

    def presigned_get_url(self, key: str, expires_s: int = 3600) -> str | None:
        validate_key(key)
        return None

    def ping(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"cannot create the local object folder {self.root}: {exc}") from exc
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StoreUnavailable(f"the local object folder {self.root} is not writable")


class _ResponseChunks(Iterator[bytes]):
    """Streams an urllib3 response and returns its connection to the pool when done."""

    def __init__(self, response: object, chunk_size: int = CHUNK_SIZE) -> None:
        self._closed = False
        self._response = response
        self._chunks = response.stream(chunk_size)  # type: ignore[attr-defined]

    def __next__(self) -> bytes:
        if self._closed:
            raise StopIteration
        try:
            return next(self._chunks)
        except StopIteration:
            self.close()
            raise

    def close(self) -> None:
        if not self._closed and hasattr(self, "_response"):
            self._closed = True
            self._response.close()  # type: ignore[attr-defined]
            self._response.release_conn()  # type: ignore[attr-defined]

    def __del__(self) -> None:
        self.close()


_NOT_FOUND_CODES = {"NoSuchKey", "NoSuchObject", "ResourceNotFound"}
_ACCESS_CODES = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "NoSuchBucket"}


def _split_endpoint(endpoint: str, secure: bool) -> tuple[str, bool]:
    """Accept 'host:port' (minio's form) and also 'http(s)://host:port' as deployment files write it."""
    if "://" not in endpoint:
        host = endpoint
    else:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or parts.path not in ("", "/") or parts.query:
            raise ValueError(
                f"store endpoint {endpoint!r} must be 'host:port' or 'http(s)://host:port' without a path"
            )
        host = parts.netloc
        secure = parts.scheme == "https"
    if not host or "/" in host:
        raise ValueError(f"store endpoint {endpoint!r} must be 'host:port'")
    return host, secure


class S3Store(ObjectStore):
    """An S3 bucket through the `minio` client (MinIO, AWS S3, moto). The bucket is created at first use."""

    def __init__(
        self,
        endpoint: str,
        access_key: str | None,
        secret_key: str | None,
        bucket: str,
        secure: bool = False,
        region: str | None = None,
        *,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 60.0,
        retries: int = 3,
        create_bucket: bool = True,
        public_endpoint: str | None = None,
    ) -> None:
        import urllib3
        from minio import Minio

        self.endpoint, self.secure = _split_endpoint(endpoint, secure)
        self.bucket = bucket
        self.region = region
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=connect_timeout_s, read=read_timeout_s),
            retries=urllib3.Retry(total=retries, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
            maxsize=10,
        )
        # The keys live only inside the client; nothing on this object prints them.
        self._client: Minio = Minio(
            self.endpoint,
            access_key=access_key,
            secret_key=secret_key,
            secure=self.secure,
            region=region,
            http_client=http,
        )
        self._bucket_ready = False
        self._bucket_lock = threading.Lock()
        self._create_bucket = create_bucket
        # Presigned URLs are signed for the host the client will use; inside a cluster that is not the
        # store's internal name, so a public endpoint gets its own (offline) signing client.
        self._signer: Minio = self._client
        if public_endpoint:
            host, public_secure = _split_endpoint(public_endpoint, secure)
            self._signer = Minio(
                host,
                access_key=access_key,
                secret_key=secret_key,
                secure=public_secure,
                region=region or "us-east-1",
            )

    def __repr__(self) -> str:
        scheme = "https" if self.secure else "http"
        return f"S3Store(endpoint={scheme}://{self.endpoint!s}, bucket={self.bucket!r})"

    __str__ = __repr__

    @property
    def _where(self) -> str:
        return f"object store {'https' if self.secure else 'http'}://{self.endpoint} bucket {self.bucket!r}"

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        from minio.error import S3Error

        if isinstance(exc, S3Error):
            if exc.code in {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"}:
                detail = f"credentials refused ({exc.code}); check SIM2REAL_STORE_ACCESS_KEY/SECRET_KEY"
            elif exc.code == "NoSuchBucket":
                detail = "the bucket does not exist (was it deleted?)"
            else:
                detail = f"{exc.code}: {exc.message}"
        else:
            detail = f"{type(exc).__name__}: {exc}"
        return StoreUnavailable(f"{self._where} is unavailable: {detail}")

    def _call(self, fn: Callable[..., T], *args: object, key: str | None = None, **kwargs: object) -> T:
        """Run a client call, translating missing keys and transport failures into our errors."""
        import urllib3
        from minio.error import MinioException, S3Error

        try:
            return fn(*args, **kwargs)
        except S3Error as exc:
            if key is not None and exc.code in _NOT_FOUND_CODES:
                raise ObjectNotFound(key) from None
            if exc.code in _ACCESS_CODES:
                raise self._unavailable(exc) from None
            raise
        except (urllib3.exceptions.HTTPError, MinioException) as exc:
            raise self._unavailable(exc) from exc

    def _ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        from minio.error import S3Error

        with self._bucket_lock:
            if self._bucket_ready:
                return
            if not self._call(self._client.bucket_exists, self.bucket):
                if not self._create_bucket:
                    raise StoreUnavailable(f"{self._where}: the bucket does not exist")
                try:
                    self._call(self._client.make_bucket, self.bucket, location=self.region)
                    log.info("created bucket %s on %s", self.bucket, self.endpoint)
                except S3Error as exc:
                    # Another process won the race (MinIO); moto accepts a second make_bucket silently.
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise self._unavailable(exc) from None
                    if not self._call(self._client.bucket_exists, self.bucket):
                        raise StoreUnavailable(
                            f"{self._where}: the bucket name is taken by another account; choose another "
                            "SIM2REAL_STORE_BUCKET"
                        ) from None
            self._bucket_ready = True

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        validate_key(key)
        self._ensure_bucket()
        self._call(
            self._client.put_object,
            self.bucket,
            key,
            io.BytesIO(data),
            len(data),
            content_type=content_type,
        )

    def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None:
        validate_key(key)
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"cannot upload {path}: no such file")
        self._ensure_bucket()
        self._call(self._client.fput_object, self.bucket, key, str(path), content_type=content_type)

    def _get(self, key: str):  # noqa: ANN202 - urllib3 response
        validate_key(key)
        self._ensure_bucket()
        return self._call(self._client.get_object, self.bucket, key, key=key)

    def get_bytes(self, key: str) -> bytes:
        response = self._get(key)
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    def download_file(self, key: str, path: Path) -> None:
        validate_key(key)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._ensure_bucket()
        # fget_object writes to a temp file beside `path` and renames it in when complete.
        self._call(self._client.fget_object, self.bucket, key, str(path), key=key)

    def open_stream(self, key: str) -> Iterator[bytes]:
        return _ResponseChunks(self._get(key))

    def _stat(self, key: str):  # noqa: ANN202 - minio Object
        validate_key(key)
        self._ensure_bucket()
        return self._call(self._client.stat_object, self.bucket, key, key=key)

    def exists(self, key: str) -> bool:
        try:
            self._stat(key)
        except ObjectNotFound:
            return False
        return True

    def size(self, key: str) -> int:
        return int(self._stat(key).size)

    def delete(self, key: str) -> None:
        validate_key(key)
        self._ensure_bucket()
        self._call(self._client.remove_object, self.bucket, key)

    def _list(self, folder: str) -> Iterator[str]:
        self._ensure_bucket()
        objects = self._call(self._client.list_objects, self.bucket, prefix=folder or None, recursive=True)
        iterator = iter(objects)
        while True:
            try:
                obj = self._call(next, iterator)
            except StopIteration:
                return
            if not obj.is_dir:
                yield obj.object_name

    def delete_prefix(self, prefix: str, batch_size: int = 1000) -> int:
        from minio.deleteobjects import DeleteObject

        folder = _prefix_path(prefix, allow_empty=False)
        deleted = 0
        # Deleting keys already listed does not disturb ListObjectsV2 pagination (it resumes after a key).
        for batch in _iter_batches(self._list(folder), batch_size):
            # remove_objects is lazy: nothing is deleted until its error iterator is consumed.
            errors = list(
                self._call(self._client.remove_objects, self.bucket, (DeleteObject(k) for k in batch))
            )
            failed = [e for e in errors if e.code not in _NOT_FOUND_CODES]
            if failed:
                first = failed[0]
                raise StoreUnavailable(
                    f"{self._where}: could not delete {len(failed)} objects under {folder!r}, "
                    f"first {first.name!r}: {first.code} {first.message}"
                )
            deleted += len(batch) - len(errors)
        return deleted

    def list(self, prefix: str = "") -> Iterator[str]:
        return self._list(_prefix_path(prefix, allow_empty=True))

    def presigned_get_url(self, key: str, expires_s: int = 3600) -> str | None:
        validate_key(key)
        if not 1 <= expires_s <= MAX_PRESIGN_S:
            raise ValueError(f"expires_s must be between 1 and {MAX_PRESIGN_S} seconds, got {expires_s}")
        self._ensure_bucket()
        return self._call(
            self._signer.presigned_get_object, self.bucket, key, expires=timedelta(seconds=expires_s)
        )

    def ping(self) -> None:
        from minio.error import S3Error

        try:
            self._ensure_bucket()
        except S3Error as exc:
            raise self._unavailable(exc) from None


def make_store(settings: Settings) -> ObjectStore:
    """S3/MinIO when SIM2REAL_STORE_ENDPOINT is set, else a folder under the home directory."""
    if settings.store_endpoint:
        access = settings.store_access_key.get_secret_value() if settings.store_access_key else None
        secret = settings.store_secret_key.get_secret_value() if settings.store_secret_key else None
        return S3Store(
            endpoint=settings.store_endpoint,
            access_key=access,
            secret_key=secret,
            bucket=settings.store_bucket,
            secure=settings.store_secure,
            region=settings.store_region,
            public_endpoint=settings.store_public_endpoint,
        )
    return LocalStore(settings.resolved_store_path)


def make_source_store(settings: Settings, bucket: str) -> S3Store:
    """Read access to a dataset bucket on the service's S3 endpoint; it is never created."""
    if not settings.store_endpoint:
        raise ValueError("s3:// dataset URIs need an S3/MinIO object store (set SIM2REAL_STORE_ENDPOINT)")
    access = settings.store_access_key.get_secret_value() if settings.store_access_key else None
    secret = settings.store_secret_key.get_secret_value() if settings.store_secret_key else None
    return S3Store(
        settings.store_endpoint,
        access,
        secret,
        bucket,
        secure=settings.store_secure,
        region=settings.store_region,
        create_bucket=False,
    )


def _iter_batches(items: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
