"""Round 36 (F1), feed operations: a `pim feeds deliver --due` tick that finds every due contract being sent by
another run exits 0 (a timer overlapping a long run is not a failure; an explicit deliver still exits 1); an SFTP
upload asks whether it is still wanted while the file goes up, so a large file stops soon after its contract is
deleted instead of being sent whole."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from sqlalchemy import insert
from typer.testing import CliRunner

import exporters.sftp as sftp_module
from exporters.sftp import SftpExporter
from pim.contracts import put_contracts
from pim.errors import DeliveryError
from pim.feed_schedule import claim, claims
from pim.protocols import Artifact
from pim.store import Store
from pim.store.store import JOB, now
from tests.feeds_data import contract, seed_catalog

NIGHTLY = "0 3 * * *"
BIG = 3 * 1024 * 1024  # ~100 of paramiko's 32 KiB chunks


# ---------------------------------------------------------------------------------------------- --due, all busy
def _due_tick(*args: str) -> Any:
    from pim.cli import _mount, app

    _mount()
    return CliRunner().invoke(app, ["feeds", "deliver", *args])


def _nightly(store: Store, holder: str) -> None:
    seed_catalog(store)
    put_contracts(store, [contract(code="nightly", format="jsonl", schedule=NIGHTLY)])
    assert claim(store, "nightly", holder)


def test_a_due_tick_overlapping_a_live_run_on_this_host_exits_0(store: Store, pim_env: Path) -> None:
    _nightly(store, f"{socket.gethostname()[:200]}:{os.getpid()}:r36")  # a live run: this very process
    tick = _due_tick("--due")
    assert tick.exit_code == 0, tick.output
    assert "skipped nightly: another run is sending it" in tick.output
    assert "every due contract is being sent by another run that is alive" in tick.output
    body = orjson.loads(_due_tick("--due", "--json").stdout)
    assert body["contracts"] == 0 and [s["contract"] for s in body["skipped"]] == ["nightly"]
    assert _due_tick("--contract", "nightly").exit_code == 1  # named, and not sent by this command: try later
    assert list(claims(store)) == ["nightly"]  # the other run's claim stays


def test_a_due_tick_overlapping_another_hosts_run_exits_0_while_it_sends_feeds(store: Store, pim_env: Path) -> None:
    _nightly(store, "timer-host:4242:r36")
    lost = _due_tick("--due", "--json")
    assert lost.exit_code == 1, lost.output  # nothing shows that run alive (a lost host?): still said (round 35)
    stamp = now()
    with store.begin() as conn:  # the run on timer-host sends a feed (in a pool process: its own pid)
        conn.execute(insert(JOB).values(kind="feed", source="weekly", status="running", counts={}, started_at=stamp,
                                        heartbeat_at=stamp, host="timer-host", pid=4343))
    assert _due_tick("--due", "--json").exit_code == 0


# ---------------------------------------------------------------------------------------------- SFTP per chunk
class _ChunkedSftp:
    """An SFTP session whose putfo sends 32 KiB chunks, calling back after each, as paramiko's does."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def putfo(self, fh: Any, path: str, callback: Any = None, confirm: bool = True) -> None:
        self.files[path] = b""
        total = os.fstat(fh.fileno()).st_size
        while chunk := fh.read(32768):
            self.files[path] += chunk
            if callback is not None:
                callback(len(self.files[path]), total)

    def posix_rename(self, a: str, b: str) -> None:
        self.files[b] = self.files.pop(a)

    def remove(self, path: str) -> None:
        if path not in self.files:
            raise FileNotFoundError(path)
        del self.files[path]

    def stat(self, path: str) -> None:
        return None

    def close(self) -> None:
        pass


def _big(tmp_path: Path) -> list[Artifact]:
    data = tmp_path / "big.csv"
    data.write_bytes(os.urandom(BIG))
    return [Artifact(data, "big.csv", "text/csv")]


def _stops_after_first_chunk(sent: list[int]) -> Any:
    """`wanted`: yes until a chunk was sent (the contract is deleted once the upload is under way)."""
    return lambda: not sent


def test_an_upload_stops_between_chunks_once_unwanted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sftp_module, "WANTED_EVERY", 0.0)
    server, sent = _ChunkedSftp(), []
    ex = SftpExporter(SimpleNamespace(host="h", port=22, remote_dir="/in"), retries=3, backoff=0,
                      progress=lambda done, total: sent.append(done), wanted=_stops_after_first_chunk(sent))
    ex._connect = lambda: SimpleNamespace(open_sftp_client=lambda: server, close=lambda: None)  # type: ignore[method-assign]
    with pytest.raises(DeliveryError) as err:
        ex.push(_big(tmp_path))
    assert ex.unwanted and not err.value.retryable and ex.attempts == 1
    assert max(sent) < BIG // 2  # stopped soon, not once the whole file was sent
    assert server.files == {}  # the `.part` is removed


def test_wanted_is_not_asked_at_every_chunk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sftp_module, "WANTED_EVERY", 1e9)  # no interval passes during the test
    asked: list[int] = []
    server = _ChunkedSftp()
    ex = SftpExporter(SimpleNamespace(host="h", port=22, remote_dir="/in"), retries=1, backoff=0,
                      wanted=lambda: asked.append(1) is None)
    ex._connect = lambda: SimpleNamespace(open_sftp_client=lambda: server, close=lambda: None)  # type: ignore[method-assign]
    assert ex.push(_big(tmp_path)) == ["sftp://h:22/in/big.csv"]
    assert len(asked) == 2  # before the upload and before its rename: not at each of its ~100 chunks
    assert len(server.files["/in/big.csv"]) == BIG


@pytest.mark.sshd
def test_a_real_upload_stops_mid_file_and_leaves_nothing(sftp_server: Any, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sftp_module, "WANTED_EVERY", 0.0)
    target = SimpleNamespace(host="127.0.0.1", port=sftp_server.port, user="pimfeed_a",
                             private_key=str(sftp_server.client_key),
                             host_key_fingerprint=sftp_server.host_key_fingerprint, remote_dir="/upload")
    sent: list[int] = []
    ex = SftpExporter(target, retries=2, backoff=0, progress=lambda done, total: sent.append(done),
                      wanted=_stops_after_first_chunk(sent))
    with pytest.raises(DeliveryError) as err:
        ex.push(_big(tmp_path))
    assert ex.unwanted and not err.value.retryable
    assert max(sent) < BIG // 2
    assert not [p.name for p in sftp_server.upload_dir("pimfeed_a").iterdir() if p.name.startswith("big.csv")]
