#!/usr/bin/env python3
"""Build, or find in the cache, the llama-cpp-python wheel that this host can run.

Why this exists: llama.cpp's default build is native (``-march=native``). On an Intel host whose
cpuid advertises AMX but whose sandbox does not grant the tile state, a native build compiles the
AMX kernels and the first matrix product dies with SIGILL. And a wheel built natively on one CPU
and reused on another (a copied cache, a shared home) crashes the same way.

So the default build is *portable*: native off, an explicit x86-64-v3 baseline (AVX2, FMA, F16C,
BMI2), no AVX-512 and no AMX. ``HYPODISC_LLAMA_NATIVE=1`` opts into a native build for speed.

The cache key is the version plus the exact CMake flags (plus the host's CPU flags for a native
build), so a wheel is never reused where it was built for something else. pip's own wheel cache
ignores ``CMAKE_ARGS`` and would hand back a stale build, so we always build with
``--no-cache-dir``.

Stdlib only: it runs before the virtual environment exists.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

VERSION = "0.3.36"

# x86-64-v3: every AVX2 host, Intel or AMD, whatever else its cpuid advertises.
PORTABLE_CMAKE_ARGS = (
    "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON "
    "-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
)
NATIVE_CMAKE_ARGS = "-DGGML_NATIVE=ON"

# What the portable build needs from the CPU (Linux /proc/cpuinfo spelling).
PORTABLE_CPU_FLAGS = ("avx", "avx2", "fma", "f16c", "bmi2")

RECORD = "build.json"


def cpu_flags() -> list[str]:
    """The host's CPU feature flags, sorted (empty where /proc/cpuinfo is missing)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    for line in text.splitlines():
        if line.startswith("flags"):
            return sorted(set(line.split(":", 1)[1].split()))
    return []


def build_spec(native: bool, version: str = VERSION) -> dict:
    """What a build is: the version, the CMake flags, and for a native build the CPU it is for."""
    spec = {
        "package": "llama-cpp-python",
        "version": version,
        "cmake_args": NATIVE_CMAKE_ARGS if native else PORTABLE_CMAKE_ARGS,
        "machine": platform.machine(),
        "python": f"cp{sys.version_info.major}{sys.version_info.minor}",
    }
    if native:
        spec["cpu_flags"] = cpu_flags()
    return spec


def cache_key(spec: dict) -> str:
    blob = json.dumps(spec, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def cached_wheel(cache_dir: Path, spec: dict) -> Path | None:
    """The cached wheel built exactly as `spec` says, or None.

    A folder is reused only when its recorded spec equals ours: another flag set, CPU or version
    means another build.
    """
    folder = cache_dir / f"llama_cpp_python-{spec['version']}-{cache_key(spec)}"
    try:
        recorded = json.loads((folder / RECORD).read_text())
    except (OSError, ValueError):
        return None
    if recorded != spec:
        return None
    wheels = sorted(folder.glob("llama_cpp_python-*.whl"))
    return wheels[0] if wheels else None


def missing_cpu_flags(native: bool) -> list[str]:
    if native or platform.machine() not in ("x86_64", "AMD64"):
        return []
    have = set(cpu_flags())
    return [f for f in PORTABLE_CPU_FLAGS if have and f not in have]


def build(cache_dir: Path, spec: dict, python: str) -> Path:
    folder = cache_dir / f"llama_cpp_python-{spec['version']}-{cache_key(spec)}"
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    env = dict(os.environ, CMAKE_ARGS=spec["cmake_args"], FORCE_CMAKE="1")
    cmd = [python, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "--disable-pip-version-check",
           f"llama-cpp-python=={spec['version']}", "-w", str(partial)]
    print(f"[llama-wheel] building llama-cpp-python {spec['version']} with CMAKE_ARGS='{spec['cmake_args']}' "
          f"(once, 5-10 min; cached in {folder})", file=sys.stderr, flush=True)
    # pip's output goes to stderr: stdout carries only the wheel's path, for the caller's $(...).
    subprocess.run(cmd, env=env, check=True, stdout=sys.stderr)
    (partial / RECORD).write_text(json.dumps(spec, sort_keys=True, indent=1))
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    return next(folder.glob("llama_cpp_python-*.whl"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cache-dir", type=Path, required=True)
    p.add_argument("--native", action="store_true", default=os.environ.get("HYPODISC_LLAMA_NATIVE") == "1",
                   help="build for this CPU only (default: $HYPODISC_LLAMA_NATIVE=1)")
    p.add_argument("--python", default=sys.executable, help="the interpreter whose pip builds the wheel")
    p.add_argument("--dry-run", action="store_true", help="print 'reuse PATH' or 'build KEY' and do nothing")
    p.add_argument("--print-key", action="store_true", help="print the cache key of this build and exit")
    a = p.parse_args(argv)
    spec = build_spec(a.native)
    if a.print_key:
        print(f"{spec['version']}-{cache_key(spec)}")
        return 0
    missing = missing_cpu_flags(a.native)
    if missing:
        print(f"error: this CPU lacks {', '.join(missing)}, which the portable llama.cpp build needs "
              f"(x86-64-v3: {', '.join(PORTABLE_CPU_FLAGS)}).\n"
              "fix: set HYPODISC_LLAMA_NATIVE=1 to build for this CPU instead.", file=sys.stderr)
        return 2
    found = cached_wheel(a.cache_dir, spec)
    if a.dry_run:
        print(f"reuse {found}" if found else f"build {cache_key(spec)}")
        return 0
    wheel = found or build(a.cache_dir, spec, a.python)
    print(wheel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
