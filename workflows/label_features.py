"""Label features: explain each from its explain pool, score on its test pool, beside controls.

Steps: split every feature's examples into disjoint explain / validate / test
pools; write one (or best-of-k) explanation per feature; score it and two
controls (another feature's explanation, and a scorer that always says no) on
the test pool; summarise. Features are processed in chunks so the backend sees
prompts of several features per call while progress still moves per feature.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from hypodisc.backends.base import LLMBackend
from hypodisc.datasets.feature_records import ActivationExample, FeatureInputError, FeatureRecord
from hypodisc.proposers.feature_explainer import ExplainerInput, FeatureExplainer
from hypodisc.verifiers.feature_scorers import DetectionScorer, Scorer, ScoringTask, make_scorer
from hypodisc.verifiers.feature_stats import auroc
from hypodisc.workflows.cost import CostMeter
from hypodisc.workflows.feature_splits import (FeatureSplit, active_examples, feature_rng, sample_explainer_examples,
                                               silent_examples, split_feature)
from hypodisc.workflows.contract import Checkpoints, Engines, NoLimits, Progress, no_progress
from hypodisc.workflows.label_models import (BorrowedControl, Controls, ExplanationCandidate, FeatureLabel,
                                             LabelConfig, LabelRequest, LabelResult, LabelStage, ScoreReport,
                                             ScorerSummary, SplitInfo, check_labels, label_needs)

#: Features whose prompts go to the backend together (progress moves once per chunk).
CHUNK = 4


@dataclass
class _Feature:
    """Working state of one feature."""

    split: FeatureSplit
    test_pos: list[ActivationExample]
    test_neg: list[ActivationExample]
    negatives: str
    explanation: str | None = None
    source: str = "none"
    candidates: list[ExplanationCandidate] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def record(self) -> FeatureRecord:
        return self.split.feature

    def task(self, explanation: str, seed: int) -> ScoringTask:
        r = self.record
        return ScoringTask(r.feature_id, explanation, r.level, r.threshold, r.max_activation,
                           self.test_pos, self.test_neg, seed)


def _borrow(pool_owner: FeatureSplit, others: Sequence[FeatureSplit], k: int,
            rng: np.random.Generator) -> list[ActivationExample]:
    """Other features' firing examples of the same level, as silent examples for this one.

    Assumed silent, not measured: reported as "borrowed" so a reader can weigh it.
    """
    own = {e.text.strip() for e in pool_owner.examples}
    cands = [e for s in others if s is not pool_owner and s.feature.level == pool_owner.feature.level
             for e in s.pool("test") + s.pool("validate") if s.is_active(e) and e.text.strip() not in own]
    if not cands:
        return []
    picked = rng.choice(len(cands), size=min(k, len(cands)), replace=False)
    return [ActivationExample(tokens=cands[i].tokens, activations=tuple(0.0 for _ in cands[i].tokens))
            for i in sorted(picked.tolist())]


def _prepare(splits: list[FeatureSplit], cfg: LabelConfig) -> list[_Feature]:
    out = []
    for s in splits:
        rng = feature_rng(cfg.seed + 1, s.feature.feature_id)
        pos = active_examples(s, "test", cfg.n_test_positive, rng)
        neg = silent_examples(s, "test", cfg.n_test_negative, rng)
        source = "recorded" if neg else "none"
        if len(neg) < cfg.n_test_negative and cfg.borrow_negatives:
            extra = _borrow(s, splits, cfg.n_test_negative - len(neg), rng)
            if extra:
                source = "mixed" if neg else "borrowed"
                neg = neg + extra
        f = _Feature(s, pos, neg, source)
        if len(pos) < 2:
            f.warnings.append(f"only {len(pos)} firing test example(s): too few to score")
        if source in ("borrowed", "mixed"):
            f.warnings.append("silent test examples include other features' examples, assumed silent")
        out.append(f)
    return out


def _explainer_input(f: _Feature, cfg: LabelConfig) -> ExplainerInput:
    rng = feature_rng(cfg.seed + 2, f.record.feature_id)
    shown = sample_explainer_examples(f.split, cfg.n_explain, cfg.sampling, rng)
    contrast = silent_examples(f.split, "explain", cfg.n_contrast, rng) if cfg.contrastive else []
    logits = f.record.top_logits if cfg.output_side != "off" else ()
    return ExplainerInput(f.record.level, f.record.threshold, f.record.max_activation, shown, contrast, logits)


def _pick_best(feats: list[_Feature], cands: list[list[str]], detection: DetectionScorer, cfg: LabelConfig) -> None:
    """Keep, per feature, the candidate with the best detection AUROC on its validation pool."""
    tasks, items, owners = [], [], []
    for f, cs in zip(feats, cands):
        rng = feature_rng(cfg.seed + 3, f.record.feature_id)
        pos = active_examples(f.split, "validate", cfg.n_validate, rng)
        neg = silent_examples(f.split, "validate", cfg.n_validate, rng)
        if len(cs) < 2 or not pos or not neg:
            continue
        for c in cs:
            t = ScoringTask(f.record.feature_id, c, f.record.level, f.record.threshold, f.record.max_activation,
                            pos, neg, cfg.seed)
            tasks.append(t)
            items.append(detection.items(t))
            owners.append(f)
    if not tasks:
        return
    preds = detection.predict(tasks, items)
    for t, its, p, f in zip(tasks, items, preds, owners):
        labels = np.array([int(it.truth) for it in its])
        for c in f.candidates:
            if c.text == t.explanation:
                c.validation_auroc = auroc(labels, p)
    for f in feats:
        scored = [c for c in f.candidates if c.validation_auroc is not None]
        if scored:
            f.explanation = max(scored, key=lambda c: c.validation_auroc).text


def _explain(feats: list[_Feature], explainer: FeatureExplainer | None, detection: DetectionScorer | None,
             cfg: LabelConfig) -> None:
    todo = [f for f in feats if f.explanation is None]
    if not todo:
        return
    if explainer is None:
        raise FeatureInputError("explaining features needs an LLM backend")
    inputs = [_explainer_input(f, cfg) for f in todo]
    cands = explainer.explain(inputs, k=cfg.best_of, temperature=cfg.temperature, seed=cfg.seed)
    for f, cs in zip(todo, cands):
        f.candidates = [ExplanationCandidate(text=c) for c in cs]
        f.source = "explainer" if cs else "none"
        f.explanation = cs[0] if cs else None
        if not cs:
            f.warnings.append("the explainer's reply had no usable explanation")
    if cfg.best_of > 1 and detection is not None:
        _pick_best(todo, cands, detection, cfg)


def _borrowed_for(i: int, feats: list[_Feature]) -> _Feature | None:
    """The next feature (cyclically) with a different explanation."""
    n = len(feats)
    for step in range(1, n):
        other = feats[(i + step) % n]
        if other.explanation and other.explanation != feats[i].explanation:
            return other
    return None


def _score(all_feats: list[_Feature], lo: int, scorers: list[Scorer], cfg: LabelConfig) -> list[FeatureLabel]:
    """Score the chunk ``all_feats[lo: lo + CHUNK]`` and its controls; every scorer sees the chunk in one call."""
    feats = all_feats[lo: lo + CHUNK]
    jobs: list[tuple[int, str, ScoringTask]] = []  # (feature index in chunk, "real"|"borrowed", task)
    borrowed: dict[int, _Feature] = {}
    for i, f in enumerate(feats):
        if not f.explanation:
            continue
        jobs.append((i, "real", f.task(f.explanation, cfg.seed)))
        if cfg.controls:
            other = _borrowed_for(lo + i, all_feats)
            if other is not None:
                borrowed[i] = other
                jobs.append((i, "borrowed", f.task(other.explanation, cfg.seed)))
    real: list[dict[str, ScoreReport]] = [{} for _ in feats]
    borrowed_scores: list[dict[str, ScoreReport]] = [{} for _ in feats]
    always_no: list[dict[str, ScoreReport]] = [{} for _ in feats]
    skipped: list[dict[str, str]] = [{} for _ in feats]
    for scorer in scorers:
        runnable = []
        for i, kind, task in jobs:
            why = scorer.applicable(task)
            if why is None and len(task.positives) < 2:
                why = "fewer than 2 firing test examples"
            items = scorer.items(task) if why is None else []
            if why is None and len({it.stratum for it in items}) < 2:
                why = "its test items do not hold both classes"
            if why is not None:
                skipped[i][scorer.name] = why
                continue
            runnable.append((i, kind, task, items))
        if not runnable:
            continue
        preds = scorer.predict([r[2] for r in runnable], [r[3] for r in runnable])
        for (i, kind, task, items), p in zip(runnable, preds):
            report = scorer.report(task, items, p, cfg.resamples)
            if kind == "real":
                real[i][scorer.name] = report
                if cfg.controls:
                    always_no[i][scorer.name] = scorer.report(task, items, np.zeros(len(items)), cfg.resamples)
            else:
                borrowed_scores[i][scorer.name] = report
    out = []
    for i, f in enumerate(feats):
        b = borrowed.get(i)
        controls = Controls(
            borrowed=BorrowedControl(from_feature=b.record.feature_id, explanation=b.explanation,
                                     scores=borrowed_scores[i]) if b is not None else None,
            always_no=always_no[i])
        s = f.split
        out.append(FeatureLabel(
            feature_id=f.record.feature_id, explanation=f.explanation, explanation_source=f.source,
            candidates=f.candidates, scores=real[i], controls=controls, skipped=skipped[i],
            split=SplitInfo(examples=len(s.examples), explain_pool=len(s.explain), validation_pool=len(s.validate),
                            test_pool=len(s.test), test_positive=len(f.test_pos), test_negative=len(f.test_neg),
                            negatives=f.negatives),
            warnings=f.warnings))
    return out


def _summarise(labels: list[FeatureLabel], names: Sequence[str]) -> dict[str, ScorerSummary]:
    out = {}
    for name in names:
        rows = [lab for lab in labels if name in lab.scores]
        if not rows:
            continue
        pairs = [(lab.scores[name], lab.controls.borrowed.scores[name]) for lab in rows
                 if lab.controls.borrowed and name in lab.controls.borrowed.scores]
        nos = [lab.controls.always_no[name].score for lab in rows if name in lab.controls.always_no]
        out[name] = ScorerSummary(
            features=len(rows), mean=float(np.mean([lab.scores[name].score for lab in rows])),
            mean_borrowed=float(np.mean([b.score for _, b in pairs])) if pairs else None,
            mean_always_no=float(np.mean(nos)) if nos else float("nan"),
            beats_borrowed=float(np.mean([r.score > b.score for r, b in pairs])) if pairs else None,
            ci_excludes_borrowed=float(np.mean([r.ci_low > b.score for r, b in pairs])) if pairs else None)
    return out


def run_label_job(req: LabelRequest, engines: Engines, progress: Progress, checkpoints: Checkpoints) -> LabelResult:
    """The labelling workflow as the registry runs it: the engines the request needs, then :func:`label_features`."""
    needs = label_needs(req)
    return label_features(req.features, req.config, backend=engines.llm() if needs.llm else None,
                          embedder=engines.embedder() if needs.embedder else None, explanations=req.explanations,
                          progress=progress)


def label_features(records: Sequence[FeatureRecord], config: LabelConfig | None = None, *,
                   backend: LLMBackend | None, embedder=None, explanations: Mapping[str, str] | None = None,
                   progress: Progress | None = None) -> LabelResult:
    """Explain (unless ``explanations`` gives one) and score every feature, with controls.

    ``progress(stage, done, total)`` is called per chunk of features with stages
    ``explain`` and ``score``; raising from it stops the run (the service's cancel).
    """
    cfg = config or LabelConfig()
    progress = progress or no_progress
    req = LabelRequest.model_construct(features=list(records), explanations=explanations, config=cfg)
    check_labels(req, NoLimits())
    needs = label_needs(req)
    if needs.llm and backend is None:
        raise FeatureInputError("this run needs an LLM backend (to explain features or to run an LLM scorer)")
    if needs.embedder and embedder is None:
        raise FeatureInputError("the embedding scorer needs the sentence embedder")
    t0 = time.perf_counter()
    meter = CostMeter(backend, embedder)
    feats = _prepare([split_feature(r, cfg.seed) for r in records], cfg)
    for f in feats:
        given = (explanations or {}).get(f.record.feature_id)
        if given and given.strip():
            f.explanation, f.source = given.strip(), "given"
    explainer = FeatureExplainer(backend, max_example_chars=cfg.max_example_chars) if backend is not None else None
    detection = DetectionScorer(backend) if backend is not None else None
    with meter.stage("explain"):
        for lo in range(0, len(feats), CHUNK):
            _explain(feats[lo: lo + CHUNK], explainer, detection, cfg)
            progress(LabelStage.EXPLAIN, min(lo + CHUNK, len(feats)), len(feats))
    scorers = [make_scorer(n, backend, embedder) for n in dict.fromkeys(cfg.scorers)]
    labels: list[FeatureLabel] = []
    with meter.stage("score"):
        for lo in range(0, len(feats), CHUNK):
            labels += _score(feats, lo, scorers, cfg)
            progress(LabelStage.SCORE, min(lo + CHUNK, len(feats)), len(feats))
    seconds = time.perf_counter() - t0
    warnings = []
    unexplained = sum(1 for lab in labels if not lab.explanation)
    if unexplained:
        warnings.append(f"{unexplained} feature(s) got no usable explanation")
    return LabelResult(features=labels, summary=_summarise(labels, cfg.scorers),
                       model=getattr(backend, "model", None), config=cfg, cost=meter.cost, seconds=round(seconds, 3),
                       features_per_hour=round(3600 * len(labels) / seconds, 1) if seconds > 0 else 0.0,
                       warnings=warnings)
