"""The grid's indexed filters return exactly the right products, stay right through writes, model writes,
deletes and structure changes, and an old database gets its index built on the first grid page."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, func, select

from pim import grid_index as gi
from pim.product import Product, ProductModel, Provenance
from pim.store import Store
from pim.structure import Category, Family
from pim.web import grid
from pim.web.grid import GridFilter
from tests.channel_data import ERP, FAMILY_ATTRS, complete_values, seed_structure

CONTENT = Provenance(source="content", ref="ui", at=datetime(2026, 2, 1, tzinfo=UTC))
SUPPLIER = Provenance(source="supplier:acme", ref="acme.xlsx:7", at=datetime(2026, 2, 2, tzinfo=UTC))


@pytest.fixture
def catalog(store: Store) -> Store:
    """a-trail in sneakers (its name from a supplier), b-classic in shoes, c-plain uncategorised and
    missing its description, v-red a variant of a model classified in sneakers, with no name of its own."""
    seed_structure(store)
    store.upsert_models([ProductModel(code="m-runner", family_variant="shoes_color", family="shoes", categories=["sneakers"],
                                      source=ERP, values={"name:en_US": "Runner Model", "name:de_DE": "Läufer Modell"})])
    store.upsert_products([
        Product(identifier="a-trail", family="shoes", categories=["sneakers"], source=ERP,
                values=complete_values("Trail Runner", sku="a-trail"), provenance={"name:en_US": SUPPLIER}),
        Product(identifier="b-classic", family="shoes", categories=["shoes"], source=CONTENT,
                values=complete_values("Classic Oxford", sku="b-classic")),
        Product(identifier="c-plain", family="shoes", source=ERP,
                values={k: v for k, v in complete_values("Plain T-Shirt", sku="c-plain").items() if not k.startswith("description")}),
        Product(identifier="v-red", family="shoes", parent="m-runner", source=ERP, values={"sku": "v-red", "color": "red"}),
    ])
    return store


def found(store: Store, limit: int = 50, **filters: object) -> list[str]:
    """Every page of the grid for these filters, following the cursor."""
    out, after = [], 0
    while True:
        rows, nxt = grid.page(store, GridFilter(**filters), store.structure(), after=after, limit=limit)
        out += [r.identifier for r in rows]
        if nxt is None:
            return out
        after = nxt


def test_parent_category_finds_products_and_variants_of_its_sub_categories(catalog: Store) -> None:
    assert found(catalog, category="sneakers") == ["a-trail", "v-red"]
    assert found(catalog, category="shoes") == ["a-trail", "b-classic", "v-red"]
    assert found(catalog, category="master") == ["a-trail", "b-classic", "v-red"]
    assert found(catalog, category="nowhere") == []


def test_source_filter_sees_record_and_per_value_sources(catalog: Store) -> None:
    assert found(catalog, source="supplier:acme") == ["a-trail"]
    assert found(catalog, source="content") == ["b-classic"]
    assert found(catalog, source="erp") == ["a-trail", "c-plain", "v-red"]


def test_search_matches_word_prefixes_of_identifier_and_label_in_any_locale(catalog: Store) -> None:
    assert found(catalog, q="trail run") == ["a-trail"]
    assert found(catalog, q="RUNNER") == ["a-trail", "v-red"]  # the variant's label comes from its model
    assert found(catalog, q="läufer") == ["v-red"]
    assert found(catalog, q="t-sh") == ["c-plain"]
    assert found(catalog, q="shirt") == ["c-plain"]
    assert found(catalog, q="b-cl") == ["b-classic"]
    assert found(catalog, q="xford") == []  # infixes are not indexed


def test_missing_attribute_filter_follows_completeness(catalog: Store) -> None:
    assert found(catalog, channel="ecommerce", locale="en_US", missing="description") == ["c-plain", "v-red"]
    assert found(catalog, channel="ecommerce", locale="de_DE", missing="price") == ["v-red"]
    catalog.upsert_products([Product(identifier="c-plain", family="shoes", source=ERP,
                                     values=complete_values("Plain T-Shirt", sku="c-plain"))])
    assert found(catalog, channel="ecommerce", locale="en_US", missing="description") == ["v-red"]


def test_filters_combine_and_page_by_keyset(catalog: Store) -> None:
    assert found(catalog, limit=1, category="master") == ["a-trail", "b-classic", "v-red"]
    assert found(catalog, limit=1, category="master", source="erp") == ["a-trail", "v-red"]
    assert found(catalog, category="master", q="runner", channel="ecommerce", locale="en_US", missing="description") == ["v-red"]
    assert found(catalog, category="shoes", channel="ecommerce", locale="en_US", completeness="complete") == ["a-trail", "b-classic"]


def test_model_write_reclassifies_its_variants(catalog: Store) -> None:
    catalog.upsert_models([ProductModel(code="m-runner", family_variant="shoes_color", family="shoes", categories=["shoes"],
                                        source=ERP, values={"name:en_US": "Road Model"})])
    assert found(catalog, category="sneakers") == ["a-trail"]
    assert found(catalog, category="shoes") == ["a-trail", "b-classic", "v-red"]
    assert found(catalog, q="road") == ["v-red"]


def test_deleted_products_leave_the_index(catalog: Store) -> None:
    catalog.delete_products(["a-trail"])
    assert found(catalog, category="sneakers") == ["v-red"]
    assert found(catalog, source="supplier:acme") == []
    with catalog.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(gi.GRID_PRODUCT)).scalar_one() == 3


def test_moving_a_category_moves_its_products_out_of_the_old_parent(catalog: Store) -> None:
    catalog.put_structure("category", [Category(code="outlet"), Category(code="sneakers", parent="outlet")])
    assert found(catalog, category="master") == ["b-classic"]
    assert found(catalog, category="outlet") == ["a-trail", "v-red"]


def test_changed_requirements_update_the_missing_attribute_filter(catalog: Store) -> None:
    catalog.put_structure("family", [Family(code="shoes", attributes=FAMILY_ATTRS, attribute_as_label="name",
                                            requirements={"ecommerce": ["sku", "name"]})])
    assert found(catalog, channel="ecommerce", locale="en_US", missing="description") == []
    assert found(catalog, channel="ecommerce", locale="de_DE", missing="name") == []


def test_a_database_without_the_index_gets_it_on_the_first_grid_page(catalog: Store) -> None:
    with catalog.begin() as conn:
        for table in (gi.GRID_CATEGORY, gi.GRID_SOURCE, gi.GRID_TEXT, gi.GRID_MISSING, gi.GRID_PRODUCT):
            conn.execute(delete(table))
    grid._INDEXED.discard(catalog.engine)
    assert found(catalog, category="master") == ["a-trail", "b-classic", "v-red"]
    assert found(catalog, q="runner", channel="ecommerce", locale="en_US", missing="description") == ["v-red"]


def test_the_rarest_filter_drives_the_page(catalog: Store) -> None:
    with catalog.engine.connect() as conn:
        chosen = grid.plan(conn, GridFilter(category="master", source="supplier:acme"), catalog.structure())
        assert chosen.driver[1] is gi.GRID_SOURCE and chosen.counts == {"category": 3, "source": 1}
        assert grid.plan(conn, GridFilter(category="master", q="zzz"), catalog.structure()).empty


def test_completeness_filters_page_in_id_order(catalog: Store) -> None:
    scope = {"channel": "ecommerce", "locale": "en_US"}
    assert found(catalog, limit=1, completeness="complete", **scope) == ["a-trail", "b-classic"]
    assert found(catalog, limit=1, completeness="incomplete", **scope) == ["c-plain", "v-red"]
    assert found(catalog, completeness="below:70", **scope) == ["v-red"]
    assert found(catalog, completeness="below:100", category="master", **scope) == ["v-red"]


def _index(store: Store) -> dict[str, set[tuple[object, ...]]]:
    """Every index table's rows, with product ids replaced by identifiers (a rebuild keeps the ids)."""
    with store.engine.connect() as conn:
        ids = dict(conn.execute(select(gi.GRID_PRODUCT.c.product_id, gi.GRID_PRODUCT.c.product)).all())
        return {t.name: {tuple(ids.get(v, v) if c == "product_id" else v for c, v in r._mapping.items())
                         for r in conn.execute(select(t))} for t in gi._BY_PRODUCT}


