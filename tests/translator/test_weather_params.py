import subprocess
import sys

import pytest

from services.common.methods.physics import PHYSICS_WEATHERS, FogParams, parse_physics_params


def test_every_weather_has_defaults_and_a_seed():
    assert set(PHYSICS_WEATHERS) == {"fog", "rain", "overcast", "dusk", "night", "snow"}
    for name, model in PHYSICS_WEATHERS.items():
        params = parse_physics_params(name, None)
        assert isinstance(params, model)
        assert params.seed == 0
        assert parse_physics_params(name, {}) == params


def test_documented_defaults():
    assert parse_physics_params("fog", {}).visibility_m == 150
    assert parse_physics_params("rain", {}).intensity_mm_h == 10


def test_valid_values_are_kept():
    params = parse_physics_params("rain", {"intensity_mm_h": 50, "angle_deg": -20, "seed": 7})
    assert (params.intensity_mm_h, params.angle_deg, params.seed) == (50, -20, 7)
    fog = parse_physics_params("fog", {"atmospheric_light": [0.9, 0.9, 0.95]})
    assert fog.atmospheric_light == (0.9, 0.9, 0.95)


def test_out_of_range_names_the_field_and_the_range():
    with pytest.raises(ValueError) as info:
        parse_physics_params("fog", {"visibility_m": -5})
    message = str(info.value)
    assert "visibility_m" in message and "> 1.0" in message and "<= 10000.0" in message and "-5" in message


def test_several_errors_in_one_sentence():
    with pytest.raises(ValueError) as info:
        parse_physics_params("night", {"iso": 10, "exposure_stops": 3})
    message = str(info.value)
    assert "iso" in message and "exposure_stops" in message and "\n" not in message


def test_wrong_type_names_the_field():
    with pytest.raises(ValueError, match="intensity_mm_h"):
        parse_physics_params("snow", {"intensity_mm_h": "lots"})


def test_airlight_components_bounded():
    with pytest.raises(ValueError, match="atmospheric_light"):
        parse_physics_params("fog", {"atmospheric_light": [1.5, 0.5, 0.5]})


def test_unknown_field_is_rejected_with_the_allowed_ones():
    with pytest.raises(ValueError) as info:
        parse_physics_params("rain", {"intensity": 10})
    message = str(info.value)
    assert "'intensity'" in message and "intensity_mm_h" in message


def test_unknown_weather_lists_known_ones():
    with pytest.raises(ValueError) as info:
        parse_physics_params("hail", {})
    message = str(info.value)
    assert "hail" in message
    for name in PHYSICS_WEATHERS:
        assert name in message


def test_non_object_params_rejected():
    with pytest.raises(ValueError, match="JSON object"):
        parse_physics_params("fog", [1, 2])  # type: ignore[arg-type]


def test_models_forbid_extra_fields_directly():
    with pytest.raises(ValueError):
        FogParams(visibility=100)  # type: ignore[call-arg]


def test_importing_params_pulls_in_no_numpy_or_opencv():
    code = (
        "import sys, services.common.methods.physics\n"
        "bad = [m for m in ('cv2', 'numpy', 'torch') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
