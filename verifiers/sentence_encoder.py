"""A sentence-transformers model directory read with transformers alone (tokenizer, encoder, pooling, norm).

Why not ``sentence_transformers``: importing it imports ``transformers.trainer``, which imports
``datasets`` whenever ``importlib.util.find_spec("datasets")`` finds one. In a source checkout our
top-level ``datasets/`` folder (installed as ``hypodisc.datasets``) is such a module whenever the repo
root is on sys.path (``python -c`` run from it), so that import would load it a second time under the
wrong name. The encoder needs none of the training machinery, so this path never imports ``datasets``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hypodisc.errors import BackendUnavailableError, ConfigError

#: sentence-transformers pooling flags (1_Pooling/config.json) this reader implements.
_POOLING_FLAGS = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}


def _read_json(path: Path) -> dict | list:
    return json.loads(path.read_text()) if path.is_file() else {}


def _layout(root: Path) -> tuple[Path, str]:
    """(encoder folder, pooling mode) from ``modules.json``; anything but encoder, pooling, normalize is refused."""
    modules = _read_json(root / "modules.json") or [
        {"path": "", "type": "sentence_transformers.models.Transformer"}]
    kinds = {m["type"].rsplit(".", 1)[-1]: root / m.get("path", "") for m in modules}
    unknown = set(kinds) - {"Transformer", "Pooling", "Normalize"}
    if unknown or "Transformer" not in kinds:
        raise ConfigError(f"embedder {root} has modules {sorted(kinds)}; only Transformer, Pooling and "
                          "Normalize are supported", fix="use a mean- or CLS-pooled sentence-transformers model")
    flags = _read_json(kinds["Pooling"] / "config.json") if "Pooling" in kinds else {}
    modes = [mode for flag, mode in _POOLING_FLAGS.items() if flags.get(flag)]
    other = [k for k, v in flags.items() if k.startswith("pooling_mode_") and v and k not in _POOLING_FLAGS]
    if len(modes) > 1 or other:
        raise ConfigError(f"embedder {root} pools by {sorted(modes + other)}; only mean or CLS pooling is supported",
                          fix="use a mean- or CLS-pooled sentence-transformers model")
    return kinds["Transformer"], (modes or ["mean"])[0]


class SentenceEncoder:
    """Unit-norm embeddings the way sentence-transformers computes them for a Transformer+Pooling(+Normalize) model."""

    def __init__(self, path: str | Path):
        try:
            import torch
            from transformers import AutoModel, AutoTokenizer
        except ImportError as exc:
            raise BackendUnavailableError(f"the embedder needs transformers and torch ({exc})",
                                          fix="pip install 'hypodisc[embed]' (and torch==2.13.0 on CPU)") from None
        root = Path(path)
        folder, self.pooling = _layout(root)
        settings = _read_json(folder / "sentence_bert_config.json") or _read_json(root / "sentence_bert_config.json")
        self.lowercase = bool(settings.get("do_lower_case"))
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(folder), local_files_only=True).to("cpu").eval()
        limit = settings.get("max_seq_length") or self.tokenizer.model_max_length
        self.max_length = min(int(limit), int(getattr(self.model.config, "max_position_embeddings", limit)))
        self.dim = int(self.model.config.hidden_size)
        self._torch = torch

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """float32 (len(texts), dim), L2-normalised; batches sorted by length so padding stays short."""
        torch = self._torch
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for lo in range(0, len(order), batch_size):
                idx = order[lo: lo + batch_size]
                batch = [texts[i].lower() if self.lowercase else texts[i] for i in idx]
                enc = self.tokenizer(batch, padding=True, truncation="longest_first", max_length=self.max_length,
                                     return_tensors="pt")
                tokens = self.model(**enc).last_hidden_state
                if self.pooling == "cls":
                    pooled = tokens[:, 0]
                else:
                    mask = enc["attention_mask"].unsqueeze(-1).to(tokens.dtype)
                    pooled = (tokens * mask).sum(dim=1) / torch.clamp(mask.sum(dim=1), min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                out[idx] = pooled.float().numpy()
        return out
