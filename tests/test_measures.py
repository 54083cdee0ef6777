"""The measurement catalogue: Akeneo's families and unit codes, exact conversions (temperatures with offsets),
other spellings (UN/ECE Rec 20 codes, symbols) resolved without mixing up mW and MW, structure files that extend
it, and metric values checked against it wherever they enter (importers, the web, channels)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from channels.framework import ChannelCatalog, FieldMap, FieldMapper
from channels.framework import convert as channel_convert
from importers.bmecat import import_bmecat, load_map
from importers.bmecat_reader import BmecatHeader, read_bmecat
from importers.erp_csv import ErpCsvMap, product_items
from pim.catalog import Structure
from pim.errors import ConfigError
from pim.importing import run_import
from pim.measures import BUILTIN_FILE, UnitError, builtin, convert, resolve, units
from pim.merge import Merger
from pim.product import Product
from pim.schemas import load_schema
from pim.store import Store
from pim.structure import Attribute, MeasurementFamily
from pim.structure_files import StructureErrors, load_structure_files, save_structure
from pim.validation import RecordValidator
from pim.values import ValueProblem, normalize
from pim.web.editing import text_value
from tests.conftest import BMECAT_DIR, ROOT, TEST_STRUCTURE
from tests.source_data import PRECEDENCE, seed_structure

WEIGHT = Attribute(code="weight", type="metric", metric_family="Weight", default_unit="KILOGRAM")
REQUIRED = ["Weight", "Length", "Area", "Volume", "Temperature", "Power", "Voltage", "Intensity", "Frequency",
            "Duration", "Pressure", "Energy", "Speed", "Resistance"]


# ------------------------------------------------------------------------------------------- the catalogue
def test_builtin_catalogue_has_akeneos_families_without_clashing_spellings() -> None:
    catalogue = builtin()
    assert set(REQUIRED) <= set(catalogue.families)
    assert catalogue.conflicts == []
    for family in catalogue.families.values():
        standard = family.units[family.standard]
        assert (standard.factor, standard.offset) == (1, 0), family.code
    assert units("Weight")[:4] == ["KILOGRAM", "GRAM", "MILLIGRAM", "MICROGRAM"]


def test_builtin_catalogue_is_a_valid_structure_file() -> None:
    jsonschema.validate(yaml.safe_load(BUILTIN_FILE.read_text(encoding="utf-8")), load_schema("structure"))


@pytest.mark.parametrize("family, text, code", [
    ("Weight", "KILOGRAM", "KILOGRAM"), ("Weight", "kilogram", "KILOGRAM"), ("Weight", "KGM", "KILOGRAM"),
    ("Weight", "kg", "KILOGRAM"), ("Weight", "KG", "KILOGRAM"), ("Weight", "Kg", "KILOGRAM"),
    ("Weight", " g ", "GRAM"), ("Weight", "GRM", "GRAM"), ("Weight", "LBR", "POUND"), ("Weight", "lbs", "POUND"),
    ("Weight", "µg", "MICROGRAM"), ("Weight", "μg", "MICROGRAM"), ("weight", "MG", "MILLIGRAM"),
    ("Length", "MMT", "MILLIMETER"), ("Length", "CMT", "CENTIMETER"), ("Length", "MTR", "METER"),
    ("Length", "m", "METER"), ("Length", "mm", "MILLIMETER"), ("Length", "MM", "MILLIMETER"),
    ("Length", "INH", "INCH"), ("Length", "in", "INCH"), ("Length", "FOOT", "FEET"),
    ("Volume", "LTR", "LITER"), ("Volume", "MLT", "MILLILITER"), ("Volume", "ml", "MILLILITER"),
    ("Volume", "ML", "MILLILITER"), ("Volume", "L", "LITER"),
    ("Power", "WTT", "WATT"), ("Power", "KWT", "KILOWATT"), ("Power", "W", "WATT"), ("Power", "kW", "KILOWATT"),
    ("Power", "mW", "MILLIWATT"), ("Power", "MW", "MEGAWATT"), ("Power", "mw", "MILLIWATT"),  # lower-case m: milli
    ("Voltage", "VLT", "VOLT"), ("Voltage", "V", "VOLT"), ("Voltage", "mV", "MILLIVOLT"),
    ("Intensity", "AMP", "AMPERE"), ("Intensity", "A", "AMPERE"), ("Intensity", "mA", "MILLIAMPERE"),
    ("Intensity", "MA", "MILLIAMPERE"),
    ("Frequency", "HTZ", "HERTZ"), ("Frequency", "Hz", "HERTZ"), ("Frequency", "MHz", "MEGAHERTZ"),
    ("Temperature", "CEL", "CELSIUS"), ("Temperature", "°C", "CELSIUS"), ("Temperature", "FAH", "FAHRENHEIT"),
    ("Temperature", "KEL", "KELVIN"), ("Temperature", "K", "KELVIN"),
    ("Duration", "SEC", "SECOND"), ("Duration", "MIN", "MINUTE"), ("Duration", "HUR", "HOUR"), ("Duration", "h", "HOUR"),
    ("Pressure", "BAR", "BAR"), ("Pressure", "PAL", "PASCAL"), ("Pressure", "mbar", "MILLIBAR"),
    ("Pressure", "Mbar", "MEGABAR"), ("Pressure", "MPa", "MEGAPASCAL"), ("Pressure", "hPa", "HECTOPASCAL"),
    ("Resistance", "Ω", "OHM"), ("Resistance", "\u2126", "OHM"), ("Resistance", "kΩ", "KILOHM"),
    ("Energy", "kWh", "KILOWATTHOUR"), ("Speed", "km/h", "KILOMETER_PER_HOUR"), ("Area", "m²", "SQUARE_METER"),
])
def test_codes_aliases_and_symbols_resolve(family: str, text: str, code: str) -> None:
    assert resolve(family, text) == code


@pytest.mark.parametrize("family, text", [
    ("Weight", "METER"),   # another family's unit
    ("Weight", "kgx"),
    ("Pressure", "mPa"),   # millipascal is not MEGAPASCAL, whatever the case-folding says
    ("Pressure", "mpa"),
    ("Pressure", "MBAR"),  # millibar or megabar
    ("Resistance", "MOHM"),
    ("Power", "Mw"),       # a capital M is mega, and MW is spelled so
    ("Weight", "Mg"),
    ("Length", "Km/H"),
    ("Nope", "kg"),        # no such family
])
def test_unknown_and_ambiguous_spellings_resolve_to_nothing(family: str, text: str) -> None:
    assert resolve(family, text) is None


def test_conversions_are_exact() -> None:
    assert convert("850", "GRAM", "KILOGRAM") == Decimal("0.85")
    assert convert("1", "POUND", "GRAM") == Decimal("453.59237")
    assert convert("1", "OUNCE", "GRAM") == Decimal("28.349523125")
    assert convert("1", "OUNCE", "MILLILITER") == Decimal("28.4130625")  # the fluid ounce of Volume
    assert convert("1", "INCH", "MILLIMETER") == Decimal("25.4")
    assert convert("3.6", "KILOMETER_PER_HOUR", "METER_PER_SECOND") == 1
    assert convert("1", "kg", "lb", family="Weight") == Decimal("2.204622621848775807229738013450270")  # 34 digits
    with pytest.raises(UnitError, match="GRAM is a unit of Weight, METER is a unit of Length"):
        convert("1", "GRAM", "METER")


@pytest.mark.parametrize("amount, unit, to, expected", [
    ("100", "CELSIUS", "FAHRENHEIT", "212"), ("-40", "FAHRENHEIT", "CELSIUS", "-40"),
    ("0", "CELSIUS", "KELVIN", "273.15"), ("32", "FAHRENHEIT", "CELSIUS", "0"), ("0", "KELVIN", "CELSIUS", "-273.15"),
    ("491.67", "RANKINE", "FAHRENHEIT", "32"), ("80", "REAUMUR", "CELSIUS", "100"), ("21.5", "°C", "°F", "70.7"),
])
def test_temperatures_convert_with_their_offsets(amount: str, unit: str, to: str, expected: str) -> None:
    assert convert(amount, unit, to, family="Temperature") == Decimal(expected)


_PAIRS = [(f.code, a, b) for f in builtin().families.values() for a in f.units for b in f.units if a != b]
_AMOUNTS = st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"), allow_nan=False, places=6)


@settings(max_examples=300, deadline=None)
@given(pair=st.sampled_from(_PAIRS), amount=_AMOUNTS)
def test_a_conversion_and_back_returns_the_amount(pair: tuple[str, str, str], amount: Decimal) -> None:
    family, a, b = pair
    there = convert(amount, a, b, family)
    back = convert(there, b, a, family)
    assert abs(back - amount) <= max(abs(amount), 1) * Decimal("1e-24"), (there, back)


def _decimal_units() -> list[tuple[str, str, str]]:
    """Pairs whose factors are powers of ten (the metric prefixes): their conversions must be exact."""
    tens = {Fraction(10) ** k for k in range(-18, 13)}

    def decimal(family: str, unit: str) -> bool:
        u = builtin().families[family].units[unit]
        return u.offset == 0 and u.factor in tens

    return [(f, a, b) for f, a, b in _PAIRS if decimal(f, a) and decimal(f, b)]


@settings(max_examples=200, deadline=None)
@given(pair=st.sampled_from(_decimal_units()), amount=_AMOUNTS)
def test_metric_prefix_conversions_lose_no_digit(pair: tuple[str, str, str], amount: Decimal) -> None:
    family, a, b = pair
    units_of = builtin().families[family].units
    exact = Fraction(amount) * units_of[a].factor / units_of[b].factor
    assert Fraction(convert(amount, a, b, family)) == exact


# ------------------------------------------------------------------------------------------- values
def test_a_metric_value_takes_any_spelling_of_a_unit_and_stores_its_code() -> None:
    assert normalize(WEIGHT, {"amount": "1,5", "unit": "kg"}) == {"amount": "1.5", "unit": "KILOGRAM"}
    assert normalize(WEIGHT, {"amount": "250", "unit": "GRM"}) == {"amount": "250", "unit": "GRAM"}
    assert normalize(WEIGHT, {"amount": "2"}) == {"amount": "2", "unit": "KILOGRAM"}


def test_an_unknown_unit_names_the_family_and_units_that_fit() -> None:
    with pytest.raises(ValueProblem) as err:
        normalize(WEIGHT, {"amount": "1", "unit": "METER"})
    assert str(err.value).startswith("unit 'METER' is not a unit of Weight; use a unit code, symbol or UN/ECE code")
    assert "KILOGRAM (kg), GRAM (g)" in str(err.value)


def test_a_family_outside_the_catalogue_keeps_the_form_only_rule() -> None:
    odd = Attribute(code="dose", type="metric", metric_family="Dose", default_unit="SIEVERT")
    assert normalize(odd, {"amount": "1", "unit": "sievert"}) == {"amount": "1", "unit": "SIEVERT"}


def test_the_validators_shortcut_only_passes_unit_codes_of_the_family() -> None:
    validator = RecordValidator(Structure(attributes={"weight": WEIGHT}))
    for given_value, kept in [({"amount": "1", "unit": "GRAM"}, {"amount": "1", "unit": "GRAM"}),
                              ({"amount": "1", "unit": "kg"}, {"amount": "1", "unit": "KILOGRAM"})] * 2:
        record = {"weight": given_value}
        assert validator.check_values(record, None, scope="f") == [] and record["weight"] == kept
    record = {"weight": {"amount": "1", "unit": "METER"}}
    [problem] = validator.check_values(record, None, scope="f")
    assert problem.field == "weight" and "not a unit of Weight" in problem.reason


@pytest.mark.parametrize("raw, expected", [
    ("12.5 kg", {"amount": "12.5", "unit": "KILOGRAM"}), ("12,5 KILOGRAM", {"amount": "12.5", "unit": "KILOGRAM"}),
    ("3 KGM", {"amount": "3", "unit": "KILOGRAM"}), ("750g", {"amount": "750", "unit": "GRAM"}),
    ("2", {"amount": "2", "unit": "KILOGRAM"}),
])
def test_the_one_field_edit_reads_any_spelling_of_a_unit(raw: str, expected: dict[str, str]) -> None:
    assert text_value(WEIGHT, raw) == expected


def test_the_one_field_edit_refuses_an_unknown_unit_clearly() -> None:
    with pytest.raises(ValueProblem, match="unit 'stone' is not a unit of Weight"):
        text_value(WEIGHT, "12 stone")


# ------------------------------------------------------------------------------------------- structure files
EXTENSION = """\
measurement_families:
  - code: Weight
    standard_unit: KILOGRAM
    units:
      - {code: CARAT, factor: "0.0002", symbol: ct, aliases: [CTM]}
      - {code: KILOGRAM, factor: "1", symbol: kg, aliases: [Kilo.]}
  - code: Luminance
    standard_unit: CANDELA_PER_SQUARE_METER
    labels: {en_US: Luminance}
    units:
      - {code: CANDELA_PER_SQUARE_METER, factor: "1", symbol: cd/m², aliases: [nit, A24]}
