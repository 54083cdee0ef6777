"""Content-team bulk enrichment: JSON (an array, or one object per line), CSV and XLSX with localized names
and descriptions, bullet points, SEO fields, image paths and associations. Merged as source `content`, which
wins by default (pim.merge.Precedence). A field that is absent changes nothing; null or an empty cell
clears the content team's value (see docs/importers.md). Unknown SKUs are quarantined unless the profile
says `unmatched: create`.

A spreadsheet (CSV, XLSX) is often a sheet `pim export sheet` wrote, edited and brought back: a cell its
`_sheet` column says is untouched since the export, or that still says what the product shows, is no claim
(pim.content_sheet.untouched, unchanged), so only the edited cells take over, values other sources hold
stay theirs, and values they changed after the export are not overwritten with the sheet's older text: an
edited cell whose value changed since the export is not written either, but noted as a problem of its row.
An edit of a cell a variant showed from its model goes to the model when every variant row of the model in
the file gives the same text (as the product page edits an inherited value), else one problem of the model
names the rows (SheetEdits).
A number Excel retyped (4.00638E+12, leading zeros gone, a trailing .0) counts as the text it stands for when
that is the exported (or shown) text; otherwise its row is quarantined with what Excel did and how to avoid
it, so Excel's rendering is never stored (pim.content_sheet.excel_meant, excel_mangled). So with Excel's
dates (01.03.2024, 3/1/2024, 2024-03-01 00:00:00: pim.excel_dates), and with a SKU Excel retyped (00123 as
123, an EAN as 4.00638E+12: pim.excel_skus): its row goes to the product the `_sheet` version proves, or is
rejected when Excel's doing is plain and nothing proves the product (never a product named 4.00638E+12)."""

from __future__ import annotations

import codecs
import io
import json
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, time
from itertools import chain
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import Field, ValidationError

from importers.content_checks import (
    ASSOC_PREFIX,
    BOM_NOTE,
    CSV_SUFFIXES,
    SPREADSHEET_SUFFIXES,
    attribute_of,
    check_columns,
    check_kind,
    check_profile,
    misread,
    unnamed_text,
)
from importers.content_sheet_edits import SheetEdits, SheetRow
from importers.csv_records import check_records, csv_records
from importers.erp_csv import has_utf8_bom
from importers.erp_values import partial_model, partial_product, refusal
from importers.gtin_check import gtin_keys, gtin_reason, problem_notes, take_bad
from importers.workbook import header_places, other_sheets_refused, text_rows
from pim import content_sheet, excel_dates, excel_skus
from pim.catalog import Structure
from pim.errors import InputError
from pim.importing import ImportCounts, Parsed, Rejected, nul_at, nul_rejected, record_identity, run_import
from pim.jsonl import broken_json_line
from pim.merge import EMPTY, MODEL_KEY
from pim.product import Association, Product, ProductModel, Provenance, split_key, trusted_provenance, value_key
from pim.sources import Encoding, SourceProfile, decode_guard, job_label, merger_for, open_text, undecodable_error
from pim.spreadsheet import unescape_formula
from pim.store import Store
from pim.store.store import batched
from pim.structure import Attribute, AttributeType
from pim.validation import example_key, typo_of
from pim.values import ValueProblem, metric_text, prices_text


