"""MLP-neuron attribution graphs of a local Llama / Qwen2 model, exact by linearisation.

Nodes are MLP neurons (the input of ``down_proj``, ``act_fn(gate) * up``, per position), token
embeddings and the target logit. To make attributions add up exactly, the forward pass runs with
the nonlinear parts frozen (values unchanged, only gradients differ):

* RMSNorm scales are detached, so every norm is a fixed diagonal linear map;
* attention patterns are detached (no gradient through Q·K), so attention is linear in V;
* SiLU is ``x·sigmoid(x)`` with the sigmoid detached, and the gate×up product passes half of its
  gradient to each factor (ADAG's "half rule": for a product of two linear maps this makes
  ``x·∇(g·u) = g·u``).

With every neuron activation cut from its inputs (a gradient leaf), the target is then a linear
function of the token embeddings, the neuron activations of earlier layers and the attention biases
that reach the residual stream (none in Llama; Qwen2's V bias, an ``o_proj`` bias where a model has
one): ``target = Σ_emb e·∂t/∂e + Σ_neurons a·∂t/∂a + Σ_bias b·∂t/∂b``. The terms are the *direct
effects* (edge weights); :class:`Rows` keeps their remainder, float error only (~1e-7 relative on
SmolLM2-135M and Qwen2.5-Coder-0.5B). Q/K biases only move the pattern, which is frozen, so they
carry no attribution. ``freeze=False`` runs plain gradients, where conservation does not hold.

The bias is a gradient leaf per layer and position: the V bias enters at the key position (the
frozen pattern then mixes it into later positions, exactly as it does in the forward pass), the
``o_proj`` bias at the query position; both of a layer add up into one source node per (layer,
position). On Qwen2.5-Coder-0.5B they are not small (−3.61 of the 14.59 logit of " Paris" after "The
capital of France is"), so a graph without them would not add up.

In the graph these are *error nodes* (:data:`BIAS_FEATURE_TYPE`, "attention bias error", feature
−1, id ``{layer}_-1_{pos}``), not a new node kind, because that is what circuit-tracer's frontend
(and Neuronpedia's copy of it) handles: a ``feature_type`` containing "error" marks a node
``isError``, keeps it apart per position (its ``featureId`` gets an ``__err_idx_`` suffix) and counts
it in each target's "input from error" share, which is what a bias is: input no neuron explains.
A made-up type such as "bias" with feature −1 would instead share one ``featureId`` per layer
(``{layer}_{feature}``, position dropped) across all positions, and the frontend deletes a feature
present at more than 2/3 of the prompt's tokens, so most bias nodes would silently vanish. The id
follows circuit-tracer's current error nodes, ``{layer}_-1_{pos}``, not the older ``0_{layer}_{pos}``,
which collides with a layer-0 neuron ``0_{neuron}_{pos}`` whose index equals the layer. Only the
frontend's own "mlp reconstruction error" gets its clerp overwritten, so ours ("Bias: attn L3 …")
stays. Bias nodes are sources only (no incoming edges) and are pruned by influence like neurons.

Nodes are chosen like circuit-tracer does: rows of the adjacency (one batched backward pass per
node) are computed for the nodes of highest estimated influence on the target until ``max_nodes``,
then nodes are pruned by cumulative influence (``node_threshold``) and edges by cumulative edge
influence (``edge_threshold``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from hypodisc.backends.hf_load import load_hf_model
from hypodisc.datasets.graph_json import SCHEMA_VERSION, Graph, Link, Metadata, Node, QParams
from hypodisc.errors import ConfigError, InputRejected
from hypodisc.progress import Progress

FEATURE_TYPE = "mlp neuron"
#: The attention biases of one layer at one position (see the module docstring for why an error type).
BIAS_FEATURE_TYPE = "attention bias error"
_FROZEN_ATTENTION = "hypodisc_frozen_eager"


class TracingModel(NamedTuple):
    model: Any
    tokenizer: Any
    name: str


@dataclass(frozen=True)
class LogitTarget:
    """The logit of ``token`` at the last position, minus ``contrast``'s logit when given."""

    token: int
    contrast: int | None = None


