"""A crash probe for llama.cpp: load a model and decode a few tokens in a child process first.

Why: a llama-cpp-python wheel built for instructions this host will not run (a native build on an
AMX host whose sandbox refuses the tile state; a cached wheel from another CPU) kills the process
with SIGILL at the first matrix product: no exception, no message, just ``Illegal instruction``.
Running the same load in a child turns that into one :class:`LlamaCppCrashError` naming the cause
and the fix. A success is remembered per wheel and host, so the probe costs a second or two once.

Run as ``python -m hypodisc.backends.llamacpp_probe MODEL.gguf``: exit 0 and ``ok`` on success.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from hypodisc.errors import BackendUnavailableError, HypodiscError

PROBE_TIMEOUT_S = 300.0
_EXIT_NOT_INSTALLED = 3
_passed_in_process: set[str] = set()

REBUILD_FIX = ("rebuild the wheel portably: unset HYPODISC_LLAMA_NATIVE, then `rm -rf .venv` and run "
               "`make install` (scripts/llama_wheel.py builds with -DGGML_NATIVE=OFF and an AVX2 baseline)")


def not_installed(detail: str = "") -> BackendUnavailableError:
    return BackendUnavailableError(
        f"llama-cpp-python is not installed{f' ({detail})' if detail else ''}",
        fix="run `make install` (it builds and caches the wheel) or `pip install llama-cpp-python`")


class LlamaCppCrashError(HypodiscError):
    """llama.cpp died by a signal on this host: the wheel does not suit this CPU (or the model broke it)."""


def cpu_flags() -> str:
    """This host's CPU feature flags, sorted and space-separated ('' where /proc/cpuinfo is missing)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return " ".join(sorted(set(line.split(":", 1)[1].split())))
    except OSError:
        pass
    return ""


def wheel_fingerprint() -> str | None:
    """A key for the installed llama-cpp-python build and this host's CPU, without importing it.

    The package's native libraries (names, sizes, modification times) identify the build; the CPU
    flags identify the host. None when llama-cpp-python is not installed.
    """
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        return None
    pkg = Path(next(iter(spec.submodule_search_locations)))
    h = hashlib.sha256()
    for lib in sorted(pkg.rglob("*.so*")) + sorted(pkg.rglob("*.dll")) + sorted(pkg.rglob("*.dylib")):
        st = lib.stat()
        h.update(f"{lib.relative_to(pkg)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    h.update(cpu_flags().encode())
    return h.hexdigest()[:24]


def probe_command(model_path: Path) -> list[str]:
    return [sys.executable, "-m", "hypodisc.backends.llamacpp_probe", str(model_path)]


def describe_signal(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def run_probe(command: Sequence[str], timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Run the probe child; raise a one-line error if it dies by a signal, fails or hangs."""
    try:
        proc = subprocess.run(list(command), capture_output=True, text=True, timeout=timeout_s,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise LlamaCppCrashError(f"the llama.cpp probe did not finish in {timeout_s:.0f} s",
                                 fix="check that the machine is not overloaded; " + REBUILD_FIX) from None
    if proc.returncode == 0:
        return
    if proc.returncode == _EXIT_NOT_INSTALLED:
        raise not_installed(proc.stderr.strip()[-200:])
    if proc.returncode < 0:
        name = describe_signal(proc.returncode)
        if name == "SIGILL":
            cause = ("llama.cpp died with SIGILL (illegal instruction): the llama-cpp-python wheel uses CPU "
                     "instructions this host does not allow (a native build with AVX-512/AMX, or a wheel built "
                     "on another CPU)")
        else:
            cause = f"llama.cpp died with {name} while loading the model and decoding a few tokens"
        raise LlamaCppCrashError(cause, fix=REBUILD_FIX)
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1][:300]
    raise LlamaCppCrashError(f"the llama.cpp probe failed with exit code {proc.returncode}: {tail}",
                             fix="check the model file (`hypodisc models verify NAME`); " + REBUILD_FIX)


def ensure_llamacpp_runs(model_path: Path, cache_dir: Path | None = None) -> str:
    """Probe once per wheel and host (remembered in ``cache_dir``); return 'cached' or 'probed'.

    Call before the first real load of a llama.cpp model in a process.
    """
    key = wheel_fingerprint()
    if key is None:
        raise not_installed()
    if key in _passed_in_process:
        return "cached"
    stamp = cache_dir / f"llamacpp-{key}.json" if cache_dir is not None else None
    if stamp is not None and stamp.is_file():
        _passed_in_process.add(key)
        return "cached"
    run_probe(probe_command(model_path))
    _passed_in_process.add(key)
    if stamp is not None:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        tmp = stamp.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"model": str(model_path), "python": sys.executable}))
        tmp.replace(stamp)
    return "probed"


def _child(model_path: str) -> int:
    try:
        import llama_cpp
    except ImportError as exc:
        print(exc, file=sys.stderr)
        return _EXIT_NOT_INSTALLED
    llm = llama_cpp.Llama(model_path=model_path, n_ctx=64, n_batch=32, n_threads=os.cpu_count(), verbose=False)
    tokens = llm.tokenize(b"The quick brown fox jumps over the lazy dog.", add_bos=True)
    llm.eval(tokens[:16])  # prefill: the batched matrix products (where AMX kernels would run)
    llm.eval([tokens[-1]])  # one decode step: the vector path
    llm.close()
    print("ok")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m hypodisc.backends.llamacpp_probe MODEL.gguf", file=sys.stderr)
        sys.exit(2)
    sys.exit(_child(sys.argv[1]))
