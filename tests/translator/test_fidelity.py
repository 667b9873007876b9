"""KID and FID with Inception-architecture weights the test writes: identical sets score ~0, a colour-
shifted set scores higher than a set of the same kind; the network never downloads anything."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from services.common.core.checkpoints import CheckpointError, inception_fid_shapes, read_tensor_shapes
from services.common.core.weights import spec
from services.translator.quality import fidelity
from tests.quality_weights import random_inception_pth
from tests.scenes import road_scene


def _shifted(image: np.ndarray) -> np.ndarray:
    return np.clip(image.astype(np.int16) + np.array([80, -40, 60]), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def inception_file(tmp_path_factory) -> str:  # noqa: ANN001
    path = tmp_path_factory.mktemp("inception") / "inception.pth"
    path.write_bytes(random_inception_pth())
    return str(path)


def test_the_checked_layout_is_the_network_torch_fidelity_builds() -> None:
    state = fidelity.inception_architecture()
    shapes = {k: tuple(v.shape) for k, v in state.items() if not k.endswith("num_batches_tracked")}
    assert shapes == inception_fid_shapes()


def test_the_operator_file_is_checked_without_torch(inception_file) -> None:  # noqa: ANN001
    data = open(inception_file, "rb").read()
    spec("inception").check(data)  # random values of the right architecture pass
    state = torch.load(inception_file, weights_only=True)
    state["Mixed_7c.branch_pool.conv.weight"] = torch.zeros(192, 2048, 1, 1)
    import io

    buf = io.BytesIO()
    torch.save(state, buf)
    with pytest.raises(CheckpointError, match="constant"):
        spec("inception").check(buf.getvalue())
    del state["fc.weight"]
    buf = io.BytesIO()
    torch.save(state, buf)
    with pytest.raises(CheckpointError, match="fc.weight is missing"):
        spec("inception").check(buf.getvalue())
    assert len(read_tensor_shapes(data)) >= len(inception_fid_shapes())


def test_distances_from_features_follow_the_sets() -> None:
    """The metric half on its own (seconds): Gaussian features (16 wide, so FID's matrix square root is
    quick), one set moved along every axis."""
    gen = torch.Generator().manual_seed(0)
    a, b = (
        torch.randn(200, 16, generator=gen, dtype=torch.float64),
        torch.randn(200, 16, generator=gen, dtype=torch.float64),
    )
    moved = b + 1.0
    identical = fidelity.distance(a, a, subsets=10)
    near, far = fidelity.distance(a, b, subsets=10), fidelity.distance(moved, b, subsets=10)
    assert far.kid_mean > 10 * abs(near.kid_mean) and far.fid > near.fid
    assert abs(identical.kid_mean) < 0.05 * far.kid_mean and abs(identical.fid) < 1e-6 * far.fid
    assert far.kid_subset_size == 200 and far.kid_subsets == 10 and far.kid_std >= 0


@pytest.mark.slow  # 12 images through Inception-v3 on a CPU: minutes on a shared machine
def test_kid_and_fid_are_near_zero_for_identical_sets_and_higher_for_a_shifted_set(
    inception_file, monkeypatch
) -> None:  # noqa: ANN001
    import torch_fidelity.feature_extractor_inceptionv3 as tf_inception

    def no_download(*_a, **_k):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("the Inception network tried to download weights")

    monkeypatch.setattr(tf_inception, "load_state_dict_from_url", no_download)
    net = fidelity.load_inception(inception_file)
    same_kind = [road_scene(128, 64, seed=s)[0] for s in range(4)]
    others = [road_scene(128, 64, seed=100 + s)[0] for s in range(4)]
    shifted = [_shifted(i) for i in same_kind]
    f_a, f_b, f_s = (fidelity.features(net, images) for images in (same_kind, others, shifted))
    assert f_a.shape == (4, 2048) and float(f_a.std()) > 1e-3  # the random network's features are alive

    identical = fidelity.distance(f_a, f_a, subsets=20)
    near = fidelity.distance(f_a, f_b, subsets=20)
    far = fidelity.distance(f_s, f_b, subsets=20)
    assert far.kid_mean > near.kid_mean and far.fid > near.fid
    assert abs(identical.kid_mean) < 0.05 * far.kid_mean
    assert abs(identical.fid) < 1e-3 * far.fid
    assert far.kid_subset_size == 4 and far.images == 4 and far.reference_images == 4

    moved = fidelity.movement(near, far)
    assert moved["kid_reduction"] == pytest.approx(far.kid_mean - near.kid_mean)
    assert moved["kid_ratio"] == pytest.approx(near.kid_mean / far.kid_mean)
    assert "toward the target" in moved["statement"]
    assert "away from" in fidelity.movement(far, near)["statement"]
    with pytest.raises(ValueError, match="at least 2"):
        fidelity.distance(f_a[:1], f_b)
