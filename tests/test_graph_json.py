"""Circuit-tracer graph JSON: round trips, malformed graphs named by field, supernodes.

``tests/data/neuronpedia_graph_schema.json`` is Neuronpedia's public graph schema (MIT licence,
github.com/hijohnnylin/neuronpedia), copied so the check runs without the shared data folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hypodisc.datasets.graph_json import (clusters_from_subgraph_body, neuronpedia_subgraph_body, read_graph,
                                          set_supernodes, supernodes, write_graph)
from hypodisc.errors import InputRejected

pytestmark = pytest.mark.fast

SCHEMA = Path(__file__).parent / "data" / "neuronpedia_graph_schema.json"


def _node(node_id, feature, layer, ctx, ftype, clerp="", **extra):
    return {"node_id": node_id, "feature": feature, "layer": layer, "ctx_idx": ctx, "feature_type": ftype,
            "jsNodeId": node_id, "clerp": clerp, **extra}


def hand_graph() -> dict:
    """A two-token graph written by hand the way circuit-tracer writes one (30-layer model)."""
    nodes = [
        _node("E_504_0", None, "E", 0, "embedding", "Emb: \" The\"", influence=0.95, activation=None),
        _node("E_2368_1", None, "E", 1, "embedding", "Emb: \" cat\"", influence=0.9, activation=None),
        _node("3_1021_1", 1021, "3", 1, "mlp neuron", "", influence=0.4, activation=1.25),
        _node("17_88_1", 88, "17", 1, "mlp neuron", "cats", influence=0.7, activation=-0.5,
              qk_tracing_results={"pair_wise_contributors": [], "top_q_marginal_contributors": [],
                                  "top_k_marginal_contributors": []}),
        _node("0_17_1", -1, "17", 1, "mlp reconstruction error", "Err: mlp \" cat\"", influence=0.85),
        _node("31_3290_1", 3290, "31", 1, "logit", "Output \" sat\" (p=0.420)", influence=None,
              activation=None, token_prob=0.42, is_target_logit=True, reverse_ctx_idx=0, run_idx=0),
    ]
    links = [
        {"source": "E_2368_1", "target": "3_1021_1", "weight": 0.8},
        {"source": "3_1021_1", "target": "17_88_1", "weight": -0.3},
        {"source": "17_88_1", "target": "31_3290_1", "weight": 1.5},
        {"source": "0_17_1", "target": "31_3290_1", "weight": 0.2},
        {"source": "E_504_0", "target": "31_3290_1", "weight": 0.1},
    ]
    return {"metadata": {"slug": "the-cat", "scan": "smollm2-135m", "prompt_tokens": [" The", " cat"],
                         "prompt": " The cat", "node_threshold": 0.8, "schema_version": 1,
                         "info": {"generator": {"name": "by hand"}}},
            "qParams": {"pinnedIds": ["17_88_1"], "supernodes": [["cat", "3_1021_1", "17_88_1"]],
                        "linkType": "both", "clickedId": "31_3290_1", "sg_pos": ""},
            "nodes": nodes, "links": links}


def schema_errors(data: dict) -> list[str]:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))
    return [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(data)]


def test_hand_written_graph_round_trips_unchanged(tmp_path):
    data = hand_graph()
    assert schema_errors(data) == []
    graph = read_graph(data)
    assert [n.kind for n in graph.nodes] == ["embedding", "embedding", "feature", "feature", "error", "logit"]
    assert graph.node("17_88_1").model_extra["qk_tracing_results"]["pair_wise_contributors"] == []
    path = tmp_path / "g.json"
    write_graph(graph, path)
    written = json.loads(path.read_text())
    assert written == data
    assert schema_errors(written) == []
    assert read_graph(path).to_json() == data


def test_integer_layers_read_as_strings():
    data = hand_graph()
    data["nodes"][2]["layer"] = 3
    assert read_graph(data).nodes[2].layer == "3"


@pytest.mark.parametrize("edit, where", [
    (lambda d: d["nodes"][3].update(layer=[17]), "nodes[3].layer"),
    (lambda d: d["nodes"][2].pop("ctx_idx"), "nodes[2].ctx_idx"),
    (lambda d: d["nodes"][2].update(ctx_idx=-1), "nodes[2].ctx_idx"),
    (lambda d: d["links"][1].update(weight="heavy"), "links[1].weight"),
    (lambda d: d["links"][1].update(weight=float("nan")), "links[1].weight"),
    (lambda d: d["metadata"].pop("prompt_tokens"), "metadata.prompt_tokens"),
    (lambda d: d.pop("links"), "links"),
    (lambda d: d["links"][2].update(source="17_99_1"), "links[2].source: unknown node id '17_99_1'"),
    (lambda d: d["links"][0].update(target="nope"), "links[0].target: unknown node id 'nope'"),
    (lambda d: d["nodes"].append(dict(d["nodes"][2])), "nodes[6].node_id: duplicate node id '3_1021_1'"),
    (lambda d: d["qParams"]["pinnedIds"].append("gone"), "qParams.pinnedIds[1]: unknown node id 'gone'"),
    (lambda d: d["qParams"]["supernodes"].append(["", "3_1021_1"]), "qParams.supernodes"),
    (lambda d: d["qParams"]["supernodes"][0].append("x_1"), "qParams.supernodes[0][3]: unknown node id"),
])
def test_malformed_graphs_name_the_first_bad_field(edit, where):
    data = hand_graph()
    edit(data)
    with pytest.raises(InputRejected) as info:
        read_graph(data)
    assert info.value.code == "bad_graph"
    assert str(info.value).startswith(where), str(info.value)


def test_unreadable_files_are_rejected(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    for source in (bad, tmp_path / "missing.json"):
        with pytest.raises(InputRejected, match="not a readable JSON file") as info:
            read_graph(source)
        assert info.value.code == "bad_graph"
    listed = tmp_path / "list.json"
    listed.write_text("[]")
    with pytest.raises(InputRejected, match="a graph is a JSON object, not list"):
        read_graph(listed)


def test_a_failed_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "g.json"
    graph = read_graph(hand_graph())
    write_graph(graph, path)
    before = path.read_text()
    broken = graph.model_copy(deep=True)
    broken.links[0].source = "nowhere"
    with pytest.raises(InputRejected, match="unknown node id 'nowhere'"):
        write_graph(broken, path)
    assert path.read_text() == before and sorted(p.name for p in tmp_path.iterdir()) == ["g.json"]


def test_supernodes_round_trip_through_the_graph_and_the_subgraph_body(tmp_path):
    graph = read_graph(hand_graph())
    clusters = {"say sat": ["17_88_1", "3_1021_1"], "the": ["E_504_0"]}
    grouped = set_supernodes(graph, clusters)
    assert supernodes(grouped) == clusters
    assert graph.qParams.supernodes == [["cat", "3_1021_1", "17_88_1"]]  # the original is untouched
    assert set(grouped.qParams.pinnedIds) == {"17_88_1", "3_1021_1", "E_504_0"}
    write_graph(grouped, tmp_path / "g.json")
    again = read_graph(tmp_path / "g.json")
    assert supernodes(again) == clusters and schema_errors(again.to_json()) == []

    body = neuronpedia_subgraph_body(again, clusters, "smollm2-135m", "the-cat")
    assert body["modelId"] == "smollm2-135m" and body["slug"] == "the-cat"
    assert body["supernodes"] == [["say sat", "17_88_1", "3_1021_1"], ["the", "E_504_0"]]
    assert body["clerps"] == [["17_88_1", "say sat"], ["3_1021_1", "say sat"], ["E_504_0", "the"]]
    assert body["pinnedIds"][-1] == "31_3290_1"  # the target logit stays pinned
    assert body["pruningThreshold"] == 0.8 and 0 < body["densityThreshold"] <= 1
    assert clusters_from_subgraph_body(json.loads(json.dumps(body))) == clusters


@pytest.mark.parametrize("clusters, message", [
    ({"a": ["nope"]}, "unknown node id 'nope'"),
    ({"a": ["17_88_1"], "b": ["17_88_1"]}, "is in two supernodes"),
    ({" ": ["17_88_1"]}, "non-blank label"),
])
def test_bad_clusters_are_rejected(clusters, message):
    graph = read_graph(hand_graph())
    for call in (lambda: set_supernodes(graph, clusters),
                 lambda: neuronpedia_subgraph_body(graph, clusters, "m", "s")):
        with pytest.raises(InputRejected, match=message) as info:
            call()
        assert info.value.code == "bad_supernodes"
    with pytest.raises(InputRejected, match="label first"):
        clusters_from_subgraph_body({"supernodes": [[]]})


def test_the_schema_copy_matches_the_shared_one_when_present():
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "autointerp" / SCHEMA.name
    if not shared.exists():
        pytest.skip(f"{shared} not present (only on the development machine)")
    assert json.loads(shared.read_text()) == json.loads(SCHEMA.read_text())
