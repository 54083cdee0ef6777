"""Round 37 (F): the suite hashes passwords with test-sized argon2 costs everywhere (tests.conftest's autouse
`argon2_test_costs`), not only in the files that imported tests.web_fixtures.cheap_argon2: argon2-cffi's
defaults cost ~0.2 s of CPU per hash or sign-in, and fixtures such as `role_tokens` (three users) paid it in
every test of ~30 files. The production parameters stay tested here, under the `real_argon2` marker.
Each PostgreSQL test's copy of the migrated template is made while the test before it runs
(tests.services.postgres_copies); the guard below checks a test still gets a fresh copy of its own."""

from __future__ import annotations

from typing import Any

import pytest
from argon2 import PasswordHasher
from argon2.low_level import Type
from sqlalchemy import inspect, text

from pim.store import Store
from pim.web.accounts import hash_password, password_matches
from tests.web_fixtures import CHEAP_ARGON2


def _params(digest: str) -> dict[str, int]:
    """The m, t and p of an encoded argon2 hash ($argon2id$v=19$m=…,t=…,p=…$salt$hash)."""
    fields = digest.split("$")[3]
    return {k: int(v) for k, v in (part.split("=") for part in fields.split(","))}


def test_a_test_that_does_not_ask_for_it_still_hashes_at_test_costs() -> None:
    digest = hash_password("correct horse")
    assert _params(digest) == {"m": CHEAP_ARGON2["memory_cost"], "t": CHEAP_ARGON2["time_cost"],
                               "p": CHEAP_ARGON2["parallelism"]}
    assert password_matches(digest, "correct horse") and not password_matches(digest, "wrong horse")


@pytest.mark.real_argon2
def test_the_marker_keeps_argon2_cffis_production_costs() -> None:
    defaults = PasswordHasher()
    digest = hash_password("correct horse")
    assert digest.startswith(f"$argon2{Type.ID.name.lower()}$")
    assert _params(digest) == {"m": defaults.memory_cost, "t": defaults.time_cost, "p": defaults.parallelism}
    assert _params(digest) != {"m": CHEAP_ARGON2["memory_cost"], "t": CHEAP_ARGON2["time_cost"],
                               "p": CHEAP_ARGON2["parallelism"]}
    assert password_matches(digest, "correct horse") and not password_matches(digest, "wrong horse")


# ------------------------------------------------------------------------ PostgreSQL copies made one test ahead
_SEEN: list[str] = []


@pytest.mark.backends("postgresql")
@pytest.mark.parametrize("turn", [1, 2])
def test_each_postgresql_test_gets_its_own_fresh_copy_and_the_next_is_made_ahead(
        turn: int, store: Store, postgres_copies: Any) -> None:
    """tests.services.postgres_copies: the copy a test gets is new (not one an earlier test wrote to) and a
    copy of the migrated template; the next test's copy is already under way."""
    name = store.engine.url.database
    assert name not in _SEEN
    _SEEN.append(name)
    with store.engine.connect() as conn:
        assert "r37f_probe" not in inspect(conn).get_table_names()  # what the earlier turn wrote is not here
        assert "product" in inspect(conn).get_table_names()  # the migrated template's tables are
    with store.begin() as conn:
        conn.execute(text("CREATE TABLE r37f_probe (turn integer)"))
    assert postgres_copies._ahead is not None  # made while this test runs, not in the next one's setup