@dataclass(frozen=True)
class NeuronTarget:
    layer: int
    pos: int
    neuron: int


Target = LogitTarget | NeuronTarget


def trace_device(device: str | None = None) -> str:
    """``device``, else ``HYPODISC_TRACE_DEVICE``, else ``auto``: the GPU when torch sees one, else the CPU."""
    import os

    import torch

    want = device or os.environ.get("HYPODISC_TRACE_DEVICE") or "auto"
    if want == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return want


def load_tracing_model(path_or_name: str | Path, home: str | Path, device: str | None = None) -> TracingModel:
    """A GGUF file, HF folder or registered model name (resolved in the model store at ``home``), in float32
    with eager attention (the frozen forward then reproduces its logits bit for bit), on :func:`trace_device`."""
    path = Path(path_or_name).expanduser()
    if not path.exists():
        from hypodisc.backends.model_store import ModelStore

        path = ModelStore(Path(home).expanduser()).resolve(str(path_or_name))
    tokenizer, model = load_hf_model(path, needs="graph tracing",
                                     fix="`pip install hypodisc[features]` (transformers, gguf, accelerate, torch)")
    model.set_attn_implementation("eager")
    check_architecture(model)
    name = path.parent.name if path.is_file() or path.name == "hf" else path.name
    return TracingModel(model.to(trace_device(device)).eval(), tokenizer, name)


def check_architecture(model: Any) -> None:
    """The modules the linearisation hooks: Llama / Qwen2-style decoder layers with gated MLPs and RMSNorm."""
    try:
        layers = model.model.layers
        for layer in layers:
            mlp = layer.mlp
            _ = (mlp.gate_proj, mlp.up_proj, mlp.down_proj, mlp.act_fn, layer.self_attn.num_key_value_groups)
            for norm in (layer.input_layernorm, layer.post_attention_layernorm):
                _ = norm.weight, _eps(norm)
        _ = model.model.norm.weight, _eps(model.model.norm), model.model.embed_tokens
    except AttributeError as exc:
        raise ConfigError(f"graph tracing needs a Llama/Qwen2-style model (gated MLP, RMSNorm): {exc}") from None
    for i, layer in enumerate(layers):
        for name in ("gate_proj", "up_proj", "down_proj"):
            if getattr(getattr(layer.mlp, name), "bias", None) is not None:
                raise ConfigError(f"graph tracing: layer {i}'s mlp.{name} has a bias, which no node accounts for "
                                  "(direct effects would not add up)")
    if getattr(getattr(model, "lm_head", None), "bias", None) is not None:
        raise ConfigError("graph tracing: the unembedding (lm_head) has a bias, which no node accounts for")
    act = getattr(model.config, "hidden_act", "silu")
    if act != "silu":
        raise ConfigError(f"graph tracing linearises SiLU gates; this model's activation is {act!r}")


def _eps(norm: Any) -> float:
    eps = getattr(norm, "variance_epsilon", getattr(norm, "eps", None))
    if eps is None:
        raise AttributeError(f"{type(norm).__name__} has no variance_epsilon")
    return eps


# -- the linearised forward ---------------------------------------------------------------------


def _same_value(value, linear):
    """``value`` in the forward pass, ``linear``'s gradient in the backward pass (``linear`` ≈ ``value``)."""
    return value.detach() + (linear - linear.detach())


def _half(x):
    """``x`` with half its gradient (exact in value: x/2 + x/2 == x in floating point)."""
    return 0.5 * x + 0.5 * x.detach()


def _frozen_attention(module, query, key, value, attention_mask, scaling, dropout=0.0, **_kwargs):
    """Eager attention whose pattern is a constant: the output is linear in V."""
    import torch

    groups = module.num_key_value_groups
    key = key.repeat_interleave(groups, dim=1) if groups > 1 else key
    value = value.repeat_interleave(groups, dim=1) if groups > 1 else value
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        scores = scores + attention_mask
    weights = torch.nn.functional.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype).detach()
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), weights


