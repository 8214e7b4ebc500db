"""The feature-labelling workflow: disjoint pools, prompts, scorers and controls, on real models."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hypodisc.datasets import demo_pair
from hypodisc.datasets.feature_records import ActivationExample, FeatureInputError, FeatureRecord
from hypodisc.datasets.planted_features import (RULES, names_rule, planted_feature, planted_features,
                                               planted_topic_feature)
from hypodisc.proposers.feature_explainer import parse_explanation
from hypodisc.proposers.feature_explainer import view_prompts
from hypodisc.workflows.feature_splits import feature_rng, plan_feature, sample_explainer_examples, split_feature
from hypodisc.workflows.label_features import _explainer_input, _prepare, label_features
from hypodisc.workflows.label_models import LabelConfig
from hypodisc.workflows.label_report import to_neuronpedia


@pytest.fixture(scope="module")
def texts():
    a, b = demo_pair()
    return a + b


def _random_record(rng: np.random.Generator, fid: str, n: int) -> FeatureRecord:
    words = ["alpha", "beta", "gamma", "delta", "eps", "zeta"]
    examples = []
    for _ in range(n):
        toks = tuple(f" {w}" for w in rng.choice(words, size=4))  # small vocabulary: many duplicate texts
        acts = tuple(float(a) if rng.random() < 0.5 else 0.0 for a in rng.uniform(0, 5, size=4))
        examples.append(ActivationExample(tokens=toks, activations=acts))
    return FeatureRecord(feature_id=fid, examples=tuple(examples))


@pytest.mark.parametrize("seed", range(5))
def test_pools_are_disjoint_by_index_and_by_text(seed):
    rng = np.random.default_rng(seed)
    rec = _random_record(rng, f"f{seed}", 300)
    split = split_feature(rec, seed=seed)
    pools = {name: set(getattr(split, name)) for name in ("explain", "validate", "test")}
    for x, y in itertools.combinations(pools, 2):
        assert not pools[x] & pools[y], (x, y)
    assert set().union(*pools.values()) == set(range(len(split.examples)))
    texts = {name: {split.examples[i].text for i in idx} for name, idx in pools.items()}
    for x, y in itertools.combinations(texts, 2):
        assert not texts[x] & texts[y], f"the same text is in {x} and {y}"
    # every sampling strategy draws only from the explain pool
    for strategy in ("top", "quantiles", "random"):
        shown = sample_explainer_examples(split.pool("explain"), rec.threshold, 10, strategy,
                                          feature_rng(seed, rec.feature_id))
        assert {e.text for e in shown} <= texts["explain"]
        assert all(e.max_activation > 0 for e in shown)


def test_pools_each_get_strong_and_weak_examples():
    acts = np.linspace(1, 100, 100)
    rec = FeatureRecord(feature_id="x", examples=tuple(
        ActivationExample(tokens=(f" t{i}",), activations=(float(a),)) for i, a in enumerate(acts)))
    split = split_feature(rec)
    for pool in ("explain", "validate", "test"):
        strengths = [e.max_activation for e in split.pool(pool)]
        assert max(strengths) > 90 and min(strengths) < 10, pool


def test_top_sampling_takes_the_strongest_of_the_explain_pool():
    rec = planted_feature(RULES[0], demo_pair()[0])
    split = split_feature(rec)
    shown = sample_explainer_examples(split.pool("explain"), rec.threshold, 3, "top", feature_rng(0, "x"))
    pool = sorted((e.max_activation for e in split.pool("explain") if split.is_active(e)), reverse=True)
    assert [e.max_activation for e in shown] == pool[:3]


def test_explainer_prompts_show_only_the_explain_pool_and_mark_tokens(texts):
    rec = planted_feature(RULES[0], texts)
    cfg = LabelConfig()
    feat = _prepare([plan_feature(rec)], cfg)[0]
    assert feat.plan.mode == "split"
    prompts = dict(view_prompts(_explainer_input(feat, feat.final, cfg), cfg.views))
    assert set(prompts) == {"marked", "counts", "contrast"}  # no logits in the record: that view is skipped
    split = split_feature(rec)
    hidden = {" ".join(e.text.split()) for e in split.pool("test") + split.pool("validate")}
    explain_texts = {" ".join(e.text.split()) for e in split.pool("explain")}
    for view, chat in prompts.items():
        prompt = chat[1]["content"]
        assert not any(t in prompt for t in hidden), view
        assert "<<" in prompt
    near_misses = [ln[2:] for ln in prompts["contrast"][1]["content"].splitlines() if ln.startswith("- ")]
    assert near_misses and all(ln in explain_texts for ln in near_misses)
    assert "does NOT fire" in prompts["contrast"][1]["content"]


def test_output_side_mode_shows_top_logits():
    ex = ActivationExample(tokens=(" Paris", " is"), activations=(0.0, 3.0))
    rec = FeatureRecord(feature_id="say-france", examples=(ex,) * 1, top_logits=(" France", " French"))
    cfg = LabelConfig(output_side="auto")
    feat = _prepare([plan_feature(rec)], cfg)[0]
    assert "' France'" in dict(view_prompts(_explainer_input(feat, feat.final, cfg), ["logits"]))["logits"][1]["content"]
    off = LabelConfig(output_side="off")
    assert view_prompts(_explainer_input(feat, feat.final, off), ["logits"]) == []


@pytest.mark.parametrize("reply,expected", [
    ("The marked tokens are numbers.\nExplanation: numbers and digits.", "numbers and digits"),
    ("Explanation: \"the word bank\"", "the word bank"),
    ("**Explanation:** weekdays", "weekdays"),
    ("just a line", "just a line"),
    ('Explanation: the word "said".', 'the word "said"'),
    ("", None),
])
def test_parse_explanation(reply, expected):
    assert parse_explanation(reply) == expected


def test_scorers_only_see_the_test_pool(texts, embedder):
    """Embedding scorer, given explanations: no LLM, so it is fast and deterministic."""
    rules = [r for r in RULES if r.name in ("weekdays", "money", "said")]
    feats = planted_features(texts, rules)
    cfg = LabelConfig(scorers=["embedding"], resamples=200)
    res = label_features(feats, cfg, backend=None, embedder=embedder,
                         explanations={f"planted/{r.name}": r.truth for r in rules})
    for lab, rec in zip(res.features, feats):
        assert lab.split.mode == "split"
        split = split_feature(rec)
        allowed = {" ".join(e.text.split()) for e in split.pool("test")}
        shown = [b.text.rstrip("…") for b in lab.scores["embedding"].breakdown if b.truth == 1.0]
        assert shown and all(any(a.startswith(t) for a in allowed) for t in shown)
        explain_texts = {" ".join(e.text.split()) for e in split.pool("explain")}
        assert not set(shown) & explain_texts
        assert lab.controls.borrowed is not None and lab.controls.borrowed.from_feature != lab.feature_id
        assert lab.controls.always_no["embedding"].score == 0.5
    export = to_neuronpedia(res)
    assert export[0]["description"] == rules[0].truth and export[0]["index"] == "weekdays"


def test_embedding_scorer_prefers_the_true_topic(embedder):
    tech, business = demo_pair()
    feats = [planted_topic_feature("topic/tech", tech, business), planted_topic_feature("topic/business", business, tech)]
    cfg = LabelConfig(scorers=["embedding"], resamples=200, n_test_positive=20, n_test_negative=20)
    true = label_features(feats, cfg, backend=None, embedder=embedder,
                          explanations={"topic/tech": "technology and computing news",
                                        "topic/business": "business and economy news"})
    decoy = label_features(feats, cfg, backend=None, embedder=embedder,
                           explanations={"topic/tech": "sports news", "topic/business": "sports news"})
    for t, d in zip(true.features, decoy.features):
        assert t.scores["embedding"].score > 0.6
        assert t.scores["embedding"].score > d.scores["embedding"].score
        # the borrowed control is the other topic: the opposite of the truth, so worse than chance
        assert t.controls.borrowed.scores["embedding"].score < 0.5


def test_bad_input_is_a_clear_error(embedder):
    with pytest.raises(FeatureInputError, match="no features"):
        label_features([], LabelConfig(scorers=["embedding"]), backend=None, embedder=embedder)
    rec = FeatureRecord(feature_id="a", examples=(ActivationExample(tokens=("x",), activations=(1.0,)),))
    with pytest.raises(FeatureInputError, match="appears twice"):
        label_features([rec, rec], LabelConfig(scorers=["embedding"]), backend=None, embedder=embedder,
                       explanations={"a": "x"})
    with pytest.raises(FeatureInputError, match="needs an LLM"):
        label_features([rec], LabelConfig(scorers=["embedding"]), backend=None, embedder=embedder)


def test_feature_without_negatives_borrows_and_says_so(texts, embedder):
    only_firing = [planted_feature(r, texts) for r in RULES[:2]]
    only_firing = [FeatureRecord(feature_id=r.feature_id, examples=tuple(r.activating())) for r in only_firing]
    res = label_features(only_firing, LabelConfig(scorers=["embedding"], resamples=50), backend=None,
                         embedder=embedder, explanations={r.feature_id: "numbers" for r in only_firing})
    for lab in res.features:
        assert lab.split.negatives == "borrowed" and lab.split.test_negative > 0
        assert any("assumed silent" in w for w in lab.warnings)


@pytest.mark.slow
def test_full_pipeline_with_an_llm_runs_every_scorer_and_control(smol, embedder, texts):
    """SmolLM2 is a useless judge, so this checks plumbing and shapes, not quality."""
    feats = planted_features(texts, RULES[:1], max_examples=24)
    seen = []
    cfg = LabelConfig(scorers=["detection", "fuzzing", "embedding", "simulation"], n_test_positive=3,
                      n_test_negative=3, resamples=100, samples_per_view=1, n_validate=2, n_explain=4,
                      views=["marked", "counts"], abstraction=False, max_candidates=2)
    res = label_features(feats, cfg, backend=smol, embedder=embedder,
                         progress=lambda stage, done, total: seen.append((stage, done, total)))
    assert ("explain", 1, 1) in seen and ("score", 1, 1) in seen
    assert res.features_per_hour > 0 and res.cost.total.judgments > 0
    (lab,) = res.features
    assert lab.explanation, lab.warnings
    assert lab.explanation_source == "explainer"
    assert set(lab.scores) | set(lab.skipped) == set(cfg.scorers)
    for name, rep in lab.scores.items():
        assert rep.ci_low <= rep.score <= rep.ci_high
        assert name in lab.controls.always_no
    sim = lab.scores.get("simulation")
    if sim is not None:
        assert all(0 <= b.prediction <= 9 for b in sim.breakdown)
    det = lab.scores["detection"]
    assert all(0 <= b.prediction <= 1 for b in det.breakdown)
    assert det.n_positive + det.n_negative == len(det.breakdown)


@pytest.mark.slow
def test_default_model_separates_true_rules_from_decoys(qwen, texts):
    """Known answer: on planted features the detection scorer must rank the true rule above a plausible decoy."""
    rules = [r for r in RULES if r.name in ("numbers", "weekdays", "said")]
    feats = planted_features(texts, rules, max_examples=40)
    cfg = LabelConfig(scorers=["detection"], n_test_positive=6, n_test_negative=6, resamples=200, controls=False)
    truth = label_features(feats, cfg, backend=qwen, embedder=None,
                           explanations={f"planted/{r.name}": r.truth for r in rules})
    decoy = label_features(feats, cfg, backend=qwen, embedder=None,
                           explanations={f"planted/{r.name}": r.decoys[1] for r in rules})
    pairs = [(t.scores["detection"].score, d.scores["detection"].score) for t, d in zip(truth.features, decoy.features)]
    assert sum(t > d for t, d in pairs) >= 2, pairs
    assert np.mean([t for t, _ in pairs]) > 0.6, pairs  # measured 0.66 (0.53, 0.78, 0.67)


@pytest.mark.slow
def test_default_model_names_a_planted_rule(qwen, texts):
    rule = next(r for r in RULES if r.name == "weekdays")
    res = label_features([planted_feature(rule, texts, max_examples=40)],
                         LabelConfig(scorers=["detection"], n_test_positive=5, n_test_negative=5, resamples=100,
                                     samples_per_view=1),  # the default views, one reply each: CI time
                         backend=qwen, embedder=None)
    lab = res.features[0]
    assert names_rule(lab.explanation, rule), lab.explanation


@pytest.mark.slow
def test_default_model_labels_a_five_example_feature_by_cross_fitting(qwen, texts):
    """Five firing and five silent examples: an explanation written from all of them and a cross-fitted
    detection score, never an error or an empty label."""
    rule = next(r for r in RULES if r.name == "weekdays")
    full = planted_feature(rule, texts, max_examples=40)
    small = FeatureRecord(feature_id="five", examples=tuple(full.activating()[:5] + full.non_activating()[:5]))
    res = label_features([small], LabelConfig(scorers=["detection"], resamples=200, controls=False, folds=2,
                                              views=["marked", "counts"], samples_per_view=1, abstraction=False,
                                              max_candidates=2),
                         backend=qwen, embedder=None)
    lab = res.features[0]
    assert lab.explanation and lab.split.mode == "crossfit" and len(lab.fold_explanations) == lab.split.folds
    det = lab.scores["detection"]
    assert det.n_positive == 5 and det.n_negative == 5 and det.ci_low <= det.score <= det.ci_high
