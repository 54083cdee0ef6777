"""The Meilisearch contract double (tests/meili_double.py) on a loopback port, one per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.meili_double import ServedDouble


@pytest.fixture
def meili() -> Iterator[ServedDouble]:
    served = ServedDouble()
    try:
        yield served
    finally:
        served.close()


@pytest.fixture
def meili_env(meili: ServedDouble, monkeypatch: pytest.MonkeyPatch) -> ServedDouble:
    """MEILI_URL and MEILI_MASTER_KEY at the double, with fast retries."""
    monkeypatch.setenv("MEILI_URL", meili.url)
    monkeypatch.setenv("MEILI_MASTER_KEY", meili.master_key)
    monkeypatch.setenv("MEILI_BACKOFF", "0")
    return meili
