"""The label-safety audit: an erased object is flagged, a recoloured one is not, a hazy scene is judged
against its surroundings, and structure painted outside every box is reported."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from services.translator.quality.label_audit import ImageAudit, audit_image, summarize
from tests.quality_scenes import LEFT_CAR, RIGHT_CAR, car_scene, erase, erase_left_recolour_right, recolour


def test_an_erased_box_is_flagged_and_a_recoloured_one_is_not() -> None:
    for seed in range(3):
        source = car_scene(seed)
        audit = audit_image(source, erase_left_recolour_right(source), [LEFT_CAR, RIGHT_CAR])
        left, right = audit.box_fidelity
        assert left < 0.3 and right > 0.8, (seed, audit)
        assert audit.erased == [True, False]
        assert audit.fidelity == left
        assert audit.invented_count == 0
    # Recolouring alone, or nothing at all, flags nothing.
    source = car_scene(7)
    for translated in (source, recolour(source, LEFT_CAR)):
        audit = audit_image(source, translated, [LEFT_CAR, RIGHT_CAR])
        assert audit.erased == [False, False] and min(audit.box_fidelity) > 0.9
    assert audit_image(source, erase(source, RIGHT_CAR), [LEFT_CAR, RIGHT_CAR]).erased == [False, True]


def test_a_uniform_haze_is_judged_against_the_ring_not_counted_as_erasure() -> None:
    source = car_scene(1)
    hazy = np.round(0.45 * source + 0.55 * 200).astype(np.uint8)  # contrast lost everywhere alike
    audit = audit_image(source, hazy, [LEFT_CAR, RIGHT_CAR])
    assert audit.erased == [False, False] and min(audit.box_fidelity) > 0.9


def test_structure_painted_outside_every_box_is_reported_and_streaks_are_not() -> None:
    source = car_scene(2)
    painted = source.copy()
    cv2.rectangle(painted, (150, 20), (190, 60), (10, 10, 10), -1)
    cv2.rectangle(painted, (158, 28), (182, 45), (240, 240, 240), -1)
    audit = audit_image(source, painted, [LEFT_CAR, RIGHT_CAR])
    assert audit.erased == [False, False]
    assert audit.invented_count == 1
    x1, y1, x2, y2 = audit.invented[0]
    assert 140 <= x1 <= 160 and 10 <= y1 <= 30 and 180 <= x2 <= 200 and 40 <= y2 <= 70
    # The same painted inside a box is the box's business, not an invention.
    assert audit_image(source, painted, [LEFT_CAR, RIGHT_CAR, (145, 15, 195, 65)]).invented_count == 0
    streaks = source.copy()
    for x in range(10, 300, 9):  # parallel rain-like streaks: new edges, all of one slant
        cv2.line(streaks, (x, 5), (x + 12, 60), (235, 235, 235), 1)
    assert audit_image(source, streaks, [LEFT_CAR, RIGHT_CAR]).invented_count == 0


def test_an_image_without_boxes_has_fidelity_one_and_summaries_count() -> None:
    source = car_scene(3)
    empty = audit_image(source, erase(source, LEFT_CAR), [])
    assert empty.fidelity == 1.0 and empty.box_fidelity == []
    audits = [
        ImageAudit(box_fidelity=[0.1, 0.9], erased=[True, False]),
        ImageAudit(box_fidelity=[], erased=[]),
        ImageAudit(box_fidelity=[1.0], erased=[False], invented=[[0, 0, 5, 5]], invented_count=1),
    ]
    summary = summarize(audits)
    assert summary["images"] == 3 and summary["boxes"] == 3 and summary["erased_boxes"] == 1
    assert summary["images_with_erased_boxes"] == 1 and summary["images_with_invented_structure"] == 1
    assert summary["mean_box_fidelity"] == round((0.1 + 0.9 + 1.0) / 3, 4)
    assert summary["box_fidelity_histogram"] == {"0-0.25": 1, "0.25-0.5": 0, "0.5-0.75": 0, "0.75-1": 2}
    assert audits[0].to_dict()["erased"] == [0] and audits[1].to_dict()["fidelity"] == 1.0


def test_scene_pictures(tmp_path) -> None:  # noqa: ANN001
    """Writes the audited pair for looking at (not an assertion on pixels)."""
    source = car_scene(0)
    pair = np.concatenate([source, erase_left_recolour_right(source)], axis=1)
    Image.fromarray(pair).save(tmp_path / "pair.png")
    assert (tmp_path / "pair.png").stat().st_size > 0
