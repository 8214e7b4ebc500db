"""Attribution profiles of the MLP neurons that recur across the graphs of a prompt set.

Trace several prompts (:func:`trace_prompts`), then, for every neuron ``(layer, index)`` kept in at
least ``min_graphs`` of the graphs (at any position), build one profile (:func:`neuron_profiles`) of
two kinds of fixed-length vectors, on axes shared by all profiles of the set so they can be compared:

* **where its attribution comes from** — the influence on the neuron of each token embedding, direct
  and through other neurons: in each graph, circuit-tracer's influence, the row-normalised
  ``|direct effects|`` summed over all paths (``Â + Â² + …`` over the graph's kept links), read from
  the embedding columns. It is filed two ways: by the token's string (``by_token``, one axis entry
  per distinct prompt token of the set) and by the token's position counted from the prompt's end
  (``by_offset``: 0 is the last token; the last entry collects ``max_offset`` and beyond). Both hold
  the same mass. Each is the mean over the graphs the neuron occurs in (several positions of one
  graph add up).
* **what it pushes at the output** — its direct effect on the vocabulary logits, independent of the
  prompt: ``W_U (γ ⊙ W_down[:, n])``, the neuron's ``down_proj`` column through the final RMSNorm's
  scale ``γ`` and the unembedding, times its mean activation over its occurrences (so a neuron that
  fires negative pushes the other way). The RMSNorm's ``1/rms`` is a positive per-prompt scalar and
  is left out. ``logit_effect`` reads this on a shared axis: the union over the set's neurons of each
  one's ``top_k`` most promoted and ``top_k`` most suppressed tokens; ``promoted`` / ``suppressed``
  keep each neuron's own top tokens for reading.

:meth:`ProfileSet.matrix` stacks chosen parts, each L2-normalised per neuron (so no part outweighs
another by scale), into one row per neuron: cosine similarity of these rows is what the clustering
in ``hypodisc.verifiers.graph_clusters`` compares.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from hypodisc.datasets.graph_json import Graph
from hypodisc.datasets.graph_tracing import FEATURE_TYPE, next_token_logits, trace_graph
from hypodisc.progress import Progress

Part = Literal["token", "offset", "logit"]
PARTS: tuple[Part, ...] = ("token", "offset", "logit")


@dataclass(frozen=True)
class PromptSpec:
    """A prompt and the token whose logit its graph explains (``None``: the model's top next token)."""

    prompt: str
    target: str | int | None = None
    contrast: str | int | None = None


@dataclass(frozen=True)
class Occurrence:
    graph: int      # index into the graph list
    node_id: str
    ctx_idx: int
    activation: float


@dataclass(frozen=True)
class NeuronProfile:
    layer: int
    neuron: int
    occurrences: tuple[Occurrence, ...]
    by_token: np.ndarray    # (len(ProfileSet.token_axis),) influence from embeddings, by token string
    by_offset: np.ndarray   # (max_offset + 1,) the same influence, by position counted from the prompt's end
    logit_effect: np.ndarray  # (len(ProfileSet.logit_axis),) mean activation × direct effect on those logits
    promoted: tuple[tuple[str, float], ...] = field(default=())    # own top tokens: (piece, effect)
    suppressed: tuple[tuple[str, float], ...] = field(default=())

    @property
    def key(self) -> str:
        return f"{self.layer}_{self.neuron}"

    @property
    def graphs(self) -> tuple[int, ...]:
        return tuple(sorted({o.graph for o in self.occurrences}))

    @property
    def mean_activation(self) -> float:
        return float(np.mean([o.activation for o in self.occurrences]))

    def part(self, name: Part) -> np.ndarray:
        return {"token": self.by_token, "offset": self.by_offset, "logit": self.logit_effect}[name]


@dataclass(frozen=True)
class ProfileSet:
    profiles: tuple[NeuronProfile, ...]
    token_axis: tuple[str, ...]
    max_offset: int
    logit_axis: tuple[int, ...]      # vocabulary ids
    logit_pieces: tuple[str, ...]
    n_graphs: int
    min_graphs: int

    @property
    def keys(self) -> list[str]:
        return [p.key for p in self.profiles]

    def matrix(self, parts: Sequence[Part] = PARTS) -> np.ndarray:
        """(neurons, Σ part lengths): each part L2-normalised per neuron (zero stays zero), then the row."""
        if not parts or any(p not in PARTS for p in parts):
            raise ValueError(f"parts must be a non-empty selection of {PARTS}, not {parts!r}")
        width = {"token": len(self.token_axis), "offset": self.max_offset + 1, "logit": len(self.logit_axis)}
        blocks = []
        for name in parts:
            block = np.array([p.part(name) for p in self.profiles], dtype=np.float64).reshape(len(self.profiles),
                                                                                              width[name])
            blocks.append(_unit_rows(block))
        return _unit_rows(np.concatenate(blocks, axis=1))


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def trace_prompts(model: Any, tokenizer: Any, prompts: Sequence[PromptSpec | str], *,
                  progress: Progress | None = None, **trace_kwargs: Any) -> list[Graph]:
    """One graph per prompt (``trace_graph``'s keyword arguments pass through)."""
    graphs = []
    for i, spec in enumerate(prompts):
        spec = PromptSpec(spec) if isinstance(spec, str) else spec
        target = spec.target
        if target is None:
            target = int(next_token_logits(model, tokenizer, spec.prompt).argmax())
        graphs.append(trace_graph(model, tokenizer, spec.prompt, target, spec.contrast, **trace_kwargs))
        if progress is not None:
            progress("graphs", i + 1, len(prompts))
    return graphs


def embedding_influence(graph: Graph) -> dict[str, dict[int, float]]:
    """node id -> {embedding position: influence}: row-normalised |link weights| summed over all paths
    (direct and indirect) of the graph's kept links, from each token embedding to each node."""
    ids = [n.node_id for n in graph.nodes]
    index = {nid: i for i, nid in enumerate(ids)}
    n = len(ids)
    adj = np.zeros((n, n))
    for link in graph.links:
        adj[index[link.target], index[link.source]] += abs(link.weight)
    sums = adj.sum(1, keepdims=True)
    adj = np.divide(adj, sums, out=np.zeros_like(adj), where=sums > 0)
    reach = np.linalg.solve(np.eye(n) - adj, np.eye(n)) - np.eye(n)  # Â + Â² + … (the graph is a DAG)
    emb = [(index[nd.node_id], nd.ctx_idx) for nd in graph.nodes if nd.kind == "embedding"]
    return {nid: {pos: float(reach[i, j]) for j, pos in emb} for nid, i in index.items()}


def logit_effects(model: Any, neurons: Sequence[tuple[int, int]]) -> np.ndarray:
    """(len(neurons), vocab): ``W_U (γ ⊙ W_down[:, n])`` per ``(layer, neuron)``, per unit of activation."""
    import torch

    layers = model.model.layers
    with torch.no_grad():
        cols = torch.stack([layers[layer].mlp.down_proj.weight[:, n] for layer, n in neurons]).float()
        cols = cols * model.model.norm.weight.float()
        return (cols @ model.lm_head.weight.float().T).cpu().numpy()


def _linked_logit_effects(graphs: Sequence[Graph], occurrences: Sequence[Sequence[Occurrence]]
                          ) -> tuple[np.ndarray, dict[int, str]]:
    """Without the model: each neuron's mean direct link weight into each graph's target logit, on an axis of
    the set's distinct target tokens (a graph JSON carries no unembedding, only these links)."""
    from hypodisc.datasets.graph_features import target_node

    targets = [target_node(g) for g in graphs]
    axis = sorted({(t.feature, t.clerp) for t in targets if t is not None}, key=lambda x: (x[0] is None, x))
    col = {tok: i for i, (tok, _) in enumerate(axis)}
    direct = [{link.source: link.weight for link in g.links if t is not None and link.target == t.node_id}
              for g, t in zip(graphs, targets)]
    effects = np.zeros((len(occurrences), max(len(axis), 1)))
    for r, occ in enumerate(occurrences):
        n_graphs = len({o.graph for o in occ})
        for o in occ:
            t = targets[o.graph]
            if t is not None:
                effects[r, col[t.feature]] += direct[o.graph].get(o.node_id, 0.0) / n_graphs
    return effects, {i: clerp for i, (_, clerp) in enumerate(axis)}


def neuron_profiles(graphs: Sequence[Graph], model: Any, tokenizer: Any, *, min_graphs: int = 2, top_k: int = 10,
                    max_offset: int = 8, show: int = 5) -> ProfileSet:
    """Profiles of the neurons kept in at least ``min_graphs`` of ``graphs`` (see the module docstring).

    ``model=None`` (graphs read from JSON, no weights): the output side is each neuron's direct links into
    the graphs' target logits instead of its push on the whole vocabulary.

    The result may hold no profiles (nothing recurs); the clustering rejects too few.
    """
    if min_graphs < 1 or top_k < 1 or max_offset < 0:
        raise ValueError("min_graphs and top_k must be at least 1, max_offset at least 0")
    occurrences: dict[tuple[int, int], list[Occurrence]] = defaultdict(list)
    for g, graph in enumerate(graphs):
        for node in graph.nodes:
            if node.kind == "feature" and (node.feature_type == FEATURE_TYPE or model is None):
                occurrences[(int(node.layer), int(node.feature))].append(
                    Occurrence(g, node.node_id, node.ctx_idx, float(node.activation or 0.0)))
    recurring = sorted(k for k, occ in occurrences.items() if len({o.graph for o in occ}) >= min_graphs)
    token_axis = tuple(sorted({tok for graph in graphs for tok in graph.metadata.prompt_tokens}))
    tok_index = {tok: i for i, tok in enumerate(token_axis)}

    influences = {}
    needed = {o.graph for key in recurring for o in occurrences[key]}
    for g in sorted(needed):
        influences[g] = embedding_influence(graphs[g])

    by_token = np.zeros((len(recurring), len(token_axis)))
    by_offset = np.zeros((len(recurring), max_offset + 1))
    for r, key in enumerate(recurring):
        occ = occurrences[key]
        for o in occ:
            tokens = graphs[o.graph].metadata.prompt_tokens
            for pos, value in influences[o.graph][o.node_id].items():
                by_token[r, tok_index[tokens[pos]]] += value
                by_offset[r, min(len(tokens) - 1 - pos, max_offset)] += value
        n_graphs = len({o.graph for o in occ})
        by_token[r] /= n_graphs
        by_offset[r] /= n_graphs

    if recurring and model is None:
        effects, pieces = _linked_logit_effects(graphs, [occurrences[k] for k in recurring])
        k = min(top_k, effects.shape[1])
        top = np.argsort(-effects, axis=1)[:, :k]
        bottom = np.argsort(effects, axis=1)[:, :k]
        logit_axis = tuple(range(effects.shape[1]))
    elif recurring:
        mean_act = np.array([np.mean([o.activation for o in occurrences[k]]) for k in recurring])
        effects = logit_effects(model, recurring) * mean_act[:, None]
        k = min(top_k, effects.shape[1])
        top = np.argpartition(-effects, k - 1, axis=1)[:, :k]
        bottom = np.argpartition(effects, k - 1, axis=1)[:, :k]
        logit_axis = tuple(int(i) for i in np.unique(np.concatenate([top.ravel(), bottom.ravel()])))
        pieces = {i: tokenizer.decode([i], clean_up_tokenization_spaces=False) for i in logit_axis}
    else:
        effects, top, bottom, logit_axis, pieces = np.zeros((0, 0)), None, None, (), {}

    def named(row: np.ndarray, idx: np.ndarray, sign: int) -> tuple[tuple[str, float], ...]:
        idx = idx[np.argsort(-sign * row[idx])][:show]
        return tuple((pieces[int(i)], float(row[i])) for i in idx)

    profiles = tuple(
        NeuronProfile(layer=key[0], neuron=key[1], occurrences=tuple(occurrences[key]), by_token=by_token[r],
                      by_offset=by_offset[r], logit_effect=effects[r, list(logit_axis)],
                      promoted=named(effects[r], top[r], 1), suppressed=named(effects[r], bottom[r], -1))
        for r, key in enumerate(recurring))
    return ProfileSet(profiles=profiles, token_axis=token_axis, max_offset=max_offset, logit_axis=logit_axis,
                      logit_pieces=tuple(pieces[i] for i in logit_axis), n_graphs=len(graphs), min_graphs=min_graphs)


__all__ = ["PromptSpec", "Occurrence", "NeuronProfile", "ProfileSet", "PARTS", "trace_prompts",
           "embedding_influence", "logit_effects", "neuron_profiles"]
