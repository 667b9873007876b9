"""Ingest stores labels and index rows in bulk: the rows and label texts are exactly what the reader's
records give, one label object per chunk of images, and PostgreSQL's COPY writes the same rows as inserts."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from sqlalchemy import select

from services.common.core.db.models import Dataset, DatasetImage
from services.common.core.db.session import session_scope
from services.common.datasets import store as ds
from services.common.datasets.canonical import ReadReport
from services.common.datasets.readers import iter_dataset
from services.common.datasets.splits import assign_splits
from services.common.datasets.taxonomy import make_taxonomy
from tests.api.conftest import ingest

COLUMNS = [c for c in ds.INDEX_COLUMNS if c != "dataset_id"]


def _generate_bdd(folder: Path, frames: int) -> None:
    """A BDD100K 2018 label file with the real one's mix (bench/ingest.py's generator)."""
    path = Path(__file__).resolve().parents[2] / "bench" / "ingest.py"
    spec = importlib.util.spec_from_file_location("bench_ingest", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    folder.mkdir(parents=True)
    module.generate(folder / "bdd100k_labels_images_train.json", frames, 18.6, seed=4)


def _rows(settings, dataset_id: str) -> list[tuple]:  # noqa: ANN001
    with session_scope(settings.resolved_database_url) as s:
        rows = s.scalars(
            select(DatasetImage).where(DatasetImage.dataset_id == dataset_id).order_by(DatasetImage.image_id)
        )
        return [tuple(getattr(r, c) for c in COLUMNS) for r in rows]


def test_a_bdd100k_ingest_stores_what_the_reader_reads_in_chunks(
    api, run_queued, settings, data_root, monkeypatch
) -> None:
    monkeypatch.setattr(ds, "LABEL_CHUNK", 50)
    _generate_bdd(data_root / "bdd", 120)
    d = ingest(api, run_queued, settings, "bdd100k", f"file://{data_root}/bdd")
    assert d["stats"]["images"] == 120

    # What the reader alone makes of the file, as the per-image ingest stored it.
    taxonomy = make_taxonomy({})
    records = list(iter_dataset("bdd100k", data_root / "bdd", taxonomy, ReadReport()))
    splits = assign_splits("bdd100k", records, {})
    store = api.app.state.store
    rows = {r[COLUMNS.index("image_id")]: r for r in _rows(settings, d["id"])}
    assert len(rows) == len(records) == 120
    for record in records:
        row = dict(zip(COLUMNS, rows[record.image_id], strict=True))
        expected = ds.index_row(
            d["id"], ds.StoredImage(record, splits[record.image_id], None, row["label_key"])
        )
        assert row == {c: expected[c] for c in COLUMNS}
        assert ds.LabelReader(store).text(row["label_key"], record.image_id) == ds.label_text(
            record, taxonomy.classes
        )
    # 120 images, 50 a chunk: three label objects, not 120.
    assert len({r[COLUMNS.index("label_key")] for r in rows.values()}) == 3
    assert len(list(store.list(f"datasets/{d['id']}/labels/"))) == 3
    # The records file agrees with the index.
    assert {i.record.image_id: i.label_key for i in ds.load_items(store, d["id"])} == {
        k: r[COLUMNS.index("label_key")] for k, r in rows.items()
    }


def test_copy_and_multi_row_inserts_write_the_same_index(
    api, run_queued, settings, data_root, monkeypatch
) -> None:
    _generate_bdd(data_root / "bdd", 40)
    source = ingest(api, run_queued, settings, "bdd100k", f"file://{data_root}/bdd")
    items = ds.load_items(api.app.state.store, source["id"])

    def save(dataset_id: str) -> list[tuple]:
        with session_scope(settings.resolved_database_url) as s:
            ds.save_index(s, Dataset(id=dataset_id, name=dataset_id, format="bdd100k", class_names=[]), items)
        return _rows(settings, dataset_id)

    assert settings.resolved_database_url.startswith("postgresql")
    copied = save("copied")
    monkeypatch.setattr(ds, "_copy_rows", lambda session, rows: False)
    inserted = save("inserted")
    assert copied == inserted == _rows(settings, source["id"]) and len(copied) == 40
