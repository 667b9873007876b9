"""Unpacking an uploaded archive of images (zip or tar), with limits against archive bombs."""

from __future__ import annotations

import io
import tarfile
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import PurePosixPath

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
# Member names become object keys: bounded, printable, and no file that is also another member's folder.
MAX_NAME_CHARS = 200
MAX_PART_CHARS = 100
# Control characters, format characters (bidi overrides, zero-width), surrogates, private use, separators.
UNSAFE_CATEGORIES = ("Cc", "Cf", "Cs", "Co", "Zl", "Zp")


class ArchiveError(ValueError):
    pass


def _skip_reason(name: str) -> str | None:
    """Why a member name cannot become an object key, or None when it can."""
    path = PurePosixPath(name)
    if path.is_absolute() or any(part in ("..", "") for part in path.parts) or "\\" in name:
        return "unsafe_path"
    if any(unicodedata.category(c) in UNSAFE_CATEGORIES for c in name):
        return "unsafe_characters_in_name"
    if len(name) > MAX_NAME_CHARS or any(len(part) > MAX_PART_CHARS for part in path.parts):
        return "name_too_long"
    return None


def iter_images(
    data: bytes, max_member_bytes: int, max_total_bytes: int, skipped: Counter[str]
) -> Iterator[tuple[str, bytes]]:
    """(member path, bytes) of every image in a zip or tar; other members are counted in `skipped`."""
    total = 0
    files: set[str] = set()
    folders: set[str] = set()

    def admit(name: str, size: int) -> str | None:
        nonlocal total
        reason = _skip_reason(name)
        if reason is not None:
            skipped[reason] += 1
            return None
        safe = PurePosixPath(name).as_posix()
        if not safe.lower().endswith(IMAGE_EXTENSIONS):
            skipped["not_an_image_name"] += 1
            return None
        parents = {p.as_posix() for p in PurePosixPath(safe).parents if p.as_posix() != "."}
        if safe in files or safe in folders or parents & files:
            skipped["duplicate_or_conflicting_path"] += 1
            return None
        if size > max_member_bytes:
            raise ArchiveError(
                f"{name}: {size} bytes unpacked, over the per-file limit of {max_member_bytes}"
            )
        total += size
        if total > max_total_bytes:
            raise ArchiveError(f"the archive unpacks to more than {max_total_bytes} bytes; split it")
        files.add(safe)
        folders.update(parents)
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
