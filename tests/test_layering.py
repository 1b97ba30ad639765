"""Imports point one way: wire/auth are pure, store is the only SQLAlchemy user, the SDK never
needs the server's packages. Checked by reading every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "src" / "relaybox"

# layer -> relaybox layers it may import
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "types": set(),
    "config": {"errors", "wire", "auth"},
    "wire": {"errors", "wire"},
    "auth": {"errors", "wire", "auth"},
    "store": {"errors", "wire", "auth", "config", "store"},
    "notify": {"errors", "config", "notify"},
    "exchange": {"errors", "wire", "auth", "config", "store", "notify", "exchange"},
    # The package's __init__ and signature module are the SDK half (pure); its delivery
    # workers are server code.
    "webhooks": {"errors", "wire", "auth", "config", "store", "notify", "exchange", "webhooks", "__init__"},
    "api": {"errors", "wire", "auth", "config", "store", "notify", "exchange", "webhooks", "api"},
    "client": {"errors", "wire", "auth", "client"},
    "cli": {
        "errors",
        "wire",
        "auth",
        "config",
        "store",
        "notify",
        "exchange",
        "webhooks",
        "api",
        "client",
        "cli",
        "__init__",
    },
    "__init__": {"client", "errors"},
    "__main__": {"cli"},
}
SERVER_ONLY = {
    "sqlalchemy",
    "alembic",
    "starlette",
    "uvicorn",
    "aiosqlite",
    "pydantic",
    "pydantic_settings",
    "multipart",
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            if node.module == "relaybox":
                names.update(f"relaybox.{a.name}" for a in node.names)
    return names


def _layer(path: Path) -> str:
    rel = path.relative_to(PKG)
    return rel.parts[0].removesuffix(".py")


def test_imports_point_one_way() -> None:
    problems = []
    for path in PKG.rglob("*.py"):
        layer = _layer(path)
        for name in _imports(path):
            if name == "relaybox" or not name.startswith("relaybox."):
                continue
            target = name.split(".")[1]
            if target == "__version__":
                continue
            if target not in ALLOWED[layer]:
                problems.append(f"{path.relative_to(PKG)} imports {name}")
    assert problems == []


def test_only_store_uses_sqlalchemy_and_sdk_needs_no_server_packages() -> None:
    for path in PKG.rglob("*.py"):
        layer = _layer(path)
        roots = {name.split(".")[0] for name in _imports(path)}
        if layer != "store":
            assert not roots & {"sqlalchemy", "alembic", "aiosqlite"}, path
        if layer in ("wire", "auth", "client", "errors"):
            assert not roots & SERVER_ONLY, path
