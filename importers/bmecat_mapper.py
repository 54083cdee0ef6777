"""One BMEcat PRODUCT → a canonical record, its value problems and its tier prices, through the supplier's map
(importers.bmecat_map); the feature half is importers.bmecat_features."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import ValidationError

from importers.bmecat_features import FeatureMapping, Problem, finite_number, number_or_text
from importers.bmecat_map import SPEC_UNITS, BmecatMap
from importers.bmecat_map_checks import with_twins
from importers.bmecat_price_dates import PriceTypes, later_of, valid_on
from importers.bmecat_reader import BmecatHeader, BmecatProduct, GtinId, Price
from importers.erp_values import partial_product
from importers.gtin_check import gtin_reason, instead_hint, is_unit_gtin, match_gtin, supplier_hint
from importers.tier_checks import PRICE_FIELD, day, tier_problem, unit_price, unit_price_problem
from pim.catalog import Structure
from pim.product import Association, Product, trusted_provenance, value_key
from pim.quality import gtin_problem, is_gtin_attribute
from pim.structure import AttributeType


class GtinIds(NamedTuple):
    """A product's GTIN ids as SKU matching needs them (`raw["_gtin"]` until it is matched: `match_items`): the
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


NO_IDS = GtinIds()


class Mapped:
    """One mapped product: the record, per-value problems (imported anyway), commercial side data and `held`:
    the value keys the product gives a value for that was skipped with a problem (a T_NEW_CATALOG keeps the
    supplier's old value of those: `restate_unsent`). `gtin`: its GTIN ids when it is matched by GTIN (`sku_from:
    xref`) and has any. `ref_lines`: association type → target PID → line of its PROD_ID_TO, for the problem
    on a target that resolves to nothing (importers.bmecat_links.Pending)."""

    def __init__(self, product: Product, problems: list[Problem], tiers: list[dict[str, Any]],
                 held: set[str] | None = None, gtin: GtinIds | None = None,
                 ref_lines: dict[str, dict[str, int]] | None = None) -> None:
        self.product, self.problems, self.tiers = product, problems, tiers
        self.held = held or set()
        self.gtin = gtin
        self.ref_lines = ref_lines


_MAX_QUANTITY = 10**9


def _whole_quantity(text: str) -> int | None:
    """A reference's quantity as a whole number ≥ 1, or None ('1.5', '0', 'NaN' and '1e309' are not one)."""
    try:
        value = Decimal(text.strip().replace(",", "."))
    except InvalidOperation:
        return None
    if not value.is_finite() or value != value.to_integral_value() or not 1 <= value <= _MAX_QUANTITY:
        return None
    return int(value)


class BmecatMapper(FeatureMapping):
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
        # every PRODUCT_PRICE@price_type the file has (`unread_price_types`), and the products with no price valid
        # today (importers.bmecat_price_dates)
        self._today = self.stamp.date()
        self.price_types = PriceTypes(self._today)
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
        return self.m.sku_of(p.manufacturer_pid if self.m.sku_from == "manufacturer_pid" and p.manufacturer_pid else p.supplier_pid)

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
            self._put(values, problems, attribute, number_or_text(raw) if number else raw, where=where)
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
        refused (`match_items`). A second valid GTIN is legal (INTERNATIONAL_PID repeats) and no problem."""
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
            number = finite_number(raw)
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

    def _bound(self, text: str) -> Decimal:
        """Decimal(LOWER_BOUND), once per distinct text (a catalog has a handful: 1, 10, 100)."""
        try:
            return self._bounds[text]
        except KeyError:
            bound = self._bounds[text] = Decimal(text)
            return bound

    def _prices(self, p: BmecatProduct, header: BmecatHeader, sku: str, values: dict[str, Any],
                problems: list[Problem], held: set[str]) -> list[dict[str, Any]]:
        """The tiers of the map's price type; the lowest bound's amount per currency among the blocks valid on the
        import's day is the list price (importers.bmecat_price_dates: a product with none keeps its stored one, held
        as below, and joins the file's warning; the tier list takes every block with its dates). A price
        of that type skipped with a problem (at its PRODUCT_PRICE's line) holds the list price's key
        (`Mapped.held`): so does one in a currency the structure does not declare, which would otherwise replace
        the stored list price (a source's prices are its whole claim). The file's price types are noted for the
        warning when none is the map's (`unread_price_types`)."""
        tiers: list[dict[str, Any]] = []
        noted = len(problems)
        list_prices: dict[str, tuple[Decimal, str]] = {}
        not_today: list[tuple[Any, Any, Decimal, str, Decimal]] = []  # blocks that start later or ended
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
                    "valid_from": day(price.valid_from), "valid_to": day(price.valid_to)}
            wrong = self._tier_check(tier, price)
            if wrong:
                problems.append(("PRODUCT_PRICE", f"{price.price_type} price {price.amount} {currency} from "
                                                  f"{price.lower_bound or 1}: {wrong}; ignored", price.line))
                continue
            if self._currencies and currency not in self._currencies:
                problems.append(("PRICE_CURRENCY", self._undeclared(price.price_type, price.amount, currency), price.line))
                continue
            tiers.append(tier)
            if not valid_on(self._today, tier["valid_from"], tier["valid_to"]):  # the list price is today's
                not_today.append((tier["valid_from"], tier["valid_to"], bound, currency, amount))
            elif currency not in list_prices or bound < list_prices[currency][0]:
                list_prices[currency] = (bound, str(amount))
        if self.m.price_attribute and list_prices:
            self._put(values, problems, self.m.price_attribute, {c: a for c, (_, a) in list_prices.items()}, where="PRODUCT_PRICE")
        later = bool(not_today) and not list_prices  # keeps the stored list price (a T_NEW_CATALOG's too)
        if later and self.m.price_attribute:
            self.price_types.later[p.supplier_pid] = later_of(self._today, not_today)
        if self.m.price_attribute and (later or len(problems) > noted) and (key := self._slot(self.m.price_attribute, None)):
            held.add(key)
        return tiers

    def _tier_check(self, tier: dict[str, Any], price: Price) -> str | None:
        """`tier_problem`, which builds a PriceListEntry, once per distinct rest of the tier (currency,
        LOWER_BOUND, validity dates and the PID's length: a handful per catalog); after that, only the amount
        is checked, by the entry's own price field (`PRICE_FIELD`). Whatever that refuses is checked whole again,
        for the entry's own message."""
        key = (len(tier["sku"]), tier["currency"], price.lower_bound, price.valid_from, price.valid_to)
        if key in self._tiers_ok:
            try:
                PRICE_FIELD.validate_python(tier["price"])
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
