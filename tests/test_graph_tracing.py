"""MLP-neuron attribution graphs of SmolLM2-135M: the linearised forward keeps the model's values and makes
direct effects add up exactly; without freezing they do not (so the conservation check can fail)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import tracing_model_or_skip
from hypodisc.errors import InputRejected

torch = pytest.importorskip("torch")
from hypodisc.datasets.graph_tracing import (LogitTarget, NeuronTarget, _half, _same_value,  # noqa: E402
                                             direct_effects, linearised_logits, trace_graph)
from hypodisc.datasets.graph_json import read_graph, write_graph  # noqa: E402

#: float32 conservation tolerance: |value − Σ direct effects| ≤ REL · max(1, |value|). Observed: ~1e-7.
REL = 1e-4
PROMPTS = [("The capital of France is", " Paris", None), ("The keys to the cabinet", " are", " is")]
SCHEMA = Path(__file__).parent / "data" / "neuronpedia_graph_schema.json"


@pytest.mark.fast
def test_value_preserving_gradient_tricks():
    x = torch.tensor([0.3, -1.7, 2.5], requires_grad=True)
    value = torch.nn.functional.silu(x)
    linear = x * torch.sigmoid(x).detach()
    y = _half(_same_value(value, linear))
    assert torch.equal(y, value)  # bit for bit
    (grad,) = torch.autograd.grad(y.sum(), x)
    assert torch.allclose(grad, 0.5 * torch.sigmoid(x).detach())  # half of the frozen-sigmoid slope


def _conserved(values, remainder) -> np.ndarray:
    return np.abs(remainder) <= REL * np.maximum(1.0, np.abs(values))


@pytest.fixture(scope="module")
def lm():
    return tracing_model_or_skip("smollm2-135m")


def _ids(lm, prompt):
    return lm.tokenizer(prompt)["input_ids"]


def _tok(lm, text):
    (tok,) = lm.tokenizer.encode(text, add_special_tokens=False)
    return tok


@pytest.mark.slow
@pytest.mark.parametrize("prompt", [p for p, _, _ in PROMPTS])
def test_the_linearised_forward_reproduces_the_logits(lm, prompt):
    ids = _ids(lm, prompt)
    with torch.no_grad():
        plain = lm.model(input_ids=torch.tensor([ids])).logits[0].numpy()
    assert np.array_equal(linearised_logits(lm.model, ids), plain)


@pytest.mark.slow
@pytest.mark.parametrize("prompt, target, contrast", PROMPTS)
def test_direct_effects_on_the_logit_and_on_neurons_add_up(lm, prompt, target, contrast):
    """Llama has no biases: value = Σ neurons' + embeddings' direct effects, the remainder is float error."""
    ids = _ids(lm, prompt)
    con = None if contrast is None else _tok(lm, contrast)
    targets = [LogitTarget(_tok(lm, target), con), NeuronTarget(25, len(ids) - 1, 100), NeuronTarget(3, 1, 7)]
    rows = direct_effects(lm.model, ids, targets)
    with torch.no_grad():
        logits = lm.model(input_ids=torch.tensor([ids])).logits[0, -1]
    expected = logits[targets[0].token] - (logits[con] if con is not None else 0)
    # the same forward, but not bit-identical across hosts' kernels: allow float32 rounding of both logits
    scale = float(abs(logits[targets[0].token]) + (abs(logits[con]) if con is not None else 0))
    assert rows.values[0] == pytest.approx(float(expected), abs=16 * float(np.finfo(np.float32).eps) * scale)
    assert _conserved(rows.values, rows.remainder).all(), rows.remainder
    # a neuron only hears earlier layers: nothing from its own layer or above
    assert not rows.neurons[1, 25:].any() and not rows.neurons[2, 3:].any()
    assert np.abs(rows.neurons[1, :25]).sum() > 0


@pytest.mark.slow
def test_without_freezing_the_direct_effects_do_not_add_up(lm):
    prompt, target, contrast = PROMPTS[0]
    ids = _ids(lm, prompt)
    targets = [LogitTarget(_tok(lm, target)), NeuronTarget(25, len(ids) - 1, 100)]
    frozen = direct_effects(lm.model, ids, targets, freeze=True)
    plain = direct_effects(lm.model, ids, targets, freeze=False)
    assert np.array_equal(frozen.values, plain.values)  # same forward values ...
    assert not _conserved(plain.values, plain.remainder).any(), plain.remainder  # ... gradients that do not add up


@pytest.mark.slow
@pytest.mark.parametrize("prompt, target, contrast", PROMPTS)
def test_traced_graph_is_valid_and_its_edges_are_direct_effects(lm, prompt, target, contrast, tmp_path):
    graph = trace_graph(lm.model, lm.tokenizer, prompt, target, contrast, max_nodes=48, scan=lm.name)
    ids = _ids(lm, prompt)
    n_layers = len(lm.model.model.layers)
    logit = graph.nodes[0]
    assert logit.kind == "logit" and logit.node_id == f"{n_layers + 1}_{_tok(lm, target)}_{len(ids) - 1}"
    neurons = [n for n in graph.nodes if n.kind == "feature"]
    assert 1 <= len(neurons) <= 48 and all(n.feature_type == "mlp neuron" for n in neurons)
    assert all(n.influence <= 0.8 for n in neurons)
    assert sorted(n.ctx_idx for n in graph.nodes if n.kind == "embedding") == list(range(len(ids)))
    assert graph.metadata.model_extra["linearisation"]["max_relative_remainder"] < REL
    write_graph(graph, tmp_path / "g.json")
    data = json.loads((tmp_path / "g.json").read_text())
    assert read_graph(data).to_json() == data
    jsonschema = pytest.importorskip("jsonschema")
    assert list(jsonschema.Draft7Validator(json.loads(SCHEMA.read_text())).iter_errors(data)) == []

    # each edge into a neuron is that neuron's direct effect from the source, and its row adds up
    into = next(n for n in neurons if any(link.target == n.node_id for link in graph.links))
    layer, pos, neuron = int(into.layer), into.ctx_idx, into.feature
    rows = direct_effects(lm.model, ids, [NeuronTarget(layer, pos, neuron)])
    assert rows.values[0] == pytest.approx(into.activation, rel=1e-6)
    assert _conserved(rows.values, rows.remainder).all()
    for link in (k for k in graph.links if k.target == into.node_id):
        parts = link.source.split("_")
        got = (rows.embeddings[0, int(parts[2])] if parts[0] == "E"
               else rows.neurons[0, int(parts[0]), int(parts[2]), int(parts[1])])
        assert link.weight == pytest.approx(float(got), rel=1e-5, abs=1e-7)


@pytest.mark.slow
def test_targets_must_be_single_tokens(lm):
    with pytest.raises(InputRejected, match="tokens, not one") as info:
        trace_graph(lm.model, lm.tokenizer, "The capital of France is", " Parisianism", max_nodes=1)
    assert info.value.code == "bad_target"
    with pytest.raises(InputRejected, match="outside the vocabulary"):
        trace_graph(lm.model, lm.tokenizer, "Hi", 10**9, max_nodes=1)


# -- Qwen2: attention biases are nodes of their own -------------------------------------------------


@pytest.fixture(scope="module")
def qwen_lm():
    return tracing_model_or_skip("qwen2.5-coder-0.5b")


@pytest.mark.slow
def test_qwen2_direct_effects_add_up_with_the_attention_biases(qwen_lm):
    """Qwen2 has V biases: without their term the logit row misses several logits' worth; with it, float error."""
    lm = qwen_lm
    prompt, target, _ = PROMPTS[0]
    ids = _ids(lm, prompt)
    targets = [LogitTarget(_tok(lm, target)), NeuronTarget(20, len(ids) - 1, 100), NeuronTarget(3, 1, 7)]
    rows = direct_effects(lm.model, ids, targets)
    with torch.no_grad():
        logits = lm.model(input_ids=torch.tensor([ids])).logits[0, -1]
    assert rows.values[0] == pytest.approx(float(logits[targets[0].token]), rel=1e-6)
    assert rows.biases is not None and rows.biases.shape == (3, len(lm.model.model.layers), len(ids))
    bias_total = rows.biases.reshape(3, -1).sum(1)
    assert abs(bias_total[0]) > 0.05 * abs(rows.values[0])  # the term is real (−3.6 of a 14.6 logit) ...
    assert not _conserved(rows.values, rows.remainder + bias_total)[0]  # ... and conservation fails without it
    assert _conserved(rows.values, rows.remainder).all(), rows.remainder
    # a neuron hears the attention of its own layer (it comes before the MLP) and below, never above
    assert not rows.biases[1, 21:].any() and not rows.biases[2, 4:].any()
    assert np.abs(rows.biases[1, 20]).sum() > 0
    # the V bias enters at the key position: a neuron at position 1 hears the biases of positions 0 and 1 only
    assert not rows.biases[2, :, 2:].any() and np.abs(rows.biases[2, :4, :2]).sum() > 0


