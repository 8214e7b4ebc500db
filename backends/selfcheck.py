"""A fixed probe of the three protocol primitives, for comparing backends side by side.

``hypodisc backend-check`` prints this as JSON: users run it to see that a server
or engine is set up right, and the tests run it in each backend's own environment
and compare the answers with llama.cpp's on the same prompts.
"""

from __future__ import annotations

import time

from hypodisc.backends.base import GenerationParams, LLMBackend

YES_NO_PROMPTS = [
    [{"role": "user", "content": "Is the following statement true? Paris is the capital of France. Answer Yes or No."}],
    [{"role": "user", "content": "Is the following statement true? Two plus two equals five. Answer Yes or No."}],
    [{"role": "user", "content": "Does this text mention an animal? Text: 'The dog barked at the mailman.' Answer Yes or No."}],
    [{"role": "user", "content": "Does this text mention an animal? Text: 'The stock market fell sharply today.' Answer Yes or No."}],
]
GENERATE_PROMPTS = [
    [{"role": "user", "content": "Name three colours, separated by commas."}],
    [{"role": "user", "content": "Write one short sentence about the sea."}],
]
CONTEXTS = ["The capital of France is", "Monday, Tuesday, Wednesday,", "1, 2, 3, 4,"]
CONTINUATIONS = [" Paris", " Thursday", " 5"]


def run_selfcheck(backend: LLMBackend) -> dict:
    t0 = time.perf_counter()
    before = backend.usage.snapshot()  # a shared backend may already have served other work
    greedy = backend.generate(GENERATE_PROMPTS, GenerationParams(max_tokens=24))
    sampled = backend.generate(GENERATE_PROMPTS[:1], GenerationParams(n=3, temperature=1.0, max_tokens=16, seed=1))
    stopped = backend.generate(GENERATE_PROMPTS[:1], GenerationParams(max_tokens=24, stop=("\n",)))
    yes_no = backend.yes_no_probs(YES_NO_PROMPTS)
    conts = backend.continuation_logprobs(CONTEXTS, CONTINUATIONS)
    return {
        "backend": backend.name,
        "model": backend.model,
        "context_length": backend.context_length,
        "greedy": [g.texts for g in greedy],
        "greedy_completion_tokens": [g.completion_tokens for g in greedy],
        "sampled": sampled[0].texts,
        "stopped": stopped[0].texts[0],
        "yes_no": yes_no,
        "continuations": [{"tokens": c.tokens, "logprobs": c.logprobs} for c in conts],
        "usage": (backend.usage - before).as_dict(),
        "seconds": time.perf_counter() - t0,
    }
