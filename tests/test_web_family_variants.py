"""Family variants on the admin pages: added on the family page (one or two levels) and checked as `pim structure
load` checks a `family_variants:` entry, relabelled on their own page at any time, re-split only while no
product model uses them (an import racing the save puts the old levels back), deleted when unused; a variant
write's family rescore queued for a large family; admins only, with the CSRF token. Runs on both backends."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pim import rescore_jobs
from pim.product import ProductModel
from pim.store import Store
from pim.structure import Attribute, FamilyVariant, VariantLevel
from pim.structure_files import StructureFile, check_references
from pim.web.accounts import add_user
from pim.web.app import create_app
from tests.channel_data import ERP
from tests.test_web_ui import cheap_argon2, login  # noqa: F401  (cheap_argon2: autouse fixture)

VARIANTS = "/admin/families/shoes/variants"


def _message(html: str) -> str:
    found = re.search(r'<p class="(?:error|notice)"[^>]*>([^<]*)</p>', html)
    return found.group(1).replace("&#39;", "'").replace("&amp;", "&").replace("&#96;", "`") if found else ""


def _add(web: TestClient, token: str, **form: Any) -> Any:
    return web.post(VARIANTS, data={"csrf_token": token, **form})


def _save(web: TestClient, token: str, code: str, **form: Any) -> Any:
    return web.post(f"{VARIANTS}/{code}", data={"csrf_token": token, **form})


def _levels(store: Store, code: str) -> list[dict[str, list[str]]]:
    return [level.model_dump() for level in store.structure().family_variants[code].levels]


def _by_size(store: Store) -> None:
    """An unused one-level variant of shoes."""
    store.put_structure("family_variant", [FamilyVariant(code="shoes_size", family="shoes", labels={"en_US": "By size"},
                                                         levels=[VariantLevel(axes=["size"], attributes=["size", "ean"])])])


def _as_structure_load_says(store: Store, entry: dict[str, Any]) -> list[str]:
    """check_references' reasons for `entry` as a structure file's family variant."""
    file = StructureFile.model_validate({"family_variants": [entry]})
    return [p.reason for p in check_references([(Path("f.yaml"), file, None)], store.structure())]


def test_a_one_level_and_a_two_level_variant_are_added_from_the_family_page(admin, store: Store) -> None:
    web, token = admin
    page = web.get("/admin/families/shoes").text
    assert f'href="{VARIANTS}/shoes_color"' in page and f'action="{VARIANTS}"' in page
    assert re.search(r'data-variant="shoes_color".*?1: color \(color, ean\).*?<td>1</td>', page, re.DOTALL)
    one = _add(web, token, code="shoes_size", **{"label:en_US": "By size", "label:de_DE": "Nach Größe"},
               **{"axes:1": "size", "attributes:1": ["size", "ean", "weight"]})
    assert one.status_code == 200, _message(one.text)
    assert _message(one.text).startswith("Added family variant shoes_size of shoes: level 1: axes size "
                                         "(attributes size, ean, weight).")
    variant = store.structure().family_variants["shoes_size"]
    assert (variant.family, variant.labels) == ("shoes", {"en_US": "By size", "de_DE": "Nach Größe"})
    assert _levels(store, "shoes_size") == [{"axes": ["size"], "attributes": ["size", "ean", "weight"]}]
    two = _add(web, token, code="shoes_color_size", **{"axes:1": "color", "attributes:1": ["color", "image"],
                                                       "axes:2": "size", "attributes:2": ["size", "sku", "ean"]})
    assert two.status_code == 200, _message(two.text)
    assert _levels(store, "shoes_color_size") == [{"axes": ["color"], "attributes": ["color", "image"]},
                                                  {"axes": ["size"], "attributes": ["size", "sku", "ean"]}]
    # a metric axis is one value per variant too, accepted as by a load
    metric_axis = {"code": "shoes_weight", "family": "shoes", "levels": [{"axes": ["weight"]}]}
    assert _as_structure_load_says(store, metric_axis) == []
    assert _add(web, token, code="shoes_weight", **{"axes:1": "weight"}).status_code == 200
    listed = web.get("/admin/families/shoes").text
    assert all(f'data-variant="{c}"' in listed for c in ("shoes_color", "shoes_size", "shoes_color_size", "shoes_weight"))
    assert "1: color (color, image); 2: size (size, sku, ean)" in listed


def test_a_bad_variant_is_refused_with_the_words_of_structure_load_and_nothing_is_written(admin, store: Store) -> None:
    web, token = admin
    store.put_structure("attribute", [Attribute(code="material", type="simple_select")])  # declared, not of shoes
    before = store.structure().family_variants
    outside = _add(web, token, code="shoes_material", **{"label:en_US": "By material", "axes:1": ["color", "material"],
                                                         "attributes:1": "color"})
    said = _message(outside.text)
    assert outside.status_code == 422
    [reason] = _as_structure_load_says(store, {"code": "x", "family": "shoes", "levels": [{"axes": ["color", "material"]}]})
    assert reason == "axes not in family 'shoes': ['material']"
    assert said == f"No variant was added: levels: {reason}."
    assert 'value="shoes_material"' in outside.text and 'value="By material"' in outside.text  # input kept
    assert re.search(r'aria-label="Level 1 axes">.*?<option value="color" selected>', outside.text)
    undeclared = _add(web, token, code="shoes_x", **{"axes:1": "nope"})
    assert undeclared.status_code == 422 and "axes not in family 'shoes': ['nope']" in _message(undeclared.text)
    level_attribute = _add(web, token, code="shoes_x", **{"axes:1": "color", "attributes:1": ["color", "material"]})
    assert level_attribute.status_code == 422
    assert "levels: level attributes not in family 'shoes': ['material']; add them to the family first" in _message(level_attribute.text)
    text_axis = _add(web, token, code="shoes_x", **{"axes:1": "mpn"})  # a text: no one value per variant
    assert text_axis.status_code == 422 and ("axes must be simple select, boolean or metric attributes, neither "
                                             "localizable nor scopable (one value per variant): ['mpn']") in _message(text_axis.text)
    no_axes = _add(web, token, code="shoes_x", **{"attributes:1": "color"})
    assert no_axes.status_code == 422 and _message(no_axes.text).startswith("No variant was added: level 1 axes: List should have at least 1 item")
    no_axes_2 = _add(web, token, code="shoes_x", **{"axes:1": "color", "attributes:2": "size"})
    assert no_axes_2.status_code == 422 and "level 2 axes: List should have at least 1 item" in _message(no_axes_2.text)
    six = _add(web, token, code="shoes_x", **{"axes:1": ["color", "size", "brand", "mpn", "ean", "weight"]})
    assert six.status_code == 422 and "level 1 axes: List should have at most 5 items" in _message(six.text)
    taken = _add(web, token, code="shoes_color", **{"axes:1": "size"})
    assert taken.status_code == 422
    assert "code: a family variant 'shoes_color' already exists (of family shoes); open it to change it" in _message(taken.text)
    bad_code = _add(web, token, code="two words", **{"axes:1": "size"})
    assert bad_code.status_code == 422 and _message(bad_code.text).startswith("No variant was added: code:")
    assert store.structure().family_variants == before
    assert web.post("/admin/families/nope/variants", data={"csrf_token": token, "code": "x", "axes:1": "color"}).status_code == 404


def test_labels_change_while_a_model_uses_the_variant_but_its_levels_do_not(admin, store: Store) -> None:
    web, token = admin
    page = web.get(f"{VARIANTS}/shoes_color").text
    assert '<span data-count="models">1</span> (runner_model)' in page
    assert ("The levels of shoes_color stay while 1 product model uses it (runner_model); only its labels may "
            "change.") in page
    assert 'name="levels"' not in page and 'name="axes:1"' not in page and "/delete" not in page
    relabelled = _save(web, token, "shoes_color", **{"label:en_US": "By colour", "label:de_DE": "Nach Farbe"})
    assert relabelled.status_code == 200, _message(relabelled.text)
    assert _message(relabelled.text) == "Saved: labels de_DE: Nach Farbe, en_US: By colour."
    assert store.structure().family_variants["shoes_color"].labels == {"en_US": "By colour", "de_DE": "Nach Farbe"}
    resplit = _save(web, token, "shoes_color", levels="shown", **{"label:en_US": "Colour", "axes:1": "size",
                                                                   "attributes:1": ["size", "ean"]})
    said = _message(resplit.text)
    assert resplit.status_code == 409, said
    assert said.startswith("Nothing was saved: the levels of shoes_color stay while 1 product model uses it "
                           "(runner_model); only its labels may change.")
    assert "`pim structure load`" in said and "re-import" in said
    variant = store.structure().family_variants["shoes_color"]
    assert variant.labels["en_US"] == "By colour"  # nothing was saved, the label neither
    assert _levels(store, "shoes_color") == [{"axes": ["color"], "attributes": ["color", "ean"]}]
    # the same levels sent back in the page's order are no change: the label is saved
    same = _save(web, token, "shoes_color", levels="shown", **{"label:en_US": "Colour", "axes:1": "color",
                                                                "attributes:1": ["ean", "color"]})
    assert same.status_code == 200 and _message(same.text) == "Saved: labels en_US: Colour."
    assert _levels(store, "shoes_color") == [{"axes": ["color"], "attributes": ["color", "ean"]}]
    assert _message(_save(web, token, "shoes_color", **{"label:en_US": "Colour"}).text) == "Nothing changed."
    assert web.get(f"{VARIANTS}/nope").status_code == 404
    assert web.get("/admin/families/nope/variants/shoes_color").status_code == 404


def test_an_unused_variant_is_re_split_unless_an_import_uses_it_meanwhile(
        admin, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    web, token = admin
    _by_size(store)
    page = web.get(f"{VARIANTS}/shoes_size").text
    assert 'name="levels" value="shown"' in page and '<option value="size" selected>' in page
    two = _save(web, token, "shoes_size", levels="shown", **{"axes:1": "color", "attributes:1": "color",
                                                              "axes:2": "size", "attributes:2": ["size", "ean"]})
    assert two.status_code == 200, _message(two.text)
    assert _message(two.text) == ("Saved: levels from level 1: axes size (attributes size, ean) to level 1: axes "
                                  "color (attributes color); level 2: axes size (attributes size, ean).")
    assert _levels(store, "shoes_size") == [{"axes": ["color"], "attributes": ["color"]},
                                            {"axes": ["size"], "attributes": ["size", "ean"]}]
    outside = _save(web, token, "shoes_size", levels="shown", **{"axes:1": "nope"})
    assert outside.status_code == 422 and "axes not in family 'shoes': ['nope']" in _message(outside.text)
    real = store.put_structure

    def save_then_import(kind: str, items: Any) -> int:
        items = list(items)
        written = real(kind, items)
        if kind == "family_variant" and items[0].levels[0].axes == ["size"]:
            store.upsert_models([ProductModel(code="late_model", family_variant="shoes_size", family="shoes",
                                              source=ERP, values={"name:en_US": "Late"})])
        return written

    monkeypatch.setattr(store, "put_structure", save_then_import)
    raced = _save(web, token, "shoes_size", levels="shown", **{"axes:1": "size"})
    assert raced.status_code == 409
    assert _message(raced.text).startswith("Nothing was saved: a product model of shoes_size was imported while it "
                                           "was being saved, so its old levels were put back;")
    assert _levels(store, "shoes_size")[0] == {"axes": ["color"], "attributes": ["color"]}


def test_an_unused_variant_is_deleted_and_a_used_one_kept(admin, store: Store) -> None:
    web, token = admin
    _by_size(store)
    assert f'action="{VARIANTS}/shoes_size/delete"' in web.get(f"{VARIANTS}/shoes_size").text
    kept = web.post(f"{VARIANTS}/shoes_color/delete", data={"csrf_token": token})
    assert kept.status_code == 409
    assert _message(kept.text) == "shoes_color was not deleted: 1 product model uses it (runner_model)."
    assert "shoes_color cannot be deleted while 1 product model uses it (runner_model)." in kept.text
    gone = web.post(f"{VARIANTS}/shoes_size/delete", data={"csrf_token": token})
    assert gone.status_code == 200 and _message(gone.text) == "Deleted shoes_size."
    assert 'data-variant="shoes_size"' not in gone.text and 'data-variant="shoes_color"' in gone.text
    assert "shoes_size" not in store.structure().family_variants and "shoes_color" in store.structure().family_variants
    assert web.post(f"{VARIANTS}/shoes_size/delete", data={"csrf_token": token}).status_code == 404


def test_a_variant_write_rescores_nothing(admin, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Scoring reads only a variant's family, which the page never changes: no rescore, in the request or queued."""
    web, token = admin
    monkeypatch.setattr("pim.rescore_jobs.IN_REQUEST", 1)  # any family would be "large"
    rescored: list[object] = []
    monkeypatch.setattr("pim.rescore.Rescorer.rescore_families", lambda self, conn, f, c: rescored.append(f) or 0)
    added = _add(web, token, code="shoes_size", **{"axes:1": "size"})
    saved = _save(web, token, "shoes_size", **{"label:en_US": "Sizes"})
    assert added.status_code == 200 and saved.status_code == 200
    assert store.jobs(kind=rescore_jobs.KIND) == [] and rescored == []
    assert "rescored" not in _message(added.text)


