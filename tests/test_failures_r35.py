"""Round 35, claims after failures and full disks. A `pim feeds deliver` killed mid-upload (or stopped by a
PostgreSQL restart it could not release its claims through) no longer blocks its contracts for two hours: the
next run on the host takes over a claim whose run's process is gone and marks that run's unfinished delivery
rows interrupted; a run that could claim nothing it was asked for exits 1 naming the run and `pim feeds claims
--release`. A publish on a full disk removes its staging and answers with one message (and a JSON document),
exit 1. `pim maintain --dry-run` says what it would delete, not that it deleted it.

The failures are made at known points: a child process holding the claims is killed (SIGKILL) once it says it is
uploading, the private PostgreSQL server is stopped while the child holds them, the disk fills on a write."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import update
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from pim import delivery_log as log
from pim.contracts import put_contracts
from pim.feed_schedule import DueRun, claim, claims
from pim.settings import reset_settings
from pim.store import Store
from pim.store.store import JOB
from tests.disk_faults import fill_path_open, pim_main
from tests.feeds_data import contract, put_prices, seed_catalog

ROOT = Path(__file__).resolve().parent.parent
NIGHTLY = "0 3 * * *"
DEAD_PID = 2**22 + 17  # no process has it
runner = CliRunner()


def _cli() -> Any:
    from pim.cli import _mount, app

    _mount()
    return app


def _here(pid: int) -> str:
    """A claim holder on this host, as pim.feed_schedule.new_holder names one."""
    return f"{socket.gethostname()[:200]}:{pid}:r35"


def _wait_for(path: Path, proc: subprocess.Popen, what: str) -> None:
    """Until the child wrote `path` (it reached the known point); fails at once when the child ended instead."""
    deadline = time.monotonic() + 120
    while not path.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the child ended (rc {proc.returncode}) before {what}: {out}{err}")
        if time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"the child never got to {what}: {out}{err[-3000:]}")
        time.sleep(0.05)


# A `pim feeds deliver --contract CODE` whose SFTP upload stops at its first byte: it says so in SIGNAL, then
# waits to be killed.
_STUCK_UPLOAD = """
import sys, time
from pathlib import Path
import exporters.sftp as sftp

SIGNAL = Path(sys.argv[1])

def push(self, artifacts, ctx=None):
    SIGNAL.write_text("uploading")
    time.sleep(600)

sftp.SftpExporter.push = push
from pim.cli import main
sys.argv = ["pim", "feeds", "deliver", "--contract", sys.argv[2]]
main()
"""


def _sftp_delivery(server: Any) -> dict[str, Any]:
    return {"sftp": {"host": "127.0.0.1", "port": server.port, "user": "pimfeed_a",
                     "private_key": str(server.client_key), "host_key_fingerprint": server.host_key_fingerprint,
                     "remote_dir": "/upload"}}


# ---------------------------------------------------------------------------------------------- kill -9
@pytest.mark.sshd
def test_a_deliver_killed_mid_upload_leaves_nothing_the_next_run_cannot_take_over(
        store: Store, pim_env: Path, sftp_server: Any, tmp_path: Path) -> None:
    seed_catalog(store)
    put_prices(store, "pimfeed_a", [("T1", "1", "8.00")])
    code = f"killed-{os.getpid()}-{store.dialect}"
    put_contracts(store, [contract(code=code, customer="pimfeed_a", format="jsonl", schedule=NIGHTLY,
                                   delivery=_sftp_delivery(sftp_server))])
    uploading = tmp_path / "uploading"
    child = subprocess.Popen([sys.executable, "-c", _STUCK_UPLOAD, str(uploading), code], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(uploading, child, "the upload")
        [held] = claims(store).values()
        assert held["holder"].split(":")[1] == str(child.pid)
        assert [r["status"] for r in log.deliveries(store, code)] == ["running"]
    finally:
        child.kill()
        child.communicate()
    # the next run: not "another run is sending it" for two hours, but the contract taken over and sent
    out = runner.invoke(_cli(), ["feeds", "deliver", "--due", "--json"])
    assert out.exit_code == 0, out.output
    body = orjson.loads(out.stdout)
    assert [(r["contract"], r["status"]) for r in body["results"]] == [(code, "delivered")], body
    assert body["skipped"] == []
    rows = log.deliveries(store, code)
    assert [r["status"] for r in rows] == ["delivered", "interrupted"]
    assert held["holder"] in rows[1]["error"] and rows[1]["finished"] is not None
    assert claims(store) == {}
    assert any(p.name.startswith(code) for p in sftp_server.upload_dir("pimfeed_a").iterdir())


# A DueRun that claims CODE, writes a running delivery row, says so in SIGNAL, then waits for GO before leaving
# its `with` block (the release) and exiting.
_HOLD_THEN_EXIT = """
import sys, time
from pathlib import Path
try:
    import pim.feed_claims
    pim.feed_claims.RELEASE_PAUSE = 0.01  # the retries of the release, quick
