"""`pim serve`: the web UI, REST API and customer portal (owned by the web area), with PIM_WEB_WORKERS queue
workers (`pim worker`, default 1) started beside it as subprocesses and stopped with it, so uploads and
family rescores the web app queues get run without a second command. 0 leaves that to a `pim worker` the
operator runs elsewhere (the web pages say when none is alive).

Proxy headers (X-Forwarded-For, -Proto) are believed only from the proxies PIM_FORWARDED_ALLOW_IPS names; by
default from none, so a client cannot pick the address the sign-in throttle counts it under."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

#: Seconds a stopping worker gets to finish the job under way before it is killed (that job then shows as
#: interrupted: `pim jobs retry` or its job page runs it again).
STOP_GRACE = 10.0


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
        """Start the web UI and REST API, with PIM_WEB_WORKERS queue workers beside it."""
        import uvicorn

        from pim.settings import get_settings
        from pim.store import Store

        settings = get_settings()
        if settings.default_secret:
            from pim.cli.output import err_console
            from pim.settings import DEFAULT_SECRET_WARNING

            err_console.print(f"[bold red]WARNING: {DEFAULT_SECRET_WARNING}[/]", highlight=False)
        Store.from_settings().dispose()  # migrated once, before the web app and its workers all start
        # uvicorn shuts down gracefully on SIGTERM, then raises it again with the handler it found: make that
        # one end the process through the `finally` that stops the workers (the default would kill it outright).
        signal.signal(signal.SIGTERM, _terminated)
        with queue_workers(settings.web_workers):
            uvicorn.run("pim.web.app:create_app", factory=True, host=host, port=port, **proxy_options(settings))


def proxy_options(settings: Any) -> dict[str, Any]:
    """uvicorn's proxy-header options: its defaults believe X-Forwarded-For from 127.0.0.1, which lets a client
    behind any loopback proxy that passes the header on pick its own address (and dodge the sign-in throttle)."""
    proxies = settings.forwarded_allow_ips
    return {"proxy_headers": bool(proxies), "forwarded_allow_ips": proxies or None}


def _terminated(_signum: int, _frame: Any) -> None:
    raise SystemExit(0)


@contextmanager
def queue_workers(count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` `pim worker` subprocesses for the duration of the block (each also stops if this process dies)."""
    from pim.cli.output import console

    command = [sys.executable, "-m", "pim", "worker", "--parent", str(os.getpid())]
    workers = [subprocess.Popen(command) for _ in range(count)]
    if workers:
        console.print(f"queue worker(s) started: pid {', '.join(str(w.pid) for w in workers)}")
    try:
        yield workers
    finally:
        for w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                console.print(f"[yellow]queue worker {w.pid} did not finish its job in {STOP_GRACE:.0f} s: "
                              "killed; that job shows as interrupted (`pim jobs retry` runs it again)[/]")
                w.kill()
                w.wait()
