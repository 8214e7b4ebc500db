"""bench/label_recovery.py: the labelled match pairs are well-formed, the threshold maths is right, the
calibrated embedding judge separates clear cases, and the 0.5B LLM judge ranks a clear match above a
narrower near miss.

The LLM judge is Qwen2.5-Coder-0.5B (not the 1.5B explainer); `make test` does not install it, so its
test skips, saying how to install it, where it is missing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import label_recovery as lr  # noqa: E402

#: (gold, explanation) from the pairs file: matches and non-matches no reasonable judge should confuse
#: (regression checks on clear cases; the judges' accuracy is the calibration's business)
CLEAR_MATCHES = [
    ("hair colours", "terms for the colour of someone's hair"),
    ("spices", "spices used to season food"),
    ("fabrics", "textiles and types of cloth"),
    ("has a topic of chess.", "is about the game of chess"),
]
CLEAR_NONMATCHES = [
    ("kitchen utensils", "words related to food and eating"),
    ("fabrics", "common words"),
    ("is about medical research.", "mentions a statistic"),
    ("has a topic of chess.", "is formal in tone"),
]
#: (gold, clear match, narrower near miss: one example word or a small part of the concept)
NARROWER = [
    ("kitchen utensils", "words for kitchen tools like spoon, whisk and ladle", "the word 'spoon'"),
    ("has a topic of chess.", "discusses chess games, openings or grandmasters", "mentions a knight"),
    ("is about astronomy.", "discusses stars, galaxies and telescopes", "mentions the Moon"),
]


@pytest.fixture(scope="module")
def pairs():
    return lr.load_pairs()


def _label(pairs, gold, explanation):
    hits = [p["match"] for p in pairs if p["gold"] == gold and p["explanation"] == explanation]
    assert len(hits) == 1, (gold, explanation)
    return hits[0]


@pytest.mark.fast
def test_pairs_file_is_well_formed(pairs):
    assert len(pairs) >= 80
    labels = [p["match"] for p in pairs]
    assert set(labels) == {0, 1}
    assert 0.35 <= sum(labels) / len(labels) <= 0.65, "about half should match"
    keys = [(p["gold"].strip().lower(), p["explanation"].strip().lower()) for p in pairs]
    assert len(keys) == len(set(keys)), "duplicate pairs"
    for p in pairs:
        assert p["gold"].strip() and p["explanation"].strip() and p.get("why", "").strip(), p
        assert p["gold"].strip().lower() != p["explanation"].strip().lower(), p
    # the worked turns of the LLM judge use concepts the pairs do not
    assert not {g for g, _, _ in lr.SHOTS} & {p["gold"] for p in pairs}
    for gold, expl in CLEAR_MATCHES:
        assert _label(pairs, gold, expl) == 1
    for gold, expl in CLEAR_NONMATCHES:
        assert _label(pairs, gold, expl) == 0
    for gold, yes, no in NARROWER:
        assert (_label(pairs, gold, yes), _label(pairs, gold, no)) == (1, 0)


@pytest.mark.fast
def test_threshold_maths():
    scores, labels = [0.1, 0.2, 0.35, 0.4, 0.6, 0.7, 0.9], [0, 0, 0, 1, 1, 0, 1]
    t, bacc = lr.best_threshold(scores, labels)
    assert 0.35 < t <= 0.4 and bacc == pytest.approx((1 + 3 / 4) / 2)
    assert lr.confusion(scores, labels, t) == {"tp": 3, "fp": 1, "tn": 3, "fn": 0}
    assert lr.auroc([0.9, 0.1], [1, 0]) == 1.0 and lr.auroc([0.5, 0.5], [1, 0]) == 0.5
    # perfectly separable: cross-validation keeps every prediction right
    cv = lr.cross_validated([0.1, 0.2, 0.3, 0.7, 0.8, 0.9], [0, 0, 0, 1, 1, 1], groups=list("aabbcc"))
    assert cv["balanced_accuracy"] == 1.0 and cv["folds"] == 3
    assert lr.match_both({"emb_match": True, "llm_match": True})
    assert not lr.match_both({"emb_match": True, "llm_match": None})


def test_calibrated_embedding_threshold_separates_clear_cases(embedder, pairs):
    judge = lr.EmbeddingJudge(embedder)
    report = judge.calibrate(pairs)
    assert 0.3 < judge.threshold < 0.9
    assert report["balanced_accuracy"] > 0.7 and report["cv_leave_one_gold_out"]["balanced_accuracy"] > 0.65
    for gold, expl in CLEAR_MATCHES:
        [row] = lr.judge(gold, [expl], emb_judge=judge)
        assert row["emb_match"] and row["emb"] >= judge.threshold, (gold, expl, row)
        assert row["llm"] is None and not lr.match_both(row)
    for gold, expl in CLEAR_NONMATCHES:
        [row] = lr.judge(gold, [expl], emb_judge=judge)
        assert not row["emb_match"], (gold, expl, row)


@pytest.fixture(scope="module")
def judge_05b(store):
    from hypodisc.backends.llamacpp import LlamaCppBackend
    from hypodisc.errors import ModelNotInstalledError

    try:
        path = store.resolve(lr.JUDGE_MODEL)
    except ModelNotInstalledError:
        pytest.skip(f"{lr.JUDGE_MODEL} is not installed: run `hypodisc models install {lr.JUDGE_MODEL}`")
    backend = LlamaCppBackend(path, n_ctx=2048, model_name=lr.JUDGE_MODEL)
    yield lr.LLMJudge(backend)
    backend.close()


@pytest.mark.slow
def test_llm_judge_prefers_the_concept_to_a_narrower_near_miss(judge_05b, embedder):
    assert judge_05b.backend.model != lr.EXPLAINER_MODEL
    for gold, yes, no in NARROWER:
        p_yes, p_no = judge_05b.scores(gold, [yes, no])
        assert 0.0 <= p_no < p_yes <= 1.0, (gold, yes, p_yes, no, p_no)
    rows = lr.judge("has a topic of chess.", ["is about the game of chess", "is formal in tone"],
                    emb_judge=lr.EmbeddingJudge(embedder, 0.6), llm_judge=judge_05b)
    assert all(set(r) == {"emb", "emb_match", "llm", "llm_match"} for r in rows)
    assert rows[0]["llm"] > rows[1]["llm"]
