"""Attribution graphs in circuit-tracer's JSON format, the one Neuronpedia's graph frontend reads.

A graph is read whole or not at all: :func:`read_graph` validates every node and link and the
references between them, and rejects the first problem as ``InputRejected(code="bad_graph")`` with
the field's path (``nodes[3].layer: ...``), so a later stage never meets a half-loaded graph.

Supernodes (``qParams.supernodes``, each a list with the label first, then node ids) are how
Neuronpedia shows groups of nodes; the graph-clusters workflow writes its clusters there and as the
body of Neuronpedia's subgraph-save request.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hypodisc.errors import InputRejected, pydantic_problem
from hypodisc.files import write_atomic

NodeKind = Literal["feature", "error", "embedding", "logit"]

#: What the frontend and circuit-tracer write as ``metadata.schema_version`` today.
SCHEMA_VERSION = 1


class _Open(BaseModel):
    """Unknown keys (``qk_tracing_results``, ``info``...) are kept, so a read-write round trip loses nothing."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False, populate_by_name=True)


class Metadata(_Open):
    slug: str
    #: The model; Neuronpedia reads it as its model id.
    scan: str
    prompt_tokens: list[str]
    prompt: str
    #: The frontend's default pruning: it shows nodes whose ``influence`` is at most this.
    node_threshold: float | None = None
    schema_version: int | None = None
    transcoder_list: list[str] | None = None


class QParams(_Open):
    pinnedIds: list[str] = Field(default_factory=list)
    #: Each inner list is ``[label, node_id, node_id, ...]``.
    supernodes: list[list[str]] = Field(default_factory=list)
    linkType: str | None = None
    clickedId: str | None = None
    sg_pos: str | None = None

    @field_validator("supernodes")
    @classmethod
    def _labelled(cls, value: list[list[str]]) -> list[list[str]]:
        for i, group in enumerate(value):
            if not group or not group[0].strip():
                raise ValueError(f"supernode {i} needs a label first, then node ids")
        return value


class Node(_Open):
    """One node. ``node_id`` follows circuit-tracer: feature ``{layer}_{feature}_{pos}``, error
    ``{layer}_-1_{pos}`` (older graphs: ``0_{layer}_{pos}``), token ``E_{vocab_id}_{pos}``, logit
    ``{n_layers+1}_{vocab_id}_{pos}``."""

    node_id: str = Field(min_length=1)
    feature: int | None
    #: A decoder layer as a string, ``"E"`` for token embeddings.
    layer: str
    ctx_idx: int = Field(ge=0)
    feature_type: str
    jsNodeId: str
    clerp: str
    #: Cumulative share of total influence of the nodes ranked up to this one (not a raw score):
    #: the frontend keeps the nodes with ``influence <= node_threshold``.
    influence: float | None = None
    activation: float | None = None
    token_prob: float | None = None
    is_target_logit: bool | None = None
    run_idx: int | None = None
    reverse_ctx_idx: int | None = None

    @field_validator("layer", mode="before")
    @classmethod
    def _layer_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @property
    def kind(self) -> NodeKind:
        if self.layer == "E" or "embedding" in self.feature_type:
            return "embedding"
        if self.is_target_logit or "logit" in self.feature_type:
            return "logit"
        if "error" in self.feature_type:
            return "error"
        return "feature"


class Link(_Open):
    source: str
    target: str
    #: Direct effect of ``source`` on ``target`` (attribution, in the target's units).
    weight: float


class Graph(_Open):
    metadata: Metadata
    qParams: QParams = Field(default_factory=QParams)
    nodes: list[Node]
    links: list[Link]

    def node(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.node_id == node_id)

    def to_json(self) -> dict[str, Any]:
        """The JSON object as given (unset optional fields stay absent)."""
        return self.model_dump(mode="json", exclude_unset=True)


