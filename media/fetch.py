"""Read the bytes behind a ref: a local path (importers, uploads) or an HTTP(S) URL (supplier and ERP data).
URLs are fetched with a timeout, a size cap and a redirect limit; any failure is a `FetchFailed`.

A ref is typed by editors and suppliers, but read by the server: a local ref is read only inside the media
roots (`media_roots`), and a URL only from a public address (`public_address`), so an image value can neither
read the server's own files (/proc/self/environ, ../../etc/passwd) nor reach its internal services
(127.0.0.1, 169.254.169.254). Both are checked here, at the read, whichever way the ref came in; and the
file opened is the one checked (`_folder_of`), and so is the address connected to, unless a proxy connects
(`_connect_to`)."""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from media.errors import BaseFolderMissing, FetchFailed, RefRefused
from media.settings import FetchLimits


def is_url(ref: str) -> bool:
    return ref.startswith(("http://", "https://"))


def read_ref(ref: str, *, base_dir: Path | None = None, limits: FetchLimits = FetchLimits()) -> bytes:
    if is_url(ref):
        return fetch_url(ref, limits)
    return read_path(ref, base_dir=base_dir, max_bytes=limits.max_bytes)


def read_path(ref: str, *, base_dir: Path | None = None, max_bytes: int) -> bytes:
    return read_file(ref, base_dir=base_dir, max_bytes=max_bytes)[0]


#: A file modified this recently may change again within the filesystem's timestamp granularity (2 s on FAT)
#: without its validator changing: it gets none, so the next refresh reads it again (git's "racy clean" rule).
SETTLE_NS = 2_000_000_000


def read_file(ref: str, *, base_dir: Path | None = None, max_bytes: int) -> tuple[bytes, str | None]:
    """The file's bytes and its validator (see `file_validator`), None when the file changed while it was read
    or was modified too recently to be trusted."""
    path = local_path(ref, base_dir)
    try:  # the checked path itself, walked folder by folder: a symlink swapped in anywhere since is refused (ELOOP)
        with open(path, "rb", opener=_open_walked) as handle:
            before = os.fstat(handle.fileno())
            if not stat.S_ISREG(before.st_mode) and not stat.S_ISDIR(before.st_mode):
                raise FetchFailed("is not a regular file (a device, pipe or socket)", file=ref)
            if before.st_size > max_bytes:
                raise FetchFailed(f"{before.st_size} bytes, more than the {max_bytes}-byte cap", file=ref)
            data = handle.read(max_bytes + 1)
            if len(data) > max_bytes:
                raise FetchFailed(f"more than the {max_bytes}-byte cap (the file grew while read)", file=ref)
            after = os.fstat(handle.fileno())
    except FileNotFoundError as exc:
        raise FetchFailed("file not found", file=ref,
                          hint="relative paths are read from --base (the folder the import came from)") from exc
    except IsADirectoryError as exc:
        raise FetchFailed("is a folder, not an image file", file=ref) from exc
    except PermissionError as exc:
        raise FetchFailed("permission denied", file=ref) from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _symlink_on_path(ref) from exc
        raise FetchFailed(f"cannot read: {exc.strerror}", file=ref) from exc
    validator = _validator(before)
    settled = time.time_ns() - before.st_mtime_ns >= SETTLE_NS
    return data, validator if settled and validator == _validator(after) else None


def file_validator(ref: str, *, base_dir: Path | None = None) -> str | None:
    """What identifies a local file's bytes without reading them: size, modification time (ns), inode (a
    file replaced by another, or a relative path read from another --base, is another inode) and change time
    (ns: no program can set it, so an edit that puts the old modification time back, `touch -r`, still
    shows). Kept in `asset_origin.etag` like an HTTP ETag; None when the path is not a readable regular file."""
    try:
        info = _stat_walked(str(local_path(ref, base_dir)))
    except (OSError, ValueError, FetchFailed):
        return None
    return _validator(info) if stat.S_ISREG(info.st_mode) else None


def _validator(info: os.stat_result) -> str:
    return f"file:{info.st_size}:{info.st_mtime_ns}:{info.st_ino}:{info.st_ctime_ns}"


#: Whether a path can be opened folder by folder without following symlinks (openat with O_NOFOLLOW: Linux,
#: the BSDs). Elsewhere the real path is opened in one call, only its last part not followed: a folder swapped
#: for a symlink between the roots check and the open is followed there (docs/media.md, rough edges).
_WALKS = (hasattr(os, "O_NOFOLLOW") and hasattr(os, "O_DIRECTORY") and os.open in os.supports_dir_fd
          and os.stat in os.supports_dir_fd)
