"""Load test of the HTTP service: many status/poll clients while LLM jobs run (loopback only).

Starts a real ``hypodisc serve`` (tests/service_harness.py) on 127.0.0.1 with a fresh SQLite
database in a temp dir and authentication ON (a key made with ``hypodisc keys create``, sent
as X-API-Key: the realistic path, so every request also does a key lookup). Then:

1. warm-up: one small LLM job, so the models are loaded before anything is measured;
2. submits ``--jobs`` LLM-using diff jobs (SmolLM2 yes/no judgments, exhaustive verifier);
3. **solo window** (``--solo-duration``): the jobs run with no poll load, to measure the
   LLM's judgments/s on its own (from the jobs' own cost counters);
4. **busy windows**: ``--clients`` threads, each with its own keep-alive ``httpx.Client``,
   loop GET /v1/jobs/{id} over the submitted ids, only while at least one job is running,
   each window capped by ``--duration`` seconds and ``--max-requests`` requests. Two
   client modes (``--modes``): ``closed`` (each client sends its next request as soon as the
   last one is answered: saturation, latency ~ clients / throughput) and ``paced`` (each
   client waits ``--interval`` s between polls, like a status page: latency ~ service time);
5. short busy windows on GET /v1/health and GET /v1/jobs (the list), closed loop;
6. cancels the jobs still queued/running (POST /v1/jobs/{id}/cancel) and waits, bounded,
   until nothing runs;
7. **idle windows**: the same clients, the same ids, the same modes, server idle; then idle
   health/list windows.

Every request's latency is measured by the client (send to full body read). Each window also
records the CPU seconds used by the server process (all its threads, llama.cpp's included)
and by this client process, and the jobs' judgments/s. Writes JSON (default
bench/results/service_load.json) and prints a table. Nothing leaves 127.0.0.1; every phase
is bounded in time and in request count.

    .venv/bin/python bench/service_load.py --clients 50 --jobs 10 --duration 60
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from service_harness import Server, create_key  # noqa: E402

HYPOTHESES = ["is about technology", "is about business", "mentions a company", "mentions a product"]
ACTIVE = ("queued", "running")
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


def llm_job(a: list[str], b: list[str], n_texts: int = 30, hypotheses: list[str] | None = None) -> dict:
    """A diff job that keeps the LLM busy: fixed hypotheses, every held-out text judged by the LLM."""
    return {"a": a[:n_texts], "b": b[:n_texts], "hypotheses": hypotheses or HYPOTHESES,
            "config": {"verifier": "exhaustive"}}


def percentile(sorted_xs: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in 0..100)."""
    if not sorted_xs:
        return float("nan")
    k = max(0, min(len(sorted_xs) - 1, int(round(q / 100 * len(sorted_xs) + 0.5)) - 1))
    return sorted_xs[k]


