"""The service under load: 50 concurrent status/poll clients while 10 submitted LLM jobs run.

A bounded run of bench/service_load.py (same code): a real ``hypodisc serve`` on loopback with
auth on, SQLite, SmolLM2. No latency thresholds here (timings belong to BENCHMARKS.md, the
machine running the tests may be shared); what must hold under load is correctness: no
transport errors, no 5xx, every submission accepted, the polls really overlapped a running
job, and every job reaches a terminal state (jobs still unfinished after a bounded wait are
cancelled, and the cancel must take effect).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from service_load import run_load  # noqa: E402

CLIENTS, JOBS = 50, 10


@pytest.mark.slow
def test_50_pollers_and_10_jobs(tmp_path):
    # Small jobs (8 texts per side, 2 hypotheses, exhaustive LLM judging: ~24 judgments each);
    # no warm-up (the first job loads the model under load), a 10 s closed-loop busy window,
    # then up to 120 s for a job to succeed, then the rest are cancelled (bounded wait).
    res = run_load(clients=CLIENTS, jobs=JOBS, duration=10, idle_duration=5, solo_duration=0, side_duration=2,
                   max_requests=50_000, modes=("closed",), n_texts=8,
                   hypotheses=["is about technology", "mentions a company"], warmup=False,
                   finish_wait=120, cancel_wait=120, workdir=tmp_path, log=lambda *_: None)
    print("timeline (s):", res["timeline_s"], "jobs:", res["jobs"]["final_status"], "load:", res["machine"])

    assert res["submit"]["accepted"] == JOBS, res["submit"]
    for name, phase in res["phases"].items():
        assert phase["transport_errors"] == 0, (name, phase["error_samples"])
        assert phase["status_5xx"] == 0, (name, phase["error_samples"])
        assert phase["non_200"] == 0, (name, phase["status_codes"], phase["error_samples"])
        assert phase["ok"] > 0, (name, phase)

    busy = res["phases"]["busy_job_status_closed"]
    assert busy["ok"] >= CLIENTS, busy  # 50 clients polling for 10 s: at least one answer each
    assert busy["running_seen"] > 0, "no poll saw a running job: the busy window did not overlap a job"
    assert busy["stop_reason"] in ("duration", "all_jobs_finished"), busy["stop_reason"]

    jobs = res["jobs"]
    assert jobs["all_terminal"], jobs
    assert jobs["final_status"]["queued"] == 0 and jobs["final_status"]["running"] == 0, jobs
    assert jobs["final_status"]["failed"] == 0, jobs["errors"]
    assert jobs["final_status"]["succeeded"] >= 1, jobs  # jobs do finish under load
    assert jobs["final_status"]["succeeded"] + jobs["final_status"]["cancelled"] == JOBS, jobs
    assert all(code == 200 for code in jobs["cancel_status_codes"]), jobs["cancel_status_codes"]
    assert res["queue_after"].get("running", 0) == 0 and res["queue_after"].get("queued", 0) == 0
