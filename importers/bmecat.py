"""BMEcat 2005 supplier catalogs → canonical records, through a declarative map (schemas/bmecat_map.schema.json):
which PRODUCT_DETAILS field and which ETIM/ECLASS feature lands in which attribute, with units, option
values, languages, price type and reference types."""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from itertools import chain
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, TypeAdapter, ValidationError
from sqlalchemy import Connection, func, select

from importers.bmecat_groups import GroupPlacer, check_groups_map
from importers.bmecat_links import Followups, References
from importers.bmecat_map_checks import refuse_map_mistakes, report_file, report_unrestated, with_twins
from importers.bmecat_reader import (
    BmecatHeader,
    BmecatProduct,
    Feature,
    FileIdentity,
    GtinId,
    Price,
    deletes_products,
    product_modes,
    read_bmecat,
)
from importers.erp_values import partial_product, refusal, value_refusal, yes_or_no
from importers.gtin_check import (
    gtin_reason,
    instead_hint,
    is_unit_gtin,
    match_gtin,
    refuse_unlinked,
    supplier_hint,
    unmatched_reason,
)
from pim.catalog import Structure
from pim.commerce import EARLIEST, PriceListEntry, remove_price_list_entries_in
from pim.errors import InputError
from pim.importing import NEW_IDENTIFIER, IdentifierOrigin, ImportCounts, Parsed, Rejected, run_import
from pim import association_claims
from pim.merge import CANDIDATE, Merger, Precedence
from pim.product import Association, Product, trusted_provenance, value_key
from pim.quality import gtin_problem, is_gtin_attribute
from pim.sources import (MAX_PID, NoSku, SourceItem, cross_referenced, job_label, load_profile, match_skus,
                         merger_for)
from pim.store import Store
from pim.store.raw import raw_table
from pim.store.store import PRODUCT, QUARANTINE, QuarantineEntry, batched
from pim.structure import AttributeType
from pim.values import ValueProblem
from pim.withdraw import claimed, product_claims, withdrawn_links

#: A value problem: (element or feature, reason), at its PRODUCT's line unless a third item names its own
#: (a GTIN's, a feature's, a PRODUCT_PRICE's, a PROD_ID_TO's: the element a user looks for in the file).
Problem = tuple[str, str] | tuple[str, str, int]

ISO639_2 = {"deu": "de_DE", "ger": "de_DE", "eng": "en_US", "fra": "fr_FR", "fre": "fr_FR", "ita": "it_IT",
            "spa": "es_ES", "nld": "nl_NL", "dut": "nl_NL", "pol": "pl_PL", "ces": "cs_CZ", "cze": "cs_CZ"}


class FeatureTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attribute: str
    unit: str | None = Field(default=None, description="Unit when the feature has no FUNIT (metric attributes).")
    units: dict[str, str] = Field(default={}, description="FUNIT code → our unit, for codes the measurement "
                                  "catalogue reads otherwise (e.g. GR: GRAM; the catalogue's gr is GRAIN). A FUNIT not "
                                  "named here resolves through the catalogue (MMT → MILLIMETER, KGM → KILOGRAM).")
    options: dict[str, str] = Field(default={}, description="FVALUE or VALUE_IDREF → option code.")


#: The units BMEcat 2005 implies for PRODUCT_DIMENSIONS, which carry a bare number (the XSD types them dtNUMBER;
#: the specification's element descriptions give cubic metres, kilograms and metres).
SPEC_UNITS = {"VOLUME": "CUBIC_METER", "WEIGHT": "KILOGRAM", "LENGTH": "METER", "WIDTH": "METER", "DEPTH": "METER"}


class LogisticTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attribute: str
    unit: str | None = Field(default=None, description="Unit of the file's numbers, for a supplier that does not send "
                             "the BMEcat units (VOLUME m³ = CUBIC_METER, WEIGHT kg = KILOGRAM, LENGTH/WIDTH/DEPTH m = "
                             "METER, the default). The value is stored in this unit; convert in the channel if needed.")


class Logistics(BaseModel):
    """PRODUCT_LOGISTIC_DETAILS → attributes. Unmapped details are read past."""

    model_config = ConfigDict(extra="forbid")

    volume: LogisticTarget | None = None
    weight: LogisticTarget | None = None
    length: LogisticTarget | None = None
    width: LogisticTarget | None = None
    depth: LogisticTarget | None = None
    customs_number: str | None = Field(default=None, description="Attribute for the first CUSTOMS_TARIFF_NUMBER/CUSTOMS_NUMBER.")
    country_of_origin: str | None = Field(default=None, description="Attribute for the first COUNTRY_OF_ORIGIN (ISO 3166).")


class CatalogGroups(BaseModel):
    """CATALOG_GROUP_SYSTEM and PRODUCT_TO_CATALOGGROUP_MAP → categories (importers/bmecat_groups.py)."""

    model_config = ConfigDict(extra="forbid")

    categories: dict[str, str] = Field(default={}, description="GROUP_ID → an existing category code.")
    create_under: str | None = Field(default=None, description="Create the file's other groups as categories under this "
                                     "existing one (labels from GROUP_NAME, parents from PARENT_ID). Without it, an "
                                     "assignment to an unmapped group is a problem and is skipped.")
    code_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9_]*$",
                             description="Prefix of created category codes: code_prefix + GROUP_ID.")


class BmecatMap(BaseModel):
    """How one supplier's BMEcat lands in our attributes."""

    model_config = ConfigDict(extra="forbid")

    supplier: str = Field(pattern=r"^[a-z0-9_-]+$", description="Source name: values get provenance supplier:<this>.")
    languages: dict[str, str] = Field(default=ISO639_2, description="BMEcat language (ISO 639-2) → our locale.")
    sku_from: Literal["xref", "supplier_pid", "manufacturer_pid"] = Field(
        default="xref", description="xref: the cross-reference (supplier PID → SKU), then the GTIN, then `unmatched`.")
    sku_prefix: str = Field(default="", description="Prefix for SKUs taken from supplier or manufacturer PIDs.")
    family: str | None = Field(default=None, description="Family of products this catalog creates.")
    class_families: dict[str, str] = Field(default={}, description="Feature class (ECLASS/ETIM id) → family.")
    fields: dict[Literal["short", "long", "keywords", "ean", "manufacturer_pid", "manufacturer_name",
                         "manufacturer_type", "order_unit", "content_unit", "pack_size", "min_quantity",
                         "feature_class"], str] = {}
    channel: str | None = Field(default=None, description="Channel for scopable attributes (e.g. description).")
    feature_systems: list[str] = Field(default=["ECLASS", "ETIM"], description="Accepted REFERENCE_FEATURE_SYSTEM_NAME prefixes.")
    features: dict[str, FeatureTarget] = {}
    price_type: str = Field(default="net_list", description="PRODUCT_PRICE@price_type that is the list price.")
    price_attribute: str | None = "price"
    tier_price_list: str | None = Field(default=None, description="Store every tier (LOWER_BOUND) as this price list.")
    image_attribute: str | None = None
    image_purposes: list[str] = ["normal"]
    references: dict[str, str] = Field(default={}, description="PRODUCT_REFERENCE@type → association type code. "
                                       "Targets (supplier PIDs) are translated to our SKUs; one that is no product of "
                                       "ours is left out with a problem note.")
    logistics: Logistics | None = None
    catalog_groups: CatalogGroups | None = Field(default=None, description="Catalog groups → categories; without it "
                                                 "the group system and the assignments are read past.")
    unmatched: Literal["create", "quarantine"] = "create"
    deletes: Literal["withdraw", "review"] = Field(default="withdraw", description="`PRODUCT mode=\"delete\"` in a "
                                                   "T_UPDATE_PRODUCTS: withdraw the supplier's values, tier prices and "
                                                   "categories from the product (which stays), or quarantine it for review "
                                                   "(`pim import withdraw` applies one).")
    updates: Literal["restate", "delta"] = Field(default="restate", description="A T_UPDATE_PRODUCTS PRODUCT (mode "
                                                 "new or update): restate — it is the whole product, as BMEcat 2005 "
                                                 "has it, so the supplier's values and associations it no longer "
                                                 "states are withdrawn; delta — it carries only what changed, for a "
                                                 "supplier that sends partial updates: what it leaves out stays.")
    precedence: str | None = Field(default=None, description="Precedence YAML file (relative to this map).")
    _file: str | None = PrivateAttr(default=None)  # the file it was read from: what a map mistake names


def load_map(path: Path) -> BmecatMap:
    """The supplier's BMEcat map; a file that cannot be read or is no valid map is an InputError naming the
    field (exit 2), as every other source profile (pim.sources.load_profile)."""
    m = load_profile(BmecatMap, path)
    m._file = str(path)
    return m


class GtinIds(NamedTuple):
    """A product's GTIN ids as SKU matching needs them (`raw["_gtin"]` until it is matched: `_matched`): the
    valid ones, in file order, each tried; when none is valid, the first bad one, said again if matching
    refuses the product. Refusals about a GTIN name its element and line (`at`). The one stored is `claimed`."""

    valid: tuple[GtinId, ...] = ()
    bad: tuple[str, str, int] | None = None  # (element, what is wrong, line): importers.gtin_check.BadLink

    @property
    def claimed(self) -> GtinId | None:
        """The GTIN the supplier claims for the mapped `ean`: the first unit GTIN (`is_unit_gtin`), else the
        first valid one. Chosen from the file alone, never by which GTIN matched, so it is the same whether the
        product was found by GTIN (the first import) or by the cross-reference (later ones)."""
        return next((g for g in self.valid if is_unit_gtin(g.text)), self.valid[0] if self.valid else None)

    def at(self, gtin: str) -> tuple[str, int] | None:
        """(element, line) of the valid GTIN id `gtin` (pim.sources.match_skus' `gtin_at`)."""
        return next(((g.element, g.line) for g in self.valid if g.text == gtin), None)