def proc_cpu_s(pid: int) -> float:
    """utime + stime of a process, all its threads (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def machine_busy_cpu_s() -> float:
    """CPU seconds all processes on the machine have used since boot (non-idle, non-iowait; /proc/stat)."""
    try:
        vals = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        user, nice, system, idle, iowait, irq, softirq, steal = (vals + [0] * 8)[:8]
        return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return float("nan")


def self_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


@dataclass
class PhaseStats:
    name: str
    clients: int
    mode: str
    seconds: float = 0.0
    requests: int = 0
    ok: int = 0
    non_200: int = 0
    status_5xx: int = 0
    transport_errors: int = 0
    rps: float = 0.0
    p50_ms: float = float("nan")
    p90_ms: float = float("nan")
    p99_ms: float = float("nan")
    max_ms: float = float("nan")
    mean_ms: float = float("nan")
    stop_reason: str = ""
    running_seen: int = 0  # responses that showed a job in status "running"
    running_stages: dict = field(default_factory=dict)  # stage of the running job in those responses
    status_codes: dict = field(default_factory=dict)
    error_samples: list = field(default_factory=list)
    slow: list = field(default_factory=list)  # [unix time sent, ms, path] of requests over slow_ms (first 200)
    server_cpu_s: float = float("nan")
    client_cpu_s: float = float("nan")
    other_cpu_s: float = float("nan")  # the rest of the machine: other processes, i.e. co-located work
    loadavg_1m_after: float = float("nan")


class Phase:
    """N client threads looping over paths until a stop condition, a time cap or a request cap."""

    def __init__(self, name: str, base_url: str, headers: dict, paths: list[str], clients: int,
                 duration: float, max_requests: int, interval: float = 0.0, timeout: float = 30.0,
                 keep_going=None, server_pid: int | None = None, slow_ms: float = 250.0):
        self.name, self.base_url, self.headers, self.paths = name, base_url, headers, paths
        self.clients, self.duration, self.max_requests = clients, duration, max_requests
        self.interval, self.timeout, self.server_pid = interval, timeout, server_pid
        self.slow_ms = slow_ms
        self.keep_going = keep_going  # callable(phase) -> str | None: a reason to stop, or None
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.stats = PhaseStats(name=name, clients=clients, mode=f"paced {interval} s" if interval > 0 else "closed")
        self.last_status: dict[str, str] = {}  # job id -> status seen in its latest response
        self.stop = threading.Event()
        self.ready = threading.Barrier(clients + 1)
        self.issued = 0

    def _take_ticket(self) -> bool:
        with self.lock:
            if self.issued >= self.max_requests:
                return False
            self.issued += 1
            return True

    def _client(self, index: int) -> None:
        i = index  # clients start staggered over the paths
        # The client and its keep-alive connection are set up before the window opens (one
        # unmeasured request), so no latency below includes client start-up or connection set-up.
        with httpx.Client(base_url=self.base_url, headers=self.headers, timeout=self.timeout) as client:
            try:
                client.get("/v1/health")
            except httpx.TransportError:
                pass
            try:
                self.ready.wait(timeout=60)
            except threading.BrokenBarrierError:
                return
            if self.interval > 0:  # spread the paced clients over one interval
                self.stop.wait(self.interval * index / self.clients)
            while not self.stop.is_set() and self._take_ticket():
                path = self.paths[i % len(self.paths)]
                i += 1
                sent, t0 = time.time(), time.perf_counter()
                try:
                    r = client.get(path)
                    dt = time.perf_counter() - t0
                except httpx.TransportError as exc:
                    with self.lock:
                        self.stats.transport_errors += 1
                        if len(self.stats.error_samples) < 5:
                            self.stats.error_samples.append(f"{path}: {type(exc).__name__}: {exc}")
                    continue
                status = stage = None
                if r.status_code == 200 and path.startswith("/v1/jobs/"):
                    try:
                        body = r.json()
                        status, stage = body.get("status"), body.get("stage")
                    except ValueError:
                        pass
                with self.lock:
                    self.latencies.append(dt)
                    if dt * 1000 >= self.slow_ms and len(self.stats.slow) < 200:
                        self.stats.slow.append([round(sent, 3), round(dt * 1000, 1), path])
                    code = str(r.status_code)
                    self.stats.status_codes[code] = self.stats.status_codes.get(code, 0) + 1
                    if r.status_code == 200:
                        self.stats.ok += 1
                    else:
                        self.stats.non_200 += 1
                        if r.status_code >= 500:
                            self.stats.status_5xx += 1
                        if len(self.stats.error_samples) < 5:
                            self.stats.error_samples.append(f"{path}: HTTP {r.status_code} {r.text[:200]}")
                    if status is not None:
                        self.last_status[path.rsplit("/", 1)[-1]] = status
                        if status == "running":
                            self.stats.running_seen += 1
                            self.stats.running_stages[stage] = self.stats.running_stages.get(stage, 0) + 1
                if self.interval > 0:
                    self.stop.wait(max(0.0, self.interval - dt))

    def run(self) -> PhaseStats:
        threads = [threading.Thread(target=self._client, args=(k,), name=f"load-{self.name}-{k}", daemon=True)
                   for k in range(self.clients)]
        for t in threads:
            t.start()
        try:
            self.ready.wait(timeout=60)  # every client connected
        except threading.BrokenBarrierError:
            self.ready.abort()
        cpu0 = proc_cpu_s(self.server_pid) if self.server_pid else float("nan")
        me0, all0 = self_cpu_s(), machine_busy_cpu_s()
        t0 = time.perf_counter()
        reason = "max_requests"
        while any(t.is_alive() for t in threads):
            if time.perf_counter() - t0 >= self.duration:
                reason = "duration"
                break
            if self.keep_going is not None:
                why = self.keep_going(self)
                if why:
                    reason = why
                    break
            time.sleep(0.05)
        self.stop.set()
        for t in threads:
            t.join(self.timeout + 5)
        s = self.stats
        s.seconds = round(time.perf_counter() - t0, 3)
        if self.server_pid:
            s.server_cpu_s = round(proc_cpu_s(self.server_pid) - cpu0, 2)
        s.client_cpu_s = round(self_cpu_s() - me0, 2)
        s.other_cpu_s = round(machine_busy_cpu_s() - all0 - s.client_cpu_s -
                              (s.server_cpu_s if self.server_pid else 0.0), 2)
        s.loadavg_1m_after = round(os.getloadavg()[0], 2)
        s.stop_reason = reason
        lat = sorted(self.latencies)
        s.requests = len(lat) + s.transport_errors
        s.rps = round(len(lat) / s.seconds, 1) if s.seconds else 0.0
        if lat:
            ms = [x * 1000 for x in lat]
            s.p50_ms, s.p90_ms, s.p99_ms = (round(percentile(ms, q), 2) for q in (50, 90, 99))
            s.max_ms, s.mean_ms = round(ms[-1], 2), round(statistics.fmean(ms), 2)
        return s


def wait_for(predicate, timeout: float, step: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def _ts(iso: str) -> float:
    dt = datetime.fromisoformat(iso)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _ratio(x: float, y: float) -> float | None:
    try:
        return round(x / y, 2) if y else None
    except TypeError:
        return None


def busy_processes(exclude: set[int] = frozenset(), min_cpu: float = 5.0) -> list[str]:
    """Other processes using CPU (ps's lifetime %CPU), to say honestly whether the machine was shared."""
    try:
        ps = subprocess.run(["ps", "-ww", "-eo", "pid,pcpu,etimes,args", "--sort=-pcpu"], capture_output=True, text=True,
                            timeout=10).stdout.splitlines()[1:]
    except (OSError, subprocess.SubprocessError):
        return []
    me = {os.getpid(), *exclude}
    rows = []
    for line in ps:
        pid, cpu, age, args = line.split(None, 3)
        if int(pid) not in me and float(cpu) >= min_cpu and "ps -eo" not in args:
            rows.append(f"{cpu}% for {age}s: {args[:110]}")
    return rows[:15]


def machine_info() -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()}
    try:
        info["mem_gib"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
        info["loadavg_at_start"] = [round(x, 2) for x in os.getloadavg()]
    except (OSError, ValueError, AttributeError):
        pass
    return info


class Jobs:
    """The submitted jobs as the API reports them."""

    def __init__(self, client: httpx.Client, ids: list[str]):
        self.c, self.ids = client, ids

    def infos(self) -> dict[str, dict]:
        return {i: self.c.get(f"/v1/jobs/{i}").json() for i in self.ids}

    def counts(self, infos: dict | None = None) -> dict[str, int]:
        infos = infos or self.infos()
        return {s: sum(j["status"] == s for j in infos.values()) for s in STATUSES}

    def any_active(self) -> bool:
        return any(j["status"] in ACTIVE for j in self.infos().values())

    def any_running(self) -> bool:
        return any(j["status"] == "running" for j in self.infos().values())

    def judgments(self) -> int:
        """LLM yes/no judgments done so far over all the jobs (their cost counters; a running job's
        counter is written with its progress, every judge batch)."""
        return sum(sum(s.get("judgments", 0) for s in j.get("cost") or []) for j in self.infos().values())


def run_load(*, clients: int = 50, jobs: int = 10, duration: float = 60.0, idle_duration: float | None = None,
             solo_duration: float = 30.0, side_duration: float = 5.0, max_requests: int = 200_000,
             modes: tuple[str, ...] = ("closed", "paced"), interval: float = 1.0, n_texts: int = 30,
             hypotheses: list[str] | None = None, auth: bool = True, warmup: bool = True,
             finish_wait: float = 0.0, cancel_wait: float = 300.0, workdir: Path | None = None,
             env: dict | None = None, log=print) -> dict:
    """The whole load test; returns the results dict (also what the test asserts on).

    ``finish_wait``: after the busy windows, wait up to this long for at least one job to
    succeed (all of them if they finish sooner) before cancelling the rest.
    """
    from hypodisc.datasets import demo_pair

    a, b = demo_pair()
    idle_duration = duration if idle_duration is None else idle_duration
    tmp = tempfile.TemporaryDirectory(prefix="hypodisc-load-") if workdir is None else None
    work = Path(tmp.name) if tmp is not None else workdir
    db_url = f"sqlite:///{work / 'service.db'}"
    server = Server(db_url, work / "server.log", auth=auth, env=env or {})
    headers = {}
    if auth:
        headers["X-API-Key"] = create_key(db_url, "load")
    out: dict = {"config": {"clients": clients, "jobs": jobs, "duration_s": duration, "idle_duration_s": idle_duration,
                            "solo_duration_s": solo_duration, "side_duration_s": side_duration,
                            "max_requests": max_requests, "modes": list(modes), "paced_interval_s": interval,
                            "n_texts_per_side": n_texts, "hypotheses": hypotheses or HYPOTHESES, "auth": auth,
                            "verifier": "exhaustive", "model": server.model,
                            "client": "threads in one process, one keep-alive httpx.Client each",
                            "database": "sqlite (WAL) in a temp dir",
                            "server_env": {"HYPODISC_N_THREADS": "2", **(env or {})}},
                 "machine": machine_info(), "phases": {}}
    out["machine"]["other_processes_at_start"] = busy_processes()
    t_start = time.perf_counter()
    timeline: dict[str, float] = {}
    out["timeline_s"] = timeline

    def mark(name: str) -> None:
        timeline[name] = round(time.perf_counter() - t_start, 2)

    server.start()
    mark("server_up")
    pid = server.proc.pid
    log(f"server up at {server.url} (auth {'on' if auth else 'off'}), log {server.log_path}")
    try:
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as c:
            # 1. warm-up: load the LLM and the embedder with a small job, and warm the HTTP paths
            if warmup:
                t0 = time.perf_counter()
                r = c.post("/v1/jobs/diff", json=llm_job(a, b, n_texts=10, hypotheses=HYPOTHESES[:1]))
                r.raise_for_status()
                warm_id = r.json()["id"]
                ok = wait_for(lambda: c.get(f"/v1/jobs/{warm_id}").json()["status"] not in ACTIVE, 600, 0.5)
                warm = c.get(f"/v1/jobs/{warm_id}").json()
                out["warmup"] = {"status": warm["status"], "seconds": round(time.perf_counter() - t0, 2),
                                 "finished": ok}
                mark("warmup_done")
                log(f"warm-up job {warm['status']} in {out['warmup']['seconds']} s")
                if warm["status"] != "succeeded":
                    raise RuntimeError(f"warm-up job did not succeed: {warm}")
                for _ in range(20):
                    c.get("/v1/health"), c.get("/v1/jobs", params={"limit": 10}), c.get(f"/v1/jobs/{warm_id}")

            # 2. submit the jobs
            codes, ids = [], []
            t_submit = time.perf_counter()
            for _ in range(jobs):
                r = c.post("/v1/jobs/diff", json=llm_job(a, b, n_texts=n_texts, hypotheses=hypotheses))
                codes.append(r.status_code)
                if r.status_code == 202:
                    ids.append(r.json()["id"])
            out["submit"] = {"status_codes": codes, "accepted": sum(x == 202 for x in codes),
                             "seconds": round(time.perf_counter() - t_submit, 3)}
            log(f"submitted {jobs} jobs: {out['submit']['accepted']} accepted (202)")
            if not ids:
                raise RuntimeError(f"no job accepted: {codes}")
            J = Jobs(c, ids)
            paths = [f"/v1/jobs/{i}" for i in ids]
            wait_for(J.any_running, 30, 0.05)  # the worker claims the first one at once
            mark("first_job_running")

            # 3. solo window: the jobs alone, one status read every 2 s
            if solo_duration > 0:
                j0, c0, m0, t0 = J.judgments(), proc_cpu_s(pid), machine_busy_cpu_s(), time.perf_counter()
                wait_for(lambda: not J.any_active(), solo_duration, 2.0)
                dt = time.perf_counter() - t0
                j1 = J.judgments()
                out["solo"] = {"seconds": round(dt, 1), "judgments": j1 - j0,
                               "judgments_per_s": round((j1 - j0) / dt, 3),
                               "server_cpu_s": round(proc_cpu_s(pid) - c0, 2),
                               "other_cpu_s": round(machine_busy_cpu_s() - m0 - (proc_cpu_s(pid) - c0), 2),
                               "loadavg_1m_after": round(os.getloadavg()[0], 2)}
                mark("solo_done")
                log(f"solo window: {out['solo']}")

            # 4. busy windows: only while at least one job is queued or running
            def busy(phase: Phase) -> str | None:
                seen = phase.last_status
                if len(seen) == len(ids) and not any(s in ACTIVE for s in seen.values()):
                    return "all_jobs_finished"
                return None

            t_busy = time.time()
            for mode in modes:
                if not J.any_active():
                    break
                name = f"busy_job_status_{mode}"
                log(f"{name}: {clients} clients on GET /v1/jobs/{{id}} for <= {duration} s")
                j0 = J.judgments()
                ph = Phase(name, server.url, headers, paths, clients, duration, max_requests,
                           interval if mode == "paced" else 0.0, keep_going=busy, server_pid=pid)
                stats = asdict(ph.run())
                stats["job_judgments"] = J.judgments() - j0
                stats["job_judgments_per_s"] = round(stats["job_judgments"] / stats["seconds"], 3)
                out["phases"][name] = stats
                mark(f"{name}_done")
            t_busy_end = time.time()
            out["busy_window_jobs"] = J.counts()

            # 5. health and list while a job still runs
            if J.any_running():
                for name, p in (("busy_health", ["/v1/health"]), ("busy_list", ["/v1/jobs?limit=20"])):
                    out["phases"][name] = asdict(Phase(name, server.url, headers, p, clients, side_duration,
                                                       max_requests, server_pid=pid).run())
                out["busy_side_job_running_after"] = J.any_running()
            mark("busy_side_done")

            # 6. let jobs finish (bounded), cancel the rest, wait until nothing runs (bounded)
            if finish_wait > 0:
                log(f"waiting up to {finish_wait} s for jobs to finish")
                wait_for(lambda: (lambda n: n["succeeded"] >= 1 or not (n["queued"] or n["running"]))(J.counts()),
                         finish_wait, 1.0)
                mark("finish_wait_done")
            left = [i for i, j in J.infos().items() if j["status"] in ACTIVE]
            t_cancel = time.perf_counter()
            cancel_codes = [c.post(f"/v1/jobs/{i}/cancel").status_code for i in left]
            idle_ok = wait_for(lambda: not J.any_active(), cancel_wait, 0.5)
            mark("all_jobs_terminal" if idle_ok else "cancel_wait_expired")
            final = J.infos()
            out["jobs"] = {
                "ids": ids, "cancelled_by_bench": len(left), "cancel_status_codes": cancel_codes,
                "all_terminal": idle_ok, "seconds_from_cancel_to_idle": round(time.perf_counter() - t_cancel, 1),
                "final_status": J.counts(final),
                "finished_during_busy_windows": sum(
                    1 for j in final.values() if j["status"] == "succeeded" and j.get("finished_at")
                    and t_busy <= _ts(j["finished_at"]) <= t_busy_end),
                "succeeded_seconds": sorted(round(_ts(j["finished_at"]) - _ts(j["started_at"]), 2)
                                            for j in final.values() if j["status"] == "succeeded"),
                "judgments_total": J.judgments(),
                "times": [[round(_ts(j["started_at"]), 3) if j.get("started_at") else None,
                           round(_ts(j["finished_at"]), 3) if j.get("finished_at") else None, j["status"]]
                          for j in final.values()],
                "errors": [j.get("error") for j in final.values() if j["status"] == "failed"],
            }
            log(f"jobs: {out['jobs']['final_status']} (cancelled by the bench: {len(left)}, "
                f"idle after {out['jobs']['seconds_from_cancel_to_idle']} s)")

            # 7. idle windows: same clients, same ids, nothing running
            out["idle_reached"] = idle_ok
            if not idle_ok:
                log("WARNING: a cancelled job is still running; the idle windows are not idle")
            for mode in modes:
                name = f"idle_job_status_{mode}"
                log(f"{name}: {clients} clients on GET /v1/jobs/{{id}} for <= {idle_duration} s")
                out["phases"][name] = asdict(Phase(name, server.url, headers, paths, clients, idle_duration,
                                                   max_requests, interval if mode == "paced" else 0.0,
                                                   server_pid=pid).run())
            for name, p in (("idle_health", ["/v1/health"]), ("idle_list", ["/v1/jobs?limit=20"])):
                out["phases"][name] = asdict(Phase(name, server.url, headers, p, clients, side_duration,
                                                   max_requests, server_pid=pid).run())
            mark("idle_done")
            out["queue_after"] = c.get("/v1/health").json().get("jobs")
    finally:
        server.stop()
        log_file = work / "server.log"
        out["server_log_errors"] = [line for line in log_file.read_text().splitlines()
                                    if "ERROR" in line or "Traceback" in line][:20] if log_file.exists() else []
        if tmp is not None:
            tmp.cleanup()
    out["seconds_total"] = round(time.perf_counter() - t_start, 1)
    out["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out["machine"]["other_processes_at_end"] = busy_processes()
    ph = out["phases"]
    out["ratios_busy_over_idle"] = {}
    for mode in modes:
        bs, idl = ph.get(f"busy_job_status_{mode}"), ph.get(f"idle_job_status_{mode}")
        if bs and idl:
            out["ratios_busy_over_idle"][mode] = {k: _ratio(bs[k], idl[k])
                                                  for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms", "rps")}
    return out


def table(res: dict) -> str:
    rows = ["| window | clients | s | requests | req/s | p50 ms | p90 ms | p99 ms | max ms | non-200 | 5xx | "
            "transport errors | server CPU s | client CPU s | other CPU s |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, s in res["phases"].items():
        rows.append(f"| {name} | {s['clients']} {s['mode']} | {s['seconds']:.1f} | {s['requests']} | {s['rps']} | "
                    f"{s['p50_ms']} | {s['p90_ms']} | {s['p99_ms']} | {s['max_ms']} | {s['non_200']} | "
                    f"{s['status_5xx']} | {s['transport_errors']} | {s['server_cpu_s']} | {s['client_cpu_s']} | "
                    f"{s['other_cpu_s']} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=50, help="concurrent poll clients (threads)")
    ap.add_argument("--jobs", type=int, default=10, help="LLM jobs submitted")
    ap.add_argument("--duration", type=float, default=60.0, help="cap on each busy window, seconds")
    ap.add_argument("--idle-duration", type=float, default=None, help="cap on each idle window (default: --duration)")
    ap.add_argument("--solo-duration", type=float, default=30.0, help="jobs with no poll load, seconds (0: skip)")
    ap.add_argument("--side-duration", type=float, default=5.0, help="health/list windows, seconds each")
    ap.add_argument("--max-requests", type=int, default=200_000, help="cap on requests per window")
    ap.add_argument("--modes", default="closed,paced", help="client modes: closed (no think time), paced")
    ap.add_argument("--interval", type=float, default=1.0, help="paced mode: seconds between one client's polls")
    ap.add_argument("--n-texts", type=int, default=30, help="texts per side in each job")
    ap.add_argument("--no-auth", action="store_true", help="run the server without API keys")
    ap.add_argument("--finish-wait", type=float, default=0.0,
                    help="after the busy windows, wait up to this long for a job to finish before cancelling")
    ap.add_argument("--concurrency", type=int, default=None, help="jobs the server runs at once "
                    "(HYPODISC_SERVICE_CONCURRENCY; default: the server's default, 1)")
    ap.add_argument("--n-threads", type=int, default=None, help="llama.cpp threads in the server "
                    "(HYPODISC_N_THREADS; default: the harness's 2)")
    ap.add_argument("--omp-wait-policy", choices=["active", "passive"], default=None,
                    help="OMP_WAIT_POLICY for the server (llama.cpp's OpenMP threads; default: unset)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "service_load.json")
    args = ap.parse_args(argv)
    env = {}
    if args.concurrency is not None:
        env["HYPODISC_SERVICE_CONCURRENCY"] = str(args.concurrency)
    if args.n_threads is not None:
        env["HYPODISC_N_THREADS"] = str(args.n_threads)
    if args.omp_wait_policy is not None:
        env["OMP_WAIT_POLICY"] = args.omp_wait_policy.upper()
    res = run_load(clients=args.clients, jobs=args.jobs, duration=args.duration, idle_duration=args.idle_duration,
                   solo_duration=args.solo_duration, side_duration=args.side_duration,
                   max_requests=args.max_requests, modes=tuple(m for m in args.modes.split(",") if m),
                   interval=args.interval, n_texts=args.n_texts, auth=not args.no_auth,
                   finish_wait=args.finish_wait, env=env)
    res["command"] = "python bench/service_load.py " + " ".join(argv if argv is not None else sys.argv[1:])
    res["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(table(res))
    print(f"solo (no poll load): {res.get('solo')}")
    for name, s in res["phases"].items():
        if "job_judgments_per_s" in s:
            print(f"{name}: job judgments/s {s['job_judgments_per_s']} ({s['job_judgments']} in {s['seconds']} s)")
    print(f"busy/idle ratios: {res['ratios_busy_over_idle']}")
    print(f"jobs: {res['jobs']['final_status']}, finished during the busy windows: "
          f"{res['jobs']['finished_during_busy_windows']}, job seconds: {res['jobs']['succeeded_seconds']}")
    print(f"load average start {res['machine'].get('loadavg_at_start')} end {res['machine'].get('loadavg_at_end')}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
