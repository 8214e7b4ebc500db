"""Captioners: one caption per image, from a vision-language model (VisDiff's first stage).

* :class:`ChatCaptioner` asks any :class:`~hypodisc.backends.base.LLMBackend` that takes image parts:
  ``OpenAIBackend`` against ``vllm serve`` (or any OpenAI-compatible vision endpoint), or ``VLLMBackend``
  with a local multimodal checkpoint. Text-only backends refuse the image with UnsupportedInputError.
* :class:`LlamaCppCaptioner` runs a local GGUF vision-language model and its ``mmproj`` through
  llama-cpp-python's multimodal chat handlers.

Every captioner sends the image as PNG bytes it encodes itself, with one prompt (VisDiff's BLIP-2 prompt by
default), and decodes greedily, so the same images give the same captions.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from hypodisc.backends.base import GenerationParams, LLMBackend, Message
from hypodisc.errors import BackendResponseError, BackendUnavailableError, ConfigError, HypodiscError
from hypodisc.progress import Steps

if TYPE_CHECKING:
    from PIL import Image

#: VisDiff's BLIP-2 captioning prompt; every captioner takes another through ``prompt=``
CAPTION_PROMPT = "Describe this image in detail."


@runtime_checkable
class Captioner(Protocol):
    name: str

    def caption(self, images: Sequence["Image.Image"], progress: Steps | None = None) -> list[str]:
        """One caption per image, in input order; ``progress(done, total)`` after each batch."""
        ...


def png_bytes(image: "Image.Image") -> bytes:
    """The image as PNG bytes (palette, grey and alpha images kept as they are: PNG holds them all;
    CMYK and other modes PNG cannot store are converted to RGB)."""
    buf = io.BytesIO()
    img = image if image.mode in {"1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"} else image.convert("RGB")
    img.save(buf, format="PNG")
    return buf.getvalue()


def caption_chat(image: "Image.Image", prompt: str = CAPTION_PROMPT) -> list[Message]:
    """One user turn: the prompt, then the image as PNG bytes."""
    return [{"role": "user", "content": [{"type": "text", "text": prompt},
                                         {"type": "image", "data": png_bytes(image), "media_type": "image/png"}]}]


def _check_prompt(prompt: str, max_tokens: int) -> None:
    if not str(prompt).strip():
        raise ValueError("the caption prompt is empty")
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")


class ChatCaptioner:
    """Captions from a backend's chat generation, ``batch`` images per ``generate`` call."""

    def __init__(self, backend: LLMBackend, name: str, prompt: str = CAPTION_PROMPT, max_tokens: int = 96,
                 batch: int = 8):
        _check_prompt(prompt, max_tokens)
        if batch < 1:
            raise ValueError("batch must be at least 1")
        self.backend, self.name, self.prompt = backend, name, prompt
        self.max_tokens, self.batch = max_tokens, batch
        self._params = GenerationParams(n=1, temperature=0.0, max_tokens=max_tokens)

    def caption(self, images: Sequence["Image.Image"], progress: Steps | None = None) -> list[str]:
        images = list(images)
        out: list[str] = []
        for lo in range(0, len(images), self.batch):
            chats = [caption_chat(im, self.prompt) for im in images[lo: lo + self.batch]]
            gens = self.backend.generate(chats, self._params)
            if len(gens) != len(chats):
                raise BackendResponseError(f"the {self.backend.name} backend returned {len(gens)} answers "
                                           f"for {len(chats)} images")
            out.extend((g.texts[0] if g.texts else "").strip() for g in gens)
            if progress:
                progress(len(out), len(images))
        return out

    def close(self) -> None:
        self.backend.close()


def load_chat_captioner(kind: Literal["openai", "vllm"], *, model: str | None, base_url: str | None = None,
                        api_key: str | None = None, prompt: str = CAPTION_PROMPT, max_tokens: int = 96,
                        batch: int | None = None, timeout_s: float = 120.0, max_retries: int = 3,
                        max_concurrency: int = 8, gpu_memory_utilization: float = 0.9,
                        max_model_len: int | None = None, dtype: str = "auto", seed: int = 0,
                        **engine_kwargs: Any) -> ChatCaptioner:
    """A ChatCaptioner over a new backend.

    ``openai``: ``OpenAIBackend(base_url, model or "auto")`` (a vision model behind ``vllm serve`` or any
    OpenAI-compatible endpoint). ``vllm``: ``VLLMBackend(model)`` in process, ``model`` a local multimodal
    checkpoint directory; ``engine_kwargs`` go to ``vllm.LLM`` (``limit_mm_per_prompt``, ``enforce_eager``...).
    """
    if kind == "openai":
        if not base_url:
            raise ConfigError("the openai captioner needs base_url (the OpenAI-compatible server, ending in /v1)",
                              fix="pass --base-url http://HOST:PORT/v1 of a server with a vision model")
        from hypodisc.backends.openai_http import OpenAIBackend

        backend: LLMBackend = OpenAIBackend(base_url, model or "auto", api_key=api_key, timeout_s=timeout_s,
                                            max_retries=max_retries, max_concurrency=max_concurrency)
        default_batch = max_concurrency  # the requests of one batch go out concurrently
    elif kind == "vllm":
        if not model:
            raise ConfigError("the vllm captioner needs model: a local multimodal checkpoint directory",
                              fix="pass --caption-model /path/to/vision-language-model")
        from hypodisc.backends.vllm import VLLMBackend

        backend = VLLMBackend(model, gpu_memory_utilization=gpu_memory_utilization, max_model_len=max_model_len,
                              dtype=dtype, seed=seed, **engine_kwargs)
        default_batch = VLLMBackend.batch_size
    else:
        raise ConfigError(f"unknown chat captioner {kind!r}", fix="use openai or vllm (or LlamaCppCaptioner)")
    return ChatCaptioner(backend, kind, prompt=prompt, max_tokens=max_tokens, batch=batch or default_batch)


