"""The durable job store on both databases it supports: a fresh SQLite file and a real PostgreSQL.

Each test gets an empty database (a new SQLite file, or a new PostgreSQL database on
the session's throwaway server, dropped afterwards).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

from hypodisc.service.job_store import JobRow, JobStore, utcnow
from pg_harness import postgres_server  # noqa: F401  (session fixture)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'jobs.db'}"
        return
    server = request.getfixturevalue("postgres_server")
    url = server.create_database()
    try:
        yield url
    finally:
        server.drop_database(url)  # WITH (FORCE): also ends connections a failed test left open


@pytest.fixture
def job_store(db_url):
    s = JobStore(db_url)
    yield s
    s.close()


def _make_stale(store: JobStore, job_id: str, seconds: float = 300) -> None:
    """What a crashed worker leaves behind: a running job whose last heartbeat is long past."""
    with store._session.begin() as s:
        s.execute(update(JobRow).where(JobRow.id == job_id).values(heartbeat_at=utcnow() - timedelta(seconds=seconds)))


def _jobs(store: JobStore, n: int, key_id: str | None, workflow: str = "diff") -> list[str]:
    ids = []
    for i in range(n):
        ids.append(store.create_job(workflow, {"i": i, "key": key_id}, key_id).id)
        time.sleep(0.002)  # distinct created_at, so "newest first" is well defined
    return ids


# -- keys --------------------------------------------------------------------------------------------
def test_keys_are_stored_only_as_hashes_and_revoked_keys_stop_working(job_store):
    a, b = job_store.create_key("alice"), job_store.create_key("bob")
    assert a.secret != b.secret and a.secret.startswith("hd_") and len(a.secret) > 40

    with job_store.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(text("SELECT * FROM api_keys"))]
    assert len(rows) == 2
    dump = json.dumps(rows, default=str)
    for key in (a, b):
        assert key.secret not in dump, "a key's secret text is stored in api_keys"
        assert key.secret[10:] not in dump, "more than the display prefix of a key is stored"
        row = next(r for r in rows if r["id"] == key.id)
        assert row["sha256"] == hashlib.sha256(key.secret.encode()).hexdigest()
        assert row["prefix"] == key.secret[:10]

    assert job_store.key_id_for(a.secret) == a.id
    assert job_store.key_id_for(b.secret) == b.id
    assert job_store.key_id_for(a.secret + "x") is None
    assert job_store.key_id_for("") is None

    assert job_store.revoke_key(a.id) is True  # by id
    assert job_store.key_id_for(a.secret) is None
    assert job_store.key_id_for(b.secret) == b.id  # the other key still works
    assert job_store.revoke_key(b.secret[:10]) is True  # by the display prefix
    assert job_store.key_id_for(b.secret) is None
    assert job_store.revoke_key("no-such-key") is False
    assert {k.id: k.revoked for k in job_store.list_keys()} == {a.id: True, b.id: True}


# -- jobs: the API side ------------------------------------------------------------------------------
def test_jobs_of_one_key_are_invisible_to_another(job_store):
    ka, kb = job_store.create_key("a").id, job_store.create_key("b").id
    a_ids = _jobs(job_store, 3, ka)
    b_ids = _jobs(job_store, 2, kb)
    anon = _jobs(job_store, 1, None)

    for jid in a_ids:
        assert job_store.get_job(jid, ka).id == jid
        assert job_store.get_job(jid, kb) is None  # same answer as a missing job
        assert job_store.get_job(jid, None) is None
    assert job_store.get_job(b_ids[0], ka) is None
    assert job_store.get_job("0" * 32, ka) is None
    assert job_store.get_job(anon[0], None).id == anon[0]
    assert job_store.get_job(anon[0], ka) is None

    rows, total = job_store.list_jobs(kb, limit=50, offset=0)
    assert total == 2 and {r.id for r in rows} == set(b_ids)
    rows, total = job_store.list_jobs(ka, limit=50, offset=0)
    assert total == 3 and {r.id for r in rows} == set(a_ids)
    rows, total = job_store.list_jobs(None, limit=50, offset=0)
    assert total == 1 and [r.id for r in rows] == anon
    rows, total = job_store.list_jobs(None, limit=50, offset=0, any_key=True)  # auth off: one user sees all
    assert total == 6
    assert job_store.list_jobs(job_store.create_key("c").id, limit=50, offset=0) == ([], 0)

    assert job_store.active_jobs(ka) == 3 and job_store.active_jobs(kb) == 2 and job_store.active_jobs(None) == 1


def test_list_paging_newest_first(job_store):
    key = job_store.create_key("k").id
    ids = _jobs(job_store, 7, key)
    _jobs(job_store, 2, job_store.create_key("other").id)  # not counted
    newest_first = list(reversed(ids))

    seen = []
    for offset in (0, 3, 6):
        rows, total = job_store.list_jobs(key, limit=3, offset=offset)
        assert total == 7
        assert len(rows) == min(3, 7 - offset)
        seen += [r.id for r in rows]
    assert seen == newest_first
    assert job_store.list_jobs(key, limit=3, offset=7) == ([], 7)
    assert job_store.list_jobs(key, limit=3, offset=100) == ([], 7)
    assert job_store.list_jobs(key, limit=3, offset=2**63) == ([], 7)  # beyond BIGINT: found by the API fuzzing

    job_store.request_cancel(ids[0])
    rows, total = job_store.list_jobs(key, limit=50, offset=0, status="cancelled")
    assert total == 1 and rows[0].id == ids[0]
    rows, total = job_store.list_jobs(key, limit=2, offset=0, status="queued")
    assert total == 6 and [r.id for r in rows] == newest_first[:2]
    assert job_store.list_jobs(key, limit=50, offset=0, workflow="nope") == ([], 0)
    assert job_store.list_jobs(key, limit=50, offset=0, workflow="diff")[1] == 7
    assert job_store.queue_depth() == {"queued": 8, "cancelled": 1}


# -- jobs: the worker side ---------------------------------------------------------------------------
def test_claim_next_is_atomic_under_concurrent_workers(job_store, db_url):
    keys = [job_store.create_key(f"k{i}").id for i in range(3)]
    ids = []
    for i in range(20):
        ids.append(job_store.create_job("diff", {"i": i}, keys[i % 3]).id)

    # Half the workers share the test's store (threads of one process), half have their own
    # engine and pool (like separate processes).
    own = [JobStore(db_url) for _ in range(4)]
    stores = [job_store] * 4 + own
    claims: dict[str, list[str]] = {f"w{i}": [] for i in range(8)}
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            while (row := stores[i].claim_next(f"w{i}")) is not None:
                assert row.status == "running" and row.owner == f"w{i}"
                claims[f"w{i}"].append(row.id)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=90)
    finally:
        for s in own:
            s.close()
    assert not errors, errors
    claimed = [jid for c in claims.values() for jid in c]
    assert len(claimed) == len(set(claimed)), "a job was claimed twice"
    assert sorted(claimed) == sorted(ids), "not every queued job was claimed"
    for owner, jids in claims.items():
        for jid in jids:
            row = job_store.get_job(jid, any_key=True)
            assert row.status == "running" and row.owner == owner and row.attempts == 1
    assert job_store.claim_next("late") is None
    assert job_store.queue_depth() == {"running": 20}


def test_claim_is_fair_between_keys(job_store):
    ka, kb = job_store.create_key("a").id, job_store.create_key("b").id
    a1, a2 = _jobs(job_store, 2, ka)
    (b1,) = _jobs(job_store, 1, kb)

    assert job_store.claim_next("w1").id == a1  # nobody running: oldest first
    assert job_store.claim_next("w2").id == b1  # a has one running, so b's newer job goes before a's
    assert job_store.claim_next("w3").id == a2
    assert job_store.claim_next("w4") is None


def test_cancel_queued_is_immediate_and_running_is_told_by_heartbeat(job_store):
    q, r, other = _jobs(job_store, 3, None)
    job_store.request_cancel(q)
    row = job_store.get_job(q)
    assert row.status == "cancelled" and row.finished_at is not None and row.cancel_requested

    running = job_store.claim_next("w")
    assert running.id == r  # the cancelled job is never claimed
    assert job_store.claim_next("w").id == other
    assert job_store.heartbeat("w", [r, other]) == set()
    job_store.request_cancel(r)
    row = job_store.get_job(r)
    assert row.status == "running" and row.cancel_requested and row.finished_at is None
    assert job_store.heartbeat("w", [r, other]) == {r}
    assert job_store.heartbeat("w", []) == set()
    assert job_store.report_progress(r, "w", "judging", 0.5, None) is True
    assert job_store.report_progress(r, "someone-else", "judging", 0.6, None) is False  # not its owner
    assert job_store.fail(r, "w", "cancelled", "cancelled by the user", cancelled=True) is True
    row = job_store.get_job(r)
    assert row.status == "cancelled" and row.error_code == "cancelled" and row.progress == 0.5
    assert job_store.finish(r, "w", {"late": True}, None) is False  # a finished job stays finished
    assert job_store.get_job(r).result is None

    job_store.request_cancel(r)  # cancelling a terminal job changes nothing
    assert job_store.get_job(r).status == "cancelled"


def test_reap_stale_requeues_with_checkpoints_then_fails_after_max_attempts(job_store):
    jid, fresh = _jobs(job_store, 2, None)
    assert job_store.claim_next("w1").id == jid
    assert job_store.claim_next("w1").id == fresh
    job_store.save_checkpoint(jid, "w1", "proposals", {"hypotheses": ["is formal", "mentions cats"]})
    job_store.save_checkpoint(jid, "w1", "screen", {"scores": [0.1, 0.9]})
    job_store.save_checkpoint(jid, "not-the-owner", "bogus", {"x": 1})  # ignored
    job_store.report_progress(jid, "w1", "screening (LLM)", 0.55, None)

    _make_stale(job_store, jid)
    assert job_store.reap_stale(lease_s=30, max_attempts=2) == ([jid], [])  # the fresh one is left alone
    row = job_store.get_job(jid)
    assert row.status == "queued" and row.owner is None and row.attempts == 1
    assert "resuming" in row.stage
    assert row.checkpoints == {"proposals": {"hypotheses": ["is formal", "mentions cats"]},
                               "screen": {"scores": [0.1, 0.9]}}
    assert job_store.get_job(fresh).status == "running"
    # The crashed worker, should it come back, can no longer write to the job.
    assert job_store.report_progress(jid, "w1", "confirming (LLM)", 0.8, None) is False
    assert job_store.finish(jid, "w1", {"stale": True}, None) is False

    again = job_store.claim_next("w2")
    assert again.id == jid and again.attempts == 2 and again.owner == "w2"
    assert again.checkpoints["proposals"]["hypotheses"] == ["is formal", "mentions cats"]

    _make_stale(job_store, jid)
    assert job_store.reap_stale(lease_s=30, max_attempts=2) == ([], [jid])
    row = job_store.get_job(jid)
    assert row.status == "failed" and row.error_code == "interrupted" and row.finished_at is not None
    assert "2 time(s)" in row.error and "2 attempts" in row.error
    assert job_store.claim_next("w3") is None
    assert job_store.reap_stale(lease_s=30, max_attempts=2) == ([], [])


def test_reap_stale_cancels_a_job_whose_cancel_was_requested(job_store):
    (jid,) = _jobs(job_store, 1, None)
    job_store.claim_next("w")
    job_store.request_cancel(jid)
    _make_stale(job_store, jid)
    assert job_store.reap_stale(lease_s=30, max_attempts=5) == ([], [jid])
    row = job_store.get_job(jid)
    assert row.status == "cancelled" and row.error_code == "cancelled"


# -- durability --------------------------------------------------------------------------------------
def test_finished_result_survives_reopening_the_store(db_url):
    store = JobStore(db_url)
    key = store.create_key("k")
    jid = store.create_job("diff", {"a": ["x"] * 3, "b": ["y"] * 3}, key.id).id
    store.claim_next("w")
    store.save_checkpoint(jid, "w", "proposals", {"hypotheses": ["h"]})
    result = {"hypotheses": [{"text": "is about cats", "p_value": 0.001, "delta": 0.42}], "note": "ünïcödé ✓"}
    cost = {"stages": [{"stage": "judging", "wall_s": 1.5}]}
    assert store.finish(jid, "w", result, cost) is True
    store.close()

    reopened = JobStore(db_url)
    try:
        assert reopened.key_id_for(key.secret) == key.id
        row = reopened.get_job(jid, key.id)
        assert row.status == "succeeded" and row.progress == 1.0 and row.finished_at is not None
        assert row.result == result and row.cost == cost
        assert row.checkpoints == {"proposals": {"hypotheses": ["h"]}}
        assert row.request == {"a": ["x"] * 3, "b": ["y"] * 3}
        assert reopened.list_jobs(key.id, limit=10, offset=0)[1] == 1
    finally:
        reopened.close()


def test_huge_result_round_trips(job_store, db_url):
    texts = [f"text {i}: " + "the quick brown fox é ✓ " * 8 for i in range(10_000)]
    result = {"hypotheses": [{"text": f"h{i}", "scores": [i / 7] * 5} for i in range(200)], "samples": texts}
    assert len(json.dumps(result)) > 2_000_000
    jid = job_store.create_job("diff", {"a": texts[:5000], "b": texts[5000:]}, None).id
    job_store.claim_next("w")
    assert job_store.finish(jid, "w", result, None) is True
    assert job_store.get_job(jid).result == result

    other = JobStore(db_url)
    try:
        row = other.get_job(jid)
        assert row.result == result and row.request["b"] == texts[5000:]
        with other._session() as s:  # and the row is whole in the database, not just in a cache
            stored = s.scalar(select(JobRow.result).where(JobRow.id == jid))
        assert stored == result
    finally:
        other.close()


def test_awkward_strings_round_trip(job_store):
    """Anything a JSON body can carry: NUL (which PostgreSQL's JSONB would refuse), lone surrogates, astral
    characters, quotes and backslashes."""
    awkward = ["nul\x00char", "lone \ud800 surrogate", "\U0010ffff\U0001f600", 'back\\slash "quoted"', "", " \n\t"]
    jid = job_store.create_job("diff", {"a": awkward, "goal": "\x00"}, None).id
    job_store.claim_next("w")
    job_store.save_checkpoint(jid, "w", "proposals", {"hypotheses": awkward})
    assert job_store.finish(jid, "w", {"hypotheses": awkward}, None)
    row = job_store.get_job(jid)
    assert row.request == {"a": awkward, "goal": "\x00"}
    assert row.checkpoints == {"proposals": {"hypotheses": awkward}} and row.result == {"hypotheses": awkward}
