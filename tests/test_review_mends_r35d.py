"""Round 35 review mends (M4): pool children ignore SIGTERM (`systemctl stop` signals the whole unit), an SFTP
push its sender no longer wants is never retried even when a removal fails, an S3 manifest that is there but
may not be read is never replaced, and a claim's holder pid that a later process reuses is not the run."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from exporters.sftp import SftpExporter
from pim.errors import DeliveryError
from pim.protocols import Artifact
from tests.s3_double import FEEDS, MANIFEST, S3Bucket, publish_to

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------- 1. SIGTERM
GROUP_STOP = textwrap.dedent("""
    import os, signal, sys, time
    from pathlib import Path
    from pim.executor import make_executor

    def task(n):
        Path(f"started.{n}").touch()
        time.sleep(1.5)
        return n

    if __name__ == "__main__":
        os.setpgrp()  # a group of its own, as a service's cgroup
        asked = []
        signal.signal(signal.SIGTERM, lambda *_: asked.append(1))  # what pim worker's `ask` does
        with make_executor("process", 2) as pool:
            futs = [pool.submit(task, i) for i in range(2)]
            while not all(Path(f"started.{n}").exists() for n in range(2)):  # both children in their task
                time.sleep(0.05)
            os.killpg(os.getpgrp(), signal.SIGTERM)  # systemctl stop, KillMode=control-group
            print("results", [f.result() for f in futs], "asked", bool(asked), flush=True)
""")


def test_sigterm_to_the_whole_group_lets_the_pools_tasks_finish(tmp_path: Path) -> None:
    """`systemctl stop` sends SIGTERM to every process of the unit: the children ignore it, so the tasks under
    way finish and the parent, whose handler only asked to stop, gets their results (no BrokenProcessPool)."""
    script = tmp_path / "group_stop.py"
    script.write_text(GROUP_STOP)
    done = subprocess.run([sys.executable, str(script)], env={**os.environ, "PYTHONPATH": str(ROOT)},
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "results [0, 1] asked True" in done.stdout, done.stderr[-2000:]


# ---------------------------------------------------------------------------------------------- 2. SFTP withdraw
class _Server:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.uploads = 0
        self.drop_on_remove_of: str | None = None


class _FakeSftp:
    """An SFTP session on `_Server`; removing `drop_on_remove_of` fails as a dropped connection does."""

    def __init__(self, server: _Server) -> None:
        self.s = server

    def putfo(self, fh: Any, path: str, callback: Any = None, confirm: bool = True) -> None:
        self.s.uploads += 1
        self.s.files[path] = fh.read()

    def posix_rename(self, a: str, b: str) -> None:
        self.s.files[b] = self.s.files.pop(a)

    def remove(self, path: str) -> None:
        if path == self.s.drop_on_remove_of:
            raise OSError("Socket is closed")
        if path not in self.s.files:
            raise FileNotFoundError(path)
        del self.s.files[path]

    def stat(self, path: str) -> None:
        return None

    def close(self) -> None:
        pass


def _exporter(server: _Server, wanted: Any) -> SftpExporter:
    ex = SftpExporter(SimpleNamespace(host="h", port=22, remote_dir="/in"), retries=3, backoff=0, wanted=wanted)
    session = SimpleNamespace(open_sftp_client=lambda: _FakeSftp(server), close=lambda: None)
    ex._connect = lambda: session  # type: ignore[method-assign]
    return ex


def _artifacts(tmp_path: Path) -> list[Artifact]:
    data, manifest = tmp_path / "f.csv", tmp_path / "f.csv.manifest.json"
    data.write_text("sku;price\n")
    manifest.write_text("{}")
    return [Artifact(data, "f.csv", "text/csv"), Artifact(manifest, "f.csv.manifest.json", "application/json")]


def test_a_failed_removal_while_withdrawing_is_not_retried_and_names_what_may_remain(tmp_path: Path) -> None:
    """The contract goes once the data file has its name; removing that file then fails (the connection dropped).
    The push stops there, `unwanted` (the log says cancelled), without a second connection that would upload
    again; the error names the file that may remain."""
    server, answers = _Server(), iter([True, True, False])  # before f.csv, its rename, before the manifest
    server.drop_on_remove_of = "/in/f.csv"
    ex = _exporter(server, lambda: next(answers))
    with pytest.raises(DeliveryError) as err:
        ex.push(_artifacts(tmp_path))
    assert not err.value.retryable and ex.unwanted and ex.attempts == 1
    assert ex.left == ["/in/f.csv"] and "/in/f.csv" in str(err.value) and "may remain" in str(err.value)
    assert server.uploads == 1 and sorted(server.files) == ["/in/f.csv"]


def test_wanted_is_asked_before_an_upload_starts(tmp_path: Path) -> None:
    """A push its sender stopped wanting between two files uploads nothing more: the next file is not sent."""
    server, answers = _Server(), iter([True, True, False])
    ex = _exporter(server, lambda: next(answers))
    with pytest.raises(DeliveryError) as err:
        ex.push(_artifacts(tmp_path))
    assert ex.unwanted and not err.value.retryable and "nothing it uploaded stays" in str(err.value)
    assert server.uploads == 1 and server.files == {}


def test_a_withdrawal_removes_what_an_earlier_dropped_attempt_put_in_place(tmp_path: Path) -> None:
    """The first attempt put the data file in place and lost the connection uploading the manifest; the contract
    goes before the retry uploads anything: the first attempt's file is removed too."""
    server, answers = _Server(), iter([True, True, True, False])
    drops = iter([True])

    class Dropping(_FakeSftp):
        def putfo(self, fh: Any, path: str, callback: Any = None, confirm: bool = True) -> None:
            if path.endswith(".manifest.json.part") and next(drops, False):
                raise OSError("Socket is closed")
            super().putfo(fh, path, callback, confirm)

    ex = _exporter(server, lambda: next(answers))
    session = SimpleNamespace(open_sftp_client=lambda: Dropping(server), close=lambda: None)
    ex._connect = lambda: session  # type: ignore[method-assign]
    with pytest.raises(DeliveryError) as err:
        ex.push(_artifacts(tmp_path))
    assert ex.unwanted and ex.attempts == 2 and not err.value.retryable
    assert server.files == {}