#: handler names -> llama_cpp.llama_chat_format classes; only those the installed release has are offered
LLAMACPP_HANDLERS = {
    "llava15": "Llava15ChatHandler",
    "llava16": "Llava16ChatHandler",
    "bakllava": "Llava15ChatHandler",
    "moondream": "MoondreamChatHandler",
    "nanollava": "NanoLlavaChatHandler",
    "obsidian": "ObsidianChatHandler",
    "minicpmv26": "MiniCPMv26ChatHandler",
    "llama3-vision-alpha": "Llama3VisionAlphaChatHandler",
    "qwen25vl": "Qwen25VLChatHandler",
    "gemma3": "Gemma3ChatHandler",
    "gemma4": "Gemma4ChatHandler",
    "mtmd": "MTMDChatHandler",
}


def available_llamacpp_handlers() -> dict[str, str]:
    """The handler names the installed llama-cpp-python offers (name -> class name)."""
    try:
        import llama_cpp.llama_chat_format as chat_format
    except ImportError as exc:
        raise BackendUnavailableError(f"llama-cpp-python is not installed ({exc})",
                                      fix="run `make install` or `pip install llama-cpp-python`") from None
    return {name: cls for name, cls in LLAMACPP_HANDLERS.items() if hasattr(chat_format, cls)}


def _data_url(image: "Image.Image") -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


class LlamaCppCaptioner:
    """A local GGUF vision-language model plus its ``mmproj`` (the vision projector) through llama-cpp-python."""

    name = "llamacpp"

    def __init__(self, model_path: str, mmproj_path: str, handler: str = "llava15", n_ctx: int = 4096,
                 n_threads: int | None = None, prompt: str = CAPTION_PROMPT, max_tokens: int = 96, *,
                 seed: int = 0, verbose: bool = False, probe_cache_dir: Path | None = None):
        _check_prompt(prompt, max_tokens)
        model, mmproj = Path(model_path).expanduser(), Path(mmproj_path).expanduser()
        if not model.is_file():
            raise BackendUnavailableError(f"no GGUF model file at {model}",
                                          fix="pass the vision-language model's .gguf file")
        if not mmproj.is_file():
            raise BackendUnavailableError(f"no mmproj file at {mmproj}",
                                          fix="pass the model's vision projector .gguf (usually named mmproj-*.gguf)")
        known = available_llamacpp_handlers()
        if handler not in known:
            raise ConfigError(f"unknown llama.cpp vision handler {handler!r}; this llama-cpp-python offers: "
                              f"{', '.join(sorted(known))}", fix="pick the handler that matches the model family")
        import llama_cpp
        import llama_cpp.llama_chat_format as chat_format

        # the handler only records the projector here; llama.cpp loads it against the model below
        self.handler_name = handler
        self.chat_handler = getattr(chat_format, known[handler])(clip_model_path=str(mmproj), verbose=verbose)
        self.model_path, self.mmproj_path = model, mmproj
        self.prompt, self.max_tokens, self.seed = prompt, max_tokens, seed
        # A wheel this CPU cannot run dies with SIGILL at the first matrix product: find out in a child first.
        from hypodisc.backends.llamacpp_probe import ensure_llamacpp_runs

        ensure_llamacpp_runs(model, probe_cache_dir)
        try:
            self.llm = llama_cpp.Llama(model_path=str(model), chat_handler=self.chat_handler, n_ctx=n_ctx,
                                       n_threads=n_threads, seed=seed, verbose=verbose)
        except (ValueError, RuntimeError) as exc:
            raise HypodiscError(f"llama.cpp could not load {model} with {mmproj} ({exc})",
                                fix="check that the mmproj belongs to this model and the handler to its family") from None

    def _one(self, image: "Image.Image") -> str:
        messages = [{"role": "user", "content": [{"type": "text", "text": self.prompt},
                                                 {"type": "image_url", "image_url": {"url": _data_url(image)}}]}]
        try:
            res = self.llm.create_chat_completion(messages=messages, max_tokens=self.max_tokens, temperature=0.0,
                                                  top_k=1, seed=self.seed)
        except ValueError as exc:  # the handler failing to load the projector or the image
            raise HypodiscError(f"llama.cpp could not caption with {self.mmproj_path}: {exc}",
                                fix="check that the mmproj belongs to this model and the handler to its family") from None
        return (res["choices"][0]["message"].get("content") or "").strip()

    def caption(self, images: Sequence["Image.Image"], progress: Steps | None = None) -> list[str]:
        images = list(images)
        out = []
        for im in images:
            out.append(self._one(im))
            if progress:
                progress(len(out), len(images))
        return out

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is not None:
            llm.close()
