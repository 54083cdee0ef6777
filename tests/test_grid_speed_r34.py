"""Guards for the round-34 speed work on the grid index listener (pim.grid_index): a merge's partial rewrites
are now indexed in one pass (`GridIndex._refresh_deltas`) and `tokens` runs its word regex only on the
pieces of a text that are not alphanumeric. Neither may change a row, so these are guard tests (they pass
on the code before the change too): the rows a chain of imports leaves, and the grid's answers over them,
are what a full re-index gives (pim.grid_index.rebuild, as `pim gate rescore` runs it)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from pim import grid_index as gi
from pim.product import Product, ProductModel, Provenance, partial_model
from pim.store import Store
from pim.structure import Channel, Family, Locale
from tests.channel_data import ERP, FAMILY_ATTRS, complete_values, seed_structure
from tests.test_grid_index import found
from tests.test_grid_index_deltas_round28 import CONTENT, merge, rebuilt, snapshot

SUPPLIER = Provenance(source="supplier:acme", ref="acme.xml:3", at=CONTENT.at)
_WORD = re.compile(r"\w+")


def reference_tokens(text: str) -> set[str]:
    """The documented contract of `tokens`: the whitespace pieces and every run of word characters, lowercase,
    each capped at 64 characters (the code before round 34, written plainly)."""
    folded = text.casefold()
    return {w[:gi.TOKEN_LENGTH] for w in {*folded.split(), *_WORD.findall(folded)}}


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("aZ9_-–.é ß\u0130\u00b2\u0660\u2160\u0301\u200b\t\n\u3000x/") | st.characters(),
               max_size=80))
def test_guard_tokens_are_the_pieces_and_word_runs_of_any_text(text: str) -> None:
    """Guard: an alphanumeric piece is taken whole instead of through the regex; \\w is isalnum() or "_", so the
    runs are the same for every text (combining marks, superscripts, other scripts' digits, underscores)."""
    assert gi.tokens(text) == reference_tokens(text)


def test_guard_tokens_cap_long_words() -> None:
    long = "x" * 70
    assert gi.tokens(f"{long} Red-Shoe") == {"x" * 64, "red-shoe", "red", "shoe"}


def seed(store: Store) -> None:
    """Shoes labelled by the localizable `name`, kits by `description` (localizable and scopable), bags by the
    non-localizable `mpn` (locale "" rows, shared with the identifier's); a model with two variants."""
    seed_structure(store)
    store.put_structure("locale", [Locale(code="fr_FR")])
    store.put_structure("channel", [Channel(code="mobile", locales=["en_US"], currencies=["EUR"], category_tree="master")])
    store.put_structure("family", [
        Family(code="bags", attributes=FAMILY_ATTRS, attribute_as_label="mpn", requirements={"ecommerce": ["sku", "mpn"]}),
        Family(code="kits", attributes=FAMILY_ATTRS, attribute_as_label="description",
               requirements={"ecommerce": ["sku", "description"]}),
    ])
    store.upsert_models([ProductModel(code="m-runner", family_variant="shoes_color", family="shoes", categories=["sneakers"],
                                      source=ERP, values={"name:en_US": "Runner Model"})])
    store.upsert_products([
        Product(identifier="a-trail", family="shoes", categories=["sneakers"], source=ERP,
                values=complete_values("Trail Runner", sku="a-trail")),
        Product(identifier="b-classic", family="shoes", categories=["shoes"], source=ERP,
                values=complete_values("Classic Oxford", sku="b-classic")),
        Product(identifier="bag-one", family="bags", source=ERP, values={"sku": "bag-one", "mpn": "Tote"}),
        Product(identifier="kit-red", family="kits", source=ERP, values={
            "sku": "kit-red", "description:en_US@ecommerce": "Red Kit", "description:en_US@mobile": "Red Box"}),
        Product(identifier="v-red", family="shoes", parent="m-runner", source=ERP, values={"sku": "v-red", "color": "red"}),
        Product(identifier="v-blue", family="shoes", parent="m-runner", source=ERP,
                values={"sku": "v-blue", "color": "blue", "name:en_US": "Blue Runner"}),
    ])


#: Grid questions asked after each step, answered from the listener's rows and then from a rebuild's.
QUESTIONS: list[dict[str, str]] = [
    {"q": "runner"}, {"q": "trail"}, {"q": "pfad"}, {"q": "red"}, {"q": "box"}, {"q": "bag"}, {"q": "tote"},
    {"q": "road"}, {"q": "läufer"}, {"category": "sneakers"}, {"category": "shoes"}, {"source": "content"},
    {"source": "supplier:acme"}, {"source": "erp"}, {"completeness": "complete", "channel": "ecommerce", "locale": "en_US"},
]


def answers(store: Store) -> list[list[str]]:
    return [found(store, **q) for q in QUESTIONS]


def test_guard_imports_relabels_and_moves_leave_what_a_reindex_gives(store: Store) -> None:
    """Guard: after each merge (a supplier's values and sources, a content team's names in old and new locales,
    a category move and a relabelled model, then the same content again, unchanged) the index rows and the
    grid's answers equal a full re-index's."""
    seed(store)
    steps: list[tuple[list[Product], list[ProductModel] | None]] = [
        ([Product(identifier="a-trail", source=SUPPLIER, values={"color": "blue"}),
          Product(identifier="bag-one", source=SUPPLIER, values={"weight": {"amount": "300", "unit": "GRAM"}})], None),
        ([Product(identifier="a-trail", source=CONTENT, values={"name:de_DE": "Pfad Läufer", "name:fr_FR": "Coureur"}),
          Product(identifier="bag-one", source=CONTENT, values={"mpn": "Bag Tote"}),
          Product(identifier="kit-red", source=CONTENT, values={"description:en_US@ecommerce": "Blue Kit"}),
          Product(identifier="v-blue", source=CONTENT, values={"name:en_US": "Azure Runner"})], None),
        ([Product(identifier="b-classic", source=CONTENT, categories=["sneakers"], values={"name:en_US": "Classic Trail"}),
          Product(identifier="v-red", source=CONTENT, categories=["shoes"], values={"name:de_DE": "Roter Läufer"})],
         [partial_model("m-runner", {"name:en_US": "Road Model"}, CONTENT, {})]),
    ]
    seen = []
    for products, models in [*steps, steps[-1]]:  # the last one twice: an unchanged re-import
        merge(store, products, models)
        rows, grid = snapshot(store), answers(store)
        assert rows == rebuilt(store)
        assert grid == answers(store)
        seen.append(grid)
    # the cases themselves, so the comparisons above are not between two equally wrong indexes
    assert seen[0][QUESTIONS.index({"source": "supplier:acme"})] == ["a-trail", "bag-one"]
    assert seen[1][QUESTIONS.index({"q": "pfad"})] == ["a-trail"]
    assert seen[1][QUESTIONS.index({"q": "red"})] == ["kit-red", "v-red"]  # "Red Box" still gives it; v-red its identifier
    assert seen[1][QUESTIONS.index({"q": "bag"})] == ["bag-one"]
    assert seen[2][QUESTIONS.index({"category": "sneakers"})] == ["a-trail", "b-classic", "v-red", "v-blue"]  # grid order: product id
    assert seen[2][QUESTIONS.index({"q": "road"})] == ["v-red"]
    assert seen[3] == seen[2]
