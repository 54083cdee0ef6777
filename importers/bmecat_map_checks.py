"""Where a BMEcat map does not fit the catalog's structure, or a file: said once, not once per product.

A map's mistake (an attribute code or a unit spelled wrong, a locale the structure lacks) used to show as a
problem or a refusal on every product, while a T_NEW_CATALOG withdrew the values the mistaken rule stopped
mapping. `refuse_map_mistakes` refuses the import before any product is read. What only the file can show (a
mapped ECLASS property the file has in another version, texts in a language the map does not map) becomes one
warning per file (importers.erp_values.report_unread). Split from importers.bmecat, which calls these."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, NamedTuple

from importers.bmecat_price_dates import PriceTypes, report_later
from importers.erp_values import metric_family, report_unread, unit_mistakes
from pim.catalog import Structure
from pim.errors import InputError
from pim.importing import file_warning
from pim.spelling import nearest
from pim.structure import AttributeType

if TYPE_CHECKING:
    from importers.bmecat_map import BmecatMap
    from pim.importing import ImportCounts
    from pim.store import Store

#: ISO 639-2 languages with two codes, bibliographic → terminology. BMEcat's language type allows either, so
#: a file may write `ger` where the map lists `deu`.
ISO639_2_TWINS = {"alb": "sqi", "arm": "hye", "baq": "eus", "bur": "mya", "chi": "zho", "cze": "ces", "dut": "nld",
                  "fre": "fra", "geo": "kat", "ger": "deu", "gre": "ell", "ice": "isl", "mac": "mkd", "mao": "mri",
                  "may": "msa", "per": "fas", "rum": "ron", "slo": "slk", "tib": "bod", "wel": "cym"}
_TWINS = {**ISO639_2_TWINS, **{t: b for b, t in ISO639_2_TWINS.items()}}

#: An ECLASS IRDI (0173-1#02-AAF040#004): the property without its version (the last `#nnn`).
_IRDI = re.compile(r"(.+?#[0-9]{2}-[^#]+)(?:#[0-9]+)?").fullmatch

_TEXTS = ("short", "long", "keywords")  # the fields whose elements carry a language (`lang`)


def with_twins(languages: Mapping[str, str]) -> dict[str, str]:
    """The map's languages, each also under its other ISO 639-2 code where it has one (`ger` for `deu`): texts
    in the twin were dropped without a word. A code the map lists itself keeps its own locale."""
    found = {code.lower(): locale for code, locale in languages.items()}  # the reader lowers `lang`
    return {**{_TWINS[code]: locale for code, locale in found.items() if code in _TWINS}, **found}


class _Target(NamedTuple):
    field: str  # where the map names the attribute: features.<code>.attribute
    attribute: str
    kind: str  # text (the element has a language), feature, element (no language), price, image


def refuse_map_mistakes(m: BmecatMap, structure: Structure, spec_units: Mapping[str, str], file: str | None) -> None:
    """Refuse a map that does not fit the structure, naming every mistake by its field in the map file `file`,
    before anything is written. `spec_units`: the BMEcat units of PRODUCT_DIMENSIONS (importers.bmecat)."""
    mistakes = [*_target_mistakes(m, structure, spec_units), *_unit_mistakes(m, structure, spec_units),
                *_option_mistakes(m, structure), *_code_mistakes(m, structure)]
    if mistakes:
        raise InputError(f"the BMEcat map does not fit the catalog's structure: "
                         f"{'; '.join(f'{field}: {why}' for field, why in mistakes)}", file=file,
                         field=mistakes[0][0], hint="fix the map (or add what it names to the structure) and import "
                         "again; nothing was imported")


def _targets(m: BmecatMap, spec_units: Iterable[str]) -> Iterator[_Target]:
    """Every attribute the map sends values to, with where it says so and what kind of element fills it."""
    for name, attribute in m.fields.items():
        yield _Target(f"fields.{name}", attribute, "text" if name in _TEXTS else "element")
    for code, t in m.features.items():
        yield _Target(f"features.{code}.attribute", t.attribute, "feature")
    if m.logistics is not None:
        for name in (n.lower() for n in spec_units):
            if (dimension := getattr(m.logistics, name)) is not None:
                yield _Target(f"logistics.{name}.attribute", dimension.attribute, "element")
        for name in ("customs_number", "country_of_origin"):
            if attribute := getattr(m.logistics, name):
                yield _Target(f"logistics.{name}", attribute, "element")
    if m.price_attribute and "price_attribute" in m.model_fields_set:  # the default `price` may be absent
        yield _Target("price_attribute", m.price_attribute, "price")
    if m.image_attribute:
        yield _Target("image_attribute", m.image_attribute, "image")


def _target_mistakes(m: BmecatMap, s: Structure, spec_units: Iterable[str]) -> Iterator[tuple[str, str]]:
    """Targets no value of the element can land in: no attribute, the identifier, a price collection other than
    the list price's, a localizable attribute for an element without a language (a feature has its FVALUEs'),
    a scopable one without the map's `channel`."""
    for t in _targets(m, spec_units):
        attr = s.attributes.get(t.attribute)
        if attr is None:
            yield t.field, _unknown(t.attribute, s.attributes, "attribute")
        elif attr.type == AttributeType.identifier:
            yield t.field, f"'{t.attribute}' is the identifier: the SKU comes from `sku_from`; map another attribute"
        elif t.kind == "price" and attr.type != AttributeType.price_collection:
            yield t.field, f"'{t.attribute}' is a {attr.type.value} attribute; the list price needs a price collection"
        elif t.kind != "price" and attr.type == AttributeType.price_collection:
            yield t.field, (f"'{t.attribute}' is a price collection, which only PRODUCT_PRICE fills "
                            "(`price_attribute`); map another attribute")
        elif attr.localizable and t.kind in ("element", "price", "image"):
            yield t.field, (f"'{t.attribute}' is localizable, and this element has no language to say its locale; "
                            "map an attribute that is not localizable")
        elif attr.scopable and m.channel is None:
            yield t.field, f"'{t.attribute}' is scopable: set the map's `channel` to the channel its values are for"