def test_only_admins_with_the_token_see_or_change_variants(admin, store: Store) -> None:
    web, _ = admin
    _by_size(store)
    add_user(store, "ed", "correct horse", "editor")
    editor = TestClient(create_app(store))
    token = login(editor)
    assert editor.get(f"{VARIANTS}/shoes_size").status_code == 403
    assert _add(editor, token, code="shoes_mpn", **{"axes:1": "mpn"}).status_code == 403
    assert _save(editor, token, "shoes_size", **{"label:en_US": "Sizes"}).status_code == 403
    assert editor.post(f"{VARIANTS}/shoes_size/delete", data={"csrf_token": token}).status_code == 403
    assert web.post(VARIANTS, data={"code": "shoes_mpn", "axes:1": "mpn"}).status_code in (400, 403)
    assert web.post(f"{VARIANTS}/shoes_size", data={"label:en_US": "Sizes"}).status_code in (400, 403)
    assert web.post(f"{VARIANTS}/shoes_size/delete").status_code in (400, 403)
    variants = store.structure().family_variants
    assert set(variants) == {"shoes_color", "shoes_size"} and variants["shoes_size"].labels == {"en_US": "By size"}


def test_only_a_variant_moving_to_another_family_rescores() -> None:
    from pim.catalog import Structure
    from pim.rescore import affected

    old = {"code": "v", "family": "shoes", "labels": {}, "levels": [{"axes": ["color"], "attributes": []}]}
    relabelled = {**old, "labels": {"en_US": "V"}, "levels": [{"axes": ["size"], "attributes": []}]}
    moved = {**old, "family": "boots"}
    assert list(affected("family_variant", {"v": old}, {"v": relabelled}, Structure())) == []
    assert list(affected("family_variant", {}, {"v": old}, Structure())) == []  # new: no model can be of it yet
    assert list(affected("family_variant", {"v": old}, {"v": moved}, Structure())) == [({"shoes", "boots"}, None)]
