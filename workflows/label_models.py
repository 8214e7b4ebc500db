"""The feature-labelling workflow's contract: its request, config, result and limits models, stages,
input checks and engine needs (its CLI, page and examples are in :mod:`hypodisc.workflows.label_surfaces`). The service's schemas come from these; pydantic only, so the HTTP client
imports it without the computation (that is :mod:`hypodisc.workflows.label_features`)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hypodisc.datasets.feature_records import FeatureInputError, FeatureRecord, check_unique_ids
from hypodisc.verifiers.feature_reports import Metric, ScoredExample, ScoreReport  # re-exported: part of this contract
from hypodisc.workflows.contract import Needs, Workflow
from hypodisc.workflows.label_surfaces import LABEL_SURFACES
from hypodisc.workflows.cost import Cost

ScorerName = Literal["detection", "fuzzing", "embedding", "simulation"]


ViewName = Literal["marked", "counts", "contrast", "logits"]
SelectorName = Literal["detection", "simulation"]


class LabelConfig(BaseModel):
    """Every knob of a feature-labelling job. Defaults suit the embedded CPU model; all are recorded in the result."""

    model_config = ConfigDict(extra="forbid")

    scorers: list[ScorerName] = Field(["detection", "fuzzing", "embedding"], min_length=1,
                                      description="scorers run on every explanation (and on its controls)")
    mode: Literal["auto", "split", "crossfit"] = Field(
        "auto", description="split: disjoint explain / validate / test pools; crossfit: explain on k-1 folds, score "
                            "on the held-out one, report the pooled held-out score, and write the reported "
                            "explanation from every example; auto: split when a feature has min_split_active "
                            "firing examples, else crossfit")
    min_split_active: int = Field(15, ge=3, le=1000, description="firing examples a feature needs for mode auto "
                                                                 "to split it")
    folds: int = Field(3, ge=2, le=10, description="folds of a cross-fitted feature")
    n_explain: int = Field(10, ge=1, le=40, description="activating examples shown to the explainer")
    sampling: Literal["top", "quantiles", "random"] = Field(
        "top", description="how explainer examples are drawn from the explain pool")
    views: list[ViewName] = Field(
        ["marked", "counts", "contrast", "logits"], min_length=1,
        description="how the explainer is shown a feature: marked (its examples, fired tokens marked), counts "
                    "(marked tokens and their neighbours with counts; for documents, distinctive words against "
                    "silent texts), contrast (near-miss silent examples), logits (promoted next tokens, where given)")
    samples_per_view: int = Field(2, ge=1, le=8, description="sampled replies per view")
    abstraction: bool = Field(True, description="one more prompt names the concept the candidates share")
    max_candidates: int = Field(5, ge=1, le=32, description="candidates scored on the validation pool (the "
                                                            "abstraction's first, then one of each view in turn)")
    n_contrast: int = Field(4, ge=1, le=20, description="near-miss silent examples in the contrast view")
    output_side: Literal["auto", "on", "off"] = Field(
        "auto", description="the logits view's promoted next tokens (auto: when the input has them)")
    select_by: list[SelectorName] = Field(
        ["detection"], description="scores that choose among the candidates on the validation pool (detection "
                                   "AUROC; simulation Pearson r, rescaled to 0-1 and averaged with it); empty: keep "
                                   "the first candidate")
    temperature: float = Field(0.7, gt=0.0, le=2.0, description="explainer sampling temperature when "
                                                                "samples_per_view > 1")
    n_validate: int = Field(6, ge=2, le=50, description="validation examples per class for choosing a candidate")
    n_test_positive: int = Field(10, ge=2, le=200, description="firing test examples per feature (at most)")
    n_test_negative: int = Field(10, ge=2, le=200, description="silent test examples per feature (at most)")
    borrow_negatives: bool = Field(True, description="when a feature has too few silent examples, use other "
                                                     "features' examples as silent ones (reported per feature)")
    controls: bool = Field(True, description="score a borrowed explanation and the always-no baseline too")
    resamples: int = Field(1000, ge=0, le=20000, description="bootstrap resamples per CI")
    max_example_chars: int = Field(300, ge=40, le=4000, description="examples clipped around their peak")
    max_features: int = Field(2000, ge=1, le=100000)
    seed: int = 0


class LabelRequest(BaseModel):
    """What a user submits: features in the simple form, optional explanations to score, and the config."""

    model_config = ConfigDict(extra="forbid")

    features: list[FeatureRecord] = Field(..., description="features with their activation examples")
    explanations: dict[str, str] | None = Field(
        None, description="feature_id -> explanation to score instead of writing one")
    config: LabelConfig = LabelConfig()


class ExplanationCandidate(BaseModel):
    text: str
    source: str = Field("given", description="the view that wrote it, 'abstraction', or 'given'")
    validation: dict[str, float] = Field({}, description="selector -> its score on the validation pool")
    chosen: bool = False


class ShownExample(BaseModel):
    """An example the explainer was shown, clipped around its peak, for pages that highlight the fired tokens."""

    tokens: list[str]
    activations: list[float]
    fired: list[bool] = Field(..., description="per token: is the activation above the feature's threshold")


class SplitInfo(BaseModel):
    mode: Literal["split", "crossfit"] = Field("split", description="how the feature was explained and scored")
    folds: int = Field(1, description="rounds scored: 1 when split, k when cross-fitted")
    examples: int = Field(..., description="distinct examples after removing duplicates")
    explain_pool: int = Field(..., description="examples the reported explanation was written from")
    validation_pool: int = Field(..., description="examples its candidates were chosen on")
    test_pool: int = Field(..., description="examples the scorers saw (cross-fitted: each by an explanation "
                                            "written without it)")
    test_positive: int
    test_negative: int
    negatives: Literal["recorded", "borrowed", "mixed", "none"] = Field(
        ..., description="where the silent test examples came from")


class BorrowedControl(BaseModel):
    from_feature: str
    explanation: str
    scores: dict[str, ScoreReport]


class Controls(BaseModel):
    borrowed: BorrowedControl | None = Field(None, description="another feature's explanation, scored on this "
                                                               "feature's test set")
    always_no: dict[str, ScoreReport] = Field({}, description="a scorer that says no to everything")


class FeatureLabel(BaseModel):
    feature_id: str
    explanation: str | None
    explanation_source: Literal["explainer", "given", "none"]
    candidates: list[ExplanationCandidate] = Field([], description="every candidate of the reported explanation, "
                                                                   "with its validation scores")
    fold_explanations: list[str] = Field([], description="cross-fitted: the explanation scored on each fold")
    shown: list[ShownExample] = Field([], description="the examples the explainer was shown")
    scores: dict[str, ScoreReport] = {}
    controls: Controls = Controls()
    skipped: dict[str, str] = Field({}, description="scorer -> why it did not run")
    split: SplitInfo
    warnings: list[str] = []


class ScorerSummary(BaseModel):
    features: int
    mean: float
    mean_borrowed: float | None
    mean_always_no: float | None = Field(None, description="the always-no control's mean (None when controls are off)")
    beats_borrowed: float | None = Field(None, description="share of features whose explanation outscores the "
                                                           "borrowed one")
    ci_excludes_borrowed: float | None = Field(None, description="share whose CI lower bound is above the "
                                                                 "borrowed explanation's score")


class LabelResult(BaseModel):
    workflow: Literal["label-features"] = "label-features"
    features: list[FeatureLabel]
    summary: dict[str, ScorerSummary]
    model: str | None
    config: LabelConfig
    cost: Cost
    seconds: float
    features_per_hour: float
    warnings: list[str] = []


class LabelLimits(BaseModel):
    """What the service accepts in one labelling job (None: unlimited); ``HYPODISC_SERVICE_<NAME>`` sets each."""

    max_features_per_job: int | None = Field(2_000, ge=1, description="features in one label-features job")
    max_examples_per_feature: int | None = Field(5_000, ge=1, description="activation examples of one feature")
    max_text_chars: int | None = Field(20_000, ge=1, description="longest single text")


class LabelStage(StrEnum):
    """Progress stages of a feature-labelling job, in order."""

    EXPLAIN = "explain"
    SCORE = "score"


def label_needs(req: LabelRequest) -> Needs:
    """The LLM explains any feature without a given explanation and runs every scorer but embedding."""
    given = req.explanations or {}
    return Needs(llm=any(f.feature_id not in given for f in req.features) or any(s != "embedding"
                                                                                 for s in req.config.scorers),
                 embedder="embedding" in req.config.scorers)


def check_labels(req: LabelRequest, limits: LabelLimits) -> None:
    if not req.features:
        raise FeatureInputError("no features given: give at least one feature record", code="no_features")
    most = min(req.config.max_features, limits.max_features_per_job or req.config.max_features)
    if len(req.features) > most:
        raise FeatureInputError(f"{len(req.features)} features is over the limit of {most}",
                                fix="raise config.max_features or split the input", code="too_many_features",
                                status=413)
    check_unique_ids(req.features, "features")
    for f in req.features:
        if limits.max_examples_per_feature is not None and len(f.examples) > limits.max_examples_per_feature:
            raise FeatureInputError(f"feature {f.feature_id!r} has {len(f.examples)} examples; the limit is "
                                    f"{limits.max_examples_per_feature}", code="too_many_examples", status=413)
        for j, ex in enumerate(f.examples):
            if limits.max_text_chars is not None and sum(len(t) for t in ex.tokens) > limits.max_text_chars:
                raise FeatureInputError(f"feature {f.feature_id!r}, example {j}: longer than "
                                        f"{limits.max_text_chars} characters", code="text_too_long", status=413)


LABEL_FEATURES = Workflow(
    name="label-features",
    summary="Feature labels (delphi-class): explain what each SAE latent or neuron responds to, and score the "
            "explanation on held-out examples beside a borrowed-explanation control and an always-no baseline",
    request_model=LabelRequest, config_model=LabelConfig, result_model=LabelResult, stages=LabelStage,
    stage_spans={LabelStage.EXPLAIN: (0.0, 0.35), LabelStage.SCORE: (0.35, 1.0)},
    needs=label_needs, limits=LabelLimits, check=check_labels,
    runner="hypodisc.workflows.label_features:run_label_job", surfaces=LABEL_SURFACES)
