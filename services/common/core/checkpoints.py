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

import numpy as np


class CheckpointError(ValueError):
    """The file is not a state_dict of the expected architecture; the message says what it is."""


class _StorageType:
    """What `torch.FloatStorage` & co. stand for in a pickle: a dtype name, nothing callable."""

    def __init__(self, name: str) -> None:
        self.name = name


class _Storage:
    def __init__(self, dtype: str, key: str = "", numel: int = 0) -> None:
        self.dtype = dtype
        self.key = key
        self.numel = numel


class TensorInfo(tuple):
    """A tensor's shape (a tuple of ints) with where its values are: storage type, key, offset, strides."""

    dtype: str
    storage_key: str
    offset: int
    stride: tuple[int, ...]


def _rebuild_tensor(
    storage: Any, offset: int, size: tuple[int, ...], stride: Any = (), *_: Any
) -> TensorInfo:
    info = TensorInfo(int(s) for s in size)
    info.dtype = getattr(storage, "dtype", "unknown")
    info.storage_key = getattr(storage, "key", "")
    info.offset = int(offset)
    info.stride = tuple(int(s) for s in stride) if isinstance(stride, tuple | list) else ()
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
            return _StorageType(name)
        raise CheckpointError(
            f"the file contains a Python object ({module}.{name}), not only tensors; "
            "upload a plain state_dict saved with torch.save(model.state_dict(), path)"
        )

    def persistent_load(self, pid: Any) -> _Storage:
        # ('storage', storage_type, key, location, numel)
        if isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage":
            kind = pid[1].name if isinstance(pid[1], _StorageType) else str(pid[1])
            return _Storage(kind, str(pid[2]), int(pid[4]))
        raise CheckpointError("unsupported tensor storage record in the checkpoint")


# A state_dict's pickle holds names and shapes only; anything bigger is an archive bomb, not a model.
MAX_PICKLE_BYTES = 64 * 1024 * 1024


def read_capped_member(archive: zipfile.ZipFile, name: str) -> bytes:
    size = archive.getinfo(name).file_size
    if size > MAX_PICKLE_BYTES:
        raise CheckpointError(f"{name} unpacks to {size} bytes; a checkpoint's index is far smaller")
    return archive.read(name)


def open_checkpoint(data: bytes) -> tuple[zipfile.ZipFile, str]:
    """The archive torch.save writes and the name of its pickle. Anything before the archive (a PNG with
    a checkpoint appended, say) is refused: torch.load would refuse it on every later use."""
    if not data:
        raise CheckpointError("the file is empty")
    if not data.startswith(b"PK\x03\x04"):
        raise CheckpointError(
            "not a PyTorch checkpoint in the zip format torch.save writes: the archive must start at the "
            "first byte, and this file starts with something else; upload the .pth file itself"
        )
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
    return archive, pickles[0]


def read_tensor_shapes(data: bytes) -> dict[str, TensorInfo]:
    """Flat `name -> shape` of a state_dict file; a `state_dict` wrapper dict is unwrapped."""
    archive, pkl = open_checkpoint(data)
    try:
        obj = _ShapeUnpickler(io.BytesIO(read_capped_member(archive, pkl))).load()
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


# Storage types torch pickles, as numpy dtypes (bfloat16 is widened from its upper 16 bits).
_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "BFloat16Storage": np.uint16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


def read_tensor_values(data: bytes, shapes: dict[str, TensorInfo] | None = None) -> dict[str, np.ndarray]:
    """The tensors of a state_dict as numpy arrays (float tensors as float32), without torch."""
    archive, pkl = open_checkpoint(data)
    shapes = shapes if shapes is not None else read_tensor_shapes(data)
    base = pkl.rpartition("/")[0]
    storages: dict[str, np.ndarray] = {}
    values: dict[str, np.ndarray] = {}
    for name, info in shapes.items():
        dtype = _DTYPES.get(info.dtype)
        if dtype is None:
            raise CheckpointError(f"{name}: unsupported tensor type {info.dtype}")
        if info.storage_key not in storages:
            member = f"{base}/data/{info.storage_key}" if base else f"data/{info.storage_key}"
            try:
                storages[info.storage_key] = np.frombuffer(archive.read(member), dtype=dtype)
            except (KeyError, ValueError, zipfile.BadZipFile) as exc:
                raise CheckpointError(f"{name}: its values are missing or damaged ({exc})") from exc
        flat = storages[info.storage_key]
        count = int(np.prod(info)) if len(info) else 1
        stride = info.stride or tuple(int(np.prod(info[i + 1 :])) for i in range(len(info)))
        span = 1 + sum((s - 1) * st for s, st in zip(info, stride, strict=True)) if count else 0
        if info.offset < 0 or info.offset + span > flat.size:
            raise CheckpointError(f"{name}: its shape does not fit its stored values")
        array = np.lib.stride_tricks.as_strided(
            flat[info.offset :], shape=tuple(info), strides=tuple(s * flat.itemsize for s in stride)
        )
        if info.dtype == "BFloat16Storage":
            array = (array.astype(np.uint32) << 16).view(np.float32)
        values[name] = array.astype(np.float32) if array.dtype.kind == "f" else array
    return values


