"""A real ``hypodisc serve`` process on a free loopback port, for the service tests and benchmarks.

Each server gets its own database (SQLite file or a PostgreSQL URL) and log file; it
can be killed hard (SIGKILL, as a crash) and started again over the same database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from conftest import HOME, HYPODISC, free_port


@dataclass
class Server:
    db_url: str
    log_path: Path
    auth: bool = False
    model: str = "smollm2-135m"
    env: dict = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> "Server":
        self.port = free_port()
        args = [HYPODISC, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--db", self.db_url,
                "--model", self.model, "--n-ctx", "2048", "--home", str(HOME)]
        if not self.auth:
            args.append("--no-auth")
        env = {**os.environ, "HYPODISC_N_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE", **self.env}
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd="/tmp", env=env,
                                     start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hypodisc serve exited with {self.proc.returncode}:\n{self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.url}/v1/health", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"hypodisc serve did not answer in {timeout} s:\n{self.log_path.read_text()}")
            time.sleep(0.3)

    def kill(self) -> None:
        """SIGKILL the whole process group: a crash, not a clean shutdown."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None


def create_key(db_url: str, name: str = "test") -> str:
    """A key made the way a user makes one: `hypodisc keys create`."""
    out = subprocess.run([HYPODISC, "keys", "create", "--name", name, "--db", db_url], capture_output=True,
                         text=True, timeout=60, cwd="/tmp", env={**os.environ})
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()
