"""BMEcat features as the real Weidmüller catalogs send them (../shared/bmecat, ECLASS Advanced): a feature tree
in FID/FPARENT_ID whose sub-blocks repeat the features of accessories, localized FVALUEs, ECLASS booleans."""

from pathlib import Path
from typing import Any

import pytest

from importers.bmecat import BmecatMap, BmecatMapper, Mapped, import_bmecat
from importers.bmecat_reader import BmecatHeader, read_bmecat
from pim.catalog import Structure
from pim.store import Store
from pim.structure import Attribute, AttributeType
from pim.structure_files import load_structure_files, save_structure
from tests.conftest import BMECAT_DIR

STRUCTURE = Path(__file__).parent / "data" / "bmecat"
TERMINAL = BMECAT_DIR / "WEI_BMECat_1010000000.xml"  # a PE terminal with 11 accessories in its feature tree
RELAY = BMECAT_DIR / "WEI_BMECat_7760056069.xml"
MARKER = BMECAT_DIR / "WEI_BMECat_1609801044.xml"

#: Attributes the ECLASS features below land in, beside tests/data/bmecat's.
EXTRA = [
    Attribute(code="feat_gtin", type=AttributeType.text),
    Attribute(code="feat_mpn", type=AttributeType.text),
    Attribute(code="product_type", type=AttributeType.text, localizable=True),
    Attribute(code="product_type_one", type=AttributeType.text),
    Attribute(code="rated_voltage", type=AttributeType.metric, metric_family="Voltage", default_unit="VOLT"),
    Attribute(code="lead_time_days", type=AttributeType.number),
    Attribute(code="bridge", type=AttributeType.boolean),
]
GTIN, MPN, TYPE, VOLTAGE, LEAD_TIME, BRIDGE = ("0173-1#02-AAO663#002", "0173-1#02-AAO676#002", "0173-1#02-AAN389#001",
                                               "0173-1#02-BAH005#003", "0173-1#02-AAM555#001", "0173-1#02-AAN404#004")


def _map(**features: dict[str, Any]) -> BmecatMap:
    return BmecatMap.model_validate({"supplier": "weidmueller", "family": "electrical", "channel": "ecommerce",
                                     "fields": {"short": "name", "ean": "ean"}, "feature_systems": ["ECLASS"],
                                     "languages": {"deu": "de_DE", "eng": "en_US"}, "features": features})


REAL_MAP = _map(**{GTIN: {"attribute": "feat_gtin"}, MPN: {"attribute": "feat_mpn"},
                   TYPE: {"attribute": "product_type_one"}, VOLTAGE: {"attribute": "rated_voltage", "unit": "VOLT"},
                   LEAD_TIME: {"attribute": "lead_time_days"}, BRIDGE: {"attribute": "bridge"}})


def _structure() -> Structure:
    files = load_structure_files(STRUCTURE)
    return Structure(attributes={a.code: a for a in [*files.attributes, *EXTRA]}, locales={l.code: l for l in files.locales})


def _mapped(path: Path, m: BmecatMap) -> Mapped:
    header = BmecatHeader()
    [product] = list(read_bmecat(path, header))
    return BmecatMapper(m, _structure(), str(path)).map(product, header)


def _xml(tmp_path: Path, feature: str, languages: str = "<LANGUAGE>eng</LANGUAGE><LANGUAGE default=\"true\">deu</LANGUAGE>") -> Path:
    path = tmp_path / "c.xml"
    path.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<BMECAT version="2005" xmlns="http://www.bmecat.org/bmecat/2005">'
                    f"<HEADER><CATALOG>{languages}<CURRENCY>EUR</CURRENCY></CATALOG></HEADER><T_NEW_CATALOG>\n"
                    "<PRODUCT><SUPPLIER_PID>p1</SUPPLIER_PID><PRODUCT_FEATURES>"
                    "<REFERENCE_FEATURE_SYSTEM_NAME>ECLASS-9.0</REFERENCE_FEATURE_SYSTEM_NAME>\n"
                    f"{feature}\n</PRODUCT_FEATURES></PRODUCT></T_NEW_CATALOG></BMECAT>\n", encoding="utf-8")
    return path


def _problems(mapped: Mapped, field: str) -> list[str]:
    return [reason for where, reason, *_ in mapped.problems if where == field]


# ---------------------------------------------------------------- 1. the feature tree (real files)
def test_the_reader_gives_each_feature_its_depth_in_the_fid_tree() -> None:
    [product] = list(read_bmecat(MARKER))
    depth = {(f.code, f.line): f.depth for f in product.features}
    assert depth["0173-1#02-AAR080#005", 50] == 0  # "Mechanische und elektrische Konstruktion": FPARENT_ID -1
    assert depth["0173-1#02-AAF040#004", 70] == 2  # net weight, two blocks down
    assert depth[GTIN, 175] == 1  # in the manufacturer block, in a FEATURE_GROUP


