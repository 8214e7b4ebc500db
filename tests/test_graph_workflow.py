"""The graph-clusters workflow (ADAG): attributions read off graphs, clusters as features, supernodes written
back, bad input, and (slow) a real SmolLM2 run with ablation and steering, plus `hypodisc graphs trace`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import tracing_model_or_skip
from typer.testing import CliRunner

from hypodisc.datasets.graph_features import cluster_records, node_attributions, random_clusters, target_share
from hypodisc.datasets.graph_json import (clusters_from_subgraph_body, neuronpedia_subgraph_body, read_graph,
                                          supernodes)
from hypodisc.datasets.graph_prompts import read_prompts
from hypodisc.errors import InputRejected
from hypodisc.workflows.contract import NoLimits
from hypodisc.workflows.graph_models import GRAPH_CLUSTERS, GraphClustersRequest, check_graph_request

fast = pytest.mark.fast
SVA = Path(__file__).resolve().parents[2] / "shared" / "data" / "autointerp" / "transluce_circuits_sva_simple_test.jsonl"
SCHEMA = Path(__file__).parent / "data" / "neuronpedia_graph_schema.json"


def _node(nid, layer, feature, pos, kind="mlp neuron", activation=None, **extra):
    return {"node_id": nid, "feature": feature, "layer": layer, "ctx_idx": pos, "feature_type": kind, "jsNodeId": nid,
            "clerp": "", **({"activation": activation} if activation is not None else {}), **extra}


def _chain() -> dict:
    """E -> a (value 2) -> b (value 4) -> logit (value 3), plus E -> logit directly (1): attributions by hand."""
    nodes = [_node("E_1_0", "E", 1, 0, "embedding"), _node("0_5_0", "0", 5, 0, activation=2.0),
             _node("1_6_0", "1", 6, 0, activation=4.0),
             _node("3_9_0", "3", 9, 0, "logit", activation=3.0, is_target_logit=True)]
    links = [{"source": "E_1_0", "target": "0_5_0", "weight": 2.0}, {"source": "0_5_0", "target": "1_6_0", "weight": 4.0},
             {"source": "1_6_0", "target": "3_9_0", "weight": 2.0}, {"source": "E_1_0", "target": "3_9_0", "weight": 1.0}]
    return {"metadata": {"slug": "chain", "scan": "m", "prompt_tokens": ["x"], "prompt": "x"}, "nodes": nodes,
            "links": links}


@fast
def test_attributions_follow_the_links_in_the_targets_units():
    attr = node_attributions(read_graph(_chain()))
    # b passes its whole direct effect (2) to the logit; a all of b's (4 of 4 -> 2); E: 1 direct + a's 2
    assert attr == pytest.approx({"3_9_0": 3.0, "1_6_0": 2.0, "0_5_0": 2.0, "E_1_0": 3.0})
    assert target_share(read_graph(_chain())) == pytest.approx(1.0)
    pruned = _chain()
    pruned["links"] = pruned["links"][:3]  # the direct embedding link (1 of 3) pruned: |kept| 2, remainder 1
    assert target_share(read_graph(pruned)) == pytest.approx(2 / 3)
    pruned["links"][2]["weight"] = 5.0  # kept links overshoot: |kept| 5, remainder |3 - 5| = 2
    assert target_share(read_graph(pruned)) == pytest.approx(5 / 7)


@fast
def test_a_cycle_is_rejected_by_name():
    g = _chain()
    g["links"].append({"source": "1_6_0", "target": "0_5_0", "weight": 1.0})
    with pytest.raises(InputRejected, match="cycle") as exc:
        node_attributions(read_graph(g))
    assert exc.value.code == "bad_graph"


def _example_graphs():
    return [read_graph(g) for g in GRAPH_CLUSTERS.surfaces.examples.valid()["graphs"]]


@fast
def test_a_cluster_fires_on_the_prompts_where_it_carries_most_attribution():
    graphs = _example_graphs()
    number = [(0, 1), (1, 2), (1, 3)]
    (rec,) = cluster_records(graphs, {"number": number}, fire_fraction=0.1, fire_quantile=0.5)
    peaks = [e.max_activation for e in rec.examples]
    assert len(rec.examples) == len(graphs) and all(p > 0 for p in peaks)
    firing = [e for e in rec.examples if e.max_activation > rec.threshold]
    assert 0 < len(firing) < len(graphs)  # the quantile leaves a silent half
    assert all(np.argmax(e.activations) == 1 for e in rec.examples)  # the noun position, never 'The'
    (never,) = cluster_records(graphs, {"absent": [(7, 7)]})
    assert all(e.max_activation == 0 for e in never.examples) and never.threshold == 0
    rnd = random_clusters({"number": number}, [(0, 1), (1, 2), (1, 3), (0, 7), (0, 8), (1, 9)], seed=3)
    assert list(rnd) == ["random:number"] and len(rnd["random:number"]) == 3
    assert rnd == random_clusters({"number": number}, [(0, 1), (1, 2), (1, 3), (0, 7), (0, 8), (1, 9)], seed=3)


@fast
def test_prompt_files_in_both_forms_and_their_errors(tmp_path):
    assert read_prompts(SVA, limit=2) == [
        {"prompt": "The uncle", "target": " has", "contrast": " have"},
        {"prompt": "The uncle", "target": " is", "contrast": " are"}] if SVA.exists() else True
    f = tmp_path / "p.jsonl"
    f.write_text('{"prompt": "The cat", "target": " is"}\n\n"The dogs"\n')
    assert read_prompts(f) == [{"prompt": "The cat", "target": " is"}, {"prompt": "The dogs"}]
    f.write_text('{"prompt": "ok"}\n{"text": "no prompt field"}\n')
    with pytest.raises(InputRejected, match=r"p.jsonl line 2: needs a 'prompt'"):
        read_prompts(f)
    f.write_text('{"prompt": "ok"}\n{nope\n')
    with pytest.raises(InputRejected, match="line 2: not valid JSON") as exc:
        read_prompts(f)
    assert exc.value.code == "malformed_json"


@fast
@pytest.mark.parametrize("edit, code, message", [
    (lambda r: {**r, "prompts": [{"prompt": "x"}] * 4}, "invalid_request", "not both"),
    (lambda r: {**r, "graphs": r["graphs"][:3]}, "too_few_graphs", "3 graphs; at least 4"),
    (lambda r: {**r, "config": {**r["config"], "k_min": 5, "k_max": 3}}, "invalid_request", "k_min"),
    (lambda r: {**r, "graphs": [{**r["graphs"][0], "nodes": "x"}, *r["graphs"][1:]]}, "bad_graph", r"graphs\[0\]: nodes"),
])
def test_bad_requests_get_their_code(edit, code, message):
    req = GRAPH_CLUSTERS.parse(edit(GRAPH_CLUSTERS.surfaces.examples.valid()))
    with pytest.raises(InputRejected, match=message) as exc:
        check_graph_request(req, NoLimits())
    assert exc.value.code == code


@fast
def test_the_planted_groups_come_back_and_round_trip_as_supernodes(tmp_path):
    """Hand-made graphs with a number group (reads the noun) and a position group (reads 'The'): the workflow
    finds exactly those, writes them as supernodes, and both the graph and Neuronpedia's body read them back."""
    from workflow_checks import scripted_engines

    req = GraphClustersRequest.model_validate(GRAPH_CLUSTERS.surfaces.examples.valid())
    result = GRAPH_CLUSTERS.run(req, scripted_engines(GRAPH_CLUSTERS, tmp_path))
    groups = sorted(sorted(c.neurons) for c in result.clusters)
    assert groups == [["0_1", "1_2", "1_3"], ["0_7", "0_8", "1_9"]]
    number = next(c for c in result.clusters if "0_1" in c.neurons)
    assert number.offsets[0] == pytest.approx(1.0) and all(t.token != "The" for t in number.inputs)
    assert result.clustering.k == 2 and result.clustering.silhouettes[2] > 0.9
    assert number.description is not None and "simulation" in number.description.scores
    assert set(number.random_control) == {"simulation", "detection"}
    for raw, graph in zip(result.graph_json, _example_graphs()):
        again = read_graph(json.loads(json.dumps(raw)))
        got = supernodes(again)
        want = {f"{c.cluster_id}: {c.label}": [n.node_id for n in graph.nodes
                                                if n.kind == "feature" and f"{n.layer}_{n.feature}" in c.neurons]
                for c in result.clusters}
        assert got == {k: v for k, v in want.items() if v}
        body = neuronpedia_subgraph_body(again, got, "example-model", again.metadata.slug)
        assert clusters_from_subgraph_body(json.loads(json.dumps(body))) == got


