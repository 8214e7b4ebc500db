"""The fast lane: the diff workflow, its statistics, checkpoints and the HTTP service, driven by the
scripted backend and the hashing embedder (real implementations with rule-made answers; no model).

The rules: the judge says yes (0.9) when a content word of the property occurs in the text, else
no (0.1); the proposer's k-th sample is the k-th of three fixed replies. Corpus A talks football,
B cooking, so "mentions football" is the one true difference of topic (and the words of the sentence every
A text ends with, which the literal-word candidate names).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from hypodisc.backends.scripted import ScriptedBackend
from hypodisc.client import ServiceError
from hypodisc.config import Settings
from hypodisc.service.settings import ServiceSettings
from hypodisc.service.job_store import JobStore
from hypodisc.verifiers.embedding import HashingEmbedder
from hypodisc.workflows.contract import Checkpoints
from hypodisc.workflows.diff import run_diff, run_null_check
from hypodisc.workflows.diff_models import DiffConfig, DiffRequest, DiffResult, DiffStage
from hypodisc.workflows.engines import Engines
from hypodisc.workflows.registry import WORKFLOWS
from workflow_checks import serve

pytestmark = pytest.mark.fast

REPLIES = ["Property: mentions football", "Property: mentions a recipe", "Property: is about the weather"]
FILLER = ["people", "said", "today", "week", "city", "again", "later", "morning"]


def _text(rng, topic: list[str]) -> str:
    return " ".join(rng.choice(topic + FILLER, 10)) + "."


def corpora(n: int = 30, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    football = ["football", "goal", "striker", "match", "league"]
    cooking = ["recipe", "oven", "flour", "dinner", "sauce"]
    a = [_text(rng, football) + " The football match ended late." for _ in range(n)]
    b = [_text(rng, cooking) + " The recipe needs an hour." for _ in range(n)]
    return a, b


def judge_rule(prompt: str) -> float:
    text = re.search(r"<<<\n(.*?)\n>>>", prompt, re.S).group(1).lower()
    prop = re.findall(r"Property: (.*)", prompt)[-1].lower()
    words = [w for w in re.findall(r"[a-z]+", prop) if len(w) > 3 and w not in ("mentions", "about")]
    return 0.9 if any(w in text for w in words) else 0.1


def scripted(replies=REPLIES) -> ScriptedBackend:
    return ScriptedBackend(judge=judge_rule, reply=lambda prompt, k: replies[k % len(replies)])


def test_diff_finds_the_planted_difference_and_only_it():
    a, b = corpora()
    seen: list[str] = []
    res = run_diff(a, b, None, DiffConfig(), backend=scripted(), embedder=HashingEmbedder(),
                   progress=lambda stage, done, total: seen.append(stage))
    top = res.hypotheses[0]
    assert top.hypothesis == "mentions football" and top.significant and top.q_value < 1e-3
    assert top.validity == pytest.approx(0.8) and top.auroc == 1.0
    # every A text also ends "The football match ended late.": the literal word is a true difference too
    literal = [c.hypothesis for c in res.candidates if c.source == "lexical"]
    assert [h.hypothesis for h in res.hypotheses if h.significant and h.hypothesis not in literal] == [
        "mentions football"]
    assert {c.hypothesis for c in res.candidates if c.source != "lexical"} == {
        "mentions football", "mentions a recipe", "is about the weather"}
    assert {c.source for c in res.candidates} <= {"whole", "sentences", "words", "lexical"}
    assert set(seen) <= {s.value for s in DiffStage} and DiffStage.CONFIRM in seen
    assert res.cost.total.judgments == len(res.hypotheses) * (res.splits.confirm_a + res.splits.confirm_b)
    assert res.workflow == "diff" and res.backend == "scripted"


def test_aa_control_reports_nothing_significant():
    a, _ = corpora(40)
    for seed in range(10):
        res = run_null_check(a, DiffConfig(seed=seed), backend=scripted(), embedder=HashingEmbedder())
        assert not any(h.significant for h in res.hypotheses), (seed, res.hypotheses)


def test_a_resumed_job_reuses_the_checkpointed_proposals():
    a, b = corpora()
    wf = WORKFLOWS["diff"]
    request = DiffRequest(a=a, b=b)
    first = Checkpoints()
    done = wf.run(request, Engines(Settings(), llm=scripted(), embedder=HashingEmbedder()), checkpoints=first)
    assert first.saved["propose"]["candidates"]

    def no_generation(prompt, k):
        raise AssertionError("the proposer ran again")

    again = wf.run(request, Engines(Settings(), llm=ScriptedBackend(judge_rule, no_generation),
                                    embedder=HashingEmbedder()), checkpoints=Checkpoints(first.saved))
    assert [h.hypothesis for h in again.hypotheses] == [h.hypothesis for h in done.hypotheses]
    assert any("resumed" in w for w in again.warnings)


@pytest.fixture()
def service(tmp_path):
    """A real uvicorn server in this process, over SQLite, with the scripted engines."""
    store = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    engines = Engines(Settings(home=tmp_path), llm=scripted(), embedder=HashingEmbedder())
    with serve(engines, store, tmp_path, lease_s=ServiceSettings().lease_s) as (client, _):
        yield client
    store.close()


def test_service_runs_a_diff_job_and_returns_the_typed_result(service):
    a, b = corpora()
    job = service.submit_diff(a, b)
    result = service.wait(job.id, timeout=60, poll_s=0.1)
    assert isinstance(result, DiffResult) and result.hypotheses[0].hypothesis == "mentions football"
    info = service.job(job.id)
    assert info.status == "succeeded" and info.progress == 1.0 and info.workflow == "diff"
    events = list(service.events(job.id))
    assert events and events[-1].status == "succeeded"


def test_service_rejects_bad_input_with_a_code_and_keeps_earlier_jobs(service):
    a, b = corpora()
    good = service.submit("diff", DiffRequest(a=a, b=b))
    service.wait(good.id, timeout=60, poll_s=0.1)
    with pytest.raises(ServiceError) as small:
        service.submit_diff(a, ["one", " ", ""])
    assert small.value.status == 422 and small.value.code == "corpus_too_small"
    with pytest.raises(ServiceError) as unknown:
        service.submit_diff(a, b, config={"top_k": 0})
    assert unknown.value.status == 422 and unknown.value.code == "invalid_request"
    assert service.job(good.id).status == "succeeded"
    assert service.result(good.id).hypotheses[0].hypothesis == "mentions football"


def test_a_tiny_difference_is_not_called_significant_however_small_its_q():
    a, b = corpora()

    def judge(prompt: str) -> float:  # 0.51 on A, 0.49 on B, a little jitter: V = +0.02 with a tiny p
        text = re.search(r"<<<\n(.*?)\n>>>", prompt, re.S).group(1)
        return (0.51 if "football" in text else 0.49) + 0.001 * (len(text) % 7)

    def run(**cfg):
        return run_diff(a, b, None, DiffConfig(verifier="exhaustive", **cfg), backend=ScriptedBackend(judge),
                        embedder=HashingEmbedder(), candidates=["mentions the weekend"]).hypotheses[0]

    tiny = run()
    assert tiny.validity == pytest.approx(0.02, abs=0.005) and tiny.q_value < 1e-3 and not tiny.significant
    assert run(min_validity=0.0).significant