def test_incremental_writes_leave_the_same_index_as_a_rebuild(catalog: Store) -> None:
    catalog.upsert_products([
        Product(identifier="a-trail", family="shoes", categories=["shoes"], source=CONTENT,
                values=complete_values("Trail Walker", sku="a-trail")),  # new category, source, label; complete
        Product(identifier="c-plain", family="shoes", source=ERP, values={"sku": "c-plain"}),  # now misses more
        Product(identifier="d-new", family="shoes", categories=["sneakers"], source=SUPPLIER, values={"sku": "d-new"}),
    ])
    catalog.delete_products(["b-classic"])
    catalog.upsert_products([Product(identifier="b-classic", family="shoes", source=ERP, values={"sku": "b-classic"})])
    incremental = _index(catalog)
    gi.rebuild(catalog)
    assert incremental == _index(catalog)
    assert found(catalog, q="trail walker") == ["a-trail"] and found(catalog, q="runner") == ["v-red"]
    assert found(catalog, category="sneakers") == ["v-red", "d-new"]



def test_merge_writes_update_only_what_changed_and_match_a_rebuild(catalog: Store) -> None:
    """A merge import hands the listener the old products: source rows are diffed in memory, completeness
    copies re-read only for changed values, and anything re-labelled or re-classified is refreshed in full."""
    from pim.merge import Merger, Precedence

    partial = Provenance(source="erp:sap", ref="x.csv:2", at=datetime(2026, 3, 1, tzinfo=UTC))
    Merger(Precedence(default=["erp:sap", "content"])).bind(catalog.structure()).write(catalog, [
        Product(identifier="a-trail", source=partial, values={"weight": None, "name:en_US": "Trail Sprinter"}),
        Product(identifier="b-classic", source=partial, categories=["sneakers"], values={"ean": "4006381333931"}),
        Product(identifier="c-plain", source=partial, values={"description:en_US@ecommerce": "Soft"}),  # the delta path
        Product(identifier="e-new", family="shoes", source=partial, values={"sku": "e-new"}),
    ])
    assert found(catalog, source="erp:sap") == ["a-trail", "b-classic", "c-plain", "e-new"]
    assert found(catalog, q="sprinter") == ["a-trail"] and found(catalog, category="sneakers") == ["a-trail", "b-classic", "v-red"]
    assert found(catalog, channel="ecommerce", locale="en_US", missing="description") == ["v-red", "e-new"]
    incremental = _index(catalog)
    gi.rebuild(catalog)
    assert incremental == _index(catalog)


