"""Round-35 exploring mends (G2): a `pim worker` started on a database that takes no writes waits for it as long
as PIM_WORKER_READ_ONLY_WAIT says (it exited 4 at once, recording itself); `pim export jsonl|sheet` on a full
disk names the file's folder, leaves no `.part` and prints no garbage collector's tracebacks, and a missing
folder is a one-line error saying to create it."""

from __future__ import annotations

import errno
import gc
import logging
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from pim import job_queue
from pim.errors import StoreError
from pim.job_workers import WORKER
from pim.store import Store
from tests import read_only_db
from tests.disk_faults import fill_io_open, fill_path_open, pim_main
from tests.read_only_db import Disposals, read_only_wait
from tests.test_ops_r34 import READ_ONLY, _said

SQLITE = pytest.mark.backends("sqlite")
probe = read_only_db.probe  # the fixture: a queued job whose runner does nothing


# ---------------------------------------------------------------------------------------------- worker start
@pytest.mark.backends("postgresql")
def test_a_worker_started_on_a_read_only_database_waits_and_comes_up_once_it_takes_writes(
        store: Store, probe: int, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Recording the worker's row was its first write, outside the read-only wait: exit 4 at once."""
    read_only_wait(monkeypatch, "300")
    name = make_url(store.engine.url).database
    admin = create_engine(store.engine.url.set(database="postgres"), isolation_level="AUTOCOMMIT")

    def read_only(on: bool) -> None:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = {"on" if on else "off"}'))

    read_only(True)
    store.dispose()  # new connections read the setting
    tries = [0]
    real_begin = store.engine.begin

    def begin(*args: Any, **kwargs: Any) -> Any:
        tries[0] += 1
        if tries[0] == 3:  # refused twice: the database takes writes from now on
            read_only(False)
        return real_begin(*args, **kwargs)

    monkeypatch.setattr(store.engine, "begin", begin)
    try:
        with caplog.at_level(logging.WARNING, logger="pim.job_queue"):
            result = job_queue.work(store, idle_exit=0, poll=0.01)
    finally:
        read_only(False)
        admin.dispose()
    assert [(j["id"], j["status"]) for j in result.jobs] == [(probe, "succeeded")]
    said = [r.getMessage() for r in caplog.records if "could not record the worker" in r.getMessage()]
    assert said and "connecting anew each time" in said[0] and "PIM_WORKER_READ_ONLY_WAIT" in said[0]
    with store.engine.connect() as conn:
        assert [r.status for r in conn.execute(select(WORKER))] == ["stopped"]


@SQLITE
def test_a_worker_started_on_a_read_only_database_stops_after_the_wait_with_the_claim_loops_message(
        store: Store, probe: int, monkeypatch: pytest.MonkeyPatch) -> None:
    read_only_wait(monkeypatch, "0.05")

    def refused(*_args: Any, **_kwargs: Any) -> Any:
        raise _said(READ_ONLY)

    monkeypatch.setattr(store.engine, "begin", refused)
    disposed = Disposals(monkeypatch, store)
    with pytest.raises(StoreError) as raised:
        job_queue.work(store, idle_exit=0, poll=0.001)
    said = raised.value
    assert said.exit_code == 4 and "has taken no writes for" in str(said) and "so the worker stopped" in str(said)
    assert "point PIM_DATABASE_URL at the primary server" in (said.hint or "")
    assert disposed.calls >= 1  # each try connected anew


# ---------------------------------------------------------------------------------------------- export, disk
@pytest.fixture
def seeded(store: Store, pim_env: Path) -> Store:
    from tests.channel_data import seed_products

    seed_products(store)
    return store


@SQLITE
def test_export_jsonl_on_a_full_disk_names_the_files_folder_and_leaves_no_part(
        seeded: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "exports"
    target.mkdir()
    fill_path_open(monkeypatch, 100, lambda path: path.parent == target)
    code, _, err = pim_main(["export", "jsonl", str(target / "catalog.jsonl"), "--include-left-out"], monkeypatch,
                            capsys)
    assert code == 1, err
    assert err.startswith(f"error: could not use {target / 'catalog.jsonl'}: No space left on device (ENOSPC)\n")
    assert f"the disk holding {target} is full" in err and "PIM_OUTPUT (" not in err and "Traceback" not in err
    assert list(target.iterdir()) == []  # no .part files left taking the room


@SQLITE
@pytest.mark.parametrize("command", [["jsonl", "{out}.jsonl"], ["sheet", "--out", "{out}.xlsx"]],
                         ids=["jsonl", "sheet"])
def test_an_export_into_a_missing_folder_says_to_create_it(seeded: Store, tmp_path: Path, command: list[str],
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nodir"
    code, _, err = pim_main(["export", *(c.format(out=missing / "x") for c in command)], monkeypatch, capsys)
    assert code == 1, err
    assert err.startswith(f"error: could not write {missing}/x.") and f"its folder {missing} does not exist" in err
    assert f"create the folder (`mkdir -p {missing}`)" in err and "Traceback" not in err
    assert not missing.exists()


@SQLITE
def test_export_sheet_on_a_full_disk_says_so_once_without_the_collectors_tracebacks(
        seeded: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The zip openpyxl left open (and the sheet's lxml writers) failed again when collected: "Exception ignored
    in: ZipFile.__del__" and two lxml tracebacks after the message, which named PIM_OUTPUT and PIM_HOME."""
    ignored: list[Any] = []
    fill_io_open(monkeypatch, 600, lambda file: file.endswith(".xlsx.part"))  # zipfile opens its file with io.open
    monkeypatch.setattr(sys, "unraisablehook", ignored.append)
    out = tmp_path / "products.xlsx"
    code, _, err = pim_main(["export", "sheet", "--out", str(out)], monkeypatch, capsys)
    gc.collect()
    assert code == 1, err
    assert err.lstrip("\n").startswith(f"error: could not use {out}: No space left on device (ENOSPC)\n")
    assert f"the disk holding {tmp_path} is full" in err and "Traceback" not in err
    assert [repr(u.exc_value) for u in ignored] == []
    assert list(tmp_path.glob("products.xlsx*")) == []


def test_an_oserror_without_a_path_names_the_file_its_caller_was_writing(tmp_path: Path) -> None:
    from pim.io_errors import local_io_failure

    failure = local_io_failure(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), tmp_path / "a.jsonl")
    assert failure is not None and failure.file == str(tmp_path / "a.jsonl")
    assert str(tmp_path) in (failure.hint or "")
    named = local_io_failure(OSError(errno.EACCES, "Permission denied", "/elsewhere/b"), tmp_path / "a.jsonl")
    assert named is not None and named.file == "/elsewhere/b"  # the error's own path first
