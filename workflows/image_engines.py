"""Image models as engines: captioners and the CLIP ranker, loaded once per process and per checkpoint.

A job names its captioner and checkpoint in its config (so the CLI and the page get them as options);
the process keeps what it loaded, keyed by that spec, so a service's second job with the same
checkpoint loads nothing. Paths not given in the config fall back to ``HYPODISC_CAPTION_MODEL``,
``HYPODISC_CAPTION_MMPROJ``, ``HYPODISC_CAPTION_BASE_URL`` and ``HYPODISC_CLIP_CHECKPOINT``.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from hypodisc.errors import HypodiscError


def _given(value: str | None, env: str, what: str, fix: str) -> str:
    value = value or os.environ.get(env)
    if not value:
        raise HypodiscError(f"{what} is not set", fix=f"{fix}, or set {env}")
    return value


class ImageModels:
    """The image engines of one process: ``captioner(cfg)`` and ``clip(cfg)``, each loaded on first use."""

    def __init__(self, settings: Any = None):
        self.settings = settings
        self._loaded: dict[tuple, Any] = {}
        self._lock = threading.Lock()

    def _get(self, key: tuple, build):
        with self._lock:
            if key not in self._loaded:
                self._loaded[key] = build()
            return self._loaded[key]

    def captioner(self, cfg: Any):
        """The model captioner a config names (openai, vllm or llamacpp)."""
        from hypodisc.backends import caption_models as cm

        kind = cfg.captioner
        if kind == "openai":
            url = _given(cfg.caption_base_url, "HYPODISC_CAPTION_BASE_URL", "the openai captioner's server URL",
                         "pass --caption-base-url http://HOST:PORT/v1")
            model = cfg.caption_model or os.environ.get("HYPODISC_CAPTION_MODEL")
            return self._get(("openai", url, model, cfg.caption_prompt), lambda: cm.load_chat_captioner(
                "openai", model=model, base_url=url, prompt=cfg.caption_prompt))
        if kind == "vllm":
            model = _given(cfg.caption_model, "HYPODISC_CAPTION_MODEL", "the vllm captioner's checkpoint",
                           "pass --caption-model /path/to/Qwen2.5-VL-3B-Instruct")
            return self._get(("vllm", model, cfg.caption_prompt), lambda: cm.load_chat_captioner(
                "vllm", model=model, base_url=None, prompt=cfg.caption_prompt))
        if kind == "llamacpp":
            model = _given(cfg.caption_model, "HYPODISC_CAPTION_MODEL", "the llamacpp captioner's .gguf",
                           "pass --caption-model /path/to/model.gguf")
            mmproj = _given(cfg.caption_mmproj, "HYPODISC_CAPTION_MMPROJ", "the llamacpp captioner's mmproj",
                            "pass --caption-mmproj /path/to/mmproj.gguf")
            return self._get(("llamacpp", model, mmproj, cfg.caption_handler, cfg.caption_prompt),
                             lambda: cm.LlamaCppCaptioner(model, mmproj, handler=cfg.caption_handler,
                                                          prompt=cfg.caption_prompt))
        raise HypodiscError(f"captioner {kind!r} is not a model captioner")

    def clip(self, cfg: Any):
        from hypodisc.verifiers.clip_ranker import ClipRanker

        checkpoint = _given(cfg.clip_checkpoint, "HYPODISC_CLIP_CHECKPOINT", "the clip ranker's checkpoint",
                            "pass --clip-checkpoint /path/to/clip-vit-base-patch32")
        return self._get(("clip", checkpoint), lambda: ClipRanker.load(checkpoint))

    def close(self) -> None:
        for engine in self._loaded.values():
            close = getattr(engine, "close", None)
            if close is not None:
                close()
        self._loaded.clear()
