"""SFTP delivery (paramiko): key auth, the server's host key checked against the contract's pinned
fingerprint, each file uploaded as NAME.part and renamed into place (a customer never reads a half-written
file), retried with backoff when the connection drops. A sender may pass `wanted`, asked before each upload starts,
while it uploads (between chunks, at most every WANTED_EVERY seconds: a large file stops soon after its contract is
deleted, not once it is all sent) and before each file takes its name: when it says no (a feed whose contract was
deleted meanwhile), what the push uploaded is removed again, and the push is not retried, even when a removal fails
(the connection dropped): a retry would upload anew and know nothing of the first attempt's files, so the error
names those that may remain.

A publication of a renderer whose stale files are looked after (channels.framework.STALE_OUTPUTS; not a customer
feed, whose every file stays for the customer to fetch) then removes, over the same connection, the files its last
publication of the scope put in the folder and this one did not, as the manifest
`<remote_dir>/.published/<renderer>.<scope>.json` lists them (exporters.published): a file in no manifest is never
touched."""

from __future__ import annotations

import base64
import hashlib
import logging
import posixpath
import socket
import stat
import time
from collections.abc import Callable
from typing import Any

from exporters import published
from pim.errors import ConfigError, DeliveryError
from pim.protocols import Artifact, PublishContext

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
#: How often (seconds) `wanted` is asked while a file uploads: it may read the database (is the contract still
#: there?), so not at every 32 KiB chunk; read at call time.
WANTED_EVERY = 1.0


class _Unwanted(Exception):
    """Raised from the upload's chunk callback when `wanted` said no: stops paramiko's transfer mid-file. Not an
    OSError, so no retry takes it for a dropped connection."""


