"""Each PostgreSQL test's fresh copy of the migrated template, made one test ahead on a thread of its own.

A `CREATE DATABASE … TEMPLATE` costs ~0.15 s on a quiet 2-core machine and up to ~0.9 s on a busy one (two
checkpoints and a file copy in the server), and the suite runs ~3,000 tests on PostgreSQL: in the test's setup
that was minutes of the suite's time. Here the copy for the next test is made while the current one runs, and a
finished test's database is dropped the same way, after it. Every test still gets its own new copy of the
template, named `pim_t<pid>_<n>` as before; only when it is made moves."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor


class DatabaseCopies:
    """Copies of `template` on the server at `admin_url`, one made ahead; `take` one per test, `drop` it after."""

    def __init__(self, admin_url: str, template: str, names: Callable[[], str],
                 copy: Callable[[str, str, str], None], drop: Callable[[str, str], None]) -> None:
        self.admin_url, self.template, self._names, self._copy, self._drop = admin_url, template, names, copy, drop
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="pim-test-db-copies")
        self._ahead: Future[str] | None = None

    def _make(self) -> Future[str]:
        name = self._names()

        def make() -> str:
            self._copy(self.admin_url, self.template, name)
            return name
        return self._thread.submit(make)

    def take(self) -> str:
        """A new copy of the template (made ahead, or now), and the next one started."""
        ready = self._ahead or self._make()
        self._ahead = None
        name = ready.result()  # a failed copy raises here, in the test that needed it
        self._ahead = self._make()
        return name

    def drop(self, name: str) -> None:
        """Drop a finished test's copy, after the copy under way (one thread: never two statements at once)."""
        self._thread.submit(self._drop, self.admin_url, name)

    def close(self) -> None:
        """Wait for the drops under way; the copy made ahead is left to the server's removal."""
        self._thread.shutdown(wait=True)
