"""Which source labels become which detector classes, and which boxes are kept at all.

The taxonomy is recorded with every ingested dataset (``to_dict``) so a dataset can always say
how its labels were made.

Default choices (change them by building another ``Taxonomy``):

* classes ``car, van, truck``; KITTI and Virtual KITTI 2 map ``Car/Van/Truck`` one to one.
* BDD100K has no van: ``car→car``, ``truck→truck``. ``bus`` is unmapped (not in the study's
  classes; ``include_bus=True`` adds it as its own class). ``other vehicle`` (2020 only) is unmapped:
  it is a mixed bag (tractors, forklifts, carts) that would pollute any of car/van/truck.
  ``trailer`` (2020 only) is unmapped: a trailer is not the truck it hangs on.
* YOLO folders map a ``data.yaml`` name to the class of the same name.
* Every taxonomy class is a vehicle class for the occluded-vehicle count.
* Virtual KITTI 2 marks no occlusion flag; a box counts as occluded when its occupancy ratio
  (visible pixels / box pixels) is below ``occlusion_occupancy_below`` (default 0.5: less than
  half the box shows the object, the same threshold KITTI's "largely occluded" level describes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEFAULT_CLASSES = ("car", "van", "truck")

_IDENTITY_KITTI = {"Car": "car", "Van": "van", "Truck": "truck"}


def _default_mapping() -> dict[str, dict[str, str]]:
    return {
        "kitti": dict(_IDENTITY_KITTI),
        "kitti_tracking": dict(_IDENTITY_KITTI),
        "vkitti2": dict(_IDENTITY_KITTI),
        "bdd100k": {"car": "car", "truck": "truck"},
        "yolo": {"car": "car", "van": "van", "truck": "truck"},
    }


@dataclass
class Taxonomy:
    """Classes, per-source label mapping and the box filters applied while reading.

    ``min_box_height`` (pixels) applies to every source; ``min_occupancy`` / ``max_truncation``
    and ``occlusion_occupancy_below`` apply to Virtual KITTI 2 ratios.
    """

    classes: list[str] = field(default_factory=lambda: list(DEFAULT_CLASSES))
    mapping: dict[str, dict[str, str]] = field(default_factory=_default_mapping)
    min_box_height: float = 0.0
    min_occupancy: float = 0.0
    max_truncation: float = 1.0
    occlusion_occupancy_below: float = 0.5

    def __post_init__(self) -> None:
        if not self.classes or len(set(self.classes)) != len(self.classes):
            raise ValueError(f"classes: must be non-empty and unique, got {self.classes}")
        for source, labels in self.mapping.items():
            bad = sorted({c for c in labels.values() if c not in self.classes})
            if bad:
                raise ValueError(
                    f"mapping.{source}: targets {bad}, which are not classes {self.classes}; "
                    "add them to classes or change the mapping"
                )
        if self.min_box_height < 0:
            raise ValueError("min_box_height: must be >= 0")
        for name in ("min_occupancy", "max_truncation", "occlusion_occupancy_below"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name}: must be within [0, 1], got {v}")
        self._index = {
            source: {label: self.classes.index(cls) for label, cls in labels.items()}
            for source, labels in self.mapping.items()
        }

    def class_index(self, source: str, label: str) -> int | None:
        """Class index for a source label, or None when the label is not in the taxonomy."""
        return self._index.get(source, {}).get(label)

    def to_dict(self) -> dict[str, Any]:
        return {
            "classes": list(self.classes),
            "mapping": {s: dict(m) for s, m in self.mapping.items()},
            "min_box_height": self.min_box_height,
            "min_occupancy": self.min_occupancy,
            "max_truncation": self.max_truncation,
            "occlusion_occupancy_below": self.occlusion_occupancy_below,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Taxonomy:
        known = {
            "classes",
            "mapping",
            "min_box_height",
            "min_occupancy",
            "max_truncation",
            "occlusion_occupancy_below",
        }
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"{unknown[0]}: unknown taxonomy keys {unknown}; known keys are {sorted(known)}")
        return cls(**d)


def default_taxonomy(
    *,
    merge_van_into_car: bool = False,
    include_bus: bool = False,
    other_vehicle_as: str | None = None,
    min_box_height: float = 0.0,
) -> Taxonomy:
    """The study's taxonomy with the common variations as switches.

    ``merge_van_into_car`` drops the van class (KITTI/vkitti2 vans become cars);
    ``include_bus`` adds ``bus`` (BDD100K bus, KITTI has none); ``other_vehicle_as`` maps BDD100K
    2020 ``other vehicle`` to an existing class name.
    """
    classes = [c for c in DEFAULT_CLASSES if not (merge_van_into_car and c == "van")]
    mapping = _default_mapping()
    if merge_van_into_car:
        for source in mapping:
            mapping[source] = {k: ("car" if v == "van" else v) for k, v in mapping[source].items()}
    if include_bus:
        classes.append("bus")
        mapping["bdd100k"]["bus"] = "bus"
        mapping["yolo"]["bus"] = "bus"
    if other_vehicle_as is not None:
        mapping["bdd100k"]["other vehicle"] = other_vehicle_as
    return Taxonomy(classes=classes, mapping=mapping, min_box_height=min_box_height)


def make_taxonomy(options: dict[str, Any]) -> Taxonomy:
    """`taxonomy` is either a full Taxonomy dict (with `classes`) or the switches of `default_taxonomy`;
    a ValueError names the bad key and the value it needs."""
    from pydantic import BaseModel, ConfigDict, Field, ValidationError

    class Switches(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True)

        merge_van_into_car: bool = False
        include_bus: bool = False
        other_vehicle_as: str | None = None
        min_box_height: float = Field(0.0, ge=0, allow_inf_nan=False)

    spec = dict(options or {})
    if "classes" in spec:
        try:
            return Taxonomy.from_dict(spec)
        except ValueError:
            raise
        except (TypeError, AttributeError, KeyError) as exc:
            raise ValueError(
                f"classes: a full taxonomy needs 'classes' (a list of names) and 'mapping' "
                f"({{source: {{label: class}}}}); {type(exc).__name__} reading it"
            ) from None
    try:
        switches = Switches.model_validate(spec)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            raise ValueError(
                f"{field}: unknown switch; use merge_van_into_car, include_bus, other_vehicle_as, "
                "min_box_height, or a full taxonomy with 'classes' and 'mapping'"
            ) from None
        raise ValueError(f"{field}: {err['msg']}") from None
    return default_taxonomy(**switches.model_dump())
