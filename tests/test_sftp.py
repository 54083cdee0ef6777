"""SFTP delivery against a real Debian OpenSSH sshd: success, pinned host key, dropped connection + retry."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pim import delivery_log as log
from pim.errors import DeliveryError
from pim.feeds import deliver_contract
from tests.feeds_data import out_dir, put_prices, seed_catalog, store_contract

pytestmark = pytest.mark.sshd


def sftp_contract(store, server, *, user: str = "pimfeed_a", fingerprint: str | None = None, **over):
    delivery = {"sftp": {"host": "127.0.0.1", "port": server.port, "user": user, "private_key": str(server.client_key),
                         "host_key_fingerprint": fingerprint or server.host_key_fingerprint, "remote_dir": "/upload"}}
    return store_contract(store, customer=user, delivery=delivery, **over)


@pytest.fixture
def catalog(store):
    seed_catalog(store)
    put_prices(store, "pimfeed_a", [("T1", "1", "8.00")])
    return store


def test_feed_lands_in_the_customers_chroot_with_its_manifest(catalog, sftp_server, tmp_path: Path) -> None:
    c = sftp_contract(catalog, sftp_server, code="sftp-ok")
    result = deliver_contract(catalog, c.code, out_dir=out_dir(tmp_path), backoff=0.01)
    assert result.status == "delivered"
    upload = sftp_server.upload_dir("pimfeed_a")
    name = Path(result.file).name
    data = (upload / name).read_bytes()
    manifest = json.loads((upload / f"{name}.manifest.json").read_text())
    assert manifest["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["bytes"] == len(data) and manifest["rows"] == result.rows and manifest["contract"] == "sftp-ok"
    assert not list(upload.glob("*.part"))
    assert not list(sftp_server.upload_dir("pimfeed_b").iterdir())  # the other customer's chroot stays empty
    entry = log.deliveries(catalog, "sftp-ok")[0]
    assert entry["status"] == "delivered" and entry["checksum"] == manifest["sha256"] and entry["attempts"] == 1
    assert log.get_watermark(catalog, "sftp-ok") is not None


def test_changed_host_key_refuses_and_keeps_the_watermark(catalog, sftp_server, tmp_path: Path) -> None:
    pinned = "SHA256:" + "A" * 43
    c = sftp_contract(catalog, sftp_server, code="sftp-mitm", fingerprint=pinned)
    with pytest.raises(DeliveryError) as err:
        deliver_contract(catalog, c.code, out_dir=out_dir(tmp_path), backoff=0.01)
    assert "host key" in str(err.value) and sftp_server.host_key_fingerprint in str(err.value)
    assert err.value.retryable is False
    entry = log.deliveries(catalog, "sftp-mitm")[0]
    assert entry["status"] == "failed" and entry["attempts"] == 1 and "pins" in entry["error"]
    assert log.get_watermark(catalog, "sftp-mitm") is None
    assert not any(p.name.startswith("sftp-mitm") for p in sftp_server.upload_dir("pimfeed_a").iterdir())


def test_dropped_connection_mid_upload_is_retried_cleanly(catalog, sftp_server, tmp_path: Path) -> None:
    c = sftp_contract(catalog, sftp_server, code="sftp-drop")
    dropped: list[int] = []

    def kill_first_upload(done: int, total: int) -> None:
        if not dropped:
            dropped.append(sftp_server.drop_connections())

    result = deliver_contract(catalog, c.code, out_dir=out_dir(tmp_path), backoff=0.01, progress=kill_first_upload)
    assert dropped and dropped[0] >= 1
    assert result.status == "delivered"
    upload = sftp_server.upload_dir("pimfeed_a")
    name = Path(result.file).name
    assert hashlib.sha256((upload / name).read_bytes()).hexdigest() == json.loads((upload / f"{name}.manifest.json").read_text())["sha256"]
    assert not list(upload.glob("*.part"))
    entry = log.deliveries(catalog, "sftp-drop")[0]
    assert entry["status"] == "delivered" and entry["attempts"] >= 2


def test_unknown_key_for_user_is_a_clear_non_retryable_error(catalog, sftp_server, tmp_path: Path) -> None:
    c = sftp_contract(catalog, sftp_server, code="sftp-nouser", user="nobody_here")
    with pytest.raises(DeliveryError) as err:
        deliver_contract(catalog, c.code, out_dir=out_dir(tmp_path), backoff=0.01)
    assert "refused key" in str(err.value) and not err.value.retryable
