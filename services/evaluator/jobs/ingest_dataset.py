"""The `ingest_dataset` job: read a dataset in its original layout, store it in canonical form, index it."""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from services.common.contracts.ingest_dataset import IngestDatasetPayload, IngestDatasetResult
from services.common.core.db.models import Dataset
from services.common.core.paths import DataLocation, DataRoot, PathNotAllowed, inside, parse_data_uri
from services.common.core.storage import ObjectStore, make_source_store
from services.common.core.threads import worker_threads
from services.common.datasets import store as ds
from services.common.datasets.canonical import DatasetFormatError, ImageRecord, ReadReport, image_size
from services.common.datasets.checks import split_warnings
from services.common.datasets.readers import iter_dataset
from services.common.datasets.splits import assign_splits
from services.common.datasets.taxonomy import Taxonomy, make_taxonomy
from services.common.runtime.lifecycle import JobError
from services.common.runtime.worker import JobContext, JobOutcome

PATH_OPTIONS = ("labels", "images", "data_yaml")


@contextmanager
def local_root(ctx: JobContext, loc: DataLocation) -> Iterator[Path]:
    """A local folder holding the source: the path itself, or an s3:// prefix downloaded to a cache."""
    if loc.scheme == "file":
        assert loc.path is not None
        yield loc.path
        return
    settings = ctx.settings
    source = make_source_store(settings, loc.bucket or "")
    folder = settings.home / "cache" / "ingest" / ctx.job_id
    base = loc.prefix.rstrip("/") + "/" if loc.prefix else ""
    try:
        keys = list(source.list(base))
        if not keys:
            raise JobError(f"s3://{loc.bucket}/{loc.prefix}: no objects under this prefix")
        for n, key in enumerate(keys):
            relative = key[len(base) :]
            if relative.startswith("/") or ".." in relative.split("/"):
                ctx.warn(f"skipped the object {relative!r}: its key would lead out of the dataset folder")
                continue
            target = folder / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            source.download_file(key, target)
            if n % 200 == 0:
                ctx.progress(0.3 * n / len(keys), f"downloading {n}/{len(keys)} objects")
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def read_records(
    fmt: str,
    root: Path,
    taxonomy: Taxonomy,
    report: ReadReport,
    reader_options: dict[str, Any],
    split_options: dict[str, Any],
) -> tuple[list[ImageRecord], dict[str, str]]:
    options = dict(reader_options)
    for name in PATH_OPTIONS:
        if name in options and options[name] is not None:
            try:
                options[name] = inside(root, options[name])
            except PathNotAllowed as exc:
                raise PathNotAllowed(f"options.reader: {name}: {exc}") from exc
    if fmt == "yolo" and "split" not in options:
        # A YOLO folder brings its own split.
        records, splits = [], {}
        for split in ("train", "val"):
            try:
                part = unique(
                    iter_dataset(fmt, root, taxonomy, report, split=split, **options), report, splits
                )
            except ValueError as exc:
                if split == "val" and "val" in str(exc):
                    continue
                raise
            records += part
            splits.update({r.image_id: split for r in part})
        if not any(s == "val" for s in splits.values()):
            splits = assign_splits(fmt, records, split_options)
        return records, splits
    records = unique(iter_dataset(fmt, root, taxonomy, report, **options), report, {})
    return records, assign_splits(fmt, records, split_options)


def unique(records: Iterable[ImageRecord], report: ReadReport, seen: dict[str, str]) -> list[ImageRecord]:
    """The first record of each image id (e.g. a.jpg and a.png in one YOLO folder); the rest are skipped."""
    out, ids = [], set(seen)
    for record in records:
        if record.image_id in ids:
            report.skip("duplicate_image_id")
            continue
        ids.add(record.image_id)
        out.append(record)
    return out


