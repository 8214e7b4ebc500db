"""The backend contract: what every backend's ``backend-check`` output must satisfy,
and how closely two backends running the same weights must agree."""

from __future__ import annotations

from hypodisc.backends.selfcheck import CONTINUATIONS, GENERATE_PROMPTS, YES_NO_PROMPTS


def assert_contract(report: dict) -> None:
    assert len(report["greedy"]) == len(GENERATE_PROMPTS)
    for texts, n_tokens in zip(report["greedy"], report["greedy_completion_tokens"]):
        assert len(texts) == 1 and texts[0].strip(), texts
        assert 0 < n_tokens <= 24
    assert len(report["sampled"]) == 3 and all(isinstance(t, str) for t in report["sampled"])
    assert "\n" not in report["stopped"]
    assert len(report["yes_no"]) == len(YES_NO_PROMPTS)
    assert all(0.0 <= p <= 1.0 for p in report["yes_no"])
    assert len(report["continuations"]) == len(CONTINUATIONS)
    for cont, text in zip(report["continuations"], CONTINUATIONS):
        assert "".join(cont["tokens"]) == text
        assert len(cont["logprobs"]) == len(cont["tokens"])
        assert all(lp <= 1e-6 for lp in cont["logprobs"])
    assert report["usage"]["yes_no_judgments"] == len(YES_NO_PROMPTS)
    assert report["usage"]["prompt_tokens"] > 0


def assert_agree(a: dict, b: dict, p_tol: float, lp_tol: float) -> None:
    """Same weights (GGUF Q4_1 vs its dequantized HF copy) -> close numbers, not identical ones."""
    for pa, pb in zip(a["yes_no"], b["yes_no"]):
        assert abs(pa - pb) <= p_tol, (a["yes_no"], b["yes_no"])
    for ca, cb in zip(a["continuations"], b["continuations"]):
        assert abs(sum(ca["logprobs"]) - sum(cb["logprobs"])) <= lp_tol, (ca, cb)
