"""The C++ kernel sources are package files: found with importlib.resources, shipped in the wheel, and
hashed with their headers into the cache key. No C++ is left inside Python strings."""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from services.translator import native
from services.translator.cyclegan import cpu_kernels
from services.translator.native import CppSource, KernelBuildError, kernel_threads
from services.translator.quality import gradients
from services.translator.weather import kernels

ROOT = Path(__file__).resolve().parents[2]
# Every source the builder compiles.
SOURCES = {"weather": kernels._SOURCE, "cyclegan": cpu_kernels._SOURCE, "audit": gradients._SOURCE}
HAS_CXX = shutil.which("g++") is not None or shutil.which("c++") is not None


def _package_data_patterns() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    return config["*"]


@pytest.mark.parametrize("kernel", sorted(SOURCES))
def test_every_kernel_file_is_package_data(kernel: str) -> None:
    files = SOURCES[kernel].files()
    assert [f.name for f in files][1:] == ["parallel.hpp"]  # the shared parallel-for, from the include path
    for f in files:
        assert (ROOT / f.label).is_file(), f"{f.label} is not where its package is"
        assert any(fnmatch.fnmatch(f.name, p) for p in _package_data_patterns()), f"{f.label} is not shipped"


@pytest.mark.parametrize("kernel", sorted(SOURCES))
def test_the_compiled_text_has_the_header_inlined_once(kernel: str) -> None:
    text = SOURCES[kernel].text()
    assert text.count("template <class F> static void parallel(") == 1
    assert not [line for line in text.splitlines() if line.lstrip().startswith('#include "')]
    assert text.startswith(f'#line 1 "{SOURCES[kernel].label}"\n')


def _write_package(root: Path, name: str, files: dict[str, str]) -> None:
    package = root / name
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    for file, text in files.items():
        (package / file).write_text(text)


def test_a_header_change_changes_the_cache_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_package(tmp_path, "kern_main", {"main.cpp": '#include "shared.hpp"\nint f() { return g(); }\n'})
    _write_package(tmp_path, "kern_shared", {"shared.hpp": "static int g() { return 1; }\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    source = CppSource("kern_main", "main.cpp", include=("kern_shared",))
    flags = ["-O3"]

    before = native.cache_key(source.text(), flags, "cpu")
    assert native.cache_key(source.text(), flags, "cpu") == before  # stable
    (tmp_path / "kern_shared" / "shared.hpp").write_text("static int g() { return 2; }\n")
    after = native.cache_key(source.text(), flags, "cpu")
    assert after != before
    assert native.cache_key(source.text(), ["-O2"], "cpu") != after
    assert native.cache_key(source.text(), flags, "other cpu") != after


def test_a_header_beside_the_source_wins_over_the_include_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_package(tmp_path, "kern_own", {"main.cpp": '#include "h.hpp"\n', "h.hpp": "// own\n"})
    _write_package(tmp_path, "kern_lib", {"h.hpp": "// shared\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    text = CppSource("kern_own", "main.cpp", include=("kern_lib",)).text()
    assert "// own" in text and "// shared" not in text


def test_missing_files_are_kernel_build_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A KernelBuildError, like a missing compiler: the callers fall back to numpy/torch.
    _write_package(tmp_path, "kern_broken", {"main.cpp": '#include "absent.hpp"\n'})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(KernelBuildError, match="absent.hpp"):
        CppSource("kern_broken", "main.cpp").text()
    with pytest.raises(KernelBuildError, match="gone.cpp"):
        native.load_library("gone", CppSource("kern_broken", "gone.cpp"), ["-O3"], "test kernels")


@pytest.mark.skipif(not HAS_CXX, reason="builds C++ with g++")
def test_the_library_is_built_from_the_package_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_package(tmp_path, "kern_lib2", {"answer.hpp": "static int answer() { return 42; }\n"})
    _write_package(
        tmp_path,
        "kern_ok",
        {"main.cpp": '#include "answer.hpp"\nextern "C" int get() { return answer(); }\n'},
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("SIM2REAL_KERNEL_CACHE", str(tmp_path / "cache"))
    source = CppSource("kern_ok", "main.cpp", include=("kern_lib2",))
    dll = native.load_library("ok", source, ["-O1", "-shared", "-fPIC"], "test kernels")
    assert dll.get() == 42
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [
        f"ok_{native.cache_key(source.text(), ['-O1', '-shared', '-fPIC'], native.cpu_key())}.so"
    ]


def test_no_cpp_inside_python_sources() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "services").rglob("*.py"))
        if any(marker in path.read_text(encoding="utf-8") for marker in ("#include <", 'extern "C"'))
    ]
    assert not offenders, f"C++ belongs in .cpp/.hpp files, found some in {offenders}"


def test_the_wheel_ships_the_kernel_sources(tmp_path: Path) -> None:
    # Built from a copy: setuptools writes build/ and *.egg-info beside pyproject.toml.
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "pyproject.toml", project)
    shutil.copytree(ROOT / "services", project / "services", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            "dist",
            "./project",
        ],
        cwd=tmp_path,
        check=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "dist").glob("sim2real-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for source in SOURCES.values():
        for f in source.files():
            assert f.label in names, f"{f.label} is missing from the wheel"
    # Read from the wheel itself (zipimport: no real folder), the text and so the cache key are the same.
    probe = (
        "import sys, services; from services.translator.native import CppSource; "
        "assert services.__file__.startswith(sys.argv[1]), services.__file__; "
        "print(CppSource('services.translator.weather', 'kernels.cpp').text(), end='')"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(wheel)],
        cwd=tmp_path,
        env={"PYTHONPATH": str(wheel)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out == kernels._SOURCE.text()


@pytest.mark.parametrize(
    ("omp", "requested", "expected"),
    [(None, None, 2), ("1", None, 1), ("8", None, 2), ("junk", None, 2), ("1", 3, 3), (None, 0, 1)],
)
def test_kernels_keep_to_a_workers_thread_cap(
    omp: str | None, requested: int | None, expected: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker capped at one thread (SIM2REAL_THREADS=1 sets OMP_NUM_THREADS) runs its kernels in its own
    thread; an explicit count wins."""
    if omp is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", omp)
    assert kernel_threads(requested) == expected
