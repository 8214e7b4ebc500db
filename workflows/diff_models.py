"""The text-difference workflow's contract: its request, config, result and limits models, stages,
input checks and engine needs (its CLI, page and examples are in :mod:`hypodisc.workflows.diff_surfaces`). The service's schemas come from these; pydantic only, so the HTTP client
imports it without the computation (that is :mod:`hypodisc.workflows.diff`)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hypodisc.errors import InputRejected
from hypodisc.proposers.goal import ResearchGoal
from hypodisc.workflows.contract import Needs, Workflow, check_corpus
from hypodisc.workflows.diff_surfaces import DIFF_SURFACES
from hypodisc.workflows.cost import Cost

#: some texts to show the proposer, some held out to test on
MIN_TEXTS_PER_SIDE = 6

Verifier = Literal["cascade", "exhaustive", "embedding", "proposer"]


class DiffConfig(BaseModel):
    """Every knob of a diff job. Defaults suit the embedded CPU model; all are recorded in the result."""

    model_config = ConfigDict(extra="forbid")

    top_k: int = Field(5, ge=1, le=100, description="hypotheses reported")
    n_candidates: int = Field(30, ge=1, le=500, description="candidates asked of the proposer (before dedupe)")
    per_prompt: int = Field(15, ge=1, le=60, description="candidates asked per proposer prompt")
    samples_per_side: int = Field(10, ge=2, le=100, description="max samples per side in one proposer prompt")
    sample_chars: int = Field(300, ge=50, le=4000, description="each proposer sample clipped to this many characters")
    proposer_temperature: float = Field(0.7, ge=0.0, le=2.0)
    proposer: Literal["llm", "contrast", "both"] = Field("contrast", description=(
        "where candidates come from: contrast (the model describes one contrast at a time: typical A vs typical "
        "B, each k-means cluster of A vs its nearest B texts, and the contrast_views; short prompts), llm (the "
        "model compares samples of both groups: long prompts, for strong models), or both"))
    contrast_clusters: int = Field(3, ge=0, le=20, description=(
        "contrast route: k-means clusters of A described (at most one per 4 proposal texts of A)"))
    contrast_views: list[Literal["sentences", "words", "opening", "ending"]] = Field(["sentences", "words"], description=(
        "contrast route, extra prompts where form (a question, the first person, a negation, an exclamation) "
        "shows better than in whole texts: sentences (the sentences shared across A's proposal texts and unlike "
        "any of B's), words (the words and ?/! in most of A's texts and few of B's, with their counts), "
        "opening / ending (the typical texts as their first / last sentence only)"))
    abstraction: bool = Field(False, description=(
        "after proposing, one more prompt names the broader class that the topical candidates are instances of "
        "('is about a singer', 'is about a poet' -> 'is about art'); 3 sampled replies join the candidates, "
        "and verification decides between the specific and the broad versions"))
    verifier: Verifier = Field("cascade", description=(
        "cascade: embedding ranker -> LLM successive elimination -> confirmation on a disjoint split; "
        "exhaustive: LLM judges every candidate on every held-out text; embedding: cosine ranker only; "
        "proposer: no verification (proposer order)"))
    ranker_keep: int = Field(8, ge=1, le=500, description="cascade: candidates the embedding ranker passes to the LLM")
    proposal_fraction: float = Field(0.3, gt=0.0, lt=1.0, description="share of each corpus shown to the proposer")
    max_proposal_per_side: int = Field(40, ge=2, description="cap on the proposal split per side")
    max_validation_per_side: int = Field(200, ge=2, description="cap on held-out texts judged per side")
    screen_batch: int = Field(8, ge=1, description="cascade: texts per side judged per elimination round")
    screen_level: float = Field(0.9, gt=0.5, lt=1.0, description="cascade: confidence level of elimination bounds")
    dedupe_threshold: float = Field(0.9, gt=0.0, le=1.0, description="cosine above which candidates are duplicates")
    features: Literal["embedding", "tfidf"] = Field("embedding", description="representative-sample classifier input")
    judge_max_chars: int = Field(800, ge=50, description="texts clipped to this many characters for the judge")
    judge_order: Literal["question_first", "text_first", "property_first"] = Field("question_first", description=(
        "judge prompt layout: question_first (question, text, then the property) leaves only the property after "
        "the text's shared prefix, about half the tokens per judgment of text_first (text, property, question); "
        "property_first is the older order, whose prefix is shared across texts instead"))
    support_examples: int = Field(3, ge=0, le=20)
    alpha: float = Field(0.05, gt=0.0, lt=1.0, description="q-value threshold called significant")
    min_validity: float = Field(0.05, ge=0.0, lt=1.0, description=(
        "LLM judge: the smallest V (difference in mean P(yes)) called significant. On a few texts a q below "
        "alpha can come with V = +0.02, a real but tiny difference no one can act on; cosine scores (the "
        "embedding verifier) are on another scale and are held only to V > 0"))
    seed: int = 0


class DiffRequest(BaseModel):
    """What a user submits: two corpora, an optional goal, and the config."""

    model_config = ConfigDict(extra="forbid")

    a: list[str] = Field(..., description="corpus A: texts")
    b: list[str] = Field(..., description="corpus B: texts")
    goal: str | ResearchGoal | None = None
    hypotheses: list[str] | None = Field(
        None, description="skip the proposer and verify these hypotheses instead (as `hypodisc diff -H`)")
    config: DiffConfig = DiffConfig()


class Example(BaseModel):
    text: str
    score: float = Field(..., description="P(yes) from the judge, or cosine for the embedding verifier")


class HeldOutStats(BaseModel):
    """A hypothesis with its statistics on held-out data: what every difference workflow reports per row."""

    hypothesis: str
    validity: float | None = Field(None, description="mean score on A - mean score on B, held-out split")
    p_value: float | None = Field(None, description="one-sided Welch t-test, A > B, held-out split")
    q_value: float | None = Field(None, description="Benjamini-Hochberg over every candidate (untested count as p=1)")
    ci: tuple[float, float] | None = Field(None, description="95% Welch interval for validity")
    auroc: float | None = None
    mean_a: float | None = None
    mean_b: float | None = None
    n_a: int = 0
    n_b: int = 0
    significant: bool = False


class HypothesisResult(HeldOutStats):
    support: list[Example] = Field([], description="A texts that satisfy the hypothesis")
    counter_examples: list[Example] = Field([], description="B texts that satisfy it too")


class CandidateFate(BaseModel):
    """Every candidate's fate, for auditing where the cascade spent and saved."""

    hypothesis: str
    source: str | None = Field(None, description=(
        "what proposed it: the contrast route's view (whole, sentences, words, opening, ending), llm, or none "
        "for given hypotheses"))
    stage_reached: Literal["proposed", "ranked", "screened", "confirmed"]
    ranker_auroc: float | None = None
    screen_validity: float | None = None
    screen_judgments: int = 0
    eliminated_round: int | None = None


