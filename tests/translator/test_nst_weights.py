"""VGG-19 weights verification: torchvision's state_dict accepted, anything else refused by name."""

from __future__ import annotations

import io
import pickle
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from services.translator.vgg.weights import VGGCache, VGGWeightsError, load_vgg19_features

torch.set_num_threads(1)  # the 2 cores are shared: 2 threads ran 5-10x slower under contention


@pytest.fixture(scope="module")
def vgg19_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return torchvision.models.vgg19(weights=None).state_dict()


@pytest.fixture(scope="module")
def weights_file(vgg19_state: dict[str, torch.Tensor], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("vgg") / "vgg19.pth"
    torch.save(vgg19_state, path)
    return path


def _features_only(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in state.items() if k.startswith("features.")}


def _to_bytes(obj: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def test_full_torchvision_file_is_accepted_frozen_and_matches_torchvision(
    weights_file: Path, vgg19_state: dict[str, torch.Tensor]
) -> None:
    features = load_vgg19_features(weights_file, "cpu")
    assert isinstance(features, nn.Sequential) and not features.training
    assert all(not p.requires_grad for p in features.parameters())
    reference = torchvision.models.vgg19(weights=None).features
    reference.load_state_dict(
        {k.removeprefix("features."): v for k, v in _features_only(vgg19_state).items()}
    )
    x = torch.rand(1, 3, 40, 56)
    with torch.no_grad():
        torch.testing.assert_close(features(x), reference.eval()(x))


def test_features_only_state_dict_accepted_as_bytes_and_as_dict(vgg19_state: dict[str, torch.Tensor]) -> None:
    only = _features_only(vgg19_state)
    from_bytes = load_vgg19_features(_to_bytes(only), "cpu")
    from_dict = load_vgg19_features(only, "cpu")
    torch.testing.assert_close(from_bytes[34].weight, vgg19_state["features.34.weight"])
    torch.testing.assert_close(from_dict[0].bias, vgg19_state["features.0.bias"])


def test_missing_key_is_named_with_expected_shape(vgg19_state: dict[str, torch.Tensor]) -> None:
    broken = _features_only(vgg19_state)
    del broken["features.19.weight"]
    with pytest.raises(VGGWeightsError, match=r"features\.19\.weight.*512×256×3×3"):
        load_vgg19_features(_to_bytes(broken), "cpu")


def test_wrong_shape_is_named(vgg19_state: dict[str, torch.Tensor]) -> None:
    broken = dict(_features_only(vgg19_state))
    broken["features.2.weight"] = torch.zeros(32, 64, 3, 3)
    with pytest.raises(VGGWeightsError, match=r"features\.2\.weight has shape 32×64×3×3, expected 64×64×3×3"):
        load_vgg19_features(broken, "cpu")


def test_vgg16_is_refused_naming_the_first_missing_conv() -> None:
    vgg16 = torchvision.models.vgg16(weights=None).features.state_dict()
    state = {f"features.{k}": v for k, v in vgg16.items()}
    with pytest.raises(VGGWeightsError, match=r"features\.16\.weight"):
        load_vgg19_features(state, "cpu")


def test_pickled_arbitrary_object_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self):  # what a malicious checkpoint would do on torch.load(weights_only=False)
            return (Path.touch, (marker,))

    path = tmp_path / "evil.pth"
    path.write_bytes(_to_bytes({"features.0.weight": Payload()}))
    with pytest.raises(VGGWeightsError, match="expected torchvision's vgg19 state_dict"):
        load_vgg19_features(path, "cpu")
    assert not marker.exists()
    # a plain pickle (not torch.save's zip) and random bytes are refused too
    with pytest.raises(VGGWeightsError):
        load_vgg19_features(pickle.dumps(OrderedDict(a=1)), "cpu")
    with pytest.raises(VGGWeightsError):
        load_vgg19_features(b"\x00not a checkpoint", "cpu")


def test_a_whole_module_or_non_dict_is_refused() -> None:
    with pytest.raises(VGGWeightsError, match="not a state_dict"):
        load_vgg19_features(_to_bytes([torch.zeros(1)]), "cpu")


def test_missing_file_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        load_vgg19_features(tmp_path / "nope.pth", "cpu")


def test_cache_loads_once_per_digest_and_device(weights_file: Path, tmp_path: Path) -> None:
    cache = VGGCache()
    first = cache.get(weights_file, "cpu")
    assert cache.get(weights_file, "cpu") is first
    assert cache.get(weights_file.read_bytes(), "cpu") is first  # same digest from bytes
    assert len(cache) == 1
    copy = tmp_path / "copy.pth"
    copy.write_bytes(weights_file.read_bytes())
    assert cache.get(copy, "cpu") is first  # keyed by content, not by path
