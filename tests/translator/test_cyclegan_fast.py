"""CPU backends of the CycleGAN Translator: each must match the eager module within 1e-3, and 'auto' must
fall back cleanly when a backend cannot be built or fails its self-check."""

import shutil

import numpy as np
import pytest
import torch

from services.translator.cyclegan import cpu_kernels, inference, openvino_backend
from services.translator.cyclegan.fast import FastResnetGenerator
from services.translator.cyclegan.inference import Translator
from services.translator.cyclegan.networks import ResnetGenerator, init_weights

torch.set_num_threads(2)

HAS_CXX = shutil.which("g++") is not None or shutil.which("c++") is not None
needs_cxx = pytest.mark.skipif(not HAS_CXX, reason="the fast backend builds C++ kernels with g++")
needs_openvino = pytest.mark.skipif(not openvino_backend.available(), reason="openvino is not installed")


def _generator(ngf: int = 8, n_blocks: int = 2, seed: int = 0) -> ResnetGenerator:
    torch.manual_seed(seed)
    g = ResnetGenerator(ngf=ngf, n_blocks=n_blocks)
    init_weights(g, gain=0.1)
    for m in g.modules():
        if isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d):
            torch.nn.init.normal_(m.bias, 0.0, 0.1)  # the fast path drops biases before instance norm
    return g.eval()


def _max_diff(forward, g: ResnetGenerator, x: torch.Tensor) -> float:
    with torch.inference_mode():
        return float((forward(x) - g(x)).abs().max())


@needs_cxx
@pytest.mark.parametrize(
    ("ngf", "n_blocks", "shape"),
    [
        (8, 2, (2, 3, 64, 100)),  # batch of 2; 16×25 residual maps: a partial last tile column
        (4, 1, (1, 3, 8, 8)),  # smallest model input: 2×2 residual maps, one tile
        (20, 1, (1, 3, 36, 52)),  # 80 channels: a full and a partial channel block; 9×13 maps
        (16, 3, (1, 3, 44, 28)),  # portrait, 11×7 maps
    ],
)
def test_winograd_blocks_match_eager(ngf: int, n_blocks: int, shape: tuple[int, ...]) -> None:
    g = _generator(ngf, n_blocks)
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(1)) * 2 - 1
    assert _max_diff(FastResnetGenerator(g, openvino=False), g, x) <= 1e-3


@needs_cxx
@pytest.mark.parametrize("chunk_tiles", [1, 5, 12])
def test_chunked_winograd_gives_the_same_result(chunk_tiles: int) -> None:
    # 100×76 input: 25×19 maps, 7×5 tiles; chunks of whole tile rows, the last one partial.
    g = _generator(8, 2)
    x = torch.rand(1, 3, 100, 76) * 2 - 1
    with torch.inference_mode():
        whole = FastResnetGenerator(g, openvino=False)(x)
        chunked = FastResnetGenerator(g, openvino=False, chunk_tiles=chunk_tiles)(x)
        assert (chunked - whole).abs().max() <= 1e-6
        assert (chunked - g(x)).abs().max() <= 1e-3


@needs_cxx
def test_winograd_with_scaled_residual_stream() -> None:
    # Large activations in the residual stream (strong weights) must not cost accuracy: no fixed scaling.
    g = _generator(8, 3)
    with torch.no_grad():
        for m in g.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.mul_(20)
    x = torch.rand(1, 3, 48, 40) * 2 - 1
    assert _max_diff(FastResnetGenerator(g, openvino=False), g, x) <= 1e-3


@needs_cxx
def test_generator_without_residual_blocks() -> None:
    g = _generator(8, 0)
    x = torch.rand(1, 3, 16, 24) * 2 - 1
    assert _max_diff(FastResnetGenerator(g, openvino=False), g, x) <= 1e-5


@needs_cxx
@needs_openvino
def test_fast_with_openvino_head_and_tail_matches_eager() -> None:
    g = _generator(8, 2)
    fast = FastResnetGenerator(g)
    assert fast.uses_openvino
    for shape in [(1, 3, 36, 52), (2, 3, 20, 64)]:  # dynamic shapes: one compilation serves both
        x = torch.rand(*shape) * 2 - 1
        assert _max_diff(fast, g, x) <= 1e-3


