"""Fixtures the web and API test files share (one copy instead of one per file).

Import a fixture into the test module that needs it (`from tests.web_fixtures import cheap_argon2  # noqa: F401`):
pytest finds fixtures by the names in a module's namespace, so the import is what applies it there. Since round 37
tests/conftest.py's autouse `argon2_test_costs` applies CHEAP_ARGON2 to every test anyway (a test marked
`real_argon2` keeps the production costs); importing `cheap_argon2` is harmless and no longer needed.
"""

from __future__ import annotations

import pytest

#: argon2 cost parameters sized for tests: a sign-in hashes in milliseconds instead of ~50 ms of CPU per hash.
CHEAP_ARGON2 = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real argon2, with test-sized cost parameters (autouse in every module that imports it)."""
    monkeypatch.setattr("pim.web.accounts.HASH_PARAMS", CHEAP_ARGON2)
