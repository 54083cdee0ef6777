"""BMEcat import on the real Weidmüller catalogs (../shared/bmecat), as an explorer found it importing them on top
of the Akeneo demo: a text for an attribute that is not localizable took the last language of the file, prices
the map does not read went unsaid, a price in a currency the structure lacks replaced the list price, and
problems named the PRODUCT's line rather than their element's."""

import re
from pathlib import Path

import pytest

from importers.bmecat import BmecatMap, BmecatMapper, FeatureTarget, import_bmecat, load_map
from importers.bmecat_reader import BmecatHeader, read_bmecat
from pim.catalog import Structure
from pim.store import Store
from pim.structure import Attribute, AttributeType
from pim.structure_files import StructureFile, load_structure_files, save_structure
from tests.conftest import BMECAT_DIR, ROOT

MAP = ROOT / "importers" / "maps" / "bmecat_eclass_example.yaml"
STRUCTURE = Path(__file__).parent / "data" / "bmecat"
RELAY = BMECAT_DIR / "WEI_BMECat_1303890000.xml"  # deu before eng; a net_customer price with no amount; 7 accessories
LEAD_TIME = "0173-1#02-AAM555#001"  # the relay's is "on request"
#: Attributes that are not localizable, for texts the file sends in two languages.
ONE = [Attribute(code="name_one", type=AttributeType.text), Attribute(code="keywords_one", type=AttributeType.text),
       Attribute(code="lead_time_days", type=AttributeType.number)]
SHORT_DEU = '<DESCRIPTION_SHORT lang="deu">Sicherheitsrelais</DESCRIPTION_SHORT>'
SHORT_ENG = '<DESCRIPTION_SHORT lang="eng">Safety relay</DESCRIPTION_SHORT>'


def _structure_files() -> StructureFile:
    files = load_structure_files(STRUCTURE)
    files.attributes.extend(ONE)
    files.families[0].attributes.extend(a.code for a in ONE)
    return files


@pytest.fixture
def relay_store(store: Store) -> Store:
    save_structure(store, _structure_files())
    return store


def _one_text_map() -> BmecatMap:
    return BmecatMap.model_validate({"supplier": "weidmueller", "fields": {"short": "name_one", "keywords": "keywords_one"},
                                     "languages": {"deu": "de_DE", "eng": "en_US"}})


def _mapped_values(path: Path) -> dict[str, object]:
    files = _structure_files()
    structure = Structure(attributes={a.code: a for a in files.attributes}, locales={l.code: l for l in files.locales})
    header = BmecatHeader()
    [product] = list(read_bmecat(path, header))
    return BmecatMapper(_one_text_map(), structure, str(path)).map(product, header).product.values


def _relay(tmp_path: Path, *changes: tuple[str, str], name: str = "relay.xml") -> Path:
    """The real relay catalog with each (old, new) text replaced once."""
    text = RELAY.read_text(encoding="utf-8")
    for old, new in changes:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _swapped(tmp_path: Path, *changes: tuple[str, str]) -> Path:
    """The relay catalog with its two DESCRIPTION_SHORT lines in the other order (eng first)."""
    return _relay(tmp_path, (f"{SHORT_DEU}\n            {SHORT_ENG}", f"{SHORT_ENG}\n            {SHORT_DEU}"), *changes)


def _price_update(tmp_path: Path, name: str, *prices: tuple[str, str, str]) -> Path:
    """A T_UPDATE_PRICES of the relay under the real catalog's header: (price_type, amount, currency) each."""
    head = RELAY.read_text(encoding="utf-8").split("<T_NEW_CATALOG>")[0]
    body = "".join(f'\n<PRODUCT_PRICE price_type="{kind}"><PRICE_AMOUNT>{amount}</PRICE_AMOUNT>'
                   f"<PRICE_CURRENCY>{currency}</PRICE_CURRENCY><LOWER_BOUND>1</LOWER_BOUND></PRODUCT_PRICE>"
                   for kind, amount, currency in prices)
    path = tmp_path / name
    path.write_text(f'{head}<T_UPDATE_PRICES prev_version="1"><PRODUCT mode="update"><SUPPLIER_PID>1303890000'
                    f"</SUPPLIER_PID><PRODUCT_PRICE_DETAILS>{body}\n</PRODUCT_PRICE_DETAILS></PRODUCT></T_UPDATE_PRICES>"
                    "</BMECAT>\n", encoding="utf-8")
    return path


