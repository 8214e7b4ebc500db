"""The graph-clusters workflow's surfaces: how ``hypodisc graph-clusters`` reads prompts (JSONL) or graphs
(circuit-tracer JSON files or a folder of them), the graphs-with-supernodes output, the page script and
the check-battery examples (hand-made graphs, no model, so the fast lane runs it).

Standard library only at import (the HTTP client imports it through the declaration).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

from hypodisc.errors import InputRejected
from hypodisc.workflows.surfaces import CliOutput, CliParam, CliSpec, Examples, InputReader, PageSpec, Surfaces


def _read_source(v: Mapping[str, Any]) -> dict:
    """A prompts file (.jsonl/.txt) -> prompts; a graph .json or a folder of them -> graphs."""
    from hypodisc.datasets.graph_json import read_graph
    from hypodisc.datasets.graph_prompts import read_prompts

    source: Path = v["source"]
    limit = v["limit"]
    if source.is_dir():
        files = sorted(source.glob("*.json"))[:limit]
        if not files:
            raise InputRejected(f"folder {source} holds no .json graph files", code="too_few_graphs")
        return {"graphs": [read_graph(f).to_json() for f in files]}
    if not source.exists():
        raise InputRejected(f"no such file or folder: {source}", code="invalid_request")
    if source.suffix == ".json":
        return {"graphs": [read_graph(source).to_json()]}
    from hypodisc.workflows.graph_models import PromptItem

    return {"prompts": [PromptItem(**row) for row in read_prompts(source, limit)]}


def _write_source(req: Mapping[str, Any], folder: Path) -> list[str]:
    from hypodisc.datasets.graph_prompts import write_prompts

    folder.mkdir(parents=True, exist_ok=True)
    if req.get("prompts") is not None:
        write_prompts(req["prompts"], folder / "prompts.jsonl")
        return [str(folder / "prompts.jsonl")]
    graphs = folder / "graphs"
    graphs.mkdir(exist_ok=True)
    for i, g in enumerate(req["graphs"]):
        (graphs / f"{i:04d}.json").write_text(json.dumps(g), encoding="utf-8")
    return [str(graphs)]


SOURCE = InputReader(
    params=(CliParam("source", Path, help="prompts to trace (.jsonl of {prompt, target?, contrast?} or of "
                                          "{clean_prefix, clean_answer, patch_answer}; .txt, one per line), or "
                                          "circuit-tracer graph JSON (a .json file or a folder of them)",
                     metavar="GRAPHS_OR_PROMPTS"),
            CliParam("limit", Optional[int], None, ("--limit",), "read at most N prompts or graphs")),
    read=_read_source, to_args=_write_source)


def _read_describer(v: Mapping[str, Any]) -> dict:
    value = v["describer"]
    if value is None:
        return {}
    text = Path(value).read_text(encoding="utf-8") if not value.lstrip().startswith("{") else value
    try:
        return {"config": {"describer": json.loads(text)}}
    except json.JSONDecodeError as exc:
        raise InputRejected(f"--describer is not valid JSON: {exc.msg} at {exc.pos}", code="malformed_json") from None


DESCRIBER = InputReader(
    params=(CliParam("describer", Optional[str], None, ("--describer",),
                     "the describer's label-features config as JSON (inline or a .json file), e.g. "
                     "'{\"scorers\": [\"simulation\"]}'"),),
    read=_read_describer,
    to_args=lambda req, folder: (["--describer", json.dumps(req["config"]["describer"])]
                                 if "describer" in (req.get("config") or {}) else []),
    config_fields=frozenset({"describer"}))


def _write_graphs(result: Any, folder: Path) -> None:
    """Each graph with its clusters as supernodes, and Neuronpedia's subgraph-save body beside it."""
    from hypodisc.datasets.graph_json import neuronpedia_subgraph_body, read_graph, supernodes
    from hypodisc.files import write_atomic

    folder.mkdir(parents=True, exist_ok=True)
    for i, raw in enumerate(result.graph_json):
        graph = read_graph(raw)
        stem = f"{i:03d}-{graph.metadata.slug}"[:80]
        write_atomic(folder / f"{stem}.json", json.dumps(raw))
        body = neuronpedia_subgraph_body(graph, supernodes(graph), graph.metadata.scan, graph.metadata.slug)
        write_atomic(folder / f"{stem}.subgraph.json", json.dumps(body, indent=1))


GRAPHS_OUT = CliOutput(CliParam("graphs_out", Optional[Path], None, ("--graphs-out",),
                                "write each graph with the clusters as supernodes, and Neuronpedia's subgraph body"),
                       _write_graphs)


