"""Dataset locations a user may name: `file://` under the configured roots, or `s3://bucket/prefix`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
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


class UnreadableFile(ValueError):
    """A file inside the dataset folder that cannot be opened (permissions, a dangling link)."""


OUTSIDE = "leads outside the dataset folder; only files inside it are read"


class DataRoot:
    """The dataset folder a reader is bound to: every file a reader lists or opens goes through it.

    Paths found inside the data (a data.yaml `path:`, list-file entries, symlinks in the tree) may point
    anywhere; each is checked before anything is opened. A path that leaves the folder is refused with
    one message, whether or not its target exists or is readable, and the message names the place in the
    dataset (``where``, or the path relative to the folder), never the outside path.
    """

    def __init__(self, root: str | Path) -> None:
        root = Path(root)
        # A dataset named by one file (a BDD100K label file) is bound to the folder holding it.
        self.folder = (root if not root.is_file() else root.parent).resolve()

    @classmethod
    def of(cls, root: str | Path | DataRoot) -> DataRoot:
        return root if isinstance(root, DataRoot) else cls(root)

    def name(self, path: str | Path) -> str:
        """``path`` relative to the folder, for messages (an outside path is never spelled out)."""
        lexical = Path(os.path.normpath(self.folder / path))
        if lexical == self.folder:
            return "."
        if lexical.is_relative_to(self.folder):
            return lexical.relative_to(self.folder).as_posix()
        return "a path outside the dataset folder"

    def path(self, path: str | Path, where: str | None = None) -> Path:
        """The resolved path of ``path`` (absolute, or relative to the folder) if it stays inside.

        The lexical check comes first, so a path written outside is refused without touching it.
        """
        lexical = Path(os.path.normpath(self.folder / path))
        label = where or self.name(path)
        if not (lexical == self.folder or lexical.is_relative_to(self.folder)):
            raise PathNotAllowed(f"{label}: {OUTSIDE}")
        resolved = lexical.resolve()
        if not (resolved == self.folder or resolved.is_relative_to(self.folder)):
            raise PathNotAllowed(f"{label}: {OUTSIDE}")
        return resolved

    def open(self, path: str | Path, mode: str = "r", where: str | None = None, **kwargs: Any) -> IO[Any]:
        """``open`` on the confined path; an OSError becomes UnreadableFile naming the file inside."""
        resolved = self.path(path, where)
        try:
            return open(resolved, mode, **kwargs)  # noqa: SIM115 - the caller closes it
        except OSError as exc:
            raise UnreadableFile(f"{where or self.name(path)}: cannot be read ({exc.strerror})") from exc

    def read_text(self, path: str | Path, where: str | None = None) -> str:
        with self.open(path, "r", where, encoding="utf-8") as f:
            return f.read()

    def is_file(self, path: str | Path, where: str | None = None) -> bool:
        """Whether a file is there; a path leading outside raises instead of answering."""
        return self.path(path, where).is_file()

    def is_dir(self, path: str | Path, where: str | None = None) -> bool:
        return self.path(path, where).is_dir()

    def contains(self, path: str | Path) -> bool:
        """Whether ``path`` stays inside (for searches, which pass over what leads outside)."""
        try:
            self.path(path)
        except PathNotAllowed:
            return False
        return True

    def glob(self, folder: str | Path, pattern: str) -> list[Path]:
        """Entries of an inside folder matching ``pattern`` (their own links are checked when opened)."""
        base = self.path(folder)
        return sorted(base.glob(pattern)) if base.is_dir() else []

    def rglob(self, pattern: str, folder: str | Path = ".") -> list[Path]:
        """Inside files matching ``pattern`` anywhere below ``folder``; hits leading outside are passed over."""
        base = self.path(folder)
        return sorted(p for p in base.rglob(pattern) if self.contains(p))
