"""The attribution-graph-clusters workflow's contract (ADAG): request, config, result and limits models,
stages, input checks and engine needs (its CLI, page and examples are in
:mod:`hypodisc.workflows.graph_surfaces`; the computation in :mod:`hypodisc.workflows.graph_clusters`).

A job takes either prompts (traced here, on a local model) or graphs already made (circuit-tracer /
Neuronpedia JSON); it clusters the neurons that recur across them by attribution profile, describes
each cluster with the feature explainer and scores the description with the feature scorers on
held-out prompts, and, when it has the model, ablates and steers each cluster.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hypodisc.errors import InputRejected
from hypodisc.workflows.contract import Needs, Workflow
from hypodisc.workflows.cost import Cost
from hypodisc.workflows.graph_surfaces import GRAPH_SURFACES
from hypodisc.workflows.label_models import FeatureLabel, LabelConfig, ScoreReport

#: graphs a clustering needs: a neuron must recur in min_graphs of them, and the describer needs some prompts
#: to write from and others to be scored on
MIN_GRAPHS = 4

Part = Literal["token", "offset", "logit"]


def _describe_default() -> LabelConfig:
    return LabelConfig(scorers=["simulation", "detection"], select_by=["simulation"], mode="auto", min_split_active=12, resamples=500)


class GraphClustersConfig(BaseModel):
    """Every knob of a graph-clusters job. Defaults suit the offline CPU default."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    tracer_model: str = Field("smollm2-135m", description=(
        "the model traced and intervened on: smollm2-135m, qwen2.5-coder-0.5b, qwen2.5-coder-1.5b (names in the "
        "model store), or a local GGUF file or Hugging Face folder of a Llama/Qwen2-style model"))
    max_nodes: int = Field(60, ge=4, le=2000, description="neurons whose attribution rows are computed per graph")
    node_threshold: float = Field(0.8, gt=0.0, le=1.0, description="keep nodes up to this cumulative influence")
    edge_threshold: float = Field(0.98, gt=0.0, le=1.0, description="keep edges up to this cumulative influence")
    min_graphs: int = Field(2, ge=1, description="a neuron is clustered when kept in at least this many graphs")
    max_neurons: int = Field(200, ge=3, le=5000, description="cluster at most this many recurring neurons (the most "
                                                             "frequent, then the most active)")
    parts: list[Part] = Field(["token", "offset", "logit"], min_length=1, description=(
        "profile parts compared: token (attribution from each input token string), offset (from each position "
        "counted from the end), logit (push on the output tokens)"))
    k_min: int = Field(2, ge=2, le=30, description="fewest clusters tried")
    k_max: int = Field(8, ge=2, le=30, description="most clusters tried; k is the best mean silhouette")
    permutations: int = Field(199, ge=0, le=9999, description="random partitions of the same sizes (control)")
    null_runs: int = Field(20, ge=0, le=500, description="shuffled-profile reruns of the clustering (null)")
    min_silhouette: float = Field(0.25, ge=-1.0, le=1.0, description="below this the clusters are called unstructured")
    fire_fraction: float = Field(0.1, ge=0.0, lt=1.0, description=(
        "a prompt token counts as firing for a cluster when its attribution there is above this share of the "
        "cluster's largest"))
    fire_quantile: float = Field(0.5, ge=0.0, lt=1.0, description=(
        "and above this quantile of the cluster's per-prompt peaks: the prompts where it matters most are its "
        "firing examples, the rest its silent ones"))
    describe: bool = Field(True, description="write and score a description of each cluster (needs the LLM)")
    random_control: bool = Field(True, description="also describe and score a random neuron set of each cluster's size")
    describer: LabelConfig = Field(default_factory=_describe_default, description=(
        "the feature explainer and scorers' config (label-features), applied to each cluster as a feature"))
    causal: Literal["auto", "on", "off"] = Field("auto", description=(
        "ablate (x0) and steer each cluster in the model, beside a random set: auto = for traced prompts; on = also "
        "for given graphs (tracer_model must then be the model that made them)"))
    steer_factor: float = Field(2.0, ge=-10.0, le=10.0, description="steering multiplies the cluster's neurons by this")
    seed: int = 0


