import numpy as np
import pytest

from services.evaluator.predictions import PredictionFileError, read_yolo_predictions

STEMS = ["a", "b", "c"]
SIZES = np.array([[100, 50], [200, 100], [10, 10]])


def write(folder, name, text):
    (folder / name).write_text(text)


def test_reads_files_to_pixel_boxes_and_missing_file_means_no_predictions(tmp_path):
    write(tmp_path, "a.txt", "0 0.5 0.5 0.2 0.4 0.9\n1 0.25 0.25 0.1 0.1 0.123\n")
    write(tmp_path, "b.txt", "\n2 0.5 0.5 1 1 1\n")
    p = read_yolo_predictions(tmp_path, STEMS, SIZES, n_classes=3)
    assert p.image.tolist() == [0, 0, 1]
    assert p.cls.tolist() == [0, 1, 2]
    np.testing.assert_allclose(p.conf, [0.9, 0.123, 1.0], rtol=1e-6)
    np.testing.assert_allclose(p.boxes, [[40, 15, 60, 35], [20, 10, 30, 15], [0, 0, 200, 100]], atol=1e-4)


@pytest.mark.parametrize(
    "text,message",
    [
        ("0 0.5 0.5 0.2 0.2\n", "line 1: expected 6 fields"),
        ("0 0.5 0.5 0.2 0.2 0.5\n0 0.5 0.5 0.2 0.2 0.5 7\n", "line 2: expected 6 fields"),
        ("0 0.5 0.5 0.2 0.2 0.5\n\n0 0.5 x 0.2 0.2 0.5\n", "line 3: non-numeric"),
        ("3 0.5 0.5 0.2 0.2 0.5\n", "line 1: class index not an integer in 0..2"),
        ("0.5 0.5 0.5 0.2 0.2 0.5\n", "line 1: class index"),
        ("0 0.5 0.5 0.2 0.2 1.5\n", "line 1: confidence outside"),
        ("0 0.5 0.5 0.2 0.2 0.5\n0 30 40 10 10 0.5\n", "line 2: box centre outside"),
        ("0 0.95 0.5 0.2 0.2 0.5\n", "line 1: box extends outside"),
    ],
)
def test_errors_name_file_and_line(tmp_path, text, message):
    write(tmp_path, "b.txt", text)
    with pytest.raises(PredictionFileError, match=message) as err:
        read_yolo_predictions(tmp_path, STEMS, SIZES, n_classes=3)
    assert "b.txt" in str(err.value)


def test_small_rounding_over_the_border_is_tolerated(tmp_path):
    write(tmp_path, "a.txt", "0 0.9 0.5 0.2004 0.2 0.5\n")
    assert read_yolo_predictions(tmp_path, STEMS, SIZES, n_classes=1).cls.tolist() == [0]


def test_file_matching_no_image_is_an_error(tmp_path):
    write(tmp_path, "zzz.txt", "0 0.5 0.5 0.2 0.2 0.5\n")
    with pytest.raises(PredictionFileError, match="e.g. zzz.txt"):
        read_yolo_predictions(tmp_path, STEMS, SIZES, n_classes=3)


def test_empty_folder_and_missing_folder(tmp_path):
    assert read_yolo_predictions(tmp_path, STEMS, SIZES, n_classes=3).image.size == 0
    with pytest.raises(ValueError, match="does not exist"):
        read_yolo_predictions(tmp_path / "nope", STEMS, SIZES, n_classes=3)