def _schema_errors(data: dict) -> list[str]:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))
    return [e.message for e in validator.iter_errors(data)]


@pytest.mark.slow
def test_smollm2_sva_end_to_end_with_ablation_and_steering(tmp_path):
    """Real graphs of SmolLM2-135M on agreement prompts: clusters, interventions beside a random set, and the
    graphs with supernodes still valid for circuit-tracer's schema."""
    tracing_model_or_skip("smollm2-135m")
    from hypodisc.config import Settings
    from hypodisc.workflows.engines import Engines
    from hypodisc.workflows.graph_clusters import graph_clusters

    prompts = [{"prompt": f"The {n}", "target": v, "contrast": w} for n, v, w in [
        ("boy", " is", " are"), ("boys", " are", " is"), ("girl", " is", " are"), ("girls", " are", " is"),
        ("dog", " is", " are"), ("dogs", " are", " is")]]
    from conftest import HOME

    engines = Engines(Settings(home=HOME))
    result = graph_clusters({"prompts": prompts, "config": {"describe": False, "max_nodes": 40, "permutations": 49,
                                                            "null_runs": 5}}, engines)
    assert result.tracer_model == "smollm2-135m" and len(result.graphs) == 6
    assert 2 <= result.clustering.k <= 8 and sum(len(c.neurons) for c in result.clusters) == result.clustering.neurons
    for c in result.clusters:
        assert c.causal is not None and len(c.causal.prompts) == 6
        # zeroing neurons of the graph changes the metric somewhere; the random set is a separate draw
        assert any(abs(p.ablated - p.base) > 1e-4 for p in c.causal.prompts)
    biggest = max(result.clusters, key=lambda c: len(c.neurons))
    assert biggest.causal.removed_share != biggest.causal.random_removed_share
    for raw in result.graph_json:
        assert _schema_errors(raw) == []
        assert supernodes(read_graph(raw))
    assert max(float(g["metadata"]["linearisation"]["max_relative_remainder"]) for g in result.graph_json) < 1e-4


