"""Portability of the embedded default: the llama.cpp crash probe and the wheel cache key.

The probe tests build nothing: a child that kills itself with SIGILL stands in for a wheel that
this CPU can't run, and the real probe runs on the real SmolLM2 model.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from hypodisc.backends.llamacpp_probe import (
    LlamaCppCrashError,
    ensure_llamacpp_runs,
    probe_command,
    run_probe,
    wheel_fingerprint,
)

from conftest import HOME, REPO

SIGILL_CHILD = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGILL)"]


def _llama_wheel():
    spec = importlib.util.spec_from_file_location("llama_wheel", REPO / "scripts" / "llama_wheel.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- the probe ------------------------------------------------------------------------------------
def test_a_child_dying_by_sigill_becomes_one_clear_error():
    with pytest.raises(LlamaCppCrashError) as info:
        run_probe(SIGILL_CHILD)
    assert "SIGILL" in info.value.message and "illegal instruction" in info.value.message
    assert "GGML_NATIVE=OFF" in info.value.fix and "\n" not in info.value.message


def test_other_signals_and_failures_are_named():
    with pytest.raises(LlamaCppCrashError, match="SIGSEGV"):
        run_probe([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"])
    with pytest.raises(LlamaCppCrashError, match="exit code 7: bad gguf"):
        run_probe([sys.executable, "-c", "import sys; print('bad gguf', file=sys.stderr); sys.exit(7)"])


def test_cli_turns_a_probe_crash_into_an_error_line_and_exit_2(tmp_path):
    """The real CLI entry point, with the probe child replaced by one that dies of SIGILL."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(HOME / "models")  # the installed models, but an empty probe cache
    code = ("import sys, hypodisc.backends.llamacpp_probe as p; "
            f"p.probe_command = lambda path: {SIGILL_CHILD!r}; "
            "from hypodisc.cli import main; "
            f"sys.argv = ['hypodisc', 'backend-check', '--model', 'smollm2-135m', '--home', {str(home)!r}]; main()")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd="/tmp")
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    assert "error:" in res.stderr and "SIGILL" in res.stderr and "Traceback" not in res.stderr
    assert not (home / "probes").exists() or not list((home / "probes").iterdir())  # a crash is never remembered


def test_real_probe_passes_and_is_remembered_per_wheel_and_host(store, tmp_path):
    import hypodisc.backends.llamacpp_probe as probe

    model = store.resolve("smollm2-135m")
    run_probe(probe_command(model))  # the real child: load + prefill + one decode step
    probe._passed_in_process.clear()
    assert ensure_llamacpp_runs(model, tmp_path) == "probed"
    stamps = list(tmp_path.glob("llamacpp-*.json"))
    assert [s.name for s in stamps] == [f"llamacpp-{wheel_fingerprint()}.json"]
    probe._passed_in_process.clear()
    assert ensure_llamacpp_runs(model, tmp_path) == "cached"  # from disk, as a new process would


def test_models_verify_reports_the_probe():
    from conftest import run_cli

    res = run_cli("models", "verify", "smollm2-135m")
    assert res.returncode == 0, res.stderr
    assert "llama.cpp: runs this model on this CPU" in res.stdout


# -- the wheel cache key --------------------------------------------------------------------------
def _record(cache: Path, folder_spec: dict, recorded: dict, lw) -> Path:
    folder = cache / f"llama_cpp_python-{folder_spec['version']}-{lw.cache_key(folder_spec)}"
    folder.mkdir(parents=True)
    (folder / "build.json").write_text(json.dumps(recorded))
    wheel = folder / "llama_cpp_python-0.3.36-cp311-cp311-linux_x86_64.whl"
    wheel.write_bytes(b"not really a wheel")
    return wheel


def test_a_wheel_recorded_with_the_same_flags_is_reused(tmp_path):
    lw = _llama_wheel()
    spec = lw.build_spec(native=False)
    wheel = _record(tmp_path, spec, spec, lw)
    assert lw.cached_wheel(tmp_path, spec) == wheel


def test_a_wheel_recorded_with_other_build_flags_is_rebuilt(tmp_path):
    lw = _llama_wheel()
    portable = lw.build_spec(native=False)
    native = lw.build_spec(native=True)
    _record(tmp_path, native, native, lw)  # a native build in the same cache
    assert lw.cached_wheel(tmp_path, portable) is None
    # A folder that claims our key but records other flags (copied, or hand-edited) is not trusted.
    other = dict(portable, cmake_args=portable["cmake_args"] + " -DGGML_AVX512=ON")
    _record(tmp_path, portable, other, lw)
    assert lw.cached_wheel(tmp_path, portable) is None
    # The script itself says it will build, not reuse.
    res = subprocess.run([sys.executable, str(REPO / "scripts" / "llama_wheel.py"), "--cache-dir", str(tmp_path),
                          "--dry-run"], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert res.returncode == 0 and res.stdout.startswith("build "), res.stdout + res.stderr


def test_an_unkeyed_wheel_from_the_old_layout_is_not_reused(tmp_path):
    lw = _llama_wheel()
    (tmp_path / "llama_cpp_python-0.3.36-cp311-cp311-linux_x86_64.whl").write_bytes(b"native, from before")
    assert lw.cached_wheel(tmp_path, lw.build_spec(native=False)) is None


def test_a_native_wheel_is_keyed_by_the_cpu_it_was_built_on(tmp_path):
    lw = _llama_wheel()
    here = lw.build_spec(native=True)
    elsewhere = dict(here, cpu_flags=sorted(set(here["cpu_flags"]) | {"amx_tile", "avx512f"}))
    if elsewhere == here:
        elsewhere["cpu_flags"] = here["cpu_flags"][:-1]
    assert lw.cache_key(here) != lw.cache_key(elsewhere)
    _record(tmp_path, elsewhere, elsewhere, lw)
    assert lw.cached_wheel(tmp_path, here) is None


def test_the_portable_build_asks_for_no_avx512_and_no_amx():
    lw = _llama_wheel()
    args = lw.PORTABLE_CMAKE_ARGS.split()
    assert "-DGGML_NATIVE=OFF" in args and "-DGGML_AVX2=ON" in args
    assert {"-DGGML_AVX512=OFF", "-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF"} <= set(args)
    assert "cpu_flags" not in lw.build_spec(native=False)  # portable wheels travel between hosts
