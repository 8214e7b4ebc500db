"""The design card: one import name, folders installed as hypodisc.* subpackages, nothing shadows HF datasets."""

import importlib
import subprocess
import sys
from importlib import metadata


def test_subpackages_import():
    for name in ("service", "proposers", "verifiers", "datasets", "backends", "workflows"):
        mod = importlib.import_module(f"hypodisc.{name}")
        assert mod.__doc__


def test_no_top_level_datasets_package_is_installed():
    top = (metadata.distribution("hypodisc").read_text("top_level.txt") or "hypodisc").split()
    assert "datasets" not in top
    # From a neutral directory, `import datasets` must not resolve to our folder.
    code = "import importlib.util as u; s = u.find_spec('datasets'); print(s.origin if s else 'none')"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/tmp")
    origin = res.stdout.strip()
    assert origin == "none" or "site-packages" in origin, origin


def test_embedder_loads_with_the_repo_root_on_sys_path():
    """`python -c` from the checkout puts our datasets/ folder first on sys.path: the embedder still loads,
    leaves sys.path alone and never imports a top-level `datasets` (ours would be the one found)."""
    from conftest import HOME, REPO

    code = ("import sys, pathlib; path = sys.path[:]; "
            "from hypodisc.verifiers.embedding import load_embedder; "
            f"e = load_embedder(pathlib.Path({str(HOME)!r})); print(e.encode(['hello']).shape); "
            "import importlib.util as u; print('shadow:', u.find_spec('datasets').origin); "
            "print('imported:', 'datasets' in sys.modules, 'path kept:', sys.path == path)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0 and "(1, 384)" in res.stdout, res.stderr[-2000:]
    assert f"shadow: {REPO / 'datasets' / '__init__.py'}" in res.stdout  # the shadow is really there
    assert "imported: False path kept: True" in res.stdout, res.stdout
