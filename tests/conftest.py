"""Shared fixtures. `store` runs each test that uses it on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from pim.settings import reset_settings
from pim.store import Store
from tests.services.postgres_copies import DatabaseCopies

pytest_plugins = ["tests.services.postgres", "tests.services.s3", "tests.services.sshd", "tests.services.meili", "tests.services.chromium"]

ROOT = Path(__file__).resolve().parent.parent
SHARED = (ROOT.parent / "shared").resolve()
ICECAT = SHARED / "akeneo_fixtures" / "icecat_demo_dev"
BMECAT_DIR = SHARED / "bmecat"
TEST_STRUCTURE = Path(__file__).resolve().parent / "data" / "structure"
_counter = itertools.count()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--backend", action="append", default=None,
                     help="store backends to run: sqlite, postgresql (default: both)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("backend") or os.environ.get("PIM_TEST_BACKENDS", "sqlite,postgresql").split(",")
        only = metafunc.definition.get_closest_marker("backends")
        if only is not None:  # a behaviour only some databases have: not run (nor skipped) on the others
            chosen = [b for b in chosen if b in only.args]
        metafunc.parametrize("backend", chosen, scope="session")


@pytest.fixture(autouse=True)
def argon2_test_costs(request: pytest.FixtureRequest) -> Iterator[None]:
    """Real argon2 with test-sized costs (tests.web_fixtures.CHEAP_ARGON2) for every test: argon2-cffi's defaults
    cost ~0.2 s of CPU per hash or sign-in on 2 cores, and the files that did not import the cheap fixture hashed
    at full cost several times per test. A test marked `real_argon2` keeps the production parameters."""
    if request.node.get_closest_marker("real_argon2") is not None:
        yield
        return
    from tests.web_fixtures import CHEAP_ARGON2

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("pim.web.accounts.HASH_PARAMS", CHEAP_ARGON2)
        yield


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tmpl") / "template.db"
    store = Store(f"sqlite:///{path}")
    store.migrate()
    store.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_template(request: pytest.FixtureRequest) -> str:
    server = request.getfixturevalue("postgres_server")
    admin = create_engine(server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE pim_template"))
    store = Store(server.url("pim_template"))
    store.migrate()
    store.dispose()
    admin.dispose()
    return "pim_template"


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated database for one test, copied from a migrated template (fast)."""
    if backend == "sqlite":
        path = tmp_path / "pim.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    copies: DatabaseCopies = request.getfixturevalue("postgres_copies")
    name = copies.take()
    request.addfinalizer(lambda: copies.drop(name))
    return request.getfixturevalue("postgres_server").url(name)


@pytest.fixture(scope="session")
def postgres_copies(request: pytest.FixtureRequest) -> Iterator[DatabaseCopies]:
    """The PostgreSQL tests' database copies, each made while the test before it runs (tests.services.postgres_copies)."""
    server, template = request.getfixturevalue("postgres_server"), request.getfixturevalue("postgres_template")
    copies = DatabaseCopies(server.url(), template, lambda: f"pim_t{os.getpid()}_{next(_counter)}",
                            copy_database, drop_database)
    yield copies
    copies.close()


def copy_database(admin_url: str, template: str, name: str) -> None:
    """CREATE DATABASE `name` as a copy of `template`. On PostgreSQL 15+ by FILE_COPY: the default WAL_LOG
    strategy writes the whole template through the WAL and made each test's copy 3x slower (fsync is off here,
    so FILE_COPY's checkpoint is cheap)."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        strategy = " STRATEGY FILE_COPY" if conn.dialect.server_version_info >= (15,) else ""
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"{strategy}'))
    admin.dispose()


def drop_database(admin_url: str, name: str) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@contextmanager
def module_home(template: Path, folder: Path) -> Iterator[tuple[Store, pytest.MonkeyPatch]]:
    """A module's own SQLite catalog, for a module-scoped fixture: the migrated `template` copied into `folder`,
    PIM_HOME and PIM_DATABASE_URL there (thread executor) while inside, with the monkeypatch for more; the
    store disposed and the settings reset after."""
    shutil.copyfile(template, folder / "pim.db")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PIM_HOME", str(folder / "home"))
        mp.setenv("PIM_DATABASE_URL", f"sqlite:///{folder / 'pim.db'}")
        mp.setenv("PIM_EXECUTOR", "thread")
        reset_settings()
        store = Store.from_settings(migrate_now=False)
        try:
            yield store, mp
        finally:
            store.dispose()
            reset_settings()


@pytest.fixture
def pim_env(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """PIM_HOME in a temp dir and PIM_DATABASE_URL at the test's database, for code that reads settings."""
    home = tmp_path / "home"
    monkeypatch.setenv("PIM_HOME", str(home))
    monkeypatch.setenv("PIM_DATABASE_URL", database_url)
    monkeypatch.setenv("PIM_EXECUTOR", "thread")
    reset_settings()
    yield home
    reset_settings()


@pytest.fixture
def store(database_url: str, pim_env: Path) -> Iterator[Store]:
    s = Store.from_settings(migrate_now=False)
    yield s
    s.dispose()


@pytest.fixture
def tiny_store(store: Store) -> Store:
    """The store with tests/data/structure loaded: two channels, two locales, variants, every attribute type."""
    from pim.structure_files import load_structure_files, save_structure

    save_structure(store, load_structure_files(TEST_STRUCTURE))
    return store


@pytest.fixture
def admin(store: Store) -> tuple[Any, str]:
    """A web client signed in as the admin 'ada' on the seeded catalog (tests.channel_data.seed_products), and
    its CSRF token. Modules that need another catalog define their own `admin` with tests.test_web_ui.admin_client."""
    from tests.channel_data import seed_products
    from tests.test_web_ui import admin_client

    seed_products(store)
    return admin_client(store)


@pytest.fixture
def role_tokens(store: Store) -> tuple[Any, dict[str, dict[str, str]]]:
    """A web client on the seeded catalog (tests.channel_data.seed_products) and an API bearer header per role
    (admin, editor, viewer), for the REST API's write routes."""
    from fastapi.testclient import TestClient

    from pim.web.accounts import add_user, create_token
    from pim.web.app import create_app
    from tests.channel_data import seed_products

    seed_products(store)
    tokens = {}
    for name, role in (("ad", "admin"), ("ed", "editor"), ("vi", "viewer")):
        user = add_user(store, name, "correct horse", role)
        tokens[role] = {"Authorization": f"Bearer {create_token(store, user)}"}
    return TestClient(create_app(store)), tokens
