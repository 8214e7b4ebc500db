"""The label-features job on a real `hypodisc serve` (uvicorn, SQLite, SmolLM2, MiniLM), through the client."""

from __future__ import annotations

import httpx
import pytest

from hypodisc.client import Client, ServiceError
from hypodisc.datasets import demo_pair
from hypodisc.datasets.planted_features import RULES, planted_features, planted_topic_feature
from hypodisc.workflows.label_models import LabelResult
from service_harness import Server, create_key

TECH, BUSINESS = demo_pair()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("svc-labels")
    db = f"sqlite:///{tmp / 'service.db'}"
    srv = Server(db, tmp / "serve.log", auth=True, env={"HYPODISC_SERVICE_MAX_FEATURES_PER_JOB": "5"}).start()
    srv.key = create_key(db, "alice")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server):
    with Client(server.url, api_key=server.key) as c:
        yield c


def test_label_job_scores_given_explanations_with_progress_per_feature(client):
    feats = [planted_topic_feature("topic/tech", TECH, BUSINESS), planted_topic_feature("topic/biz", BUSINESS, TECH)]
    job = client.submit_label_features(feats, config={"scorers": ["embedding"], "resamples": 100},
                                       explanations={"topic/tech": "technology news", "topic/biz": "business news"})
    assert job.workflow == "label-features" and job.links["result"].endswith("/result")
    seen = []
    result = client.wait(job.id, progress=seen.append, timeout=300, poll_s=0.1)
    assert isinstance(result, LabelResult)
    assert [f.feature_id for f in result.features] == ["topic/tech", "topic/biz"]
    assert all(f.explanation_source == "given" for f in result.features)
    assert result.features[0].scores["embedding"].score > 0.5
    assert result.features[0].controls.borrowed.explanation == "business news"
    assert seen[-1].status == "succeeded" and seen[-1].progress == 1.0


@pytest.mark.slow
def test_label_job_explains_with_the_llm(client):
    feats = planted_features(TECH + BUSINESS, RULES[:1], max_examples=24)
    job = client.submit_label_features(feats, config={"scorers": ["detection"], "n_test_positive": 3,
                                                      "n_test_negative": 3, "resamples": 50,
                                                      # one view, one sample: the service path, not the explainer
                                                      "views": ["marked"], "samples_per_view": 1,
                                                      "abstraction": False, "max_candidates": 1})
    result = client.wait(job.id, timeout=600, poll_s=0.5)
    lab = result.features[0]
    assert lab.explanation_source in ("explainer", "none")
    assert result.model == "smollm2-135m" and result.cost.total.llm_calls > 0
    if lab.explanation:
        assert "detection" in lab.scores or "detection" in lab.skipped


@pytest.mark.parametrize("body,status,code", [
    ({"features": []}, 422, "no_features"),
    ({"features": [{"feature_id": "a", "examples": [{"tokens": ["x"], "activations": [1.0]}]}] * 2}, 422,
     "duplicate_feature_id"),
    ({"features": [{"feature_id": str(i), "examples": [{"tokens": ["x"], "activations": [1.0]}]} for i in range(6)]},
     413, "too_many_features"),
    ({"features": [{"feature_id": "a", "examples": [{"tokens": ["x", "y"], "activations": [1.0]}]}]}, 422,
     "invalid_request"),
    ({"features": [{"feature_id": "a", "examples": [{"tokens": ["x"], "activations": [1.0]}]}],
      "config": {"scorers": ["telepathy"]}}, 422, "invalid_request"),
])
def test_bad_label_requests_are_refused_with_a_code(server, body, status, code):
    resp = httpx.post(f"{server.url}/v1/jobs/label-features", json=body, headers={"X-API-Key": server.key})
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["code"] == code


def test_a_refused_request_stores_nothing(client):
    before = client.jobs().total
    with pytest.raises(ServiceError):
        client.submit_label_features([])
    assert client.jobs().total == before