def test_a_parent_after_its_child_and_a_cycle_still_read(tmp_path: Path) -> None:
    def feature(fid: str, parent: str) -> str:
        return f"<FEATURE><FNAME>f{fid}</FNAME><FVALUE>1</FVALUE><FID>{fid}</FID><FPARENT_ID>{parent}</FPARENT_ID></FEATURE>"

    tree = feature("3", "2") + feature("2", "1") + feature("1", "-1") + feature("8", "9") + feature("9", "8")
    [product] = list(read_bmecat(_xml(tmp_path, tree)))
    depth = {f.code: f.depth for f in product.features}
    assert (depth["f1"], depth["f2"], depth["f3"]) == (0, 1, 2)
    assert depth["f8"] > 0 and depth["f9"] > 0  # a broken file: some depth, in bounded time


def test_the_products_own_features_win_over_its_accessories() -> None:
    """Found exploring: the terminal got an accessory's GTIN, MPN and product type (a screwdriver), the last
    occurrence winning; the file repeats them inside each accessory's block, deeper in the FID tree."""
    values = _mapped(TERMINAL, REAL_MAP).product.values
    assert values["feat_gtin"] == "4008190143640" and values["ean"] == "4008190143640"
    assert values["feat_mpn"] == "1010000000"
    assert values["product_type_one"] == "Schutzleiter-Reihenklemme"  # the catalog's default language, deu
    assert values["lead_time_days"] == "2"  # as the file writes it
    assert values["bridge"] is False  # VALUE_IDREF 0173-1#07-CAA017#003, FVALUE_DETAILS "Nein"


def test_accessories_lead_times_are_no_problems_of_the_product() -> None:
    """Found exploring: 57 "'on request' is not a number" problems, all about accessories' lead times."""
    assert not [r for r in _problems(_mapped(TERMINAL, REAL_MAP), LEAD_TIME) if "not a number" in r]
    relay = _mapped(RELAY, REAL_MAP)  # its own lead time is "on request": one problem, its own
    assert _problems(relay, LEAD_TIME) == ["'on request' is not a number; the value is skipped"]
    assert "lead_time_days" not in relay.product.values


def test_a_feature_given_twice_at_the_same_level_is_a_problem_naming_both_lines() -> None:
    """The terminal's ratings block holds its IEC rating (800 V) and its UL rating (600 V) side by side: the
    first is kept, with a problem naming both, instead of the last silently."""
    mapped = _mapped(TERMINAL, REAL_MAP)
    assert mapped.product.values["rated_voltage"] == {"amount": "800", "unit": "VOLT"}
    [note] = [n for n in mapped.problems if n[0] == VOLTAGE]
    assert "'800' (line 884)" in note[1] and "'600' (line 921)" in note[1] and note[2] == 921


def test_a_repeated_feature_without_a_tree_is_a_problem_too(tmp_path: Path) -> None:
    twice = (f"<FEATURE><FNAME>{VOLTAGE}</FNAME><FVALUE>230</FVALUE></FEATURE>"
             f"<FEATURE><FNAME>{VOLTAGE}</FNAME><FVALUE>400</FVALUE></FEATURE>")
    mapped = _mapped(_xml(tmp_path, twice), REAL_MAP)
    assert mapped.product.values["rated_voltage"] == {"amount": "230", "unit": "VOLT"}
    [reason] = _problems(mapped, VOLTAGE)
    assert "'230' (line 4)" in reason and "'400' (line 4)" in reason


# ---------------------------------------------------------------- 2. localized FVALUEs
LOCALIZED = f'<FEATURE><FNAME>{TYPE}</FNAME><FVALUE lang="eng">Relay</FVALUE><FVALUE lang="deu">Relais</FVALUE></FEATURE>'


def test_localized_values_go_to_their_locales(tmp_path: Path) -> None:
    values = _mapped(_xml(tmp_path, LOCALIZED), _map(**{TYPE: {"attribute": "product_type"}})).product.values
    assert values["product_type:en_US"] == "Relay" and values["product_type:de_DE"] == "Relais"
    assert "product_type" not in values


def test_a_value_without_lang_is_in_the_catalogs_default_language(tmp_path: Path) -> None:
    plain = f"<FEATURE><FNAME>{TYPE}</FNAME><FVALUE>Relais</FVALUE></FEATURE>"
    values = _mapped(_xml(tmp_path, plain), _map(**{TYPE: {"attribute": "product_type"}})).product.values
    assert values == {"product_type:de_DE": "Relais"}  # LANGUAGE default="true" is deu, though eng comes first


def test_a_non_localizable_attribute_takes_the_catalogs_default_language(tmp_path: Path) -> None:
    values = _mapped(_xml(tmp_path, LOCALIZED), REAL_MAP).product.values
    assert values["product_type_one"] == "Relais"  # deu is the default; the first FVALUE is English