def fingerprint(key_bytes: bytes) -> str:
    """OpenSSH's SHA256 fingerprint, as `ssh-keygen -lf` prints it (no base64 padding)."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key_bytes).digest()).decode().rstrip("=")


def _same(a: str, b: str) -> bool:
    return a.rstrip("=") == b.rstrip("=")


class SftpExporter:
    """One target (pim.contracts.SftpTarget; without one, a push is a ConfigError). `retries` is how many
    connections a push tries in all (1: no retry; below 1 counts as 1, so a push always tries once: it named "0
    attempts" and no error before); `attempts` counts those the last push tried."""

    name = "sftp"

    def __init__(self, target: Any = None, *, retries: int = 4, backoff: float = 1.0, timeout: float = 15.0,
                 progress: Progress | None = None, wanted: Callable[[], bool] | None = None) -> None:
        self.target, self.retries, self.backoff, self.timeout = target, retries, backoff, timeout
        self.progress, self.wanted = progress, wanted
        self.attempts = 0
        self.unwanted = False  # the last push stopped because `wanted` said no
        self.left: list[str] = []  # remote paths the last push's withdrawal could not remove

    def push(self, artifacts: list[Artifact], ctx: PublishContext | None = None) -> list[str]:
        """Upload `artifacts`; `wanted` (when given) is asked before each upload, between its chunks (every
        WANTED_EVERY seconds) and before each `.part` is renamed into place: on False the `.part` and the files this
        push already put in place are removed, and a
        DeliveryError that is not retried says so (`unwanted` is then True; `left`, the ones that may remain)."""
        import paramiko

        if self.target is None:  # `pim publish --to sftp`: no setting names a server for a channel
            raise ConfigError("the SFTP exporter needs a target, and a channel publication names none",
                              hint="deliver to SFTP through a customer contract (delivery.sftp, `pim feeds deliver`), "
                                   "or publish with --to local or --to s3")

        last: Exception | None = None
        self.unwanted, self.left = False, []
        placed: list[str] = []  # every attempt's: a withdrawal removes what an earlier, dropped one put in place
        tries = max(1, self.retries)
        for attempt in range(1, tries + 1):
            self.attempts = attempt
            try:
                return self._push_once(artifacts, ctx, placed)
            except DeliveryError as exc:
                if not exc.retryable:
                    raise
                last = exc
            except (OSError, EOFError, paramiko.SSHException) as exc:
                last = exc
            if attempt < tries:
                time.sleep(self.backoff * 2 ** (attempt - 1))
        t = self.target
        said = f"{tries} attempt{'s' if tries != 1 else ''}"
        raise DeliveryError(f"SFTP delivery to {t.host}:{t.port} failed after {said}: {last}",
                            retryable=True, hint="the delivery log keeps the error; the watermark did not move, so the next run resends")

    def _push_once(self, artifacts: list[Artifact], ctx: PublishContext | None, placed: list[str]) -> list[str]:
        transport = self._connect()
        try:
            sftp = transport.open_sftp_client()
            assert sftp is not None
            out = []
            for art in artifacts:
                final = posixpath.join(self.target.remote_dir, art.name)
                part = final + ".part"
                if "/" in art.name:  # a publication's files sit in folders (google_merchant/feed….xml)
                    _mkdirs(sftp, posixpath.dirname(final))
                if self.wanted is not None and not self.wanted():
                    self._withdraw(sftp, placed)
                try:
                    with art.path.open("rb") as fh:
                        sftp.putfo(fh, part, callback=self._chunk_sent(), confirm=True)
                except _Unwanted:  # asked while the file went up: the `.part` goes too
                    self._withdraw(sftp, [part, *placed])
                if self.wanted is not None and not self.wanted():
                    self._withdraw(sftp, [part, *placed])
                sftp.posix_rename(part, final)
                placed.extend([] if final in placed else [final])
                out.append(f"sftp://{self.target.host}:{self.target.port}{final}")
            if artifacts:
                try:
                    self._clean(sftp, ctx, [a.name for a in artifacts])
                except (OSError, EOFError) as exc:  # the files are in place: not worth sending them again
                    log.warning("the files are up, but the ones the last publication put in %s and this one does "
                                "not could not be removed (the next publication tries again): %s",
                                self.target.remote_dir, exc)
            sftp.close()
            return out
        finally:
            transport.close()

    def _chunk_sent(self) -> Progress | None:
        """putfo's callback for one file: `progress`, and `wanted` asked at most every WANTED_EVERY seconds
        (_Unwanted stops the transfer when it says no)."""
        if self.wanted is None:
            return self.progress
        asked = time.monotonic()

        def sent(done: int, total: int) -> None:
            nonlocal asked
            if self.progress is not None:
                self.progress(done, total)
            if time.monotonic() - asked >= WANTED_EVERY:
                asked = time.monotonic()
                if not self.wanted():  # type: ignore[misc]
                    raise _Unwanted
        return sent

    def _withdraw(self, sftp: Any, paths: list[str]) -> None:
        """The caller no longer wants this push (a customer feed whose contract was deleted meanwhile): remove what
        it uploaded so far, so no half-delivered set stays behind, and stop without retrying. `unwanted` is set
        first, and a removal that fails (the connection dropped) stops nothing: a retry would upload again and know
        nothing of these files, so the error (and `left`) names those that may remain instead."""
        self.unwanted = True
        failed: list[tuple[str, BaseException]] = []
        for path in paths:
            try:
                sftp.remove(path)
            except FileNotFoundError:
                pass
            except Exception as exc:  # noqa: BLE001 - OSError, EOFError, SSHException: the file may still be there
                failed.append((path, exc))
        self.left = [path for path, _ in failed]
        t = self.target
        where = f"{t.host}:{t.port}{t.remote_dir}"
        if failed:
            log.warning("SFTP delivery to %s stopped (its sender no longer wants it), but %d file(s) it put there "
                        "could not be removed and may remain: %s (%s)", where, len(failed), ", ".join(self.left),
                        failed[0][1])
            raise DeliveryError(f"SFTP delivery to {where} stopped: its sender no longer wants it, but these files it "
                                f"put there could not be removed and may remain: {', '.join(self.left)} "
                                f"({failed[0][1]})", retryable=False,
                                hint=f"remove them from {t.host} by hand (sftp> rm PATH); the sender's log says why "
                                     "the delivery stopped (a feed whose contract was deleted is cancelled)")
        raise DeliveryError(f"SFTP delivery to {where} stopped: its sender no longer wants it (nothing it uploaded "
                            f"stays)", retryable=False,
                            hint="the sender's log says why (a feed whose contract was deleted is cancelled)")

    def _clean(self, sftp: Any, ctx: PublishContext | None, names: list[str]) -> list[str]:
        """Remove (or report) the files the last publication of this renderer and scope put here and this one,
        which wrote `names`, did not, and folders they leave empty; then replace the manifest (after the removals:
        a run cut off between them removes the rest next time)."""
        plan = published.stale_mode(ctx)
        if plan is None or ctx is None:
            return []
        renderer, mode = plan
        root = self.target.remote_dir
        manifest = posixpath.join(root, published.manifest_name(renderer, ctx.channel))
        gone = [n for n in published.stale(published.listed(_read(sftp, manifest)), names, mode)
                if _is_file(sftp, posixpath.join(root, n))]
        where = f"sftp://{self.target.host}:{self.target.port}{root}"
        if gone and mode == "remove":
            for name in gone:
                sftp.remove(posixpath.join(root, name))
                for folder in published.emptied_folders(name):
                    try:
                        sftp.rmdir(posixpath.join(root, folder))
                    except OSError:  # not empty: other files are there
                        break
            published.say_removed(log, renderer, ctx, gone, where)
        elif gone:
            published.report_indexes(ctx, gone, f"{where}/search")
        _mkdirs(sftp, posixpath.dirname(manifest))
        with sftp.open(manifest + ".part", "wb") as fh:
            fh.write(published.manifest(renderer, ctx, names, gone, mode))
        sftp.posix_rename(manifest + ".part", manifest)
        return gone

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


def _read(sftp: Any, path: str) -> bytes | None:
    try:
        with sftp.open(path, "rb") as fh:
            return fh.read()  # type: ignore[no-any-return]
    except FileNotFoundError:
        return None


def _is_file(sftp: Any, path: str) -> bool:
    try:
        return stat.S_ISREG(sftp.lstat(path).st_mode or 0)
    except FileNotFoundError:
        return False


def _mkdirs(sftp: Any, path: str) -> None:
    """`path` and its missing parents."""
    try:
        sftp.stat(path)
    except FileNotFoundError:
        _mkdirs(sftp, posixpath.dirname(path))
        sftp.mkdir(path)