class ContentProfile(SourceProfile):
    """Where the content team's convenience fields go. Every other key of a JSON record's `values` (and
    every other CSV column) is a value key as is: name:en_US, description:de_DE@ecommerce."""

    source: str = "content"
    unmatched: Literal["create", "quarantine"] = "quarantine"
    sku_field: str = "sku"
    model_field: str = Field(default="model", description="A record naming a product model here (and no SKU) "
                             "enriches that model: its variants show the values unless they hold their own.")
    fields: dict[str, str] = Field(
        default={"name": "name", "description": "description", "seo_title": "seo_title",
                 "seo_description": "seo_description"},
        description="JSON field → attribute code; the field holds {locale: text} or a plain value.")
    bullets: str | list[str] = Field(default="bullets", description="One textarea receiving the bullets joined "
                                     "by newlines, or one attribute per bullet (bullet_1, bullet_2…).")
    images: list[str] = Field(default=["image"], description="Attributes receiving the image paths, in order.")
    channels: list[str] = Field(default=[], description="Channels a scopable attribute's value is written to "
                                "(default: every channel).")
    list_separator: str = Field(default="|", min_length=1, description="CSV/XLSX: separates bullets, images, "
                                "associated SKUs (so do line breaks in the cell).")
    encoding: Encoding = "utf-8"
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    formula_escaped: bool = Field(default=True, description="CSV/XLSX: a leading quote before = + - @ tab CR is "
                                  "a formula escape (as our exports write them) and is dropped.")
    sheet: str | None = Field(default=None, pattern=r"^[^\[\]:*?/\\]{1,31}$", description="XLSX: the sheet to read, "
                              "by name; the first sheet when unset. `pim export sheet` names its sheet so.")
    header_row: int = Field(default=1, ge=1, le=1000, description="XLSX: the row holding the column names (rows "
                            "above it, a title or notes, are not read). `pim export sheet` writes them there.")
    claim_unchanged: bool = Field(default=False, description="CSV/XLSX: a cell saying what the product shows now "
                                  "(from any source) is a content claim too. Off: it changes nothing, so a sheet "
                                  "from `pim export sheet` brought back takes over only the cells edited. Either "
                                  "way a cell the sheet's `_sheet` column shows untouched since the export claims "
                                  "nothing once the product shows something else (newer data is not overwritten).")


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


#: Why a JSON file's encoding is not the profile's: RFC 8259 has JSON in UTF-8, and the profile's `encoding` is
#: its CSV files' (one profile serves both: a `cp1252` for Excel's CSV must not misread the team's JSON).
JSON_UTF8 = "JSON files are read as UTF-8 (RFC 8259), whatever the profile's `encoding` (for CSV files) says"


def read_json(path: Path, mapper: ContentMapper, source: str) -> Iterator[Parsed | Rejected]:
    """A JSON array (loaded whole) or JSON Lines (streamed); a broken line is quarantined, a broken array
    is an InputError naming the position. JSON Lines are numbered as the file's lines, blank ones included;
    an array's records by their place in it. A byte that is no UTF-8 is named by its offset in the file,
    before any record is taken."""
    name, stamp = path.name, datetime.now(UTC)
    with open_text(path, "utf-8", fixed=JSON_UTF8) as handle:
        try:
            first, skipped = handle.read(1), []
            while first and first.isspace():
                skipped.append(first)
                first = handle.read(1)
            if first == "[":
                try:
                    records = orjson.loads(first + handle.read())
                except orjson.JSONDecodeError as exc:
                    raise InputError(f"not valid JSON: {exc}", file=name, hint="a truncated file? export it again") from None
                lines: Iterator[tuple[int, Any]] = enumerate(records, start=1)
            else:  # the blank lines skipped before the first record count (universal newlines: \n, \r\n, \r)
                start, head = 1 + _breaks("".join(skipped)), first + handle.readline()
                lines = enumerate(chain([head], handle), start=start)
                if first == "{" and not _whole(head):  # an object over several lines: pretty-printed JSON?
                    text = head + handle.read()
                    lines = _documents(text, start, name) or enumerate(io.StringIO(text, newline=""), start=start)
                else:  # streamed: a byte further on that does not decode refuses the file now, before any batch
                    with open_text(path, "utf-8", fixed=JSON_UTF8) as whole:
                        deque(whole, maxlen=0)
            for number, raw in lines:
                if isinstance(raw, str) and not raw.strip():
                    continue
                yield _one(mapper, raw, name, number, source, stamp)
        except UnicodeDecodeError as exc:  # content JSON is UTF-8 by definition: no profile setting to change
            raise undecodable_error(name, "UTF-8", exc, path=path, hint="save the file as UTF-8 and re-run") from None


def _breaks(text: str) -> int:
    """Line breaks in `text` (\n, \r\n and \r, as a text file's lines end)."""
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def _whole(line: str) -> bool:
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is no JSON value")


_JSON_SPACE = re.compile(r"[ \t\r\n]*")