#: How a folder on the way is opened: O_PATH (Linux) needs only the search permission a path lookup needs.
_FOLDER = getattr(os, "O_PATH", os.O_RDONLY) | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)


def _open_walked(path: str, flags: int) -> int:
    """Open a real path (`local_path`'s answer) following no symlink on it, nor waiting on a pipe (refused
    after, as no file)."""
    flags |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    if not _WALKS:
        return os.open(path, flags)
    with _folder_of(path) as (folder, name):
        return os.open(name, flags, dir_fd=folder)


def _stat_walked(path: str) -> os.stat_result:
    """A real path's status, reached as `_open_walked` reaches it (a symlink on it: its own status, or ELOOP)."""
    if not _WALKS:
        return os.stat(path, follow_symlinks=False)
    with _folder_of(path) as (folder, name):
        return os.stat(name, dir_fd=folder, follow_symlinks=False)


@contextmanager
def _folder_of(path: str) -> Iterator[tuple[int, str]]:
    """The open folder holding a real path's last part, and that part's name, reached from `/` one folder at a
    time through none that is a symlink. `local_path` checked the path with every symlink resolved, so a
    symlink on it now was swapped in since (or leads nowhere): ELOOP, never followed out of the media roots."""
    *folders, name = os.fspath(path).split(os.sep)[1:]
    fd = os.open(os.sep, _FOLDER)
    try:
        for part in folders:
            try:
                step = os.open(part, _FOLDER, dir_fd=fd)
            except OSError as exc:  # O_DIRECTORY | O_NOFOLLOW on a symlink: ENOTDIR on Linux, ELOOP elsewhere
                if exc.errno in (errno.ENOTDIR, errno.ELOOP) and _is_symlink(part, fd):
                    raise OSError(errno.ELOOP, "a folder on the path is a symlink", path) from exc
                raise
            os.close(fd)
            fd = step
        yield fd, name
    finally:
        os.close(fd)


def _is_symlink(name: str, folder: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode)
    except OSError:
        return False


def local_path(ref: str, base_dir: Path | None = None) -> Path:
    """The real path a local ref names (a `file://` URL is a path too; relative to `base_dir`; symlinks
    followed). FetchFailed, before anything is read, unless it is inside the media roots; BaseFolderMissing for
    a relative ref without `base_dir` (never read from the current folder: a server or cron job started in a
    folder holding other files would serve them)."""
    path = Path(ref.removeprefix("file://"))
    if not path.is_absolute() and base_dir is None:
        raise BaseFolderMissing("is a relative path and no --base folder was given to read it from: skipped",
                                file=ref, hint="pass --base DIR, the folder the import came from (relative "
                                "image refs are read from there, never from the current folder)")
    joined = base_dir / path if not path.is_absolute() and base_dir is not None else path
    try:
        real = os.path.realpath(joined)
    except (OSError, ValueError) as exc:  # a NUL byte
        raise FetchFailed(f"is not a readable file path ({exc})", file=ref) from exc
    roots, home = media_roots(base_dir)
    holding = [root for root in roots if _under(real, root)]
    if not holding or any(_under(real, system) for system in _SYSTEM):
        raise _outside(ref, base_dir)
    # PIM_HOME (database, uploads, asset store) only through a root inside it, e.g. the demo's catalog folder
    if _under(real, home) and not any(_under(root, home) and root != home for root in holding):
        raise RefRefused("is inside PIM_HOME (the database, uploads, asset store), which is read only through a "
                         "media root inside it: not read", file=ref,
                         hint="keep images outside PIM_HOME, or pass a --base folder inside it")
    return Path(real)


def _under(path: str, folder: str) -> bool:
    """Whether a real path is `folder` or inside it (strings: this runs once per ref, pathlib is slower)."""
    return path == folder or path.startswith(folder if folder.endswith(os.sep) else folder + os.sep)


def media_roots(base_dir: Path | None) -> tuple[tuple[str, ...], str]:
    """The folders local refs may be read from, real paths: the --base folder, if any (the current folder is
    none), and PIM_MEDIA_ROOTS; and PIM_HOME's real path."""
    from pim.settings import get_settings

    settings = get_settings()
    base = (str(base_dir),) if base_dir is not None else ()
    return _real_roots(base, os.getcwd(), tuple(str(p) for p in settings.media_roots), str(settings.home))


