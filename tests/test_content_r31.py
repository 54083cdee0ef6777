"""Content import, round 31: a record filling one value key two ways is rejected (not half kept); "" clears a
model-held value on a variant as null does; a product linked to itself is left out of its associations (and
flagged in quality, and never published); a locale, channel or association type the structure lacks refuses a
sheet at its header, and JSON records are told the name meant; bullets given as one text split as a sheet's cell
does; a value given without its locale or channel is told the whole key (or JSON shape) to write."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from importers.content import ContentProfile, import_content
from pim.errors import InputError
from pim.pipeline import publish
from pim.product import Association, Product, ProductModel, Provenance
from pim.quality import assess
from pim.store import Store
from tests.test_association_targets import drill, products_of
from tests.test_content_import import seeded  # noqa: F401  (fixture)

AT = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def drills(tiny_store: Store) -> Store:
    """tests/data/structure with two drills; description is per channel, and only ecommerce publishes en_US."""
    tiny_store.upsert_products([drill("D1"), drill("D2")])
    return tiny_store


def jsonl(tmp_path: Path, *records: dict[str, Any], name: str = "c.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def csv(tmp_path: Path, text: str, name: str = "c.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def only_reason(store: Store, job_id: int | None, severity: str = "rejected") -> str:
    [entry] = store.quarantined(job_id, severity=severity)
    return str(entry["reason"])


# ------------------------------------------------------------------------------- one value key given two ways
def test_a_field_and_the_bullets_the_profile_sends_to_it_reject_the_record(drills: Store, tmp_path: Path) -> None:
    before = drills.get_product("D1")
    path = jsonl(tmp_path, {"sku": "D1", "description": {"en_US": "Copywriter text"},
                            "bullets": {"en_US": ["Bullet A", "Bullet B"]}})
    counts = import_content(path, drills, ContentProfile(bullets="description"))
    assert (counts.rejected, counts.updated) == (1, 0)
    assert only_reason(drills, counts.job_id) == (
        "'description:en_US@ecommerce' is given twice, by \"description\" and by \"bullets\" (the profile's "
        "`bullets` fills 'description'): one would silently replace the other; give it in only one of them")
    assert drills.get_product("D1") == before


def test_a_field_and_values_filling_one_key_reject_the_record(drills: Store, tmp_path: Path) -> None:
    path = jsonl(tmp_path, {"sku": "D1", "title": {"en_US": "via field"}, "values": {"name:en_US": "via values"}})
    counts = import_content(path, drills, ContentProfile(fields={"title": "name"}))
    assert counts.rejected == 1
    assert only_reason(drills, counts.job_id).startswith(
        "'name:en_US' is given twice, by \"values\" and by \"title\" (the profile's `fields` send 'title' to 'name')")
    assert drills.get_product("D1").values["name:en_US"] == "Drill D1"


def test_a_sheet_filling_one_key_from_two_columns_names_both(drills: Store, tmp_path: Path) -> None:
    path = csv(tmp_path, "sku,description:en_US@ecommerce,bullets:en_US\nD1,Copy,A|B\n")
    counts = import_content(path, drills, ContentProfile(bullets="description"))
    assert counts.rejected == 1
    assert only_reason(drills, counts.job_id).startswith(
        "'description:en_US@ecommerce' is given twice, by column 'description:en_US@ecommerce' and by column "
        "'bullets:en_US'")


# ------------------------------------------------------------------------------ "" clears on a variant as null
@pytest.fixture
def shirt(tiny_store: Store) -> Store:
    """A variant below SHIRT-RED (below SHIRT, which holds name) with a stray name the content team once set."""
    content = Provenance(source="content", ref="old.jsonl:1", at=AT)
    tiny_store.upsert_models([ProductModel(code="SHIRT", family_variant="shirts_color_size",
                                           values={"name:en_US": "Shirt"})])
    tiny_store.upsert_models([ProductModel(code="SHIRT-RED", family_variant="shirts_color_size", parent="SHIRT",
                                           values={"color": "red"})])
    tiny_store.upsert_products([Product(identifier="SHIRT-RED-S", family="shirts", parent="SHIRT-RED", source=content,
                                        values={"sku": "SHIRT-RED-S", "size": "s", "name:en_US": "Stray"})])
    return tiny_store


@pytest.mark.parametrize("cleared", ["", None])
def test_an_empty_string_clears_a_model_held_value_on_a_variant_as_null_does(shirt: Store, tmp_path: Path,
                                                                             cleared: str | None) -> None:
    counts = import_content(jsonl(tmp_path, {"sku": "SHIRT-RED-S", "name": {"en_US": cleared}}), shirt)
    assert (counts.rejected, counts.problems, counts.updated) == (0, 0, 1)
    assert shirt.quarantined(counts.job_id) == []
    assert "name:en_US" not in shirt.get_product("SHIRT-RED-S").values


# ------------------------------------------------------------------------------------- a product linked to itself
def test_a_self_link_is_left_out_and_noted_the_rest_of_the_record_taken_in(drills: Store, tmp_path: Path) -> None:
    path = jsonl(tmp_path, {"sku": "D1", "name": {"en_US": "New name"}, "associations": {"X_SELL": ["D1", "D2"]}})
    counts = import_content(path, drills)
    assert (counts.updated, counts.rejected, counts.problems) == (1, 0, 1)
    d1 = drills.get_product("D1")
    assert (d1.values["name:en_US"], d1.associations["X_SELL"].products) == ("New name", ["D2"])
    [problem] = drills.quarantined(counts.job_id, severity="problem")
    assert (problem["field"], problem["record_key"], problem["line"]) == ("associations:X_SELL", "D1", 1)
    assert problem["reason"] == ("X_SELL links D1 to itself: left out (a product is no association of its own); "
                                 "take D1 out of its X_SELL list and import the file again")
    fixed = import_content(jsonl(tmp_path, {"sku": "D1", "associations": {"X_SELL": ["D2"]}}), drills)
    assert fixed.problems == 0 and drills.quarantined(severity="problem") == []  # the problem closed


def test_a_type_linking_only_to_itself_is_left_out_whole(drills: Store, tmp_path: Path) -> None:
    import_content(jsonl(tmp_path, {"sku": "D1", "associations": {"X_SELL": ["D2"]}}), drills)
    counts = import_content(jsonl(tmp_path, {"sku": "D1", "associations": {"X_SELL": ["D1"]}}, name="d.jsonl"), drills)
    assert (counts.rejected, counts.problems) == (0, 1)
    assert drills.get_product("D1").associations["X_SELL"].products == ["D2"]  # what was stored stays


def test_quality_flags_a_stored_self_link(drills: Store) -> None:
    drills.upsert_products([drill("D1", associations={"X_SELL": Association(products=["D1", "D2"])})])
    found = assess(drills, drills.structure(), "ecommerce", [drills.get_product("D1")],
                   kinds=["self_association", "unknown_association"])["D1"]
    assert [(f.code, f.dimension) for f in found] == [("self_association:X_SELL", "valid")]
    assert found[0].reason.startswith("X_SELL links D1 to itself")


def test_a_stored_self_link_is_not_published_and_counted_as_left_out(drills: Store, tmp_path: Path) -> None:
    drills.upsert_products([drill("D1", associations={"X_SELL": Association(products=["D1", "D2"])})])
    result = publish(drills, tmp_path, channel="storefront", scope="ecommerce")
    d1 = products_of(result)["D1"]
    assert (d1["associations"], d1["related"]) == ({"X_SELL": ["D2"]}, {"cross_sell": ["D2"]})
    assert (result.dropped_links, result.dropped_link_examples) == (1, ["D1 → D1 (X_SELL)"])


# -------------------------------------------------------- names the structure lacks: at the header, or did-you-mean
@pytest.mark.parametrize(("column", "message"), [
    ("name:de-DE", "'name:de-DE' names locale 'de-DE' (did you mean 'name:de_DE'?)"),
    ("description:de_DE@ecomerce", "'description:de_DE@ecomerce' names channel 'ecomerce' "
                                   "(did you mean 'description:de_DE@ecommerce'?)"),
    ("bullets:en-us", "'bullets:en-us' names locale 'en-us' (did you mean 'bullets:en_US'?)"),
    ("associations:x_sell", "'associations:x_sell' names association type 'x_sell' (did you mean "
                            "'associations:X_SELL'?)"),
])
def test_a_sheet_naming_a_locale_channel_or_type_the_structure_lacks_is_refused_at_its_header(
        drills: Store, tmp_path: Path, column: str, message: str) -> None:
    path = csv(tmp_path, f"sku,name:en_US,{column}\nD1,A,x\nD2,B,y\n")
    before = drills.get_product("D1")
    with pytest.raises(InputError) as err:
        import_content(path, drills)
    assert message in str(err.value) and "every row would be rejected" in str(err.value)
    assert err.value.field == column and err.value.line == 1
    assert "rename the column" in (err.value.hint or "") and "de_DE, en_US" in (err.value.hint or "")
    assert drills.quarantined() == [] and drills.get_product("D1") == before  # refused once, not row by row


def test_a_declared_locale_no_channel_publishes_is_left_to_the_rows(drills: Store, tmp_path: Path) -> None:
    """A guard (passes before and after): such a column may clear values stored before, so it is no header typo."""
    from pim.structure import Locale

    drills.put_structure("locale", [Locale(code="fr_FR")])
    counts = import_content(csv(tmp_path, "sku,name:fr_FR\nD1,\nD2,Perceuse\n"), drills)
    assert (counts.read, counts.rejected) == (2, 1)
    assert "locale 'fr_FR' is not activated on any channel" in only_reason(drills, counts.job_id)


@pytest.mark.parametrize(("record", "message"), [
    ({"name": {"de-DE": "Bohrer"}}, "locale 'de-DE' is not activated on any channel (did you mean 'de_DE'?)"),
    ({"description": {"de-DE": "Stark"}}, "no channel takes de-DE (did you mean 'de_DE'?)"),
    ({"associations": {"x_sell": ["D2"]}}, "unknown association types ['x_sell'] (did you mean 'X_SELL'?): use the "
                                           "structure's (ACCESSORY, PACK, UPSELL, X_SELL)"),
])
def test_a_json_record_naming_a_locale_or_type_the_structure_lacks_is_told_the_one_meant(
        drills: Store, tmp_path: Path, record: dict[str, Any], message: str) -> None:
    counts = import_content(jsonl(tmp_path, {"sku": "D1", **record}), drills)
    assert counts.rejected == 1
    assert message in only_reason(drills, counts.job_id)


# ------------------------------------------------------------------------------- bullets as one text in JSON
def test_json_bullets_given_as_one_text_split_as_a_sheet_cell_does(seeded: Store, tmp_path: Path) -> None:  # noqa: F811
    counts = import_content(jsonl(tmp_path, {"sku": "A1", "bullets": {"en_US": "18 V| 2 batteries\nCase"}}), seeded)
    assert (counts.updated, counts.rejected) == (1, 0)
    assert seeded.get_product("A1").values["bullets:en_US"] == "18 V\n2 batteries\nCase"


def test_json_bullets_as_one_text_spread_over_the_profiles_attributes(seeded: Store, tmp_path: Path) -> None:  # noqa: F811
    profile = ContentProfile(bullets=["seo_title", "seo_description"])
    import_content(jsonl(tmp_path, {"sku": "A1", "bullets": {"en_US": "one|two"}}), seeded, profile)
    values = seeded.get_product("A1").values
    assert (values["seo_title:en_US"], values["seo_description:en_US"]) == ("one", "two")


# ---------------------------------------------------------------- the whole key (or JSON shape) a value needs
def test_a_json_field_without_locales_is_told_the_json_shape(drills: Store, tmp_path: Path) -> None:
    counts = import_content(jsonl(tmp_path, {"sku": "D1", "description": None}), drills)
    assert only_reason(drills, counts.job_id) == (
        "'description' is localizable: give it per locale (\"description\": {\"en_US\": null})")


def test_a_sheet_column_without_its_channel_is_told_the_whole_column(drills: Store, tmp_path: Path) -> None:
    counts = import_content(csv(tmp_path, "sku,description:en_US\nD1,Strong\n"), drills)
    assert "'description' is scopable: give a channel (description:en_US@ecommerce)" in only_reason(
        drills, counts.job_id)


@pytest.mark.parametrize(("column", "right"), [("description", "description:en_US@ecommerce"),
                                             ("description@print", "description:de_DE@print")])
def test_a_sheet_column_without_its_locale_is_told_one_its_channel_publishes(drills: Store, tmp_path: Path,
                                                                           column: str, right: str) -> None:
    counts = import_content(csv(tmp_path, f"sku,{column}\nD1,Strong\n"), drills)
    assert f"'description' is localizable: give a locale ({right})" in only_reason(drills, counts.job_id)


def test_a_bullets_column_without_its_locale_is_told_the_column(seeded: Store, tmp_path: Path) -> None:  # noqa: F811
    counts = import_content(csv(tmp_path, "sku,bullets\nA1,18 V|2 batteries\n"), seeded)
    assert only_reason(seeded, counts.job_id) == (
        "'bullets' is localizable: give it in a column that names the locale (bullets:en_US)")