def _documents(text: str, start: int, name: str) -> Iterator[tuple[int, Any]] | None:
    """The records of pretty-printed JSON: one object over several lines, or several one after another (as `jq`
    writes them), each numbered by the line it starts on. None when the first is no such object, so the file
    is read as JSON Lines (a broken line is rejected there); a later broken one refuses the file, as in an
    array: where the next record starts is a guess."""
    decoder, found, pos, line = json.JSONDecoder(parse_constant=_no_constant), [], 0, start
    while (at := _JSON_SPACE.match(text, pos).end()) < len(text):  # type: ignore[union-attr]
        line += _breaks(text[pos:at])
        try:
            record, pos = decoder.raw_decode(text, at)
        except ValueError as exc:
            if not found:
                return None
            where = start + exc.lineno - 1 if isinstance(exc, json.JSONDecodeError) else line
            raise InputError(f"not valid JSON at line {where}: {getattr(exc, 'msg', exc)}", file=name, line=where,
                             hint="a truncated file? export it again") from None
        if not found and not _breaks(text[at:pos]):
            return None  # one object on one line, then something else: JSON Lines with a broken line
        found.append((line, record))
        line += _breaks(text[at:pos])
    return iter(found)


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


def _cells_by_name(header: list[str], cells: list[str]) -> dict[str, str]:
    """A ragged row's cells under the header's names, as far as both go."""
    return {name: cell.strip() for name, cell in zip(header, cells)}


def _named(header: list[str], cells: list[str]) -> dict[str, str]:
    return {column: cell for column, cell in zip(header, cells) if column}


def read_csv(path: Path, mapper: ContentMapper, source: str) -> Iterator[Parsed | Rejected]:
    """Columns: sku, value keys, bullets[:locale], images, associations:<type>. Lists use `list_separator`."""
    p, name, stamp = mapper.p, path.name, datetime.now(UTC)
    with open_text(path, p.encoding) as handle:
        rows = decode_guard(csv_records(handle, name, delimiter=p.delimiter), str(path), p.encoding)
        header = [h.strip() for h in next(rows, (0, []))[1]]
        bom = not codecs.lookup(p.encoding).name.startswith("utf") and has_utf8_bom(path)
        if p.sku_field not in header and p.model_field not in header:
            raise InputError(f"no '{p.sku_field}' column{misread(header, p, bom)}", file=name, line=1,
                             field=p.sku_field, hint="set encoding: utf-8 in the content profile" if bom else
                             f"name the products in a '{p.sku_field}' column (or models in '{p.model_field}')")
        if bom:  # the SKU column is not the first: every text would read garbled, the first column's name too
            raise InputError(f"the file starts with a UTF-8 byte order mark{BOM_NOTE}", file=name, line=1,
                             hint="set encoding: utf-8 in the content profile")
        check_columns(header, mapper, name, 1, xlsx=False)
        check_records(path, name, p.encoding, p.delimiter)  # a file refused part-way writes nothing
        unnamed = "" in header
        for line, cells in rows:
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                yield Rejected(f"the row has {len(cells)} cells, the header has {len(header)}", name, line,
                               None, {"cells": cells}, _record_key(mapper, _cells_by_name(header, cells)))
                continue
            if unnamed and (reason := unnamed_text(header, cells, xlsx=False, line=line)):
                yield Rejected(reason, name, line, None, {"cells": cells}, _record_key(mapper, _named(header, cells)))
                continue
            yield _one(mapper, _csv_record(_named(header, cells) if unnamed else dict(zip(header, cells)), p), name,
                       line, source, stamp)


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _split(text: str, sep: str) -> list[str]:
    """A list cell's items, split on the profile's separator and on line breaks: a cell may hold one bullet
    per line (Alt+Enter in Excel); no bullet, image path or SKU holds a line break."""
    return [x.strip() for part in _LINE_BREAK.split(text) for x in part.split(sep) if x.strip()]


def _csv_record(row: dict[str, str], p: ContentProfile) -> dict[str, Any]:
    sep = p.list_separator
    if p.formula_escaped:
        row = {column: unescape_formula(cell) for column, cell in row.items()}
    out: dict[str, Any] = {"values": {}}
    for key_field in (p.sku_field, p.model_field, content_sheet.VERSION_COLUMN):
        if key_field in row:
            out[key_field] = row.pop(key_field)
    for column, cell in row.items():
        text = cell.strip()
        if column.startswith(ASSOC_PREFIX):
            out.setdefault("associations", {})[column[len(ASSOC_PREFIX):]] = _split(text, sep)
        elif column == "images":
            out["images"] = _split(text, sep)
        elif column.split(":")[0] == "bullets":
            locale = column.partition(":")[2] or None
            bullets = out.setdefault("bullets", {}) if locale else None
            if locale:
                bullets[locale] = _split(text, sep)  # type: ignore[index]
            else:
                out["bullets"] = _split(text, sep)
        else:
            out["values"][column] = text or None
    return out


