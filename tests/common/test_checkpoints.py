"""Checkpoint inspection without torch agrees with the real networks, and refuses code in pickles."""

from __future__ import annotations

import io
import os
import pickle
import zipfile

import pytest
import torch
import torchvision

from services.common.core.checkpoints import (
    CheckpointError,
    check_vgg19,
    read_tensor_shapes,
    vgg19_feature_shapes,
)
from services.common.methods.cyclegan import check_generator, generator_shapes
from services.translator.cyclegan.networks import GeneratorConfig, build_generator


def _saved(obj) -> bytes:  # noqa: ANN001
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


@pytest.mark.parametrize(("ngf", "n_blocks"), [(64, 9), (64, 6), (8, 2)])
def test_generator_shapes_match_the_network(ngf: int, n_blocks: int) -> None:
    sd = build_generator(GeneratorConfig(ngf=ngf, n_blocks=n_blocks)).state_dict()
    shapes = read_tensor_shapes(_saved(sd))
    assert {k: tuple(v) for k, v in shapes.items()} == generator_shapes(ngf, n_blocks)
    if (ngf, n_blocks) == (64, 9):
        assert len(shapes) == 48


def test_stale_norm_keys_and_module_prefix_are_cleaned() -> None:
    sd = build_generator(GeneratorConfig(ngf=8, n_blocks=2)).state_dict()
    dirty = {f"module.{k}": v for k, v in sd.items()}
    dirty["module.model.2.running_mean"] = torch.zeros(8)
    dirty["module.model.2.num_batches_tracked"] = torch.tensor(0)
    assert set(check_generator(read_tensor_shapes(_saved(dirty)), 8, 2)) == set(sd)


def test_wrong_architecture_names_both() -> None:
    sd = build_generator(GeneratorConfig(ngf=8, n_blocks=2)).state_dict()
    with pytest.raises(CheckpointError, match="9 residual blocks and ngf 8.*2 residual blocks"):
        check_generator(read_tensor_shapes(_saved(sd)), 8, 9)


def test_vgg19_shapes_match_torchvision() -> None:
    sd = torchvision.models.vgg19(weights=None).state_dict()
    shapes = read_tensor_shapes(_saved(sd))
    check_vgg19(shapes)
    assert {k: tuple(v) for k, v in shapes.items() if k.startswith("features.")} == vgg19_feature_shapes()
    del sd["features.10.weight"]
    with pytest.raises(CheckpointError, match="features.10.weight is missing"):
        check_vgg19(read_tensor_shapes(_saved(sd)))


class _Evil:
    def __reduce__(self):  # noqa: ANN204
        return (os.system, ("echo pwned",))


def test_code_in_the_pickle_is_refused_without_running() -> None:
    data = _saved({"w": torch.zeros(1), "x": _Evil()})
    with pytest.raises(CheckpointError, match="posix.system|os.system|Python object"):
        read_tensor_shapes(data)


@pytest.mark.parametrize("data", [b"", b"not a zip", pickle.dumps({"a": 1})])
def test_non_checkpoints_are_refused(data: bytes) -> None:
    with pytest.raises(CheckpointError):
        read_tensor_shapes(data)


def test_non_dict_payload_is_refused() -> None:
    with pytest.raises(CheckpointError, match="state_dict"):
        read_tensor_shapes(_saved([torch.zeros(2)]))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("x/other.txt", "hi")
    with pytest.raises(CheckpointError, match="data.pkl"):
        read_tensor_shapes(buf.getvalue())


def test_an_archive_bomb_is_refused_from_its_declared_size() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", b"\x00" * (65 * 1024 * 1024))
    assert len(buf.getvalue()) < 1_000_000
    with pytest.raises(CheckpointError, match="unpacks to"):
        read_tensor_shapes(buf.getvalue())