_NO_IDS = GtinIds()


class Mapped:
    """One mapped product: the record, per-value problems (imported anyway), commercial side data and `held`:
    the value keys the product gives a value for that was skipped with a problem (a T_NEW_CATALOG keeps the
    supplier's old value of those: `_restate`). `gtin`: its GTIN ids when it is matched by GTIN (`sku_from:
    xref`) and has any. `ref_lines`: association type → target PID → line of its PROD_ID_TO, for the problem
    on a target that resolves to nothing (importers.bmecat_links.Pending)."""

    def __init__(self, product: Product, problems: list[Problem], tiers: list[dict[str, Any]],
                 held: set[str] | None = None, gtin: GtinIds | None = None,
                 ref_lines: dict[str, dict[str, int]] | None = None) -> None:
        self.product, self.problems, self.tiers = product, problems, tiers
        self.held = held or set()
        self.gtin = gtin
        self.ref_lines = ref_lines


def _finite(text: str) -> Decimal | None:
    """A feature's or a logistic detail's number (a decimal comma read as a point), or None for no number.
    NaN and Infinity are none: Decimal reads them, but no attribute can hold them."""
    try:
        value = Decimal(text.strip().replace(",", "."))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


class BmecatMapper:
    """Maps one file's products. What depends only on the map and the structure (value keys, attribute types,
    the image key, accepted feature systems) is worked out once per distinct input, not once per product."""

    def __init__(self, m: BmecatMap, structure: Structure, file: str) -> None:
        self.m, self.s, self.file = m, structure, file
        self.stamp = datetime.now(UTC)
        self._source, self._file_name = f"supplier:{m.supplier}", Path(file).name
        self._slots: dict[tuple[str, str | None], str | None] = {}
        self._systems: dict[str, bool] = {}
        self._bounds: dict[str, Decimal] = {}
        self._tiers_ok: set[tuple[Any, ...]] = set()  # what `_tier_check` found valid but for the amount
        # the map's languages, also under their other ISO 639-2 codes; the languages of the file's texts they
        # lack, and the file's feature codes (for the warnings after the file: importers.bmecat_map_checks)
        self.languages = with_twins(m.languages)
        self.unmapped: set[str] = set()
        self.codes: set[str] = set()
        self.price_types: set[str] = set()  # every PRODUCT_PRICE@price_type the file has (`unread_price_types`)
        self._currencies = frozenset(structure.currencies)  # none declared: any (as pim.quality checks)
        f = m.fields
        # a text for an attribute that is not localizable takes one language (`_in_one_language`), not the last
        self._texts = [(name, f[name], f"DESCRIPTION_{name.upper()}", self._localizable(f[name]))
                       for name in ("short", "long") if name in f]
        self._keywords_localizable = self._localizable(f["keywords"]) if "keywords" in f else True
        self._scalars = [(name, f[name], name.upper(), self._is_number(f[name])) for name in (
            "ean", "manufacturer_pid", "manufacturer_name", "manufacturer_type", "order_unit", "content_unit",
            "pack_size", "min_quantity") if name in f]
        self._image_key = (self._key(m.image_attribute) or m.image_attribute) if m.image_attribute else None
        lg = m.logistics
        self._dimensions = [(name, t) for name in SPEC_UNITS if lg and (t := getattr(lg, name.lower())) is not None]
        self._logistic_texts = [(f, a) for f, a in (("customs_number", lg.customs_number),
                                                     ("country_of_origin", lg.country_of_origin)) if a] if lg else []
        # GTINs (importers.gtin_check): the EAN element is one by the BMEcat specification, whatever attribute it
        # is mapped to, and under `sku_from: xref` what matching falls back on; a value bound for an attribute
        # that holds GTINs (pim.quality.is_gtin_attribute) is checked whatever element it comes from
        self._gtin_attrs = frozenset(code for code in structure.attributes if is_gtin_attribute(code))
        self._match_gtin = m.sku_from == "xref"
        self._check_ean = self._match_gtin or "ean" in f
        self._ean_hint = supplier_hint(stored="ean" in f, matched=self._match_gtin)
        self._value_hint = supplier_hint(stored=True, matched=False)

    def _key(self, attribute: str, locale: str | None = None) -> str | None:
        attr = self.s.attributes.get(attribute)
        if attr is None:
            return None
        return value_key(attribute, locale if attr.localizable else None, self.m.channel if attr.scopable else None)

    def _localizable(self, attribute: str) -> bool:
        """Whether texts go to `attribute` per language; an unknown one is (`_put` then says it is unknown)."""
        attr = self.s.attributes.get(attribute)
        return attr is None or attr.localizable

    def _is_number(self, attribute: str) -> bool:
        attr = self.s.attributes.get(attribute)
        return attr is not None and attr.type == AttributeType.number

    def _slot(self, attribute: str, locale: str | None) -> str | None:
        """The value key for attribute × locale; None for an unknown attribute, "" for a language we do not publish."""
        try:
            return self._slots[attribute, locale]
        except KeyError:
            pass
        key = self._key(attribute, locale)
        if key is not None and locale is not None and self.s.attributes[attribute].localizable and locale not in self.s.locales:
            key = ""
        self._slots[attribute, locale] = key
        return key

    def _skip(self, problems: list[Problem], held: set[str], attribute: str, where: str, reason: str,
              line: int | None = None, locale: str | None = None) -> None:
        """A value of `attribute` (in `locale`) the product gives is skipped with a problem: noted (at `line`, else
        the PRODUCT's), and its key held (the supplier said something there, so its old value is not withdrawn
        for being unsent)."""
        problems.append((where, reason, line) if line else (where, reason))
        key = self._slot(attribute, locale)
        if key:
            held.add(key)

    def _put(self, values: dict[str, Any], problems: list[Problem], attribute: str, data: Any,
             locale: str | None = None, where: str = "") -> None:
        key = self._slot(attribute, locale)
        if key is None:
            problems.append((where or attribute, f"map targets unknown attribute '{attribute}'"))
        elif key:
            values[key] = data

    def sku(self, p: BmecatProduct) -> str:
        """The SKU a product is keyed by before matching (replaced by the match under `sku_from: xref`)."""
        return self.m.sku_prefix + (p.manufacturer_pid if self.m.sku_from == "manufacturer_pid" and p.manufacturer_pid else p.supplier_pid)

    def map(self, p: BmecatProduct, header: BmecatHeader) -> Mapped:
        sku = self.sku(p)
        values: dict[str, Any] = {}
        problems: list[Problem] = []
        held: set[str] = set()
        languages = self.languages
        for field_name, attribute, where, localizable in self._texts:
            texts = p.short if field_name == "short" else p.long
            if not localizable:
                if (text := self._in_one_language(p.language, self._mapped_texts(texts))) is not None:
                    self._put(values, problems, attribute, html.unescape(text), where=where)
                continue
            for lang, text in texts.items():
                locale = languages.get(lang)
                if locale:
                    self._put(values, problems, attribute, html.unescape(text), locale, where)
                else:
                    self.unmapped.add(lang)
        if "keywords" in self.m.fields and p.keywords:
            keywords = {lang: ", ".join(w.strip() for w in words) for lang, words in p.keywords.items()}
            if not self._keywords_localizable:
                if (text := self._in_one_language(p.language, self._mapped_texts(keywords))) is not None:
                    self._put(values, problems, self.m.fields["keywords"], text, where="KEYWORD")
            else:
                for lang, text in keywords.items():
                    locale = languages.get(lang)
                    if locale:
                        self._put(values, problems, self.m.fields["keywords"], text, locale, "KEYWORD")
                    else:
                        self.unmapped.add(lang)
        ids = self._gtin(p, problems, held) if p.gtins and self._check_ean else None
        for name, attribute, where, number in self._scalars:
            if name == "ean":  # the claimed GTIN, under its own element
                claim = ids.claimed if ids else None
                raw, where = (claim.text, claim.element) if claim else (None, where)
            else:
                raw = getattr(p, name)
            if raw is None:
                continue
            if name != "ean" and attribute in self._gtin_attrs and (problem := gtin_problem(raw)):
                self._skip(problems, held, attribute, where, gtin_reason(problem, self._value_hint))
                continue
            self._put(values, problems, attribute, _number(raw) if number else raw, where=where)
        if "feature_class" in self.m.fields and p.feature_class:
            self._put(values, problems, self.m.fields["feature_class"], p.feature_class, where="REFERENCE_FEATURE_GROUP_ID")
        if p.features:
            self.codes.update([f.code for f in p.features])
            self._features(p, values, problems, held)
        if self._dimensions or self._logistic_texts:
            self._logistics(p, values, problems, held)
        tiers = self._prices(p, header, p.supplier_pid, values, problems, held) if p.prices else []  # keyed by PID until matched
        if self._image_key and p.mime:
            self._images(p, values)
        family = self.m.class_families.get(p.feature_class or "", self.m.family)
        ref_lines: dict[str, dict[str, int]] = {}
        associations = self._associations(p, problems, ref_lines) if p.references else {}
        source = trusted_provenance(self._source, f"{self._file_name}:{p.line}", self.stamp)
        product = partial_product(sku, values, source, {})
        if family:
            product.family = family
        if associations:
            product.associations = associations
        return Mapped(product, problems, tiers, held, ids if self._match_gtin else None, ref_lines or None)

    def _gtin(self, p: BmecatProduct, problems: list[Problem], held: set[str]) -> GtinIds:
        """The product's EANs and INTERNATIONAL_PIDs sorted into valid and bad. Every valid one is matched on,
        in file order (pim.sources.match_skus: a supplier may list its pack's GTIN-14 before the unit's GTIN-13
        we carry); the unit's is stored (`GtinIds.claimed`), whichever matched. Each bad one is noted at
        its own line: with a valid one, as not used for it; else as left out of the mapped attribute (its key
        held: the stored GTIN stays) and/or not matched on, and without a cross-reference the product is
        refused (`_matched`). A second valid GTIN is legal (INTERNATIONAL_PID repeats) and no problem."""
        valid: list[GtinId] = []
        bad: list[tuple[GtinId, str]] = []
        for g in p.gtins:
            problem = match_gtin(g.text)[1]
            if problem is not None:
                bad.append((g, problem))
            else:
                valid.append(g)
        if valid:
            ids = GtinIds(tuple(valid))
            if bad:
                good = ids.claimed or valid[0]
                hint = instead_hint(good.text, f"{good.element}, line {good.line}")
                problems.extend((g.element, gtin_reason(problem, hint), g.line) for g, problem in bad)
            return ids
        for g, problem in bad:
            reason = gtin_reason(problem, self._ean_hint)
            if "ean" in self.m.fields:
                self._skip(problems, held, self.m.fields["ean"], g.element, reason, g.line)
            else:
                problems.append((g.element, reason, g.line))
        first, problem = bad[0]
        return GtinIds(bad=(first.element, problem, first.line))

    def _associations(self, p: BmecatProduct, problems: list[Problem],
                      lines: dict[str, dict[str, int]]) -> dict[str, Association]:
        """Association type → targets as the supplier's PIDs (importers.bmecat_links translates them to SKUs
        once the SKUs are known); `lines` gets each target's PROD_ID_TO line per type (`Mapped.ref_lines`)."""
        associations: dict[str, Association] = {}
        for ref_type, target, qty, line in p.references:
            code = self.m.references.get(ref_type)
            if code:
                a = associations.setdefault(code, Association())
                if target not in a.products:
                    a.products.append(target)
                    lines.setdefault(code, {})[target] = line
                if qty:
                    whole = _whole_quantity(qty)
                    if whole is None:
                        problems.append(("PRODUCT_REFERENCE@quantity", f"'{qty}' is not a whole quantity from 1 to "
                                         f"{_MAX_QUANTITY:,}; the reference to {target} is kept without it", line))
                    else:
                        a.quantities[target] = whole
        return associations

    def _logistics(self, p: BmecatProduct, values: dict[str, Any], problems: list[Problem], held: set[str]) -> None:
        """PRODUCT_LOGISTIC_DETAILS: dimensions in the BMEcat units (or the map's), customs number, origin."""
        for name, target in self._dimensions:
            raw = p.dimensions.get(name)
            if raw is None:
                continue
            attr = self.s.attributes.get(target.attribute)
            if attr is None:
                problems.append((name, f"map targets unknown attribute '{target.attribute}'"))
                continue
            number = _finite(raw)
            if number is None:
                self._skip(problems, held, target.attribute, name, f"'{raw}' is not a number; the value is skipped")
                continue
            amount = raw.replace(",", ".")
            unit = target.unit or SPEC_UNITS[name]
            if attr.type == AttributeType.metric:
                family = self.s.measures.family(attr.metric_family)
                code = family.resolve(unit) if family is not None else unit
                if code is None:
                    self._skip(problems, held, target.attribute, name, self.s.measures.unit_problem(family, unit, "unit")  # type: ignore[arg-type]
                               + f"; set logistics.{name.lower()}.unit in the map (the value is skipped)")
                    continue
                self._put(values, problems, target.attribute, {"amount": amount, "unit": code}, where=name)
            elif attr.type == AttributeType.number:
                self._put(values, problems, target.attribute, number, where=name)
            else:
                self._put(values, problems, target.attribute, raw, where=name)
        for field_name, attribute in self._logistic_texts:
            raw = getattr(p, field_name)
            if raw is not None:
                where = "CUSTOMS_NUMBER" if field_name == "customs_number" else "COUNTRY_OF_ORIGIN"
                attr = self.s.attributes.get(attribute)
                if attr is not None and attr.type == AttributeType.simple_select:
                    option = self._option(attribute, raw)
                    if option is None:
                        self._skip(problems, held, attribute, where, f"'{raw}' is no option of '{attribute}'; the value is skipped")
                        continue
                    raw = option
                self._put(values, problems, attribute, raw, where=where)

    def _option(self, attribute: str, raw: str) -> str | None:
        """The option code for a select value: the code itself, or the one that differs only in case."""
        options = self.s.options.get(attribute, {})
        if raw in options:
            return raw
        folded = raw.casefold()
        return next((code for code in options if code.casefold() == folded), None)

    def _accepts(self, system: str) -> bool:
        try:
            return self._systems[system]
        except KeyError:
            ok = self._systems[system] = any(system.upper().startswith(s.upper()) for s in self.m.feature_systems)
            return ok

    def _features(self, p: BmecatProduct, values: dict[str, Any], problems: list[Problem], held: set[str]) -> None:
        if p.features and p.feature_system and not self._accepts(p.feature_system):
            problems.append(("REFERENCE_FEATURE_SYSTEM_NAME", f"feature system '{p.feature_system}' is not in the map's feature_systems; features skipped"))
            held.update(key for f in p.features if (t := self.m.features.get(f.code)) and (key := self._slot(t.attribute, None)))
            return
        for feat in self._own(p.features, problems):
            target = self.m.features[feat.code]
            attr = self.s.attributes.get(target.attribute)
            if attr is None:
                problems.append((feat.code, f"map targets unknown attribute '{target.attribute}'", feat.line))
                continue
            if attr.localizable:
                for locale, raw in self._localized(p, feat):
                    self._feature_value(feat, target, attr, raw, values, problems, held, locale)
            elif (raw := self._one_value(p, feat)) is not None:
                self._feature_value(feat, target, attr, raw, values, problems, held)

    def _own(self, features: list[Feature], problems: list[Problem]) -> Iterable[Feature]:
        """The product's own occurrence of each mapped feature: the shallowest in the FID/FPARENT_ID tree
        (`bmecat_reader._nest`), as ECLASS Advanced files repeat features in sub-blocks, an accessory's GTIN and
        product type among them. Two at that depth that say different things (a terminal's IEC and UL ratings)
        are a problem naming both lines: the first is kept, not silently the last."""
        own: dict[str, Feature] = {}
        clash: dict[str, Feature] = {}
        mapped = self.m.features
        for f in features:
            if f.code not in mapped:
                continue
            kept = own.get(f.code)
            if kept is None or f.depth < kept.depth:
                own[f.code] = f
                clash.pop(f.code, None)
            elif f.depth == kept.depth and f.code not in clash and _said(f) != _said(kept):
                clash[f.code] = f
        for code, other in clash.items():
            kept = own[code]
            problems.append((code, f"the feature is given more than once at the same level with different values: "
                                   f"'{_shown(kept)}' (line {kept.line}) and '{_shown(other)}' (line {other.line}); the "
                                   f"first is kept: check which is the product's and correct it in the PIM or ask the "
                                   f"supplier to send one", other.line))
        return own.values()

    def _localized(self, p: BmecatProduct, feat: Feature) -> list[tuple[str, str]]:
        """(locale, value) of a feature for a localizable attribute: each FVALUE with `lang` in its language, one
        without in the catalog's default language, through the map's `languages` (as DESCRIPTION_SHORT). A
        language the map lacks joins the file's unmapped-language warning, as texts do (it was dropped unsaid)."""
        raw = _raw(feat)
        langs = feat.langs or ({p.language: raw} if raw is not None else {})
        languages = self.languages
        found = [(languages[lang], text) for lang, text in langs.items() if lang in languages]
        if len(found) < len(langs):
            self.unmapped.update(lang for lang in langs if lang not in languages)
        return found

    def _one_value(self, p: BmecatProduct, feat: Feature) -> str | None:
        """A feature's value for an attribute that is not localizable: of localized FVALUEs the one
        `_in_one_language` picks, else its only value."""
        if feat.langs and (text := self._in_one_language(p.language, feat.langs)) is not None:
            return text
        return _raw(feat)

    def _in_one_language(self, default: str, said: dict[str, str]) -> str | None:
        """Of a text given in several languages (language → text, in file order), the one an attribute that is
        not localizable takes: in the catalog's `default` language, else in the map's first language that has
        one, else the first. Languages are compared by their locale, so `ger` and `deu` are one. Whatever the
        order of the file's elements, the same language wins (file order made the last one win)."""
        if not said:
            return None
        languages = self.languages
        by_locale: dict[str, str] = {}
        for lang, text in said.items():
            by_locale.setdefault(languages.get(lang, lang), text)
        for lang in (default, *self.m.languages):
            if (text := by_locale.get(languages.get(lang, lang))) is not None:
                return text
        return next(iter(said.values()))

    def _mapped_texts(self, texts: dict[str, str]) -> dict[str, str]:
        """The texts in a language the map maps; the others join the file's unmapped-language warning."""
        languages = self.languages
        if all(lang in languages for lang in texts):
            return texts
        self.unmapped.update(lang for lang in texts if lang not in languages)
        return {lang: text for lang, text in texts.items() if lang in languages}

    def _feature_value(self, feat: Feature, target: FeatureTarget, attr: Any, raw: str, values: dict[str, Any],
                       problems: list[Problem], held: set[str], locale: str | None = None) -> None:
        """One feature value into `attribute` (in `locale`), or skipped with a problem."""
        if attr.type in (AttributeType.metric, AttributeType.number) and _finite(raw) is None:
            # one value skipped, not the whole product refused (as a logistics number is)
            self._skip(problems, held, target.attribute, feat.code, f"'{raw}' is not a number; the value is skipped",
                       feat.line, locale)
        elif attr.type == AttributeType.metric:
            unit = self._unit(target, attr, feat.unit)
            if unit is None:
                family = self.s.measures.family(attr.metric_family)
                self._skip(problems, held, target.attribute, feat.code, self.s.measures.unit_problem(family, feat.unit, "FUNIT")  # type: ignore[arg-type]
                           + f"; or map it under features.{feat.code}.units (the value is skipped)", feat.line, locale)
                return
            self._put(values, problems, target.attribute, {"amount": raw.replace(",", "."), "unit": unit}, locale, feat.code)
        elif attr.type in (AttributeType.simple_select, AttributeType.multi_select):
            keys = [feat.value_ref, *feat.values] if feat.value_ref else feat.values
            codes = [target.options[k] for k in keys if k and k in target.options]
            if not codes:
                self._skip(problems, held, target.attribute, feat.code,
                           f"value {keys} has no option in the map for '{target.attribute}'", feat.line, locale)
                return
            self._put(values, problems, target.attribute, codes[0] if attr.type == AttributeType.simple_select else codes,
                      locale, feat.code)
        elif attr.type == AttributeType.boolean:
            flag = _flag(feat, target, raw)
            if isinstance(flag, str):
                self._skip(problems, held, target.attribute, feat.code, flag, feat.line, locale)
                return
            self._put(values, problems, target.attribute, flag, locale, feat.code)
        elif target.attribute in self._gtin_attrs and (problem := gtin_problem(raw)):
            self._skip(problems, held, target.attribute, feat.code, gtin_reason(problem, self._value_hint), feat.line, locale)
        else:
            self._put(values, problems, target.attribute, raw, locale, feat.code)

    def _unit(self, target: FeatureTarget, attr: Any, funit: str | None) -> str | None:
        """The unit of a feature's value: the map's name for its FUNIT, else the catalogue's (a UN/ECE code such
        as KGM is an alias of KILOGRAM); the map's `unit` or the attribute's default when there is no FUNIT.
        None: a FUNIT that is no unit of the attribute's family."""
        if not funit:
            return target.unit or attr.default_unit
        mapped = target.units.get(funit)
        if mapped:
            return mapped
        family = self.s.measures.family(attr.metric_family)
        return family.resolve(funit) if family is not None else funit

    def _bound(self, text: str) -> Decimal:
        """Decimal(LOWER_BOUND), once per distinct text (a catalog has a handful: 1, 10, 100)."""
        try:
            return self._bounds[text]
        except KeyError:
            bound = self._bounds[text] = Decimal(text)
            return bound

    def _prices(self, p: BmecatProduct, header: BmecatHeader, sku: str, values: dict[str, Any],
                problems: list[Problem], held: set[str]) -> list[dict[str, Any]]:
        """The tiers of the map's price type; the lowest bound's amount per currency is the list price. A price
        of that type skipped with a problem (at its PRODUCT_PRICE's line) holds the list price's key
        (`Mapped.held`): so does one in a currency the structure does not declare, which would otherwise replace
        the stored list price (a source's prices are its whole claim). The file's price types are noted for the
        warning when none is the map's (`unread_price_types`)."""
        tiers: list[dict[str, Any]] = []
        noted = len(problems)
        list_prices: dict[str, tuple[Decimal, str]] = {}
        price_type = self.m.price_type
        seen = self.price_types
        for price in p.prices:
            seen.add(price.price_type)
            if price.price_type != price_type:
                continue
            currency = price.currency or header.currency
            if price.amount is None:
                problems.append(("PRODUCT_PRICE", f"{price.price_type} price with LOWER_BOUND {price.lower_bound} has "
                                 "no PRICE_AMOUNT; ignored", price.line))
                continue
            try:
                amount = Decimal(price.amount.replace(",", "."))
                bound = self._bound(price.lower_bound or "1")
                per = self._bound(price.quantity) if price.quantity else None
            except InvalidOperation:
                problems.append(("PRODUCT_PRICE", f"'{price.amount}' / '{price.lower_bound}' / PRICE_QUANTITY "
                                 f"'{price.quantity or 1}' is not a number; ignored", price.line))
                continue
            if per is not None:
                if not per.is_finite() or per <= 0:
                    problems.append(("PRICE_QUANTITY", f"PRICE_QUANTITY '{price.quantity}' is no positive number of "
                                     f"order units; the {price.price_type} price {price.amount} is ignored", price.line))
                    continue
                each = unit_price(amount, per)
                if each is None:
                    problems.append(("PRICE_QUANTITY", f"{price.price_type} price: "
                                     f"{unit_price_problem(price.amount, price.quantity)}; ignored", price.line))  # type: ignore[arg-type]
                    continue
                amount = each
            if not currency:
                problems.append(("PRICE_CURRENCY", "no PRICE_CURRENCY and no catalog CURRENCY; price ignored", price.line))
                continue
            tier = {"sku": sku, "currency": currency, "price": amount, "min_qty": bound,
                    "valid_from": _day(price.valid_from), "valid_to": _day(price.valid_to)}
            wrong = self._tier_check(tier, price)
            if wrong:
                problems.append(("PRODUCT_PRICE", f"{price.price_type} price {price.amount} {currency} from "
                                                  f"{price.lower_bound or 1}: {wrong}; ignored", price.line))
                continue
            if self._currencies and currency not in self._currencies:
                problems.append(("PRICE_CURRENCY", self._undeclared(price.price_type, price.amount, currency), price.line))
                continue
            if currency not in list_prices or bound < list_prices[currency][0]:
                list_prices[currency] = (bound, str(amount))
            tiers.append(tier)
        if self.m.price_attribute and list_prices:
            self._put(values, problems, self.m.price_attribute, {c: a for c, (_, a) in list_prices.items()}, where="PRODUCT_PRICE")
        if self.m.price_attribute and len(problems) > noted and (key := self._slot(self.m.price_attribute, None)):
            held.add(key)
        return tiers

    def _tier_check(self, tier: dict[str, Any], price: Price) -> str | None:
        """`tier_problem`, which builds a PriceListEntry, once per distinct rest of the tier (currency,
        LOWER_BOUND, validity dates and the PID's length: a handful per catalog); after that, only the amount
        is checked, by the entry's own price field (`_PRICE`). Whatever that refuses is checked whole again,
        for the entry's own message."""
        key = (len(tier["sku"]), tier["currency"], price.lower_bound, price.valid_from, price.valid_to)
        if key in self._tiers_ok:
            try:
                _PRICE.validate_python(tier["price"])
                return None
            except ValidationError:
                pass
        wrong = tier_problem(tier, price.valid_from, price.valid_to)
        if wrong is None:
            self._tiers_ok.add(key)
        return wrong

    def _undeclared(self, price_type: str, amount: str, currency: str) -> str:
        """Why a price in a currency the structure does not declare is skipped, and what to do."""
        return (f"{price_type} price {amount} {currency}: currency {currency} is not declared in the structure (it "
                f"has {', '.join(sorted(self._currencies))}); the price is skipped and the stored prices stay. Declare "
                f"{currency} in the structure's currencies and import the file again, or ask the supplier for prices in "
                "a declared currency")

    def _images(self, p: BmecatProduct, values: dict[str, Any]) -> None:
        for m in p.mime:
            if m.source and (m.purpose or "normal") in self.m.image_purposes and (m.type or "").startswith("image/"):
                values[self._image_key] = m.source  # type: ignore[index]
                return


