"""A private PostgreSQL server (Debian's binaries) in a temp dir, started once per test session."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.services.binaries import free_port, require


def find_bindir() -> str | None:
    """The newest Debian PostgreSQL server's bin folder, or None when none is installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return str(Path(found[-1]).parent) if found else None


def _bindir() -> str:
    path = f"{find_bindir() or '/usr/lib/postgresql/15/bin'}/pg_ctl"
    require(path, "apt-get install -y postgresql")
    return str(Path(path).parent)


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


class PostgresServer:
    def __init__(self, bindir: str, root: Path, port: int) -> None:
        self.bindir, self.root, self.port = bindir, root, port
        self.data = root / "data"

    def url(self, db: str = "postgres") -> str:
        user = "postgres" if os.geteuid() == 0 else os.environ.get("USER", "postgres")
        return f"postgresql+psycopg://{user}@127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        run = lambda args: subprocess.run(_as_postgres(args), check=True, capture_output=True)  # noqa: E731
        run([f"{self.bindir}/initdb", "-D", str(self.data), "-A", "trust", "-U",
             "postgres" if os.geteuid() == 0 else os.environ.get("USER", "postgres"), "--no-sync"])
        run([f"{self.bindir}/pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-t", "60", "start",
             "-o", f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"])

    def stop(self) -> None:
        subprocess.run(_as_postgres([f"{self.bindir}/pg_ctl", "-D", str(self.data), "-m", "immediate", "stop"]),
                       capture_output=True)


@contextmanager
def running_server(bindir: str, prefix: str = "pim-pg-") -> Iterator[PostgresServer]:
    """A private server in a temp folder (owned by `postgres` when run as root), stopped and removed after."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    server = PostgresServer(bindir, root, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with running_server(_bindir()) as server:
        yield server
