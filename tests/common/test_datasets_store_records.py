"""A dataset's records file: a shard reads just its own images' records (`load_items(..., only=ids)`),
the same records the whole file gives, in the file's order, whatever the ids hold."""

from __future__ import annotations

import json
from pathlib import Path

from services.common.core import keys
from services.common.core.storage import LocalStore
from services.common.datasets import store as ds
from services.common.datasets.canonical import Box, ImageRecord

IDS = ["Scene01/clone/00000", 'a "quoted" id', "back\\slash", "café/ünïcode", "plain", "Scene01/clone/00005"]


def _items() -> list[ds.StoredImage]:
    return [
        ds.StoredImage(
            ImageRecord(
                image_id, "vkitti2", f"rgb/{n}.jpg", 1242, 375, [Box(0, 1.0, 2.0, 30.0, 40.0, n % 2 == 0)]
            ),
            "train" if n % 3 else "val",
            f"images/{n}.jpg",
            f"labels/{n}.txt",
            None,
        )
        for n, image_id in enumerate(IDS)
    ]


def test_a_shard_reads_only_its_images_records_as_the_whole_file_gives_them(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    ds.write_meta(store, "d1", _items(), {})
    everything = ds.load_items(store, "d1")
    assert [i.record.image_id for i in everything] == IDS
    wanted = {IDS[5], IDS[1], IDS[3], "not in the dataset"}
    mine = ds.load_items(store, "d1", wanted)
    assert mine == [i for i in everything if i.record.image_id in wanted]
    assert ds.load_items(store, "d1", set()) == []


def test_records_written_in_another_json_layout_are_still_found(tmp_path: Path) -> None:
    """A records file whose lines do not start with the image id (an older writer, spaces after colons)
    is parsed line by line instead."""
    store = LocalStore(tmp_path)
    lines = []
    for item in _items():
        d = {"split": item.split, "image_key": item.image_key, "label_key": item.label_key, "depth_key": None}
        lines.append(json.dumps({**d, **item.record.to_dict()}))
    store.put_bytes(
        keys.dataset_file("d2", ds.RECORDS), ("\n".join(lines) + "\n").encode(), "application/x-ndjson"
    )
    assert [i.record.image_id for i in ds.load_items(store, "d2", {IDS[2], IDS[4]})] == [IDS[2], IDS[4]]
