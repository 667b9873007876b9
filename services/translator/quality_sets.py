"""What the quality measurements read and write: image sets from the store, the operator's Inception
network, sample grids. Shared by the translation_quality job, a dataset translation that asks for the
metric, and translator training (KID every K epochs); the metrics themselves are in quality/fidelity.py."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
from PIL import Image

from services.common.contracts.translation_quality import ImageSetRef, QualityReport, QualityRequest
from services.common.core import keys
from services.common.core.db.models import DatasetImage
from services.common.core.db.session import session_scope
from services.common.core.images import ImageError, decode_image
from services.common.core.weights import local_path
from services.common.datasets import store as ds
from services.common.datasets.filters import parse_filter
from services.common.runtime.lifecycle import JobError
from services.common.runtime.worker import JobContext
from services.translator.quality import fidelity
from services.translator.translators import device_for

GRID_COLUMNS, GRID_ROWS, GRID_CELL = 4, 2, (256, 144)
_NETS: dict[tuple[str, str], object] = {}  # per process: (weights file, device) -> network


def inception(ctx: JobContext, version: int):  # noqa: ANN201
    """The FID Inception network from that version of the operator's `inception` weights (loaded once)."""
    try:
        path = local_path(ctx.settings, ctx.store, "inception", version)
    except ValueError as exc:
        raise JobError(str(exc)) from exc
    device = device_for(ctx.settings)
    key = (str(path), str(device))
    if key not in _NETS:
        _NETS.clear()  # one version at a time: the network is ~95 MB
        _NETS[key] = fidelity.load_inception(str(path), device)
    return _NETS[key]


def sample(image_ids: Sequence[str], max_images: int, seed: int) -> list[str]:
    """At most `max_images` of the ids, drawn with `seed` (the same draw for the same inputs), sorted."""
    ordered = sorted(image_ids)
    if len(ordered) <= max_images:
        return ordered
    rng = np.random.default_rng(seed)
    return sorted(ordered[i] for i in rng.choice(len(ordered), max_images, replace=False))


def set_keys(ctx: JobContext, ref: ImageSetRef, max_images: int, seed: int, where: str) -> list[str]:
    """The image keys of the set (those with pixels), sampled to `max_images`."""
    with session_scope(ctx.db_url) as s:
        rows = dict(
            s.execute(
                ds.select_images(ref.dataset_id, parse_filter(ref.filter or None))
                .where(DatasetImage.image_key.is_not(None))
                .with_only_columns(DatasetImage.image_id, DatasetImage.image_key)
            ).all()
        )
    if len(rows) < 2:
        raise JobError(
            f"{where}: dataset {ref.dataset_id} with filter {';'.join(ref.filter) or '(none)'} has "
            f"{len(rows)} images with pixels now; KID needs at least 2"
        )
    return [rows[i] for i in sample(list(rows), max_images, seed)]


def decoded(ctx: JobContext, image_keys: Iterable[str], thumbnails: list[np.ndarray]) -> Iterator[np.ndarray]:
    """The images (a file that cannot be decoded is skipped with a warning); the first grid's worth are
    also kept small in `thumbnails`."""
    for key in image_keys:
        try:
            image = decode_image(ctx.store.get_bytes(key), ctx.settings.max_image_pixels, orient=False)
        except (ImageError, ValueError) as exc:
            ctx.warn(f"quality: skipped {key} ({exc})")
            continue
        if len(thumbnails) < GRID_COLUMNS * GRID_ROWS:
            small = Image.fromarray(image[..., :3])
            small.thumbnail(GRID_CELL)
            thumbnails.append(np.asarray(small))
        yield image


