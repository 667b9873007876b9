"""Load and verify operator-supplied VGG-19 ImageNet weights (torchvision's ``vgg19`` state_dict).

Why verify: nothing can be downloaded here, so the weights arrive as a file from an operator. A wrong
file (vgg16, vgg19_bn, a whole pickled model, a truncated upload) must fail with a message naming what
is wrong instead of producing silent garbage several hours into a stylisation job.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

# torchvision's VGG configuration "E" (vgg19): output channels per conv, "M" for a 2×2 max-pool.
VGG19_CFG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
)  # fmt: skip


def _expected_conv_shapes() -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    index, in_ch = 0, 3
    for item in VGG19_CFG:
        if item == "M":
            index += 1
            continue
        out_ch = int(item)
        shapes[f"features.{index}.weight"] = (out_ch, in_ch, 3, 3)
        shapes[f"features.{index}.bias"] = (out_ch,)
        index += 2  # conv, relu
        in_ch = out_ch
    return shapes


EXPECTED_SHAPES: dict[str, tuple[int, ...]] = _expected_conv_shapes()
_FORMAT_HINT = (
    "expected torchvision's vgg19 state_dict (features.0.weight 64×3×3×3, features.2.weight 64×64×3×3, …, "
    "features.34.weight 512×512×3×3; classifier.* optional), as written by "
    "torch.save(torchvision.models.vgg19(weights=...).state_dict(), path)"
)


class VGGWeightsError(ValueError):
    """The supplied file is not a usable torchvision vgg19 state_dict."""


def build_vgg19_features() -> nn.Sequential:
    """The convolutional part of VGG-19 with torchvision's module indices (so state_dict keys line up)."""
    layers: list[nn.Module] = []
    in_ch = 3
    for item in VGG19_CFG:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            # inplace=False: feature extractors read both conv and relu outputs of the same layer.
            layers += [nn.Conv2d(in_ch, int(item), kernel_size=3, padding=1), nn.ReLU(inplace=False)]
            in_ch = int(item)
    return nn.Sequential(*layers)


def _read_state_dict(source: bytes | Path | str | Mapping[str, torch.Tensor]) -> Mapping[str, object]:
    if isinstance(source, Mapping):
        return source
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise VGGWeightsError(f"VGG-19 weights file {path} does not exist; {_FORMAT_HINT}")
        data = path.read_bytes()
    elif isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    else:
        raise VGGWeightsError(f"cannot read VGG-19 weights from a {type(source).__name__}; {_FORMAT_HINT}")
    try:
        loaded = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception as exc:  # unpickling refusals, bad zip, truncation: all the user's file
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise VGGWeightsError(
            f"could not read the VGG-19 weights as a plain tensor state_dict "
            f"({type(exc).__name__}: {first_line[:200]}); {_FORMAT_HINT}"
        ) from exc
    if not isinstance(loaded, Mapping):
        raise VGGWeightsError(
            f"the weights file holds a {type(loaded).__name__}, not a state_dict; {_FORMAT_HINT}"
        )
    return loaded


def _shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(str(s) for s in shape)


def verify_vgg19_state_dict(state: Mapping[str, object]) -> dict[str, torch.Tensor]:
    """Check every conv weight/bias of VGG-19; return the ``features.*`` tensors as float32."""
    keys = set(state)
    if "features.0.weight" not in keys and "0.weight" in keys:
        state = {f"features.{k}": v for k, v in state.items()}  # a saved ``model.features`` state_dict
    hint = ""
    if "features.1.running_mean" in state:
        hint = " (this looks like vgg19_bn, which has batch-norm layers; supply plain vgg19)"
    out: dict[str, torch.Tensor] = {}
    for key, shape in EXPECTED_SHAPES.items():
        if key not in state:
            raise VGGWeightsError(
                f"missing key {key} (expected shape {_shape_text(shape)}){hint}; {_FORMAT_HINT}"
            )
        value = state[key]
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            raise VGGWeightsError(f"{key} is not a floating-point tensor{hint}; {_FORMAT_HINT}")
        if tuple(value.shape) != shape:
            raise VGGWeightsError(
                f"{key} has shape {_shape_text(tuple(value.shape))}, expected {_shape_text(shape)}{hint}; "
                f"{_FORMAT_HINT}"
            )
        value = value.detach().to(torch.float32)
        if not torch.isfinite(value).all():
            raise VGGWeightsError(f"{key} contains NaN or infinite values; the weights file is corrupt")
        out[key] = value
    return out


def load_vgg19_features(
    source: bytes | Path | str | Mapping[str, torch.Tensor], device: str | torch.device = "cpu"
) -> nn.Sequential:
    """Frozen VGG-19 ``features`` (eval mode, no grad) from a file path, its bytes, or a loaded state_dict.

    Classifier keys are ignored when present, so a features-only state_dict works too.
    """
    tensors = verify_vgg19_state_dict(_read_state_dict(source))
    features = build_vgg19_features()
    features.load_state_dict({k.removeprefix("features."): v for k, v in tensors.items()})
    features.requires_grad_(False)
    return features.eval().to(device)


class VGGCache:
    """Per-process cache of loaded VGG-19 features keyed by (sha256 of the file, device).

    Why: a worker stylises many images with the same weights; reading and verifying ~550 MB per job
    would dominate short jobs. The digest of a path is remembered per (size, mtime), so a hit reads
    nothing, while a replaced file is reloaded.
    """

    def __init__(self, maxsize: int = 2) -> None:
        if maxsize < 1:
            raise ValueError("VGGCache maxsize must be at least 1")
        self.maxsize = maxsize
        self._models: OrderedDict[tuple[str, str], nn.Sequential] = OrderedDict()
        self._path_digests: dict[tuple[str, int, int], str] = {}
        self._lock = threading.Lock()

    def _digest(self, source: bytes | Path | str) -> tuple[str, bytes | None]:
        if isinstance(source, bytes | bytearray | memoryview):
            data = bytes(source)
            return hashlib.sha256(data).hexdigest(), data
        path = Path(source)
        if not path.is_file():
            raise VGGWeightsError(f"VGG-19 weights file {path} does not exist; {_FORMAT_HINT}")
        stat = path.stat()
        stamp = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if stamp in self._path_digests:
            return self._path_digests[stamp], None
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        self._path_digests[stamp] = digest
        return digest, data

    def get(self, source: bytes | Path | str, device: str | torch.device = "cpu") -> nn.Sequential:
        """The loaded features for these weights on this device, loading them on first use only."""
        with self._lock:
            digest, data = self._digest(source)
            key = (digest, str(torch.device(device)))
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            if data is None:
                data = Path(source).read_bytes()  # type: ignore[arg-type]
            features = load_vgg19_features(data, device)
            self._models[key] = features
            while len(self._models) > self.maxsize:
                self._models.popitem(last=False)
            return features

    def __len__(self) -> int:
        return len(self._models)
