"""The attribution-graph-clusters computation (ADAG): graphs -> recurring-neuron profiles -> clusters with
controls -> a held-out-scored description per cluster -> ablation and steering -> supernodes.

Each stage reuses the library: tracing (:mod:`hypodisc.datasets.graph_tracing`), profiles
(:mod:`~hypodisc.datasets.graph_profiles`), clustering (:mod:`hypodisc.verifiers.graph_clusters`), the
cluster as a feature (:mod:`~hypodisc.datasets.graph_features`) described and scored by the
label-features workflow itself (views, sampled candidates, abstraction, validation-pool selection,
split or cross-fitted held-out scoring, another cluster's description as the borrowed control), and
interventions (:mod:`hypodisc.verifiers.graph_causal`). A random neuron set of each cluster's size is
described, scored and ablated the same way: the second control.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from hypodisc.datasets.graph_features import (cluster_records, neuron_of, node_attributions, random_clusters,
                                              target_node, target_share)
from hypodisc.datasets.graph_json import Graph, read_graph, set_supernodes
from hypodisc.datasets.graph_profiles import NeuronProfile, ProfileSet, neuron_profiles
from hypodisc.errors import InputRejected
from hypodisc.progress import Progress
from hypodisc.workflows.contract import Checkpoints, Engines, NoLimits
from hypodisc.workflows.cost import CostMeter
from hypodisc.workflows.graph_models import (CausalPrompt, CausalReport, ClusteringSummary, GraphCluster,
                                             GraphClustersConfig, GraphClustersRequest, GraphClustersResult,
                                             GraphStage, GraphSummary, TokenWeight, check_graph_request, graph_needs)
from hypodisc.workflows.label_models import LabelResult

Neuron = tuple[int, int]


def _trace(req: GraphClustersRequest, tracer, progress: Progress, checkpoints: Checkpoints
           ) -> tuple[list[Graph], list[GraphSummary]]:
    """One graph per prompt, checkpointed every graph so a resumed job traces only what is left."""
    from hypodisc.datasets.graph_tracing import next_token_logits, trace_graph

    cfg = req.config
    saved = checkpoints.saved.get("graphs", {"graphs": [], "summaries": []})
    graphs = [read_graph(g) for g in saved["graphs"]]
    summaries = [GraphSummary.model_validate(s) for s in saved["summaries"]]
    tm, lock = tracer.get(cfg.tracer_model)
    prompts = req.prompts or []
    progress(GraphStage.TRACE, len(graphs), len(prompts))
    for spec in prompts[len(graphs):]:
        t0 = time.perf_counter()
        with lock:
            top = int(next_token_logits(tm.model, tm.tokenizer, spec.prompt).argmax())
            target = spec.target if spec.target is not None else top
            graph = trace_graph(tm.model, tm.tokenizer, spec.prompt, target, spec.contrast, max_nodes=cfg.max_nodes,
                                node_threshold=cfg.node_threshold, edge_threshold=cfg.edge_threshold, scan=tm.name)
        answer = tm.tokenizer.decode([top], clean_up_tokenization_spaces=False)
        graphs.append(graph)
        summaries.append(_summary(graph, answer, time.perf_counter() - t0))
        checkpoints.save("graphs", {"graphs": [g.to_json() for g in graphs],
                                    "summaries": [s.model_dump(mode="json") for s in summaries]})
        progress(GraphStage.TRACE, len(graphs), len(prompts))
    return graphs, summaries


def _summary(graph: Graph, answer: str | None = None, seconds: float | None = None) -> GraphSummary:
    target = target_node(graph)
    share = target_share(graph)
    return GraphSummary(slug=graph.metadata.slug, prompt=graph.metadata.prompt,
                        target=target.clerp if target is not None else None, answer=answer, nodes=len(graph.nodes),
                        links=len(graph.links), completeness=None if np.isnan(share) else round(share, 4),
                        seconds=None if seconds is None else round(seconds, 2))


def _kept(profiles: ProfileSet, most: int) -> ProfileSet:
    """The ``most`` neurons kept in the most graphs (then the largest |mean activation|), in layer order."""
    ranked = sorted(profiles.profiles, key=lambda p: (-len(p.graphs), -abs(p.mean_activation), p.layer, p.neuron))
    chosen = sorted(ranked[:most], key=lambda p: (p.layer, p.neuron))
    return ProfileSet(profiles=tuple(chosen), token_axis=profiles.token_axis, max_offset=profiles.max_offset,
                      logit_axis=profiles.logit_axis, logit_pieces=profiles.logit_pieces, n_graphs=profiles.n_graphs,
                      min_graphs=profiles.min_graphs)


def _top(values: np.ndarray, names: Sequence[str], n: int = 6) -> list[TokenWeight]:
    order = np.argsort(-values)[:n]
    return [TokenWeight(token=names[i], weight=round(float(values[i]), 4)) for i in order if values[i] > 0]


def _merged(members: Sequence[NeuronProfile], attr: str) -> list[TokenWeight]:
    total: dict[str, float] = {}
    for p in members:
        for piece, value in getattr(p, attr):
            total[piece] = total.get(piece, 0.0) + value / len(members)
    ranked = sorted(total.items(), key=lambda kv: -abs(kv[1]))[:6]
    return [TokenWeight(token=t, weight=round(w, 4)) for t, w in ranked]


def _describe(records, cfg: GraphClustersConfig, llm, embedder, progress: Progress, lo: float, hi: float
              ) -> LabelResult:
    from hypodisc.workflows.label_features import label_features

    def sub(stage: str, done: int, total: int) -> None:  # the label stages as one share of ours
        share = (0.35 if stage == "explain" else 1.0) * (done / total if total else 1.0)
        progress(GraphStage.DESCRIBE, int(1000 * (lo + (hi - lo) * share)), 1000)

    progress(GraphStage.DESCRIBE, int(1000 * lo), 1000)  # the stage shows at once: its first chunk takes minutes
    return label_features(records, cfg.describer, backend=llm, embedder=embedder, progress=sub)


def _targets(graph: Graph) -> tuple[str, int, int | None]:
    lin = (graph.metadata.model_extra or {}).get("linearisation") or {}
    target = (lin.get("target") or {}).get("token")
    contrast = (lin.get("target") or {}).get("contrast")
    if target is None:
        node = target_node(graph)
        target = node.feature if node is not None else None
    if target is None:
        raise InputRejected(f"graph {graph.metadata.slug!r} has no target logit node", code="bad_graph")
    return graph.metadata.prompt, int(target), None if contrast is None else int(contrast)


def _causal(graphs: Sequence[Graph], clusters: dict[str, list[Neuron]], controls: dict[str, list[Neuron]],
            tracer, cfg: GraphClustersConfig, progress: Progress) -> dict[str, CausalReport]:
    from hypodisc.verifiers.graph_causal import causal_effects, flips, mean_change, removed_share

    tm, lock = tracer.get(cfg.tracer_model)
    prompts = [_targets(g) for g in graphs]
    metric = "target logit minus contrast" if any(c is not None for _, _, c in prompts) else "target logit minus mean logit"
    out = {}
    for i, (name, neurons) in enumerate(clusters.items()):
        with lock:
            effects = causal_effects(tm.model, tm.tokenizer, prompts, neurons, controls[f"random:{name}"],
                                     steer=cfg.steer_factor)
        out[name] = CausalReport(
            metric=metric, removed_share=round(removed_share(effects), 4),
            random_removed_share=round(removed_share(effects, "random_ablated"), 4),
            steered_change=round(mean_change(effects, "steered"), 4), flips_ablated=flips(effects, "ablated"),
            flips_steered=flips(effects, "steered"),
            prompts=[CausalPrompt(prompt=e.prompt, target=e.target, base=round(e.base.metric, 4),
                                  ablated=round(e.ablated.metric, 4), steered=round(e.steered.metric, 4),
                                  random_ablated=round(e.random_ablated.metric, 4), answer=e.base.answer,
                                  answer_ablated=e.ablated.answer, answer_steered=e.steered.answer) for e in effects])
        progress(GraphStage.CAUSAL, i + 1, len(clusters))
    return out


def _with_supernodes(graphs: Sequence[Graph], clusters: dict[str, list[Neuron]], labels: dict[str, str]) -> list[dict]:
    out = []
    for graph in graphs:
        groups: dict[str, list[str]] = {}
        for name, neurons in clusters.items():
            members = set(neurons)
            ids = [n.node_id for n in graph.nodes if neuron_of(n) in members]
            if ids:
                groups[f"{name}: {labels[name]}"] = ids
        out.append(set_supernodes(graph, groups).to_json())
    return out


def run_graph_clusters_job(req: GraphClustersRequest, engines: Engines, progress: Progress,
                           checkpoints: Checkpoints) -> GraphClustersResult:
    """The workflow as the registry runs it (see the module docstring)."""
    check_graph_request(req, NoLimits())
    cfg = req.config
    needs = graph_needs(req)
    t0 = time.perf_counter()
    llm = engines.llm() if needs.llm else None
    embedder = engines.embedder() if needs.embedder else None
    tracer = engines.get("tracer") if needs.tracer else None
    meter = CostMeter(llm, embedder)
    warnings: list[str] = []

    with meter.stage("trace"):
        if req.prompts is not None:
            graphs, summaries = _trace(req, tracer, progress, checkpoints)
        else:
            graphs = [read_graph(g) for g in req.graphs or []]
            summaries = [_summary(g) for g in graphs]
            progress(GraphStage.TRACE, len(graphs), len(graphs))

    with meter.stage("cluster"):
        from hypodisc.verifiers.graph_clusters import cluster_profiles

        model = tokenizer = None
        if req.prompts is not None:
            tm, _ = tracer.get(cfg.tracer_model)
            model, tokenizer = tm.model, tm.tokenizer
        profiles = neuron_profiles(graphs, model, tokenizer, min_graphs=cfg.min_graphs)
        if len(profiles.profiles) > cfg.max_neurons:
            warnings.append(f"{len(profiles.profiles)} neurons recur; the {cfg.max_neurons} most frequent are clustered")
            profiles = _kept(profiles, cfg.max_neurons)
        report = cluster_profiles(profiles.matrix(cfg.parts), profiles.keys, k_range=range(cfg.k_min, cfg.k_max + 1),
                                  seed=cfg.seed, n_permutations=cfg.permutations, n_null=cfg.null_runs,
                                  min_silhouette=cfg.min_silhouette)
        if not report.structured:
            warnings.append("the clusters are not clearly structured (silhouette below the threshold or not beyond "
                            "the controls): read the descriptions as tentative")
        by_key = {p.key: p for p in profiles.profiles}
        clusters = {f"c{label}": [(by_key[k].layer, by_key[k].neuron) for k in keys]
                    for label, keys in sorted(report.clusters().items())}
        pool = [(p.layer, p.neuron) for p in profiles.profiles]
        controls = random_clusters(clusters, pool, cfg.seed)
        progress(GraphStage.CLUSTER, 1, 1)

    attributions = [node_attributions(g) for g in graphs]
    members = {name: [by_key[f"{l}_{n}"] for l, n in neurons] for name, neurons in clusters.items()}
    promoted = {name: [t.token for t in _merged(ms, "promoted")] for name, ms in members.items()}
    described: LabelResult | None = None
    random_described: LabelResult | None = None
    if cfg.describe:
        with meter.stage("describe"):
            saved = checkpoints.saved.get("descriptions")
            if saved is not None:
                described = LabelResult.model_validate(saved["clusters"])
                random_described = LabelResult.model_validate(saved["random"]) if saved["random"] else None
            else:
                records = cluster_records(graphs, clusters, promoted=promoted, fire_fraction=cfg.fire_fraction,
                                          fire_quantile=cfg.fire_quantile,
                                          attributions=attributions)
                described = _describe(records, cfg, llm, embedder, progress, 0.0, 0.6 if cfg.random_control else 1.0)
                if cfg.random_control:
                    random_records = cluster_records(graphs, controls, fire_fraction=cfg.fire_fraction,
                                                     fire_quantile=cfg.fire_quantile,
                                                     attributions=attributions)
                    random_described = _describe(random_records, cfg, llm, embedder, progress, 0.6, 1.0)
                checkpoints.save("descriptions", {
                    "clusters": described.model_dump(mode="json"),
                    "random": random_described.model_dump(mode="json") if random_described else None})

    causal: dict[str, CausalReport] = {}
    if cfg.causal != "off" and tracer is not None:
        with meter.stage("intervene"):
            causal = _causal(graphs, clusters, controls, tracer, cfg, progress)

    labels_by_id = {f.feature_id: f for f in (described.features if described else [])}
    random_by_id = {f.feature_id: f for f in (random_described.features if random_described else [])}
    out_clusters = []
    for name, neurons in clusters.items():
        ms = members[name]
        label = labels_by_id.get(name)
        token_mass = np.mean([p.by_token for p in ms], axis=0)
        offsets = np.mean([p.by_offset for p in ms], axis=0)
        rnd = random_by_id.get(f"random:{name}")
        out_clusters.append(GraphCluster(
            cluster_id=name, label=(label.explanation if label and label.explanation else f"cluster {name[1:]}"),
            neurons=[f"{l}_{n}" for l, n in neurons], layers=sorted({l for l, _ in neurons}),
            inputs=_top(token_mass, profiles.token_axis), offsets=[round(float(v), 4) for v in offsets],
            promoted=_merged(ms, "promoted"), suppressed=_merged(ms, "suppressed"), description=label,
            random_control=rnd.scores if rnd else {}, causal=causal.get(name)))
    labels = {c.cluster_id: c.label for c in out_clusters}
    null = report.null_silhouettes
    return GraphClustersResult(
        tracer_model=cfg.tracer_model if tracer is not None else None,
        describer_model=getattr(llm, "model", None), graphs=summaries,
        clustering=ClusteringSummary(
            neurons=len(report.keys), k=report.k, criterion=report.criterion,
            silhouettes={k: round(v, 4) for k, v in report.silhouettes.items()},
            within_similarity=round(report.within_similarity, 4),
            random_partition_similarity=round(report.control_mean, 4), p_partition=round(report.p_partition, 4),
            null_silhouette_mean=round(float(np.mean(null)), 4) if null else None,
            p_null=round(report.p_null, 4) if null else None, structured=report.structured),
        clusters=out_clusters, graph_json=_with_supernodes(graphs, clusters, labels), config=cfg, cost=meter.cost,
        seconds=round(time.perf_counter() - t0, 2), warnings=warnings)


def graph_clusters(request: GraphClustersRequest | dict[str, Any], engines: Engines,
                   progress: Progress | None = None) -> GraphClustersResult:
    """The Python entry point: a request (model or JSON-like) and engines (``Engines(load_settings())``)."""
    from hypodisc.progress import no_progress

    req = request if isinstance(request, GraphClustersRequest) else GraphClustersRequest.model_validate(request)
    return run_graph_clusters_job(req, engines, progress or no_progress, Checkpoints())


__all__ = ["run_graph_clusters_job", "graph_clusters"]