except ImportError:  # before round 35
    pass
from pim import delivery_log as log
from pim.feed_schedule import DueRun
from pim.store import Store

store = Store.from_settings(migrate_now=False)
with DueRun(store) as run:
    assert run.take_named([sys.argv[3]]) == [sys.argv[3]]
    log.log_start(store, contract=sys.argv[3], file_id=None, file="f.jsonl", target="sftp://x", checksum="c", rows=1)
    Path(sys.argv[1] + ".tmp").write_text(run.holder)
    Path(sys.argv[1] + ".tmp").rename(sys.argv[1])  # whole when the test sees it
    while not Path(sys.argv[2]).exists():
        time.sleep(0.05)
    store.engine.dispose()  # the pooled connection died with the server: the release needs a new one
print("left the with block")
"""


def _stop(server: Any) -> None:
    """Stop the private server as an operator's restart does (`-m fast`: what was committed stays; the fixture's
    `immediate` stop loses the last commits with synchronous_commit off)."""
    from tests.services.postgres import _as_postgres

    subprocess.run(_as_postgres([f"{server.bindir}/pg_ctl", "-D", str(server.data), "-m", "fast", "-w", "stop"]),
                   check=True, capture_output=True)


def _start_again(server: Any) -> None:
    """Start a stopped private server (tests.services.postgres) on its data folder, as it was started."""
    from tests.services.postgres import _as_postgres

    subprocess.run(_as_postgres([f"{server.bindir}/pg_ctl", "-D", str(server.data), "-l", str(server.root / "log"),
                                 "-w", "-t", "60", "start", "-o",
                                 f"-c listen_addresses=127.0.0.1 -p {server.port} -k {server.root} -c fsync=off"]),
                   check=True, capture_output=True)


@pytest.fixture
def private_postgres(pim_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Store]]:
    """A PostgreSQL server of this test's own (it is stopped and started again), migrated, with the catalog; the
    settings point at it."""
    from tests.services.postgres import _bindir, running_server

    with running_server(_bindir(), prefix="pim-pg-r35-") as server:
        url = server.url()
        monkeypatch.setenv("PIM_DATABASE_URL", url)
        reset_settings()
        store = Store.from_settings()
        seed_catalog(store)
        try:
            yield server, store
        finally:
            store.dispose()
            reset_settings()


@pytest.mark.postgres
@pytest.mark.backends("postgresql")
def test_claims_a_run_could_not_release_through_a_postgres_restart_are_taken_over(
        private_postgres: tuple[Any, Store], tmp_path: Path) -> None:
    server, store = private_postgres
    put_contracts(store, [contract(code="nightly", format="jsonl", schedule=NIGHTLY)])
    holding, go = tmp_path / "holding", tmp_path / "go"
    child = subprocess.Popen([sys.executable, "-c", _HOLD_THEN_EXIT, str(holding), str(go), "nightly"], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(holding, child, "the claim")
        holder = holding.read_text()
        store.engine.dispose()
        _stop(server)  # the database goes away while the run holds the claim
        go.write_text("go")
        out, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0 and "left the with block" in out, err  # the run's outcome stands: no traceback
    assert f"could not let go of the claims of run {holder}" in err and "pim feeds claims --release" in err
    _start_again(server)
    assert claims(store)["nightly"]["holder"] == holder  # the release never reached the database
    listed = orjson.loads(runner.invoke(_cli(), ["feeds", "claims", "--json"]).stdout)
    assert [(c["contract"], c["holder"], c["process"]) for c in listed] == [("nightly", holder, "dead")]
    out = runner.invoke(_cli(), ["feeds", "deliver", "--due", "--json"])
    assert out.exit_code == 0, out.output
    assert [(r["contract"], r["status"]) for r in orjson.loads(out.stdout)["results"]] == [("nightly", "delivered")]
    assert [r["status"] for r in log.deliveries(store, "nightly")][-1] == "interrupted"
    assert claims(store) == {}


def test_a_release_the_database_refuses_for_a_moment_is_tried_again(store: Store, pim_env: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import pim.feed_schedule as schedule

    try:
        import pim.feed_claims

        monkeypatch.setattr(pim.feed_claims, "RELEASE_PAUSE", 0.0)
    except ImportError:  # before round 35
        pass
    real, calls = schedule.release, []

    def restarting(*args: Any, **kwargs: Any) -> None:
        calls.append(args)
        if len(calls) < 3:
            raise OperationalError("DELETE", {}, Exception("the database system is shutting down"))
        real(*args, **kwargs)

    monkeypatch.setattr(schedule, "release", restarting)
    with DueRun(store) as run:
        assert run.take_named(["nightly-a", "nightly-b"]) == ["nightly-a", "nightly-b"]
    assert len(calls) == 3 and claims(store) == {}


# ---------------------------------------------------------------------------------------------- who may take over
def _running_feed_job(store: Store, contract: str, pid: int) -> int:
    job_id = store.start_job("feed", contract)
    with store.begin() as conn:
        conn.execute(update(JOB).where(JOB.c.id == job_id).values(pid=pid, host=socket.gethostname()[:255]))
    return job_id


def test_a_live_run_or_a_live_feed_job_keeps_its_claim(store: Store, pim_env: Path) -> None:
    """Only a dead process is taken over: a run alive on this host keeps its claim, and so does a dead run one of
    whose pool workers is still uploading the contract (its feed job's process is alive)."""
    seed_catalog(store)
    put_contracts(store, [contract(code="alive", format="jsonl"), contract(code="child-uploads", format="jsonl")])
    assert claim(store, "alive", _here(os.getpid()))
    assert claim(store, "child-uploads", _here(DEAD_PID))
    _running_feed_job(store, "child-uploads", os.getpid())
    lid = log.log_start(store, contract="child-uploads", file_id=None, file="f", target="t", checksum="c", rows=1)
    out = runner.invoke(_cli(), ["feeds", "deliver", "--json"])
    assert out.exit_code == 1, out.output  # nothing it was asked for could be claimed
    body = orjson.loads(out.stdout)
    assert body["results"] == [] and [s["contract"] for s in body["skipped"]] == ["alive", "child-uploads"]
    assert {c: h["holder"] for c, h in claims(store).items()} == {"alive": _here(os.getpid()),
                                                                  "child-uploads": _here(DEAD_PID)}
    assert [r["status"] for r in log.deliveries(store) if r["id"] == lid] == ["running"]


def test_a_run_that_could_claim_nothing_it_was_asked_for_exits_1_and_says_how_to_release(
        store: Store, pim_env: Path) -> None:
    seed_catalog(store)
    put_contracts(store, [contract(code="nightly-a", format="jsonl", schedule=NIGHTLY),
                          contract(code="nightly-b", format="jsonl", schedule=NIGHTLY)])
    for code in ("nightly-a", "nightly-b"):
        assert claim(store, code, "lost-host:4242:run")  # another host's run: its lease, or --release
    out = runner.invoke(_cli(), ["feeds", "deliver", "--due", "--json"])
    assert out.exit_code == 1, out.output
    body = orjson.loads(out.stdout)
    assert body["results"] == [] and [s["contract"] for s in body["skipped"]] == ["nightly-a", "nightly-b"]
    assert all("`pim feeds claims --release lost-host:4242:run`" in s["reason"] for s in body["skipped"])
    every = runner.invoke(_cli(), ["feeds", "deliver"])
    assert every.exit_code == 1 and "pim feeds claims --release lost-host:4242:run" in every.output


def test_pim_feeds_claims_release_frees_a_lost_hosts_run_and_refuses_a_live_one(store: Store, pim_env: Path) -> None:
    seed_catalog(store)
    put_contracts(store, [contract(code="nightly", format="jsonl", schedule=NIGHTLY)])
    assert claim(store, "nightly", "lost-host:4242:run")
    lid = log.log_start(store, contract="nightly", file_id=None, file="f", target="t", checksum="c", rows=1)
    assert claim(store, "other", _here(os.getpid()))
    live = runner.invoke(_cli(), ["feeds", "claims", "--release", _here(os.getpid())])
    assert live.exit_code == 2 and "is alive" in live.output
    unknown = runner.invoke(_cli(), ["feeds", "claims", "--release", "nobody:1:x"])
    assert unknown.exit_code == 2 and "lost-host:4242:run" in unknown.output
    done = runner.invoke(_cli(), ["feeds", "claims", "--release", "lost-host:4242:run", "--json"])
    assert done.exit_code == 0, done.output
    assert orjson.loads(done.stdout) | {"state": None} == {"holder": "lost-host:4242:run", "state": None,
                                                           "released": ["nightly"], "interrupted_rows": 1}
    assert [r["status"] for r in log.deliveries(store) if r["id"] == lid] == ["interrupted"]
    assert list(claims(store)) == ["other"]
    out = runner.invoke(_cli(), ["feeds", "deliver", "--due", "--json"])
    assert out.exit_code == 0 and orjson.loads(out.stdout)["results"][0]["status"] == "delivered", out.output


# ---------------------------------------------------------------------------------------------- full disk
@pytest.fixture
def published(store: Store, pim_env: Path) -> Path:
    from tests.channel_data import seed_products

    seed_products(store)
    first = runner.invoke(_cli(), ["publish", "--channel", "storefront", "--scope", "ecommerce", "--json"])
    assert first.exit_code == 0, first.output
    return pim_env / "out"


@pytest.mark.backends("sqlite")
def test_a_publish_on_a_full_disk_says_so_in_one_message_and_leaves_no_staging(
        published: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    before = (published / "storefront" / "catalog.ecommerce.en_US.json").read_bytes()
    real_open = fill_path_open(monkeypatch, 200, lambda path: ".staging" in path.parts)
    code, out, err = pim_main(["publish", "--channel", "storefront", "--scope", "ecommerce", "--json"], monkeypatch,
                              capsys)
    assert code == 1, err
    body = orjson.loads(out)
    assert body["exit_code"] == 1 and "No space left on device (ENOSPC)" in body["error"]
    assert str(published) in body["error"] and "free space" in body["error"]
    assert err.startswith(f"error: could not use {published}: No space left on device (ENOSPC)\n")
    assert len(err.strip().splitlines()) == 2 and "Traceback" not in err  # the message and what to do
    assert not list((published / ".staging").glob("job-*"))  # the next publish has the room back
    assert (published / "storefront" / "catalog.ecommerce.en_US.json").read_bytes() == before
    monkeypatch.setattr(Path, "open", real_open)
    again = runner.invoke(_cli(), ["publish", "--channel", "storefront", "--scope", "ecommerce", "--json"])
    assert again.exit_code == 0, again.output


@pytest.mark.backends("sqlite")
def test_an_output_folder_it_may_not_write_is_named_with_what_to_do(
        published: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    real_mkdir = Path.mkdir

    def refused(self: Path, *args: Any, **kwargs: Any) -> None:
        if ".staging" in self.parts:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refused)
    code, _, err = pim_main(["publish", "--channel", "storefront", "--scope", "ecommerce"], monkeypatch, capsys)
    assert code == 1, err
    assert f"error: could not use {published}/.staging/job-" in err and "Traceback" not in err
    assert "Permission denied (EACCES)" in err and "give it access to" in err


@pytest.mark.backends("sqlite")
def test_a_publish_failing_for_any_reason_removes_what_it_rendered(
        published: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from exporters.local import LocalExporter
    from pim.pipeline import publish

    def lost(self: Any, artifacts: Any, ctx: Any) -> list[str]:
        assert (published / ".staging" / f"job-{ctx.job_id}").is_dir()  # rendered, not yet out
        raise RuntimeError("the target went away")

    monkeypatch.setattr(LocalExporter, "push", lost)
    with pytest.raises(RuntimeError):
        publish(store, published, channel="storefront", scope="ecommerce")
    assert not list((published / ".staging").glob("job-*"))
    assert next(j["status"] for j in store.jobs("publish")) == "failed"


# ---------------------------------------------------------------------------------------------- maintain
@pytest.mark.backends("sqlite")
def test_pim_maintain_dry_run_says_what_it_would_delete_not_that_it_deleted(store: Store, pim_env: Path) -> None:
    stale = pim_env / "out" / ".staging" / "job-999"  # no such job: a killed publication's leftovers
    stale.mkdir(parents=True)
    (stale / "catalog.json").write_bytes(b"x" * 100)
    dry = runner.invoke(_cli(), ["maintain", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    body = orjson.loads(dry.stdout)
    assert body["dry_run"] is True
    assert body["staging"] | {"status": None} == {"status": None, "deleted": 0, "would_delete": 1, "bytes": 100,
                                                  "dirs": ["job-999"]}
    assert stale.is_dir()
    text = runner.invoke(_cli(), ["maintain", "--dry-run"])
    assert "staging: would delete 1 dir(s)" in text.output
    done = orjson.loads(runner.invoke(_cli(), ["maintain", "--json"]).stdout)
    assert (done["staging"]["deleted"], "would_delete" in done["staging"]) == (1, False) and not stale.exists()