def _raw(feat: Feature) -> str | None:
    """A feature's value as the file writes it: its first FVALUE, else its value IRDI or that value's text."""
    return feat.values[0] if feat.values else (feat.value_ref or feat.value_details)


def _said(feat: Feature) -> tuple[Any, ...]:
    """What a feature says, to tell two occurrences of it apart."""
    return tuple(feat.values), feat.value_ref, feat.unit


def _shown(feat: Feature) -> str:
    return ", ".join(feat.values) or feat.value_details or feat.value_ref or ""


#: ECLASS's boolean values, by IRDI without its version: the real Weidmüller files send CAA017 with
#: FVALUE_DETAILS "Nein" (30 times); CAA016 is its "true" twin. A map's `options` for the IRDI come first.
ECLASS_BOOLEANS = {"0173-1#07-CAA016": True, "0173-1#07-CAA017": False}


def _flag(feat: Feature, target: FeatureTarget, raw: str) -> bool | str:
    """A boolean feature's value, or why it has none (the value is skipped, never read as False): the map's
    `options` for its VALUE_IDREF or FVALUE (true/false, yes/no, ja/nein), else an ECLASS boolean IRDI, else the
    yes/no word of the FVALUE or FVALUE_DETAILS. An IRDI whose own text says the opposite is a problem too."""
    for key in (feat.value_ref, raw):
        if key and key in target.options:
            word = target.options[key]
            try:
                return yes_or_no(word)
            except ValueProblem:
                return (f"features.{feat.code}.options maps '{key}' to '{word}', which is neither true nor false: "
                        f"write true or false there (the value is skipped)")
    said, word = None, ""
    for text in (raw, feat.value_details):
        if text:
            try:
                said, word = yes_or_no(text), text
                break
            except ValueProblem:
                pass
    known = ECLASS_BOOLEANS.get(feat.value_ref.rpartition("#")[0]) if feat.value_ref else None
    if known is not None and said is not None and said != known:
        return (f"VALUE_IDREF {feat.value_ref} is ECLASS's {str(known).lower()}, but the file says '{word}'; map the "
                f"IRDI under features.{feat.code}.options to true or false (the value is skipped)")
    if known is not None:
        return known
    if said is not None:
        return said
    shown = " / ".join(dict.fromkeys(t for t in (raw, feat.value_details) if t))
    return (f"'{shown}' is neither yes nor no for the boolean '{target.attribute}': map it under "
            f"features.{feat.code}.options to true or false (the value is skipped)")


