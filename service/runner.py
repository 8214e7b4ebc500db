"""Background workers: claim queued jobs, run them, record progress, heartbeats and checkpoints.

Workers are threads of the API process: the LLM is loaded once per process and the
heavy calls (llama.cpp, torch) release the GIL, so the API keeps answering while a job
runs. A separate heartbeat thread keeps each running job's lease fresh even during a
long single LLM call, and reaps jobs orphaned by a crashed or restarted process.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
import uuid

from pydantic import ValidationError

from hypodisc.errors import HypodiscError
from hypodisc.workflows.engines import Engines, JobEngines
from hypodisc.workflows.contract import Checkpoints
from hypodisc.workflows.registry import WORKFLOWS
from hypodisc.service.settings import ServiceSettings
from hypodisc.service.job_store import JobRow, JobStore

log = logging.getLogger("hypodisc.service")


class JobCancelled(Exception):
    """Raised from a progress callback to unwind a job whose cancel was requested."""


class _Running:
    def __init__(self, job: JobRow):
        self.job = job
        self.cancel = threading.Event()
        self.fraction = 0.0
        self.last_write = 0.0
        self.stage: str | None = None


class JobRunner:
    def __init__(self, store: JobStore, engines: Engines, settings: ServiceSettings):
        self.store, self.engines, self.settings = store, engines, settings
        self.owner = f"{uuid.uuid4().hex[:12]}"
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._running: dict[str, _Running] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        self.reap()
        beat = threading.Thread(target=self._beat_loop, name="hypodisc-heartbeat", daemon=True)
        self._threads.append(beat)
        for i in range(self.settings.concurrency):
            self._threads.append(threading.Thread(target=self._work_loop, name=f"hypodisc-worker-{i}", daemon=True))
        for t in self._threads:
            t.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout)

    def notify(self) -> None:
        """A job was queued: wake an idle worker now instead of at its next poll."""
        self._wake.set()

    def reap(self) -> None:
        requeued, failed = self.store.reap_stale(self.settings.lease_s, self.settings.max_attempts)
        for job_id in requeued:
            log.warning("job %s was orphaned by a stopped worker; requeued to resume from its checkpoints", job_id)
        for job_id in failed:
            log.warning("job %s was orphaned by a stopped worker and is marked failed", job_id)
        if requeued:
            self._wake.set()

    # -- loops -------------------------------------------------------------------------------------
    def _beat_loop(self) -> None:
        interval = max(0.2, self.settings.lease_s / 4)
        while not self._stop.wait(interval):
            try:
                with self._lock:
                    ids = list(self._running)
                for job_id in self.store.heartbeat(self.owner, ids):
                    with self._lock:
                        if job_id in self._running:
                            self._running[job_id].cancel.set()
                self.reap()
            except Exception:  # the store may be briefly unreachable; keep beating
                log.exception("heartbeat failed")

    def _work_loop(self) -> None:
        while not self._stop.is_set():
            try:
                job = self.store.claim_next(self.owner)
            except Exception:
                log.exception("claiming a job failed")
                job = None
            if job is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            self._run(job)

    # -- one job -------------------------------------------------------------------------------------
    def _run(self, job: JobRow) -> None:
        spec = WORKFLOWS[job.workflow]
        state = _Running(job)
        with self._lock:
            self._running[job.id] = state
        views = JobEngines(self.engines)

        def progress(stage: str, done: int, total: int) -> None:
            if state.cancel.is_set():
                raise JobCancelled()
            state.fraction = spec.fraction(stage, done, total, state.fraction)
            now = time.monotonic()
            if stage != state.stage or now - state.last_write > 0.5 or done >= total:
                state.stage, state.last_write = stage, now
                self.store.report_progress(job.id, self.owner, stage, state.fraction, views.cost_so_far())

        def checkpoint(name: str, data: dict) -> None:
            self.store.save_checkpoint(job.id, self.owner, name, data)

        log.info("job %s (%s) started, attempt %d", job.id, job.workflow, job.attempts)
        try:
            request = spec.request_model.model_validate(job.request)
            result = spec.run(request, views, progress, Checkpoints(job.checkpoints, checkpoint))
            data = result.model_dump(mode="json")
            self.store.finish(job.id, self.owner, data, data.get("cost"))
            log.info("job %s succeeded", job.id)
        except JobCancelled:
            self.store.fail(job.id, self.owner, "cancelled", "cancelled by request", cancelled=True)
            log.info("job %s cancelled", job.id)
        except ValidationError as exc:  # a stored request that no longer validates (e.g. after an upgrade)
            self.store.fail(job.id, self.owner, "invalid_request", f"stored request is invalid: {exc}")
        except HypodiscError as exc:
            self.store.fail(job.id, self.owner, "workflow_error", str(exc))
            log.info("job %s failed: %s", job.id, exc)
        except Exception as exc:  # a bug: keep the reason with the job, the traceback in the log
            log.error("job %s crashed:\n%s", job.id, traceback.format_exc())
            self.store.fail(job.id, self.owner, "internal_error", f"{type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._running.pop(job.id, None)
