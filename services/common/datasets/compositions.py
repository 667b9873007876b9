"""The reference study's training sets as pure functions over record lists.

Baseline composition: the five KITTI tracking sequences that Virtual KITTI 2 clones
(Scene01↔0001, Scene02↔0002, Scene06↔0006, Scene18↔0018, Scene20↔0020) plus the vkitti2
variations ``clone, fog, morning, overcast, rain, sunset``, with exactly one source per frame
index. Rule: for frame index ``f`` of a scene pair, ``SLOTS[f % 7]`` picks the source, where
``SLOTS = (kitti, clone, fog, morning, overcast, rain, sunset)``; so every source covers every
seventh frame, spread evenly over the sequence, and no frame is seen twice under two looks.
The frame indices considered are the union of the indices present in any of the seven sources of
that pair; an index whose chosen source lacks it is left out and counted in ``missing``.
Only one vkitti2 camera is used (``Camera_0`` by default: Camera_1 is its stereo twin).

Translated composition: the same, but the frames whose slot is ``fog``, ``overcast`` or ``rain`` are
replaced by the clone frame with the same index, tagged ``translated:<variation>`` with
``translate_to=<variation>``: the translator turns the clone image into that weather and the
labels are the clone frame's. Its record carries the target weather/time of day, so statistics of
the training set describe the images the detector will see.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from services.common.datasets.canonical import ImageRecord
from services.common.datasets.vkitti2 import weather_of

SCENE_TO_SEQUENCE = {
    "Scene01": "0001",
    "Scene02": "0002",
    "Scene06": "0006",
    "Scene18": "0018",
    "Scene20": "0020",
}
SEQUENCE_TO_SCENE = {v: k for k, v in SCENE_TO_SEQUENCE.items()}
SLOTS = ("kitti", "clone", "fog", "morning", "overcast", "rain", "sunset")
TRANSLATED = ("fog", "overcast", "rain")
KITTI_SOURCES = ("kitti_tracking",)


@dataclass(frozen=True)
class CompositionEntry:
    """One chosen image: ``origin`` is ``kitti``, ``vkitti2:<variation>`` or ``translated:<variation>``."""

    record: ImageRecord
    origin: str
    translate_to: str | None = None


@dataclass
class Composition:
    name: str
    entries: list[CompositionEntry]
    missing: Counter[str] = field(default_factory=Counter)

    def counts_by_origin(self) -> dict[str, int]:
        return dict(sorted(Counter(e.origin for e in self.entries).items()))


def scene_group(record: ImageRecord) -> str | None:
    """The vkitti2 scene a record belongs to (KITTI sequences map to the scene that clones them).

    Use it as the split key so a KITTI sequence and its virtual clone stay on the same side.
    """
    if record.source in KITTI_SOURCES and record.scene in SEQUENCE_TO_SCENE:
        return SEQUENCE_TO_SCENE[record.scene]
    return record.scene


def _build(
    name: str,
    kitti_records: Iterable[ImageRecord],
    vkitti_records: Iterable[ImageRecord],
    camera: str,
    translated: tuple[str, ...],
) -> Composition:
    kitti: dict[tuple[str, int], ImageRecord] = {}
    for r in kitti_records:
        if r.source not in KITTI_SOURCES:
            raise ValueError(
                f"{r.image_id}: the composition needs KITTI tracking records, got source {r.source!r}"
            )
        if r.scene in SEQUENCE_TO_SCENE and r.frame is not None:
            kitti[(SEQUENCE_TO_SCENE[r.scene], r.frame)] = r
    vk: dict[tuple[str, str, int], ImageRecord] = {}
    for r in vkitti_records:
        if r.source != "vkitti2":
            raise ValueError(
                f"{r.image_id}: the composition needs Virtual KITTI 2 records, got source {r.source!r}"
            )
        if (
            r.scene in SCENE_TO_SEQUENCE
            and r.variation in SLOTS
            and r.camera == camera
            and r.frame is not None
        ):
            vk[(r.scene, r.variation, r.frame)] = r
    frames_by_scene: dict[str, set[int]] = {s: set() for s in SCENE_TO_SEQUENCE}
    for scene, f in kitti:
        frames_by_scene[scene].add(f)
    for scene, _, f in vk:
        frames_by_scene[scene].add(f)

    entries: list[CompositionEntry] = []
    missing: Counter[str] = Counter()
    for scene in sorted(frames_by_scene):
        for f in sorted(frames_by_scene[scene]):
            slot = SLOTS[f % len(SLOTS)]
            if slot == "kitti":
                origin, rec, target = "kitti", kitti.get((scene, f)), None
            elif slot in translated:
                origin, rec, target = f"translated:{slot}", vk.get((scene, "clone", f)), slot
                if rec is not None:
                    weather, timeofday = weather_of(slot)
                    rec = dataclasses.replace(rec, weather=weather, timeofday=timeofday)
            else:
                origin, rec, target = f"vkitti2:{slot}", vk.get((scene, slot, f)), None
            if rec is None:
                missing[origin] += 1
            else:
                entries.append(CompositionEntry(rec, origin, target))
    return Composition(name, entries, missing)


def baseline_composition(
    kitti_records: Iterable[ImageRecord], vkitti_records: Iterable[ImageRecord], *, camera: str = "Camera_0"
) -> Composition:
    """KITTI + six vkitti2 looks, one source per frame index (``SLOTS[f % 7]``)."""
    return _build("baseline", kitti_records, vkitti_records, camera, ())


def translated_composition(
    kitti_records: Iterable[ImageRecord],
    vkitti_records: Iterable[ImageRecord],
    *,
    camera: str = "Camera_0",
    translated: tuple[str, ...] = TRANSLATED,
) -> Composition:
    """The baseline with the ``translated`` variations' frames replaced by translated clone frames."""
    bad = [v for v in translated if v not in SLOTS or v in ("kitti", "clone")]
    if bad:
        raise ValueError(f"cannot translate into {bad}; choose among {list(SLOTS[2:])}")
    return _build("translated", kitti_records, vkitti_records, camera, tuple(translated))


COMPOSITIONS = {"baseline": baseline_composition, "translated": translated_composition}


def describe(name: str) -> dict[str, Any]:
    """A serialisable statement of a composition's rule, recorded with the dataset it builds."""
    if name not in COMPOSITIONS:
        raise ValueError(f"unknown composition {name!r}; known: {sorted(COMPOSITIONS)}")
    return {
        "name": name,
        "scene_pairs": dict(SCENE_TO_SEQUENCE),
        "slots": list(SLOTS),
        "rule": "frame index f uses slots[f % 7]; one source per frame index",
        "translated": list(TRANSLATED) if name == "translated" else [],
        "translation_input": "clone frame with the same index; labels carried over"
        if name == "translated"
        else None,
        "camera": "Camera_0",
    }
