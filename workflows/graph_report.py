"""The CLI rendering of a GraphClustersResult: one row per cluster with its description, held-out scores
beside both controls, and what ablating it does."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from hypodisc.workflows.graph_models import GraphCluster, GraphClustersResult


def _score(cluster: GraphCluster, scorer: str) -> str:
    label = cluster.description
    if label is None or scorer not in label.scores:
        return "–"
    s = label.scores[scorer]
    borrowed = label.controls.borrowed.scores.get(scorer) if label.controls.borrowed else None
    rnd = cluster.random_control.get(scorer)
    extra = " / ".join(f"{c.score:.2f}" if c is not None else "–" for c in (borrowed, rnd))
    return f"{s.score:.2f} [{s.ci_low:.2f}, {s.ci_high:.2f}] vs {extra}"


def graph_clusters_table(result: GraphClustersResult, title: str) -> Table:
    scorers = list(result.config.describer.scorers) if result.config.describe else []
    table = Table(title=title, title_justify="left")
    for col in ("cluster", "neurons", "layers", "reads", "pushes", "description", *scorers, "ablation"):
        table.add_column(col, justify="right" if col in ("neurons",) else "left")
    for c in result.clusters:
        layers = f"{c.layers[0]}–{c.layers[-1]}" if len(c.layers) > 1 else str(c.layers[0])
        reads = ", ".join(repr(t.token) for t in c.inputs[:3])
        pushes = ", ".join(repr(t.token) for t in c.promoted[:3])
        ablation = (f"removes {c.causal.removed_share:.0%} (random {c.causal.random_removed_share:.0%}), "
                    f"{c.causal.flips_ablated} flips" if c.causal else "–")
        table.add_row(c.cluster_id, str(len(c.neurons)), layers, reads, pushes, c.label,
                      *[_score(c, s) for s in scorers], ablation)
    return table


def summary_line(result: GraphClustersResult) -> str:
    cl = result.clustering
    done = [g.completeness for g in result.graphs if g.completeness is not None]
    complete = f"; graph completeness median {sorted(done)[len(done) // 2]:.2f}" if done else ""
    return (f"{len(result.graphs)} graphs, {cl.neurons} recurring neurons, k={cl.k} (silhouette "
            f"{cl.silhouettes[cl.k]:.2f}, random-partition p={cl.p_partition:.3f}"
            + (f", shuffled-null p={cl.p_null:.3f}" if cl.p_null is not None else "")
            + f"; structured: {cl.structured}){complete}. Scores: held-out [95% CI] vs another cluster's "
              "description / a random set's")


def print_graph_clusters(result: GraphClustersResult, title: str, console: Console, err: Console) -> None:
    console.print(graph_clusters_table(result, title))
    console.print(summary_line(result), highlight=False, markup=False)
    tot = result.cost.total
    console.print(f"cost: {tot.llm_calls} LLM calls, {result.seconds:.0f}s "
                  f"{result.cost.stage_times()}; "
                  f"tracer {result.tracer_model}, describer {result.describer_model}", markup=False, highlight=False)
    for w in result.warnings:
        err.print(f"[yellow]warning:[/] {w}", highlight=False)
