"""Label-safety audit: did each labelled object survive translation, and did translation invent any?

A translated dataset carries its source's boxes over unchanged, so a translation that erases a car (thick
fog painted over it, a CycleGAN that turns it into road) or paints a car-like shape where there was none
makes the labels lie. Both show in the image's structure, not its colour:

* **Box fidelity.** Structure is the colour gradient magnitude (Sobel per channel, see
  `gradient_magnitude`). Inside a box, the
  Pearson correlation between the source's and the translation's gradient magnitudes says how much of
  the object's edges are still where they were (a recolouring keeps them, an erasure loses them). It is
  divided by the same correlation in a ring around the box (the box grown by `ring` of its size on each
  side, minus the box), so a translation that softens the whole scene (fog, night) does not count against
  the object: the object is judged against its own surroundings. Fidelity = clip(r_box / r_ring, 0, 1);
  when the ring itself kept almost nothing (r_ring below `min_ring_correlation`), there is no context to
  judge against and fidelity is clip(r_box, 0, 1). A box whose source shows no structure (flat, within
  `flat_gradient` of zero) has nothing to lose and scores 1. A box below `erased_below` is flagged erased.
* **Invented structure.** A pixel outside every box is a new edge when the translation's gradient there
  is strong (> `strong_edge`) and `new_edge_ratio` times the strongest source gradient within
  `edge_tolerance_px`: the source lacked it (a recoloured unlabelled object strengthens some edges, but
  rarely threefold), and fog or night only weaken edges. New edges closed into regions:
  a region is flagged as invented when its bounding box covers at least `min_region_fraction` of the image,
  is not a thin sliver (`min_region_aspect`), holds at least `min_region_edges` new-edge pixels and its
  edges run in several directions (orientation coherence of the structure tensor at most
  `max_coherence`): rain streaks all share one slant, an object's outline does not.

An image's fidelity is its lowest box fidelity, 1.0 without boxes (nothing can be lost). Pure
numpy/OpenCV plus one C++ kernel (quality/gradients.py): no storage, queue or web code; `audit_image` works
on one pair, `summarize` merges any number of results (so sharded jobs can audit shards and merge).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from services.translator.quality.gradients import colour_gradient, sobel


@dataclass(frozen=True)
class AuditSettings:
    ring: float = 0.5  # the ring's width as a fraction of the box's width/height, per side
    erased_below: float = 0.5
    min_ring_correlation: float = 0.2
    flat_gradient: float = 2.0  # source gradient std (0-255 luminance units) below which a box is flat
    strong_edge: float = 120.0  # Sobel magnitude (0-255 luminance, 3x3 kernel: a clean 30-level step ~120)
    new_edge_ratio: float = (
        3.0  # a new edge is this many times stronger than the strongest source edge nearby
    )
    edge_tolerance_px: int = 3
    min_region_fraction: float = 0.002
    min_region_aspect: float = 0.25  # shorter side / longer side of a region: thinner ones are streaks
    min_region_edges: int = 40
    max_coherence: float = 0.7
    max_regions: int = 20  # recorded per image; the count is exact


@dataclass
class ImageAudit:
    """One image's audit: per box (in the record's box order) its fidelity and whether it was erased; the
    invented regions as [x1, y1, x2, y2] pixel boxes."""

    box_fidelity: list[float]
    erased: list[bool]
    invented: list[list[int]] = field(default_factory=list)
    invented_count: int = 0

    @property
    def fidelity(self) -> float:
        return min(self.box_fidelity) if self.box_fidelity else 1.0

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> ImageAudit:
        """The audit back from its stored form (to_dict), e.g. from a shard's result."""
        fidelity = [float(f) for f in stored["box_fidelity"]]
        erased = set(stored.get("erased", []))
        return cls(
            box_fidelity=fidelity,
            erased=[i in erased for i in range(len(fidelity))],
            invented=[list(r) for r in stored.get("invented", [])],
            invented_count=int(stored.get("invented_count", 0)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "fidelity": round(self.fidelity, 4),
            "box_fidelity": [round(f, 4) for f in self.box_fidelity],
            "erased": [i for i, e in enumerate(self.erased) if e],
            "invented": self.invented,
            "invented_count": self.invented_count,
        }


def gradient_magnitude(image: np.ndarray) -> np.ndarray:
    """Colour gradient magnitude: the root mean square over the channels of each channel's Sobel magnitude
    (0-255 units; a grey step of 30 levels gives ~120). An edge between two colours of equal brightness
    counts, so a recolouring that changes the object's brightness against its background keeps its edges.
    (One C++ pass where a compiler is found: quality/gradients.py.)"""
    return colour_gradient(image)


def _region_sobel(image: np.ndarray, x: int, y: int, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel Sobel gradients of one region, equal to the whole frame's there: the crop keeps the
    region's one-pixel neighbourhood, and a frame border is reflected as the whole frame's is."""
    height, width = image.shape[:2]
    x0, y0 = max(0, x - 1), max(0, y - 1)
    gx, gy = sobel(image[y0 : min(height, y + h + 1), x0 : min(width, x + w + 1)])
    return gx[y - y0 : y - y0 + h, x - x0 : x - x0 + w], gy[y - y0 : y - y0 + h, x - x0 : x - x0 + w]


def _moments(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, sum a, sum b, sum a², sum b², sum ab) in float64: moments of two regions add and subtract, so a
    ring is its grown box's moments less the box's, with no masked copy of it."""
    a = a.astype(np.float64).ravel()
    b = b.astype(np.float64).ravel()
    return np.array([a.size, a.sum(), b.sum(), a @ a, b @ b, a @ b])


def _spread(m: np.ndarray) -> tuple[float, float, float]:
    """(sum of squared deviations of a, of b, sum of their co-deviations) from `_moments`."""
    n, sa, sb, saa, sbb, sab = (float(v) for v in m)
    return max(saa - sa * sa / n, 0.0), max(sbb - sb * sb / n, 0.0), sab - sa * sb / n


def _corr(m: np.ndarray) -> float:
    """Pearson correlation from `_moments`."""
    if m[0] < 4:
        return 0.0
    va, vb, cov = _spread(m)
    denom = np.sqrt(va * vb)
    return float(cov / denom) if denom > 1e-9 else 0.0


def _clip_box(box: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    return (
        int(np.clip(np.floor(x1), 0, width)),
        int(np.clip(np.floor(y1), 0, height)),
        int(np.clip(np.ceil(x2), 0, width)),
        int(np.clip(np.ceil(y2), 0, height)),
    )


def box_fidelity(
    g_src: np.ndarray, g_dst: np.ndarray, box: Sequence[float], settings: AuditSettings = AuditSettings()
) -> float:
    """How much of the structure inside `box` survived, relative to the ring around it (see module doc)."""
    height, width = g_src.shape
    x1, y1, x2, y2 = _clip_box(box, width, height)
    if x2 - x1 < 2 or y2 - y1 < 2:
        return 1.0  # nothing measurable inside the frame
    inside = _moments(g_src[y1:y2, x1:x2], g_dst[y1:y2, x1:x2])
    if np.sqrt(_spread(inside)[0] / inside[0]) < settings.flat_gradient:
        return 1.0
    r_box = _corr(inside)
    dx, dy = max(2, round((x2 - x1) * settings.ring)), max(2, round((y2 - y1) * settings.ring))
    rx1, ry1, rx2, ry2 = max(0, x1 - dx), max(0, y1 - dy), min(width, x2 + dx), min(height, y2 + dy)
    r_ring = _corr(_moments(g_src[ry1:ry2, rx1:rx2], g_dst[ry1:ry2, rx1:rx2]) - inside)
    if r_ring < settings.min_ring_correlation:
        return float(np.clip(r_box, 0.0, 1.0))
    return float(np.clip(r_box / r_ring, 0.0, 1.0))


def _coherence(gx: np.ndarray, gy: np.ndarray) -> float:
    """How much the edges share one orientation (1: all parallel, as rain streaks; 0: every direction);
    gx, gy: per-channel gradients of the edge pixels (N x C), summed into one structure tensor."""
    jxx, jyy, jxy = float((gx * gx).sum()), float((gy * gy).sum()), float((gx * gy).sum())
    trace = jxx + jyy
    return float(np.sqrt((jxx - jyy) ** 2 + 4 * jxy * jxy) / trace) if trace > 1e-9 else 1.0


def invented_regions(
    g_src: np.ndarray,
    g_dst: np.ndarray,
    translated: np.ndarray,
    boxes: Iterable[Sequence[float]],
    settings: AuditSettings = AuditSettings(),
) -> list[list[int]]:
    """Regions outside every box where the translation has strong edges the source lacks (see module doc),
    largest first. `g_src`, `g_dst`: gradient magnitudes; `translated`: the translated image (a candidate
    region's per-channel gradients give its edges' orientations)."""
    height, width = g_src.shape
    tol = 2 * settings.edge_tolerance_px + 1
    src_near = cv2.dilate(g_src, np.ones((tol, tol), np.uint8))  # the strongest source edge nearby
    new = (g_dst > settings.strong_edge) & (g_dst > settings.new_edge_ratio * src_near)
    for box in boxes:
        x1, y1, x2, y2 = _clip_box(box, width, height)
        new[max(0, y1 - 2) : y2 + 2, max(0, x1 - 2) : x2 + 2] = False
    if not new.any():
        return []
    closed = cv2.morphologyEx(new.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(closed, connectivity=8)
    min_area = settings.min_region_fraction * width * height
    regions = []
    for i in range(1, count):
        x, y, w, h = (int(v) for v in stats[i, :4])
        if w * h < min_area or min(w, h) < settings.min_region_aspect * max(w, h):
            continue
        mine = new[y : y + h, x : x + w] & (labels[y : y + h, x : x + w] == i)
        if int(mine.sum()) < settings.min_region_edges:
            continue
        gx, gy = _region_sobel(translated, x, y, w, h)
        if _coherence(gx[mine], gy[mine]) > settings.max_coherence:
            continue  # edges of one orientation: streaks (rain, snow trails), not an object's outline
        regions.append((w * h, [x, y, x + w, y + h]))
    return [r for _, r in sorted(regions, key=lambda t: -t[0])]


def audit_image(
    source: np.ndarray,
    translated: np.ndarray,
    boxes: Sequence[Sequence[float]],
    settings: AuditSettings = AuditSettings(),
) -> ImageAudit:
    """Audit one translated image against its source; `boxes` are [x1, y1, x2, y2] in source pixels. A
    translation of another size is compared after resizing it to the source's size."""
    if translated.shape[:2] != source.shape[:2]:
        translated = cv2.resize(translated, (source.shape[1], source.shape[0]), interpolation=cv2.INTER_AREA)
    g_src, g_dst = gradient_magnitude(source), gradient_magnitude(translated)
    fidelity = [box_fidelity(g_src, g_dst, b, settings) for b in boxes]
    regions = invented_regions(g_src, g_dst, translated, boxes, settings)
    return ImageAudit(
        box_fidelity=fidelity,
        erased=[f < settings.erased_below for f in fidelity],
        invented=regions[: settings.max_regions],
        invented_count=len(regions),
    )


FIDELITY_BINS = (0.0, 0.25, 0.5, 0.75, 1.0)


def summarize(audits: Iterable[ImageAudit], settings: AuditSettings = AuditSettings()) -> dict[str, Any]:
    """Dataset-level counts over image audits (mergeable: it only needs the per-image results)."""
    images = boxes = erased = images_erased = images_invented = regions = 0
    fidelity_sum = 0.0
    hist = [0] * (len(FIDELITY_BINS) - 1)
    for a in audits:
        images += 1
        boxes += len(a.box_fidelity)
        fidelity_sum += sum(a.box_fidelity)
        n_erased = sum(a.erased)
        erased += n_erased
        images_erased += n_erased > 0
        images_invented += a.invented_count > 0
        regions += a.invented_count
        for f in a.box_fidelity:
            hist[min(int(np.searchsorted(FIDELITY_BINS, f, side="right")) - 1, len(hist) - 1)] += 1
    labels = [f"{lo:g}-{hi:g}" for lo, hi in zip(FIDELITY_BINS[:-1], FIDELITY_BINS[1:], strict=True)]
    return {
        "images": images,
        "boxes": boxes,
        "erased_boxes": erased,
        "images_with_erased_boxes": images_erased,
        "images_with_invented_structure": images_invented,
        "invented_regions": regions,
        "mean_box_fidelity": round(fidelity_sum / boxes, 4) if boxes else None,
        "box_fidelity_histogram": dict(zip(labels, hist, strict=True)),
        "erased_below": settings.erased_below,
    }