_XLSX_HINT = "save it as .xlsx (Excel 2007 or later), or as CSV (UTF-8)"


def read_xlsx(path: Path, mapper: ContentMapper, source: str) -> Iterator[Parsed | Rejected]:
    """One sheet of a workbook (the profile's `sheet`, else the first) from the profile's `header_row`, with the
    CSV's columns and cells (importers.workbook streams it); line numbers are sheet rows. Formula cells give
    the value the spreadsheet last computed; a row with a formula cell the workbook holds no value for is
    rejected, never read as clearing that cell's value. A workbook without `sheet` whose other sheets have
    the SKU column too is refused: only one would be read, the others silently not."""
    p, name, stamp = mapper.p, path.name, datetime.now(UTC)
    wanted = {p.sku_field, p.model_field}
    headed = False

    def check_header(header: list[str], number: int) -> list[str]:
        nonlocal headed
        while header and not header[-1]:
            header.pop()
        if not wanted & set(header):
            _no_header(path, p, wanted)
        check_columns(header, mapper, name, number, xlsx=True)
        if p.sheet is None:
            other_sheets_refused(path, wanted, max(p.header_row, 10), p.sku_field, "content profile")
        headed = True
        return header

    for item in text_rows(path, _xlsx_text, check_header, reject_unsaved=True, hint=_XLSX_HINT, sheet=p.sheet,
                          header_row=p.header_row):
        if isinstance(item, Rejected):  # a formula cell the workbook holds no value for
            yield replace(item, record_key=_record_key(mapper, {k: v.strip() for k, v in (item.raw or {}).items()}))
            continue
        header, number, cells = item
        width = len(header)
        if any(c.strip() for c in cells[width:]):
            yield Rejected(f"the row has cells beyond the header's {width} columns", name, number, None,
                           {"cells": cells}, _record_key(mapper, _cells_by_name(header, cells)))
            continue
        cells = (cells + [""] * width)[:width]
        if "" in header and (reason := unnamed_text(header, cells, xlsx=True, line=number)):
            yield Rejected(reason, name, number, None, {"cells": cells}, _record_key(mapper, _named(header, cells)))
            continue
        yield _one(mapper, _csv_record(_named(header, cells), p), name, number, source, stamp)
    if not headed:  # the sheet ends before its header row
        _no_header(path, p, wanted)


def _no_header(path: Path, p: ContentProfile, wanted: set[str]) -> None:
    """Refuse a sheet whose header row lacks the SKU (and model) column, saying where the workbook has one."""
    where = f"sheet '{p.sheet}'" if p.sheet else "the first sheet"
    found = header_places(path, wanted, max(p.header_row, 10))
    raise InputError(f"no '{p.sku_field}' column in row {p.header_row} of {where}{found}", file=path.name, line=p.header_row,
                     field=p.sku_field, hint=("set those in the content profile" if found else
                                              f"name the products in a '{p.sku_field}' column (or models in "
                                              f"'{p.model_field}')"))