attributes:
  - {code: sku, type: identifier}
  - {code: stone_weight, type: metric, metric_family: Weight, default_unit: CARAT}
  - {code: brightness, type: metric, metric_family: Luminance, default_unit: CANDELA_PER_SQUARE_METER}
"""


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "s.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def test_structure_files_extend_the_catalogue_and_the_store_keeps_it(store: Store, tmp_path: Path) -> None:
    counts = save_structure(store, load_structure_files(_write(tmp_path, EXTENSION)))
    assert counts["measurement_families"] == 2
    s = store.structure()
    assert set(s.measurement_families) == {"Weight", "Luminance"}
    measures = s.measures
    assert measures.resolve("Weight", "ct") == measures.resolve("Weight", "CTM") == "CARAT"
    assert measures.resolve("Weight", "KGM") == measures.resolve("Weight", "Kilo.") == "KILOGRAM"  # aliases add up
    assert measures.resolve("Weight", "GRM") == "GRAM"  # built-in units stay
    assert measures.convert("5", "CARAT", "GRAM", "Weight") == 1
    stone = s.attributes["stone_weight"]
    assert normalize(stone, {"amount": "2", "unit": "ct"}, None, measures) == {"amount": "2", "unit": "CARAT"}
    assert normalize(s.attributes["brightness"], {"amount": "300", "unit": "nit"}, None, measures) == {
        "amount": "300", "unit": "CANDELA_PER_SQUARE_METER"}
    assert [m.code for m in store.get_structure("measurement_family")] == ["Luminance", "Weight"]


def test_the_shipped_and_test_structures_still_load() -> None:
    for folder in (TEST_STRUCTURE, ROOT / "tests" / "data" / "bmecat"):
        assert load_structure_files(folder).attributes


@pytest.mark.parametrize("attribute, field, said", [
    ("{code: w, type: metric, metric_family: Wieght, default_unit: KILOGRAM}", "attributes.0.metric_family",
     "'Wieght' is not a measurement family; known: Area, Binary"),
    ("{code: w, type: metric, metric_family: Weight, default_unit: METER}", "attributes.0.default_unit",
     "default_unit 'METER' is not a unit of Weight; use one of KILOGRAM, GRAM"),
    ("{code: w, type: metric, metric_family: Weight, default_unit: kg}", "attributes.0.default_unit",
     "default_unit 'kg' means KILOGRAM; write the unit code KILOGRAM"),
])
def test_a_metric_attribute_must_name_a_known_family_and_unit(tmp_path: Path, attribute: str, field: str,
                                                              said: str) -> None:
    with pytest.raises(StructureErrors) as err:
        load_structure_files(_write(tmp_path, f"attributes:\n  - {attribute}\n"))
    [problem] = err.value.problems
    assert (problem.field, problem.line) == (field, 2) and said in problem.reason, problem.reason


@pytest.mark.parametrize("family, field, said", [
    ("{code: Weight, standard_unit: GRAM, units: [{code: CARAT, factor: '0.2'}]}", "measurement_families.0.standard_unit",
     "the built-in family Weight has the standard unit KILOGRAM"),
    ("{code: Weight, standard_unit: KILOGRAM, units: [{code: CARAT, factor: '0.0002', symbol: g}]}",
     "measurement_families.0.units", "'g' names both GRAM and CARAT"),
    ("{code: Dose, standard_unit: SIEVERT, units: [{code: MILLISIEVERT, factor: '0.001'}]}",
     "measurement_families.0.standard_unit", "the standard unit SIEVERT is not one of its units"),
])
def test_a_declared_family_that_clashes_is_refused(tmp_path: Path, family: str, field: str, said: str) -> None:
    with pytest.raises(StructureErrors) as err:
        load_structure_files(_write(tmp_path, f"measurement_families:\n  - {family}\n"))
    [problem] = err.value.problems
    assert problem.field == field and said in problem.reason, problem.reason


def test_a_factor_must_be_a_positive_number_or_quotient() -> None:
    unit = {"code": "X", "factor": "5/9"}
    assert MeasurementFamily(code="F", standard_unit="X", units=[{"code": "X", "factor": 1}]).units[0].factor == "1"
    for bad in ("0", "-1", "abc", "1/0"):
        with pytest.raises(ValueError):
            MeasurementFamily(code="F", standard_unit="Y", units=[{**unit, "factor": bad}])


# ------------------------------------------------------------------------------------------- importers
ERP_HEADER = "Material;Gewicht;GewEinheit"
ERP_MAP = {"delimiter": ";", "decimal": ",", "sku_column": "Material", "family": "tool",
           "columns": {"Gewicht": {"to": "weight", "unit_from": "GewEinheit", "unit_map": {"GR": "GRAM"}}}}


def test_an_erp_unit_outside_the_map_resolves_through_the_catalogue_or_is_quarantined(store: Store,
                                                                                       tmp_path: Path) -> None:
    seed_structure(store)
    path = tmp_path / "erp.csv"
    path.write_text("\n".join([ERP_HEADER, "A1;1,5;KGM", "A2;500;GR", "A3;2;lb", "A4;3;ZTR"]) + "\n", encoding="utf-8")
    structure = store.structure()
    counts = run_import(store, "erp", product_items(path, ErpCsvMap(**ERP_MAP), structure), structure=structure,
                        merge=Merger(PRECEDENCE, create_missing=True))
    assert (counts.created, counts.rejected) == (3, 1)
    weights = {sku: store.get_product(sku).values["weight"] for sku in ("A1", "A2", "A3")}  # type: ignore[union-attr]
    assert weights == {"A1": {"amount": "1.5", "unit": "KILOGRAM"}, "A2": {"amount": "500", "unit": "GRAM"},
                       "A3": {"amount": "2", "unit": "POUND"}}  # the map's GR wins over the catalogue's GRAIN
    [row] = store.quarantined(counts.job_id)
    assert (row["line"], row["field"]) == (5, "Gewicht")
    assert row["reason"].startswith("column 'GewEinheit' (the rule's `unit_from`): unit 'ZTR' is not a unit of Weight; "
                                    "use a unit code, symbol or UN/ECE code such as KILOGRAM (kg), GRAM (g)")


BMECAT_MAP = ROOT / "importers" / "maps" / "bmecat_eclass_example.yaml"
HEIGHT = "0173-1#02-BAA020#007"


def _bmecat(tmp_path: Path, funits: list[str]) -> Path:
    products = "".join(
        f"""<PRODUCT><SUPPLIER_PID>p{i}</SUPPLIER_PID><PRODUCT_DETAILS><DESCRIPTION_SHORT lang="eng">P{i}</DESCRIPTION_SHORT>
