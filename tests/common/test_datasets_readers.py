from pathlib import Path

import pytest

from services.common.datasets.canonical import ReadReport
from services.common.datasets.readers import iter_dataset
from tests.common.dataset_fixtures import make_vkitti2


def test_dispatch_by_format(tmp_path: Path) -> None:
    make_vkitti2(tmp_path)
    report = ReadReport()
    ids = [r.image_id for r in iter_dataset("vkitti2", tmp_path, None, report, variations=["fog"])]
    assert ids == ["Scene02/fog/Camera_0/00000"]
    assert report.to_dict() == {"images": 1, "boxes": 2, "skipped": {}, "notes": {"rgb_missing": 1}}


def test_unknown_format_and_option(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="known formats: kitti"):
        iter_dataset("coco", tmp_path)
    with pytest.raises(ValueError, match="bad options for format 'kitti'"):
        iter_dataset("kitti", tmp_path, colour="red")


def test_importing_the_package_stays_light() -> None:
    """The API process imports these modules: no torch, cv2, Pillow, yaml or ijson until a reader runs."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import services.common.datasets.readers, services.common.datasets.filters\n"
        "import services.common.datasets.stats, services.common.datasets.compositions\n"
        "import services.common.datasets.splits\n"
        "heavy = {'torch', 'cv2', 'PIL', 'yaml', 'ijson', 'numpy'} & set(sys.modules)\n"
        "print(sorted(heavy))\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