@pytest.mark.slow
def test_qwen2_graph_has_bias_error_nodes_and_adds_up(qwen_lm, tmp_path):
    lm = qwen_lm
    prompt, target, _ = PROMPTS[0]
    graph = trace_graph(lm.model, lm.tokenizer, prompt, target, max_nodes=16, scan=lm.name)
    assert graph.metadata.model_extra["linearisation"]["max_relative_remainder"] < REL
    biases = [n for n in graph.nodes if n.feature_type == "attention bias error"]
    assert biases and all(n.kind == "error" and n.feature == -1 and n.node_id == f"{n.layer}_-1_{n.ctx_idx}"
                          for n in biases)
    assert all(n.influence <= 0.8 for n in biases)
    assert not any(link.target in {n.node_id for n in biases} for link in graph.links)  # sources only
    write_graph(graph, tmp_path / "g.json")
    data = json.loads((tmp_path / "g.json").read_text())
    jsonschema = pytest.importorskip("jsonschema")
    assert list(jsonschema.Draft7Validator(json.loads(SCHEMA.read_text())).iter_errors(data)) == []
    # an edge from a bias node is that bias's direct effect on the target
    bias_ids = {n.node_id for n in biases}
    link = max((k for k in graph.links if k.source in bias_ids), key=lambda k: abs(k.weight))
    layer, _, pos = (int(x) for x in link.source.split("_"))
    tgt = graph.node(link.target)
    target_obj = (LogitTarget(_tok(lm, target)) if tgt.kind == "logit"
                  else NeuronTarget(int(tgt.layer), tgt.ctx_idx, tgt.feature))
    rows = direct_effects(lm.model, _ids(lm, prompt), [target_obj])
    assert link.weight == pytest.approx(float(rows.biases[0, layer, pos]), rel=1e-5, abs=1e-7)


@pytest.mark.slow
def test_llama_rows_have_no_bias_term(lm):
    rows = direct_effects(lm.model, _ids(lm, "Hi there"), [NeuronTarget(5, 1, 3)])
    assert rows.biases is None
