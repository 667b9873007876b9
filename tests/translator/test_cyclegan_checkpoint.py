import io
import pickle

import pytest
import torch

from services.translator.cyclegan.checkpoint import (
    CheckpointError,
    inspect_generator_state,
    load_generator_state,
)
from services.translator.cyclegan.networks import GeneratorConfig, ResnetGenerator

torch.set_num_threads(1)


def _bytes(obj: object) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


@pytest.fixture()
def small() -> tuple[GeneratorConfig, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    cfg = GeneratorConfig(ngf=8, n_blocks=3)
    return cfg, ResnetGenerator(ngf=8, n_blocks=3).state_dict()


def _same(model: ResnetGenerator, state: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(model.state_dict()[k], v) for k, v in state.items())


def test_loads_bytes_path_and_dict(small, tmp_path) -> None:
    cfg, state = small
    path = tmp_path / "latest_net_G_A.pth"
    path.write_bytes(_bytes(state))
    for source in (_bytes(state), path, state):
        assert _same(load_generator_state(source, cfg), state)


def test_stale_instance_norm_keys_and_module_prefix_are_accepted(small) -> None:
    cfg, state = small
    stale = {f"module.{k}": v for k, v in state.items()}
    stale["module.model.2.running_mean"] = torch.zeros(8)
    stale["module.model.2.running_var"] = torch.ones(8)
    stale["module.model.10.conv_block.2.num_batches_tracked"] = torch.tensor(5)
    model = load_generator_state(_bytes(stale), cfg)
    assert _same(model, state)
    assert _same(load_generator_state(_bytes({"state_dict": stale}), cfg), state)


def test_six_blocks_loaded_as_nine_is_refused_naming_both() -> None:
    six = ResnetGenerator(ngf=64, n_blocks=6).state_dict()
    with pytest.raises(CheckpointError) as err:
        load_generator_state(_bytes(six), GeneratorConfig(ngf=64, n_blocks=9))
    msg = str(err.value)
    assert "6 residual blocks" in msg and "expected 9 blocks" in msg and "n_blocks=6" in msg
    assert "ngf 64" in msg


def test_wrong_ngf_is_refused_with_hint(small) -> None:
    _, state = small
    with pytest.raises(CheckpointError, match="ngf 8.*expected 3 blocks, ngf 16"):
        load_generator_state(state, GeneratorConfig(ngf=16, n_blocks=3))


def test_inspect_infers_architecture(small) -> None:
    cfg, state = small
    assert inspect_generator_state(state) == cfg
    assert inspect_generator_state(ResnetGenerator(ngf=4, n_blocks=0).state_dict()) == GeneratorConfig(4, 0)


class Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.mark.parametrize(
    "payload", [Evil(), {"model.1.weight": Evil()}, torch.zeros(3), [torch.zeros(1)], {}, {"a": 1}]
)
def test_non_state_dict_content_is_refused(payload, capsys) -> None:
    with pytest.raises(CheckpointError):
        load_generator_state(_bytes(payload), GeneratorConfig(ngf=8, n_blocks=3))
    assert "must never run" not in capsys.readouterr().out


def test_garbage_bytes_are_refused() -> None:
    with pytest.raises(CheckpointError):
        load_generator_state(b"not a checkpoint at all", GeneratorConfig())
    with pytest.raises(CheckpointError):
        load_generator_state(pickle.dumps({"x": 1}), GeneratorConfig())