</PRODUCT_DETAILS><PRODUCT_FEATURES><REFERENCE_FEATURE_SYSTEM_NAME>ECLASS-9.0</REFERENCE_FEATURE_SYSTEM_NAME>
<FEATURE><FNAME>{HEIGHT}</FNAME><FVALUE>27,5</FVALUE><FUNIT>{funit}</FUNIT></FEATURE></PRODUCT_FEATURES></PRODUCT>"""
        for i, funit in enumerate(funits))
    path = tmp_path / "c.xml"
    path.write_text(f"""<?xml version="1.0" encoding="UTF-8"?>
<BMECAT version="2005" xmlns="http://www.bmecat.org/bmecat/2005"><HEADER><CATALOG><LANGUAGE>eng</LANGUAGE>
<CURRENCY>EUR</CURRENCY></CATALOG></HEADER><T_NEW_CATALOG>{products}</T_NEW_CATALOG></BMECAT>""", encoding="utf-8")
    return path


@pytest.fixture
def supplier_store(store: Store) -> Store:
    save_structure(store, load_structure_files(ROOT / "tests" / "data" / "bmecat"))
    return store


def test_a_bmecat_funit_without_a_map_entry_resolves_through_the_catalogue(supplier_store: Store,
                                                                           tmp_path: Path) -> None:
    m = load_map(BMECAT_MAP)
    assert m.features[HEIGHT].units == {}  # the example map names no FUNIT
    counts = import_bmecat(_bmecat(tmp_path, ["MMT", "CMT", "FOT", "XYZ"]), supplier_store, m)
    heights = [supplier_store.get_product(f"p{i}").values.get("height") for i in range(4)]  # type: ignore[union-attr]
    assert heights == [{"amount": "27.5", "unit": "MILLIMETER"}, {"amount": "27.5", "unit": "CENTIMETER"},
                       {"amount": "27.5", "unit": "FEET"}, None]
    [note] = supplier_store.quarantined(counts.job_id, severity="problem")
    assert (note["record_key"], note["field"]) == ("p3", HEIGHT)
    assert note["reason"].startswith("FUNIT 'XYZ' is not a unit of Length")
    assert f"map it under features.{HEIGHT}.units" in note["reason"]


def test_the_bmecat_maps_units_still_win(supplier_store: Store, tmp_path: Path) -> None:
    m = load_map(BMECAT_MAP)
    m.features[HEIGHT].units["MMT"] = "CENTIMETER"  # a supplier whose MMT means something else
    import_bmecat(_bmecat(tmp_path, ["MMT"]), supplier_store, m)
    assert supplier_store.get_product("p0").values["height"] == {"amount": "27.5", "unit": "CENTIMETER"}  # type: ignore[union-attr]


def test_the_real_catalogs_carry_no_funit_so_the_maps_unit_applies() -> None:
    """Weidmueller's ECLASS features name their unit in FT_NAME ("Ausrichtung (in mm)") and carry no FUNIT: the
    map's `unit:` applies (tests/test_bmecat.py checks the imported values)."""
    for path in sorted(BMECAT_DIR.glob("WEI_BMECat_*.xml")):
        for product in read_bmecat(path, BmecatHeader()):
            assert all(f.unit is None for f in product.features), path.name


