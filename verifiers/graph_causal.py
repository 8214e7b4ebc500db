"""Does a cluster of MLP neurons matter? Ablate it (zero its neurons) and steer it (scale them ×k) in the
real forward pass, and read the change in the target logit (minus the contrast's) and in the answer.

Interventions act on the input of each layer's ``down_proj`` (the neuron activations the graphs are
made of), at every position of the prompt. The model runs in its ordinary (not linearised) form, so
this checks the graph's claims against the model itself. A random set of the same number of neurons,
drawn from the same recurring pool, is the control: an ablation effect only means something beside it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

Neuron = tuple[int, int]


@dataclass(frozen=True)
class Intervened:
    """One prompt under one intervention: the target metric (logit, or logit difference) and the answer."""

    metric: float
    answer: str


@contextmanager
def scaled(model: Any, neurons: Sequence[Neuron], factor: float) -> Iterator[None]:
    """Multiply the given neurons' activations by ``factor`` (0: ablate) while the block runs."""
    by_layer: dict[int, list[int]] = defaultdict(list)
    for layer, index in neurons:
        by_layer[int(layer)].append(int(index))
    handles = []

    def hook(idx):
        def pre(_module, args):
            x = args[0].clone()
            x[..., idx] = x[..., idx] * factor
            return (x, *args[1:])
        return pre

    try:
        for layer, idx in by_layer.items():
            handles.append(model.model.layers[layer].mlp.down_proj.register_forward_pre_hook(hook(sorted(idx))))
        yield
    finally:
        for h in handles:
            h.remove()


def run_prompt(model: Any, tokenizer: Any, prompt: str, target: int, contrast: int | None) -> Intervened:
    from hypodisc.datasets.graph_tracing import next_token_logits

    logits = next_token_logits(model, tokenizer, prompt)
    metric = float(logits[target] - (logits[contrast] if contrast is not None else logits.mean()))
    answer = tokenizer.decode([int(logits.argmax())], clean_up_tokenization_spaces=False)
    return Intervened(metric, answer)


@dataclass(frozen=True)
class PromptEffect:
    prompt: str
    target: str
    base: Intervened
    ablated: Intervened
    steered: Intervened
    random_ablated: Intervened


def causal_effects(model: Any, tokenizer: Any, prompts: Sequence[tuple[str, int, int | None]], neurons: Sequence[Neuron],
                   control: Sequence[Neuron], steer: float = 2.0) -> list[PromptEffect]:
    """Per prompt ``(text, target id, contrast id or None)``: the metric and answer plain, with ``neurons``
    ablated, steered ×``steer``, and with the ``control`` neurons ablated."""
    out = []
    for prompt, target, contrast in prompts:
        base = run_prompt(model, tokenizer, prompt, target, contrast)
        with scaled(model, neurons, 0.0):
            ablated = run_prompt(model, tokenizer, prompt, target, contrast)
        with scaled(model, neurons, steer):
            steered = run_prompt(model, tokenizer, prompt, target, contrast)
        with scaled(model, control, 0.0):
            random_ablated = run_prompt(model, tokenizer, prompt, target, contrast)
        out.append(PromptEffect(prompt, tokenizer.decode([target], clean_up_tokenization_spaces=False), base,
                                ablated, steered, random_ablated))
    return out


def removed_share(effects: Sequence[PromptEffect], which: str = "ablated") -> float:
    """Share of the summed base metric that the intervention removes: 1 − Σ after / Σ base (nan if Σ base is 0)."""
    base = sum(e.base.metric for e in effects)
    after = sum(getattr(e, which).metric for e in effects)
    return float(1 - after / base) if base else float("nan")


def flips(effects: Sequence[PromptEffect], which: str) -> int:
    return sum(getattr(e, which).answer != e.base.answer for e in effects)


def mean_change(effects: Sequence[PromptEffect], which: str) -> float:
    return float(np.mean([getattr(e, which).metric - e.base.metric for e in effects])) if effects else float("nan")


__all__ = ["Intervened", "PromptEffect", "scaled", "run_prompt", "causal_effects", "removed_share", "flips",
           "mean_change"]
