"""The multi-view explainer, candidate choice on the validation pool, and cross-fitting, on the scripted backend."""

from __future__ import annotations

import re

import pytest

from hypodisc.backends.scripted import ScriptedBackend
from hypodisc.datasets import demo_pair
from hypodisc.datasets.feature_records import ActivationExample, FeatureRecord
from hypodisc.datasets.planted_features import RULES, planted_feature
from hypodisc.proposers.feature_evidence import near_misses, token_counts
from hypodisc.proposers.feature_explainer import ExplainerInput, FeatureExplainer, clean_explanation, view_prompts
from hypodisc.workflows.feature_splits import plan_feature
from hypodisc.workflows.label_features import label_features
from hypodisc.workflows.label_models import LabelConfig

pytestmark = pytest.mark.fast
NUMBERS = RULES[0]


@pytest.fixture(scope="module")
def texts():
    a, b = demo_pair()
    return a + b


@pytest.mark.parametrize("reply,expected", [
    ("Explanation: The feature responds to numbers written as digits.", "numbers written as digits"),
    ("The marked tokens are colours.\nExplanation: words for colours", "words for colours"),
    ('Explanation: the word "like" introducing a comparison', 'the word "like" introducing a comparison'),
    # over 15 words: cut, and no dangling preposition at the end
    ("Explanation: names of animals such as dogs, cats, horses and birds that appear in stories about farms "
     "and the countryside of England", "names of animals such as dogs, cats, horses and birds"),
    ("Explanation: words", None),                      # generic non-answers are no candidates
    ("Explanation: names of geometric shapes", None),  # the prompt's own worked example
    ("", None),
])
def test_clean_explanation(reply, expected):
    assert clean_explanation(reply) == expected


def _ex(words: str, marked: set[int]) -> ActivationExample:
    toks = tuple((" " if i else "") + w for i, w in enumerate(words.split()))
    return ActivationExample(tokens=toks, activations=tuple(1.0 if i in marked else 0.0 for i in range(len(toks))))


def test_counts_view_counts_marked_tokens_and_neighbours_once_per_example():
    exs = [_ex("a cup of tea", {3}), _ex("a pot of tea and tea", {3, 5}), _ex("two cups of coffee", {3})]
    c = token_counts(exs, 0.0)
    assert c.marked[:2] == [("tea", 2), ("coffee", 1)]
    assert ("of", 3) in c.before and c.after == [("and", 1)]
    prompt = dict(view_prompts(ExplainerInput("token", 0.0, 1.0, exs), ["counts"]))["counts"][1]["content"]
    assert "'tea' (2)" in prompt and "right before a marked token: 'of' (3)" in prompt


def test_near_misses_are_the_silent_examples_most_like_the_firing_ones():
    firing = [_ex("the red car stopped", {1}), _ex("a red door opened", {1})]
    silent = [_ex("stock prices fell sharply today", set()), _ex("the blue car stopped", set()),
              _ex("a green door opened", set())]
    got = near_misses(firing, silent, 2)
    assert {e.text for e in got} == {"the blue car stopped", "a green door opened"}
    assert near_misses(firing, [], 2) == [] and near_misses([], silent, 2) == []


def test_views_share_one_prefix_and_skip_what_they_cannot_show():
    exs = [_ex("a cup of tea", {3}), _ex("a pot of tea", {3})]
    prompts = view_prompts(ExplainerInput("token", 0.0, 1.0, exs), ["marked", "counts", "contrast", "logits"])
    assert [v for v, _ in prompts] == ["marked", "counts"]  # no silent examples, no logits
    first, second = (p[1]["content"] for _, p in prompts)
    shared = first.split("\n\n")[0]
    assert second.startswith(shared) and "Example 2" in shared


def test_plan_cross_fits_small_features_and_every_example_is_tested_once(texts):
    small = FeatureRecord(feature_id="small", examples=planted_feature(NUMBERS, texts).activating()[:5]
                          + planted_feature(NUMBERS, texts).non_activating()[:4])
    plan = plan_feature(small, mode="auto", min_split_active=15, folds=3)
    assert plan.mode == "crossfit" and len(plan.folds) == 3
    tested = [e.text for f in plan.folds for e in f.test]
    assert sorted(tested) == sorted(e.text for e in plan.examples)  # each example in exactly one test fold
    for f in plan.folds:
        assert not {e.text for e in f.explain} & {e.text for e in f.test}
        assert any(e.max_activation > 0 for e in f.test)  # five firing examples over three folds
    assert len(plan.final.explain) == len(plan.examples) and plan.final.test == ()
    big = planted_feature(NUMBERS, texts, max_examples=60)
    assert plan_feature(big, mode="auto").mode == "split"
    assert plan_feature(small, mode="split").mode == "split"


def _between(prompt: str) -> str:
    return re.search(r"<<<\n(.*?)\n>>>", prompt, re.S).group(1)


def _scripted(log: list):
    """Judge: yes for texts with a planted number when the explanation says numbers; candidates from fixed
    replies."""
    def judge(prompt: str) -> float:
        text, expl = _between(prompt), prompt.rsplit("Explanation of the feature:", 1)[1]
        log.append((text, expl.strip()))
        return 0.9 if ("number" in expl and any(NUMBERS.fires(w) for w in text.split())) else 0.1

    def reply(prompt: str, k: int) -> str:
        if "guesses" in prompt:
            return "Explanation: numbers in news reports"
        return ["Explanation: the word 'million'", "Explanation: numbers and digits"][k % 2]
    return ScriptedBackend(judge, reply)