# ------------------------------------------------------------------------------------------- channels
class _Values:
    """The resolver FieldMapper reads values through: here the values as given."""

    def get(self, values: dict[str, Any], code: str, scope: str, locale: str) -> Any:
        return values.get(code)


def _mapper(*fields: FieldMap) -> FieldMapper:
    s = Structure(attributes={"max_temp": Attribute(code="max_temp", type="metric", metric_family="Temperature",
                                                    default_unit="CELSIUS"), "weight": WEIGHT})
    return FieldMapper(ChannelCatalog(code="t", renderer="storefront", fields=list(fields)), s, _Values(), "ecommerce")


def test_channel_fields_convert_through_the_catalogue_with_temperature_offsets() -> None:
    mapper = _mapper(FieldMap(output="f", attribute="max_temp", unit="°F"),
                     FieldMap(output="lb", attribute="weight", unit="POUND"))
    values = {"max_temp": {"amount": "40", "unit": "CELSIUS"}, "weight": {"amount": "1", "unit": "KILOGRAM"}}
    out, reasons = mapper.map(Product(identifier="x"), "en_US", "EUR", values)
    assert out["f"] == {"amount": "104", "unit": "FAHRENHEIT"} and reasons == []
    assert out["lb"] == {"amount": "2.205", "unit": "POUND"}


