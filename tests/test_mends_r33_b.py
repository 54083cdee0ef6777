"""Round 33 review mends: a PATCH that clears a value outside the product's family is written whole or not at
all, and takes that value's kept claims and conflict with it; a web edit of a root-held value on a variant under
a sub-model names the root model, as the import does."""

from __future__ import annotations

from typing import Any

import pytest

import pim.merge
from pim.conflicts import SETTLED, conflicts_for
from pim.merge import candidates_for, pick_winner
from pim.product import Product
from pim.store import Store
from pim.structure import Family
from pim.web.editing import apply_values, history
from tests.test_todo_r33 import seed_tee_under_a_sub_model
from tests.channel_data import FAMILY_ATTRS, seed_products

pytestmark = pytest.mark.backends("sqlite")  # one transaction or two: SQLite tells them apart as well


@pytest.fixture
def moved(store: Store) -> Store:
    """The seeded catalog with 'complete' moved to a family without `mpn`, keeping the ERP's mpn 'RN-1'."""
    seed_products(store)
    store.put_structure("family", [*store.structure().families.values(), Family(
        code="socks", attributes=[a for a in FAMILY_ATTRS if a != "mpn"], attribute_as_label="name")])
    store.upsert_products([store.get_product("complete").model_copy(update={"family": "socks"})])  # type: ignore[union-attr]
    return store


def shown(store: Store, key: str) -> Any:
    return store.get_product("complete").values.get(key)  # type: ignore[union-attr]


def test_a_patch_whose_stray_removal_fails_writes_none_of_it(moved: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(pim.merge, "write_record", broken)  # the stray's write fails after the name's merge
    with pytest.raises(RuntimeError, match="disk full"):
        apply_values(moved, "complete", {"mpn": None, "name:en_US": "Sock"}, "ed")
    assert (shown(moved, "name:en_US"), shown(moved, "mpn")) == ("Runner", "RN-1")
    assert history(moved, "complete") == []


def test_a_patch_on_a_product_given_another_family_meanwhile_writes_none_of_it(
        moved: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    read = moved.get_product

    def read_then_refamilied(identifier: str) -> Product | None:  # the family changes after the edit's checks
        monkeypatch.setattr(moved, "get_product", read)
        product = read(identifier)
        moved.upsert_products([product.model_copy(update={"family": "shoes"})])  # type: ignore[union-attr]
        return product

    monkeypatch.setattr(moved, "get_product", read_then_refamilied)
    result = apply_values(moved, "complete", {"mpn": None, "name:en_US": "Sock"}, "ed")
    assert result.errors == {"mpn": "the family of 'complete' changed while it was edited (now 'shoes'); "
                                    "reload the product and edit it again"}
    assert (shown(moved, "name:en_US"), shown(moved, "mpn")) == ("Runner", "RN-1")
    assert history(moved, "complete") == []


def test_a_cleared_stray_value_takes_its_kept_claims_and_conflict_with_it(store: Store) -> None:
    seed_products(store)
    assert apply_values(store, "complete", {"mpn": "RN-2"}, "ed").changed == ["mpn"]  # the ERP's RN-1 kept aside
    pick_winner(store, "complete", "mpn", "erp", by="ed")  # RN-1 shows again, pinned; the content claim kept
    assert set(candidates_for(store, "complete")["mpn"]) == {"content"}
    [logged] = [c for c in conflicts_for(store, "complete") if c.value_key == "mpn"]
    assert logged.pinned == "erp"
    store.put_structure("family", [*store.structure().families.values(), Family(
        code="socks", attributes=[a for a in FAMILY_ATTRS if a != "mpn"], attribute_as_label="name")])
    store.upsert_products([store.get_product("complete").model_copy(update={"family": "socks"})])  # type: ignore[union-attr]

    result = apply_values(store, "complete", {"mpn": None, "name:en_US": "Sock"}, "ed")
    assert not result.errors and sorted(result.changed) == ["mpn", "name:en_US"]
    assert (shown(store, "name:en_US"), shown(store, "mpn")) == ("Sock", None)
    assert "mpn" not in candidates_for(store, "complete")  # no claim left to take the value back
    [settled] = [c for c in conflicts_for(store, "complete") if c.value_key == "mpn"]
    assert (settled.status, settled.pinned) == (SETTLED, None)  # as when a key's last claim is withdrawn


def test_a_web_edit_of_a_root_models_attribute_on_a_variant_under_a_sub_model_names_the_root(store: Store) -> None:
    seed_tee_under_a_sub_model(store)
    result = apply_values(store, "tee-red-m", {"name:en_US": "Shirt"}, "ed")
    assert result.errors == {"name:en_US": "'name' is held by the root product model in family variant "
                                           "'shoes_color_size' ('tee', the parent of this product's model 'tee_red'): "
                                           "set it on the model, or move the attribute to this level in the family "
                                           "variant"}
    assert store.get_product("tee-red-m").values.get("name:en_US") is None  # type: ignore[union-attr]