def run(ctx: JobContext, p: IngestDatasetPayload) -> JobOutcome:
    fmt, options = p.format, p.options
    try:
        loc = parse_data_uri(p.uri, ctx.settings.allowed_data_roots, ctx.settings.allowed_data_buckets)
    except (PathNotAllowed, FileNotFoundError) as exc:
        raise JobError(str(exc)) from exc
    taxonomy = make_taxonomy(options.get("taxonomy") or {})
    # A file the reader cannot use is skipped with a warning (under strict: the job fails).
    report = ReadReport(on_problem=ctx.warn)
    dataset_id = ctx.job_id
    ctx.outputs(ds.prefix(dataset_id))
    with local_root(ctx, loc) as root:
        ctx.progress(0.3 if loc.scheme == "s3" else 0.0, f"reading {fmt} annotations")
        try:
            records, splits = read_records(
                fmt, root, taxonomy, report, options.get("reader") or {}, options.get("split") or {}
            )
        except PathNotAllowed as exc:
            raise JobError(str(exc)) from exc
        items = store_records(ctx, dataset_id, DataRoot(root), records, splits, taxonomy)
    if not items:
        raise JobError(
            f"uri: no images found in {p.uri} as format {fmt!r}; check uri, format and options.reader "
            f"(reader report: {report.to_dict()})"
        )
    val_fraction = float((options.get("split") or {}).get("val_fraction", 0.2))
    for warning in split_warnings(
        ((i.split, i.image_key is not None) for i in items), val_expected=val_fraction > 0
    ):
        ctx.warn(warning)
    ds.write_meta(ctx.store, dataset_id, items, report.to_dict())
    stats = ds.stored_stats(items, taxonomy.classes, ctx.warnings, report)
    dataset = Dataset(
        id=dataset_id,
        name=p.name,
        format=fmt,
        uri=p.uri,
        options={**options, "taxonomy": taxonomy.to_dict()},
        class_names=list(taxonomy.classes),
        stats=stats,
        job_id=ctx.job_id,
    )
    result = IngestDatasetResult(
        dataset_id=dataset_id,
        images=len(items),
        images_with_pixels=stats["images_with_pixels"],
        boxes=report.boxes,
        skipped=dict(report.skipped),
    )
    return JobOutcome(result, write=lambda s: ds.save_index(s, dataset, items))


def store_records(
    ctx: JobContext,
    dataset_id: str,
    files: DataRoot,
    records: list[ImageRecord],
    splits: dict[str, str],
    taxonomy: Taxonomy,
) -> list[ds.StoredImage]:
    """Copy the records' images (and depth maps) into the store and write their labels, in bulk: files
    are copied on the worker's thread pool and the labels of `LABEL_CHUNK` images go into one object,
    so a 70,000-frame label file costs tens of objects, not 70,000."""
    items: list[ds.StoredImage] = []
    threads = worker_threads(ctx.settings)

    def copy_slice(part: list[ImageRecord]) -> list[tuple[str | None, str | None, str | None]]:
        return [copy_files(ctx.store, dataset_id, files, record) for record in part]

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ingest-io") as pool:
        for number, start in enumerate(range(0, len(records), ds.LABEL_CHUNK)):
            chunk = records[start : start + ds.LABEL_CHUNK]
            # A few slices per thread, not a task per file: label-only records cost a stat, not a handoff.
            step = max(1, -(-len(chunk) // (4 * threads)))
            parts = pool.map(copy_slice, [chunk[i : i + step] for i in range(0, len(chunk), step)])
            copied = [one for part in parts for one in part]
            lkey = ds.label_chunk_key(dataset_id, number)
            labels: dict[str, bytes] = {}
            for record, (image_key, depth_key, problem) in zip(chunk, copied, strict=True):
                if problem:
                    ctx.warn(problem)
                labels[record.image_id] = ds.label_text(record, taxonomy.classes)
                split = splits.get(record.image_id, "train")
                items.append(ds.StoredImage(record, split, image_key, lkey, depth_key))
            ds.put_label_chunk(ctx.store, lkey, labels)
            done = start + len(chunk)
            ctx.progress(
                0.3 + 0.6 * done / len(records),
                f"stored {done}/{len(records)} images",
                done=done,
                total=len(records),
            )
    return items


def copy_files(
    store: ObjectStore, dataset_id: str, files: DataRoot, record: ImageRecord
) -> tuple[str | None, str | None, str | None]:
    """Copy one record's image (and depth map) into the store: (image key, depth key, warning or None).

    Every source path goes through the dataset folder (`DataRoot`); a depth map whose header cannot be
    read is left out with a warning naming it, so a translation later does not fail on it.
    """
    image_key = depth_key = problem = None
    if record.image_path:
        src = files.path(record.image_path)  # the reader confined it; a second check costs nothing
        if src.is_file():
            image_key = ds.image_key(dataset_id, record.image_id, src.suffix)
            store.put_file(image_key, src, "image/png" if src.suffix.lower() == ".png" else "image/jpeg")
    if record.depth_path:
        try:
            dsrc = files.path(record.depth_path)
            image_size(dsrc, record.depth_path)
        except (PathNotAllowed, DatasetFormatError) as exc:
            problem = f"skipped the depth map of {record.image_id}: {exc}"
        else:
            depth_key = ds.depth_key(dataset_id, record.image_id)
            store.put_file(depth_key, dsrc, "image/png")
    return image_key, depth_key, problem
