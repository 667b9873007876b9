"""Reading the tensor shapes of a `torch.save` state_dict without torch and without running its pickle.

The API image has no torch, yet it must refuse an uploaded checkpoint of the wrong architecture before
storing it. A restricted unpickler rebuilds only dicts and tensor *descriptions*; any other global in
the pickle (the way a malicious .pth runs code) is refused. Workers later load the same bytes with
`torch.load(weights_only=True)`.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from collections import OrderedDict
from typing import Any


class CheckpointError(ValueError):
    """The file is not a state_dict of the expected architecture; the message says what it is."""


class _Storage:
    def __init__(self, dtype: str) -> None:
        self.dtype = dtype


class TensorInfo(tuple):
    """A tensor's shape (a tuple of ints) with its storage type name."""

    dtype: str


def _rebuild_tensor(storage: Any, _offset: int, size: tuple[int, ...], *_: Any) -> TensorInfo:
    info = TensorInfo(int(s) for s in size)
    info.dtype = getattr(storage, "dtype", "unknown")
    return info


def _rebuild_parameter(data: TensorInfo, *_: Any) -> TensorInfo:
    return data


_ALLOWED = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
}


class _ShapeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and name.endswith("Storage"):
            return lambda *a, _n=name: _Storage(_n)
        raise CheckpointError(
            f"the file contains a Python object ({module}.{name}), not only tensors; "
            "upload a plain state_dict saved with torch.save(model.state_dict(), path)"
        )

    def persistent_load(self, pid: Any) -> _Storage:
        # ('storage', storage_type, key, location, numel)
        if isinstance(pid, tuple) and pid and pid[0] == "storage":
            kind = pid[1]
            return kind if isinstance(kind, _Storage) else _Storage(str(kind))
        raise CheckpointError("unsupported tensor storage record in the checkpoint")


# A state_dict's pickle holds names and shapes only; anything bigger is an archive bomb, not a model.
MAX_PICKLE_BYTES = 64 * 1024 * 1024


def read_capped_member(archive: zipfile.ZipFile, name: str) -> bytes:
    size = archive.getinfo(name).file_size
    if size > MAX_PICKLE_BYTES:
        raise CheckpointError(f"{name} unpacks to {size} bytes; a checkpoint's index is far smaller")
    return archive.read(name)


def read_tensor_shapes(data: bytes) -> dict[str, TensorInfo]:
    """Flat `name -> shape` of a state_dict file; a `state_dict` wrapper dict is unwrapped."""
    if not data:
        raise CheckpointError("the file is empty")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise CheckpointError(
            "not a PyTorch checkpoint in the zip format torch.save writes (PyTorch ≥ 1.6); "
            "re-save it with torch.save(state_dict, path)"
        ) from exc
    pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
    if len(pickles) != 1:
        raise CheckpointError("not a PyTorch checkpoint: no data.pkl inside the archive")
    try:
        obj = _ShapeUnpickler(io.BytesIO(read_capped_member(archive, pickles[0]))).load()
    except CheckpointError:
        raise
    except Exception as exc:
        raise CheckpointError(f"could not read the checkpoint ({type(exc).__name__}: {exc})") from exc
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj:
        raise CheckpointError(f"expected a state_dict (a dict of tensors), found {type(obj).__name__}")
    shapes = {}
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, TensorInfo):
            raise CheckpointError(
                f"expected a state_dict of tensors; entry {key!r} is {type(value).__name__}"
            )
        shapes[key] = value
    return shapes


# --- VGG-19 (torchvision layout) -------------------------------------------------------------------

VGG19_CONVS = [
    (3, 64),
    (64, 64),
    (64, 128),
    (128, 128),
    (128, 256),
    (256, 256),
    (256, 256),
    (256, 256),
    (256, 512),
    (512, 512),
    (512, 512),
    (512, 512),
    (512, 512),
    (512, 512),
    (512, 512),
    (512, 512),
]
VGG19_FEATURE_INDICES = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]


def vgg19_feature_shapes() -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for idx, (cin, cout) in zip(VGG19_FEATURE_INDICES, VGG19_CONVS, strict=True):
        shapes[f"features.{idx}.weight"] = (cout, cin, 3, 3)
        shapes[f"features.{idx}.bias"] = (cout,)
    return shapes


def check_vgg19(shapes: dict[str, Any]) -> None:
    for key, shape in vgg19_feature_shapes().items():
        got = shapes.get(key)
        if got is None:
            raise CheckpointError(
                f"not torchvision's vgg19 state_dict: {key} is missing (expected {'×'.join(map(str, shape))})"
            )
        if tuple(got) != shape:
            raise CheckpointError(
                f"not torchvision's vgg19 state_dict: {key} is {'×'.join(map(str, got))}, "
                f"expected {'×'.join(map(str, shape))}"
            )


# --- ultralytics detector checkpoints -----------------------------------------------------------------

STUB_MODULE_PREFIXES = ("torch.nn.modules.", "ultralytics.")


class _Stub:
    """Stands in for any torch/ultralytics class in a detector checkpoint; it runs no code of theirs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._args = args

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (dict, slots)
            state = {**(state[0] or {}), **(state[1] or {})}
        if isinstance(state, dict):
            self.__dict__.update(state)


class _DetectorUnpickler(_ShapeUnpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in (("builtins", "set"), ("__builtin__", "set")):
            return set
        if (module, name) in (("builtins", "frozenset"), ("__builtin__", "frozenset")):
            return frozenset
        if module.startswith(STUB_MODULE_PREFIXES):
            return type(name, (_Stub,), {"__module__": "sim2real.stub"})
        return super().find_class(module, name)


def read_detector_checkpoint(data: bytes) -> dict[str, Any]:
    """Architecture, class names and image size of an ultralytics `.pt`, read without executing it."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        (pkl,) = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
    except (zipfile.BadZipFile, ValueError) as exc:
        raise CheckpointError("not an ultralytics checkpoint (.pt written by ultralytics training)") from exc
    try:
        ckpt = _DetectorUnpickler(io.BytesIO(read_capped_member(archive, pkl))).load()
    except CheckpointError:
        raise
    except Exception as exc:
        raise CheckpointError(f"could not read the checkpoint ({type(exc).__name__}: {exc})") from exc
    model = (ckpt.get("ema") or ckpt.get("model")) if isinstance(ckpt, dict) else None
    if not isinstance(model, _Stub) or type(model).__name__ != "DetectionModel":
        raise CheckpointError("not an ultralytics detection checkpoint: no DetectionModel under 'model'")
    try:
        yaml = getattr(model, "yaml", None) or {}
        names = getattr(model, "names", None) or {}
        train_args = ckpt.get("train_args") or {}
        if isinstance(names, dict):
            names = [names[k] for k in sorted(names)]
        imgsz = train_args.get("imgsz")
        imgsz = int(max(imgsz) if isinstance(imgsz, list | tuple) else imgsz) if imgsz else None
        return {
            "yaml_file": str(yaml.get("yaml_file") or train_args.get("model") or ""),
            "class_names": [str(n) for n in names],
            "imgsz": imgsz,
            "epoch": ckpt.get("epoch"),
        }
    except (AttributeError, TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"not an ultralytics detection checkpoint: malformed metadata ({exc})") from exc
