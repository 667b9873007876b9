"""Dataset locations a user may name: `file://` under the configured roots, or `s3://bucket/prefix`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse


class PathNotAllowed(PermissionError):
    """A path outside SIM2REAL_DATA_ROOTS (or escaping it through `..` or a symlink)."""


@dataclass(frozen=True)
class DataLocation:
    scheme: str  # "file" | "s3"
    path: Path | None = None
    bucket: str | None = None
    prefix: str = ""


def check_under_roots(path: Path, roots: list[Path]) -> Path:
    """The resolved path, if it lies under a root after following every symlink."""
    if any(part == ".." for part in path.parts):
        raise PathNotAllowed(f"{path}: '..' is not allowed in dataset paths")
    if not roots:
        raise PathNotAllowed(
            "no local dataset folders are allowed: set SIM2REAL_DATA_ROOTS to the folders "
            "that hold your datasets (':'-separated)"
        )
    resolved = path.resolve()
    for root in roots:
        if resolved == root or resolved.is_relative_to(root):
            return resolved
    raise PathNotAllowed(
        f"{path} is outside the allowed dataset folders "
        f"({':'.join(str(r) for r in roots)}; SIM2REAL_DATA_ROOTS)"
    )


def parse_data_uri(uri: str, roots: list[Path], buckets: list[str] | None = None) -> DataLocation:
    """Validate a dataset URI before anything is read from it."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise ValueError(f"{uri}: file URIs name a local path, e.g. file:///data/kitti")
        raw = Path(unquote(parsed.path))
        if not raw.is_absolute():
            raise ValueError(f"{uri}: use an absolute path, e.g. file:///data/kitti")
        resolved = check_under_roots(raw, roots)
        if not resolved.exists():
            raise FileNotFoundError(f"{uri}: no such file or folder")
        return DataLocation("file", path=resolved)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ValueError(f"{uri}: name a bucket, e.g. s3://datasets/kitti/")
        prefix = unquote(parsed.path).lstrip("/")
        if any(part == ".." for part in prefix.split("/")):
            raise PathNotAllowed(f"{uri}: '..' is not allowed in dataset paths")
        if buckets is not None and parsed.netloc not in buckets:
            raise PathNotAllowed(
                f"{uri}: bucket {parsed.netloc!r} is not one of the dataset buckets "
                f"({':'.join(buckets)}; SIM2REAL_DATA_BUCKETS)"
            )
        return DataLocation("s3", bucket=parsed.netloc, prefix=prefix)
    raise ValueError(f"{uri}: use a file:// path under SIM2REAL_DATA_ROOTS or an s3://bucket/prefix URI")


def inside(root: Path, relative: str | Path) -> Path:
    """`root / relative`, refusing anything that leaves `root` (reader options such as a label file)."""
    candidate = Path(relative)
    if candidate.is_absolute() or any(part == ".." for part in candidate.parts):
        raise PathNotAllowed(f"{relative}: give a path relative to the dataset folder, without '..'")
    resolved = (root / candidate).resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise PathNotAllowed(f"{relative}: leaves the dataset folder through a symlink")
    return resolved