def _number(raw: str) -> Any:
    try:
        return Decimal(raw.replace(",", "."))
    except InvalidOperation:
        return raw


_MAX_QUANTITY = 10**9


def unit_price(amount: Decimal, per: Decimal) -> Decimal | None:
    """The price of one order unit for an amount given for `per` of them (BMEcat PRICE_QUANTITY, a supplier
    table's `price_unit_column`: 25.00 per 100 pieces is 0.25): prices and price lists hold unit prices. None
    when no decimal is that price exactly (10.00 per 3), rather than a rounding nobody chose. A result with more
    places than a price list keeps is refused by the tier check (`tier_problem`)."""
    if per == 1:
        return amount
    each = amount / per
    return each if each * per == amount else None


def unit_price_problem(amount: str, per: str) -> str:
    """Why an amount for `per` units gives no unit price (`unit_price` is None), and what to do."""
    return (f"{amount} for {per} units is no exact price of one unit; ask the supplier for the price of one unit, "
            "or of a quantity it divides exactly")


def _whole_quantity(text: str) -> int | None:
    """A reference's quantity as a whole number ≥ 1, or None ('1.5', '0', 'NaN' and '1e309' are not one)."""
    try:
        value = Decimal(text.strip().replace(",", "."))
    except InvalidOperation:
        return None
    if not value.is_finite() or value != value.to_integral_value() or not 1 <= value <= _MAX_QUANTITY:
        return None
    return int(value)