def _line(path: Path, pattern: str, before: str | None = None) -> int:
    """The line of the first match of `pattern` (or of the last `before` above it) in the file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    at = next(n for n, text in enumerate(lines) if re.search(pattern, text))
    if before is not None:
        at = next(n for n in range(at, -1, -1) if before in lines[n])
    return at + 1


# ---------------------------------------------------------------- 1. one language for an attribute that has one
def test_a_name_that_is_not_localizable_takes_the_catalogs_default_language_in_any_file_order(tmp_path: Path) -> None:
    """Found exploring: `short: name` took "Safety relay" from this deu-first catalog, and the German text once
    the two DESCRIPTION_SHORT lines were swapped; the conflict log flipped with it."""
    assert _mapped_values(RELAY)["name_one"] == "Sicherheitsrelais"
    assert _mapped_values(_swapped(tmp_path))["name_one"] == "Sicherheitsrelais"


def test_the_language_the_header_marks_default_decides_not_the_last_text(tmp_path: Path) -> None:
    path = _swapped(tmp_path, ("<LANGUAGE>eng</LANGUAGE>", '<LANGUAGE default="true">eng</LANGUAGE>'))
    assert _mapped_values(path)["name_one"] == "Safety relay"


def test_keywords_for_an_attribute_that_is_not_localizable_are_the_default_languages() -> None:
    assert _mapped_values(RELAY)["keywords_one"] == "Sicherheitsschaltgeräte, Sicherheitsschalter, Sicherheitsrelais"


# ---------------------------------------------------------------- 2. prices the map does not read, currencies we lack
def _warnings(store: Store, file: str) -> list[dict[str, object]]:
    return [e for e in store.quarantined(severity="warning", file=file) if e["field"] == "price_type"]


def test_prices_all_of_another_price_type_are_one_warning_that_a_clean_run_closes(relay_store: Store, tmp_path: Path) -> None:
    """Found exploring: a T_UPDATE_PRICES whose prices were all net_list (the map reads net_customer) reported
    read 1, unchanged 1 and nothing else."""
    m = load_map(MAP)
    import_bmecat(RELAY, relay_store, m)
    counts = import_bmecat(_price_update(tmp_path, "prices.xml", ("net_list", "199.00", "EUR"), ("net_list", "210.00", "EUR")),
                           relay_store, m)
    assert counts.extra["unread_price_types"] == 1
    [warning] = _warnings(relay_store, "prices.xml")
    assert "'net_list'" in warning["reason"] and "'net_customer'" in warning["reason"]
    assert "Set the map's `price_type`" in warning["reason"]
    import_bmecat(_price_update(tmp_path, "prices.xml", ("net_customer", "199.00", "EUR")), relay_store, m)
    assert _warnings(relay_store, "prices.xml") == []
    assert relay_store.get_product("1303890000").values["price"] == {"EUR": "199.00"}


def test_guard_a_file_with_the_maps_price_type_among_others_warns_nothing(relay_store: Store, tmp_path: Path) -> None:
    """Guard (passes before the fix too): a supplier sending several price types is no mistake of the map."""
    m = load_map(MAP)
    import_bmecat(RELAY, relay_store, m)
    counts = import_bmecat(_price_update(tmp_path, "both.xml", ("net_list", "230.00", "EUR"),
                                         ("net_customer", "199.00", "EUR")), relay_store, m)
    assert "unread_price_types" not in counts.extra and _warnings(relay_store, "both.xml") == []


def test_a_price_in_a_currency_the_structure_lacks_is_a_problem_and_the_stored_price_stays(
        relay_store: Store, tmp_path: Path) -> None:
    """Found exploring: a net_customer price in CHF (the structure has EUR) replaced the list price
    {'EUR': '180.50'} with {'CHF': '201.00'} and went into the price list, without a word."""
    from pim.commerce import contract_tiers

    m = load_map(MAP)
    import_bmecat(RELAY, relay_store, m)
    import_bmecat(_price_update(tmp_path, "eur.xml", ("net_customer", "180.50", "EUR")), relay_store, m)
    path = _price_update(tmp_path, "chf.xml", ("net_customer", "201.00", "CHF"))
    counts = import_bmecat(path, relay_store, m)
    assert relay_store.get_product("1303890000").values["price"] == {"EUR": "180.50"}
    [problem] = relay_store.quarantined(counts.job_id, severity="problem")
    assert (problem["field"], problem["line"]) == ("PRICE_CURRENCY", _line(path, "<PRODUCT_PRICE "))
    assert "currency CHF is not declared in the structure (it has EUR)" in problem["reason"]
    assert "Declare CHF" in problem["reason"]
    assert contract_tiers(relay_store, "purchase_weidmueller", ["1303890000"], "CHF") == {}


def test_a_new_catalog_whose_price_is_in_a_currency_we_lack_keeps_the_stored_price(relay_store: Store, tmp_path: Path) -> None:
    """A T_NEW_CATALOG withdraws what the supplier no longer states; the skipped price is held (stated), not
    withdrawn."""
    m = load_map(MAP)
    priced = "<PRICE_AMOUNT>{}</PRICE_AMOUNT><PRICE_CURRENCY>{}</PRICE_CURRENCY>\n               <LOWER_BOUND>1"
    import_bmecat(_relay(tmp_path, ("<LOWER_BOUND>1", priced.format("180.50", "EUR"))), relay_store, m)
    assert relay_store.get_product("1303890000").values["price"] == {"EUR": "180.50"}
    counts = import_bmecat(_relay(tmp_path, ("<LOWER_BOUND>1", priced.format("201.00", "CHF"))), relay_store, m)
    assert counts.problems >= 1
    assert relay_store.get_product("1303890000").values["price"] == {"EUR": "180.50"}


# ---------------------------------------------------------------- 3. a problem names its element's line
def _problem_lines(store: Store) -> dict[str, int]:
    m = load_map(MAP)
    m.features[LEAD_TIME] = FeatureTarget(attribute="lead_time_days")
    counts = import_bmecat(RELAY, store, m)
    return {p["field"]: p["line"] for p in store.quarantined(counts.job_id, severity="problem")}


def test_a_feature_value_problem_names_its_features_line(relay_store: Store) -> None:
    """Found exploring: "'on request' is not a number" named line 29, the PRODUCT's."""
    assert _problem_lines(relay_store)[LEAD_TIME] == _line(RELAY, "<FVALUE>on request", before="<FEATURE>")


def test_a_price_problem_names_its_product_prices_line(relay_store: Store) -> None:
    """Found exploring: the net_customer price without PRICE_AMOUNT named line 29, the PRODUCT's."""
    assert _problem_lines(relay_store)["PRODUCT_PRICE"] == _line(RELAY, "<PRODUCT_PRICE ")


def test_an_unknown_reference_target_names_its_prod_id_to_line(relay_store: Store) -> None:
    """Found exploring: a PROD_ID_TO no product of ours has named line 29, the PRODUCT's."""
    m = load_map(MAP)
    counts = import_bmecat(RELAY, relay_store, m)
    lines = {p["raw"]["PROD_ID_TO"]: p["line"] for p in relay_store.quarantined(counts.job_id, severity="problem")
             if p["field"] == "PROD_ID_TO"}
    assert len(lines) == 7
    assert lines["1082540000"] == _line(RELAY, "<PROD_ID_TO>1082540000")
    assert lines["1749321687"] == _line(RELAY, "<PROD_ID_TO>1749321687")
