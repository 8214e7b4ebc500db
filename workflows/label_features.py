"""Label features: explain each from the examples it may show, choose among candidates on examples it may
not, score on held-out examples, beside controls.

Steps: plan every feature (disjoint explain / validate / test pools, or, for a feature with few examples,
cross-fitted folds); write candidate explanations from several views plus an abstraction pass; keep the
candidate that scores best on the validation pool; score it and two controls (another feature's
explanation, and a scorer that always says no) on the test pool; summarise. Features are processed in
chunks so the backend sees prompts of several features per call while progress still moves per feature.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from hypodisc.backends.base import LLMBackend
from hypodisc.datasets.feature_records import ActivationExample, FeatureInputError, FeatureRecord
from hypodisc.datasets.feature_text import clip_tokens
from hypodisc.proposers.feature_explainer import ExplainerInput, FeatureExplainer
from hypodisc.verifiers.feature_scorers import Item, Scorer, ScoringTask, make_scorer
from hypodisc.workflows.cost import CostMeter
from hypodisc.workflows.feature_splits import (FeaturePlan, Fold, active_examples, feature_rng, plan_feature,
                                               sample_explainer_examples, silent_examples)
from hypodisc.workflows.contract import Checkpoints, Engines, NoLimits, Progress, no_progress
from hypodisc.workflows.label_models import (BorrowedControl, Controls, ExplanationCandidate, FeatureLabel,
                                             LabelConfig, LabelRequest, LabelResult, LabelStage, ScoreReport,
                                             ScorerSummary, ShownExample, SplitInfo, check_labels, label_needs)

#: Features whose prompts go to the backend together (progress moves once per chunk).
CHUNK = 4
#: silent examples of the explain pool the explainer's counts and near misses are drawn from
EXPLAIN_SILENT = 12


@dataclass
class _Round:
    """One explain-choose(-score) round of a feature: its pools, and what was written and chosen in it."""

    fold: Fold
    test_pos: list[ActivationExample] = field(default_factory=list)
    test_neg: list[ActivationExample] = field(default_factory=list)
    explanation: str | None = None
    candidates: list[ExplanationCandidate] = field(default_factory=list)
    shown: list[ActivationExample] = field(default_factory=list)


@dataclass
class _Feature:
    """Working state of one feature: the rounds scored, and the round its reported explanation comes from."""

    plan: FeaturePlan
    rounds: list[_Round]
    final: _Round
    negatives: str = "none"
    source: str = "none"
    warnings: list[str] = field(default_factory=list)

    @property
    def record(self) -> FeatureRecord:
        return self.plan.feature

    @property
    def explanation(self) -> str | None:
        return self.final.explanation

    def task(self, explanation: str, positives, negatives, seed: int) -> ScoringTask:
        r = self.record
        return ScoringTask(r.feature_id, explanation, r.level, r.threshold, r.max_activation, positives, negatives,
                           seed)


def _borrow(owner: FeaturePlan, others: Sequence[FeaturePlan], k: int,
            rng: np.random.Generator) -> list[ActivationExample]:
    """Other features' firing examples of the same level, as silent examples for this one.

    Assumed silent, not measured: reported as "borrowed" so a reader can weigh it.
    """
    own = {e.text.strip() for e in owner.examples}
    thr = {id(p): p.feature.threshold for p in others}
    cands = [e for p in others if p is not owner and p.feature.level == owner.feature.level
             for e in p.examples if e.max_activation > thr[id(p)] and e.text.strip() not in own]
    if not cands:
        return []
    picked = rng.choice(len(cands), size=min(k, len(cands)), replace=False)
    return [ActivationExample(tokens=cands[i].tokens, activations=tuple(0.0 for _ in cands[i].tokens))
            for i in sorted(picked.tolist())]


def _prepare(plans: list[FeaturePlan], cfg: LabelConfig) -> list[_Feature]:
    """Test examples of every scored round, silent ones borrowed from other features where too few."""
    out = []
    for plan in plans:
        thr, rng = plan.feature.threshold, feature_rng(cfg.seed + 1, plan.feature.feature_id)
        k = len(plan.folds)
        per_pos, per_neg = -(-cfg.n_test_positive // k), -(-cfg.n_test_negative // k)
        rounds = [_Round(fold, active_examples(fold.test, thr, per_pos, rng), silent_examples(fold.test, thr, per_neg,
                                                                                               rng))
                  for fold in plan.folds]
        had = any(r.test_neg for r in rounds)
        short = sum(max(0, per_neg - len(r.test_neg)) for r in rounds)
        extra = _borrow(plan, plans, short, rng) if short and cfg.borrow_negatives else []
        borrowed = bool(extra)
        for r in rounds:
            need = max(0, per_neg - len(r.test_neg))
            r.test_neg, extra = r.test_neg + extra[:need], extra[need:]
        negatives = "mixed" if had and borrowed else "borrowed" if borrowed else "recorded" if had else "none"
        f = _Feature(plan, rounds, rounds[0] if plan.mode == "split" else _Round(plan.final), negatives)
        n_pos = sum(len(r.test_pos) for r in rounds)
        if n_pos < 2:
            f.warnings.append(f"only {n_pos} firing test example(s): too few to score")
        if plan.mode == "crossfit":
            f.warnings.append(f"{sum(1 for e in plan.examples if e.max_activation > thr)} firing examples: "
                              f"cross-fitted over {k} folds (explained on k-1, scored on the held-out fold); the "
                              f"reported explanation is written from all examples, and its CI is wide")
        if negatives in ("borrowed", "mixed"):
            f.warnings.append("silent test examples include other features' examples, assumed silent")
        out.append(f)
    return out


def _explainer_input(f: _Feature, r: _Round, cfg: LabelConfig) -> ExplainerInput:
    rng = feature_rng(cfg.seed + 2, f.record.feature_id)
    thr = f.record.threshold
    r.shown = sample_explainer_examples(r.fold.explain, thr, cfg.n_explain, cfg.sampling, rng)
    silent = silent_examples(r.fold.explain, thr, EXPLAIN_SILENT, rng)
    logits = f.record.top_logits if cfg.output_side != "off" else ()
    return ExplainerInput(f.record.level, thr, f.record.max_activation, r.shown, silent, logits, cfg.n_contrast)


def _validation_score(scores: dict[str, float]) -> float:
    """Detection AUROC and simulation r on one 0-1 scale, averaged."""
    vals = [v if name != "simulation" else (v + 1) / 2 for name, v in scores.items() if np.isfinite(v)]
    return float(np.mean(vals)) if vals else float("-inf")


def _choose(work: list[tuple[_Feature, _Round]], selectors: list[Scorer], cfg: LabelConfig) -> None:
    """Per round, score every candidate on the validation pool with each selector and keep the best (ties: the
    wider gap between its mean prediction on firing and silent examples, then the earlier candidate)."""
    jobs = []  # (round, candidate, task)
    for f, r in work:
        rng = feature_rng(cfg.seed + 3, f.record.feature_id)
        pos = active_examples(r.fold.validate, f.record.threshold, cfg.n_validate, rng)
        neg = silent_examples(r.fold.validate, f.record.threshold, cfg.n_validate, rng)
        if len(r.candidates) < 2 or not pos or not neg:
            continue
        jobs += [(r, c, f.task(c.text, pos, neg, cfg.seed)) for c in r.candidates]
    gaps: dict[int, float] = {}  # id(candidate) -> mean prediction on firing minus silent examples, summed
    for sel in selectors if jobs else []:
        items = [sel.items(t) for _, _, t in jobs]
        for (r, c, t), its, p in zip(jobs, items, sel.predict([t for _, _, t in jobs], items)):
            c.validation[sel.name] = sel.report(t, its, p, resamples=0).score
            truth = np.array([it.stratum for it in its])
            gaps[id(c)] = gaps.get(id(c), 0.0) + float(p[truth == 1].mean() - p[truth == 0].mean())
    for r in {id(r): r for r, _, _ in jobs}.values():
        # a few validation examples give many AUROC ties: the wider separation breaks them, then the order
        best = max(r.candidates, key=lambda c: (round(_validation_score(c.validation), 9), gaps.get(id(c), 0.0)))
        r.explanation = best.text
    for f, r in work:
        for c in r.candidates:
            c.chosen = c.text == r.explanation


def _explain(feats: list[_Feature], explainer: FeatureExplainer | None, selectors: list[Scorer],
             cfg: LabelConfig) -> None:
    work = [(f, r) for f in feats if f.source != "given" for r in ([f.final] + [x for x in f.rounds
                                                                               if x is not f.final])]
    if not work:
        return
    if explainer is None:
        raise FeatureInputError("explaining features needs an LLM backend")
    inputs = [_explainer_input(f, r, cfg) for f, r in work]
    cands = explainer.explain(inputs, views=cfg.views, samples=cfg.samples_per_view, abstraction=cfg.abstraction,
                              temperature=cfg.temperature, seed=cfg.seed)
    for (f, r), cs in zip(work, cands):
        r.candidates = [ExplanationCandidate(text=c.text, source=c.source) for c in cs[: cfg.max_candidates]]
        r.explanation = cs[0].text if cs else None
    _choose(work, selectors, cfg)
    for f in feats:
        if f.source == "given":
            continue
        f.source = "explainer" if f.explanation else "none"
        if not f.explanation:
            f.warnings.append("the explainer's replies had no usable explanation")


def _borrowed_for(i: int, feats: list[_Feature]) -> _Feature | None:
    """The next feature (cyclically) with a different explanation."""
    n = len(feats)
    for step in range(1, n):
        other = feats[(i + step) % n]
        if other.explanation and other.explanation != feats[i].explanation:
            return other
    return None


def _pooled(f: _Feature, explanations: Sequence[str], seed: int) -> tuple[ScoringTask, list[ScoringTask]]:
    """The per-round tasks of one explanation per round, and one task over every round's test examples (what
    a report and the applicability checks see)."""
    rounds = [f.task(e, r.test_pos, r.test_neg, seed) for e, r in zip(explanations, f.rounds)]
    pooled = f.task(f.explanation or explanations[0], [e for t in rounds for e in t.positives],
                    [e for t in rounds for e in t.negatives], seed)
    return pooled, rounds


def _score(all_feats: list[_Feature], lo: int, scorers: list[Scorer], cfg: LabelConfig) -> list[FeatureLabel]:
    """Score the chunk ``all_feats[lo: lo + CHUNK]`` and its controls; every scorer sees the chunk in one call.

    A cross-fitted feature's rounds are scored each with its own explanation, and their items and predictions
    are pooled into one report, so its score is a held-out score of the whole procedure.
    """
    feats = all_feats[lo: lo + CHUNK]
    jobs: list[tuple[int, str, ScoringTask, list[ScoringTask]]] = []  # (index in chunk, real|borrowed, pooled, rounds)
    borrowed: dict[int, _Feature] = {}
    for i, f in enumerate(feats):
        if not f.explanation:
            continue
        jobs.append((i, "real", *_pooled(f, [r.explanation or f.explanation for r in f.rounds], cfg.seed)))
        if cfg.controls:
            other = _borrowed_for(lo + i, all_feats)
            if other is not None:
                borrowed[i] = other
                jobs.append((i, "borrowed", *_pooled(f, [other.explanation] * len(f.rounds), cfg.seed)))
    real: list[dict[str, ScoreReport]] = [{} for _ in feats]
    borrowed_scores: list[dict[str, ScoreReport]] = [{} for _ in feats]
    always_no: list[dict[str, ScoreReport]] = [{} for _ in feats]
    skipped: list[dict[str, str]] = [{} for _ in feats]
    for scorer in scorers:
        runnable = []
        for i, kind, pooled, rounds in jobs:
            why = scorer.applicable(pooled)
            if why is None and len(pooled.positives) < 2:
                why = "fewer than 2 firing test examples"
            items = [scorer.items(t) for t in rounds] if why is None else []
            if why is None and len({it.stratum for its in items for it in its}) < 2:
                why = "its test items do not hold both classes"
            if why is not None:
                skipped[i][scorer.name] = why
                continue
            runnable.append((i, kind, pooled, rounds, items))
        if not runnable:
            continue
        flat_tasks = [t for r in runnable for t in r[3]]
        flat_items = [its for r in runnable for its in r[4]]
        preds = iter(scorer.predict(flat_tasks, flat_items))
        for i, kind, pooled, rounds, items in runnable:
            its: list[Item] = [it for x in items for it in x]
            p = np.concatenate([next(preds) for _ in rounds]) if rounds else np.zeros(0)
            report = scorer.report(pooled, its, p, cfg.resamples)
            if kind == "real":
                real[i][scorer.name] = report
                if cfg.controls:
                    always_no[i][scorer.name] = scorer.report(pooled, its, np.zeros(len(its)), cfg.resamples)
            else:
                borrowed_scores[i][scorer.name] = report
    return [_label(f, borrowed.get(i), real[i], borrowed_scores[i], always_no[i], skipped[i], cfg)
            for i, f in enumerate(feats)]


def _label(f: _Feature, b: _Feature | None, real, borrowed_scores, always_no, skipped, cfg: LabelConfig) -> FeatureLabel:
    plan, crossfit = f.plan, f.plan.mode == "crossfit"
    thr = f.record.threshold
    examples = f.final.shown or sample_explainer_examples(f.final.fold.explain, thr, cfg.n_explain, cfg.sampling,
                                                          feature_rng(cfg.seed + 2, f.record.feature_id))
    shown = [ShownExample(tokens=t, activations=a, fired=[x > thr for x in a])
             for t, a in (clip_tokens(e, cfg.max_example_chars) for e in examples)]
    return FeatureLabel(
        feature_id=f.record.feature_id, explanation=f.explanation, explanation_source=f.source,
        candidates=f.final.candidates, scores=real, shown=shown,
        fold_explanations=[r.explanation or "" for r in f.rounds] if crossfit else [],
        controls=Controls(borrowed=BorrowedControl(from_feature=b.record.feature_id, explanation=b.explanation,
                                                   scores=borrowed_scores) if b is not None else None,
                          always_no=always_no),
        skipped=skipped,
        split=SplitInfo(mode=plan.mode, folds=len(f.rounds), examples=len(plan.examples),
                        explain_pool=len(plan.final.explain), validation_pool=len(plan.final.validate),
                        test_pool=sum(len(r.fold.test) for r in f.rounds),
                        test_positive=sum(len(r.test_pos) for r in f.rounds),
                        test_negative=sum(len(r.test_neg) for r in f.rounds), negatives=f.negatives),
        warnings=f.warnings)


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
            mean_always_no=float(np.mean(nos)) if nos else None,
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
    feats = _prepare([plan_feature(r, cfg.seed, cfg.mode, cfg.min_split_active, cfg.folds) for r in records], cfg)
    for f in feats:
        given = (explanations or {}).get(f.record.feature_id)
        if given and given.strip():
            f.source = "given"
            for r in {id(r): r for r in [f.final, *f.rounds]}.values():
                r.explanation = given.strip()
    explainer = FeatureExplainer(backend, max_example_chars=cfg.max_example_chars) if backend is not None else None
    selectors = [make_scorer(n, backend, embedder) for n in cfg.select_by] if backend is not None else []
    with meter.stage("explain"):
        for lo in range(0, len(feats), CHUNK):
            _explain(feats[lo: lo + CHUNK], explainer, selectors, cfg)
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