class Separation(BaseModel):
    cv_auroc: float
    verdict: str
    folds: int
    features: str


class Splits(BaseModel):
    proposal_a: int
    proposal_b: int
    screen_a: int
    screen_b: int
    confirm_a: int
    confirm_b: int


class DiffResult(BaseModel):
    workflow: Literal["diff"] = "diff"
    hypotheses: list[HypothesisResult]
    candidates: list[CandidateFate]
    separability: Separation
    splits: Splits
    goal: str | None
    config: DiffConfig
    seed: int
    backend: str | None
    model: str | None
    score_kind: Literal["p_yes", "cosine", "none"]
    cost: Cost
    proposer_replies: list[str] = Field([], description="the proposer's raw replies, for auditing the clean-up")
    warnings: list[str] = []


class DiffLimits(BaseModel):
    """What the service accepts in one diff job (None: unlimited); ``HYPODISC_SERVICE_<NAME>`` sets each."""

    max_texts_per_corpus: int | None = Field(20_000, ge=1, description="texts in one corpus")
    max_text_chars: int | None = Field(20_000, ge=1, description="longest single text")


class DiffStage(StrEnum):
    """Progress stages of a diff job, in order (their values are what progress reports)."""

    REPRESENT = "representative samples"
    PROPOSE_CONTRASTS = "proposing (contrasts)"
    PROPOSE = "proposing"
    ABSTRACT = "abstracting"
    RANK = "embedding ranker"
    SCREEN = "screening (LLM)"
    CONFIRM = "confirming (LLM)"
    JUDGE = "judging"


def diff_needs(req: DiffRequest) -> Needs:
    """Proposing or LLM judging needs the LLM; embedding features, rankers and dedupe need the embedder."""
    cfg = req.config
    return Needs(llm=req.hypotheses is None or cfg.verifier in ("cascade", "exhaustive"),
                 embedder=embedder_required(cfg) or cfg.dedupe_threshold < 1.0)


def embedder_required(cfg: DiffConfig) -> bool:
    """Embedding features or an embedding ranker cannot run without the embedder (dedupe is skipped instead)."""
    return cfg.features == "embedding" or cfg.verifier in ("cascade", "embedding")


def check_diff(req: DiffRequest, limits: DiffLimits) -> None:
    why = " per side (some to show the proposer, some held out to test on)"
    check_corpus("A", req.a, limits, MIN_TEXTS_PER_SIDE, why)
    check_corpus("B", req.b, limits, MIN_TEXTS_PER_SIDE, why)
    if req.hypotheses is not None and not any(h.strip() for h in req.hypotheses):
        raise InputRejected("hypotheses is given but holds no non-empty hypothesis", code="no_hypotheses")


DIFF = Workflow(
    name="diff", summary="Text differences (D5/D3): what is more often true of corpus A than of corpus B",
    request_model=DiffRequest, config_model=DiffConfig, result_model=DiffResult, stages=DiffStage,
    stage_spans={DiffStage.REPRESENT: (0.0, 0.05), DiffStage.PROPOSE_CONTRASTS: (0.05, 0.25),
                 DiffStage.PROPOSE: (0.25, 0.38),
                 DiffStage.ABSTRACT: (0.38, 0.4), DiffStage.RANK: (0.4, 0.45), DiffStage.SCREEN: (0.45, 0.7),
                 DiffStage.CONFIRM: (0.7, 1.0), DiffStage.JUDGE: (0.45, 1.0)},
    needs=diff_needs, limits=DiffLimits, check=check_diff, runner="hypodisc.workflows.diff:run_diff_job",
    surfaces=DIFF_SURFACES)
