"""A losing claim keeps its time with its zone: SQLite stores the candidate's time without one, and a claim that
takes over (its winner withdrawn) showed a naive time beside the product's aware ones (Provenance then never
equals the same claim read from the product)."""

from __future__ import annotations

from datetime import UTC, datetime

from pim.importing import Parsed, run_import
from pim.merge import Merger, Precedence, candidates_for
from pim.product import Product, Provenance
from pim.store import Store
from pim.withdraw import withdraw_claims

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PRECEDENCE = Precedence(default=["erp", "supplier:acme"])


def _send(store: Store, source: str, name: str) -> None:
    record = Product(identifier="P1", values={"name:en_US": name}, source=Provenance(source=source, ref="f", at=AT))
    run_import(store, source, [Parsed(record, "f", 1)], merge=Merger(PRECEDENCE, create_missing=True))


def test_a_candidate_and_the_claim_it_becomes_keep_their_zone(tiny_store: Store) -> None:
    _send(tiny_store, "erp", "Drill")
    _send(tiny_store, "supplier:acme", "Acme drill")
    [claim] = candidates_for(tiny_store, "P1")["name:en_US"].values()
    assert claim.prov is not None and claim.prov.at == AT and claim.prov.at.tzinfo is not None
    withdraw_claims(tiny_store, "erp", ["P1"], precedence=PRECEDENCE)
    product = tiny_store.get_product("P1")
    assert product.values["name:en_US"] == "Acme drill"
    prov = product.provenance_of("name:en_US")
    assert prov is not None and prov.source == "supplier:acme" and prov.at == AT
