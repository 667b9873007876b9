"""DataRoot: every path a reader opens stays inside the dataset folder, and refusals say nothing of outside."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.common.core.paths import OUTSIDE, DataRoot, PathNotAllowed, UnreadableFile


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    root, outside = tmp_path / "data", tmp_path / "outside"
    (root / "labels").mkdir(parents=True)
    outside.mkdir()
    (outside / "unreadable.txt").write_text("secret")
    (outside / "unreadable.txt").chmod(0)
    (outside / "readable.txt").write_text("secret")
    os.symlink(outside / "missing.txt", root / "labels" / "missing.txt")
    os.symlink(outside / "unreadable.txt", root / "labels" / "unreadable.txt")
    os.symlink(outside / "readable.txt", root / "labels" / "readable.txt")
    (root / "labels" / "inside.txt").write_text("ok")
    return root, outside


def test_missing_unreadable_and_readable_outside_get_one_message(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    files = DataRoot(root)
    messages = set()
    for name in ("missing", "unreadable", "readable"):
        with pytest.raises(PathNotAllowed) as info:
            files.read_text(f"labels/{name}.txt")
        messages.add(str(info.value).replace(name, "X"))
        assert str(outside) not in str(info.value) and "secret" not in str(info.value)
        with pytest.raises(PathNotAllowed):
            files.is_file(f"labels/{name}.txt")
    assert messages == {f"labels/X.txt: {OUTSIDE}"}
    assert files.read_text("labels/inside.txt") == "ok"


def test_paths_written_outside_are_refused_without_naming_them(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    files = DataRoot(root)
    for written in (outside / "readable.txt", "../outside/readable.txt", "labels/../../outside/readable.txt"):
        with pytest.raises(PathNotAllowed) as info:
            files.path(written, where="train.txt:3")
        assert str(info.value) == f"train.txt:3: {OUTSIDE}"
    assert files.name(outside / "readable.txt") == "a path outside the dataset folder"
    assert files.path(root / "labels" / "inside.txt") == (root / "labels" / "inside.txt").resolve()
    assert not files.contains("labels/readable.txt") and files.contains("labels/inside.txt")


def test_an_unreadable_file_inside_is_named_inside(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    os.symlink(root / "labels" / "gone.txt", root / "labels" / "dangling.txt")  # inside, to nothing
    with pytest.raises(UnreadableFile, match=r"^labels/dangling\.txt: cannot be read"):
        DataRoot(root).read_text("labels/dangling.txt")


def test_searches_pass_over_links_leading_outside(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    files = DataRoot(root)
    assert [p.name for p in files.rglob("*.txt")] == ["inside.txt"]
    os.symlink(tree[1], root / "linked_dir")
    with pytest.raises(PathNotAllowed, match="^linked_dir: leads outside"):
        files.glob("linked_dir", "*")
