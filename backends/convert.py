"""GGUF -> HF safetensors, because vLLM wants HF-format weights.

transformers dequantizes the GGUF tensors and rebuilds the tokenizer (chat
template included) from the GGUF metadata. Needs the ``convert`` extra
(transformers, gguf, torch); in CI it runs inside the vLLM environment.
"""

from __future__ import annotations

import json
from pathlib import Path

from hypodisc.backends.hf_load import load_hf_model
from hypodisc.errors import BackendUnavailableError
from hypodisc.files import atomic_path


def gguf_to_hf(gguf_path: Path, out_dir: Path, dtype: str = "float32") -> Path:
    gguf_path = Path(gguf_path)
    tok, model = load_hf_model(gguf_path, dtype, needs="conversion",
                               fix="`pip install hypodisc[convert]`, or run it in the vLLM environment")
    # transformers marks GGUF-loaded models as "quantized" and refuses save_pretrained, although the
    # tensors are already dequantized; write the weights and a config without that marker ourselves.
    # Tied embeddings are stored once, under the input-embedding name, as HF checkpoints do; every
    # tensor is cloned so none share memory (safetensors refuses shared tensors).
    from safetensors.torch import save_file

    if not getattr(tok, "chat_template", None):
        raise BackendUnavailableError(f"{gguf_path.name}: the converted tokenizer has no chat template")
    with atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        state = model.state_dict()
        if getattr(model.config, "tie_word_embeddings", False):
            state.pop("lm_head.weight", None)
        save_file({k: v.detach().clone().contiguous() for k, v in state.items()}, str(tmp / "model.safetensors"),
                  metadata={"format": "pt"})
        config = model.config.to_dict()
        config.pop("quantization_config", None)
        config["torch_dtype"] = dtype
        (tmp / "config.json").write_text(json.dumps(config, indent=2))
        if model.generation_config is not None:
            model.generation_config.save_pretrained(tmp)
        tok.save_pretrained(tmp)
    return out_dir
