"""Unpacking an uploaded archive of images (zip or tar), with limits against archive bombs."""

from __future__ import annotations

import io
import tarfile
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import PurePosixPath

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


class ArchiveError(ValueError):
    pass


def _safe_name(name: str) -> str | None:
    path = PurePosixPath(name)
    if path.is_absolute() or any(part in ("..", "") for part in path.parts) or "\\" in name:
        return None
    return path.as_posix()


def iter_images(
    data: bytes, max_member_bytes: int, max_total_bytes: int, skipped: Counter[str]
) -> Iterator[tuple[str, bytes]]:
    """(member path, bytes) of every image in a zip or tar; other members are counted in `skipped`."""
    total = 0

    def admit(name: str, size: int) -> str | None:
        nonlocal total
        safe = _safe_name(name)
        if safe is None:
            skipped["unsafe_path"] += 1
            return None
        if not safe.lower().endswith(IMAGE_EXTENSIONS):
            skipped["not_an_image_name"] += 1
            return None
        if size > max_member_bytes:
            raise ArchiveError(
                f"{name}: {size} bytes unpacked, over the per-file limit of {max_member_bytes}"
            )
        total += size
        if total > max_total_bytes:
            raise ArchiveError(f"the archive unpacks to more than {max_total_bytes} bytes; split it")
        return safe

    if zipfile.is_zipfile(io.BytesIO(data)):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                for info in zf.infolist():
                    if info.is_dir():
                        continue
                    name = admit(info.filename, info.file_size)
                    if name is not None:
                        yield name, zf.read(info)
        except (zipfile.BadZipFile, EOFError, OSError) as exc:
            raise ArchiveError(f"the zip archive is damaged ({exc}); upload it again") from exc
        return
    try:
        tf = tarfile.open(fileobj=io.BytesIO(data), mode="r:*")
    except tarfile.TarError as exc:
        raise ArchiveError("not a zip or tar archive; pack the images with zip or tar") from exc
    with tf:
        try:
            members = list(tf)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise ArchiveError(f"the tar archive is damaged or truncated ({exc}); upload it again") from exc
        for member in members:
            if not member.isfile():
                if not member.isdir():
                    skipped["not_a_regular_file"] += 1
                continue
            name = admit(member.name, member.size)
            if name is not None:
                handle = tf.extractfile(member)
                assert handle is not None
                try:
                    blob = handle.read()
                except (tarfile.TarError, EOFError, OSError) as exc:
                    raise ArchiveError(f"{member.name}: the tar archive is truncated ({exc})") from exc
                yield name, blob
