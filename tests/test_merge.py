"""Merging sources by precedence: winners keep provenance, losers stay as candidates, owners' disagreements
are logged, absent keys change nothing and empty values withdraw a source's claim."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pim.catalog import Structure
from pim.conflicts import OPEN, RESOLVED, SETTLED, conflicts_for, open_conflicts, resolve_conflict
from pim.errors import InputError
from pim.importing import Parsed, run_import
from pim.merge import Merger, Precedence, Ranker, candidates_for, merge_product
from pim.store import Store
from tests.source_data import ATTRIBUTES, PRECEDENCE, record, seed_structure

KG = lambda x: {"amount": x, "unit": "KILOGRAM"}  # noqa: E731


def ranker(p: Precedence = PRECEDENCE) -> Ranker:
    return Ranker(p, Structure(attributes={a.code: a for a in ATTRIBUTES}))


def merge(store: Store, source: str, *records, precedence: Precedence = PRECEDENCE, create: bool = True):
    items = [Parsed(r, f"{source}.csv", n) for n, r in enumerate(records, start=1)]
    return run_import(store, source, items, merge=Merger(precedence, create_missing=create))


# ---------------------------------------------------------------- pure merge


def test_attribute_rule_beats_group_rule_and_patterns_match_suppliers():
    r = ranker()
    assert r.rank("erp", "weight") == (0, True)
    assert r.rank("supplier:acme", "weight") == (1, True)
    assert r.rank("supplier:acme", "material") == (0, True)  # technical group: suppliers first
    assert r.rank("content", "material") == (2, False)  # not named: below every owner


def test_higher_precedence_source_wins_and_loser_becomes_candidate():
    existing = record("supplier:acme", "A1", {"weight": KG("1.3")})
    incoming = record("erp", "A1", {"weight": KG("1.2")})
    out = merge_product(existing, incoming, {}, {}, ranker())
    assert out.product.values["weight"] == KG("1.2")
    assert out.product.provenance_of("weight").source == "erp"
    assert out.candidates["weight"]["supplier:acme"].value == KG("1.3")
    assert out.conflicts["weight"] == ("erp", {"erp": KG("1.2"), "supplier:acme": KG("1.3")})


def test_lower_precedence_source_cannot_override_but_is_kept():
    existing = record("erp", "A1", {"weight": KG("1.2")})
    out = merge_product(existing, record("supplier:acme", "A1", {"weight": KG("9")}), {}, {}, ranker())
    assert out.product.values["weight"] == KG("1.2")
    assert out.product.provenance_of("weight").source == "erp"
    assert set(out.candidates["weight"]) == {"supplier:acme"}


def test_content_team_wins_by_default():
    existing = record("supplier:acme", "A1", {"seo_title:en_US": "Drill X100"})
    out = merge_product(existing, record("content", "A1", {"seo_title:en_US": "The best drill"}), {}, {}, ranker())
    assert out.product.values["seo_title:en_US"] == "The best drill"
    assert out.conflicts["seo_title:en_US"] is None  # the supplier does not own SEO fields: no conflict


def test_precedence_can_put_content_below_another_source():
    p = Precedence(attributes={"name": ["erp", "content"]})
    existing = record("erp", "A1", {"name:en_US": "DRILL X100"})
    out = merge_product(existing, record("content", "A1", {"name:en_US": "Drill"}), {}, {}, ranker(p))
    assert out.product.values["name:en_US"] == "DRILL X100"


def test_absent_key_leaves_the_value_alone():
    existing = record("erp", "A1", {"ean": "4006381333931", "unit_of_measure": "EA"})
    out = merge_product(existing, record("erp", "A1", {"unit_of_measure": "PCE"}), {}, {}, ranker())
    assert out.product.values == {"ean": "4006381333931", "unit_of_measure": "PCE"}


def test_empty_value_clears_the_sources_own_value():
    existing = record("erp", "A1", {"ean": "4006381333931", "unit_of_measure": "EA"})
    out = merge_product(existing, record("erp", "A1", {"unit_of_measure": None}), {}, {}, ranker())
    assert "unit_of_measure" not in out.product.values


def test_withdrawn_winner_promotes_the_best_candidate():
    existing = record("erp", "A1", {"weight": KG("1.2")})
    first = merge_product(existing, record("supplier:acme", "A1", {"weight": KG("1.3")}), {}, {}, ranker())
    out = merge_product(first.product, record("erp", "A1", {"weight": None}), first.candidates, {}, ranker())
    assert out.product.values["weight"] == KG("1.3")
    assert out.product.provenance_of("weight").source == "supplier:acme"
    assert out.candidates["weight"] == {}
    assert out.conflicts["weight"] is None


def test_a_lower_source_cannot_clear_the_winners_value():
    existing = record("erp", "A1", {"weight": KG("1.2")})
    out = merge_product(existing, record("supplier:acme", "A1", {"weight": None}), {}, {}, ranker())
    assert out.product.values["weight"] == KG("1.2")


def test_structural_fields_change_only_when_the_source_sets_them():
    existing = record("erp", "A1", {"ean": "1"}, family="tool", categories=["tools"])
    out = merge_product(existing, record("content", "A1", {"name:en_US": "Drill"}), {}, {}, ranker())
    assert (out.product.family, out.product.categories) == ("tool", ["tools"])
    out = merge_product(existing, record("content", "A1", {}, categories=[]), {}, {}, ranker())
    assert out.product.categories == []


# ---------------------------------------------------------------- through the store


@pytest.fixture
def seeded(store: Store) -> Store:
    seed_structure(store)
    return store


def test_merged_import_keeps_provenance_candidates_and_logs_the_conflict(seeded: Store):
    merge(seeded, "erp", record("erp", "A1", {"ean": "4006381333931", "weight": KG("1.2")}, family="tool"))
    counts = merge(seeded, "supplier:acme", record("supplier:acme", "A1", {"weight": KG("1.3"), "material": "steel"}))
    assert (counts.updated, counts.rejected) == (1, 0)
    product = seeded.get_product("A1")
    assert product.values["weight"] == KG("1.2") and product.values["material"] == "steel"
    assert product.provenance_of("weight").source == "erp"
    assert product.provenance_of("material").source == "supplier:acme"
    assert candidates_for(seeded, "A1")["weight"]["supplier:acme"].value == KG("1.3")
    [conflict] = open_conflicts(seeded)
    assert (conflict.identifier, conflict.value_key, conflict.winner) == ("A1", "weight", "erp")
    assert conflict.claims == {"erp": KG("1.2"), "supplier:acme": KG("1.3")}


def test_reimporting_the_same_source_changes_nothing(seeded: Store):
    merge(seeded, "erp", record("erp", "A1", {"weight": KG("1.2")}, family="tool"))
    merge(seeded, "supplier:acme", record("supplier:acme", "A1", {"weight": KG("1.3")}))
    seq = seeded.current_seq()
    before = conflicts_for(seeded, "A1")
    counts = merge(seeded, "supplier:acme", record("supplier:acme", "A1", {"weight": KG("1.3")}))
    assert (counts.unchanged, counts.updated) == (1, 0)
    assert seeded.current_seq() == seq
    assert conflicts_for(seeded, "A1") == before


def test_a_losing_claim_that_changed_counts_as_updated_not_unchanged(seeded: Store):
    merge(seeded, "erp", record("erp", "A1", {"weight": KG("1.2")}, family="tool"))
    merge(seeded, "supplier:acme", record("supplier:acme", "A1", {"weight": KG("1.3")}))
    seq = seeded.current_seq()
    counts = merge(seeded, "supplier:acme", record("supplier:acme", "A1", {"weight": KG("1.4")}))
    assert (counts.updated, counts.unchanged) == (1, 0)  # the shown weight stays the ERP's…
    assert seeded.get_product("A1").values["weight"] == KG("1.2") and seeded.current_seq() == seq
    assert candidates_for(seeded, "A1")["weight"]["supplier:acme"].value == KG("1.4")  # …the claim moved
    assert conflicts_for(seeded, "A1")[0].claims["supplier:acme"] == KG("1.4")
    counts = merge(seeded, "supplier:acme", record("supplier:acme", "A1", {"weight": KG("1.4")}))
    assert (counts.updated, counts.unchanged) == (0, 1)


def test_agreement_settles_the_conflict(seeded: Store):
    merge(seeded, "erp", record("erp", "A1", {"weight": KG("1.2")}, family="tool"))
    merge(seeded, "supplier:acme", record("supplier:acme", "A1", {"weight": KG("1.3")}))
    merge(seeded, "supplier:acme", record("supplier:acme", "A1", {"weight": KG("1.2")}))
    assert open_conflicts(seeded) == []
    assert conflicts_for(seeded, "A1")[0].status == SETTLED


def test_picked_winner_is_pinned_across_reimports(seeded: Store):
    merge(seeded, "erp", record("erp", "A1", {"weight": KG("1.2")}, family="tool"))
    merge(seeded, "supplier:acme", record("supplier:acme", "A1", {"weight": KG("1.3")}))
    resolved = resolve_conflict(seeded, "A1", "weight", "supplier:acme", by="anna")
    assert (resolved.status, resolved.pinned) == (RESOLVED, "supplier:acme")
    assert seeded.get_product("A1").values["weight"] == KG("1.3")
    merge(seeded, "erp", record("erp", "A1", {"weight": KG("1.2")}))
    assert seeded.get_product("A1").values["weight"] == KG("1.3")
    assert open_conflicts(seeded) == []
    merge(seeded, "erp", record("erp", "A1", {"weight": KG("1.25")}))  # the claims changed: look again
    [reopened] = open_conflicts(seeded)
    assert reopened.status == OPEN and reopened.pinned == "supplier:acme"
    assert seeded.get_product("A1").values["weight"] == KG("1.3")


def test_picking_a_source_without_a_value_is_refused(seeded: Store):
    merge(seeded, "erp", record("erp", "A1", {"weight": KG("1.2")}, family="tool"))
    merge(seeded, "supplier:acme", record("supplier:acme", "A1", {"weight": KG("1.3")}))
    with pytest.raises(InputError, match="has no value") as refused:
        resolve_conflict(seeded, "A1", "weight", "content")
    assert refused.value.hint == "pick one of: erp, supplier:acme"


def test_picking_where_no_conflict_is_recorded_is_refused_and_writes_nothing(seeded: Store):
    """The conflict is read in the pick's own transaction: with none recorded, nothing is pinned."""
    merge(seeded, "erp", record("erp", "A1", {"weight": KG("1.2")}, family="tool"))
    before = seeded.get_product("A1")
    with pytest.raises(InputError, match="no conflict recorded for A1 weight"):
        resolve_conflict(seeded, "A1", "weight", "erp")
    assert seeded.get_product("A1") == before and conflicts_for(seeded, "A1") == []


