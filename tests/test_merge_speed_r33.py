"""First-merge speed (issue 3): the merge works out per family and key list what it used to per record, and
takes its per-key shortcuts without changing what a merge decides. The guards (named so) pin the decisions
the shortcuts must keep; they pass on the code before the shortcuts too."""

from __future__ import annotations

import pytest

from pim.catalog import Structure
from pim.importing import Parsed, run_import
from pim.merge import Merger, Ranker, merge_product
from pim.store import Store
from pim.structure import Family
from tests.source_data import ATTRIBUTES, PRECEDENCE, prov, record, seed_structure

pytestmark = pytest.mark.backends("sqlite")

KG = lambda x: {"amount": x, "unit": "KILOGRAM"}  # noqa: E731
ALL = [a.code for a in ATTRIBUTES]


def structure(narrow: list[str]) -> Structure:
    return Structure(attributes={a.code: a for a in ATTRIBUTES},
                     families={"tool": Family(code="tool", attributes=ALL),
                               "narrow": Family(code="narrow", attributes=narrow)})


def bound(narrow: list[str] = ["sku", "ean", "name"]) -> Merger:  # noqa: B006
    return Merger(PRECEDENCE).bind(structure(narrow))


class CountingRanker(Ranker):
    """A Ranker that counts how often a value key's attribute is asked for."""

    asked = 0

    def attribute(self, key: str) -> str:
        CountingRanker.asked += 1
        return super().attribute(key)


def test_the_family_check_is_worked_out_once_per_family_and_key_list() -> None:
    merger = bound()
    merger.ranker = CountingRanker(PRECEDENCE, structure(["sku", "ean", "name"]))
    CountingRanker.asked = 0
    records = [record("supplier:acme", f"A{n}", {"material": "steel", "ean": str(n)}, family="narrow")
               for n in range(200)]
    [answer] = {merger._family_problem(r, r) for r in records}
    assert answer[0] == "material" and "family 'narrow'" in answer[1]
    assert CountingRanker.asked == 2  # the first record's two keys; the other 199 records reuse its answer


def test_guard_the_family_check_answers_per_family_for_the_same_keys() -> None:
    merger = bound()
    narrow = record("supplier:acme", "A1", {"material": "steel"}, family="narrow")
    tool = record("supplier:acme", "A2", {"material": "steel"}, family="tool")
    first = merger._family_problem(narrow, narrow)
    assert first is not None and first[0] == "material" and "narrow" in first[1]
    assert merger._family_problem(tool, tool) is None
    assert merger._family_problem(narrow, narrow) == first


def test_guard_a_merger_bound_again_checks_against_the_new_structure() -> None:
    merger = bound()
    narrow = record("supplier:acme", "A1", {"material": "steel"}, family="narrow")
    assert merger._family_problem(narrow, narrow) is not None
    merger.bind(structure(["sku", "ean", "name", "material"]))  # the family gained the attribute
    assert merger._family_problem(narrow, narrow) is None


def test_guard_a_winning_record_with_the_stored_provenance_keeps_no_per_key_provenance() -> None:
    ranker = bound().ranker
    existing = record("erp", "A1", {"ean": "1", "weight": KG("2")}, family="tool")
    same = record("erp", "A1", {"ean": "2"})  # an equal provenance object, not the stored one
    assert same.source is not existing.source and same.source == existing.source
    out = merge_product(existing, same, {"ean": {"supplier:acme": _claim("9", "supplier:acme")}}, {}, ranker)
    assert out.product.values["ean"] == "2" and "ean" not in out.product.provenance
    other = record("erp", "A1", {"ean": "3"}).model_copy(update={"source": prov("erp", "f:2")})
    out = merge_product(existing, other, {"ean": {"supplier:acme": _claim("9", "supplier:acme")}}, {}, ranker)
    assert out.product.values["ean"] == "3" and out.product.provenance["ean"] == prov("erp", "f:2")


def test_guard_a_candidate_taking_over_shows_its_own_provenance() -> None:
    ranker = bound().ranker
    existing = record("erp", "A1", {"weight": KG("2")}, family="tool")
    kept = {"weight": {"supplier:acme": _claim(KG("3"), "supplier:acme")}}
    out = merge_product(existing, record("erp", "A1", {"weight": None}), kept, {}, ranker)
    assert out.product.values["weight"] == KG("3")
    assert out.product.provenance["weight"].source == "supplier:acme"
    assert out.candidates["weight"] == {} and out.conflicts["weight"] is None


def test_guard_withdrawing_the_last_claim_removes_the_value_and_keeps_nothing() -> None:
    existing = record("erp", "A1", {"ean": "1", "unit_of_measure": "EA"}, family="tool")
    out = merge_product(existing, record("erp", "A1", {"ean": "", "pack_size": None}), {}, {}, bound().ranker)
    assert out.product.values == {"unit_of_measure": "EA"}
    assert out.candidates == {"ean": {}, "pack_size": {}} and out.conflicts == {"ean": None, "pack_size": None}


def test_guard_losing_claims_keep_their_order() -> None:
    existing = record("supplier:acme", "A1", {"weight": KG("1")}, family="tool")
    kept = {"weight": {"supplier:bolt": _claim(KG("2"), "supplier:bolt"), "content": _claim(KG("4"), "content")}}
    out = merge_product(existing, record("erp", "A1", {"weight": KG("3")}), kept, {}, bound().ranker)
    assert out.product.provenance["weight"].source == "erp"
    assert list(out.candidates["weight"]) == ["supplier:bolt", "content", "supplier:acme"]
    assert out.conflicts["weight"][0] == "erp"


@pytest.fixture
def seeded(store: Store) -> Store:
    seed_structure(store)
    return store


def test_guard_a_batch_logs_each_products_conflicts(seeded: Store) -> None:
    def merge(source: str, *records) -> None:
        run_import(seeded, source, [Parsed(r, "f.csv", n) for n, r in enumerate(records, 1)], merge=Merger(PRECEDENCE))

    merge("supplier:acme", *(record("supplier:acme", f"A{n}", {"weight": KG("1"), "material": "steel"}, family="tool")
                             for n in range(3)))
    merge("erp", *(record("erp", f"A{n}", {"weight": KG(str(n + 2)), "material": "iron"}) for n in range(3)))
    from pim.conflicts import conflicts_for

    for n in range(3):
        logged = {c.value_key: c.winner for c in conflicts_for(seeded, f"A{n}")}
        assert logged == {"weight": "erp", "material": "supplier:acme"}


def _claim(value, source: str):  # noqa: ANN001, ANN202
    from pim.merge import Claim

    return Claim(value, prov(source))