#: PriceListEntry's price field alone (its type, bounds and places), for `BmecatMapper._tier_check`.
_PRICE: TypeAdapter[Decimal] = TypeAdapter(Annotated[Decimal, *PriceListEntry.model_fields["price"].metadata])


def tier_problem(tier: dict[str, Any], valid_from: str | None, valid_to: str | None) -> str | None:
    """Why a price cannot be a tier of a price list (a negative amount, a zero bound, a currency that is not an
    ISO code, a validity date that is no date), or None. Checked while parsing so that the product imports
    with the price listed as a problem, rather than the tier failing the import when it is written."""
    for name, text in (("DATETIME valid_start_date", valid_from), ("DATETIME valid_end_date", valid_to)):
        if text and _day(text) is None:
            return f"{name} '{text}' is not a date (YYYY-MM-DD)"
    try:
        PriceListEntry(customer="-", **tier)
    except ValidationError as exc:
        return value_refusal(exc)
    return None


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text[:10]) if text else None
    except ValueError:
        return None


def parse_items(path: Path, m: BmecatMap, structure: Structure, header: BmecatHeader | None = None,
                deletes: Deletes | None = None, mapper: BmecatMapper | None = None) -> Iterator[SourceItem | Rejected]:
    """Products as SourceItems keyed by supplier PID and GTIN (the SKU is found later); unreadable ones Rejected.
    Per-value problems travel in `raw["_problems"]` until the SKU is known (the keys of the values they skipped
    in `raw["_held"]`, see `Mapped.held`), tier prices as the item's `extras`
    (given the SKU by `_finish`; written only when the product is taken in). A `PRODUCT mode="delete"` is an
    empty record marked `raw["mode"] = "delete"` (`_finish` turns it into the supplier's withdrawal). `mapper`:
    the file's BmecatMapper, for a caller that reads what it noted (import_bmecat's warnings).

    The file's last word on a product wins (`_last_words`, with `deletes: withdraw`): a PRODUCT of a supplier PID
    that the file deletes later is overridden — read, counted unchanged (`superseded_in_file`), not applied — so
    an update then a delete leaves nothing of the supplier, and the same file imported again changes nothing.
    A delete followed by later PRODUCTs of its PID is applied with the last of them (`raw["_fold"]`, see
    `_fold`): what they restate stands, the rest of the supplier's claims is withdrawn. Quarantine entries name
    the file by its name, as every other importer's, so a run from another directory supersedes them."""
    header = header if header is not None else BmecatHeader()
    deletes = deletes if deletes is not None else Deletes()
    name = path.name
    mapper = mapper or BmecatMapper(m, structure, str(path))
    plan = _last_words(path) if m.deletes == "withdraw" else LastWords()
    position = -1
    for bp in read_bmecat(path, header, groups=m.catalog_groups is not None, checked=plan.identity):
        if isinstance(bp, InputError):
            yield Rejected(str(bp), name, bp.line, bp.field, None, None)
            continue
        position += 1
        if bp.mode == "delete" and m.deletes == "review":
            yield Rejected("PRODUCT mode=delete: this map has deletes reviewed, not applied; to apply one: pim import "
                           f"withdraw supplier:{m.supplier} <SKU of supplier PID {bp.supplier_pid}> (or set "
                           "`deletes: withdraw` in the map)",
                           name, bp.line, "PRODUCT@mode", {"supplier_pid": bp.supplier_pid}, bp.supplier_pid)
            continue
        if len(bp.supplier_pid) > MAX_PID:
            yield Rejected(f"SUPPLIER_PID: {len(bp.supplier_pid)} characters; a supplier product id has at most "
                           f"{MAX_PID}", name, bp.line, "SUPPLIER_PID", {"supplier_pid": bp.supplier_pid}, bp.supplier_pid)
            continue
        word = plan.get(bp.supplier_pid)
        said: Restated | None = None
        if word is not None:
            last_delete, last = word
            if position == last_delete and bp.mode != "delete":  # the first pass read the file otherwise: apply
                plan, word = LastWords(), None                     # the rest in file order, as without one
            elif position < last_delete:
                deletes.superseded += 1  # the later delete withdraws whatever this would add
                continue
            elif position == last_delete and last > last_delete:
                deletes.folded += 1  # applied with the last PRODUCT of the PID after it
                deletes.folds[bp.supplier_pid] = Restated()
                continue
            elif position > last_delete:
                said = deletes.folds.get(bp.supplier_pid)
        try:
            if bp.mode == "delete":
                record = partial_product(mapper.sku(bp), {}, trusted_provenance(
                    mapper._source, f"{mapper._file_name}:{bp.line}", mapper.stamp), {})
            else:
                mapped = mapper.map(bp, header)
                record = mapped.product
        except ValidationError as exc:  # the SKU (prefix + PID) over 255 characters
            field, reason = refusal(exc, "SUPPLIER_PID")
            yield Rejected(reason, name, bp.line, field, {"supplier_pid": bp.supplier_pid}, bp.supplier_pid)
            continue
        if bp.mode == "delete":
            if m.sku_from == "xref":
                record.identifier = ""
            yield SourceItem(record, name, bp.line, {"supplier_pid": bp.supplier_pid, "transaction": bp.transaction,
                                                     "mode": "delete", "_problems": []}, pid=bp.supplier_pid)
            continue
        if m.sku_from == "xref":
            record.identifier = ""
        raw = {"supplier_pid": bp.supplier_pid, "transaction": bp.transaction, "_problems": mapped.problems}
        if mapped.held:
            raw["_held"] = sorted(mapped.held)
        if mapped.gtin is not None:
            raw["_gtin"] = mapped.gtin  # what a refusal about a GTIN names (`_matched`)
        if mapped.ref_lines:
            raw["_ref_lines"] = mapped.ref_lines  # what a problem about a reference target names (`_finish`)
        if said is not None and word is not None:
            said.note(record, mapped.tiers)
            raw["_fold" if position == word[1] else "_folding"] = True  # the fold, not each, restates (`_finish`)
        gtins = tuple(dict.fromkeys(g.text for g in mapped.gtin.valid)) if mapped.gtin is not None else ()
        yield SourceItem(record, name, bp.line, raw, pid=bp.supplier_pid, gtins=gtins, extras=mapped.tiers)


class LastWords(dict[str, tuple[int, int]]):
    """`_last_words`' plan; `identity`: its pass read the whole file, which was well-formed, and this is the file
    it read (the import's read skips its structure check, so the file is read twice, not three times, and refuses
    a file that is no longer this one: `read_bmecat(checked=)`). None: the import's read checks the file."""

    identity: FileIdentity | None = None


def _last_words(path: Path) -> LastWords:
    """Supplier PID → (position of its last delete among the file's products, position of its last product),
    for the PIDs the file deletes (a first pass, `product_modes`, only for a file with a `PRODUCT mode="delete"`:
    `deletes_products`; the others are read once). A file that breaks is left to the import's own read, whose
    structure check refuses it before its first product."""
    plan = LastWords()
    if not deletes_products(path):
        return plan
    modes = product_modes(path)
    try:
        for position, (pid, mode) in enumerate(modes):
            if mode == "delete":
                plan[pid] = (position, position)
            elif pid in plan:
                plan[pid] = (plan[pid][0], position)
    except Exception:  # noqa: BLE001
        return plan
    plan.identity = modes.identity
    return plan


#: Transactions whose PRODUCT (mode new or update) restates the whole product (`_restate`): the BMEcat 2005 schema
#: gives a T_UPDATE_PRODUCTS PRODUCT the content a T_NEW_CATALOG one has (PRODUCT_DETAILS, PRODUCT_ORDER_DETAILS
#: and PRODUCT_PRICE_DETAILS required), and an update replaces the product's data; a delta of prices alone is
#: T_UPDATE_PRICES.
_RESTATING = frozenset({"new_catalog", "update_products"})


def _is_delete(item: object) -> bool:
    return isinstance(item, (SourceItem, Parsed)) and bool(item.raw) and item.raw.get("mode") == "delete"  # type: ignore[union-attr]


class Restated:
    """What the PRODUCTs after a supplier PID's last delete say: value keys, association types and tier keys
    (currency, min_qty, valid_from) — what the delete, applied with the last of them, leaves standing."""

    __slots__ = ("keys", "kinds", "tiers")

    def __init__(self, keys: Iterable[str] = (), kinds: Iterable[str] = ()) -> None:
        self.keys: set[str] = set(keys)
        self.kinds: set[str] = set(kinds)
        self.tiers: set[tuple[Any, ...]] = set()

    def note(self, record: Product, tiers: list[dict[str, Any]]) -> None:
        self.keys.update(record.values)
        self.kinds.update(record.associations)
        self.tiers.update((t["currency"], t["min_qty"], t["valid_from"] or EARLIEST) for t in tiers)


