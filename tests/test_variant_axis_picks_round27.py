"""A person's choice cannot give a variant (or sub-model) a sibling's axis values (pim.variant_levels.SiblingAxes):
picking a conflict's losing claim, or a kept value, is refused with the sibling named, nothing written; and a mass
edit from the grid counts such products as refused, with why, not as kept aside by precedence. The seeded catalog
(tests.channel_data): runner_model (shoes_color, axis color) with the variant runner-red."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from pim.conflicts import open_conflicts
from pim.errors import InputError
from pim.merge import Merger, Precedence, pick_winner
from pim.product import Product, ProductModel, Provenance, partial_model
from pim.store import Store
from pim.web.editing import apply_bulk, history
from tests.channel_data import ERP, seed_products
from tests.test_api import api  # noqa: F401  (fixture)
from tests.test_variant_axes import AT, FV, _erp
from tests.test_web_bulk_edit import _notice, web  # noqa: F401  (fixture)
from tests.test_web_ui import cheap_argon2, client, login  # noqa: F401  (fixtures)

TAKEN = ("product model 'runner_model' already has a variant with color=blue: 'runner-blue'; the variants of one "
         "model need distinct values of color: change color of this product, or attach it to another model")


def _blue_sibling(store: Store) -> None:
    """runner-blue next to runner-red: color blue is taken under runner_model."""
    store.upsert_products([Product(identifier="runner-blue", family="shoes", parent="runner_model", source=ERP,
                                   values={"sku": "runner-blue", "color": "blue"})])


def _color_conflict(store: Store) -> None:
    """The ERP (ranking first) and the content team both own color and disagree on runner-red: red shows, the
    content team's blue (runner-blue's) is the losing claim of an open conflict."""
    _blue_sibling(store)
    merger = Merger(Precedence(attributes={"color": ["erp", "content"]})).bind(store.structure())
    content = Provenance(source="content", at=datetime.now(UTC))
    _, rejects = merger.write(store, [Product(identifier="runner-red", values={"color": "blue"}, source=content)])
    assert rejects == []
    assert [(c.identifier, c.value_key) for c in open_conflicts(store)] == [("runner-red", "color")]


def _unchanged(store: Store) -> None:
    assert store.get_product("runner-red").values["color"] == "red"  # type: ignore[union-attr]
    assert [(c.identifier, c.value_key, c.pinned) for c in open_conflicts(store)] == [("runner-red", "color", None)]
    assert history(store, "runner-red") == []


# ---------------------------------------------------------------------------------------------- picks
def test_picking_a_claim_a_sibling_holds_is_refused(store: Store) -> None:
    seed_products(store)
    _color_conflict(store)
    with pytest.raises(InputError) as refused:
        pick_winner(store, "runner-red", "color", "content", recorded=True)
    assert str(refused.value) == TAKEN and refused.value.field == "color"
    _unchanged(store)
    store.delete_products(["runner-blue"])  # the value is free now: the same pick is taken
    assert pick_winner(store, "runner-red", "color", "content", recorded=True).values["color"] == "blue"


def test_a_sub_models_pick_is_held_to_its_siblings(tiny_store: Store) -> None:
    tiny_store.upsert_models([ProductModel(code="TEE", family_variant=FV, values={})])
    erp = Provenance(source="erp", ref="m", at=AT)
    _erp(tiny_store, *(ProductModel(code=f"TEE-{c.upper()}", family_variant=FV, parent="TEE", values={"color": c},
                                    source=erp) for c in ("red", "blue")))
    both = Merger(Precedence(attributes={"color": ["erp", "content"]}))
    _erp(tiny_store, partial_model("TEE-BLUE", {"color": "red"}, Provenance(source="content", ref="m", at=AT), {}),
         source="content", merger=both)
    assert [c.identifier for c in open_conflicts(tiny_store)] == ["model:TEE-BLUE"]
    with pytest.raises(InputError, match="product model 'TEE' already has a sub-model with color=red: 'TEE-RED'"):
        pick_winner(tiny_store, "model:TEE-BLUE", "color", "content", recorded=True)
    assert tiny_store.get_model("TEE-BLUE").values["color"] == "blue"  # type: ignore[union-attr]


def test_the_web_page_refuses_the_pick(client: TestClient, store: Store) -> None:  # noqa: F811
    _color_conflict(store)
    token = login(client)
    answer = client.post("/products/runner-red/conflicts", data={"key": "color", "source": "content", "csrf_token": token})
    assert answer.status_code == 422 and TAKEN in answer.text
    _unchanged(store)


def test_the_api_refuses_the_pick_and_the_kept_value(api, store: Store) -> None:  # noqa: F811
    web_api, tokens = api
    _color_conflict(store)
    for route in ("conflicts", "candidates"):
        answer = web_api.post(f"/api/v1/products/runner-red/{route}/color", json={"source": "content"},
                             headers=tokens["editor"])
        assert answer.status_code == 422, route
        assert TAKEN in answer.json()["errors"][0]["message"]
        _unchanged(store)


# ---------------------------------------------------------------------------------------------- mass edit
def test_a_mass_edit_counts_refused_siblings_apart_from_outranked_ones(store: Store) -> None:
    seed_products(store)
    _blue_sibling(store)
    result = apply_bulk(store, ["runner-red", "complete"], {"color": "blue"}, "ed")
    assert (result.changed, result.outranked, result.refused) == (1, 0, {"runner-red": TAKEN})
    assert store.get_product("runner-red").values["color"] == "red"  # type: ignore[union-attr]
    assert store.get_product("complete").values["color"] == "blue"  # type: ignore[union-attr]


def test_the_grid_says_which_products_were_refused_and_why(web: TestClient, store: Store) -> None:  # noqa: F811
    _blue_sibling(store)
    token = login(web)
    done = web.post("/products/bulk", data={"csrf_token": token, "key": "color", "value": "blue", "scope": "selected",
                                            "sku": ["runner-red", "complete"]})
    assert _notice(done.text) == f"color set on 1 product; 1 refused, left as they are: runner-red ({TAKEN})."