@pytest.mark.slow
def test_scaling_hooks_change_only_what_they_touch_and_go_away():
    lm = tracing_model_or_skip("smollm2-135m")
    from hypodisc.verifiers.graph_causal import run_prompt, scaled

    ids = lm.tokenizer(" is")["input_ids"] + lm.tokenizer(" are")["input_ids"]
    base = run_prompt(lm.model, lm.tokenizer, "The boys", ids[1], ids[0])
    with scaled(lm.model, [(3, 10), (5, 20)], 1.0):
        same = run_prompt(lm.model, lm.tokenizer, "The boys", ids[1], ids[0])
    assert same.metric == pytest.approx(base.metric, abs=1e-5)
    with scaled(lm.model, [(layer, n) for layer in range(4) for n in range(lm.model.config.intermediate_size)], 0.0):
        gone = run_prompt(lm.model, lm.tokenizer, "The boys", ids[1], ids[0])
    assert abs(gone.metric - base.metric) > 1e-2
    assert run_prompt(lm.model, lm.tokenizer, "The boys", ids[1], ids[0]).metric == pytest.approx(base.metric, abs=1e-5)


@pytest.mark.slow
def test_graphs_trace_writes_schema_valid_conserving_graphs(tmp_path):
    """The CLI end to end on the default 1.5B model (SmolLM2's graphs are checked against the schema in
    test_graph_tracing and in the end-to-end run above)."""
    model, max_nodes = "qwen2.5-coder-1.5b", 12
    from conftest import HOME

    from hypodisc.cli import app

    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "The keys to the cabinet", "target": " are", "contrast": " is"}\n'
                       '{"prompt": "The capital of France is"}\n')
    out = tmp_path / "graphs"
    res = CliRunner().invoke(app, ["graphs", "trace", "--model", model, "--prompts", str(prompts), "--out", str(out),
                                   "--max-nodes", str(max_nodes), "--home", str(HOME)])
    assert res.exit_code == 0, res.output
    files = sorted(out.glob("*.json"))
    assert len(files) == 2
    for f in files:
        raw = json.loads(f.read_text())
        assert _schema_errors(raw) == []
        assert float(raw["metadata"]["linearisation"]["max_relative_remainder"]) < 1e-4
        assert any(n["feature_type"] == "mlp neuron" for n in raw["nodes"])
    checked = CliRunner().invoke(app, ["graphs", "check", *map(str, files)])
    assert checked.exit_code == 0 and '"feature"' in checked.output
