"""One content record (a JSON object, or a CSV/XLSX row turned into one) → a partial Product or ProductModel,
or the reason it is refused (importers.content)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import orjson
from pydantic import ValidationError

from importers.content_checks import check_profile
from importers.content_profile import ContentProfile
from importers.erp_values import partial_model, partial_product, refusal
from pim import content_sheet
from pim.catalog import Structure
from pim.importing import Parsed, Rejected, nul_at, nul_rejected
from pim.jsonl import broken_json_line
from pim.merge import EMPTY, MODEL_KEY
from pim.product import Association, Product, ProductModel, Provenance, split_key, trusted_provenance, value_key
from pim.validation import example_key, typo_of


class NoChannelTakes(ValueError):
    """A per-channel value in a locale no channel (of the profile) publishes: nowhere to write it."""


class ContentMapper:
    """One JSON object (or CSV row turned into one) → a partial Product. `sheet`: the records are CSV or XLSX
    rows, so a refusal names columns (`bullets:en_US`) where a JSON file's refusal names fields (`"bullets": {…}`)."""

    def __init__(self, profile: ContentProfile, structure: Structure, *, sheet: bool = False) -> None:
        check_profile(profile, structure)  # a typo refuses the file here, not each record that uses it
        self.p = profile
        self.s = structure
        self.sheet = sheet
        self.channels = profile.channels or sorted(structure.channels)
        self._keys: dict[tuple[str, str | None], list[str] | None] = {}  # (attribute, locale) → value keys
        #: the fields a record may have: any other would be dropped without a word
        self.known = {profile.sku_field, profile.model_field, content_sheet.VERSION_COLUMN, "values", "bullets",
                      "images", "associations", *profile.fields}

    def keys(self, attribute: str, locale: str | None) -> list[str]:
        keys = self._keys.get((attribute, locale), False)
        if keys is False:
            if len(self._keys) >= 4096:  # locales come from the file: keep the cache bounded
                self._keys.clear()
            keys = self._keys[attribute, locale] = self._value_keys(attribute, locale)
        if keys is None:
            raise ValueError(f"'{attribute}' is not an attribute; fix the content profile")
        return keys

    def _value_keys(self, attribute: str, locale: str | None) -> list[str] | None:
        attr = self.s.attributes.get(attribute)
        if attr is None:
            return None
        if locale and not attr.localizable:  # one text per locale would leave the last one standing
            raise ValueError(f"'{attribute}' is not localizable: give one value, not one per locale ({locale})")
        if attr.scopable:
            return [value_key(attribute, locale, ch) for ch in self._channels_for(attribute, locale)]
        return [value_key(attribute, locale)]

    def _channels_for(self, attribute: str, locale: str | None) -> list[str]:
        """The channels a scopable value goes to: every channel (or the profile's `channels`), and for a locale
        only those publishing it (description:de_DE@mobile is no value when mobile is English only)."""
        known = self.s.channels  # the profile's `channels` are among them (check_profile)
        chosen = [ch for ch in self.channels if not locale or locale in known[ch].locales]
        if not chosen:
            where = "the profile's `channels`" if self.p.channels else "the channels"
            if not locale:
                raise ValueError(f"'{attribute}' is per channel and there is no channel to write it to")
            shown = "; ".join(f"{ch}: {', '.join(known[ch].locales)}" for ch in self.channels)
            typo = typo_of(locale, self.s.locales, self.s.enabled_locales())
            raise NoChannelTakes(f"'{attribute}' is per channel and no channel takes {locale}{typo}: {where} "
                                 f"publish other locales ({shown}); give it in one of those, or add {locale} to a "
                                 "channel")
        return chosen

    def put(self, values: dict[str, Any], attribute: str, payload: Any, place: str, placed: dict[str, str]) -> None:
        if isinstance(payload, dict):
            for locale, text in payload.items():
                self.put_at(values, attribute, locale, text, place, placed)
        else:
            self.put_at(values, attribute, None, payload, place, placed)

    def put_at(self, values: dict[str, Any], attribute: str, locale: str | None, text: Any, place: str,
               placed: dict[str, str]) -> None:
        """Write `text` to the value keys of `attribute` in `locale`. `place` names the record's field that gives it
        (a `fields` field, `bullets`, `images`), `placed` is where the record's keys came from so far: a key the
        record already fills (from `values` or another place) refuses the record, as one would replace the other."""
        if locale and text in EMPTY:
            keys = self._cleared_keys(attribute, locale)
        else:
            keys = self._keys.get((attribute, locale)) or self.keys(attribute, locale)
            if not locale and self.s.attributes[attribute].localizable and not (self.sheet and text in EMPTY):
                raise ValueError(self._per_locale(attribute, place, text))  # (an empty cell: no claim, as before)
        for key in keys:
            if key in values:
                raise ValueError(self._twice(key, placed.get(key), place))
            values[key] = text
            placed[key] = place

    def _per_locale(self, attribute: str, place: str, text: Any) -> str:
        """Why a localizable attribute's value given without a locale is refused, with how the file at hand gives
        it: `"description": {"en_US": null}` in JSON, a column `bullets:en_US` in a sheet."""
        attr = self.s.attributes[attribute]
        locale = split_key(example_key(self.s, attr, None, self.channels[0] if self.channels else None))[1]
        if self.sheet:
            column = f"bullets:{locale}" if place == "bullets" else example_key(self.s, attr, locale, None)
            return f"'{attribute}' is localizable: give it in a column that names the locale ({column})"
        shown = "null" if text is None else '["…"]' if place == "bullets" else '"…"'
        shape = f'[{{"{locale}": {shown}}}]' if place == "images" else f'{{"{locale}": {shown}}}'
        return f"'{attribute}' is localizable: give it per locale (\"{place}\": {shape})"

    def _twice(self, key: str, first: str | None, second: str) -> str:
        """Why a record filling one value key from two places (`values` and a field, a field and the bullets the
        profile sends to the same attribute) is refused, naming both."""
        attribute, locale, _ = split_key(key)

        def named(place: str | None) -> str:
            if not self.sheet:
                return f'"{place or "values"}"'
            column = key if place is None else f"bullets:{locale}" if place == "bullets" and locale else place
            return f"column '{column}'"

        routed = "; ".join(f"the profile's `{place}` fills '{attribute}'" if place in ("bullets", "images") else
                           f"the profile's `fields` send '{place}' to '{attribute}'"
                           for place in dict.fromkeys((first, second)) if place is not None and place != attribute)
        return (f"'{key}' is given twice, by {named(first)} and by {named(second)}" + (f" ({routed})" if routed else "")
                + ": one would silently replace the other; give it in only one of them")

    def _cleared_keys(self, attribute: str, locale: str) -> list[str]:
        """A clear of a per-channel text reaches that locale on every channel (of the profile), publishing it or
        not: a value stored while a channel published the locale would otherwise stay for good."""
        try:
            keys = self.keys(attribute, locale)
        except NoChannelTakes:
            keys = []
        if keys and not self.s.attributes[attribute].scopable:
            return keys
        return [value_key(attribute, locale, ch) for ch in self.channels]

    def bullets(self, values: dict[str, Any], payload: Any, placed: dict[str, str]) -> None:
        """The bullets of a record, per locale: a list, or one text split as a sheet's cell is (`a|b|c`, or one
        bullet per line)."""
        per_locale = payload if isinstance(payload, dict) else {None: payload}
        target = self.p.bullets
        for locale, items in per_locale.items():
            if isinstance(items, str):
                items = _split(items, self.p.list_separator)
            items = [] if items is None else list(items)
            if isinstance(target, str):
                self.put_at(values, target, locale or None, "\n".join(items) or None, "bullets", placed)
                continue
            if len(items) > len(target):
                raise ValueError(f"{len(items)} bullets, but the profile places {len(target)} "
                                 f"({', '.join(target)}): the rest would be lost")
            for n, attribute in enumerate(target):
                text = items[n] if n < len(items) else None
                if locale:
                    self.put_at(values, attribute, locale, text, "bullets", placed)
                else:
                    self.put(values, attribute, text, "bullets", placed)

    def record(self, data: dict[str, Any], prov: Provenance) -> Product | ProductModel:
        raw_sku = data.get(self.p.sku_field)
        sku = raw_sku.strip() if isinstance(raw_sku, str) else ""
        raw_model = data.get(self.p.model_field)
        model = raw_model.strip() if isinstance(raw_model, str) else ""
        if sku and model:
            raise ValueError(f"give '{self.p.sku_field}' or '{self.p.model_field}', not both")
        if not sku and not model:
            if (unknown := data.keys() - self.known) and raw_sku is None and raw_model is None:
                raise ValueError(f"no '{self.p.sku_field}'; {self._unknown(data, sorted(unknown))}")
            if raw_model not in (None, ""):
                raise ValueError(f"'{self.p.model_field}' must be text")
            raise ValueError(f"no '{self.p.sku_field}'" if raw_sku in (None, "") else f"'{self.p.sku_field}' must be text")
        if unknown := data.keys() - self.known:
            fields = sorted(unknown)
            raise FieldRefused(self._unknown(data, fields), "enabled" if "enabled" in fields else fields[0])
        for name, kind in (("values", dict), ("images", list), ("associations", dict)):
            if data.get(name) is not None and not isinstance(data[name], kind):
                raise ValueError(f"'{name}' must be a JSON {'object' if kind is dict else 'array'}")
        values: dict[str, Any] = dict(data.get("values") or {})
        placed: dict[str, str] = {}  # value key → the field that gave it (a key of `values` is in none)
        for field, attribute in self.p.fields.items():
            if field in data:
                self.put(values, attribute, data[field], field, placed)
        if "bullets" in data:
            self.bullets(values, data["bullets"], placed)
        if "images" in data:
            images = data["images"] or []
            if len(images) > len(self.p.images):
                raise ValueError(f"{len(images)} images, but the profile places {len(self.p.images)} "
                                 f"({', '.join(self.p.images)}): the rest would be lost; add image attributes to "
                                 "`images:` in the profile")
            for n, attribute in enumerate(self.p.images):
                self.put(values, attribute, images[n] if n < len(images) else None, "images", placed)
        extra: dict[str, Any] = {}
        if "associations" in data:
            extra["associations"] = {t: Association(products=_skus(t, skus)) for t, skus in (data["associations"] or {}).items()}
        return partial_product(sku, values, prov, extra) if sku else partial_model(model, values, prov, extra)

    def _unknown(self, data: dict[str, Any], fields: list[str]) -> str:
        """Why a record with fields the import does not read is refused (they would be dropped silently)."""
        held = [f for f in fields if isinstance(data[f], list) and data[f] and isinstance(data[f][0], dict)]
        if held:
            return (f"'{held[0]}' holds records: give the file as a JSON array of records ([{{\"{self.p.sku_field}\": "
                    "…}, …]) or one record per line")
        if "enabled" in fields:  # a product's status, not a value: no attribute of that name exists
            return ("'enabled': a content file cannot enable or disable products (it brings copy, images and "
                    "links); do it from a source that owns the status: an `enabled` column in an ERP CSV (map the "
                    "header to `enabled` under the map's `columns`; `pim import erp`), the product's whole record "
                    "from `pim export jsonl` with `\"enabled\": false` imported back (`pim import jsonl`: a record "
                    "replaces the product), or `\"enabled\"` when the REST API creates it (POST /api/v1/products); "
                    "then leave the field out of this file")
        named = ", ".join(f"'{f}'" for f in fields[:5])
        return (f"unknown field{'s' if len(fields) > 1 else ''} {named}: a value goes under \"values\" by its value "
                f"key ({{\"values\": {{\"{fields[0]}\": …}}}}), or map the field to an attribute in the profile's "
                "`fields`")


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _split(text: str, sep: str) -> list[str]:
    """A list cell's items, split on the profile's separator and on line breaks: a cell may hold one bullet
    per line (Alt+Enter in Excel); no bullet, image path or SKU holds a line break."""
    return [x.strip() for part in _LINE_BREAK.split(text) for x in part.split(sep) if x.strip()]