def test_unmatched_record_is_quarantined_when_the_profile_says_so(seeded: Store):
    counts = merge(seeded, "content", record("content", "NOPE", {"name:en_US": "x"}), create=False)
    assert (counts.rejected, counts.created) == (1, 0)
    [entry] = seeded.quarantined(counts.job_id)
    assert "unmatched: quarantine" in entry["reason"] and entry["record_key"] == "NOPE"


def test_value_outside_the_merged_family_is_rejected(seeded: Store):
    merge(seeded, "erp", record("erp", "A1", {"ean": "1"}, family="narrow"))
    counts = merge(seeded, "supplier:acme", record("supplier:acme", "A1", {"material": "steel"}))
    assert counts.rejected == 1
    assert "not an attribute of family 'narrow'" in seeded.quarantined(counts.job_id)[0]["reason"]
    assert "material" not in seeded.get_product("A1").values


def test_same_product_twice_in_one_batch_merges_both(seeded: Store):
    merge(seeded, "erp", record("erp", "A1", {"ean": "1"}, family="tool"),
          record("erp", "A1", {"unit_of_measure": "EA"}))
    assert seeded.get_product("A1").values == {"ean": "1", "unit_of_measure": "EA"}


def test_price_collections_conflict_only_on_a_currency_both_state():
    p = Precedence(groups={"erp": ["erp", "supplier:*"]})
    existing = record("erp", "A1", {"price": {"EUR": "10", "USD": "11"}})
    same_eur = merge_product(existing, record("supplier:acme", "A1", {"price": {"EUR": "10"}}), {}, {}, ranker(p))
    assert same_eur.product.values["price"] == {"EUR": "10", "USD": "11"}  # the winner's whole collection shows
    assert same_eur.candidates["price"]["supplier:acme"].value == {"EUR": "10"}
    assert same_eur.conflicts["price"] is None
    other_currency = merge_product(existing, record("supplier:acme", "A1", {"price": {"GBP": "9"}}), {}, {}, ranker(p))
    assert other_currency.conflicts["price"] is None
    cheaper = merge_product(existing, record("supplier:acme", "A1", {"price": {"EUR": "9", "GBP": "8"}}), {}, {}, ranker(p))
    assert cheaper.conflicts["price"] == ("erp", {"erp": {"EUR": "10", "USD": "11"}, "supplier:acme": {"EUR": "9", "GBP": "8"}})


