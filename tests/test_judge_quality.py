"""The embedded default separates clearly true from clearly false properties (issue 2's bar: AUROC >= 0.9)."""

import json
from pathlib import Path

import pytest
from sklearn.metrics import roc_auc_score

from hypodisc.verifiers import LLMJudge

ITEMS = [json.loads(line) for line in (Path(__file__).parent / "data" / "yes_no_items.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_default_model_judge_auroc(qwen):
    assert len(ITEMS) >= 20 and {i["label"] for i in ITEMS} == {0, 1}
    judge = LLMJudge(qwen)
    probs = [float(judge.score([i["property"]], [i["text"]])[0, 0]) for i in ITEMS]
    labels = [i["label"] for i in ITEMS]
    auroc = roc_auc_score(labels, probs)
    mean_true = sum(p for p, y in zip(probs, labels) if y) / sum(labels)
    mean_false = sum(p for p, y in zip(probs, labels) if not y) / (len(labels) - sum(labels))
    print(f"AUROC on {len(ITEMS)} items: {auroc:.3f}; mean P(yes) true {mean_true:.2f}, false {mean_false:.2f}")
    assert auroc >= 0.9