def _register_attention() -> None:
    """Adds (never replaces) one named attention function and its mask builder to transformers' registries."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(_FROZEN_ATTENTION, _frozen_attention)
    AttentionMaskInterface.register(_FROZEN_ATTENTION, eager_mask)


@dataclass
class _Capture:
    embeddings: Any = None        # (B, T, H) leaf
    acts: list | None = None      # per layer (B, T, D), the activation with its graph back to earlier leaves
    leaves: list | None = None    # per layer (B, T, D), what down_proj reads: the activation cut from its inputs
    biases: list | None = None    # per layer, the attention bias leaves (B, T, d) of v_proj / o_proj (if any)


@contextmanager
def linearised(model: Any, freeze: bool = True) -> Iterator[_Capture]:
    """Hooks that cut every neuron activation into a gradient leaf and, with ``freeze``, linearise the model."""
    import torch

    n_layers = len(model.model.layers)
    cap = _Capture(acts=[None] * n_layers, leaves=[None] * n_layers, biases=[[] for _ in range(n_layers)])
    handles = []

    def on_embed(_m, _args, out):
        cap.embeddings = out.detach().requires_grad_(True)
        return cap.embeddings

    def on_norm(module, args, out):
        x = args[0]
        x32 = x.to(torch.float32)
        scale = torch.rsqrt(x32.detach().pow(2).mean(-1, keepdim=True) + _eps(module))
        return _same_value(out, module.weight * (x32 * scale).to(x.dtype))

    def on_act(_m, args, out):
        gate = args[0]
        return _half(_same_value(out, gate * torch.sigmoid(gate).detach()))

    def on_up(_m, _args, out):
        return _half(out)

    def on_down(i):
        def hook(_m, args):
            cap.acts[i] = args[0]
            cap.leaves[i] = args[0].detach().requires_grad_(True)
            return (cap.leaves[i],)
        return hook

    def on_bias(i):
        def hook(module, _args, out):
            # out = W·x + b; the same value, with b's gradient going to a leaf of its own
            leaf = module.bias.detach().expand(out.shape).clone().requires_grad_(True)
            cap.biases[i].append(leaf)
            return _same_value(out, out - module.bias.detach() + leaf)
        return hook

    inner = model.model
    handles.append(inner.embed_tokens.register_forward_hook(on_embed))
    for i, layer in enumerate(inner.layers):
        handles.append(layer.mlp.down_proj.register_forward_pre_hook(on_down(i)))
        for proj in (layer.self_attn.v_proj, layer.self_attn.o_proj):
            if getattr(proj, "bias", None) is not None:
                handles.append(proj.register_forward_hook(on_bias(i)))
    old_attention = model.config._attn_implementation
    if freeze:
        _register_attention()
        acts = {id(layer.mlp.act_fn): layer.mlp.act_fn for layer in inner.layers}  # may be shared
        handles += [a.register_forward_hook(on_act) for a in acts.values()]
        for layer in inner.layers:
            handles.append(layer.mlp.up_proj.register_forward_hook(on_up))
            handles.append(layer.input_layernorm.register_forward_hook(on_norm))
            handles.append(layer.post_attention_layernorm.register_forward_hook(on_norm))
        handles.append(inner.norm.register_forward_hook(on_norm))
        model.config._attn_implementation = _FROZEN_ATTENTION
    try:
        yield cap
    finally:
        model.config._attn_implementation = old_attention
        for h in handles:
            h.remove()


@dataclass
class Rows:
    """Direct effects on each target (one row per target) of every neuron, token embedding and attention bias."""

    values: np.ndarray       # (R,) the targets' values
    neurons: np.ndarray      # (R, L, T, D) activation × gradient
    embeddings: np.ndarray   # (R, T) embedding · gradient
    final_logits: np.ndarray  # (V,) logits at the last position
    biases: np.ndarray | None = None  # (R, L, T) bias · gradient, per layer and position (None: no biases)

    @property
    def remainder(self) -> np.ndarray:
        """value − all direct effects: float error only."""
        rest = self.values - self.neurons.reshape(len(self.values), -1).sum(1) - self.embeddings.sum(1)
        return rest if self.biases is None else rest - self.biases.reshape(len(self.values), -1).sum(1)


def next_token_logits(model: Any, tokenizer: Any, prompt: str):
    """The model's ordinary (not linearised) next-token logits after ``prompt``, float32, on the model's device;
    InputRejected when the prompt has no tokens."""
    import torch

    ids = tokenizer(prompt)["input_ids"]
    if not ids:
        raise InputRejected(f"prompt {prompt!r} has no tokens", code="bad_target")
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids], device=model.device), use_cache=False,
                     logits_to_keep=1).logits[0, -1].float()


def linearised_logits(model: Any, ids: Sequence[int], freeze: bool = True) -> np.ndarray:
    """Logits of the hooked forward pass at every position (equal to the plain forward's)."""
    import torch

    with linearised(model, freeze), torch.no_grad():
        return model(input_ids=torch.tensor([list(ids)], device=model.device), use_cache=False).logits[0].float().cpu().numpy()


def direct_effects(model: Any, ids: Sequence[int], targets: Sequence[Target], freeze: bool = True) -> Rows:
    """One backward pass for all ``targets``: the prompt runs once per target in a batch, each copy's
    gradient coming from its own target, so the copies never mix."""
    import torch

    n_layers, t = len(model.model.layers), len(ids)
    if not targets:
        raise ValueError("direct_effects needs at least one target")
    for target in targets:
        if isinstance(target, NeuronTarget) and not (0 <= target.layer < n_layers and 0 <= target.pos < t):
            raise ValueError(f"{target} is outside the model's {n_layers} layers or the prompt's {t} tokens")
    batch = torch.tensor([list(ids)] * len(targets), device=model.device)
    with linearised(model, freeze) as cap:
        logits = model(input_ids=batch, use_cache=False, logits_to_keep=1).logits[:, -1].float()
        values = []
        for b, target in enumerate(targets):
            if isinstance(target, LogitTarget):
                v = logits[b, target.token]
                values.append(v - logits[b, target.contrast] if target.contrast is not None else v)
            else:
                values.append(cap.acts[target.layer][b, target.pos, target.neuron].float())
        total = torch.stack(values).sum()
        bias_leaves = [leaf for per_layer in cap.biases for leaf in per_layer]
        grads = torch.autograd.grad(total, [cap.embeddings, *cap.leaves, *bias_leaves], allow_unused=True)
    n = len(cap.leaves)
    emb = (grads[0] * cap.embeddings).sum(-1)
    neurons = torch.stack([torch.zeros_like(leaf) if g is None else g * leaf
                           for g, leaf in zip(grads[1:1 + n], cap.leaves)], dim=1)
    biases = None
    if bias_leaves:
        biases = torch.zeros(len(targets), n, t, dtype=torch.float32, device=model.device)
        bias_grads = iter(grads[1 + n:])
        for layer, per_layer in enumerate(cap.biases):
            for leaf in per_layer:
                g = next(bias_grads)
                if g is not None:
                    biases[:, layer] += (g * leaf).sum(-1).float()
        biases = biases.detach().cpu().numpy()
    return Rows(values=torch.stack(values).detach().cpu().numpy(), neurons=neurons.detach().float().cpu().numpy(),
                embeddings=emb.detach().float().cpu().numpy(), final_logits=logits[0].detach().cpu().numpy(), biases=biases)


# -- choosing nodes -------------------------------------------------------------------------------


@dataclass
class _SparseRow:
    index: np.ndarray   # flat indices into (L, T, D) neurons, then L*T*D + pos for embeddings, then biases (L, T)
    weight: np.ndarray  # their direct effects
    abs_total: float    # Σ|direct effects| over all sources, kept or not
    value: float
    remainder: float


def _sparse(neurons: np.ndarray, emb: np.ndarray, biases: np.ndarray | None, value: float, remainder: float,
            keep: int) -> _SparseRow:
    flat = np.concatenate([neurons.ravel(), emb, *([] if biases is None else [biases.ravel()])])
    keep = min(keep, flat.size)
    idx = np.argpartition(-np.abs(flat), keep - 1)[:keep]
    idx = idx[flat[idx] != 0]
    return _SparseRow(idx, flat[idx].astype(np.float64), float(np.abs(flat).sum()), value, remainder)


def _influence(rows: dict[int, _SparseRow], logit_row: _SparseRow, n_flat: int, n_layers: int,
               per_layer: int) -> np.ndarray:
    """Estimated influence on the target of every source: row-normalised |direct effects| summed over all
    paths through the computed rows (a DAG by layer, so one sweep from the top layer down is exact)."""
    infl = np.zeros(n_flat)

    def spread(row: _SparseRow, weight: float) -> None:
        if row.abs_total > 0 and weight > 0:
            np.add.at(infl, row.index, weight * np.abs(row.weight) / row.abs_total)

    spread(logit_row, 1.0)
    for idx in sorted(rows, key=lambda i: -(i // per_layer)):  # higher layers first
        spread(rows[idx], infl[idx])
    return infl


def _cumulative_share(scores: np.ndarray) -> np.ndarray:
    """Each entry's cumulative share of the total when ranked from the largest (circuit-tracer's ``influence``)."""
    order = np.argsort(-scores, kind="stable")
    cum = np.empty_like(scores, dtype=np.float64)
    total = scores.sum()
    cum[order] = np.cumsum(scores[order]) / total if total > 0 else 1.0
    return cum


# -- the graph ---------------------------------------------------------------------------------------


def _token_id(tokenizer: Any, token: str | int, what: str) -> int:
    vocab = len(tokenizer)
    if isinstance(token, int):
        if not 0 <= token < vocab:
            raise InputRejected(f"{what}: token id {token} is outside the vocabulary (0..{vocab - 1})",
                                code="bad_target")
        return token
    ids = tokenizer.encode(token, add_special_tokens=False)
    if len(ids) != 1:
        raise InputRejected(f"{what}: {token!r} is {len(ids)} tokens, not one", "give a single token, e.g. ' Austin'",
                            code="bad_target")
    return ids[0]


def _piece(tokenizer: Any, token: int) -> str:
    return tokenizer.decode([token], clean_up_tokenization_spaces=False)


def _slug(prompt: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:60] or "graph"


def trace_graph(model: Any, tokenizer: Any, prompt: str, target: str | int, contrast: str | int | None = None, *,
                node_threshold: float = 0.8, edge_threshold: float = 0.98, max_nodes: int = 200,
                batch_size: int = 16, row_keep: int = 4096, scan: str | None = None,
                progress: Progress | None = None) -> Graph:
    """The attribution graph of ``target``'s logit (minus ``contrast``'s) at the prompt's last position.

    Rows are computed for up to ``max_nodes`` neurons, most influential first; each row keeps its
    ``row_keep`` largest direct effects (edges among the graph's nodes smaller than that are dropped).
    """
    if not 0 < node_threshold <= 1 or not 0 < edge_threshold <= 1 or max_nodes < 1:
        raise InputRejected("thresholds must lie in (0, 1] and max_nodes be at least 1", code="bad_target")
    ids = tokenizer(prompt)["input_ids"]
    if not ids:
        raise InputRejected("the prompt has no tokens", code="bad_target")
    tok = _token_id(tokenizer, target, "target")
    con = None if contrast is None else _token_id(tokenizer, contrast, "contrast")
    n_layers, t = len(model.model.layers), len(ids)
    d_mlp = model.model.layers[0].mlp.down_proj.in_features
    per_layer, n_neurons = t * d_mlp, n_layers * t * d_mlp

    def report(done: int) -> None:
        if progress is not None:
            progress("tracing", done, max_nodes)

    first = direct_effects(model, ids, [LogitTarget(tok, con)])
    has_bias = first.biases is not None
    n_bias_start = n_neurons + t
    n_flat = n_bias_start + (n_layers * t if has_bias else 0)
    logit_row = _sparse(first.neurons[0], first.embeddings[0], None if not has_bias else first.biases[0],
                        float(first.values[0]), float(first.remainder[0]), row_keep)
    activations = _activations(model, ids)
    rows: dict[int, _SparseRow] = {}
    report(0)
    while len(rows) < max_nodes:
        infl = _influence(rows, logit_row, n_flat, n_layers, per_layer)[:n_neurons]
        infl[list(rows)] = 0.0
        want = min(batch_size, max_nodes - len(rows))
        pick = [int(i) for i in np.argsort(-infl)[:want] if infl[i] > 0]
        if not pick:
            break
        targets = [NeuronTarget(*_unflat(i, t, d_mlp)) for i in pick]
        got = direct_effects(model, ids, targets)
        for b, i in enumerate(pick):
            rows[i] = _sparse(got.neurons[b], got.embeddings[b], None if not has_bias else got.biases[b],
                              float(got.values[b]), float(got.remainder[b]), row_keep)
        report(len(rows))

    # adjacency over [logit, computed neurons (by layer), embeddings, biases (by layer, position)]
    neurons = sorted(rows)
    order = [-1, *neurons, *range(n_neurons, n_flat)]
    pos_of = {flat: k for k, flat in enumerate(order)}
    n = len(order)
    adj = np.zeros((n, n))
    for k, flat in enumerate(order):
        row = logit_row if flat == -1 else rows.get(flat)
        if row is None:
            continue
        for src, w in zip(row.index, row.weight):
            if int(src) in pos_of:
                adj[k, pos_of[int(src)]] = w
    norm = np.abs(adj)
    sums = norm.sum(1, keepdims=True)
    norm = np.divide(norm, sums, out=np.zeros_like(norm), where=sums > 0)
    # total influence on the logit: e0 · (A + A² + ...) = e0 · ((I − A)^-1 − I)
    reach = np.linalg.solve((np.eye(n) - norm).T, np.eye(n)[0])
    node_infl = reach.copy()
    node_infl[0] = 0.0
    cum = _cumulative_share(node_infl[1:])
    keep = np.ones(n, bool)
    is_neuron = np.zeros(n, bool)
    is_neuron[1:1 + len(neurons)] = True
    is_bias = np.array([flat >= n_bias_start for flat in order])
    keep[1:] = ~(is_neuron | is_bias)[1:] | (cum <= node_threshold)  # embeddings always kept
    if is_neuron.any() and not (keep & is_neuron).any():
        keep[1 + int(np.argmax(node_infl[1:1 + len(neurons)]))] = True
    # edges: share of influence flowing through each, pruned by cumulative share
    reach_w = np.where(np.arange(n) == 0, 1.0, reach)
    edge_score = np.abs(norm) * reach_w[:, None] * keep[:, None] * keep[None, :]
    tgt_i, src_i = np.nonzero(edge_score)
    edge_cum = _cumulative_share(edge_score[tgt_i, src_i])
    kept_edges = [(a, b) for a, b, c in zip(tgt_i, src_i, edge_cum) if c <= edge_threshold]

    probs = np.exp(first.final_logits - first.final_logits.max())
    probs /= probs.sum()
    pieces = [_piece(tokenizer, i) for i in ids]
    node_ids: dict[int, str] = {}
    nodes = []
    logit_id = f"{n_layers + 1}_{tok}_{t - 1}"
    label = f"Output {_piece(tokenizer, tok)!r}" + (f" − {_piece(tokenizer, con)!r}" if con is not None else "")
    nodes.append(Node(node_id=logit_id, feature=tok, layer=str(n_layers + 1), ctx_idx=t - 1, feature_type="logit",
                      jsNodeId=logit_id, clerp=f"{label} (p={probs[tok]:.3f})", influence=None,
                      activation=logit_row.value, token_prob=float(probs[tok]), is_target_logit=True,
                      reverse_ctx_idx=0))
    node_ids[0] = logit_id
    for k in range(1, n):
        if not keep[k]:
            continue
        flat = order[k]
        if flat >= n_bias_start:
            layer, pos = divmod(flat - n_bias_start, t)
            nid = f"{layer}_-1_{pos}"
            nodes.append(Node(node_id=nid, feature=-1, layer=str(layer), ctx_idx=pos, feature_type=BIAS_FEATURE_TYPE,
                              jsNodeId=f"{layer}_-1-{pos}", clerp=f"Bias: attn L{layer} {pieces[pos]!r}",
                              influence=float(cum[k - 1]), reverse_ctx_idx=t - 1 - pos))
        elif flat >= n_neurons:
            pos = flat - n_neurons
            nid = f"E_{ids[pos]}_{pos}"
            nodes.append(Node(node_id=nid, feature=ids[pos], layer="E", ctx_idx=pos, feature_type="embedding",
                              jsNodeId=nid, clerp=f"Emb: {pieces[pos]!r}", influence=float(cum[k - 1]),
                              reverse_ctx_idx=t - 1 - pos))
        else:
            layer, pos, neuron = _unflat(flat, t, d_mlp)
            nid = f"{layer}_{neuron}_{pos}"
            nodes.append(Node(node_id=nid, feature=neuron, layer=str(layer), ctx_idx=pos, feature_type=FEATURE_TYPE,
                              jsNodeId=nid, clerp="", influence=float(cum[k - 1]),
                              activation=float(activations[layer, pos, neuron]), reverse_ctx_idx=t - 1 - pos))
        node_ids[k] = nid
    links = [Link(source=node_ids[b], target=node_ids[a], weight=float(adj[a, b])) for a, b in kept_edges]
    remainders = [abs(logit_row.remainder) / max(abs(logit_row.value), 1e-12)] + [
        abs(r.remainder) / max(abs(r.value), 1e-12) for r in rows.values()]
    metadata = Metadata(
        slug=_slug(prompt), scan=scan or str(getattr(model.config, "_name_or_path", "") or "local-model"),
        prompt_tokens=pieces, prompt=prompt, node_threshold=node_threshold, schema_version=SCHEMA_VERSION,
        pruning_settings={"node_threshold": node_threshold, "edge_threshold": edge_threshold},
        generation_settings={"max_feature_nodes": max_nodes, "batch_size": batch_size},
        info={"generator": {"name": "hypodisc.datasets.graph_tracing"}},
        linearisation={"basis": "mlp neurons (input of down_proj)", "norms": "scale detached",
                       "attention": "pattern detached", "gate": "SiLU sigmoid detached, half rule on gate×up",
                       "target": {"token": tok, "contrast": con},
                       # |value − Σ direct effects| / |value| over the computed rows: float error
                       "max_relative_remainder": float(max(remainders))})
    report(max_nodes)
    return Graph(metadata=metadata, qParams=QParams(), nodes=nodes, links=links)


def _unflat(flat: int, t: int, d_mlp: int) -> tuple[int, int, int]:
    layer, rest = divmod(flat, t * d_mlp)
    pos, neuron = divmod(rest, d_mlp)
    return layer, pos, neuron


def _activations(model: Any, ids: Sequence[int]) -> np.ndarray:
    """(L, T, D) neuron activations of the prompt."""
    import torch

    with linearised(model, freeze=False) as cap, torch.no_grad():
        model(input_ids=torch.tensor([list(ids)], device=model.device), use_cache=False, logits_to_keep=1)
        return torch.stack([a[0] for a in cap.acts]).float().cpu().numpy()


__all__ = ["TracingModel", "LogitTarget", "NeuronTarget", "Rows", "load_tracing_model", "check_architecture",
           "linearised", "linearised_logits", "direct_effects", "trace_graph", "FEATURE_TYPE", "BIAS_FEATURE_TYPE"]
