"""Tracing and interventions on tiny random-init Llama and Qwen2 models, on the CPU and (where torch sees one)
the GPU: the same graph on both, conservation on each. No weights are needed, so the GPU machine runs it."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from hypodisc.datasets.graph_features import node_attributions  # noqa: E402
from hypodisc.datasets.graph_tracing import direct_effects, LogitTarget, trace_graph  # noqa: E402
from hypodisc.verifiers.graph_causal import run_prompt, scaled  # noqa: E402

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


class CharTokenizer:
    """One token per character (ids 3..), enough for the tracer's calls: encode, decode, __call__, len."""

    def __init__(self, vocab: int = 64):
        self.vocab = vocab

    def __len__(self) -> int:
        return self.vocab

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return [3 + (ord(c) % (self.vocab - 3)) for c in text]

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict:
        return {"input_ids": self.encode(text)}

    def decode(self, ids, clean_up_tokenization_spaces: bool = False) -> str:
        return "".join(chr(97 + (i - 3) % 26) for i in ids)


def tiny(kind: str, device: str):
    torch.manual_seed(0)
    common = dict(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=3, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-6, tie_word_embeddings=False)
    config = (transformers.LlamaConfig(**common) if kind == "llama" else transformers.Qwen2Config(**common))
    config._attn_implementation = "eager"
    model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.set_attn_implementation("eager")
    if kind == "qwen2":  # random V biases, so the bias error nodes carry something
        with torch.no_grad():
            for layer in model.model.layers:
                layer.self_attn.v_proj.bias.normal_(0, 0.5)
    return model.to(device).eval()


@pytest.mark.fast
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind", ["llama", "qwen2"])
def test_tiny_models_trace_conserving_graphs_on_each_device(kind, device):
    tok = CharTokenizer()
    model = tiny(kind, device)
    ids = tok("hello world")["input_ids"]
    rows = direct_effects(model, ids, [LogitTarget(tok.encode("x")[0], tok.encode("y")[0])])
    total = rows.neurons.sum() + rows.embeddings.sum() + (rows.biases.sum() if rows.biases is not None else 0.0)
    assert abs(total - rows.values[0]) <= 1e-4 * max(1.0, abs(rows.values[0]))
    graph = trace_graph(model, tok, "hello world", "x", "y", max_nodes=20)
    assert float(graph.metadata.model_extra["linearisation"]["max_relative_remainder"]) < 1e-4
    attr = node_attributions(graph)
    assert any(abs(v) > 0 for k, v in attr.items() if not k.startswith("E_"))
    base = run_prompt(model, tok, "hello world", tok.encode("x")[0], tok.encode("y")[0])
    with scaled(model, [(1, n) for n in range(48)], 0.0):
        ablated = run_prompt(model, tok, "hello world", tok.encode("x")[0], tok.encode("y")[0])
    assert ablated.metric != pytest.approx(base.metric, abs=1e-6)


@pytest.mark.fast
@pytest.mark.skipif(len(DEVICES) < 2, reason="no GPU here: the CPU/GPU comparison runs on the GPU machine")
@pytest.mark.parametrize("kind", ["llama", "qwen2"])
def test_the_gpu_graph_is_the_cpu_graph(kind):
    tok = CharTokenizer()
    graphs = [trace_graph(tiny(kind, d), tok, "hello world", "x", "y", max_nodes=20) for d in ("cpu", "cuda")]
    ids = [[n.node_id for n in g.nodes] for g in graphs]
    assert ids[0] == ids[1]
    a = np.array([link.weight for link in graphs[0].links])
    b = np.array([link.weight for link in graphs[1].links])
    assert len(a) == len(b) and np.allclose(a, b, rtol=1e-3, atol=1e-5)
