"""Crash safety: SIGKILL the server mid-job, start it again on the same database.

A running job must end resumed (or failed with its reason), queued jobs must still run,
and everything already stored (finished results, keys) must be unchanged.
"""

from __future__ import annotations

import time

import pytest

from hypodisc.client import Client
from hypodisc.datasets import demo_pair
from service_harness import Server, create_key

A, B = demo_pair()
HYPS = ["is about technology", "is about business", "mentions a company", "mentions a price"]
LONG = {"verifier": "exhaustive"}  # SmolLM2 judges every hypothesis on every held-out text: tens of seconds
FAST = {"verifier": "embedding"}


def _until(pred, timeout=120, every=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (value := pred()):
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met in {timeout} s")


def _crash_mid_job(tmp_path, env):
    db = f"sqlite:///{tmp_path / 'service.db'}"
    srv = Server(db, tmp_path / "serve.log", auth=True, env=env)
    srv.start()
    try:
        key = create_key(db)
        with Client(srv.url, api_key=key) as c:
            done = c.submit_diff(A[:10], B[:10], hypotheses=HYPS, config=FAST)
            before = c.wait(done.id, timeout=120, poll_s=0.2)
            long = c.submit_diff(A[:24], B[:24], hypotheses=HYPS[:3], config=LONG)  # 96 judgments
            queued = c.submit_diff(A[:10], B[:10], hypotheses=HYPS, config=FAST)
            _until(lambda: (j := c.job(long.id)).status == "running" and j.stage == "judging", timeout=180)
    finally:
        srv.kill()  # SIGKILL: no shutdown hooks run, the job row still says "running"
    return srv, key, done, before, long, queued


@pytest.mark.slow
def test_job_killed_mid_run_resumes_after_restart(tmp_path):
    srv, key, done, before, long, queued = _crash_mid_job(tmp_path, {"HYPODISC_SERVICE_LEASE_S": "2"})
    srv.start()
    try:
        with Client(srv.url, api_key=key) as c:
            resumed = c.wait(long.id, timeout=600, poll_s=0.3)
            info = c.job(long.id)
            assert info.status == "succeeded" and info.attempts == 2
            assert {h.hypothesis for h in resumed.hypotheses} == set(HYPS[:3])
            assert c.wait(queued.id, timeout=120).hypotheses  # queued before the crash, still ran
            assert c.result(done.id) == before  # stored results survive byte for byte
            assert {j.id for j in c.jobs(limit=10).jobs} == {done.id, long.id, queued.id}
        assert "requeued to resume" in srv.log_path.read_text()
    finally:
        srv.stop()


@pytest.mark.slow
def test_job_out_of_attempts_fails_with_its_reason(tmp_path):
    srv, key, done, before, long, queued = _crash_mid_job(
        tmp_path, {"HYPODISC_SERVICE_LEASE_S": "2", "HYPODISC_SERVICE_MAX_ATTEMPTS": "1"})
    srv.start()
    try:
        with Client(srv.url, api_key=key) as c:
            failed = _until(lambda: (j := c.job(long.id)).status == "failed" and j, timeout=60)
            assert failed.error_code == "interrupted" and "stopped (crash or restart)" in failed.error
            assert c.wait(queued.id, timeout=120).hypotheses
            assert c.result(done.id) == before
    finally:
        srv.stop()