class FieldRefused(ValueError):
    """A record refused for one of its fields: the quarantine names it (`field`), as it does for value refusals."""

    def __init__(self, reason: str, field: str) -> None:
        super().__init__(reason)
        self.field = field


def _skus(kind: str, skus: Any) -> list[str]:
    """An association's targets: a list of SKUs (a lone string was read as its characters, one SKU each)."""
    if skus is None:
        return []
    if not isinstance(skus, list) or not all(isinstance(s, str) for s in skus):
        raise ValueError(f"association '{kind}' must be a JSON array of SKUs, e.g. [\"A1\", \"A2\"]")
    return skus


def _one(mapper: ContentMapper, raw: Any, name: str, number: int, source: str, stamp: datetime) -> Parsed | Rejected:
    escaped = True  # a record parsed already (an array's, pretty-printed JSON's) may hold U+0000 anywhere
    if isinstance(raw, str):
        escaped = "\\u0000" in raw  # JSON writes U+0000 escaped: a line without the escape holds none
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return Rejected(broken_json_line(raw, exc), name, number, None, {"line": raw[:2000]})
    if not isinstance(raw, dict):
        return Rejected("a record must be a JSON object", name, number, None, {"value": raw})
    if escaped and (where := nul_at(raw)) is not None:
        return nul_rejected(f"'{where}'", name, number, where, raw, _record_key(mapper, raw))
    prov = trusted_provenance(source, f"{name}:{number}", stamp)
    try:
        return Parsed(mapper.record(raw, prov), name, number, raw)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        key = _record_key(mapper, raw)
        if isinstance(exc, ValidationError):  # an identifier over 255 characters, a family that is no code
            field, reason = refusal(exc, mapper.p.sku_field)
            return Rejected(reason, name, number, field, raw, str(key) if key else None)
        if not isinstance(exc, ValueError):
            exc = ValueError(f"unexpected shape: {type(exc).__name__}: {exc}")
        return Rejected(str(exc).splitlines()[0][:500], name, number, getattr(exc, "field", None), raw,
                        str(key) if key else None)


def _record_key(mapper: ContentMapper, raw: dict[str, Any]) -> Any:
    """A refused record's quarantine key: its SKU, or `model:<code>` (pim.importing.record_identity)."""
    if sku := raw.get(mapper.p.sku_field):
        return sku
    model = raw.get(mapper.p.model_field)
    return MODEL_KEY + str(model) if model else None
