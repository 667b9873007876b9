"""The training-argument table both the API and the detector worker check hyperparameters with."""

from __future__ import annotations

import pytest

from services.common.detectors import HYPERPARAMETERS, PASSTHROUGH_TRAIN_ARGS, check_hyperparameters


def test_every_passthrough_argument_has_one_definition() -> None:
    assert set(HYPERPARAMETERS) == PASSTHROUGH_TRAIN_ARGS


@pytest.mark.parametrize(
    ("hp", "words"),
    [
        ({"mosaic": "lots"}, 'hyperparameters.mosaic: invalid hyperparameter value "lots"; must be a number'),
        ({"time": -5}, "hyperparameters.time: invalid hyperparameter value -5"),
        ({"time": 0}, "hyperparameters.time"),
        ({"box": 1e308}, "hyperparameters.box"),
        ({"hsv_h": float("nan")}, "hyperparameters.hsv_h"),
        ({"mosaic": True}, "hyperparameters.mosaic"),  # a bool is not a number here
        ({"plots": 1}, "hyperparameters.plots: invalid hyperparameter value 1; must be true or false"),
        ({"cache": 1}, "hyperparameters.cache"),  # 1 is not taken for True
        ({"nbs": 0}, "hyperparameters.nbs: invalid hyperparameter value 0; must be an integer from 1"),
        ({"max_det": 2**63}, "hyperparameters.max_det"),
        ({"fraction": 0}, "hyperparameters.fraction"),
        ({"scale": [2, 1]}, "hyperparameters.scale"),
        ({"freeze": [-1]}, "hyperparameters.freeze"),
        ({"copy_paste_mode": "blend"}, 'must be one of "flip", "mixup"'),
        ({"epochs": 3}, "hyperparameters.epochs: set epochs as a field of its own"),
        ({"mosiac": 1}, "hyperparameters: unknown or unsupported hyperparameter(s) 'mosiac'"),
    ],
)
def test_wrong_values_are_refused_naming_the_argument(hp: dict, words: str) -> None:
    with pytest.raises(ValueError) as err:
        check_hyperparameters(hp)
    assert words in str(err.value)


def test_values_in_range_pass() -> None:
    check_hyperparameters(
        {
            "mosaic": 0,
            "lrf": 1.0,
            "time": 0.5,
            "channels_last": None,
            "fraction": 200,
            "scale": 0.9,
            "freeze": ["model.0", 3],
            "compile": "max-autotune",
            "cache": "disk",
            "cos_lr": True,
            "degrees": 10,
        }
    )
    with pytest.raises(ValueError, match="hyperparameters: must be a mapping"):
        check_hyperparameters([("mosaic", 1)])


def test_an_experiments_settings_are_named_by_their_path() -> None:
    with pytest.raises(ValueError) as err:
        check_hyperparameters({"epochs": 3, "device": "cpu"}, where="model.")
    assert str(err.value).startswith("model.hyperparameters.device, model.hyperparameters.epochs: ")
    assert "set model.epochs as a field of its own" in str(err.value)
    with pytest.raises(ValueError, match=r"^model\.hyperparameters\.nbs: "):
        check_hyperparameters({"nbs": 0}, where="model.")