class TierRemoval(NamedTuple):
    """The supplier's tier prices a delete takes off its product's price list, all but those keyed in `keep`
    by (currency, min_qty, valid_from): carried in the record's `Parsed.extras`, so they are removed in its
    batch's transaction, only when the record is taken in (`import_bmecat`'s put_tiers). A delete the merge
    refuses, or a crash before the batch commits, leaves them."""

    sku: str
    keep: frozenset[tuple[Any, ...]]


class Deletes:
    """What the file's `PRODUCT mode="delete"`s did: the SKUs they were applied to, those they withdrew something
    from in this run, the deletes naming no product of ours, and the file's products a later PRODUCT of the same
    supplier PID overrides (`parse_items`). Also the products of a T_NEW_CATALOG or T_UPDATE_PRODUCTS that withdrew claims they no
    longer send (`_restate`): the same withdrawal, counted apart."""

    def __init__(self) -> None:
        self.skus: list[str] = []  # a delete is the file's last word on them
        self.withdrew: set[str] = set()  # a value, association, tier price (or, `_followups`, category) went
        self.unknown = 0
        self.superseded = 0  # products a later delete of their PID overrides, and deletes a later one repeats
        self.folded = 0  # deletes applied with the later products of their PID (`_fold`)
        self.folds: dict[str, Restated] = {}  # supplier PID → what the products after its delete restate
        self.cleared: list[str] = []  # SKUs of folded deletes: the supplier's categories start from the file
        self.unsent: set[str] = set()  # SKUs a product (T_NEW_CATALOG, T_UPDATE_PRODUCTS) withdrew unsent claims from (`_restate`)
        # SKU → (supplier PID, the value keys and association types withdrawn) of a T_UPDATE_PRODUCTS, for its
        # warning (importers.bmecat_map_checks.report_unrestated); equal sets shared, one per distinct set
        self.unrestated: dict[str, tuple[str, frozenset[str]]] = {}
        self._sets: dict[frozenset[str], frozenset[str]] = {}

    def note_unrestated(self, sku: str, pid: str, gone: Iterable[str]) -> None:
        """What an update's PRODUCT did not restate and `_unsaid` withdrew from `sku` (two records of one SKU: both)."""
        names = frozenset(gone) | (self.unrestated[sku][1] if sku in self.unrestated else frozenset())
        self.unrestated[sku] = (pid, self._sets.setdefault(names, names))


def _known_deletes(store: Store, source: str, items: Iterator[SourceItem | Rejected],
                   deletes: Deletes) -> Iterator[SourceItem | Rejected]:
    """Give each delete the SKU its PID has in the cross-reference before SKU matching, which would create a
    product for an unknown PID. A delete of a PID the cross-reference does not know is dropped and counted:
    there is nothing of that supplier to withdraw (users re-running an update file expect no error)."""
    for chunk in batched(items, store.batch_size):
        wanted = [i.pid for i in chunk if _is_delete(i) and not i.record.identifier and i.pid]  # type: ignore[union-attr]
        found = cross_referenced(store, source, wanted) if wanted else {}
        for item in chunk:
            if _is_delete(item) and not item.record.identifier:  # type: ignore[union-attr]
                sku = found.get(item.pid or "")  # type: ignore[union-attr]
                if sku is None:
                    deletes.unknown += 1
                    continue
                item.record.identifier = sku  # type: ignore[union-attr]
            yield item


def _withdrawal(store: Store, source: str, chunk: list[Parsed], deletes: Deletes) -> None:
    """Turn delete records into the supplier's withdrawal: every key and association type it claims on the
    product, shown or as a candidate, merged as its empty value (docs/importers.md: the next claim takes over), as pim.withdraw does.
    No earlier PRODUCT of the same supplier PID is left in the file to merge first (`parse_items`).

    A product no other source describes (no other source's value or association shows or waits) would be left
    empty and enabled, a blank row in every channel's grid: the record also disables it, with a `problem` note
    saying so (`_left_empty`). It is not deleted: its categories, history and cross-reference stay, and a
    person decides."""
    claims = claimed(store, source, [i.record.identifier for i in chunk])
    kept = _described_elsewhere(store, source, claims)
    for item in chunk:
        sku = item.record.identifier
        keys, kinds = claims[sku]
        if keys or kinds:
            deletes.withdrew.add(sku)
        fields = withdrawn_links(kinds)
        if sku not in kept:
            fields["enabled"] = False
            item.problems = [*item.problems, _left_empty(source, sku, item)]
        item.record = partial_product(sku, dict.fromkeys(sorted(keys)), item.record.source, fields)  # type: ignore[arg-type]


def _described_elsewhere(store: Store, source: str, claims: dict[str, tuple[set[str], set[str]]]) -> set[str]:
    """The SKUs of `claims` (the source's value keys and association types per product) on which another source's
    value or association shows or waits: what a delete of the source leaves standing. Three reads per batch of
    deletes (the products' value keys and association types, other sources' candidates and association claims)."""
    skus = list(claims)
    with store.engine.connect() as conn:
        others = {sku for sku, by in raw_table(store, conn, CANDIDATE).select(conn, ("identifier", "source"), "identifier", skus)
                  if by != source}
        shown = raw_table(store, conn, PRODUCT).select(conn, ("identifier", "value_map", "associations"), "identifier", skus)
        links = association_claims.load(conn, skus)
    for sku, values, associations in shown:
        keys, kinds = claims[sku]
        if set(values or ()) - keys or set(associations or ()) - kinds:
            others.add(sku)
    others.update(sku for sku, types in links.items() if any(set(t.claims) - {source} for t in types.values()))
    return others


def _left_empty(source: str, sku: str, item: Parsed) -> QuarantineEntry:
    """The note on a product a delete disabled (`_withdrawal`): what happened and what to do."""
    pid = (item.raw or {}).get("supplier_pid", "")
    return QuarantineEntry(
        f"{source} deleted its product '{pid}' (PRODUCT mode=\"delete\") and no other source describes '{sku}': "
        "it is disabled rather than left empty in the catalog. Delete it if it is gone for good; if the supplier "
        "sends it again, enable it again on the product page", item.file, item.line, "PRODUCT@mode", None, sku,
        source, severity="problem")


def _unsaid(store: Store, source: str, items: list[tuple[Parsed, Restated]], noted: Deletes | None = None) -> set[str]:
    """Withdraw on each item's record what the supplier claims on the product (shown or waiting) that neither
    the record nor `said` states: its empty value, an empty association, merged as a delete's are
    (docs/importers.md: the next claim shows, or the value goes). Returns the SKUs something was withdrawn
    from; `noted` also keeps what went, by SKU (`Deletes.note_unrestated`). Records of one SKU are taken in
    order, each against the claims the ones before it leave."""
    skus = [i.record.identifier for i, _ in items]
    claims = product_claims(store, source, list(dict.fromkeys(skus)))
    again = {sku for sku, n in Counter(skus).items() if n > 1}  # SKUs whose later records read what this one leaves
    took: set[str] = set()
    for item, said in items:
        rec = item.record
        sku = rec.identifier  # type: ignore[union-attr]
        keys, kinds = claims[sku]
        gone = keys - said.keys - rec.values.keys()
        lost = kinds - said.kinds - rec.associations.keys()  # type: ignore[union-attr]
        for key in sorted(gone):
            rec.values[key] = None
        if lost:
            rec.associations = {**rec.associations, **withdrawn_links(lost)["associations"]}  # type: ignore[union-attr]
        if gone or lost:
            took.add(sku)
            if noted is not None:
                noted.note_unrestated(sku, (item.raw or {}).get("supplier_pid", ""),
                                      [*gone, *(f"association {kind}" for kind in lost)])
        if sku in again:
            claims[sku] = ((keys - gone) | {k for k, v in rec.values.items() if v is not None},
                           (kinds | said.kinds | rec.associations.keys()) - lost)  # type: ignore[union-attr]
    return took


def _fold(store: Store, source: str, m: BmecatMap, items: list[tuple[Parsed, Restated]], deletes: Deletes) -> None:
    """A delete followed by later PRODUCTs of its supplier PID, applied with the last of them: that record also
    withdraws what the supplier claims on the product that none of them restates (`_unsaid`), and the
    supplier's tier prices they do not restate leave the price list. What they restate is theirs to say, so
    the same file imported again withdraws nothing and the record is skipped as merged."""
    deletes.withdrew |= _unsaid(store, source, items)
    for item, said in items:
        sku = item.record.identifier
        deletes.cleared.append(sku)
        if m.tier_price_list:  # removed before the record's own tiers are written (`TierRemoval`)
            item.extras = [TierRemoval(sku, frozenset(said.tiers)), *item.extras]


def _restate(store: Store, source: str, items: list[tuple[Parsed, Restated]], deletes: Deletes) -> None:
    """A T_NEW_CATALOG is the supplier's whole catalog (BMEcat 2005: it transmits the complete product data), and
    a T_UPDATE_PRODUCTS PRODUCT (mode new or update) replaces the product's data (`_RESTATING`), so a product
    either sends says everything the supplier has to say about it: the supplier's claims on the product
    the record no longer states are withdrawn (`_unsaid`). Stated too, so kept: a value skipped with a
    problem (`Mapped.held`: the supplier said something there; its old value stands until a good one comes)
    and a reference type whose targets resolve only after the file (`said.kinds`, taken before
    `References.translate` leaves it out of the record). A value the variant-level guard drops later is still
    in the record here. Products the file does not send are not touched (catalogs are split across files);
    tier prices and categories have their own complete-catalog rules (`CompletePriceLists`, `GroupPlacer`); an
    update's tiers still only add and change, and its categories follow its PRODUCT_TO_CATALOGGROUP_MAPs.

    Every stored product the file sends is checked, its source fingerprint (pim.merge) matching or not: a match
    says the supplier merged this very record and nobody wrote the product since, not that the supplier claims
    nothing more — the same record merged by an import before this rule (an update before round 34) left
    unsent claims standing, and so would a product whose problem value is later simply left out (the record
    hashes the same). The claims are read in part instead (`pim.withdraw.product_claims`: no value decoded):
    about 13 µs a product against 55 µs for whole products; a skip of matched records would save some 10 µs
    of those on an unchanged re-import, not soundly.

    What an update withdrew is also kept by product (`Deletes.unrestated`) for the file's warning: a supplier
    sending partial updates loses values it meant to keep (a map's `updates: delta` reads them so)."""
    update = (items[0][0].raw or {}).get("transaction") == "update_products"
    deletes.unsent |= _unsaid(store, source, items, deletes if update else None)