#: Never a media root, never read through one: the file system's root (a cron job or systemd unit runs `pim media
#: ingest` in `/`, which made every path "inside the current folder") and the kernel's pseudo-file systems.
_SYSTEM = ("/proc", "/sys", "/dev")


@lru_cache(maxsize=64)
def _real_roots(base: tuple[str, ...], cwd: str, extra: tuple[str, ...], home: str) -> tuple[tuple[str, ...], str]:
    """Resolved once per process and setting (`cwd` is in the key: relative roots are read from it), not per ref.
    The file system's root and the _SYSTEM folders are left out (a root there would open every file)."""
    real = (os.path.realpath(os.path.join(cwd, p)) for p in (*base, *extra))
    return (tuple(r for r in real if r != os.sep and not any(_under(r, s) for s in _SYSTEM)),
            os.path.realpath(os.path.join(cwd, home)))


def _outside(ref: str, base_dir: Path | None) -> RefRefused:
    if base_dir is not None:
        return RefRefused("is outside the media roots (the --base folder; PIM_MEDIA_ROOTS): not read", file=ref,
                          hint="copy the file under the --base folder or add its folder to PIM_MEDIA_ROOTS")
    return RefRefused("is outside the media roots (PIM_MEDIA_ROOTS only; not the current folder, as no --base was "
                      "given): not read", file=ref, hint="pass --base DIR (the folder the import came from) or add "
                      "the image's folder to PIM_MEDIA_ROOTS")


def _symlink_on_path(ref: str) -> RefRefused:
    return RefRefused("has a symlink on its path that was not there when the path was checked against the media "
                      "roots (a folder or the file swapped while it was read), or that leads nowhere: not followed, "
                      "not read", file=ref, hint="run the ingest again once the image folder is no longer being "
                      "changed; symlinks inside the media roots are read when they are in place before the ingest")


@dataclass(frozen=True)
class Validators:
    """What an HTTP server said identifies the bytes it sent (ETag, Last-Modified), kept per origin so a
    refresh can ask "changed since?" instead of downloading every image again."""

    etag: str | None = None
    last_modified: str | None = None

    def __bool__(self) -> bool:
        return bool(self.etag or self.last_modified)

    def headers(self) -> dict[str, str]:
        out = {}
        if self.etag:
            out["If-None-Match"] = self.etag
        if self.last_modified:
            out["If-Modified-Since"] = self.last_modified
        return out


def fetch_url(url: str, limits: FetchLimits) -> bytes:
    data, _ = fetch_url_if_changed(url, limits)
    assert data is not None  # without validators a server has nothing to answer 304 to
    return data


def fetch_url_if_changed(url: str, limits: FetchLimits, since: Validators = Validators()) -> tuple[bytes | None, Validators]:
    """The body and the server's validators; (None, since) when the server says the bytes behind `since` did
    not change (304 Not Modified). Redirects are followed here, hop by hop, so every hop's host is checked."""
    import httpx

    from pim.settings import get_settings

    allow_private = get_settings().media_allow_private_urls
    headers = {"Accept": "image/*", **since.headers()}
    try:
        target = httpx.URL(url) if is_url(url) else None
        verify = httpx.create_ssl_context()  # SSL_CERT_FILE / SSL_CERT_DIR honoured, as trust_env is off below
        for _ in range(limits.max_redirects + 1):
            if target is None or target.scheme not in ("http", "https") or not target.host:
                raise FetchFailed(f"{target or url} is not an http(s) URL with a host", file=url,
                                  hint="image URLs start with http:// or https://")
            proxy = _proxy_for(target)  # this hop's route, decided here; the client is told, not the environment
            address, extra, extensions = _connect_to(target, url, allow_private, proxied=proxy is not None)
            with httpx.Client(timeout=httpx.Timeout(limits.timeout_seconds), follow_redirects=False,
                              trust_env=False, verify=verify, proxy=proxy) as client, \
                    client.stream("GET", address, headers=headers | extra, extensions=extensions) as response:
                if response.has_redirect_location:
                    target = target.join(response.headers["location"])
                    continue
                return _answer(response, url, limits, since)
    except httpx.TimeoutException as exc:
        raise FetchFailed(f"timed out after {limits.timeout_seconds}s ({type(exc).__name__})", file=url) from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise FetchFailed(f"cannot fetch: {exc}", file=url) from exc
    raise FetchFailed(f"more than {limits.max_redirects} redirects", file=url)


