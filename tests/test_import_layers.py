"""Every module of the package imports only its own layer or lower ones, and none touches sys.path.

Read from the source with ``ast`` (nothing is imported), so a lazy import inside a function, a
``TYPE_CHECKING`` block or ``importlib.import_module("hypodisc....")`` counts the same as a top-level one.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast  # no model: `make test-fast`

REPO = Path(__file__).resolve().parents[1]

#: Lowest first. A module may import its own layer and any below it, never one above. The bare
#: ``hypodisc`` is the package's __init__ only; every other module must fall under an entry here.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("hypodisc", "hypodisc.errors", "hypodisc.progress", "hypodisc.config", "hypodisc.files",
              "hypodisc.lazy_exports")),
    ("backends", ("hypodisc.backends",)),
    ("datasets", ("hypodisc.datasets",)),
    ("proposers and verifiers", ("hypodisc.proposers", "hypodisc.verifiers")),
    ("workflows", ("hypodisc.workflows",)),
    ("entry points", ("hypodisc.service", "hypodisc.cli", "hypodisc.cli_workflows", "hypodisc.cli_demo",
                      "hypodisc.cli_features", "hypodisc.cli_graphs", "hypodisc.client")),
]

#: Attributes of ``sys`` that steer where imports come from; the package must leave them alone.
IMPORT_PATH_ATTRS = {"path", "meta_path", "path_hooks", "path_importer_cache"}


def layer_of(module: str) -> int | None:
    """Index into LAYERS of the longest entry naming ``module`` or a package above it; None if unplaced."""
    best, rank = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            hit = module == p or (p != "hypodisc" and module.startswith(p + "."))
            if hit and len(p) > best:
                best, rank = len(p), i
    return rank


def package_modules() -> dict[str, Path]:
    """module name -> source file, for every package folder pyproject.toml installs."""
    dirs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    out = {}
    for package, folder in dirs.items():
        for path in sorted((REPO / folder).glob("*.py")):
            out[package if path.stem == "__init__" else f"{package}.{path.stem}"] = path
    return out


def _imported(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """hypodisc modules (or module.attribute names) that ``node`` imports."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:  # relative: resolve against this module's package
            parts = module.split(".") if is_package else module.split(".")[:-1]
            base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        return [f"{base}.{a.name}" if layer_of(f"{base}.{a.name}") is not None else base for a in node.names]
    if (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and ast.unparse(node.func) in {"importlib.import_module", "import_module", "__import__"}):
        return [node.args[0].value]
    return []


def problems(source: str, module: str, is_package: bool = False) -> list[str]:
    """Upward imports and sys.path changes in one module's source, one line each."""
    tree = ast.parse(source)
    own = layer_of(module)
    sys_names = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.Import)
                 for a in n.names if a.name == "sys"}
    found = []
    for node in ast.walk(tree):
        where = f"{module}:{getattr(node, 'lineno', '?')}"
        for target in _imported(node, module, is_package):
            rank = layer_of(target)
            if target.split(".")[0] == "hypodisc" and rank is not None and own is not None and rank > own:
                found.append(f"{where} imports {target} ({LAYERS[rank][0]}) from {LAYERS[own][0]}")
        if (isinstance(node, ast.Attribute) and node.attr in IMPORT_PATH_ATTRS
                and isinstance(node.value, ast.Name) and node.value.id in sys_names):
            found.append(f"{where} touches sys.{node.attr}")
        if isinstance(node, ast.ImportFrom) and node.module == "sys" and \
                any(a.name in IMPORT_PATH_ATTRS for a in node.names):
            found.append(f"{where} imports sys.path machinery")
        if isinstance(node, ast.Call) and ast.unparse(node.func) in {"site.addsitedir", "addsitedir"}:
            found.append(f"{where} calls site.addsitedir")
    return found


def test_every_module_has_a_layer():
    modules = package_modules()
    assert "hypodisc.verifiers.embedding" in modules and "hypodisc.cli" in modules
    assert [m for m in modules if layer_of(m) is None] == []


def test_no_upward_imports_and_no_sys_path_changes():
    found = [p for name, path in package_modules().items()
             for p in problems(path.read_text(), name, path.stem == "__init__")]
    assert found == [], "\n".join(found)


def test_the_checker_flags_planted_violations():
    bad = ("import sys\n"
           "import sys as system\n"
           "from sys import path\n"
           "import site\n"
           "from hypodisc.errors import HypodiscError\n"          # down: fine
           "from hypodisc.backends.base import Chat\n"             # same layer: fine
           "from hypodisc.workflows.label_models import Metric\n"  # up
           "from hypodisc import cli\n"                            # up, spelled as a submodule
           "from ..service import app\n"                           # up, relative
           "def f():\n"
           "    import hypodisc.datasets.corpus\n"                 # up, lazily
           "    importlib.import_module('hypodisc.proposers.goal')\n"  # up, dynamically
           "    sys.path.insert(0, '.')\n"
           "    sys.path[:] = []\n"
           "    system.meta_path.append(None)\n"
           "    site.addsitedir('.')\n")
    found = problems(bad, "hypodisc.backends.planted")
    assert len(found) == 10, "\n".join(found)
    for needle in ("hypodisc.workflows.label_models.Metric (workflows) from backends", "hypodisc.cli (entry points)",
                   "hypodisc.service.app", "hypodisc.datasets.corpus", "hypodisc.proposers.goal",
                   ":3 imports sys.path machinery", ":13 touches sys.path", ":14 touches sys.path",
                   ":15 touches sys.meta_path", ":16 calls site.addsitedir"):
        assert any(needle in p for p in found), (needle, found)
    assert problems("from hypodisc.backends.base import Chat\n", "hypodisc.workflows.x") == []
    assert layer_of("hypodisc.not_placed") is None and layer_of("hypodisc") == 0