def _families(store: Store, skus: list[str]) -> dict[str, str | None]:
    """SKU → family of the stored products among `skus` (one query, no value decoding)."""
    with store.engine.connect() as conn:
        return dict(raw_table(store, conn, PRODUCT).select(conn, ("identifier", "family"), "identifier", skus))  # type: ignore[arg-type]


def _matched(store: Store, m: BmecatMap, items: Iterator[SourceItem | Rejected],
             header: BmecatHeader) -> Iterator[Parsed | Rejected]:
    """SKU matching (pim.sources.match_skus) under the map's `unmatched`, except in a T_UPDATE_PRICES: a price
    update carries only prices, so a product it cannot place is refused whatever `unmatched` says — neither
    created nor remembered in the cross-reference as created. The transaction element precedes the products,
    so it is known once the first is read; matching starts then. A product with no cross-reference whose
    GTIN was given but bad (not matched on, `BmecatMapper._gtin`) is refused under its GTIN element saying so,
    whatever `unmatched` says: created, it could duplicate one of ours (`refuse_unlinked`). A refusal about a
    GTIN names its element and line (`GtinIds`, carried in `raw["_gtin"]`), not the PRODUCT's."""
    source = f"supplier:{m.supplier}"
    first = next(items, None)
    if first is None:
        return
    prices_only = header.transaction == "update_prices"
    unmatched = "quarantine" if prices_only else m.unmatched
    found: Iterable[SourceItem | Rejected] = chain([first], items)
    if unmatched == "create" and m.sku_from == "xref":
        found = refuse_unlinked(store, source, found, lambda i: _ids(i).bad)
    for item in match_skus(store, source, found, gtin_attribute=m.fields.get("ean", "ean"), unmatched=unmatched,
                           gtin_at=lambda i, gtin: _ids(i).at(gtin)):
        ids = item.raw.pop("_gtin", None) if isinstance(item, Rejected) and item.raw else None
        if isinstance(item, Rejected) and item.raw:
            item.raw.pop("_ref_lines", None)
        bad = ids.bad if ids is not None else None
        if isinstance(item, NoSku):  # no SKU found: named at the GTIN element tried, if any
            pid = item.record_key or ""
            if prices_only:
                why = unmatched_reason(bad[1], source, pid, "quarantine", hint=False) if bad else item.why
                field, line = (bad[0], bad[2]) if bad else (
                    "SUPPLIER_PID" if item.field == "pid" else item.field, item.line)
                item = Rejected(_unplaced_price(source, pid, why), item.file, line, field, item.raw, item.record_key)
            elif bad:
                item = Rejected(unmatched_reason(bad[1], source, pid, unmatched), item.file, bad[2], bad[0],
                                item.raw, item.record_key)
        yield item


def _ids(item: SourceItem) -> GtinIds:
    """The GTIN ids `parse_items` carries in the item's raw record until it is matched (none: empty)."""
    return (item.raw.get("_gtin") if item.raw else None) or _NO_IDS


def _unplaced_price(source: str, pid: str, why: str) -> str:
    """The reason a T_UPDATE_PRICES product with no product of ours is refused, and the two ways to place it."""
    return (f"T_UPDATE_PRICES never creates products (a price update carries only prices): {why}; import the product "
            f"in a T_NEW_CATALOG or T_UPDATE_PRODUCTS first, or add a cross-reference with `pim import xref {source} "
            f"{pid} SKU`, then import the prices again")


def supplier_origin(field: str, sku_from: str = "xref", prefix: str = "") -> IdentifierOrigin:
    """Where a supplier import's new SKUs come from (pim.importing.IdentifierOrigin): the supplier's product id in
    `field`, which only the supplier can change. Where the cross-reference places products (`sku_from: xref`,
    supplier tables), one whose id makes no SKU is placed by mapping the id to a SKU of ours; a map that makes
    every SKU of the id (`sku_from: supplier_pid`) cannot place it."""
    xref = "map the id to it with `pim import xref {source} {pid} SKU`"
    if sku_from == "xref":
        return IdentifierOrigin(field, (
            f"it is the supplier's product id ({field}), which only the supplier can change: create the product under "
            f"a SKU of your own (POST /api/v1/products), {xref}, and import the file again"))
    return IdentifierOrigin(field, (
        f"this map makes a new SKU of `sku_prefix` + the supplier's product id ({field}; `sku_from: {sku_from}`), "
        "which only the supplier can change, so the product is left out and the rest of the file imported; only a "
        f"map with `sku_from: xref` can place it: create our product under another SKU (POST /api/v1/products) and {xref}"),
        prefix)


def _finish(items: Iterator[Parsed | Rejected], store: Store, m: BmecatMap, path: Path,
            refs: References | None = None, deletes: Deletes | None = None) -> Iterator[Parsed | Rejected]:
    """After SKU matching: give new products the map's family (existing ones keep theirs), turn the collected
    value problems into quarantine notes under the SKU, give each product's tier prices its SKU, translate
    reference targets to SKUs (`refs`) and turn deletes into withdrawals (`deletes`). A T_UPDATE_PRICES product
    whose SKU is no stored product is refused here: the merge would create it."""
    source = f"supplier:{m.supplier}"
    refs = refs or References(store, source, m.sku_from, m.sku_prefix)
    deletes = deletes or Deletes()
    origin = supplier_origin("MANUFACTURER_PID" if m.sku_from == "manufacturer_pid" else "SUPPLIER_PID", m.sku_from,
                             "" if m.sku_from == "xref" else m.sku_prefix)
    restating = _RESTATING if m.updates == "restate" else frozenset({"new_catalog"})  # delta: an update only adds
    for chunk in batched(items, store.batch_size):
        ids = [i.record.identifier for i in chunk if isinstance(i, Parsed)]
        known = _families(store, ids) if ids else {}
        withdrawn = [i for i in chunk if isinstance(i, Parsed) and _is_delete(i) and i.record.identifier in known]
        if withdrawn:
            _withdrawal(store, source, withdrawn, deletes)  # type: ignore[arg-type]
            deletes.skus.extend(i.record.identifier for i in withdrawn)
            if m.tier_price_list:  # all its tiers go, with its record (`TierRemoval`)
                for i in withdrawn:
                    i.extras = [TierRemoval(i.record.identifier, frozenset())]
        done: list[Parsed] = []
        ref_lines: dict[int, dict[str, dict[str, int]]] = {}  # id(item) → its `Mapped.ref_lines`
        folds: list[tuple[Parsed, Restated]] = []
        complete: list[tuple[Parsed, Restated]] = []  # catalog and update products of ours: `_restate`
        for item in chunk:
            if isinstance(item, Rejected):
                yield item
                continue
            rec = item.record
            raw = dict(item.raw or {})
            problems = raw.pop("_problems", [])
            held = raw.pop("_held", ())
            fold = raw.pop("_fold", False)
            folding = raw.pop("_folding", False)  # a PRODUCT between a delete and the fold: `_fold` restates it
            raw.pop("_gtin", None)
            lines = raw.pop("_ref_lines", None)
            if raw.get("mode") == "delete":
                if rec.identifier not in known:  # the cross-reference names a product deleted since
                    deletes.unknown += 1
                    continue
                item.raw = raw
                yield item
                continue
            if raw.get("transaction") == "update_prices" and rec.identifier not in known:
                # a SKU set before matching (sku_from: supplier_pid…) or a cross-reference to a deleted product
                pid = raw.get("supplier_pid", "")
                yield Rejected(_unplaced_price(source, pid, f"no product '{rec.identifier}' for {source} product '{pid}'"),
                               item.file, item.line, "SUPPLIER_PID", raw, rec.identifier)
                continue
            for tier in item.extras:
                tier["sku"] = rec.identifier
            refs.note(raw.get("supplier_pid", ""), rec.identifier)
            if rec.identifier not in known and rec.family is None:
                rec.family = m.family
            elif (rec.identifier in known and "family" in rec.model_fields_set and rec.family == m.family
                  and known[rec.identifier] != m.family):
                rec.model_fields_set.discard("family")  # the supplier's default family never overrides ours
                # (stated where it is the product's family anyway: the record hashes as when it created it)
            item.raw = raw
            item.origin = origin  # what refusing a new product under its SKU names (pim.importing._addressable)
            item.problems = [QuarantineEntry(reason, path.name, at[0] if at and at[0] else item.line, field, None,
                                             rec.identifier, source, severity="problem") for field, reason, *at in problems]
            done.append(item)  # type: ignore[arg-type]
            if lines:
                ref_lines[id(item)] = lines
            if fold:
                folds.append((item, deletes.folds.pop(raw.get("supplier_pid", ""), Restated())))  # type: ignore[arg-type]
            elif raw.get("transaction") in restating and rec.identifier in known and not folding:
                # the types taken before `translate`, which leaves the late ones out of the record
                complete.append((item, Restated(held, rec.associations)))  # type: ignore[arg-type]
        refs.translate(done, ref_lines)
        if complete:
            _restate(store, source, complete, deletes)
        if folds:
            _fold(store, source, m, folds, deletes)
        yield from done


