"""The package map holds: layers import downwards only, and every package says what it holds.

- ``gateway.core`` (the value types) imports nothing else of the gateway;
- the gateway never imports ``loadtest`` or the development parts of ``serving`` (the
  simulator, the local engine, the demo): those plug into its CLI from outside;
- no two of the gateway's packages import each other (checked on module-level imports);
- each package's docstring names every one of its modules (the map a newcomer reads).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEV_ONLY = ("loadtest", "serving.simulator", "serving.local_engine", "serving.demo")


def _imports(path: Path) -> set[str]:
    """Modules imported at module level (imports inside functions are deliberate delays)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.If):  # `if TYPE_CHECKING:` blocks are for the type checker
            continue
    return found


def _every_import(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


GATEWAY = sorted((ROOT / "gateway").rglob("*.py"))


def test_the_core_imports_nothing_of_the_gateway_above_it() -> None:
    for path in (ROOT / "gateway" / "core").glob("*.py"):
        above = {m for m in _every_import(path) if m.startswith("gateway.")}
        assert all(m.startswith("gateway.core") for m in above), (path.name, above)


def test_the_gateway_imports_no_development_code() -> None:
    for path in GATEWAY:
        used = {m for m in _every_import(path) if m.startswith(DEV_ONLY)}
        assert not used, (_module(path), used)


def test_no_two_gateway_packages_import_each_other() -> None:
    def package(module: str) -> str:
        parts = module.split(".")
        return ".".join(parts[:2])

    edges: dict[str, set[str]] = defaultdict(set)
    for path in GATEWAY:
        source = package(_module(path))
        for target in _imports(path):
            if target.startswith("gateway.") and package(target) != source:
                edges[source].add(package(target))
    both = {tuple(sorted((a, b))) for a in edges for b in edges[a] if a in edges.get(b, ())}
    assert sorted(both) == []


PACKAGES = sorted(
    p.parent
    for root in ("gateway", "policies", "serving")
    for p in (ROOT / root).rglob("__init__.py")
    if "__pycache__" not in p.parts
)


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_each_package_docstring_maps_its_modules(package: Path) -> None:
    doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or ""
    modules = [p.name for p in package.glob("*.py") if p.name != "__init__.py"]
    modules += [f"{p.name}/" for p in package.iterdir() if (p / "__init__.py").exists()]
    missing = [m for m in modules if m not in doc and m.removesuffix("/") not in doc]
    assert not missing, f"{package.relative_to(ROOT)}: its docstring does not name {missing}"
