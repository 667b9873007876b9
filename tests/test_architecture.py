"""The layout's rules, checked on the source: no import cycles, an API that imports no worker package, and
translation methods named only in their own package and their spec."""

from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

from services.common import methods

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ROOT / "services"
WORKER_PACKAGES = ("services.translator", "services.detector", "services.evaluator")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in SERVICES.rglob("*.py")}


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every services module `path` imports, from any import statement: top level, inside functions and
    under TYPE_CHECKING alike."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import mod` imports the module pkg.mod; `from mod import name` imports mod.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target.startswith("services.") and target != name:
                found.add(target)
    return found


def test_no_import_cycles() -> None:
    modules = all_modules()
    graph = {name: imports_of(path, modules) for name, path in modules.items()}
    # Tarjan's strongly connected components: any component of two or more modules is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_the_api_imports_no_worker_package() -> None:
    modules = all_modules()
    offenders = {
        name: sorted(i for i in imports_of(path, modules) if i.startswith(WORKER_PACKAGES))
        for name, path in modules.items()
        if name.startswith("services.api")
    }
    assert not {k: v for k, v in offenders.items() if v}
    # And at run time: building the app and its schema pulls in no worker package and no torch.
    code = (
        "import sys\n"
        "from services.api.main import create_app\n"
        "from services.common.core.settings import Settings\n"
        "import tempfile\n"
        "create_app(Settings(home=tempfile.mkdtemp())).openapi()\n"
        f"bad = [m for m in sys.modules if m.startswith({WORKER_PACKAGES!r}) or m in ('torch', 'cv2')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def _words(token: str) -> set[str]:
    """The words of an identifier or string: split at non-letters, underscores and camelCase."""
    parts = re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+", token)
    return {p.lower() for p in parts}


def _docstring_starts(source: str) -> set[tuple[int, int]]:
    starts = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    starts.add((body[0].lineno, body[0].col_offset))
    return starts


def names_in_code(path: Path, name: str) -> list[str]:
    """Where `name` appears in `path` outside comments and docstrings, as 'file:line: token'."""
    source = path.read_text()
    docstrings = _docstring_starts(source)
    hits = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.STRING and tok.start in docstrings:
            continue
        if tok.type not in (tokenize.NAME, tokenize.STRING) and tok.type != getattr(
            tokenize, "FSTRING_MIDDLE", -1
        ):
            continue
        text = tok.string
        # Long names are matched inside words too (CycleGANParams); short ones only as whole words.
        if (len(name) >= 5 and name in text.lower()) or name in _words(text):
            hits.append(f"{path.relative_to(ROOT)}:{tok.start[0]}: {text[:60]}")
    return hits


JS_TOKENS = re.compile(r"\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`|[A-Za-z_$][A-Za-z0-9_$]*")


def names_in_js(path: Path, name: str) -> list[str]:
    """Where `name` appears in a JavaScript file's code (comments aside), as 'file:line: token'."""
    source = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), path.read_text(), flags=re.S)
    hits = []
    for lineno, line in enumerate(source.splitlines(), start=1):
        code = re.sub(r"(^|[^:])//.*$", r"\1", line)  # a line comment (not a URL's //)
        for token in JS_TOKENS.findall(code):
            if (len(name) >= 5 and name in token.lower()) or name in _words(token):
                hits.append(f"{path.relative_to(ROOT)}:{lineno}: {token[:60]}")
    return hits


def test_a_method_is_named_only_in_its_own_package_and_its_spec() -> None:
    registry = methods.registry()
    assert registry, "no methods registered"
    stray = []
    for name, spec in registry.items():
        own_package = ROOT / Path(*spec.package.split("."))
        spec_file = ROOT / Path(*methods.spec_module(name).split(".")).with_suffix(".py")
        for path in SERVICES.rglob("*.py"):
            if path == spec_file or own_package in path.parents:
                continue
            stray += names_in_code(path, name)
        for path in SERVICES.rglob("*.js"):
            stray += names_in_js(path, name)
    assert not stray, "method names outside their package and spec:\n" + "\n".join(stray)


def test_the_name_check_finds_names_in_code_but_not_in_docstrings(tmp_path) -> None:
    sample = SERVICES / "_name_check_sample.py"
    sample.write_text(
        '"""cyclegan in a docstring"""\n# cyclegan in a comment\nX = "use cyclegan"\nNSTParams = 1\n'
    )
    try:
        assert [h.split(": ", 1)[1] for h in names_in_code(sample, "cyclegan")] == ['"use cyclegan"']
        assert [h.split(": ", 1)[1] for h in names_in_code(sample, "nst")] == ["NSTParams"]
    finally:
        sample.unlink()
    js = SERVICES / "_name_check_sample.js"
    js.write_text(
        '// cyclegan in a comment\n/* cyclegan\n here */ const u = "https://x//y";\nif (r.method === "cyclegan") {}\n'
    )
    try:
        assert [h.split(": ", 1)[1] for h in names_in_js(js, "cyclegan")] == ['"cyclegan"']
    finally:
        js.unlink()


CLIENT_PACKAGE = ROOT / "sim2real"
CLIENT_FORBIDDEN = ("services", "torch", "torchvision", "fastapi", "sqlalchemy", "celery", "starlette")


def test_the_client_package_imports_no_server_code() -> None:
    """sim2real/ (client, command, demo data, shared models) installs and runs without the service: no
    services package, torch, FastAPI, SQLAlchemy or Celery, at any import statement."""
    stray = []
    for path in CLIENT_PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            stray += [
                f"{path.relative_to(ROOT)}:{node.lineno}: {n}"
                for n in names
                if n.split(".")[0] in CLIENT_FORBIDDEN
            ]
    assert not stray, stray


def test_the_api_takes_only_the_shared_models_from_the_client_package() -> None:
    modules = all_modules()
    users = {}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sim2real"):
                users.setdefault(name, set()).add(node.module)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("sim2real"):
                        users.setdefault(name, set()).add(alias.name)
    assert users == {"services.api.schemas": {"sim2real.models"}}, users