def import_bmecat(path: Path, store: Store, m: BmecatMap, *, precedence: Precedence | None = None,
                  map_dir: Path | None = None) -> ImportCounts:
    """Import one BMEcat file, merged by precedence into what other sources said; tier prices into a price list
    (written batch by batch, each batch after its products). A T_NEW_CATALOG is the supplier's whole catalog:
    its tier prices are then a complete price list, and stored tiers it no longer holds are removed once every
    product is in (nothing is removed while any product of the file was rejected). Once every product is in,
    the follow-ups run: reference targets that resolved only then, and the catalog group assignments
    (importers/bmecat_links.py, importers/bmecat_groups.py). The job is finished once, after them, with
    every count. A T_UPDATE_PRICES never creates a product, whatever the map's `unmatched` says (`_matched`).
    Within the file the last word on a product wins: a PRODUCT a later delete of its supplier PID overrides is
    not applied, and a delete followed by PRODUCTs of its PID leaves what they say (`parse_items`). A product a
    T_NEW_CATALOG or T_UPDATE_PRODUCTS sends withdraws the supplier's claims on it that it no longer states
    (`_restate`; an update says what in one warning, and a map's `updates: delta` reads its PRODUCTs as changes
    only); a delete of a product no other source describes disables it (`_withdrawal`)."""
    from pim.commerce import CompletePriceLists, put_price_rows_in

    source = f"supplier:{m.supplier}"
    written = 0
    header = BmecatHeader()
    deletes = Deletes()
    lists: dict[str, Any] = {"open": None}
    # what the batch being written took off (SKUs) and put in (tiers): withdrawn and counted once it commits
    taken_off: set[str] = set()
    put_in = 0
    cleanup = ExitStack()  # a complete tier list left unfinished (the import failed) removes nothing

    def put_tiers(conn: Connection, batch: list[dict[str, Any] | TierRemoval]) -> None:
        """The tier prices of a batch's products taken in, in the batch's transaction, after the tiers its
        deletes take off (`TierRemoval`), so a crash or a refused record leaves both as they were. Each tier was
        checked as a PriceListEntry when it was read (`BmecatMapper._tier_check`); what that left out, the map's
        price list name, is checked on the first (the error an entry built of each tier gave)."""
        nonlocal put_in, taken_off
        gone = {t.sku: set(t.keep) for t in batch if isinstance(t, TierRemoval)}
        taken_off = remove_price_list_entries_in(store, conn, m.tier_price_list, source, gone) if gone else set()  # type: ignore[arg-type]
        rows = [{"customer": m.tier_price_list, **t, "source": source}  # PriceListEntry's field order
                for t in batch if not isinstance(t, TierRemoval)]
        put_in = 0
        if not rows:
            return
        PriceListEntry(**rows[0])
        if header.transaction == "new_catalog":
            if lists["open"] is None:
                lists["open"] = cleanup.enter_context(CompletePriceLists(store, conn))
            put_in = lists["open"].put_rows_in(conn, rows)
        else:
            put_in = put_price_rows_in(store, conn, rows)

    def committed(_: int) -> None:
        """After each batch commits (run_import's on_batch): its tiers count and what its deletes took off its
        products' tiers is withdrawn, only then (a batch prepared again or rolled back did neither)."""
        nonlocal written, put_in
        deletes.withdrew.update(taken_off)
        taken_off.clear()
        written, put_in = written + put_in, 0

    start = store.structure()
    refuse_map_mistakes(m, start, SPEC_UNITS, m._file)  # before a product is read or a category created
    placer = early = None
    if m.catalog_groups is not None:
        check_groups_map(m.catalog_groups, start)
        placer = GroupPlacer(store, m.catalog_groups, with_twins(m.languages), source, path.name)
        early = _group_system(path) if m.catalog_groups.create_under else BmecatHeader()
        placer.create_categories(early.groups)
    # read after the group tree is in: the records' fingerprints depend on the structure (pim.merge), so the
    # next import of the file, reading the same structure, finds them (without groups, nothing changed it)
    structure = store.structure() if placer is not None else start
    merger = (Merger(precedence, create_missing=m.unmatched == "create") if precedence is not None
              else merger_for(m, map_dir)).bind(structure)  # type: ignore[arg-type]  # a BmecatMap has precedence and unmatched
    refs = References(store, source, m.sku_from, m.sku_prefix, salt=merger.salt)
    mapper = BmecatMapper(m, structure, str(path))
    parsed = _known_deletes(store, source, parse_items(path, m, structure, header, deletes, mapper), deletes)
    matched = _matched(store, m, parsed, header)
    items = _finish(matched, store, m, path, refs, deletes)

    def after_pass(counts: ImportCounts) -> None:
        if written:
            counts.extra["tier_prices"] = written
        if lists["open"] is None and m.tier_price_list and header.transaction == "new_catalog":
            lists["open"] = cleanup.enter_context(CompletePriceLists(store))  # no tier taken in: none to keep
        if lists["open"] is not None:
            removed = lists["open"].close(
                counts.job_id, _holding_tiers(store, counts), file=path, source=source,
                nothing_removed=f"T_NEW_CATALOG: no tier price of '{m.tier_price_list}' was removed", rows="product(s)")
            if written or removed:
                counts.extra["tier_prices_removed"] = removed
        _followups(store, m, path, header, refs, deletes, merger.precedence, counts, placer,
                   set(early.groups) if early is not None else set())
        report_file(store, counts, source, path.name, m, mapper.codes, mapper.unmapped,
                    complete=header.transaction == "new_catalog", price_types=mapper.price_types)

    with cleanup:
        return run_import(store, source, items, structure=structure, label=job_label("bmecat", path), merge=merger,
                          before_finish=after_pass, extras=put_tiers if m.tier_price_list else None,
                          on_batch=committed if m.tier_price_list else None)


def _group_system(path: Path) -> BmecatHeader:
    """The file's catalog group system, read ahead of its products (the group system precedes them in BMEcat
    2005 and 1.2): the reader stops at the first product. A file that breaks here is left to the import
    itself, which reports it under its job."""
    header = BmecatHeader()
    try:
        for item in read_bmecat(path, header, groups=True):
            if isinstance(item, BmecatProduct):
                break
    except Exception:  # noqa: BLE001
        return BmecatHeader()  # the import's own read raises it again, under its job
    return header


def _followups(store: Store, m: BmecatMap, path: Path, header: BmecatHeader, refs: References, deletes: Deletes,
               precedence: Precedence, counts: ImportCounts, placer: GroupPlacer | None = None,
               early: set[str] | None = None) -> None:
    """After the product pass, before the job is finished: late reference targets, the group tree (groups
    the read ahead did not see) and the assignments, the deletes' counts; their problems go to the job."""
    source = f"supplier:{m.supplier}"
    links, problems = refs.resolve_pending(path.name)
    follow = Followups(store, source, path.name, datetime.now(UTC), associations=links)
    if placer is not None:
        placer.create_categories(header.groups, done=early or ())
        created = placer.created
        follow.categories = placer.claims(header, refs.in_file, set(deletes.skus), refs.lookup, cleared=deletes.cleared)
        problems += placer.problems
        if created:
            counts.extra["categories_created"] = created
    wanted = follow.associations.keys() | follow.categories.keys()
    rejected = _rejected(store, counts) if wanted or deletes.unsent or deletes.withdrew else set()
    if wanted:
        follow.own = {sku for sku in refs.in_file.values() if sku in wanted and sku not in rejected}
    changed, refused = follow.write(precedence)
    problems += refused
    if changed:
        counts.extra["updated_after_file"] = changed
    # the products the deletes took something from in this run (an unchanged re-run withdraws nothing; a delete
    # the merge refused took no value or tier: TierRemoval)
    withdrew = (deletes.withdrew - rejected) | (follow.changed & set(deletes.skus))
    if withdrew:
        counts.extra["withdrawn"] = len(withdrew)
    if unsent := deletes.unsent - rejected:  # a record validation or the merge refused withdrew nothing
        counts.extra["withdrawn_unsent"] = len(unsent)
    if header.transaction == "update_products":
        report_unrestated(store, counts, source, path.name, {sku: deletes.unrestated[sku] for sku in unsent
                                                             if sku in deletes.unrestated}, m.updates)
    aside = deletes.unknown + deletes.superseded + deletes.folded  # read, and no record of their own merged
    counts.read += aside
    counts.unchanged += aside
    if deletes.unknown:
        counts.extra["deletes_unknown"] = deletes.unknown
    if deletes.superseded:
        counts.extra["superseded_in_file"] = deletes.superseded
    counts.problems += store.quarantine(counts.job_id, problems)


def _holding_tiers(store: Store, counts: ImportCounts) -> int:
    """The rejected products that keep a T_NEW_CATALOG's stored tier prices (one may be a product that still holds
    some): all but the new products refused for their SKU (pim.importing.NEW_IDENTIFIER), which were never stored
    and hold none. One count, only when the job rejected something; its open entries (a job run again closed those
    of its earlier attempts)."""
    if not counts.rejected:
        return 0
    with store.engine.connect() as conn:
        new = conn.execute(select(func.count()).select_from(QUARANTINE).where(
            QUARANTINE.c.job_id == counts.job_id, QUARANTINE.c.kind == NEW_IDENTIFIER,
            QUARANTINE.c.resolved_at.is_(None))).scalar_one()
    return max(counts.rejected - new, 0)


def _rejected(store: Store, counts: ImportCounts) -> set[str]:
    """The record keys (SKUs) this job rejected; none read when it rejected none."""
    if not counts.rejected:
        return set()
    return {e["record_key"] for e in store.quarantined(counts.job_id, open_only=False, severity="rejected")}


class BmecatImporter:
    name = "bmecat"

    def run(self, path: Path, store: Store, *, map_path: Path, **_: Any) -> dict[str, Any]:
        return import_bmecat(path, store, load_map(map_path), map_dir=map_path.parent).as_dict()
