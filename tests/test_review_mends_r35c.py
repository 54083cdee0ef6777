"""Round 35 review mends (c): a contract deleted after its SFTP upload got the whole file, before the portal step.
The customer holds that file, so the delivery ends `delivered` there (off the portal, watermark advanced) and the
portal's log row says `cancelled`, contract deleted; the next delivery (the contract loaded again) carries the
next version, following it, instead of a second, different file claiming the same version."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

import pim.feeds as feeds
from pim import delivery_log as log
from pim.contracts import delete_contract
from pim.store import Store
from tests.feeds_data import out_dir, seed_catalog, store_contract

def _sftp_contract(store: Store, server: Any, code: str) -> None:
    delivery = {"portal": True, "sftp": {"host": "127.0.0.1", "port": server.port, "user": "pimfeed_a",
                                         "private_key": str(server.client_key),
                                         "host_key_fingerprint": server.host_key_fingerprint, "remote_dir": "/upload"}}
    store_contract(store, code=code, customer="pimfeed_a", delivery=delivery)


def _delete_after_upload(monkeypatch: pytest.MonkeyPatch, store: Store, code: str) -> None:
    """`pim feeds delete CODE --force` right after the SFTP step returns (the module delivering, wherever it is)."""
    delivery = sys.modules[feeds.deliver_contract.__module__]
    original = delivery._push_sftp

    def then_delete(*args: Any, **kwargs: Any) -> Any:
        out = original(*args, **kwargs)
        assert delete_contract(store, code, force=True)
        return out

    monkeypatch.setattr(delivery, "_push_sftp", then_delete)


def _remote_feeds(server: Any, code: str) -> list[str]:
    return sorted(p.name for p in server.upload_dir("pimfeed_a").iterdir()
                  if p.name.startswith(f"{code}-v") and p.name.endswith(".csv"))


@pytest.mark.sshd
def test_a_contract_deleted_after_its_upload_ends_delivered_over_sftp_and_off_the_portal(
        store: Store, sftp_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = f"mid-{secrets.token_hex(3)}"  # the SFTP server is the session's: a code of its own
    seed_catalog(store)
    _sftp_contract(store, sftp_server, code)
    _delete_after_upload(monkeypatch, store, code)
    result = feeds.deliver_contract(store, code, out_dir=out_dir(tmp_path), backoff=0.01)
    assert result.status == "delivered" and result.error is None
    assert [loc.startswith("sftp://") for loc in result.locations] == [True, True]  # the file and its manifest
    assert any(w.startswith("contract deleted") and "portal does not list it" in w for w in result.warnings)
    [recorded] = log.feed_files(store, contract=code)
    assert (recorded["status"], recorded["portal"]) == ("delivered", False)
    assert log.feed_files(store, portal_only=True) == []
    assert _remote_feeds(sftp_server, code) == [recorded["name"]]
    local = Path(recorded["path"])
    assert local.is_file() and local.with_name(local.name + ".manifest.json").is_file()  # kept, as it was delivered
    mark = log.get_watermark(store, code)
    assert mark is not None and mark.version == recorded["version"]
    rows = {r["target"].split(":")[0]: r for r in log.deliveries(store, code)}
    assert {t: r["status"] for t, r in rows.items()} == {"sftp": "delivered", "portal": "cancelled"}
    assert rows["portal"]["error"].startswith("contract deleted") and rows["portal"]["file_id"] == recorded["id"]


@pytest.mark.sshd
def test_the_next_delivery_after_that_follows_the_version_sftp_got(
        store: Store, sftp_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """R1's reproduction: the contract loaded again (as the message says), the next file must not claim the
    version the customer already holds."""
    code = f"mid-{secrets.token_hex(3)}"
    seed_catalog(store)
    _sftp_contract(store, sftp_server, code)
    _delete_after_upload(monkeypatch, store, code)
    feeds.deliver_contract(store, code, out_dir=out_dir(tmp_path), backoff=0.01)
    monkeypatch.undo()
    _sftp_contract(store, sftp_server, code)  # `pim feeds load` again
    second = feeds.deliver_contract(store, code, out_dir=out_dir(tmp_path), backoff=0.01)
    assert second.status == "delivered"
    names = _remote_feeds(sftp_server, code)
    assert len(names) == 2
    manifests = [orjson.loads((sftp_server.upload_dir("pimfeed_a") / f"{n}.manifest.json").read_bytes())
                 for n in names]
    versions = sorted((m["version"], m["previous_version"]) for m in manifests)
    assert versions[1] == (versions[0][0] + 1, versions[0][0]), f"the chain breaks: {versions} ({names})"
    newest, first = log.feed_files(store, contract=code)
    assert (first["status"], newest["status"]) == ("delivered", "delivered")
    assert newest["previous_version"] == first["version"] and newest["portal"]