def _title(v: Mapping[str, Any], request: Mapping[str, Any]) -> str:
    n = len(request.get("prompts") or request.get("graphs") or [])
    return f"graph clusters over {n} {'prompts' if request.get('prompts') is not None else 'graphs'} of {v['source'].name}"


# -- the check battery's example: hand-made graphs in circuit-tracer's format
def _graph(i: int, noun: str, plural: bool) -> dict:
    """'The <noun> is/are': a number group of neurons (0_1, 1_2, 1_3) reading the noun, and a position group
    (0_7, 0_8, 1_9) reading 'The'; every link is a direct effect, the logit the sum of its inputs."""
    tokens = ["The", f" {noun}" + ("s" if plural else "")]
    verb = " are" if plural else " is"
    scale = 1.0 + 0.1 * i
    nodes = [{"node_id": f"E_{100 + p}_{p}", "feature": 100 + p, "layer": "E", "ctx_idx": p,
              "feature_type": "embedding", "jsNodeId": f"E_{100 + p}_{p}", "clerp": f"Emb: {t!r}"}
             for p, t in enumerate(tokens)]
    links = []
    logit = {"node_id": f"3_{500 + int(plural)}_1", "feature": 500 + int(plural), "layer": "3", "ctx_idx": 1,
             "feature_type": "logit", "jsNodeId": f"3_{500 + int(plural)}_1", "clerp": f"Output {verb!r}",
             "is_target_logit": True, "token_prob": 0.6}
    total = 0.0
    for layer, neuron, pos, w in [(0, 1, 1, 2.0), (1, 2, 1, 1.5), (1, 3, 1, 1.2), (0, 7, 0, 0.4), (0, 8, 0, 0.35),
                                  (1, 9, 0, 0.3)][: 6 if i % 3 else 5]:
        nid = f"{layer}_{neuron}_{pos}"
        act = w * scale
        nodes.append({"node_id": nid, "feature": neuron, "layer": str(layer), "ctx_idx": pos,
                      "feature_type": "mlp neuron", "jsNodeId": nid, "clerp": "", "activation": act, "influence": 0.5})
        links.append({"source": f"E_{100 + pos}_{pos}", "target": nid, "weight": act})
        links.append({"source": nid, "target": logit["node_id"], "weight": act * 0.5})
        total += act * 0.5
    logit["activation"] = total
    nodes.append(logit)
    prompt = "".join(tokens)
    return {"metadata": {"slug": f"example-{i}", "scan": "example-model", "prompt_tokens": tokens, "prompt": prompt,
                         "node_threshold": 0.8, "schema_version": 1},
            "qParams": {"pinnedIds": [], "supernodes": []}, "nodes": nodes, "links": links}


def _valid() -> dict:
    nouns = ["boy", "girl", "dog", "cat", "farmer", "pilot", "judge", "nurse"]
    return {"graphs": [_graph(i, n, i % 2 == 1) for i, n in enumerate(nouns)],
            "config": {"k_max": 3, "permutations": 19, "null_runs": 3, "causal": "off",
                       "describer": {"scorers": ["simulation", "detection"], "resamples": 50, "samples_per_view": 1,
                                     "views": ["marked"], "abstraction": False, "max_candidates": 1}}}


def _invalid() -> dict:
    good = _valid()
    broken = json.loads(json.dumps(good["graphs"][0]))
    broken["links"][0]["target"] = "no-such-node"
    return {"graphs": [broken, *good["graphs"][1:]], "config": good["config"]}


def scripted_reply(prompt: str, k: int) -> str:
    """What the check battery's scripted explainer writes."""
    return ["the subject noun of a sentence", "the word 'The' at the start", "a noun's grammatical number"][k % 3]


GRAPH_SURFACES = Surfaces(
    cli=CliSpec(
        inputs=(SOURCE, DESCRIBER),
        printer="hypodisc.workflows.graph_report:print_graph_clusters",
        title=_title,
        help="Cluster the MLP neurons that recur across prompts' attribution graphs, describe each cluster and "
             "score it on held-out prompts, with ablation and steering (ADAG).",
        flags={"tracer_model": ("--tracer", "--tracer-model")},
        outputs=(GRAPHS_OUT,),
        commands="hypodisc.cli_graphs:register"),
    page=PageSpec(script="graph-clusters.js", section="graph-clusters.html"),
    examples=Examples(valid=_valid, invalid=_invalid, invalid_code="bad_graph",
                      volatile=frozenset({"cost", "seconds"}), reply=scripted_reply))
