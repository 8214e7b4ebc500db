"""The one protocol every LLM backend implements, and the types at its boundary.

Three primitives cover every workflow: chat generation (proposers, explainers),
yes/no probabilities (verifiers, detection scorers) and log-probabilities of given
continuations (simulation and surprisal scorers). Sampling settings travel with
each call as an immutable :class:`GenerationParams`; backends keep no per-call state.
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

# typing_extensions' TypedDict, not typing's: pydantic validates only the former on Python < 3.12
from typing_extensions import Required, TypedDict

from hypodisc.errors import PromptTooLongError


class TextPart(TypedDict):
    type: Literal["text"]
    text: str


class ImagePart(TypedDict, total=False):
    """An image in a chat turn: exactly one of ``data`` (the file's bytes), ``path`` (a local file) or
    ``url`` (a ``data:image/...;base64,...`` URL). ``media_type`` names the format of ``data`` or ``path``
    when its bytes or suffix do not tell. :mod:`hypodisc.backends.chat_content` reads these."""

    type: Required[Literal["image"]]
    data: bytes
    path: str
    url: str
    media_type: str


ContentPart = TextPart | ImagePart


class Message(TypedDict):
    role: str  # "system" | "user" | "assistant"
    #: text, or parts (OpenAI style) when the turn carries images; only multimodal backends take images,
    #: the others refuse them with UnsupportedInputError
    content: str | list[ContentPart]


Chat = Sequence[Message]
#: Raw text (used as is) or a chat (rendered with the model's own chat template).
Prompt = str | Chat


@dataclass(frozen=True)
class GenerationParams:
    n: int = 1
    temperature: float = 0.0
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    top_p: float = 1.0
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError("n must be at least 1")
        if self.max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        if self.temperature < 0:
            raise ValueError("temperature must be >= 0")
        if self.n > 1 and self.temperature == 0:
            raise ValueError("n > 1 with temperature 0 gives n identical samples; set temperature > 0")


@dataclass(frozen=True)
class Generation:
    """The n samples for one prompt."""

    texts: list[str]
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class ContinuationScore:
    """Per-token log-probabilities of a continuation given its context."""

    tokens: list[str]
    logprobs: list[float]

    @property
    def total(self) -> float:
        return float(sum(self.logprobs))


_COUNTERS = ("calls", "prompt_tokens", "completion_tokens", "yes_no_judgments")


@dataclass
class Usage:
    """Running cost counters; workflows snapshot them per stage.

    Backends fan requests out over thread pools, and ``x += n`` on an attribute is not atomic,
    so every update goes through :meth:`add`, under a lock: counts are exact under concurrency.
    """

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    yes_no_judgments: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def add(self, calls: int = 0, prompt_tokens: int = 0, completion_tokens: int = 0,
            yes_no_judgments: int = 0) -> None:
        with self._lock:
            self.calls += calls
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens
            self.yes_no_judgments += yes_no_judgments

    def add_usage(self, other: "Usage") -> None:
        self.add(**other.as_dict())

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return {k: getattr(self, k) for k in _COUNTERS}

    def snapshot(self) -> "Usage":
        return Usage(**self.as_dict())

    def _combine(self, other: "Usage", op) -> "Usage":
        mine, theirs = self.as_dict(), other.as_dict()
        return Usage(**{k: op(mine[k], theirs[k]) for k in _COUNTERS})

    def __sub__(self, other: "Usage") -> "Usage":
        return self._combine(other, operator.sub)

    def __add__(self, other: "Usage") -> "Usage":
        return self._combine(other, operator.add)


#: top log-probabilities asked of a server for the yes/no answer token (its yes/no variants are among them)
YES_NO_TOP_K = 20


def check_fits(n: int, extra: int, context_length: int, what: str, fix: str = "shorten the input or raise the "
               "context window (--n-ctx, --max-model-len)") -> None:
    """PromptTooLongError unless ``n`` prompt tokens plus ``extra`` fit the context window."""
    if n + extra > context_length:
        raise PromptTooLongError(f"{what} needs {n + extra} tokens but the context window is {context_length}", fix=fix)


def paired(contexts: Sequence[Prompt], continuations: Sequence[str]) -> list[tuple[Prompt, str]]:
    """(context, continuation) pairs for ``continuation_logprobs``; a length mismatch is an error."""
    if len(contexts) != len(continuations):
        raise ValueError(f"{len(contexts)} contexts but {len(continuations)} continuations")
    return list(zip(contexts, continuations))


@runtime_checkable
class LLMBackend(Protocol):
    name: str
    model: str
    usage: Usage
    #: prompts per call that suit this backend: small for llama.cpp (progress, and a cancel, are seen
    #: between calls and it decodes one prompt at a time anyway), large for batching servers
    batch_size: int
    #: calls the backend may run at once from different threads (1: not thread-safe)
    max_concurrent_calls: int

    @property
    def context_length(self) -> int: ...

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Generation]:
        """n samples per prompt; chats are rendered with the model's chat template."""

    def yes_no_probs(self, prompts: Sequence[Prompt]) -> list[float]:
        """P(yes) / (P(yes) + P(no)) of the first answer token, per prompt."""

    def continuation_logprobs(self, contexts: Sequence[Prompt], continuations: Sequence[str]) -> list[ContinuationScore]:
        """log P(continuation tokens | context), per pair."""

    def close(self) -> None: ...