def _answer(response: Any, url: str, limits: FetchLimits, since: Validators) -> tuple[bytes | None, Validators]:
    if response.status_code == 304 and since:
        return None, since
    if response.status_code >= 400 or response.status_code == 304:
        raise FetchFailed(f"HTTP {response.status_code}", file=url)
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limits.max_bytes:
        raise FetchFailed(f"Content-Length {declared} is over the {limits.max_bytes}-byte cap", file=url)
    body = _read_capped(response, url, limits.max_bytes)
    return body, Validators(_header(response, "etag"), _header(response, "last-modified"))


def _connect_to(target: Any, url: str, allow_private: bool, *, proxied: bool) -> tuple[Any, dict[str, str],
                                                                                       dict[str, Any]]:
    """Where to send the request for `target` (an httpx.URL): its host checked public, then the address
    checked, with the host's name as Host header and TLS server name (certificates are checked against it), so
    a DNS answer changed since the check cannot point the connection elsewhere. Through a proxy, the proxy
    resolves the name again (checked here all the same): httpx's tunnel takes the TLS server name from the URL,
    so the address cannot be sent in its place (the window left: docs/media.md). PIM_MEDIA_ALLOW_PRIVATE_URLS:
    as is."""
    if allow_private:
        return target, {}, {}
    host = target.raw_host.decode("ascii")
    address = public_address(host, target.port or (443 if target.scheme == "https" else 80), url)
    if proxied:
        return target, {}, {}
    return (target.copy_with(host=address), {"Host": target.netloc.decode("ascii")},
            {"sni_hostname": host} if target.scheme == "https" else {})


def _proxy_for(target: Any) -> str | None:
    """The proxy the environment names for this URL (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY), None when NO_PROXY
    covers its host. Decided here and handed to the client, which ignores the environment, so a request is
    pinned exactly when it goes direct (a client reading NO_PROXY itself went direct by name, unpinned)."""
    import urllib.request

    proxies = urllib.request.getproxies()
    proxy = proxies.get(target.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(target.host):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def public_address(host: str, port: int, url: str) -> str:
    """The address to connect to for `host`: FetchFailed when it, or any other address it resolves to, is
    loopback, private, link-local (the cloud metadata service, 169.254.169.254), multicast, reserved or
    unspecified, so that an image URL cannot make the server call its own or its network's services."""
    try:
        # AI_ADDRCONFIG: only families this host has an address of (a dual-stack image host's IPv6 address first
        # would be tried, and fail, on a server without IPv6); the connection is pinned to the first
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_ADDRCONFIG)
    except (OSError, UnicodeError) as exc:
        raise FetchFailed(f"cannot resolve host {host} ({exc})", file=url) from exc
    addresses = [str(info[4][0]) for info in found]
    for text in addresses:
        kind = internal_kind(ipaddress.ip_address(text))
        if kind:
            what = f"{host} is" if host == text else f"{host} resolves to {text},"
            article = "an" if kind[0] in "aeiou" else "a"
            raise RefRefused(f"{what} {article} {kind} address: not fetched (image URLs are fetched from public "
                              "addresses only)", file=url, hint="use the image's public URL; for an intranet "
                              "media server an administrator can set PIM_MEDIA_ALLOW_PRIVATE_URLS=true")
    if not addresses:
        raise FetchFailed(f"cannot resolve host {host} (no address)", file=url)
    return addresses[0]


def internal_kind(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """What makes an address internal (None: public). An IPv4 address inside IPv6 (::ffff:a.b.c.d, 6to4) is
    judged as the IPv4 address it carries."""
    if isinstance(ip, ipaddress.IPv6Address):
        ip = ip.ipv4_mapped or ip.sixtofour or ip
    for kind in ("loopback", "link_local", "multicast", "unspecified", "reserved", "private"):
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    return None if ip.is_global else "non-global"  # e.g. 100.64.0.0/10, carrier-grade NAT


def _read_capped(response: object, url: str, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    for chunk in response.iter_bytes(64 * 1024):  # type: ignore[attr-defined]
        total += len(chunk)
        if total > max_bytes:
            raise FetchFailed(f"body is over the {max_bytes}-byte cap", file=url)
        chunks.append(chunk)
    return b"".join(chunks)


def _header(response: object, name: str) -> str | None:
    value = response.headers.get(name)  # type: ignore[attr-defined]
    return value[:400] if value else None