def test_candidates_are_chosen_on_validation_and_scored_on_test_only(texts):
    rec = planted_feature(NUMBERS, texts, max_examples=60)
    plan = plan_feature(rec)
    log, phase = [], {}
    backend = _scripted(log)
    cfg = LabelConfig(scorers=["detection"], resamples=50, controls=False)
    res = label_features([rec], cfg, backend=backend,
                         progress=lambda stage, done, total: phase.setdefault(stage, len(log)))
    lab = res.features[0]
    assert [c.source for c in lab.candidates][0] == "abstraction"
    assert {c.text for c in lab.candidates} == {"numbers in news reports", "the word 'million'", "numbers and digits"}
    million = next(c for c in lab.candidates if c.text == "the word 'million'")
    assert million.validation["detection"] < max(c.validation["detection"] for c in lab.candidates)
    assert lab.explanation != "the word 'million'" and sum(c.chosen for c in lab.candidates) == 1
    clip = lambda t: " ".join(t.split())  # noqa: E731
    validate, test = ({clip(e.text) for e in getattr(plan.folds[0], pool)} for pool in ("validate", "test"))
    chosen_on = {clip(t) for t, _ in log[: phase["explain"]]}
    scored_on = {clip(t) for t, _ in log[phase["explain"]:]}
    assert chosen_on and chosen_on <= validate
    assert scored_on and scored_on <= test
    assert lab.shown and all(any(s.fired) for s in lab.shown)
    assert {" ".join("".join(s.tokens).split()) for s in lab.shown} <= {clip(e.text) for e in plan.folds[0].explain}


def test_a_feature_with_five_examples_gets_an_explanation_and_a_cross_fitted_score(texts):
    full = planted_feature(NUMBERS, texts)
    small = FeatureRecord(feature_id="five", examples=full.activating()[:5] + full.non_activating()[:5])
    res = label_features([small], LabelConfig(scorers=["detection"], resamples=100, controls=False),
                         backend=_scripted([]))
    lab = res.features[0]
    assert lab.explanation and lab.split.mode == "crossfit" and lab.split.folds == 3
    assert len(lab.fold_explanations) == 3 and all(lab.fold_explanations)
    det = lab.scores["detection"]
    assert det.n_positive == 5 and det.n_negative == 5 and det.ci_low <= det.score <= det.ci_high
    assert det.score == 1.0  # the scripted judge separates numbers perfectly under "numbers ..."
    assert any("cross-fitted" in w for w in lab.warnings)


def test_explainer_asks_every_view_with_samples_then_abstracts(texts):
    rec = planted_feature(NUMBERS, texts)
    seen = []
    backend = ScriptedBackend(lambda p: 0.5, lambda p, k: (seen.append(p), f"Explanation: guess {len(seen)}")[1])
    inp = ExplainerInput("token", 0.0, 1.0, rec.activating()[:6], rec.non_activating()[:6])
    cands = FeatureExplainer(backend).explain([inp], views=["marked", "counts", "contrast"], samples=2,
                                              abstraction=True)[0]
    assert len(seen) == 3 * 2 + 2
    assert [c.source for c in cands] == ["abstraction", "marked", "counts", "contrast"] * 2  # one of each in turn
    assert all("guess 1" in p or "- guess 1" not in p for p in seen)
    assert "- guess 1" in seen[-1]  # the abstraction prompt lists the views' candidates


def test_literal_candidates_read_a_dominant_neighbour_or_token_off_the_counts():
    from hypodisc.proposers.feature_evidence import literal_candidates

    after_of = [_ex("a cup of tea", {3}), _ex("the smell of Coffee", {3}), _ex("a pot of milk", {3})]
    assert literal_candidates(token_counts(after_of, 0.0)) == ['the word right after "of"']
    # a class of different words, each after a different word: nothing literal
    colours = [_ex("a red car", {1}), _ex("the sky is blue", {3}), _ex("green leaves fell", {0})]
    assert literal_candidates(token_counts(colours, 0.0)) == []
    one_word = [_ex("I said no", {1}), _ex("she said so", {1}), _ex("they said it", {1}), _ex("he told us", {1})]
    assert 'the word "said"' in literal_candidates(token_counts(one_word, 0.0))


@pytest.mark.parametrize("reply", ['Explanation: The firing examples have "protected" and "pelican" as nouns',
                                   "Explanation: the activation levels of the marked tokens"])
def test_answers_about_the_prompt_are_no_candidates(reply):
    assert clean_explanation(reply) is None


def test_a_result_without_controls_is_strict_json(texts):
    """Controls off: no always-no mean to report, and no NaN that would break the HTTP result (a 500)."""
    import json

    res = label_features([planted_feature(NUMBERS, texts)], LabelConfig(scorers=["detection"], resamples=20,
                                                                         controls=False), backend=_scripted([]))
    assert res.summary["detection"].mean_always_no is None

    def no_constant(name):
        raise AssertionError(f"{name} in the result")
    json.loads(res.model_dump_json(), parse_constant=no_constant)