def test_measurements_of_one_quantity_in_other_units_agree(seeded: Store):
    """An ERP's 1.5 KILOGRAM and a supplier's 1500 GRAM are one weight: no conflict for anyone to resolve. The
    winner's value shows as it is; the other stays a candidate."""
    G = lambda x: {"amount": x, "unit": "GRAM"}  # noqa: E731
    assert not ranker().disagree("weight", KG("1.5"), G("1500"))
    assert ranker().disagree("weight", KG("1.5"), G("1499.9"))
    assert ranker().disagree("weight", KG("1.5"), {"amount": "1500", "unit": "LITER"})  # no conversion: they differ
    merge(seeded, "erp", record("erp", "A1", {"weight": KG("1.5")}, family="tool"))
    merge(seeded, "supplier:acme", record("supplier:acme", "A1", {"weight": G("1500")}))
    assert open_conflicts(seeded) == []
    product = seeded.get_product("A1")
    assert product.values["weight"] == KG("1.5") and product.provenance_of("weight").source == "erp"
    assert candidates_for(seeded, "A1")["weight"]["supplier:acme"].value == G("1500")
    merge(seeded, "supplier:acme", record("supplier:acme", "A1", {"weight": G("1600")}))  # now they differ
    [conflict] = open_conflicts(seeded)
    assert conflict.claims == {"erp": KG("1.5"), "supplier:acme": G("1600")}


