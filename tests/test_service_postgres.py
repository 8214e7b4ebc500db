"""The whole service on a real PostgreSQL: a job submitted, run and read back, and a restart."""

from __future__ import annotations

import pytest

from hypodisc.client import Client
from hypodisc.datasets import demo_pair
from pg_harness import postgres_server, postgres_url  # noqa: F401  (session fixtures)
from service_harness import Server, create_key

A, B = demo_pair()
HYPS = ["is about technology", "is about business", "mentions a company"]


@pytest.mark.slow
def test_jobs_run_and_survive_a_restart_on_postgres(postgres_url, tmp_path):  # noqa: F811
    srv = Server(postgres_url, tmp_path / "serve.log", auth=True).start()
    try:
        key = create_key(postgres_url, "pg")
        with Client(srv.url, api_key=key) as c:
            job = c.submit_diff(A[:12], B[:12], hypotheses=HYPS, config={"verifier": "embedding"})
            first = c.wait(job.id, timeout=180, poll_s=0.2)
            assert {h.hypothesis for h in first.hypotheses} == set(HYPS)
        srv.kill()
        srv.start()
        with Client(srv.url, api_key=key) as c:
            assert c.result(job.id) == first
            assert c.job(job.id).status == "succeeded"
            assert job.id in {j.id for j in c.jobs().jobs}
    finally:
        srv.stop()
