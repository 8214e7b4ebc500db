"""A cluster of graph neurons seen as one feature, so the feature explainer and scorers describe and score it.

Each graph node's **attribution** to its graph's target is read off the graph's kept links, in the
target's units (the logit, or the logit difference to a contrast token): the target gets its value,
and every other node ``s`` the share it passes on, ``attr(s) = Σ_t w(s→t) · attr(t) / value(t)``, where
``w(s→t)`` is the link's direct effect and ``value(t)`` the target node's activation (its incoming
link weights summed where the JSON has no activation, as circuit-tracer's logit nodes often don't).
In our linearised graphs this is activation × gradient of the target restricted to the kept paths.

A cluster of neurons ``(layer, index)`` then has, per prompt and token position, the summed
``|attr|`` of its nodes there: a token-level activation that is zero where none of its neurons was
kept. :func:`cluster_records` turns that into one :class:`FeatureRecord` per cluster (every prompt an
example, so prompts where the cluster plays no part are its silent examples), with the tokens the
cluster's neurons promote as the record's ``top_logits`` (the explainer's output-side view).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from graphlib import CycleError, TopologicalSorter

import numpy as np

from hypodisc.datasets.feature_records import ActivationExample, FeatureRecord
from hypodisc.datasets.graph_json import Graph
from hypodisc.errors import InputRejected

Neuron = tuple[int, int]


def node_attributions(graph: Graph) -> dict[str, float]:
    """node id -> attribution to the graph's target logit through the kept links (see the module docstring)."""
    incoming: dict[str, list[tuple[str, float]]] = {}
    outgoing: dict[str, list[tuple[str, float]]] = {}
    for link in graph.links:
        incoming.setdefault(link.target, []).append((link.source, link.weight))
        outgoing.setdefault(link.source, []).append((link.target, link.weight))
    values = {}
    for node in graph.nodes:
        value = node.activation if node.activation is not None else sum(w for _, w in incoming.get(node.node_id, []))
        values[node.node_id] = float(value)
    order = TopologicalSorter({n.node_id: [t for t, _ in outgoing.get(n.node_id, [])] for n in graph.nodes})
    try:
        ordered = list(order.static_order())  # targets before their sources
    except CycleError as exc:
        raise InputRejected(f"graph {graph.metadata.slug!r} has a cycle of links ({exc.args[1][:4]}...)",
                            code="bad_graph") from None
    goal = target_node(graph)
    attr: dict[str, float] = {}
    for node_id in ordered:
        if goal is not None and node_id == goal.node_id:
            attr[node_id] = values[node_id]
            continue
        total = 0.0
        for target, weight in outgoing.get(node_id, []):
            v = values.get(target, 0.0)
            if abs(v) > 1e-9:
                total += weight * attr.get(target, 0.0) / v
        attr[node_id] = total
    return attr


def target_node(graph: Graph):
    """The logit node a graph explains: the one marked ``is_target_logit``, else the most probable logit."""
    logits = [n for n in graph.nodes if n.kind == "logit"]
    marked = [n for n in logits if n.is_target_logit]
    if marked:
        return marked[0]
    return max(logits, key=lambda n: n.token_prob or 0.0, default=None)


def neuron_of(node) -> Neuron | None:
    """``(layer, index)`` of an MLP-neuron (or transcoder-feature) node; None for every other kind."""
    if node.kind != "feature" or node.feature is None or not node.layer.lstrip("-").isdigit():
        return None
    return int(node.layer), int(node.feature)


def cluster_activations(graphs: Sequence[Graph], neurons: Sequence[Neuron],
                        attributions: Sequence[Mapping[str, float]] | None = None) -> list[np.ndarray]:
    """Per graph, per token position: the summed |attribution| of the cluster's nodes there."""
    members = set(neurons)
    attributions = attributions or [node_attributions(g) for g in graphs]
    out = []
    for graph, attr in zip(graphs, attributions):
        row = np.zeros(len(graph.metadata.prompt_tokens))
        for node in graph.nodes:
            if neuron_of(node) in members and node.ctx_idx < len(row):
                row[node.ctx_idx] += abs(attr.get(node.node_id, 0.0))
        out.append(row)
    return out


def cluster_records(graphs: Sequence[Graph], clusters: Mapping[str, Sequence[Neuron]], *,
                    promoted: Mapping[str, Sequence[str]] | None = None, fire_fraction: float = 0.1,
                    fire_quantile: float = 0.5,
                    attributions: Sequence[Mapping[str, float]] | None = None) -> list[FeatureRecord]:
    """One token-level feature per cluster over the graphs' prompts (see the module docstring).

    A prompt fires when the cluster's largest attribution in it is above both ``fire_fraction`` of its largest
    over the whole set (a trace left by pruning is not firing) and the ``fire_quantile`` of its per-prompt
    peaks. A cluster of a task's circuit takes part in nearly every prompt of the task, so "fires at all"
    would leave no silent prompts to score on; the quantile makes the scored question ADAG's: on which
    prompts does the cluster carry the most attribution (the weaker prompts are the silent class, their
    activations still shown and simulated).
    """
    attributions = attributions or [node_attributions(g) for g in graphs]
    records = []
    for name, neurons in clusters.items():
        rows = cluster_activations(graphs, neurons, attributions)
        peaks = [float(r.max()) for r in rows if len(r)]
        peak = max(peaks, default=0.0)
        threshold = max(fire_fraction * peak, float(np.quantile(peaks, fire_quantile)) if peaks else 0.0)
        if threshold >= peak:  # every prompt alike: the fraction alone
            threshold = fire_fraction * peak
        examples = tuple(ActivationExample(tokens=tuple(g.metadata.prompt_tokens), activations=tuple(float(v) for v in r))
                         for g, r in zip(graphs, rows) if len(r))
        records.append(FeatureRecord(feature_id=name, examples=examples, level="token",
                                     threshold=threshold,
                                     top_logits=tuple((promoted or {}).get(name, ())), source="graph-cluster"))
    return records


def random_clusters(clusters: Mapping[str, Sequence[Neuron]], pool: Sequence[Neuron], seed: int) -> dict[str, list[Neuron]]:
    """For each cluster, a seeded random draw of the same number of neurons from ``pool`` (the control)."""
    rng = np.random.default_rng(seed)
    pool = list(pool)
    out = {}
    for name, members in clusters.items():
        idx = rng.choice(len(pool), size=min(len(members), len(pool)), replace=False)
        out[f"random:{name}"] = [pool[int(i)] for i in idx]
    return out


def target_share(graph: Graph) -> float:
    """Completeness: the share of the target's direct attribution mass that the kept links carry,
    ``Σ|kept w| / (Σ|kept w| + |value − Σ kept w|)``, where ``value − Σ kept w`` is what the pruned sources
    add up to (1.0 when every direct effect on the target survived pruning; in [0, 1] whatever the signs)."""
    target = target_node(graph)
    if target is None or target.activation is None:
        return float("nan")
    weights = [link.weight for link in graph.links if link.target == target.node_id]
    kept = sum(abs(w) for w in weights)
    rest = abs(target.activation - sum(weights))
    return float(kept / (kept + rest)) if kept + rest > 0 else float("nan")


__all__ = ["node_attributions", "target_node", "neuron_of", "cluster_activations", "cluster_records", "random_clusters",
           "target_share"]
