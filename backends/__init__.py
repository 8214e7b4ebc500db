"""LLM backends behind one protocol: llama.cpp (CPU default), vLLM (GPU), OpenAI-compatible HTTP."""

from __future__ import annotations

from pathlib import Path

from hypodisc.backends.base import (
    Chat,
    ContinuationScore,
    Generation,
    GenerationParams,
    ImagePart,
    LLMBackend,
    Message,
    Prompt,
    TextPart,
    Usage,
)
from hypodisc.backends.model_catalog import DEFAULT_LLM, MODELS, get_spec
from hypodisc.backends.model_store import ModelStore, hf_dir
from hypodisc.config import Settings
from hypodisc.errors import ConfigError, ModelNotInstalledError, UnknownModelError

__all__ = [
    "Chat", "ContinuationScore", "Generation", "GenerationParams", "ImagePart", "LLMBackend", "Message", "Prompt",
    "TextPart", "Usage",
    "load_backend", "resolve_model_for",
]


def resolve_model_for(settings: Settings) -> tuple[str, str]:
    """(what the backend loads, the display name) for the configured backend and model."""
    name = settings.model
    store = ModelStore(settings.home)
    if settings.backend == "openai":
        return name or "auto", name or "auto"
    name = name or DEFAULT_LLM
    if settings.backend == "llamacpp":
        path = store.resolve(name)
        if path.is_dir() or path.suffix.lower() != ".gguf":
            raise ConfigError(f"the llamacpp backend loads a .gguf file, not {path}",
                              fix="pass a .gguf path or a registered model name, or use --backend vllm for HF directories")
        return str(path), name
    # vllm: a converted registered model, a local HF directory, or a hub id vLLM fetches itself.
    if name in MODELS:
        spec = get_spec(name)
        if not spec.is_llm:
            raise ConfigError(f"{name} is an embedder, not a chat model")
        target = hf_dir(store, spec)
        if not (target / "config.json").exists():
            raise ModelNotInstalledError(f"{name} has no HF-format copy for vLLM at {target}",
                                         fix=f"run `hypodisc models convert {name}` (needs hypodisc[convert])")
        return str(target), name
    if Path(name).expanduser().exists():
        return str(Path(name).expanduser()), name
    if "/" in name and not name.startswith((".", "/", "~")):
        return name, name  # hub id: only works where the GPU box has internet
    raise UnknownModelError(f"unknown model {name!r} for vllm: not registered, not a local directory, not a hub id",
                            fix=f"use one of {', '.join(sorted(MODELS))}, a local HF directory, or org/name")


def load_backend(settings: Settings) -> LLMBackend:
    """Build the configured backend. The service calls this once per process."""
    target, display = resolve_model_for(settings)
    if settings.backend == "llamacpp":
        from hypodisc.backends.llamacpp import LlamaCppBackend

        return LlamaCppBackend(target, n_ctx=settings.n_ctx, n_threads=settings.n_threads, n_batch=settings.n_batch,
                               seed=settings.seed, model_name=display,
                               probe_cache_dir=settings.home / "probes")
    if settings.backend == "vllm":
        from hypodisc.backends.vllm import VLLMBackend

        return VLLMBackend(target, gpu_memory_utilization=settings.gpu_memory_utilization,
                           max_model_len=settings.max_model_len, dtype=settings.dtype, seed=settings.seed,
                           model_name=display, enforce_eager=settings.enforce_eager)
    from hypodisc.backends.openai_http import OpenAIBackend

    return OpenAIBackend(settings.base_url, target, api_key=settings.api_key, timeout_s=settings.timeout_s,
                         max_retries=settings.max_retries, max_concurrency=settings.max_concurrency)
