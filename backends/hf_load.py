"""Loading a local GGUF file or HF folder with transformers: the one place that does it, offline.

A GGUF is dequantized by transformers (tokenizer and chat template rebuilt from its metadata).
Nothing is fetched from a hub, whatever the caller's environment says.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hypodisc.errors import BackendUnavailableError


@contextmanager
def hub_offline() -> Iterator[None]:
    """Never reach a hub while loading, even if the caller's environment allows it (restored after)."""
    import huggingface_hub.constants as hub

    old_env, old_flag = os.environ.get("HF_HUB_OFFLINE"), hub.HF_HUB_OFFLINE
    os.environ["HF_HUB_OFFLINE"], hub.HF_HUB_OFFLINE = "1", True
    try:
        yield
    finally:
        hub.HF_HUB_OFFLINE = old_flag
        if old_env is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = old_env


def load_hf_tokenizer(path: str | Path):
    """The tokenizer of a local GGUF file or HF folder."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    p = Path(path)
    with hub_offline():
        if p.is_file():
            # GGUF tokenizers always convert to a fast tokenizer; naming the class skips
            # AutoTokenizer's detour through the GGUF's model config (~7 s for a 100 MB file)
            return PreTrainedTokenizerFast.from_pretrained(str(p.parent), gguf_file=p.name, local_files_only=True)
        return AutoTokenizer.from_pretrained(str(p), local_files_only=True)


def load_hf_model(path: str | Path, dtype: str = "float32", *, needs: str, fix: str):
    """(tokenizer, causal LM) from a local GGUF file or HF folder; ``needs`` and ``fix`` word the errors."""
    try:
        import torch
        from transformers import AutoModelForCausalLM
    except ImportError as exc:
        raise BackendUnavailableError(f"{needs} needs transformers, gguf and torch ({exc})", fix=fix) from None
    p = Path(path)
    where, kwargs = (p.parent, {"gguf_file": p.name}) if p.is_file() else (p, {})
    try:
        tokenizer = load_hf_tokenizer(p)
        with hub_offline():
            model = AutoModelForCausalLM.from_pretrained(str(where), dtype=getattr(torch, dtype),
                                                         local_files_only=True, **kwargs)
    except (ValueError, OSError, KeyError, ImportError) as exc:
        raise BackendUnavailableError(f"transformers could not load {p}: {exc}",
                                      fix="check that your transformers version supports this architecture") from None
    return tokenizer, model