def test_else_the_maps_first_language(tmp_path: Path) -> None:
    path = _xml(tmp_path, LOCALIZED, languages="<LANGUAGE>fra</LANGUAGE>")  # no FVALUE in French
    assert _mapped(path, REAL_MAP).product.values["product_type_one"] == "Relais"  # the map lists deu first


def test_ger_and_deu_are_one_language(tmp_path: Path) -> None:
    """BMEcat allows either ISO 639-2 code (importers.bmecat_map_checks.with_twins): the catalog says deu, the
    feature ger, the map lists deu."""
    path = _xml(tmp_path, LOCALIZED.replace('lang="deu"', 'lang="ger"'), languages="<LANGUAGE>deu</LANGUAGE>")
    assert _mapped(path, _map(**{TYPE: {"attribute": "product_type"}})).product.values["product_type:de_DE"] == "Relais"
    assert _mapped(path, REAL_MAP).product.values["product_type_one"] == "Relais"


def test_a_feature_value_in_a_language_the_map_lacks_joins_the_unmapped_warning(tmp_path: Path) -> None:
    """Found in round 30's review: its text was dropped while the file's warning counted texts only."""
    french = LOCALIZED.replace('lang="deu">Relais', 'lang="fra">Relais')
    header = BmecatHeader()
    [product] = list(read_bmecat(_xml(tmp_path, french), header))
    mapper = BmecatMapper(_map(**{TYPE: {"attribute": "product_type"}}), _structure(), "c.xml")
    assert mapper.map(product, header).product.values == {"product_type:en_US": "Relay"}
    assert mapper.unmapped == {"fra"}


def test_a_real_localized_feature_imports_into_a_localizable_attribute(store: Store) -> None:
    """Found exploring: the product was rejected ("'product_type' is localizable: give a locale")."""
    files = load_structure_files(STRUCTURE)
    files.attributes.extend(EXTRA)
    files.families[0].attributes.extend(a.code for a in EXTRA)
    save_structure(store, files)
    counts = import_bmecat(MARKER, store, _map(**{TYPE: {"attribute": "product_type"}}))
    assert (counts.created, counts.rejected) == (1, 0)
    values = store.get_product("1609801044").values
    assert values["product_type:en_US"] == "Terminal marking" and values["product_type:de_DE"] == "Klemmenmarkierung"


# ---------------------------------------------------------------- 3. booleans
def _bridge(tmp_path: Path, inner: str, options: dict[str, str] | None = None) -> Mapped:
    m = _map(**{BRIDGE: {"attribute": "bridge", "options": options or {}}})
    return _mapped(_xml(tmp_path, f"<FEATURE><FNAME>{BRIDGE}</FNAME>{inner}</FEATURE>"), m)


def test_the_eclass_true_irdi_is_true(tmp_path: Path) -> None:
    """Found exploring: `0173-1#07-CAA016#001` (with FVALUE_DETAILS "Ja") was stored as False."""
    mapped = _bridge(tmp_path, "<VALUE_IDREF>0173-1#07-CAA016#001</VALUE_IDREF><FVALUE_DETAILS>Ja</FVALUE_DETAILS>")
    assert mapped.product.values["bridge"] is True and not mapped.problems


def test_the_maps_options_apply_to_booleans(tmp_path: Path) -> None:
    mapped = _bridge(tmp_path, "<VALUE_IDREF>0173-1#07-ZZZ001#001</VALUE_IDREF>", {"0173-1#07-ZZZ001#001": "true"})
    assert mapped.product.values["bridge"] is True


def test_an_unrecognised_boolean_is_skipped_with_a_problem_not_false(tmp_path: Path) -> None:
    mapped = _bridge(tmp_path, "<FVALUE>vielleicht</FVALUE>")
    assert "bridge" not in mapped.product.values
    [reason] = _problems(mapped, BRIDGE)
    assert "'vielleicht' is neither yes nor no" in reason and f"features.{BRIDGE}.options" in reason


def test_an_eclass_irdi_its_own_text_contradicts_is_skipped(tmp_path: Path) -> None:
    mapped = _bridge(tmp_path, "<VALUE_IDREF>0173-1#07-CAA016#001</VALUE_IDREF><FVALUE_DETAILS>Nein</FVALUE_DETAILS>")
    assert "bridge" not in mapped.product.values
    [reason] = _problems(mapped, BRIDGE)
    assert "ECLASS's true, but the file says 'Nein'" in reason


@pytest.mark.parametrize("word, flag", [("ja", True), ("Nein", False), ("true", True), ("0", False)])
def test_yes_and_no_words_still_read(tmp_path: Path, word: str, flag: bool) -> None:
    assert _bridge(tmp_path, f"<FVALUE>{word}</FVALUE>").product.values["bridge"] is flag
