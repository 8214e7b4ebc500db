"""A deterministic in-process backend with scripted answers, for the fast test lane.

Like httpx's ``MockTransport``, it is a real implementation of the protocol (prompts are rendered,
usage is counted, batches and context limits behave as a model's do), whose answers come from rules
the caller writes instead of from weights. Everything around the model (proposer clean-up,
statistics, the cascade, the service, checkpoints) then runs for real, in milliseconds, with no
model installed. It is never a default: nothing selects it but code that constructs it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from hypodisc.backends.base import ContinuationScore, Generation, GenerationParams, Prompt, Usage, check_fits, paired
from hypodisc.backends.chat_content import text_only


def render(prompt: Prompt) -> str:
    """A chat as ``role: content`` lines; a raw prompt as itself. Its rules read text: an image is refused."""
    prompt = text_only(prompt, ScriptedBackend.name)
    if isinstance(prompt, str):
        return prompt
    return "\n".join(f"{m['role']}: {m['content']}" for m in prompt)


def _tokens(text: str) -> int:
    return max(1, len(text.split()))


class ScriptedBackend:
    """``judge(prompt) -> P(yes)``, ``reply(prompt, k) -> k-th sample``, ``logprob(context, token)``."""

    name = "scripted"
    batch_size = 64
    max_concurrent_calls = 8  # no shared state but the usage counters, which are thread-safe

    def __init__(self, judge: Callable[[str], float], reply: Callable[[str, int], str] | None = None,
                 logprob: Callable[[str, str], float] | None = None, model: str = "scripted",
                 context_length: int = 32768):
        self._judge, self._reply = judge, reply or (lambda prompt, k: "")
        self._logprob = logprob or (lambda context, token: -1.0)
        self.model, self._context_length = model, context_length
        self.usage = Usage()

    @property
    def context_length(self) -> int:
        return self._context_length

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Generation]:
        out = []
        for p in prompts:
            text = render(p)
            check_fits(_tokens(text), params.max_tokens, self.context_length, "prompt plus max_tokens")
            samples = [" ".join(self._reply(text, k).split(" ")[: params.max_tokens]) for k in range(params.n)]
            done = sum(_tokens(s) for s in samples)
            self.usage.add(calls=params.n, prompt_tokens=_tokens(text), completion_tokens=done)
            out.append(Generation(texts=samples, prompt_tokens=_tokens(text), completion_tokens=done))
        return out

    def yes_no_probs(self, prompts: Sequence[Prompt]) -> list[float]:
        texts = [render(p) for p in prompts]
        for t in texts:
            check_fits(_tokens(t), 0, self.context_length, "yes/no prompt")
        probs = [min(1.0, max(0.0, float(self._judge(t)))) for t in texts]
        self.usage.add(calls=len(texts), prompt_tokens=sum(map(_tokens, texts)), yes_no_judgments=len(texts))
        return probs

    def continuation_logprobs(self, contexts: Sequence[Prompt], continuations: Sequence[str]) -> list[ContinuationScore]:
        out = []
        for ctx, cont in paired(contexts, continuations):
            text, tokens = render(ctx), cont.split(" ") if cont.strip() else [cont]
            out.append(ContinuationScore(tokens=tokens, logprobs=[float(self._logprob(text, t)) for t in tokens]))
        self.usage.add(calls=len(out), prompt_tokens=sum(_tokens(render(c)) for c in contexts))
        return out

    def close(self) -> None:
        pass