class PromptItem(BaseModel):
    """A prompt and the token whose logit its graph explains (default: the model's top next token), optionally
    minus a contrast token's logit (e.g. the wrong verb form)."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(..., min_length=1)
    target: str | None = None
    contrast: str | None = None


class GraphClustersRequest(BaseModel):
    """Prompts to trace, or graphs already traced (circuit-tracer JSON), and the config."""

    model_config = ConfigDict(extra="forbid")

    prompts: list[PromptItem] | None = Field(None, description="prompts traced on config.tracer_model")
    graphs: list[dict[str, Any]] | None = Field(None, description="circuit-tracer / Neuronpedia graph JSON objects")
    config: GraphClustersConfig = GraphClustersConfig()


class TokenWeight(BaseModel):
    token: str
    weight: float


class GraphSummary(BaseModel):
    slug: str
    prompt: str
    target: str | None
    answer: str | None = Field(None, description="the model's top next token (traced graphs)")
    nodes: int
    links: int
    completeness: float | None = Field(None, description=(
        "share of the target's direct attribution mass its kept links carry: Σ|kept| / (Σ|kept| + |pruned sum|)"))
    seconds: float | None = None


class ClusteringSummary(BaseModel):
    neurons: int
    k: int
    criterion: str
    silhouettes: dict[int, float]
    within_similarity: float
    random_partition_similarity: float
    p_partition: float
    null_silhouette_mean: float | None
    p_null: float | None
    structured: bool


class CausalPrompt(BaseModel):
    prompt: str
    target: str
    base: float
    ablated: float
    steered: float
    random_ablated: float
    answer: str
    answer_ablated: str
    answer_steered: str


class CausalReport(BaseModel):
    metric: str = Field(..., description="target logit minus the contrast's (or the mean logit)")
    removed_share: float = Field(..., description="1 − Σ ablated / Σ base over the prompts")
    random_removed_share: float = Field(..., description="the same for a random neuron set of the cluster's size")
    steered_change: float = Field(..., description="mean change of the metric when steered")
    flips_ablated: int
    flips_steered: int
    prompts: list[CausalPrompt]


class GraphCluster(BaseModel):
    cluster_id: str
    label: str = Field(..., description="the description, or 'cluster N' without one")
    neurons: list[str] = Field(..., description="layer_index of each member neuron")
    layers: list[int]
    inputs: list[TokenWeight] = Field([], description="input tokens it reads most (attribution by token string)")
    offsets: list[float] = Field([], description="attribution by position from the prompt's end (0 = last)")
    promoted: list[TokenWeight] = []
    suppressed: list[TokenWeight] = []
    description: FeatureLabel | None = Field(None, description="the feature explainer's label of the cluster, with "
                                                                "held-out scores and the other-cluster control")
    random_control: dict[str, ScoreReport] = Field({}, description="scores of a random set's own description")
    causal: CausalReport | None = None


class GraphClustersResult(BaseModel):
    workflow: Literal["graph-clusters"] = "graph-clusters"
    tracer_model: str | None
    describer_model: str | None
    graphs: list[GraphSummary]
    clustering: ClusteringSummary
    clusters: list[GraphCluster]
    graph_json: list[dict[str, Any]] = Field([], description="each graph with its clusters as qParams.supernodes")
    config: GraphClustersConfig
    cost: Cost
    seconds: float
    warnings: list[str] = []


class GraphClustersLimits(BaseModel):
    """What the service accepts in one graph-clusters job (None: unlimited); ``HYPODISC_SERVICE_<NAME>`` sets each."""

    max_graphs_per_job: int | None = Field(200, ge=1, description="prompts or graphs in one job")
    max_prompt_chars: int | None = Field(2_000, ge=1, description="longest prompt")
    max_graph_nodes: int | None = Field(20_000, ge=1, description="nodes in one given graph")


class GraphStage(StrEnum):
    TRACE = "tracing"
    CLUSTER = "clustering"
    DESCRIBE = "describing"
    CAUSAL = "intervening"


def graph_needs(req: GraphClustersRequest) -> Needs:
    """The tracer traces prompts and runs the causal check; the LLM describes; the embedder only for its scorer."""
    cfg = req.config
    return Needs(llm=cfg.describe, tracer=req.prompts is not None or cfg.causal == "on",
                 embedder=cfg.describe and "embedding" in cfg.describer.scorers)


def check_graph_request(req: GraphClustersRequest, limits: GraphClustersLimits) -> None:
    """One source, enough of it, within the limits; given graphs parse whole (the first bad field named)."""
    from hypodisc.datasets.graph_json import read_graph

    if (req.prompts is None) == (req.graphs is None):
        raise InputRejected("give either prompts (to trace) or graphs (circuit-tracer JSON), not both or neither",
                            code="invalid_request")
    items = req.prompts if req.prompts is not None else req.graphs
    what = "prompts" if req.prompts is not None else "graphs"
    if limits.max_graphs_per_job is not None and len(items) > limits.max_graphs_per_job:
        raise InputRejected(f"{len(items)} {what}; the limit is {limits.max_graphs_per_job}", code="too_many_graphs",
                            status=413)
    if len(items) < MIN_GRAPHS:
        raise InputRejected(f"{len(items)} {what}; at least {MIN_GRAPHS} are needed (neurons must recur across "
                            "graphs, and descriptions are scored on prompts they were not written from)",
                            fix=f"give more {what}", code="too_few_graphs")
    if req.config.k_min > req.config.k_max:
        raise InputRejected(f"config.k_min ({req.config.k_min}) is above config.k_max ({req.config.k_max})",
                            code="invalid_request")
    if req.prompts is not None:
        for i, p in enumerate(req.prompts):
            if limits.max_prompt_chars is not None and len(p.prompt) > limits.max_prompt_chars:
                raise InputRejected(f"prompts[{i}]: {len(p.prompt)} characters; the limit is {limits.max_prompt_chars}",
                                    code="text_too_long", status=413)
        return
    for i, raw in enumerate(req.graphs):
        nodes = raw.get("nodes") if isinstance(raw, dict) else None
        if limits.max_graph_nodes is not None and isinstance(nodes, list) and len(nodes) > limits.max_graph_nodes:
            raise InputRejected(f"graphs[{i}]: {len(nodes)} nodes; the limit is {limits.max_graph_nodes}",
                                code="graph_too_large", status=413)
        try:
            read_graph(raw)
        except InputRejected as exc:
            raise InputRejected(f"graphs[{i}]: {exc.message}", fix=exc.fix, code=exc.code, status=exc.status) from None


GRAPH_CLUSTERS = Workflow(
    name="graph-clusters",
    summary="Attribution-graph clusters (ADAG): group the MLP neurons that recur across prompts' attribution graphs, "
            "describe each group and score the description on held-out prompts, with ablation and steering",
    request_model=GraphClustersRequest, config_model=GraphClustersConfig, result_model=GraphClustersResult,
    stages=GraphStage,
    stage_spans={GraphStage.TRACE: (0.0, 0.4), GraphStage.CLUSTER: (0.4, 0.5), GraphStage.DESCRIBE: (0.5, 0.9),
                 GraphStage.CAUSAL: (0.9, 1.0)},
    needs=graph_needs, limits=GraphClustersLimits, check=check_graph_request,
    runner="hypodisc.workflows.graph_clusters:run_graph_clusters_job", surfaces=GRAPH_SURFACES)
