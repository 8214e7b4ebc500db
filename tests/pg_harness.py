"""A real PostgreSQL server for the tests: initdb in a temporary folder, loopback only, trust auth.

Use the session fixtures by importing them into a test module (pytest only auto-loads
``conftest.py``; ``tests/`` is on the import path)::

    from pg_harness import postgres_server, postgres_url  # noqa: F401

``postgres_url`` is a SQLAlchemy URL (``postgresql+psycopg://postgres@127.0.0.1:PORT/hypodisc``);
``postgres_server`` can also make and drop fresh databases so each test starts empty.
When the binaries are missing or the server cannot start, the tests that need it are
skipped with the reason (and the tail of the server log).

PostgreSQL refuses to run as root, so as root the server runs as the ``postgres``
system user (``runuser``); otherwise as the current user.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import free_port

DB_NAME = "hypodisc"


def find_bin_dir() -> Path | None:
    """The newest PostgreSQL bin folder holding initdb and pg_ctl (Debian layout first, then PATH)."""

    def version(p: str) -> tuple:
        m = re.search(r"postgresql/(\d+)(?:\.(\d+))?/", p)
        return (int(m.group(1)), int(m.group(2) or 0)) if m else (0, 0)

    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin/"), key=version, reverse=True):
        if (Path(d) / "initdb").exists() and (Path(d) / "pg_ctl").exists():
            return Path(d)
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl and Path(initdb).parent == Path(pg_ctl).parent:
        return Path(initdb).parent
    return None


def _tail(path: Path, n: int = 12) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


@dataclass
class PgServer:
    bin_dir: Path
    root: Path  # the temporary folder: data/, the socket and the log
    port: int
    run_as: list[str]  # [] or ["runuser", "-u", "postgres", "--"]

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def url(self, dbname: str = DB_NAME) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                             autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql)

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        name = name or f"t_{uuid.uuid4().hex[:16]}"
        self._admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url_or_name: str) -> None:
        name = url_or_name.rsplit("/", 1)[-1]
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([*self.run_as, *args], capture_output=True, text=True, timeout=timeout, cwd=self.root)

    def init(self) -> None:
        out = self._run(str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                        "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
        if out.returncode != 0:
            raise RuntimeError(f"initdb failed ({out.returncode}):\n{(out.stdout + out.stderr)[-3000:]}")

    def start(self) -> None:
        # Throwaway data: durability off makes the tests faster; many connections because every
        # JobStore keeps a pool.
        opts = (f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.root} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300")
        out = self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                        "-o", opts, "start")
        if out.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed ({out.returncode}): {(out.stdout + out.stderr)[-2000:]}\n"
                               f"server log tail:\n{_tail(self.log)}")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")


def start_server() -> PgServer:
    """Start a throwaway server with a database named ``hypodisc``; raises RuntimeError with the reason."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise RuntimeError("no PostgreSQL binaries (initdb, pg_ctl) under /usr/lib/postgresql/*/bin or on PATH; "
                           "install the postgresql package")
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise RuntimeError(f"psycopg (3) is not installed: {exc}") from None
    run_as: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="hypodisc-pg-"))
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root, ignore_errors=True)
            raise RuntimeError("running as root and there is no `postgres` system user to run the server as "
                               "(PostgreSQL refuses to run as root)") from None
        runuser = shutil.which("runuser")
        if runuser is None:
            shutil.rmtree(root, ignore_errors=True)
            raise RuntimeError("running as root and `runuser` is missing, so the server cannot run as `postgres`")
        run_as = [runuser, "-u", "postgres", "--"]
        os.chown(root, pw.pw_uid, pw.pw_gid)
        os.chmod(root, 0o700)
        # The parents must be traversable by postgres (mkdtemp's parent is normally /tmp, 1777).
        for parent in root.parents:
            if not os.stat(parent).st_mode & 0o001:
                shutil.rmtree(root, ignore_errors=True)
                raise RuntimeError(f"{parent} is not traversable by other users, so `postgres` cannot reach {root}; "
                                   "set TMPDIR to a world-traversable folder")
    server = PgServer(bin_dir=bin_dir, root=root, port=0, run_as=run_as)
    try:
        server.init()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(str(exc)) from None
    last = ""
    for _ in range(3):  # the free port can be taken between finding it and binding it
        server.port = free_port()
        try:
            server.start()
            server._admin(f'CREATE DATABASE "{DB_NAME}"')
            return server
        except Exception as exc:  # noqa: BLE001 - any failure is retried, then reported
            last = f"{type(exc).__name__}: {exc}"
            server.stop()
    shutil.rmtree(root, ignore_errors=True)
    raise RuntimeError(last)


@pytest.fixture(scope="session")
def postgres_server():
    try:
        server = start_server()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"PostgreSQL test server unavailable: {exc}")
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(postgres_server) -> str:
    """SQLAlchemy URL of a database on a real, throwaway PostgreSQL server."""
    return postgres_server.url()