def _xlsx_text(value: Any) -> str:
    """A cell as the text a CSV would hold: numbers without exponents, dates as YYYY-MM-DD."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return content_sheet.plain_number(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value)


def keep_edits(items: Iterator[Parsed | Rejected], store: Store, structure: Structure, batch: int = 500, *,
               claim_unchanged: bool = False, sku_field: str = content_sheet.SKU_COLUMN) -> Iterator[Parsed | Rejected]:
    """Drop the cells of product records that are no edit: untouched since the export by the row's version
    (pim.content_sheet.untouched), or, without one, still saying what the product shows
    (pim.content_sheet.unchanged). A sheet exported, edited and imported claims its edited cells only, and
    an untouched cell never claims its export-time text over a value another source has changed since.
    `claim_unchanged` keeps the cells that say what the product shows now (untouched or not) as claims; it
    still drops untouched ones that no longer do. A cell Excel turned into another number or into a date is
    read as the text it stands for, or its record rejected when it stands for none (_excel, _excel_date); a
    SKU Excel retyped is put back when the version proves it, else its record rejected rather than creating
    or updating the wrong product (_fix_skus). An edit of a value that changed since the export, or of one a
    variant inherits, is settled by SheetEdits. One read of the shown values per `batch` records."""
    options = {code: set(opts) for code, opts in structure.options.items()}
    edits = SheetEdits(store)
    for chunk in batched(items, batch):
        records = [(n, item.record, content_sheet.read_version((item.raw or {}).get(content_sheet.VERSION_COLUMN)))
                   for n, item in enumerate(chunk) if isinstance(item, Parsed) and isinstance(item.record, Product)]
        if claim_unchanged:  # a record without version keeps every cell: read it only for Excel's doing
            records = [(n, record, version) for n, record, version in records
                       if version or _any_excel_suspect(record, structure) or excel_skus.suspect(record.identifier)]
        shown = content_sheet.shown_values(store, [r.identifier for _, r, _ in records]) if records else {}
        records = _fix_skus(store, chunk, records, shown, sku_field)
        rows: list[SheetRow] = []
        for n, record, version in records:
            values = shown.get(record.identifier)
            known = values is not None  # an unknown SKU (created, or quarantined later) is still checked for Excel
            if not known and not _any_excel_suspect(record, structure):
                continue
            values = values or {}
            row = SheetRow(n, record, version, content_sheet.inherited_from(values)) if known and version else None
            problems: list[tuple[str, str]] = []
            for key, cell in list(record.values.items()):
                attr = attribute_of(structure, key)
                if attr is None:
                    continue
                measures, opts = structure.measures, options.get(attr.code)
                shown_value = values.get(key)
                same = known and content_sheet.untouched(version, record.identifier, key, cell)
                drop = known and _no_claim(attr, cell, shown_value, same, opts, measures, claim_unchanged)
                if not drop:
                    meant, problem = _excel(attr, record.identifier, key, cell, shown_value, version)
                    if problem:
                        problems.append((key, problem))
                        continue
                    if meant is not None:
                        record.values[key] = cell = meant
                        same = known and content_sheet.untouched(version, record.identifier, key, cell)
                        drop = known and _no_claim(attr, cell, shown_value, same, opts, measures, claim_unchanged)
                if drop:
                    del record.values[key]
                    record.provenance.pop(key, None)
                if row is not None:
                    edit = not drop and not (claim_unchanged and content_sheet.unchanged(attr, cell, shown_value, opts,
                                                                                         measures))
                    row.cell(attr, key, cell, shown_value, same=same, edit=edit)
            if problems:
                item = chunk[n]
                chunk[n] = Rejected("; ".join(f"{key}: {reason}" for key, reason in problems), item.file, item.line,
                                    problems[0][0], item.raw, record.identifier)
            elif row is not None:
                rows.append(row)
        edits.settle(rows, chunk)
        yield from chunk
    yield from edits.models.records()


_Checked = list[tuple[int, Product, "frozenset[bytes] | None"]]


def _fix_skus(store: Store, chunk: list[Parsed | Rejected], records: _Checked, shown: dict[str, dict[str, Any]],
              column: str) -> _Checked:
    """Put back the SKUs Excel retyped that the rows' versions prove (pim.excel_skus), reading what those
    products show into `shown`; reject the rows whose SKU is Excel's rendering of one nothing proves. Returns
    the records left to check."""
    rows = [excel_skus.SkuRow(n, record.identifier, record.values, version, record.identifier in shown)
            for n, record, version in records if excel_skus.suspect(record.identifier)]
    fixes = excel_skus.resolve(store, rows, column=column) if rows else {}
    if not fixes:
        return records
    kept: _Checked = []
    for n, record, version in records:
        fix = fixes.get(n)
        if fix is not None and fix.sku is None:
            item = chunk[n]
            chunk[n] = Rejected(fix.reason or "", item.file, item.line, column, item.raw, record.identifier)
            continue
        if fix is not None and fix.sku:
            record.identifier = fix.sku
        kept.append((n, record, version))
    proven = [fix.sku for fix in fixes.values() if fix.sku and fix.sku not in shown]
    if proven:
        shown.update(content_sheet.shown_values(store, proven))
    return kept


def _no_claim(attr: Attribute, cell: Any, shown: Any, same: bool, options: set[str] | None, measures: Any,
              claim_unchanged: bool) -> bool:
    """Whether a cell is no claim: untouched since the export (`same`; and, with claim_unchanged, no longer
    what the product shows), or, without claim_unchanged, still what the product shows."""
    if same:
        return not claim_unchanged or not content_sheet.unchanged(attr, cell, shown, options, measures)
    return not claim_unchanged and content_sheet.unchanged(attr, cell, shown, options, measures)


def _excel(attr: Attribute, sku: str, key: str, cell: Any, shown: Any, version: frozenset[bytes] | None
           ) -> tuple[str | None, str | None]:
    """(the text a cell Excel retyped stands for, None) or (None, the quarantine's reason when it stands for no
    text we know and reads as Excel's doing); (None, None) for a cell the team typed (or no suspect at all)."""
    if content_sheet.excel_suspect(attr, cell):
        shown_text = content_sheet.cell_text(attr, shown).strip()
        meant = content_sheet.excel_meant(attr, cell, shown_text, version, sku, key)
        if meant is not None:
            return meant, None
        if content_sheet.excel_mangled(attr, cell, shown_text):
            return None, content_sheet.excel_reason(cell)
    return _excel_date(attr, sku, key, cell, shown, version)


def _excel_date(attr: Attribute, sku: str, key: str, cell: Any, shown: Any, version: frozenset[bytes] | None
                ) -> tuple[str | None, str | None]:
    """A date column's cell Excel rewrote as its locale shows dates (pim.excel_dates.date_meant), or a text
    column's text Excel read as a date, put back when the version (or the shown text) proves which."""
    if excel_dates.date_suspect(attr, cell):
        return excel_dates.date_meant(cell, content_sheet.cell_text(attr, shown).strip(), version, sku, key)
    if excel_dates.text_suspect(attr, cell):
        return excel_dates.text_meant(cell, content_sheet.cell_text(attr, shown).strip(), version, sku, key), None
    return None, None


def _any_excel_suspect(record: Product, structure: Structure) -> bool:
    return any((attr := attribute_of(structure, key)) is not None
               and (content_sheet.excel_suspect(attr, cell) or excel_dates.date_suspect(attr, cell)
                    or excel_dates.text_suspect(attr, cell))
               for key, cell in record.values.items())


def import_content(path: Path, store: Store, profile: ContentProfile | None = None, *,
                   profile_dir: Path | None = None, precedence: Path | None = None) -> ImportCounts:
    p = profile or ContentProfile()
    structure = store.structure()
    suffix = path.suffix.lower()
    reader = read_xlsx if suffix in SPREADSHEET_SUFFIXES else read_csv if suffix in CSV_SUFFIXES else read_json
    mapper = ContentMapper(p, structure, sheet=reader is not read_json)
    check_kind(path, reader is read_xlsx, {p.sku_field, p.model_field})
    items = reader(path, mapper, p.source)
    if reader is not read_json:
        items = keep_edits(items, store, structure, claim_unchanged=p.claim_unchanged, sku_field=p.sku_field)
        items = typed_cells(items, structure)
    items = self_links_left_out(gtins_checked(items, p.source), p.source)
    return run_import(store, p.source, models_named(items, store, p.model_field),
                      structure=structure, label=job_label("content", path), merge=merger_for(p, profile_dir, precedence))


def typed_cells(items: Iterator[Parsed | Rejected], structure: Structure) -> Iterator[Parsed | Rejected]:
    """A sheet's price and metric cells read as the grid's mass edit reads them: `EUR 19.99, USD 21` (either order,
    decimal point or comma) and `12.5 KILOGRAM`, `12,5 kg` (or `12.5` in the default unit): a cell holds text,
    the value is {currency: amount} or {amount, unit}. Run after keep_edits, which compares cells as text. A cell
    in neither form rejects its row with the form to use, as a value of the wrong shape did before."""
    typed: dict[str, Attribute | None] = {}  # value key → its attribute when a cell of it is read so (the header's keys)
    for item in items:
        if isinstance(item, Parsed) and isinstance(item.record, (Product, ProductModel)) and item.record.values:
            values, wrong = item.record.values, None
            for key, cell in values.items():
                if not isinstance(cell, str):
                    continue
                if key not in typed:
                    attr = attribute_of(structure, key)
                    typed[key] = attr if attr is not None and attr.type in _TEXT_TYPED else None
                if (attr := typed[key]) is not None:
                    try:
                        values[key] = (prices_text(cell) if attr.type == AttributeType.price_collection
                                       else metric_text(attr, cell, structure.measures))
                    except ValueProblem as exc:
                        wrong = (key, str(exc))
                        break
            if wrong is not None:
                item = Rejected(f"{wrong[0]}: {wrong[1]}", item.file, item.line, wrong[0], item.raw,
                                record_identity(item.record))
        yield item


#: Attribute types whose sheet cell is one text the mass edit's parsers read (pim.values.prices_text, metric_text).
_TEXT_TYPED = frozenset({AttributeType.price_collection, AttributeType.metric})


def models_named(items: Iterator[Parsed | Rejected], store: Store, model_field: str, batch: int = 500
                 ) -> Iterator[Parsed | Rejected]:
    """Reject a product record whose SKU is a product model's code and no product's: it would be quarantined as
    an unknown product (or created as a product beside the model), when the team meant the model. One query
    per `batch` records."""
    for chunk in batched(items, batch):
        ids = [i.record.identifier for i in chunk if isinstance(i, Parsed) and isinstance(i.record, Product)]
        models = store.existing_model_codes(ids) if ids else set()
        if models and (models := models - store.existing_identifiers(sorted(models))):
            for n, item in enumerate(chunk):
                if isinstance(item, Parsed) and isinstance(item.record, Product) and item.record.identifier in models:
                    code = item.record.identifier
                    chunk[n] = Rejected(f"'{code}' is a product model, not a product: name it in the '{model_field}' "
                                        f"field (column) instead, so its variants show what it holds", item.file,
                                        item.line, model_field, item.raw, code)
        yield from chunk


#: What became of a bad GTIN in a content file, and what to do (the value is the team's own).
CONTENT_GTIN_HINT = "left out (a stored GTIN stays); correct it in the file and import it again"


def gtins_checked(items: Iterator[Parsed | Rejected], source: str) -> Iterator[Parsed | Rejected]:
    """Product records' GTINs checked as the ERP's and suppliers' are (importers.gtin_check), after the
    spreadsheet's Excel repairs: a bad one (a typo in the sheet, a number Excel cut) is left out of the record
    and noted as a problem of it, the rest of the record taken in."""
    for item in items:
        if isinstance(item, Parsed) and isinstance(item.record, Product) and item.record.values:
            keys = gtin_keys((key, key) for key in item.record.values)
            if keys and (bad := take_bad(item.record.values, keys)):
                for key, _ in bad:
                    item.record.provenance.pop(key, None)
                item.problems = [*item.problems, *problem_notes(
                    [(key, gtin_reason(problem, CONTENT_GTIN_HINT)) for key, problem in bad], item.file, item.line,
                    item.raw, item.record.identifier, source)]
        yield item


def self_links_left_out(items: Iterator[Parsed | Rejected], source: str) -> Iterator[Parsed | Rejected]:
    """A product named among its own association targets is left out of them and noted as a problem of its
    record, the rest of the record taken in: a product is no association of its own (the storefront would link
    its page to itself). A type left with no target is left out whole, so what is stored for it stays."""
    for item in items:
        if isinstance(item, Parsed) and isinstance(item.record, Product) and item.record.associations:
            record, found = item.record, []
            for kind, links in list(record.associations.items()):
                if record.identifier in links.products:
                    found.append((f"{ASSOC_PREFIX}{kind}", f"{kind} links {record.identifier} to itself: left out (a "
                                  f"product is no association of its own); take {record.identifier} out of its {kind} "
                                  "list and import the file again"))
                    rest = [t for t in links.products if t != record.identifier]
                    if rest:
                        record.associations[kind] = links.model_copy(update={"products": rest})
                    else:
                        del record.associations[kind]
            if found:
                item.problems = [*item.problems, *problem_notes(found, item.file, item.line, item.raw,
                                                                record.identifier, source)]
        yield item


class ContentImporter:
    name = "content"

    def run(self, path: Path, store: Store, **options: Any) -> dict[str, Any]:
        from pim.sources import load_profile

        prof = Path(options["profile"]) if options.get("profile") else None
        profile = load_profile(ContentProfile, prof) if prof else None
        return import_content(path, store, profile, profile_dir=prof.parent if prof else None).as_dict()
