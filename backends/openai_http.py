"""Any OpenAI-compatible server over HTTP: `vllm serve`, llama.cpp's server, a hosted API.

Yes/no probabilities come from ``logprobs``/``top_logprobs`` of one generated
token; continuation log-probabilities from ``/completions`` with ``echo`` (raw-text
contexts only: the chat template lives on the server). Retries are bounded and
every failure names the server and the reason.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx

from hypodisc.backends.base import (ContinuationScore, Generation, GenerationParams, Prompt, Usage, YES_NO_TOP_K,
                                    paired)
from hypodisc.backends.chat_content import openai_messages
from hypodisc.backends.yesno import p_yes_from_top_logprobs
from hypodisc.errors import BackendResponseError, BackendUnavailableError, PromptTooLongError

# 429 (rate limited) and 408 (request timeout) say "try again later"; 5xx are retried too.
RETRYABLE_STATUS = frozenset({408, 429})
# However long a server asks us to wait, one wait never exceeds this (the number of tries bounds the rest).
MAX_RETRY_WAIT_S = 60.0
T = TypeVar("T")


def retry_after_s(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date; None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


class OpenAIBackend:
    name = "openai"
    batch_size = 64
    max_concurrent_calls = 8  # an HTTP server batches concurrent requests itself

    def __init__(self, base_url: str, model: str = "auto", *, api_key: str | None = None, timeout_s: float = 120.0,
                 max_retries: int = 3, max_concurrency: int = 8, context_length: int | None = None):
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout_s)
        self._max_retries = max_retries
        self._pool = ThreadPoolExecutor(max_workers=max_concurrency)
        self.usage = Usage()
        served = self._served_models()
        if model == "auto" and not served:
            raise BackendResponseError(f"server at {self.base_url} lists no models", fix="pass --model")
        self.model = served[0]["id"] if model == "auto" else model
        advertised = next((m.get("max_model_len") for m in served if m.get("id") == self.model), None)
        self._context_length = context_length or (advertised if isinstance(advertised, int) else 4096)

    # -- HTTP ------------------------------------------------------------
    def _request(self, method: str, path: str, body: dict | None = None) -> dict[str, Any]:
        delay = 0.5
        for attempt in range(self._max_retries + 1):
            wait = delay
            try:
                resp = self._client.request(method, path, json=body)
            except httpx.TransportError as exc:
                reason = f"{type(exc).__name__}: {exc}"
            else:
                if resp.status_code < 400:
                    return resp.json()
                reason = f"HTTP {resp.status_code}: {resp.text[:300]}"
                if resp.status_code not in RETRYABLE_STATUS and resp.status_code < 500:
                    if "context length" in resp.text or "maximum context" in resp.text:
                        raise PromptTooLongError(f"server at {self.base_url} rejected the prompt: {reason}",
                                                 fix="shorten the input or serve the model with a longer context")
                    raise BackendResponseError(f"server at {self.base_url}{path} refused the request: {reason}")
                # A rate-limited or busy server says when to come back; we wait that long (capped).
                wait = max(delay, retry_after_s(resp.headers.get("retry-after")) or 0.0)
            if attempt < self._max_retries:
                time.sleep(min(wait, MAX_RETRY_WAIT_S))
                delay *= 2
        raise BackendUnavailableError(
            f"server at {self.base_url} failed after {self._max_retries + 1} attempts: {reason}",
            fix="start the server or correct --base-url" if not reason.startswith("HTTP 429")
            else "the server is rate-limiting: lower --max-concurrency or raise --max-retries",
        )

    def _map(self, fn: Callable[[Any], T], items: Sequence[Any]) -> list[T]:
        return list(self._pool.map(fn, items))

    def _served_models(self) -> list[dict]:
        """``/models`` once: it names the model for ``auto`` and, on vLLM, its context length."""
        try:
            return self._request("GET", "/models").get("data") or []
        except BackendResponseError:
            return []  # some servers have no /models; an explicit model name still works

    @property
    def context_length(self) -> int:
        return self._context_length

    def _count(self, body: dict) -> dict:
        usage = body.get("usage") or {}
        self.usage.add(calls=1, prompt_tokens=int(usage.get("prompt_tokens") or 0),
                       completion_tokens=int(usage.get("completion_tokens") or 0))
        return body

    def _complete(self, prompt: Prompt, **params: Any) -> dict:
        if isinstance(prompt, str):
            return self._count(self._request("POST", "/completions", {"model": self.model, "prompt": prompt, **params}))
        # images go as data: URLs in OpenAI's vision form; a server whose model cannot see them says so (4xx)
        return self._count(self._request("POST", "/chat/completions",
                                         {"model": self.model, "messages": openai_messages(prompt), **params}))

    # -- protocol --------------------------------------------------------
    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Generation]:
        body: dict[str, Any] = {"n": params.n, "temperature": params.temperature, "top_p": params.top_p,
                                "max_tokens": params.max_tokens}
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = params.seed

        def one(prompt: Prompt) -> Generation:
            res = self._complete(prompt, **body)
            texts = [c["message"]["content"] if "message" in c else c["text"] for c in res["choices"]]
            usage = res.get("usage") or {}
            return Generation(texts=texts, prompt_tokens=int(usage.get("prompt_tokens") or 0),
                              completion_tokens=int(usage.get("completion_tokens") or 0))

        return self._map(one, prompts)

    def yes_no_probs(self, prompts: Sequence[Prompt]) -> list[float]:
        def one(prompt: Prompt) -> float:
            if isinstance(prompt, str):
                res = self._complete(prompt, max_tokens=1, temperature=0.0, logprobs=YES_NO_TOP_K)
                top = (res["choices"][0].get("logprobs") or {}).get("top_logprobs") or []
                pairs = list(top[0].items()) if top else []
            else:
                res = self._complete(prompt, max_tokens=1, temperature=0.0, logprobs=True, top_logprobs=YES_NO_TOP_K)
                content = (res["choices"][0].get("logprobs") or {}).get("content") or []
                pairs = [(t["token"], t["logprob"]) for t in content[0]["top_logprobs"]] if content else []
            if not pairs:
                raise BackendResponseError(f"server at {self.base_url} returned no logprobs",
                                           fix="use a server that supports logprobs/top_logprobs (vllm serve, llama.cpp server)")
            return p_yes_from_top_logprobs(pairs)

        out = self._map(one, prompts)
        self.usage.add(yes_no_judgments=len(prompts))
        return out

    def continuation_logprobs(self, contexts: Sequence[Prompt], continuations: Sequence[str]) -> list[ContinuationScore]:
        if any(not isinstance(c, str) for c in contexts):
            raise BackendResponseError(
                "the openai backend scores continuations only after raw-text contexts (the chat template lives on the server)",
                fix="pass the context as a string, or use the llamacpp or vllm backend")

        def one(pair: tuple[str, str]) -> ContinuationScore:
            ctx, cont = pair
            res = self._complete(ctx + cont, max_tokens=1, temperature=0.0, echo=True, logprobs=1)
            lp = res["choices"][0].get("logprobs") or {}
            tokens, values, offsets = lp.get("tokens"), lp.get("token_logprobs"), lp.get("text_offset")
            if not tokens or values is None or offsets is None:
                raise BackendResponseError(f"server at {self.base_url} did not echo prompt logprobs",
                                           fix="use a server that supports echo with logprobs (vllm serve)")
            end = len(ctx) + len(cont)
            picked = [(t, v) for t, v, o in zip(tokens, values, offsets) if len(ctx) <= o < end and v is not None]
            if not picked:
                raise BackendResponseError(f"server at {self.base_url} returned no logprobs for the continuation")
            return ContinuationScore(tokens=[t for t, _ in picked], logprobs=[float(v) for _, v in picked])

        return self._map(one, list(paired(contexts, continuations)))

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        self._client.close()