def check_trained_values(values: dict[str, np.ndarray], what: str) -> None:
    """Refuse weights no training produces: non-finite values, or a layer (a weight of 2+ dimensions) whose
    values are all equal, as in an all-zero file. Randomly initialised weights pass."""
    for name, array in values.items():
        if array.dtype.kind != "f" or array.size == 0:
            continue
        if not np.isfinite(array).all():
            bad = int(array.size - np.isfinite(array).sum())
            raise CheckpointError(f"{what}: {name} holds {bad} NaN or infinite values; upload intact weights")
        if array.ndim >= 2 and array.size > 1 and float(array.max()) == float(array.min()):
            raise CheckpointError(
                f"{what}: {name} is constant (every value {float(array.flat[0])!r}); these are not trained "
                "weights: upload the real file"
            )


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


def check_layout(shapes: dict[str, Any], expected: dict[str, tuple[int, ...]], what: str) -> None:
    """Every tensor of `expected` is present with its shape; `what` says which file this is not."""
    for key, shape in expected.items():
        got = shapes.get(key)
        if got is None:
            raise CheckpointError(f"{what}: {key} is missing (expected {'×'.join(map(str, shape))})")
        if tuple(got) != shape:
            raise CheckpointError(
                f"{what}: {key} is {'×'.join(map(str, got))}, expected {'×'.join(map(str, shape))}"
            )


def check_vgg19(shapes: dict[str, Any]) -> None:
    check_layout(shapes, vgg19_feature_shapes(), "not torchvision's vgg19 state_dict")


# --- Depth Anything V2 Small (transformers layout) ----------------------------------------------------