def test_a_channel_field_in_another_family_is_a_config_error() -> None:
    mapper = _mapper(FieldMap(output="m", attribute="weight", unit="METER"))
    with pytest.raises(ConfigError, match="cannot convert KILOGRAM to METER: KILOGRAM is a unit of Weight"):
        mapper.map(Product(identifier="x"), "en_US", "EUR", {"weight": {"amount": "1", "unit": "KILOGRAM"}})
    assert channel_convert("1", "TON", "GRAM") == Decimal("1000000")


def test_a_stored_unit_outside_its_family_blocks_that_product_only() -> None:
    """The field's unit is right (POUND is a Weight): a product storing METER for its weight is blocked with
    a reason naming the attribute and the unit, and the next product still publishes."""
    mapper = _mapper(FieldMap(output="lb", attribute="weight", unit="POUND"), FieldMap(output="f", attribute="max_temp"))
    out, reasons = mapper.map(Product(identifier="bad"), "en_US", "EUR", {"weight": {"amount": "1", "unit": "METER"},
                                                                          "max_temp": {"amount": "3", "unit": "CELSIUS"}})
    assert reasons == ["unit:weight:METER"] and "lb" not in out and out["f"] == {"amount": "3", "unit": "CELSIUS"}
    out, reasons = mapper.map(Product(identifier="good"), "en_US", "EUR", {"weight": {"amount": "1", "unit": "KILOGRAM"}})
    assert reasons == [] and out["lb"] == {"amount": "2.205", "unit": "POUND"}
    many = _mapper(FieldMap(output="w", attributes=["weight"], unit="POUND"))  # a list field is blocked the same way
    assert many.map(Product(identifier="bad"), "en_US", "EUR", {"weight": {"amount": "1", "unit": "METER"}})[1] == [
        "unit:weight:METER"]
