"""The abstraction pass: the class that topical candidates are instances of, verified beside them."""

from __future__ import annotations

import pytest

from hypodisc.backends.scripted import ScriptedBackend
from hypodisc.proposers.abstraction import EXAMPLE_ANSWER, abstract_candidates
from hypodisc.verifiers.embedding import HashingEmbedder
from hypodisc.workflows import DiffConfig, run_diff
from hypodisc.workflows.diff_models import DiffStage
from test_scripted_lane import REPLIES, corpora, judge_rule


def _recording(replies):
    prompts: list[str] = []

    def reply(prompt, k):
        prompts.append(prompt)
        return replies[k % len(replies)]
    return ScriptedBackend(judge=lambda p: 0.5, reply=reply), prompts


@pytest.mark.fast
def test_only_content_candidates_are_shown_and_only_new_classes_come_back():
    backend, prompts = _recording(["Property: is about art", f"Property: {EXAMPLE_ANSWER}",
                                   "Property: is about a singer", ""])
    cands = ["is about a singer", "is about a poet", 'uses the word "I"', "asks a question"]
    got = abstract_candidates(backend, cands, ["whole", "whole", "lexical", "sentences"], samples=4)
    assert got == ["is about art"]  # the worked example's answer, a known candidate and an empty reply are dropped
    user = prompts[0].split("user:")[-1]
    assert "- is about a singer" in user and "- is about a poet" in user
    assert "uses the word" not in user and "asks a question" not in user


@pytest.mark.fast
def test_fewer_than_two_content_candidates_need_no_prompt():
    backend, prompts = _recording(["Property: is about art"])
    assert abstract_candidates(backend, ["is about a singer", "asks a question"], ["whole", "sentences"]) == []
    assert prompts == []


def _lane_backend(abstraction_reply: str):
    prompts: list[str] = []

    def reply(prompt, k):
        prompts.append(prompt)
        return abstraction_reply if "broader class" in prompt else REPLIES[k % len(REPLIES)]
    return ScriptedBackend(judge=judge_rule, reply=reply), prompts


@pytest.mark.fast
def test_a_diff_job_verifies_the_abstraction_beside_the_candidates_it_came_from():
    a, b = corpora()
    backend, prompts = _lane_backend("Property: mentions a sports match")
    seen: list[str] = []
    res = run_diff(a, b, None, DiffConfig(abstraction=True), backend=backend, embedder=HashingEmbedder(),
                   progress=lambda stage, done, total: seen.append(stage))
    fates = {c.hypothesis: c for c in res.candidates}
    assert fates["mentions a sports match"].source == "abstraction"
    assert fates["mentions a sports match"].stage_reached != "proposed"  # it competed for the whole route's place
    top = {h.hypothesis: h for h in res.hypotheses}
    assert top["mentions a sports match"].significant and top["mentions football"].significant
    assert DiffStage.ABSTRACT in seen and "abstract" in [s.stage for s in res.cost.stages]
    # off by default: no prompt asks for a class
    backend, prompts = _lane_backend("Property: mentions a sports match")
    res = run_diff(a, b, None, DiffConfig(), backend=backend, embedder=HashingEmbedder())
    assert not any("broader class" in p for p in prompts)
    assert "mentions a sports match" not in {c.hypothesis for c in res.candidates}


@pytest.mark.slow
def test_default_model_names_the_class_of_specific_candidates(qwen):
    cands = ["is about a singer", "is about a poet", "is about a painter", "is about a sculptor",
             "is about a composer"]
    got = abstract_candidates(qwen, cands, ["whole"] * len(cands))
    assert got and any("art" in h or "creative" in h for h in got), got
