"""One definition of the API's answers: the API's schemas are the client's models, and the client has a
method for every public route."""

from __future__ import annotations

import ast
import tempfile
from pathlib import Path

import sim2real.models
from services.api import schemas
from services.api.main import create_app
from services.common.core.settings import Settings

CLIENT = Path(sim2real.models.__file__).with_name("client.py")
# Pages and assets of the web app and the API docs: not part of the API a client calls.
NOT_API = ("/", "/docs", "/redoc", "/openapi.json", "/static", "/docs/oauth2-redirect")


def test_the_api_serves_the_shared_models() -> None:
    for name in schemas.__all__:
        value = getattr(schemas, name)
        if isinstance(value, type):
            assert value is getattr(sim2real.models, name), name


def _api_routes() -> set[tuple[str, str]]:
    """Every operation of the API's OpenAPI schema, but the web app's pages and the docs."""
    schema = create_app(Settings(home=tempfile.mkdtemp())).openapi()
    return {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        if path not in NOT_API and not path.startswith("/static")
        for method in operations
        if method in ("get", "post", "delete", "put", "patch")
    }


def client_calls() -> set[tuple[str, str]]:
    """(method, route template) of every call the client makes: the first two arguments of its request
    helpers, the route a literal (or a literal filled by `_fill`)."""
    calls = set()
    for node in ast.walk(ast.parse(CLIENT.read_text())):
        if not (isinstance(node, ast.Call) and len(node.args) >= 2):
            continue
        method, route = node.args[:2]
        if isinstance(route, ast.Call) and isinstance(route.func, ast.Name) and route.func.id == "_fill":
            route = route.args[0]
        if (
            isinstance(method, ast.Constant)
            and isinstance(route, ast.Constant)
            and str(route.value).startswith("/")
        ):
            calls.add((method.value, route.value))
    return calls


def test_the_client_calls_every_public_route() -> None:
    routes = _api_routes()
    assert len(routes) > 40, routes
    called = client_calls()
    missing = routes - called
    assert not missing, f"routes without a client method: {sorted(missing)}"
    assert not called - routes, f"client calls of routes the API lacks: {sorted(called - routes)}"