# ---------------------------------------------------------------------------------------------- 3. S3 manifest
NEW = ["google_merchant/feed.ecommerce.DE-de_DE.xml"]


def test_a_manifest_that_is_there_but_may_not_be_read_is_kept_and_said(tmp_path: Path,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    """A 403 on the manifest while a listing shows no such key: none, written afresh. A 403 while a listing shows
    it: it is left as it is (nothing removed this time, a warning naming s3:GetObject and KMS), and once it may be
    read again the last publication's objects are cleaned. (Listing denied too: tests/test_review_mends_r35a.py.)"""
    bucket = S3Bucket()
    bucket.unreadable.add(MANIFEST)
    publish_to(bucket, tmp_path, 1, FEEDS)
    before = bucket.objects[MANIFEST]
    with caplog.at_level(logging.WARNING, logger="exporters.s3"):
        publish_to(bucket, tmp_path, 2, NEW)
    assert bucket.objects[MANIFEST] == before and all(f in bucket.objects for f in FEEDS)
    warned = " ".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)
    assert "s3:GetObject" in warned and "kms:Decrypt" in warned and MANIFEST in warned
    bucket.unreadable.clear()  # the permission is fixed
    publish_to(bucket, tmp_path, 3, NEW)
    assert sorted(bucket.objects) == [MANIFEST, *NEW]


# ---------------------------------------------------------------------------------------------- 4. claim pids
def _here(pid: int) -> str:
    return f"{socket.gethostname()[:200]}:{pid}:r35d"


@pytest.fixture
def later_process() -> Any:
    """A process started now: after a claim made a minute ago, so it cannot be that claim's run."""
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    proc.kill()
    proc.wait()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process start times come from /proc")
def test_a_pid_reused_after_the_claim_is_not_the_run(store: Any, later_process: Any) -> None:
    """A dead run whose pid now belongs to a process started after its claim: --release lets go of its claims
    rather than telling the operator to kill an unrelated process, and the next run takes a contract over."""
    from pim.feed_claims import release_run, take_over_dead
    from pim.feed_schedule import CLAIM_LEASE, claim, claims
    from pim.store.store import now

    dead = _here(later_process.pid)
    a_minute_ago = now() - timedelta(minutes=1)
    assert claim(store, "nightly", dead, at=a_minute_ago) and claim(store, "weekly", dead, at=a_minute_ago)
    assert take_over_dead(store, "weekly", _here(os.getpid()), lease=CLAIM_LEASE)
    done = release_run(store, dead)
    assert done["state"] == "dead" and done["released"] == ["nightly"]
    assert {c: h["holder"] for c, h in claims(store).items()} == {"weekly": _here(os.getpid())}


def test_a_live_run_is_refused_naming_its_pid_to_check(store: Any) -> None:
    """This process claimed just now: it is alive, and the refusal asks to check the pid is this run. Before it
    claims anything there is nothing to release, and nothing to refuse."""
    from pim.feed_claims import release_run
    from pim.feed_schedule import claim

    assert release_run(store, _here(os.getpid()))["released"] == []
    assert claim(store, "nightly", _here(os.getpid()))
    with pytest.raises(ValueError, match=f"pid {os.getpid()} is alive; check it is this run"):
        release_run(store, _here(os.getpid()))
