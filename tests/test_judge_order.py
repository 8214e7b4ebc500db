"""The text-first judge: every cell lands where it belongs, and a text's prefix is computed once."""

import numpy as np

from hypodisc.verifiers.llm_judge import LLMJudge, judge_prompt

HYPS = ["mentions an animal.", "is about money.", "asks a question.", "mentions a city."]
TEXTS = ["The dog slept by the fire all winter while the snow fell outside the old farmhouse.",
         "Shares of the bank fell four percent after it reported lower quarterly profits than expected.",
         "Have you ever wondered why the sky in Paris looks so grey in the middle of November?",
         "A new museum of modern art opened downtown, drawing large crowds on its first weekend."]


def test_text_first_scores_match_one_prompt_at_a_time(smol):
    judge = LLMJudge(smol, order="text_first", batch_size=3)  # 3 // 4 hypotheses -> one text per batch
    matrix = judge.score(HYPS, TEXTS)
    assert matrix.shape == (len(HYPS), len(TEXTS))
    single = np.array([[smol.yes_no_probs([judge_prompt(h, t, "text_first")])[0] for t in TEXTS] for h in HYPS])
    # A text's judgments are decoded side by side in one batch; llama.cpp's sums then run in another order,
    # and SmolLM2 (Q4_1, 135M) moves by up to ~0.06 on that alone. A misplaced cell would move by far more
    # on some of these 16 cells, so the check is on the largest gap and on the cells' order.
    np.testing.assert_allclose(matrix, single, atol=0.1)
    assert np.corrcoef(matrix.ravel(), single.ravel())[0, 1] > 0.9


def _tokens_decoded(backend, orders) -> dict[str, int]:
    """Prompt tokens the backend decodes to judge HYPS x TEXTS in each order, one order after the other."""
    used = {}
    for order in orders:
        before = backend.usage.snapshot()
        LLMJudge(backend, order=order).score(HYPS, TEXTS)
        used[order] = (backend.usage - before).prompt_tokens
    return used


def test_text_first_decodes_fewer_prompt_tokens_than_property_first(smol):
    used = _tokens_decoded(smol, ("text_first", "property_first"))
    # Each text's ~25 tokens are decoded once instead of once per hypothesis.
    assert used["text_first"] < 0.8 * used["property_first"], used


def test_prompt_orders_hold_the_same_parts():
    a, b = judge_prompt("is about money.", "TEXT", "text_first"), judge_prompt("is about money.", "TEXT", "property_first")
    assert a[0] == b[0]
    ua, ub = a[1]["content"], b[1]["content"]
    assert ua.index("TEXT") < ua.index("Property:") and ub.index("Property:") < ub.index("TEXT")
    assert sorted(ua.split()) == sorted(ub.split())


def test_question_first_leaves_only_the_property_after_the_text(smol):
    chat = judge_prompt("is about money.", "TEXT", "question_first")
    user = chat[1]["content"]
    assert user.index("Yes or No") < user.index("TEXT") < user.index("Property:")
    assert user.endswith("Property: is about money.")
    # after the text's shared prefix only the property and the turn markers are left to decode
    used = _tokens_decoded(smol, ("question_first", "text_first"))
    assert used["question_first"] < 0.8 * used["text_first"], used
