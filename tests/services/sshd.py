"""A private Debian OpenSSH sshd on a loopback port: generated host and client keys, internal-sftp, and one
chroot directory per customer (a local user per customer, each with a `Match User` block)."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.services.binaries import free_port, require

SSHD = "/usr/sbin/sshd"
CUSTOMERS = ("pimfeed_a", "pimfeed_b")


@dataclass
class SftpServer:
    root: Path
    port: int
    host_key_fingerprint: str
    client_key: Path
    config: Path
    log: Path
    pidfile: Path
    chroots: dict[str, Path] = field(default_factory=dict)
    proc: subprocess.Popen | None = None

    def upload_dir(self, user: str) -> Path:
        """Where a customer's files land (`/upload` inside their chroot)."""
        return self.chroots[user] / "upload"

    def sessions(self) -> list[int]:
        """Pids of every per-connection sshd process (monitor and session child) below the listener."""
        assert self.proc is not None
        found, todo = [], [self.proc.pid]
        while todo:
            out = subprocess.run(["pgrep", "-P", str(todo.pop())], capture_output=True, text=True).stdout
            kids = [int(p) for p in out.split()]
            found += kids
            todo += kids
        return found

    def drop_connections(self) -> int:
        pids = self.sessions()
        for pid in reversed(pids):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(pids)

    def start(self) -> None:
        self.proc = subprocess.Popen([SSHD, "-D", "-f", str(self.config), "-E", str(self.log)])
        _wait_listening(self.port, self.proc, self.log)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def _wait_listening(port: int, proc: subprocess.Popen, log: Path) -> None:
    import socket

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited: {log.read_text() if log.exists() else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)  # waiting for a server to come up, not a timing assumption in a test
    raise RuntimeError("sshd did not start listening")


def _ensure_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        made = subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name])
        if made.returncode not in (0, 9):  # 9: another pytest-xdist worker added it a moment ago
            raise RuntimeError(f"useradd {name} failed with exit code {made.returncode}")
    # "!" (useradd's default) reads as a locked account to sshd without PAM; "*" means "no password login".
    subprocess.run(["usermod", "-p", "*", name], check=True)


def _fingerprint(pub: Path) -> str:
    out = subprocess.run(["ssh-keygen", "-lf", str(pub), "-E", "sha256"], capture_output=True, text=True, check=True).stdout
    return out.split()[1]


@pytest.fixture(scope="session")
def sftp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SftpServer]:
    require(SSHD, "apt-get install -y openssh-server")
    if os.geteuid() != 0:
        pytest.skip("the sshd fixture creates one local user per customer and needs root")
    # sshd checks every component of a ChrootDirectory path: none may be writable by others, so not under
    # /tmp (mode 1777). The users must also read their authorized_keys, so not under pytest's 0700 tmp either.
    root = Path(tempfile.mkdtemp(prefix="pim-sshd-", dir="/srv" if os.path.isdir("/srv") else None))
    os.chmod(root, 0o755)
    Path("/run/sshd").mkdir(exist_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / "host_key")], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / "client_key")], check=True)
    keys = root / "authorized_keys"
    keys.mkdir()
    os.chmod(keys, 0o755)
    port = free_port()
    chroots: dict[str, Path] = {}
    blocks = []
    for user in CUSTOMERS:
        _ensure_user(user)
        shutil.copy(root / "client_key.pub", keys / user)
        os.chmod(keys / user, 0o644)
        chroot = root / "chroot" / user
        (chroot / "upload").mkdir(parents=True)
        os.chmod(root / "chroot", 0o755)
        os.chmod(chroot, 0o755)  # root-owned and not writable by others, as sshd's ChrootDirectory demands
        info = pwd.getpwnam(user)
        os.chown(chroot / "upload", info.pw_uid, info.pw_gid)
        chroots[user] = chroot
        blocks.append(f"Match User {user}\n  ChrootDirectory {chroot}\n  ForceCommand internal-sftp\n  AllowTcpForwarding no\n")
    config = root / "sshd_config"
    config.write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {root / 'host_key'}\nPidFile {root / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {keys}/%u\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        f"StrictModes no\nPermitRootLogin no\nSubsystem sftp internal-sftp\nLogLevel VERBOSE\n"
        f"AllowUsers {' '.join(CUSTOMERS)}\n" + "".join(blocks)
    )
    server = SftpServer(root, port, _fingerprint(root / "host_key.pub"), root / "client_key", config,
                        root / "sshd.log", root / "sshd.pid", chroots)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
