"""The durable job store: SQLAlchemy over SQLite (WAL, the embedded default) or PostgreSQL.

Every state change is one short transaction, so a crash loses at most the work in
flight, never what was submitted or finished. Workers claim jobs with a conditional
UPDATE (``WHERE status = 'queued'``), which is atomic on both databases, and prove they
are alive with heartbeats; a job whose heartbeat goes stale is resumed from its
checkpoints or failed with the reason.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (JSON, Boolean, DateTime, Float, Integer, String, Text, create_engine, event, func, select,
                        update)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from hypodisc.service.schemas import ACTIVE


def utcnow() -> datetime:
    """Naive UTC: SQLite keeps no zone, so every timestamp is stored the same way on both databases."""
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class JobRow(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    workflow: Mapped[str] = mapped_column(String(32), index=True)
    key_id: Mapped[str | None] = mapped_column(String(32), index=True, nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True, default="queued")
    stage: Mapped[str | None] = mapped_column(String(200), nullable=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    request: Mapped[dict] = mapped_column(JSON)
    result: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    cost: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    checkpoints: Mapped[dict] = mapped_column(JSON, default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


@dataclass(frozen=True)
class NewKey:
    id: str
    name: str
    secret: str  # shown once; only its sha256 is stored


def hash_key(secret: str) -> str:
    # Keys are 256-bit random tokens, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


class JobStore:
    """All reads and writes of jobs and keys; the API and the workers share it."""

    def __init__(self, url: str):
        self.url = url
        if url.startswith("sqlite"):
            # A local file never drops a connection, so no pre-ping; a pool as large as the API's
            # thread pool, so busy polling reuses connections instead of reopening them (py-spy showed
            # a third of the server's time in connection set-up under 50 pollers).
            kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 10},
                                      "pool_size": 40, "max_overflow": 8}
        else:
            kwargs = {"pool_pre_ping": True, "pool_size": 20, "max_overflow": 20}
        self.engine = create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        Base.metadata.create_all(self.engine)
        self._session = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    # -- keys ---------------------------------------------------------------------------------
    def create_key(self, name: str) -> NewKey:
        secret = "hd_" + secrets.token_urlsafe(32)
        row = ApiKeyRow(id=uuid.uuid4().hex, name=name, prefix=secret[:10], sha256=hash_key(secret))
        with self._session.begin() as s:
            s.add(row)
        return NewKey(id=row.id, name=name, secret=secret)

    def key_id_for(self, secret: str) -> str | None:
        with self._session() as s:
            row = s.scalar(select(ApiKeyRow).where(ApiKeyRow.sha256 == hash_key(secret)))
            return row.id if row is not None and not row.revoked else None

    def list_keys(self) -> list[ApiKeyRow]:
        with self._session() as s:
            return list(s.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at)))

    def revoke_key(self, key_id_or_prefix: str) -> bool:
        with self._session.begin() as s:
            res = s.execute(update(ApiKeyRow).where(
                (ApiKeyRow.id == key_id_or_prefix) | (ApiKeyRow.prefix == key_id_or_prefix)).values(revoked=True))
            return res.rowcount > 0

    # -- jobs: the API side ---------------------------------------------------------------------
    def create_job(self, workflow: str, request: dict, key_id: str | None) -> JobRow:
        row = JobRow(id=uuid.uuid4().hex, workflow=workflow, key_id=key_id, status="queued", request=request,
                     checkpoints={}, stage="queued")
        with self._session.begin() as s:
            s.add(row)
        return row

    def get_job(self, job_id: str, key_id: str | None = None, *, any_key: bool = False) -> JobRow | None:
        """The job, or None if it does not exist or belongs to another key (the two are not told apart)."""
        with self._session() as s:
            row = s.get(JobRow, job_id)
            if row is None or (not any_key and row.key_id != key_id):
                return None
            return row

    @staticmethod
    def _of_key(key_id: str | None):
        return JobRow.key_id.is_(None) if key_id is None else JobRow.key_id == key_id

    def list_jobs(self, key_id: str | None, *, limit: int, offset: int, status: str | None = None,
                  workflow: str | None = None, any_key: bool = False) -> tuple[list[JobRow], int]:
        q = select(JobRow)
        if not any_key:
            q = q.where(self._of_key(key_id))
        if status:
            q = q.where(JobRow.status == status)
        if workflow:
            q = q.where(JobRow.workflow == workflow)
        with self._session() as s:
            total = int(s.scalar(select(func.count()).select_from(q.subquery())) or 0)
            if offset >= total:  # past the end; also keeps offsets beyond a 64-bit integer out of the SQL
                return [], total
            rows = list(s.scalars(q.order_by(JobRow.created_at.desc(), JobRow.id).limit(limit).offset(offset)))
        return rows, total

    def active_jobs(self, key_id: str | None) -> int:
        with self._session() as s:
            return int(s.scalar(select(func.count()).select_from(JobRow).where(
                self._of_key(key_id),
                JobRow.status.in_(ACTIVE))) or 0)

    def request_cancel(self, job_id: str) -> None:
        """Queued jobs are cancelled at once; running ones stop at their next progress step."""
        now = utcnow()
        with self._session.begin() as s:
            s.execute(update(JobRow).where(JobRow.id == job_id, JobRow.status == "queued").values(
                status="cancelled", stage="cancelled", finished_at=now, updated_at=now, cancel_requested=True))
            s.execute(update(JobRow).where(JobRow.id == job_id, JobRow.status == "running").values(
                cancel_requested=True, updated_at=now))

    def queue_depth(self) -> dict[str, int]:
        with self._session() as s:
            rows = s.execute(select(JobRow.status, func.count()).group_by(JobRow.status)).all()
        return {status: int(n) for status, n in rows}

    # -- jobs: the worker side ------------------------------------------------------------------
    def claim_next(self, owner: str) -> JobRow | None:
        """Fair claim: among queued jobs, the oldest one of the key with the fewest running jobs."""
        with self._session() as s:
            queued = list(s.execute(select(JobRow.id, JobRow.key_id).where(JobRow.status == "queued")
                                    .order_by(JobRow.created_at, JobRow.id).limit(200)))
            if not queued:
                return None
            running = dict(s.execute(select(JobRow.key_id, func.count()).where(JobRow.status == "running")
                                     .group_by(JobRow.key_id)).all())
        order = sorted(range(len(queued)), key=lambda i: (running.get(queued[i].key_id, 0), i))
        now = utcnow()
        for i in order:
            with self._session.begin() as s:
                res = s.execute(update(JobRow).where(JobRow.id == queued[i].id, JobRow.status == "queued").values(
                    status="running", owner=owner, heartbeat_at=now, started_at=now, updated_at=now,
                    attempts=JobRow.attempts + 1))
            if res.rowcount == 1:
                return self.get_job(queued[i].id, any_key=True)
        return None

    def _update_owned(self, job_id: str, owner: str, **values) -> bool:
        values["updated_at"] = utcnow()
        with self._session.begin() as s:
            res = s.execute(update(JobRow).where(JobRow.id == job_id, JobRow.owner == owner,
                                                 JobRow.status == "running").values(**values))
            return res.rowcount == 1

    def report_progress(self, job_id: str, owner: str, stage: str, fraction: float, cost: dict | None) -> bool:
        return self._update_owned(job_id, owner, stage=stage, progress=max(0.0, min(1.0, fraction)), cost=cost,
                                  heartbeat_at=utcnow())

    def save_checkpoint(self, job_id: str, owner: str, name: str, data: dict) -> None:
        with self._session.begin() as s:
            row = s.get(JobRow, job_id, with_for_update=True)
            if row is None or row.owner != owner:
                return
            row.checkpoints = {**(row.checkpoints or {}), name: data}
            row.updated_at = utcnow()

    def heartbeat(self, owner: str, job_ids: list[str]) -> set[str]:
        """Beat for these jobs; returns the ones whose cancel was requested."""
        if not job_ids:
            return set()
        with self._session.begin() as s:
            s.execute(update(JobRow).where(JobRow.id.in_(job_ids), JobRow.owner == owner,
                                           JobRow.status == "running").values(heartbeat_at=utcnow()))
            return set(s.scalars(select(JobRow.id).where(JobRow.id.in_(job_ids), JobRow.cancel_requested)))

    def finish(self, job_id: str, owner: str, result: dict, cost: dict | None) -> bool:
        now = utcnow()
        return self._update_owned(job_id, owner, status="succeeded", stage="done", progress=1.0, result=result,
                                  cost=cost, finished_at=now)

    def fail(self, job_id: str, owner: str, code: str, message: str, *, cancelled: bool = False) -> bool:
        return self._update_owned(job_id, owner, status="cancelled" if cancelled else "failed",
                                  stage="cancelled" if cancelled else "failed", error_code=code, error=message,
                                  finished_at=utcnow())

    def reap_stale(self, lease_s: float, max_attempts: int) -> tuple[list[str], list[str]]:
        """Running jobs whose worker stopped beating: requeue (keeping checkpoints) or fail with the reason.

        Returns (requeued ids, failed ids).
        """
        cutoff = utcnow() - timedelta(seconds=lease_s)
        requeued, failed = [], []
        with self._session.begin() as s:
            stale = list(s.scalars(select(JobRow).where(JobRow.status == "running", JobRow.heartbeat_at < cutoff)
                                   .with_for_update()))
            now = utcnow()
            for row in stale:
                if row.cancel_requested:
                    row.status, row.stage, row.error_code = "cancelled", "cancelled", "cancelled"
                    row.error, row.finished_at = "cancelled; its worker stopped before it could confirm", now
                    failed.append(row.id)
                elif row.attempts >= max_attempts:
                    row.status, row.stage, row.error_code = "failed", "failed", "interrupted"
                    row.error = (f"the worker running this job stopped (crash or restart) {row.attempts} time(s); "
                                 f"giving up after {max_attempts} attempts")
                    row.finished_at = now
                    failed.append(row.id)
                else:
                    row.status, row.owner = "queued", None
                    row.stage = "queued (resuming after an interruption)"
                    requeued.append(row.id)
                row.updated_at = now
        return requeued, failed
