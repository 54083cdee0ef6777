"""ETIM/ECLASS features → attribute values: the feature mapping half of importers.bmecat_mapper.BmecatMapper
(which feature occurrence is the product's own, in which language, with which unit or option), and how a
feature's raw value reads as a number or a boolean."""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from importers.bmecat_map import BmecatMap, FeatureTarget
from importers.bmecat_reader import BmecatProduct, Feature
from importers.erp_values import yes_or_no
from importers.gtin_check import gtin_reason
from pim.catalog import Structure
from pim.quality import gtin_problem
from pim.structure import AttributeType
from pim.values import ValueProblem

#: A value problem: (element or feature, reason), at its PRODUCT's line unless a third item names its own
#: (a GTIN's, a feature's, a PRODUCT_PRICE's, a PROD_ID_TO's: the element a user looks for in the file).
Problem = tuple[str, str] | tuple[str, str, int]


def finite_number(text: str) -> Decimal | None:
    """A feature's or a logistic detail's number (a decimal comma read as a point), or None for no number.
    NaN and Infinity are none: Decimal reads them, but no attribute can hold them."""
    try:
        value = Decimal(text.strip().replace(",", "."))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _raw(feat: Feature) -> str | None:
    """A feature's value as the file writes it: its first FVALUE, else its value IRDI or that value's text."""
    return feat.values[0] if feat.values else (feat.value_ref or feat.value_details)


#: An ECLASS IRDI (a value's `0173-1#07-BAA194#001`): a code, not the text a text attribute shows.
_IRDI = re.compile(r"\d{4}-\d#\d{2}-[A-Z]{3}\d{3}#\d{3}")
#: The attribute types a feature's value goes to as it is written (`_feature_value`'s last branch).
_NOT_TEXT = frozenset({AttributeType.metric, AttributeType.number, AttributeType.simple_select,
                       AttributeType.multi_select, AttributeType.boolean})


def _text(feat: Feature, target: FeatureTarget) -> str | None:
    """A feature's value for a text attribute: the map's `options` for its VALUE_IDREF or FVALUE when they name
    it (a coded value spelt our way), else its FVALUE unless that is an IRDI, else the value's text
    (FVALUE_DETAILS: `Aufbau` for 0173-1#07-BAA194#001), else what `_raw` gives. Storing the IRDI garbled the text."""
    for key in (feat.value_ref, *feat.values):
        if key and key in target.options:
            return target.options[key]
    if feat.values and not _IRDI.fullmatch(feat.values[0].strip()):
        return feat.values[0]
    return feat.value_details or _raw(feat)


def _coded(feat: Feature, target: FeatureTarget) -> bool:
    """Whether a feature's value is a code a text attribute reads otherwise (`_text`): the map's `options` name it,
    or its FVALUE is an IRDI. Its FVALUEs by language are then not the text."""
    return any(k and k in target.options for k in (feat.value_ref, *feat.values)) or bool(
        feat.values and _IRDI.fullmatch(feat.values[0].strip()))


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


def number_or_text(raw: str) -> Any:
    try:
        return Decimal(raw.replace(",", "."))
    except InvalidOperation:
        return raw


class FeatureMapping:
    """The feature methods of `BmecatMapper`, which sets up what they read (the map, the structure, the
    languages) and provides `_slot`, `_skip` and `_put`."""

    m: BmecatMap
    s: Structure
    languages: dict[str, str]
    unmapped: set[str]
    _systems: dict[str, bool]
    _gtin_attrs: frozenset[str]
    _value_hint: str

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
            text = target if attr.type not in _NOT_TEXT else None  # a text takes the value's text, not its IRDI
            if attr.localizable:
                for locale, raw in self._localized(p, feat, text):
                    self._feature_value(feat, target, attr, raw, values, problems, held, locale)
            elif (raw := self._one_value(p, feat, text)) is not None:
                self._feature_value(feat, target, attr, raw, values, problems, held)

    def _own(self, features: list[Feature], problems: list[Problem]) -> Iterable[Feature]:
        """The product's own occurrence of each mapped feature: the shallowest in the FID/FPARENT_ID tree
        (`bmecat_parse._nest`), as ECLASS Advanced files repeat features in sub-blocks, an accessory's GTIN and
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

    def _localized(self, p: BmecatProduct, feat: Feature, text: FeatureTarget | None = None) -> list[tuple[str, str]]:
        """(locale, value) of a feature for a localizable attribute: each FVALUE with `lang` in its language, one
        without in the catalog's default language, through the map's `languages` (as DESCRIPTION_SHORT). A
        language the map lacks joins the file's unmapped-language warning, as texts do (it was dropped unsaid).
        `text`: the target, when it is a text attribute (`_text`)."""
        raw = _raw(feat) if text is None else _text(feat, text)
        langs = (feat.langs if text is None or not _coded(feat, text) else None) or (
            {p.language: raw} if raw is not None else {})
        languages = self.languages
        found = [(languages[lang], text) for lang, text in langs.items() if lang in languages]
        if len(found) < len(langs):
            self.unmapped.update(lang for lang in langs if lang not in languages)
        return found

    def _one_value(self, p: BmecatProduct, feat: Feature, text: FeatureTarget | None = None) -> str | None:
        """A feature's value for an attribute that is not localizable: of localized FVALUEs the one
        `_in_one_language` picks, else its only value (for a text attribute, `text`, its text: `_text`)."""
        if text is not None and _coded(feat, text):
            return _text(feat, text)
        if feat.langs and (said := self._in_one_language(p.language, feat.langs)) is not None:
            return said
        return _raw(feat) if text is None else _text(feat, text)

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
        if attr.type in (AttributeType.metric, AttributeType.number) and finite_number(raw) is None:
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
