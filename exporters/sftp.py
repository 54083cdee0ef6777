"""SFTP delivery (paramiko): key auth, the server's host key checked against the contract's pinned
fingerprint, each file uploaded as NAME.part and renamed into place (a customer never reads a half-written
file), retried with backoff when the connection drops."""

from __future__ import annotations

import base64
import hashlib
import posixpath
import socket
import time
from collections.abc import Callable
from typing import Any

from pim.errors import DeliveryError
from pim.protocols import Artifact, PublishContext

Progress = Callable[[int, int], None]


def fingerprint(key_bytes: bytes) -> str:
    """OpenSSH's SHA256 fingerprint, as `ssh-keygen -lf` prints it (no base64 padding)."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key_bytes).digest()).decode().rstrip("=")


def _same(a: str, b: str) -> bool:
    return a.rstrip("=") == b.rstrip("=")


class SftpExporter:
    """One target (pim.contracts.SftpTarget). `attempts` counts connections tried by the last push."""

    name = "sftp"

    def __init__(self, target: Any, *, retries: int = 4, backoff: float = 1.0, timeout: float = 15.0,
                 progress: Progress | None = None) -> None:
        self.target, self.retries, self.backoff, self.timeout = target, retries, backoff, timeout
        self.progress = progress
        self.attempts = 0

    def push(self, artifacts: list[Artifact], ctx: PublishContext | None = None) -> list[str]:
        import paramiko

        last: Exception | None = None
        for attempt in range(1, self.retries + 1):
            self.attempts = attempt
            try:
                return self._push_once(artifacts)
            except DeliveryError as exc:
                if not exc.retryable:
                    raise
                last = exc
            except (OSError, EOFError, paramiko.SSHException) as exc:
                last = exc
            if attempt < self.retries:
                time.sleep(self.backoff * 2 ** (attempt - 1))
        t = self.target
        raise DeliveryError(f"SFTP delivery to {t.host}:{t.port} failed after {self.retries} attempts: {last}",
                            retryable=True, hint="the delivery log keeps the error; the watermark did not move, so the next run resends")

    def _push_once(self, artifacts: list[Artifact]) -> list[str]:
        transport = self._connect()
        try:
            sftp = transport.open_sftp_client()
            assert sftp is not None
            out = []
            for art in artifacts:
                final = posixpath.join(self.target.remote_dir, art.name)
                part = final + ".part"
                with art.path.open("rb") as fh:
                    sftp.putfo(fh, part, callback=self.progress, confirm=True)
                sftp.posix_rename(part, final)
                out.append(f"sftp://{self.target.host}:{self.target.port}{final}")
            sftp.close()
            return out
        finally:
            transport.close()

    def _connect(self) -> Any:
        import paramiko

        t = self.target
        try:
            sock = socket.create_connection((t.host, t.port), timeout=self.timeout)
        except OSError as exc:
            raise DeliveryError(f"cannot reach SFTP server {t.host}:{t.port}: {exc}", retryable=True) from exc
        transport = paramiko.Transport(sock)
        try:
            transport.start_client(timeout=self.timeout)
            seen = fingerprint(transport.get_remote_server_key().asbytes())
            if not _same(seen, t.host_key_fingerprint):
                raise DeliveryError(
                    f"host key of {t.host}:{t.port} is {seen}, but the contract pins {t.host_key_fingerprint}; refusing to deliver",
                    retryable=False,
                    hint="if the server's key really changed, check it out of band and update host_key_fingerprint")
            key = _load_key(str(t.private_key))
            transport.auth_publickey(t.user, key)
        except paramiko.AuthenticationException as exc:
            transport.close()
            raise DeliveryError(f"SFTP server {t.host}:{t.port} refused key {t.private_key} for user {t.user}: {exc}",
                                retryable=False, hint="install the public key for that user on the server") from exc
        except BaseException:
            transport.close()
            raise
        return transport


def _load_key(path: str) -> Any:
    import paramiko

    try:
        return paramiko.PKey.from_path(path)
    except (OSError, paramiko.SSHException) as exc:
        raise DeliveryError(f"cannot read private key {path}: {exc}", retryable=False,
                            hint="point private_key at an unencrypted OpenSSH private key") from exc