def _where(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _bad(where: str, message: str) -> InputRejected:
    return InputRejected(f"{where}: {message}" if where else message,
                         "write the graph in circuit-tracer's JSON format (metadata, qParams, nodes, links)",
                         code="bad_graph")


def _check_references(graph: Graph) -> None:
    ids: set[str] = set()
    for i, node in enumerate(graph.nodes):
        if node.node_id in ids:
            raise _bad(f"nodes[{i}].node_id", f"duplicate node id {node.node_id!r}")
        ids.add(node.node_id)
    for i, link in enumerate(graph.links):
        for end in ("source", "target"):
            if getattr(link, end) not in ids:
                raise _bad(f"links[{i}].{end}", f"unknown node id {getattr(link, end)!r}")
    for i, node_id in enumerate(graph.qParams.pinnedIds):
        if node_id not in ids:
            raise _bad(f"qParams.pinnedIds[{i}]", f"unknown node id {node_id!r}")
    for i, group in enumerate(graph.qParams.supernodes):
        for j, node_id in enumerate(group[1:], start=1):
            if node_id not in ids:
                raise _bad(f"qParams.supernodes[{i}][{j}]", f"unknown node id {node_id!r}")


def read_graph(source: str | Path | dict[str, Any]) -> Graph:
    """A validated graph from a JSON file or an already parsed object; ``InputRejected`` names the first bad field."""
    if isinstance(source, dict):
        data = source
    else:
        try:
            data = json.loads(Path(source).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise _bad(str(source), f"not a readable JSON file ({exc})") from None
    if not isinstance(data, dict):
        raise _bad("", f"a graph is a JSON object, not {type(data).__name__}")
    try:
        graph = Graph.model_validate(data)
    except ValidationError as exc:
        problem = pydantic_problem(exc)
        raise _bad(_where(problem.loc), problem.msg) from None
    _check_references(graph)
    return graph


def write_graph(graph: Graph, path: str | Path) -> None:
    """Write atomically: a crash never leaves a half-written graph where a good one was."""
    _check_references(graph)
    write_atomic(path, json.dumps(graph.to_json(), ensure_ascii=False, allow_nan=False))


# -- supernodes --------------------------------------------------------------------------------


def _checked_clusters(graph: Graph, clusters: dict[str, list[str]]) -> dict[str, list[str]]:
    ids = {n.node_id for n in graph.nodes}
    owner: dict[str, str] = {}
    for label, members in clusters.items():
        if not label.strip():
            raise InputRejected("a supernode needs a non-blank label", code="bad_supernodes")
        for node_id in members:
            if node_id not in ids:
                raise InputRejected(f"supernode {label!r}: unknown node id {node_id!r}", code="bad_supernodes")
            if node_id in owner:
                raise InputRejected(f"node {node_id!r} is in two supernodes ({owner[node_id]!r} and {label!r})",
                                    code="bad_supernodes")
            owner[node_id] = label
    return {label: list(members) for label, members in clusters.items()}


def set_supernodes(graph: Graph, clusters: dict[str, list[str]]) -> Graph:
    """A copy of ``graph`` whose supernodes are ``clusters`` (label -> node ids) and whose members are pinned."""
    clusters = _checked_clusters(graph, clusters)
    pinned = list(dict.fromkeys([*graph.qParams.pinnedIds, *(i for m in clusters.values() for i in m)]))
    q = graph.qParams.model_copy(update={"supernodes": [[label, *m] for label, m in clusters.items()],
                                         "pinnedIds": pinned})
    return graph.model_copy(update={"qParams": q})


def supernodes(graph: Graph) -> dict[str, list[str]]:
    """label -> node ids, from ``qParams.supernodes``."""
    return {group[0]: group[1:] for group in graph.qParams.supernodes}


def neuronpedia_subgraph_body(graph: Graph, clusters: dict[str, list[str]], model_id: str, slug: str, *,
                              density_threshold: float = 0.99) -> dict[str, Any]:
    """The body of Neuronpedia's subgraph-save request: the clusters as supernodes, their members pinned
    with the cluster label as each member's ``clerp``, pruned at the graph's own node threshold."""
    clusters = _checked_clusters(graph, clusters)
    pinned = list(dict.fromkeys(i for m in clusters.values() for i in m))
    pinned += [n.node_id for n in graph.nodes if n.kind == "logit" and n.node_id not in pinned]
    threshold = graph.metadata.node_threshold
    return {"modelId": model_id, "slug": slug, "pinnedIds": pinned,
            "supernodes": [[label, *m] for label, m in clusters.items()],
            "clerps": [[i, label] for label, m in clusters.items() for i in m],
            "pruningThreshold": 0.8 if threshold is None or math.isnan(threshold) else threshold,
            "densityThreshold": density_threshold}


def clusters_from_subgraph_body(body: dict[str, Any]) -> dict[str, list[str]]:
    """label -> node ids from a subgraph body's ``supernodes``; the inverse of :func:`neuronpedia_subgraph_body`."""
    groups = body.get("supernodes")
    if not isinstance(groups, list) or not all(isinstance(g, list) and g and all(isinstance(x, str) for x in g)
                                               for g in groups):
        raise InputRejected("supernodes: a list of lists of strings, each with the label first",
                            code="bad_supernodes")
    return {group[0]: group[1:] for group in groups}