def test_a_whole_record_replaces_what_merges_kept_about_its_product(seeded: Store):
    """A catalog file's whole record (no merge) replaces the product: the conflict log no longer lists winners
    whose values are gone, no stale claim waits as a candidate, and each source claims again at its next import."""
    merge(seeded, "erp", record("erp", "A1", {"weight": KG("1.2")}, family="tool"))
    merge(seeded, "supplier:acme", record("supplier:acme", "A1", {"weight": KG("1.3"), "material": "alu"}))
    merge(seeded, "erp", record("erp", "A2", {"weight": KG("2")}, family="tool"))
    merge(seeded, "supplier:acme", record("supplier:acme", "A2", {"weight": KG("2.1")}))
    assert len(open_conflicts(seeded)) == 2
    whole = record("jsonl", "A1", {"weight": KG("9"), "material": "steel"}, family="tool")
    counts = run_import(seeded, "jsonl", [Parsed(whole, "catalog.jsonl", 1)])
    assert counts.updated == 1
    assert [c.identifier for c in open_conflicts(seeded)] == ["A2"]  # A2 was not replaced
    assert candidates_for(seeded, "A1") == {} and candidates_for(seeded, "A2")["weight"]
    assert seeded.get_product("A1").values["weight"] == KG("9")
    merge(seeded, "erp", record("erp", "A1", {"weight": KG("1.2")}))  # the ERP's next run claims again
    product = seeded.get_product("A1")
    assert product.values["weight"] == KG("1.2") and product.provenance_of("weight").source == "erp"
    assert candidates_for(seeded, "A1")["weight"]["jsonl"].value == KG("9")