def grid_png(thumbnails: Sequence[np.ndarray]) -> bytes:
    """Up to GRID_COLUMNS x GRID_ROWS thumbnails, each centred in its cell on black."""
    cw, ch = GRID_CELL
    rows = max(1, -(-len(thumbnails) // GRID_COLUMNS))
    canvas = np.zeros((rows * ch, GRID_COLUMNS * cw, 3), np.uint8)
    for i, t in enumerate(thumbnails):
        r, c = divmod(i, GRID_COLUMNS)
        y, x = r * ch + (ch - t.shape[0]) // 2, c * cw + (cw - t.shape[1]) // 2
        canvas[y : y + t.shape[0], x : x + t.shape[1]] = t[..., :3]
    buf = io.BytesIO()
    Image.fromarray(canvas).save(buf, format="PNG")
    return buf.getvalue()


def measure(
    ctx: JobContext,
    translated_keys: Sequence[str],
    source_keys: Sequence[str] | None,
    request: QualityRequest,
    progress: Callable[[float, str], None] | None = None,
    grid_key: Callable[[str], str] | None = None,
) -> QualityReport:
    """KID/FID of the translated (and source) images against the request's target set, with sample grids
    stored at `grid_key(set)` (default: under the job's quality prefix)."""
    net = inception(ctx, request.weights["inception"])
    target_keys = set_keys(ctx, request.target, request.max_images, request.seed, "quality.target")
    sets = {"translated": list(translated_keys), "target": target_keys}
    if source_keys is not None:
        sets["source"] = list(source_keys)
    feats, grids = {}, {}
    if grid_key is None:
        ctx.outputs(keys.quality_prefix(ctx.job_id))
        grid_key = lambda name: keys.quality_grid(ctx.job_id, name)  # noqa: E731
    for n, (name, image_keys) in enumerate(sets.items()):
        thumbs: list[np.ndarray] = []
        try:
            feats[name] = fidelity.features(net, decoded(ctx, image_keys, thumbs))
        except ValueError as exc:
            raise JobError(f"quality: the {name} set has no image that can be decoded") from exc
        grids[name] = grid_key(name)
        ctx.store.put_bytes(grids[name], grid_png(thumbs), "image/png")
        if progress is not None:
            progress((n + 1) / len(sets), f"Inception features of the {name} set ({len(feats[name])} images)")
    seed = request.seed
    translated = fidelity.distance(feats["translated"], feats["target"], seed=seed)
    source = fidelity.distance(feats["source"], feats["target"], seed=seed) if "source" in feats else None
    notes = []
    smallest = min(len(f) for f in feats.values())
    if smallest < 2048:
        notes.append(
            f"FID from {smallest} images is biased upward (it needs thousands); compare KID, or FIDs of "
            "equal set sizes"
        )
    return QualityReport(
        translated_to_target=translated.to_dict(),
        source_to_target=source.to_dict() if source else None,
        movement=fidelity.movement(translated, source) if source else None,
        grids=grids,
        weights=dict(request.weights),
        notes=notes,
    )


def measure_translation(
    ctx: JobContext,
    pairs: Sequence[tuple[ds.StoredImage, ds.StoredImage]],
    request: QualityRequest,
) -> QualityReport:
    """A dataset translation's own quality: its translated images and their sources (the same sample of
    image ids) against the request's target set; the grids go with the new dataset."""
    by_id = {dst.record.image_id: (src, dst) for src, dst in pairs if src.image_key and dst.image_key}
    ids = sample(list(by_id), request.max_images, request.seed)
    if len(ids) < 2:
        raise JobError(f"quality: {len(ids)} translated images; KID needs at least 2")
    return measure(
        ctx,
        [by_id[i][1].image_key for i in ids],  # type: ignore[misc]
        [by_id[i][0].image_key for i in ids],  # type: ignore[misc]
        request,
        grid_key=lambda name: keys.dataset_quality_grid(ctx.job_id, name),
    )


KID_SUBSETS = 50  # during training: half the default, as the probe runs many times


class KidProbe:
    """KID of a translator's output against fixed real images, measured again and again during training:
    the reals' (and the untranslated sources') features are computed once."""

    def __init__(
        self, ctx: JobContext, version: int, reals: Sequence[np.ndarray], sources: Sequence[np.ndarray]
    ):
        self.net = inception(ctx, version)
        self.sources = list(sources)
        self.reals = fidelity.features(self.net, reals)
        self.before = fidelity.distance(
            fidelity.features(self.net, self.sources), self.reals, subsets=KID_SUBSETS
        )

    def measure(self, translate: Callable[[list[np.ndarray]], list[np.ndarray]]) -> fidelity.SetDistance:
        """KID/FID of the sources as `translate` renders them now."""
        return fidelity.distance(
            fidelity.features(self.net, translate(self.sources)), self.reals, subsets=KID_SUBSETS
        )
