"""Content-merge speed (issue 3): a content import's records change about five keys of each product, more than
are spliced into the stored value map's text, so each rewrite splits the map into keys. A Merger that saw most
of a batch's rewrites do so reads the next batch's maps whole at once, instead of parsing each map twice (its
touched keys, then the whole map); it goes back to reading touched keys when a batch mostly splices. The
guards (named so) pin what must not change and pass on the code before it too."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

import pim.partial_merge as partial
from pim.merge import Merger, Precedence
from pim.partial_values import PartialDecoder
from pim.product import Product, Provenance
from pim.store import Store

AT = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
IDS = [f"C-{n}" for n in range(6)]
#: A content-sized map: texts in two locales, a nested weight, a list, some plain values
MAP = {**{f"attr_{n:02d}": f"value {n}" for n in range(12)}, "name:en_US": "Bolt", "name:de_DE": "Schraube „M8“",
       "description:en_US@ecommerce": "A bolt", "weight": {"amount": "1.50", "unit": "GRAM"}, "tags": ["a", "b"]}


def _prov(n: int) -> Provenance:
    return Provenance(source="erp", ref=f"erp.csv:{n}", at=AT)


def _base(ident: str) -> dict[str, Any]:
    return {**MAP, "ref": ident}  # each product's map its own text


def _batch(n: int, keys: list[str]) -> list[Product]:
    return [Product(identifier=i, values={k: f"{k} {n}" for k in keys}, source=_prov(n)) for i in IDS]


def _stored_text(store: Store, ident: str) -> str:
    pg = store.dialect == "postgresql"
    with store.engine.connect() as conn:
        return conn.exec_driver_sql(f"SELECT value_map{'::text' if pg else ''} FROM product WHERE identifier = "
                                    f"{'%s' if pg else '?'}", (ident,)).scalar_one()  # type: ignore[no-any-return]


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> dict[str, Counter[str]]:
    """"split" / "touched": JSON text → how often a merge split it whole / read its touched keys from it."""
    seen: dict[str, Counter[str]] = {"split": Counter(), "touched": Counter()}
    split, touched = partial._RAW_MAP, PartialDecoder.raw

    class Counting:
        def decode(self, text: Any) -> Any:
            seen["split"][text if isinstance(text, str) else bytes(text).decode()] += 1
            return split.decode(text)

    def raw(self: PartialDecoder, text: str | bytes) -> dict[str, msgspec.Raw]:
        seen["touched"][text if isinstance(text, str) else text.decode()] += 1
        return touched(self, text)

    monkeypatch.setattr(partial, "_RAW_MAP", Counting())
    monkeypatch.setattr(PartialDecoder, "raw", raw)
    return seen


CONTENT = ["name:en_US", "name:de_DE", "description:en_US@ecommerce", "attr_03", "attr_07"]


def test_after_a_batch_that_split_its_maps_the_next_reads_each_map_once(store: Store,
                                                                       parses: dict[str, Counter[str]]) -> None:
    """Two batches changing five keys per product: the second batch parses each stored map once (read whole),
    and stores what the records say."""
    store.upsert_products([Product(identifier=i, values=_base(i), source=_prov(0)) for i in IDS])
    merger = Merger(Precedence(default=["erp"])).bind(store.structure())
    merger.write(store, _batch(1, CONTENT))
    stored = [_stored_text(store, i) for i in IDS]
    merger.write(store, _batch(2, CONTENT))
    assert [parses["split"][t] + parses["touched"][t] for t in stored] == [1] * len(IDS)
    for i in IDS:
        assert json.loads(_stored_text(store, i)) == {**_base(i), **{k: f"{k} 2" for k in CONTENT}}


@pytest.mark.backends("sqlite")
def test_guard_a_batch_after_one_that_spliced_reads_touched_keys_only(store: Store,
                                                                      parses: dict[str, Counter[str]]) -> None:
    """After content batches, a batch changing one key per product (spliced into the text) is followed by one
    that reads only the touched keys again: no stored map is split; the values are the records' ones."""
    store.upsert_products([Product(identifier=i, values=_base(i), source=_prov(0)) for i in IDS])
    merger = Merger(Precedence(default=["erp"])).bind(store.structure())
    for n, keys in enumerate([CONTENT, CONTENT, ["attr_01"]], start=1):
        merger.write(store, _batch(n, keys))
    stored = [_stored_text(store, i) for i in IDS]
    merger.write(store, _batch(4, ["attr_02"]))
    assert [(parses["split"][t], parses["touched"][t]) for t in stored] == [(0, 1)] * len(IDS)
    expected = {**{k: f"{k} 2" for k in CONTENT}, "attr_01": "attr_01 3", "attr_02": "attr_02 4"}
    assert all(json.loads(_stored_text(store, i)) == {**_base(i), **expected} for i in IDS)


@pytest.mark.backends("sqlite")
def test_guard_a_key_whose_json_recurs_inside_its_own_value_is_spliced_right(store: Store) -> None:
    """A key (":") whose head recurs overlapping its own entry's value is still stored as merging gives it."""
    values = {":": ":", "a": "x"}
    store.upsert_products([Product(identifier="K-1", values=values, source=_prov(0))])
    Merger(Precedence(default=["erp"])).bind(store.structure()).write(
        store, [Product(identifier="K-1", values={":": "y"}, source=_prov(1))])
    assert json.loads(_stored_text(store, "K-1")) == {":": "y", "a": "x"}