@needs_openvino
def test_openvino_backend_matches_eager_on_odd_sizes() -> None:
    g = _generator(8, 2)
    t = Translator(g, backend="openvino")
    assert t.backend == "openvino"
    for shape in [(1, 3, 36, 52), (2, 3, 8, 12)]:
        x = torch.rand(*shape) * 2 - 1
        assert _max_diff(t.run_model, g, x) <= 1e-3
    img = (np.random.default_rng(0).random((45, 70, 3)) * 255).astype(np.uint8)
    a = Translator(g).translate([img])[0]
    b = t.translate([img])[0]
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


@needs_cxx
def test_auto_picks_fast_when_it_builds() -> None:
    g = _generator(4, 1)
    t = Translator(g, backend="auto")
    assert t.backend == "fast"
    x = torch.rand(1, 3, 24, 32) * 2 - 1
    assert _max_diff(t.run_model, g, x) <= 1e-3


def test_auto_falls_back_to_eager_when_nothing_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_compiler() -> None:
        raise cpu_kernels.KernelBuildError("no C++ compiler found")

    monkeypatch.setattr(cpu_kernels, "load", no_compiler)
    monkeypatch.setattr(openvino_backend, "available", lambda: False)
    g = _generator(4, 1)
    t = Translator(g, backend="auto")
    assert t.backend == "eager" and t._fast is None
    img = np.zeros((20, 30, 3), np.uint8)
    (out,) = t.translate([img])
    assert out.shape == img.shape
    fast = Translator(g, backend="fast")  # callers that always asked for 'fast' keep working
    assert fast.backend == "eager" and fast._fast is None
    with pytest.raises(cpu_kernels.KernelBuildError):
        FastResnetGenerator(g)
    with pytest.raises(RuntimeError, match="openvino"):
        Translator(g, backend="openvino")


def test_auto_rejects_a_backend_that_fails_its_self_check(monkeypatch: pytest.MonkeyPatch) -> None:
    class Wrong:
        def __init__(self, generator: ResnetGenerator) -> None:
            self.generator = generator

        def __call__(self, x: torch.Tensor) -> torch.Tensor:
            return self.generator(x) + 0.01

    real_build = inference.build_backend

    def build(generator: ResnetGenerator, backend: str):
        return Wrong(generator) if backend == "fast" else real_build(generator, backend)

    monkeypatch.setattr(inference, "build_backend", build)
    monkeypatch.setattr(openvino_backend, "available", lambda: False)
    t = Translator(_generator(4, 1), backend="auto")
    assert t.backend == "eager"


def test_kernel_build_reports_a_missing_compiler(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setattr("services.translator.native.shutil.which", lambda name: None)
    with pytest.raises(cpu_kernels.KernelBuildError, match="g\\+\\+"):
        cpu_kernels._build(tmp_path / "k.so")
    assert not (tmp_path / "k.so").exists()


@needs_cxx
def test_kernel_build_writes_the_library(tmp_path) -> None:
    lib = tmp_path / "cache" / "k.so"
    cpu_kernels._build(lib)
    assert lib.exists() and lib.stat().st_size > 0
    assert [p.name for p in lib.parent.iterdir()] == ["k.so"]  # no temporary files left behind


def test_cuda_device_always_runs_eager() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    t = Translator(_generator(4, 1), device="cuda", backend="fast")
    assert t.backend == "eager" and t._fast is None


def test_kernel_cache_lives_in_the_service_home(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("SIM2REAL_KERNEL_CACHE", raising=False)
    monkeypatch.setenv("SIM2REAL_HOME", str(tmp_path))
    assert cpu_kernels.cache_dir() == tmp_path / "cache" / "kernels"
    monkeypatch.setenv("SIM2REAL_KERNEL_CACHE", str(tmp_path / "k"))
    assert cpu_kernels.cache_dir() == tmp_path / "k"