# The architecture services/translator/weather/depth_model.py builds (its config is fixed in code there; a
# test checks the two agree). DINOv2-S/14 backbone at 518 px, DPT neck and head.
DEPTH_ANYTHING_HIDDEN = 384
DEPTH_ANYTHING_LAYERS = 12
DEPTH_ANYTHING_TOKENS = (518 // 14) ** 2 + 1
DEPTH_ANYTHING_NECK = (48, 96, 192, 384)
DEPTH_ANYTHING_FUSION = 64
DEPTH_ANYTHING_HEAD = 32


def depth_anything_shapes() -> dict[str, tuple[int, ...]]:
    """Shapes of the tensors that fix the architecture (the worker loads the whole file strictly)."""
    hidden = DEPTH_ANYTHING_HIDDEN
    shapes: dict[str, tuple[int, ...]] = {
        "backbone.embeddings.cls_token": (1, 1, hidden),
        "backbone.embeddings.position_embeddings": (1, DEPTH_ANYTHING_TOKENS, hidden),
        "backbone.embeddings.patch_embeddings.projection.weight": (hidden, 3, 14, 14),
        "backbone.layernorm.weight": (hidden,),
    }
    for layer in range(DEPTH_ANYTHING_LAYERS):
        shapes[f"backbone.encoder.layer.{layer}.mlp.fc1.weight"] = (4 * hidden, hidden)
        shapes[f"backbone.encoder.layer.{layer}.mlp.fc2.weight"] = (hidden, 4 * hidden)
    for i, channels in enumerate(DEPTH_ANYTHING_NECK):
        shapes[f"neck.reassemble_stage.layers.{i}.projection.weight"] = (channels, hidden, 1, 1)
        shapes[f"neck.convs.{i}.weight"] = (DEPTH_ANYTHING_FUSION, channels, 3, 3)
        shapes[f"neck.fusion_stage.layers.{i}.projection.weight"] = (DEPTH_ANYTHING_FUSION,) * 2 + (1, 1)
    shapes["head.conv1.weight"] = (DEPTH_ANYTHING_HEAD, DEPTH_ANYTHING_FUSION, 3, 3)
    shapes["head.conv2.weight"] = (DEPTH_ANYTHING_HEAD, DEPTH_ANYTHING_HEAD, 3, 3)
    shapes["head.conv3.weight"] = (1, DEPTH_ANYTHING_HEAD, 1, 1)
    return shapes


def check_depth_anything(shapes: dict[str, Any]) -> None:
    what = "not a Depth Anything V2 Small state_dict (transformers' DepthAnythingForDepthEstimation)"
    check_layout(shapes, depth_anything_shapes(), what)


# --- Inception-v3 for FID/KID (torch-fidelity's FeatureExtractorInceptionV3 layout) ---------------------


def _inception_blocks() -> list[tuple[str, int, int, int, int]]:
    """(layer, out, in, kh, kw) of every BasicConv2d, in the order of the 2015-12-05 FID network."""
    convs = [
        ("Conv2d_1a_3x3", 32, 3, 3, 3),
        ("Conv2d_2a_3x3", 32, 32, 3, 3),
        ("Conv2d_2b_3x3", 64, 32, 3, 3),
        ("Conv2d_3b_1x1", 80, 64, 1, 1),
        ("Conv2d_4a_3x3", 192, 80, 3, 3),
    ]
    for name, cin, pool in (("Mixed_5b", 192, 32), ("Mixed_5c", 256, 64), ("Mixed_5d", 288, 64)):
        convs += [
            (f"{name}.branch1x1", 64, cin, 1, 1),
            (f"{name}.branch5x5_1", 48, cin, 1, 1),
            (f"{name}.branch5x5_2", 64, 48, 5, 5),
            (f"{name}.branch3x3dbl_1", 64, cin, 1, 1),
            (f"{name}.branch3x3dbl_2", 96, 64, 3, 3),
            (f"{name}.branch3x3dbl_3", 96, 96, 3, 3),
            (f"{name}.branch_pool", pool, cin, 1, 1),
        ]
    convs += [
        ("Mixed_6a.branch3x3", 384, 288, 3, 3),
        ("Mixed_6a.branch3x3dbl_1", 64, 288, 1, 1),
        ("Mixed_6a.branch3x3dbl_2", 96, 64, 3, 3),
        ("Mixed_6a.branch3x3dbl_3", 96, 96, 3, 3),
    ]
    for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
        convs += [
            (f"{name}.branch1x1", 192, 768, 1, 1),
            (f"{name}.branch7x7_1", c7, 768, 1, 1),
            (f"{name}.branch7x7_2", c7, c7, 1, 7),
            (f"{name}.branch7x7_3", 192, c7, 7, 1),
            (f"{name}.branch7x7dbl_1", c7, 768, 1, 1),
            (f"{name}.branch7x7dbl_2", c7, c7, 7, 1),
            (f"{name}.branch7x7dbl_3", c7, c7, 1, 7),
            (f"{name}.branch7x7dbl_4", c7, c7, 7, 1),
            (f"{name}.branch7x7dbl_5", 192, c7, 1, 7),
            (f"{name}.branch_pool", 192, 768, 1, 1),
        ]
    convs += [
        ("Mixed_7a.branch3x3_1", 192, 768, 1, 1),
        ("Mixed_7a.branch3x3_2", 320, 192, 3, 3),
        ("Mixed_7a.branch7x7x3_1", 192, 768, 1, 1),
        ("Mixed_7a.branch7x7x3_2", 192, 192, 1, 7),
        ("Mixed_7a.branch7x7x3_3", 192, 192, 7, 1),
        ("Mixed_7a.branch7x7x3_4", 192, 192, 3, 3),
    ]
    for name, cin in (("Mixed_7b", 1280), ("Mixed_7c", 2048)):
        convs += [
            (f"{name}.branch1x1", 320, cin, 1, 1),
            (f"{name}.branch3x3_1", 384, cin, 1, 1),
            (f"{name}.branch3x3_2a", 384, 384, 1, 3),
            (f"{name}.branch3x3_2b", 384, 384, 3, 1),
            (f"{name}.branch3x3dbl_1", 448, cin, 1, 1),
            (f"{name}.branch3x3dbl_2", 384, 448, 3, 3),
            (f"{name}.branch3x3dbl_3a", 384, 384, 1, 3),
            (f"{name}.branch3x3dbl_3b", 384, 384, 3, 1),
            (f"{name}.branch_pool", 192, cin, 1, 1),
        ]
    return convs


def inception_fid_shapes() -> dict[str, tuple[int, ...]]:
    """Every float tensor of the FID Inception-v3 state_dict (batch-norm step counters aside)."""
    shapes: dict[str, tuple[int, ...]] = {}
    for name, out, cin, kh, kw in _inception_blocks():
        shapes[f"{name}.conv.weight"] = (out, cin, kh, kw)
        for part in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{name}.bn.{part}"] = (out,)
    shapes["fc.weight"] = (1008, 2048)
    shapes["fc.bias"] = (1008,)
    return shapes


def check_inception(shapes: dict[str, Any]) -> None:
    what = "not the FID Inception-v3 state_dict (torch-fidelity's weights-inception-2015-12-05)"
    check_layout(shapes, inception_fid_shapes(), what)
    extra = sorted(
        k for k in shapes if k not in inception_fid_shapes() and not k.endswith("num_batches_tracked")
    )
    if extra:
        raise CheckpointError(f"{what}: unexpected tensors {', '.join(extra[:5])}")


# --- ultralytics detector checkpoints -----------------------------------------------------------------

# The globals an ultralytics detection checkpoint may name (the classes ultralytics' own restricted loader
# accepts): network classes, a few data types. Anything else (a function, `os`, an attribute path) is how a
# pickle runs code, and the file is refused.
CLASS_MODULES = ("torch.nn.modules", "ultralytics.nn.modules", "ultralytics.nn.tasks")
CLASS_PACKAGES = ("torch.nn.modules.", "ultralytics.nn.modules.")
DATA_MODULES = ("ultralytics.nn.distill_model", "ultralytics.utils.loss", "ultralytics.utils.tal")
DATA_GLOBALS = {
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("ultralytics.utils", "IterableSimpleNamespace"),
    ("ultralytics.yolo.utils", "IterableSimpleNamespace"),
    ("pathlib", "PosixPath"),
    ("pathlib", "WindowsPath"),
    ("pathlib._local", "PosixPath"),
    ("pathlib._local", "WindowsPath"),
}


def detector_global_allowed(module: str, name: str) -> bool:
    """Whether a detector checkpoint may name `module.name` (a class, never a function or a module)."""
    if (module, name) in DATA_GLOBALS:
        return True
    if not name.isidentifier() or not name[:1].isupper():
        return False
    return (
        module in CLASS_MODULES
        or module in DATA_MODULES
        or (
            module.startswith(CLASS_PACKAGES)
            and module.count(".") == 3
            and module.rsplit(".", 1)[1].isidentifier()
        )
    )


class _Stub:
    """Stands in for any torch/ultralytics class in a detector checkpoint; it runs no code of theirs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._args = args

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (dict, slots)
            state = {**(state[0] or {}), **(state[1] or {})}
        if isinstance(state, dict):
            self.__dict__.update(state)


def _stub_getattr(obj: Any, name: str) -> Any:
    """Checkpoints pickle bound methods (`Detect.forward`) as getattr on a class: allowed on stubs only."""
    if isinstance(obj, _Stub) or (isinstance(obj, type) and issubclass(obj, _Stub)):
        return type(str(name), (_Stub,), {"__module__": "sim2real.stub"})
    raise CheckpointError(f"the checkpoint calls getattr on {type(obj).__name__}; it was not stored")


class _DetectorUnpickler(_ShapeUnpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in (("builtins", "set"), ("__builtin__", "set")):
            return set
        if (module, name) in (("builtins", "frozenset"), ("__builtin__", "frozenset")):
            return frozenset
        if (module, name) in (("builtins", "getattr"), ("__builtin__", "getattr")):
            return _stub_getattr
        if detector_global_allowed(module, name):
            return type(name, (_Stub,), {"__module__": "sim2real.stub"})
        if (module, name) in _ALLOWED or (module == "torch" and name.endswith("Storage")):
            return super().find_class(module, name)
        raise CheckpointError(
            f"the checkpoint names {module}.{name}, which no ultralytics detection checkpoint holds (a way "
            "for a file to run code); it was not stored: upload the .pt that ultralytics training wrote"
        )


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


def read_detector_tensors(data: bytes) -> dict[str, TensorInfo]:
    """Every tensor of an ultralytics `.pt`'s model (`ema` or `model`), by its module path, read without
    executing it: `read_tensor_values` then gives their values (to refuse NaN or a zeroed file)."""
    archive, pkl = open_checkpoint(data)
    try:
        ckpt = _DetectorUnpickler(io.BytesIO(read_capped_member(archive, pkl))).load()
    except CheckpointError:
        raise
    except Exception as exc:
        raise CheckpointError(f"could not read the checkpoint ({type(exc).__name__}: {exc})") from exc
    model = (ckpt.get("ema") or ckpt.get("model")) if isinstance(ckpt, dict) else None
    found: dict[str, TensorInfo] = {}
    seen: set[int] = set()

    def walk(obj: Any, path: str) -> None:
        if isinstance(obj, TensorInfo):
            found.setdefault(path, obj)
            return
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, _Stub):
            obj = {k: v for k, v in vars(obj).items() if k != "_args"}
        if isinstance(obj, dict):
            for key, value in obj.items():
                # torch keeps a module's tensors and children under these; their keys make the path
                part = "" if key in ("_parameters", "_buffers", "_modules") else str(key)
                walk(value, ".".join(p for p in (path, part) if p))
        elif isinstance(obj, list | tuple):
            for i, value in enumerate(obj):
                walk(value, f"{path}.{i}" if path else str(i))

    walk(model, "")
    if not found:
        raise CheckpointError("not an ultralytics detection checkpoint: its model holds no tensors")
    return found