_VALUES = st.one_of(st.none(), st.just(""), st.just([]), st.just({}), st.text(max_size=5), st.integers(),
                    st.builds(KG, st.sampled_from(["1", "2.5"])))


@settings(max_examples=150, deadline=None)
@given(values=st.dictionaries(st.sampled_from(["weight", "ean", "name:en_US", "material", "color"]), _VALUES,
                              max_size=5),
       own=st.sets(st.sampled_from(["weight", "ean", "name:en_US", "material", "color"])),
       fields=st.fixed_dictionaries({}, optional={"family": st.just("drills"), "categories": st.just(["tools"]),
                                                  "enabled": st.booleans()}))
def test_the_new_product_fast_path_equals_the_general_merge(values, own, fields) -> None:  # noqa: ANN001
    """A product nothing is stored for takes merge_product's fast path; the general path (forced here by an
    unrelated pin) must give the same product, candidates and conflicts."""
    from datetime import UTC, datetime

    from pim.product import Product, Provenance

    src = Provenance(source="erp", ref="erp.csv:1", at=datetime(2026, 1, 1, tzinfo=UTC))
    other = Provenance(source="erp", ref="erp.csv:2", at=datetime(2026, 1, 2, tzinfo=UTC))
    incoming = Product(identifier="N1", values=values, source=src,
                       provenance={k: other for k in own if k in values}, **fields)
    fast = merge_product(None, incoming, {}, {}, ranker())
    general = merge_product(None, incoming, {}, {"unrelated@key": "erp"}, ranker())
    assert fast.product == general.product and fast.product.model_fields_set == general.product.model_fields_set
    assert fast.candidates == general.candidates and fast.conflicts == general.conflicts


def test_a_deleted_product_leaves_no_claims_conflicts_or_fingerprints_behind(store: Store):
    """Deleted and created again by the supplier alone, the product shows the supplier's new weight: the ERP's
    old claim (which outranks it) is gone with the product, and so is the conflict."""
    seed_structure(store)
    merge(store, "supplier:acme", record("supplier:acme", "A1", {"weight": KG("1.3")}))
    merge(store, "erp", record("erp", "A1", {"weight": KG("1.2")}))
    assert set(candidates_for(store, "A1")["weight"]) == {"supplier:acme"} and conflicts_for(store, "A1")
    merge(store, "supplier:acme", record("supplier:acme", "A1", {"weight": KG("1.4")}))
    assert store.get_product("A1").values["weight"] == KG("1.2")  # the ERP still wins

    assert store.delete_products(["A1"]) == 1
    assert candidates_for(store, "A1") == {} and conflicts_for(store, "A1") == []
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM source_fingerprint WHERE identifier = 'A1'").scalar() == 0
    merge(store, "supplier:acme", record("supplier:acme", "A1", {"weight": KG("1.4")}))
    again = store.get_product("A1")
    assert again.values["weight"] == KG("1.4") and again.provenance_of("weight").source == "supplier:acme"
    assert candidates_for(store, "A1") == {} and conflicts_for(store, "A1") == []