def test_gate_rescore_brings_the_missing_attribute_filter_along(catalog: Store) -> None:
    from typer.testing import CliRunner

    from pim.cli import _mount, app

    _mount()
    with catalog.begin() as conn:  # a stale grid, as after a bulk completeness change
        conn.execute(delete(gi.GRID_MISSING))
    assert found(catalog, channel="ecommerce", locale="en_US", missing="description") == []
    result = CliRunner().invoke(app, ["gate", "rescore", "--json"])
    assert result.exit_code == 0, result.output
    assert found(catalog, channel="ecommerce", locale="en_US", missing="description") == ["c-plain", "v-red"]


def test_a_merge_relabelling_one_locale_keeps_the_other_locales_text(catalog: Store) -> None:
    """The delta path diffs the text rows of the locales whose label changed only; the rest must survive."""
    from pim.merge import Merger, Precedence

    content = Provenance(source="content", ref="c.jsonl:3", at=datetime(2026, 3, 2, tzinfo=UTC))
    Merger(Precedence(default=["content"])).bind(catalog.structure()).write(catalog, [
        Product(identifier="b-classic", source=content, values={"name:de_DE": "Klassischer Halbschuh",
                                                                "name:en_US": "Classic Oxford"}),  # en_US as stored
    ])
    assert found(catalog, q="halbschuh") == ["b-classic"] and found(catalog, q="oxford") == ["b-classic"]
    assert found(catalog, q="classic oxford de") == []  # the old German label's own token is gone
    incremental = _index(catalog)
    gi.rebuild(catalog)
    assert incremental == _index(catalog)