def _unit_mistakes(m: BmecatMap, s: Structure, spec_units: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    """A feature's `unit` or `units` target, a logistic detail's unit (the map's, else BMEcat's), that is no
    unit of its metric attribute's measurement family: every such value would be refused."""
    for code, t in m.features.items():
        if (family := metric_family(s, t.attribute)) is None:
            continue
        yield from unit_mistakes(s.measures, family, [
            (f"features.{code}.unit", "`unit`", t.unit),
            *((f"features.{code}.units.{funit}", f"`units` {funit} →", to) for funit, to in t.units.items())])
    for name, spec in spec_units.items():
        dimension = getattr(m.logistics, name.lower()) if m.logistics is not None else None
        if dimension is None or (family := metric_family(s, dimension.attribute)) is None:
            continue
        if dimension.unit is not None:
            yield from unit_mistakes(s.measures, family, [(f"logistics.{name.lower()}.unit", "`unit`", dimension.unit)])
        elif family.resolve(spec) is None:
            yield f"logistics.{name.lower()}.unit", (f"{name} is in {spec} by the BMEcat specification, which is no "
                                                     f"unit of {family.code}: give the unit the supplier sends")


def _option_mistakes(m: BmecatMap, s: Structure) -> Iterator[tuple[str, str]]:
    """A feature's `options` target that is no option of its select attribute (in any case, as pim.values reads
    them); an attribute with no options declared takes any code. `options` on a number or metric attribute, which
    never reads them (a text attribute takes them as its text: importers.bmecat_features._text)."""
    for code, t in m.features.items():
        attr = s.attributes.get(t.attribute)
        options = s.options.get(t.attribute)
        if attr is not None and t.options and attr.type in (AttributeType.metric, AttributeType.number):
            # never read (a number is the number): said, not ignored; text, select and boolean targets apply them
            yield f"features.{code}.options", (f"'{t.attribute}' is a {attr.type.value} attribute, which takes the "
                                               "feature's number, so `options` would be ignored: remove them")
            continue
        if attr is None or not options or attr.type not in (AttributeType.simple_select, AttributeType.multi_select):
            continue
        known = {o.casefold() for o in options}
        for key, option in t.options.items():
            if option.casefold() not in known:
                yield f"features.{code}.options.{key}", _unknown(option, options, f"option of '{t.attribute}'")


def _code_mistakes(m: BmecatMap, s: Structure) -> Iterator[tuple[str, str]]:
    """Locales, the channel, families and association types the map names and the structure lacks. The
    default `languages` table is left alone: it maps more languages than a catalog publishes, on purpose."""
    if "languages" in m.model_fields_set:
        for code, locale in m.languages.items():
            if locale not in s.locales:
                yield f"languages.{code}", (f"{_unknown(locale, s.locales, 'locale')}: remove `{code}` to leave its "
                                            "texts out, or add the locale to the structure")
    if m.channel is not None and m.channel not in s.channels:
        yield "channel", _unknown(m.channel, s.channels, "channel")
    if m.family is not None and m.family not in s.families:
        yield "family", _unknown(m.family, s.families, "family")
    for cls, family in m.class_families.items():
        if family not in s.families:
            yield f"class_families.{cls}", _unknown(family, s.families, "family")
    for kind, code in m.references.items():
        if code not in s.association_types:
            yield f"references.{kind}", _unknown(code, s.association_types, "association type")


def _unknown(code: str, known: Iterable[str], what: str) -> str:
    near = nearest(code, known)
    return f"'{code}' is no {what}{f' (did you mean {near!r}?)' if near else ''}"


# ---------------------------------------------------------------- what only the file shows: warnings
def report_file(store: Store, counts: ImportCounts, source: str, file: str, m: BmecatMap, codes: set[str],
                unmapped: set[str], complete: bool, price_types: Collection[str] = ()) -> None:
    """After the file, one warning each (importers.erp_values.report_unread; the file's next run replaces or
    closes it): mapped ECLASS properties the file has only in another version (`unread_versions`), languages
    of its texts the map does not map (`unread_languages`), prices none of which is of the map's `price_type`
    (`unread_price_types`; `price_types`: the file's, `BmecatMapper.price_types`). `complete`: the file is a
    T_NEW_CATALOG, which withdrew what the supplier had said there before."""
    withdrew = " (this T_NEW_CATALOG withdrew what the supplier had given there before)" if complete else ""
    report_unread(store, counts, source, file, unread_versions(m, codes), said=(
        "the map names {n} ECLASS property code(s) this file has only in another version, so their values were not "
        f"imported{withdrew}: {{notes}}. Map the file's version too (both versions may go to the same attribute)"))
    report_unread(store, counts, source, file, unread_languages(unmapped, m.languages), kind="map-languages",
                  count="unmapped_languages", said=(
                      "this file has texts or feature values in {n} language(s) the map's `languages` does not "
                      "list, so they were not "
                      f"imported{withdrew}: {{notes}}. Add each to `languages` (its ISO 639-2 code → one of the "
                      "structure's locales) to import them"))
    if isinstance(price_types, PriceTypes):  # BmecatMapper.price_types: the products without a price valid today
        report_later(store, counts, source, file, m, price_types)
    report_unread(store, counts, source, file, unread_price_types(m, price_types), kind="map-price-type",
                  count="unread_price_types", said=(
                      f"no price of this file was imported{withdrew}: {{notes}}. Set the map's `price_type` to the "
                      "one that is your list price and import the file again (or, if the map's is right, ask the "
                      "supplier for those prices)"))


#: How many products, and value keys, the warning of an update's withdrawals names (`report_unrestated`).
NAMED, KEYS_NAMED = 20, 40


def report_unrestated(store: Store, counts: ImportCounts, source: str, file: str,
                      withdrawn: Mapping[str, tuple[str, frozenset[str]]], updates: str) -> None:
    """One `warning` for a T_UPDATE_PRODUCTS that withdrew what its PRODUCTs did not restate (`withdrawn`: SKU →
    (supplier PID, value keys and `association <type>`s), importers.bmecat_deletes.Deletes.unrestated): a supplier that
    sends partial updates loses values without a word but a count. It names the keys and the first `NAMED`
    products, and the map's `updates: delta`. A later run of the file under `updates: delta` closes it; one
    that withdraws again replaces it; a run under `restate` withdrawing nothing leaves it (it still happened)."""
    key = f"update-unrestated:{file}"
    if not withdrawn:
        if updates == "delta":
            file_warning(store, counts.job_id, source, key, None, file=file)
        return
    keys = Counter(k for _, gone in withdrawn.values() for k in gone)
    named = sorted(withdrawn)[:NAMED]
    products = "; ".join(f"{sku}{_pid(withdrawn[sku][0], sku)}: {', '.join(sorted(withdrawn[sku][1]))}"
                         for sku in named)
    more = f"; and {len(withdrawn) - len(named)} more" if len(withdrawn) > len(named) else ""
    common = sorted(keys.items(), key=lambda kn: (-kn[1], kn[0]))[:KEYS_NAMED]
    what = ", ".join(f"{k} ({n})" for k, n in common) + (", …" if len(keys) > KEYS_NAMED else "")
    file_warning(store, counts.job_id, source, key, (
        f"this T_UPDATE_PRODUCTS withdrew from {len(withdrawn)} product(s) what its PRODUCTs did not restate (an "
        "update's PRODUCT is the whole product; a supplier sending only changes needs `updates: delta` in its "
        f"BMEcat map): {what}. To get them back, set it, then import the supplier's last "
        "complete catalog (T_NEW_CATALOG) again and its updates since; else ask the supplier to send whole products "
        f"(prices alone go in a T_UPDATE_PRICES). Products: {products}{more}"), file=file, field="updates")


def _pid(pid: str, sku: str) -> str:
    return f" (supplier PID '{pid}')" if pid and pid != sku else ""


def unread_versions(m: BmecatMap, codes: set[str]) -> list[tuple[str, str]]:
    """(features.<code>, note) for each mapped ECLASS property (an IRDI) no feature of the file has while the
    file has the property in a version the map does not map (…#005 mapped, …#004 sent): no word was said, and
    a T_NEW_CATALOG withdrew the value. `codes`: the feature codes the file has (`BmecatMapper.codes`)."""
    read = {irdi.group(1) for code in codes & m.features.keys() if (irdi := _IRDI(code))}  # by one version or another
    others: dict[str, list[str]] = {}
    for code in codes - m.features.keys():
        if (irdi := _IRDI(code)) is not None and irdi.group(1) not in read:
            others.setdefault(irdi.group(1), []).append(code)
    return [(f"features.{code}", f"features.{code} (to {t.attribute}): the file has {', '.join(sorted(sent))}")
            for code, t in m.features.items()
            if code not in codes and (irdi := _IRDI(code)) and (sent := others.get(irdi.group(1)))]


def unread_price_types(m: BmecatMap, seen: Collection[str]) -> list[tuple[str, str]]:
    """("price_type", note) when the file has prices and none of the map's `price_type`, for a map that reads
    prices (`price_attribute` or `tier_price_list`): every price was passed over without a word, and an update
    of prices alone read as unchanged. `seen`: the file's PRODUCT_PRICE@price_type values."""
    if not seen or m.price_type in seen or not (m.price_attribute or m.tier_price_list):
        return []
    return [("price_type", f"its prices are of price_type {', '.join(repr(t) for t in sorted(seen))}, "
                           f"the map reads '{m.price_type}'")]


def unread_languages(unmapped: set[str], languages: Mapping[str, str]) -> list[tuple[str, str]]:
    """("languages", note) for each language of the file's texts that the map's `languages` (with their twins,
    `with_twins`) do not map: `unmapped`, from `BmecatMapper.unmapped`."""
    listed = ", ".join(sorted(languages))
    return [("languages", f"'{lang}' (the map lists {listed})") for lang in sorted(unmapped)]
