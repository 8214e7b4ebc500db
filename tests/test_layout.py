"""The design card: one import name, folders installed as hypodisc.* subpackages, nothing shadows HF datasets."""

import importlib
import subprocess
import sys
from importlib import metadata


def test_subpackages_import():
    for name in ("service", "proposers", "verifiers", "datasets", "backends"):
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
