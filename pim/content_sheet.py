"""Products out as the content team's spreadsheet (CSV or XLSX) and back in through the content import
(importers.content): the `sku` column, then one column per value key, each cell the text the importer reads
back as that value. Export, edit a cell, import: that value changes and nothing else does, because the
importer drops a cell that still reads as what the product shows (`unchanged`) instead of letting the
content team take over every value the sheet merely repeated.

The sheet carries its version: a last column, `_sheet` (hidden in XLSX), holds per row a 64-bit digest of
each exported cell's text (with the product and column), as `v1.` and base64url text. A cell that still
matches its digest is untouched, so the import drops it even when another source has changed the value
since the export (`unchanged` alone would read that old text as an edit and claim it back). A row without
the column, or a column that was not exported, falls back to comparing with what the product shows now.
The digests also tell the import when an edited cell's value changed since the export (the digest of what
the product shows now is not the row's), and which cells showed a value the variant inherits from its model
(their digests are marked so; in XLSX the cells are grey, with a note naming the model): importers.content
takes an edit of those to the model.

Streamed: the caller hands over product ids a page at a time (the grid's filter and keyset paging, see
pim.grid_query and `pim export sheet`); each page's values are read in one query, the models its variants
inherit from through a bounded cache. Cells are formula-escaped (pim.spreadsheet) on the way out and
unescaped by the importer on the way in; an XLSX cell longer than Excel holds is refused, not cut.

Written in the format the team's content profile reads (SheetFormat): its identifier column, CSV delimiter
and encoding; a cell the encoding cannot carry is refused (naming product and column), never replaced. A
number Excel retyped on the way back (4.00638E+12, lost leading zeros, a trailing .0) is recognised as the
text the sheet said when it still stands for it (`excel_meant`), and otherwise refused (`excel_mangled`),
so Excel's rendering is never stored as the team's edit. Its dates (pim.excel_dates) and a SKU column it
retyped (pim.excel_skus) are recognised the same way, through the version's digests."""

from __future__ import annotations

import base64
import binascii
import codecs
import csv
import hashlib
import io
import re
from collections.abc import Container, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, select

from pim.catalog import Structure
from pim.errors import InputError
from pim.product import value_key
from pim.spreadsheet import escape_formula, unescape_formula
from pim.store import Store
from pim.store.store import MODEL, PRODUCT, batched
from pim.structure import Attribute, AttributeType
from pim.validation import RecordValidator
from pim.values import ValueProblem, metric_text, normalize, prices_text

SKU_COLUMN = "sku"  # importers.content.ContentProfile.sku_field's default
MODEL_COLUMN = "model"  # … and its model_field's
#: The last column: each exported cell's digest, so the import tells an untouched cell from an edited one.
VERSION_COLUMN = "_sheet"
#: The to-do CSV's note on why an image/file value does not count (pim.web.todo_export): read by no import, and
#: named so no attribute code (letters, digits, `_`) can clash with it.
NOTE_COLUMN = "why it does not count"
VERSION_TAG = "v1."
DIGEST_BYTES = 8  # 64 bits per cell: an edited cell passes for untouched with a chance of 1 in 2^64 per digest
#: The most characters (UTF-16 code units) an Excel cell holds; a longer XLSX cell is refused.
XLSX_CELL_MAX = 32_767
SUFFIXES = (".csv", ".xlsx")
#: Attribute types a cell holds as the importer reads it back. Metrics and prices as the mass edit types them
#: (`850 GRAM`, `EUR 49.90, USD 54.00`: `cell_text`), read back by importers.content.typed_cells.
SHEET_TYPES = frozenset({AttributeType.text, AttributeType.textarea, AttributeType.simple_select,
                         AttributeType.multi_select, AttributeType.boolean, AttributeType.number, AttributeType.date,
                         AttributeType.image, AttributeType.file, AttributeType.price_collection,
                         AttributeType.metric})
#: What a sheet holds when nobody names its columns: the copy the content team writes.
DEFAULT_TYPES = frozenset({AttributeType.text, AttributeType.textarea})
_TEXTUAL = frozenset({AttributeType.text, AttributeType.textarea, AttributeType.identifier})
_VALUES_PER_QUERY = 500
_MODEL_CACHE = 4096


def _illegal_xlsx() -> Any:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    return ILLEGAL_CHARACTERS_RE


# ---------------------------------------------------------------- format
_UTF = ("utf-8", "utf-16", "utf-32")


@dataclass(frozen=True)
class SheetFormat:
    """How the content profile the sheet goes back through reads it (importers.content.ContentProfile), so the
    export writes it that way: the identifier and model columns' names, the CSV's delimiter and encoding, and
    whether a leading quote is a formula escape. The defaults are the default profile's. The profile's
    `fields` map JSON fields only (a CSV or XLSX column is a value key as is) and its `list_separator` splits
    only bullets, images and associations columns, which the sheet does not write: neither changes it."""

    sku_column: str = SKU_COLUMN
    model_column: str = MODEL_COLUMN
    delimiter: str = ","
    encoding: str = "utf-8"
    formula_escaped: bool = True
    #: XLSX: the sheet's name and the row of its column names (the profile's `sheet`, `header_row`)
    sheet: str | None = None
    header_row: int = 1

    @classmethod
    def of(cls, profile: Any) -> SheetFormat:
        """The format a content profile reads; InputError for a delimiter no CSV can be written in (its encoding
        is a known codec: ContentProfile checks that when it loads, pim.sources.Encoding)."""
        if profile.delimiter in ('"', "\r", "\n"):
            raise InputError(f"the profile's delimiter {profile.delimiter!r} cannot separate CSV cells", field="delimiter",
                             hint="use , or ; (or a tab)")
        return cls(profile.sku_field, profile.model_field, profile.delimiter, profile.encoding, profile.formula_escaped,
                   getattr(profile, "sheet", None), getattr(profile, "header_row", 1))

    @property
    def codec(self) -> str:
        return codecs.lookup(self.encoding).name

    @property
    def any_text(self) -> bool:
        """Whether the encoding carries every text (a UTF one): then no cell needs checking."""
        return self.codec.startswith(_UTF)

    @property
    def charset(self) -> str:
        """The charset a download names: the codec, a UTF-8 one without its BOM variant's suffix."""
        return "utf-8" if self.codec.startswith("utf-8") else self.codec


DEFAULT_FORMAT = SheetFormat()


# ---------------------------------------------------------------- columns
def value_column(column: str, fmt: SheetFormat = DEFAULT_FORMAT) -> bool:
    """Whether the content importer reads this column as the value key it names: the profile's identifier and
    model columns, `images`, `bullets[:locale]` and `associations:<type>` are its convenience columns
    (importers.content.read_csv)."""
    return not (column in (fmt.sku_column, fmt.model_column, "images", VERSION_COLUMN, NOTE_COLUMN)
                or column.split(":")[0] == "bullets" or column.startswith("associations:"))


@dataclass
class SheetScope:
    """The channel and locales a sheet's value keys are for, and the family and category it is filtered by."""

    channel: str | None
    locales: list[str]
    family: str | None = None
    category: str | None = None
    keys: list[str] = field(default_factory=list)
    fmt: SheetFormat = DEFAULT_FORMAT

    @property
    def header(self) -> list[str]:
        """The identifier column (the profile's name for it), the value keys, and the version column (the rows
        sheet_rows gives)."""
        return [self.fmt.sku_column, *self.keys, VERSION_COLUMN]


def scope(s: Structure, *, family: str | None = None, category: str | None = None, channel: str | None = None,
          locales: Sequence[str] = (), columns: Sequence[str] = (), catalog_families: Iterable[str] | None = None,
          fmt: SheetFormat = DEFAULT_FORMAT) -> SheetScope:
    """Check the filter and choose the columns: `columns` as given, else the text and textarea attributes of
    `family` (or of `catalog_families`, the families products are in) for the channel and locales. The
    channel defaults to the first one (as in the grid), the locales to the channel's. `fmt`: the profile's
    format, whose identifier and model columns no value key may take."""
    if family and family not in s.families:
        raise InputError(f"no family '{family}'", field="family", hint=f"families: {_some(s.families)}")
    if category and category not in s.categories:
        raise InputError(f"no category '{category}'", field="category", hint=f"categories: {_some(s.categories)}")
    if channel and channel not in s.channels:
        raise InputError(f"no channel '{channel}'", field="channel", hint=f"channels: {_some(s.channels)}")
    channel = channel or next(iter(sorted(s.channels)), None)
    allowed = s.channels[channel].locales if channel else s.enabled_locales()
    wanted = [code for given in locales for code in given.split(",") if code.strip()]
    unknown = [code.strip() for code in wanted if code.strip() not in allowed]
    if unknown:
        raise InputError(f"locale '{unknown[0]}' is not one of {'channel ' + channel if channel else 'the catalog'}'s",
                         field="locale", hint=f"locales: {', '.join(allowed)}")
    out = SheetScope(channel, list(dict.fromkeys(c.strip() for c in wanted)) or list(allowed), family, category, fmt=fmt)
    keys = [k for given in columns for k in given.split(",") if k.strip()]
    if keys:
        out.keys = _checked_keys(s, [k.strip() for k in keys], fmt)
    else:
        families = [family] if family else [f for f in (catalog_families or s.families) if f in s.families]
        out.keys = [k for k in default_keys(s, families, out.channel, out.locales) if value_column(k, fmt)]
    return out


def default_keys(s: Structure, families: Iterable[str], channel: str | None, locales: Sequence[str]) -> list[str]:
    """The families' text and textarea attributes, in attribute group and sort order (then the family's own
    order), one key per locale."""
    listed = {c: n for n, c in enumerate(dict.fromkeys(c for f in families for c in s.families[f].attributes))}
    groups = {g: a.sort_order for g, a in s.attribute_groups.items()}
    attrs = sorted((s.attributes[c] for c in listed if c in s.attributes and s.attributes[c].type in DEFAULT_TYPES),
                   key=lambda a: (groups.get(a.group, 999), a.sort_order, listed[a.code]))
    keys: list[str] = []
    for attr in attrs:
        if attr.scopable and not channel:
            continue
        for locale in (locales if attr.localizable else [None]):
            if locale and attr.available_locales and locale not in attr.available_locales:
                continue
            key = value_key(attr.code, locale, channel if attr.scopable else None)
            if value_column(key):
                keys.append(key)
    return keys


def _checked_keys(s: Structure, keys: list[str], fmt: SheetFormat = DEFAULT_FORMAT) -> list[str]:
    check = RecordValidator(s).check_key
    for key in keys:
        problem = check(key)
        if problem:
            raise InputError(f"column '{key}': {problem.reason}", field="columns",
                             hint="name value keys as the import reads them: name:en_US, description:de_DE@ecommerce")
        attr = s.attributes[key.split(":")[0].split("@")[0]]
        if attr.type == AttributeType.identifier:
            raise InputError(f"column '{key}': the '{fmt.sku_column}' column names the product already", field="columns",
                             hint="leave the identifier out of --columns")
        if attr.type not in SHEET_TYPES:
            raise InputError(f"column '{key}': a {attr.type.value} value does not fit in one cell the content import "
                             "reads back", field="columns", hint="leave it out; edit it on the product page or import it "
                             "from its source")
        if not value_column(key, fmt):
            raise InputError(f"column '{key}': the content import reads a '{key}' column as its own field, not as "
                             "this value", field="columns", hint="leave it out; edit it on the product page")
    return list(dict.fromkeys(keys))


def _some(codes: Iterable[str]) -> str:
    names = sorted(codes)
    return ", ".join(names[:20]) + (f" … ({len(names)})" if len(names) > 20 else "")


def catalog_families(store: Store) -> list[str]:
    """The families products are in (an index read), for the default columns of an unfiltered sheet."""
    with store.engine.connect() as conn:
        return sorted(f for f in conn.execute(select(PRODUCT.c.family).distinct()).scalars() if f)


# ---------------------------------------------------------------- cells
def cell_text(attr: Attribute, value: Any) -> str:
    """A value as the text the content import reads back to it: select codes, several options joined by
    commas (pim.values.normalize splits them there), booleans 1/0, numbers without exponents."""
    if value is None:
        return ""
    kind = attr.type
    if kind == AttributeType.multi_select and isinstance(value, list):
        return ",".join(str(v) for v in value)
    if kind == AttributeType.boolean and isinstance(value, bool):
        return "1" if value else "0"
    if kind == AttributeType.number and isinstance(value, float):
        return plain_number(value)
    if kind == AttributeType.price_collection and isinstance(value, dict):
        return ", ".join(f"{currency} {amount}" for currency, amount in value.items())
    if kind == AttributeType.metric and isinstance(value, dict):
        return f"{value.get('amount', '')} {value.get('unit') or ''}".strip()
    return str(value)


def plain_number(value: float) -> str:
    """A float as plain decimal text: no exponent, no trailing zeros (100.0 → 100, 1e-05 → 0.00001)."""
    text = format(Decimal(repr(value)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def sheet_cell(text: str, *, xlsx: bool = False) -> str:
    """What the file holds for `text`: formula-escaped; in XLSX without the control characters the format
    cannot hold (removed before escaping, so what they hid cannot turn into a formula)."""
    if xlsx and text:
        text = _illegal_xlsx().sub("", text)
    return escape_formula(text)


def unchanged(attr: Attribute, cell: Any, shown: Any, options: set[str] | None = None, measures: Any = None) -> bool:
    """Whether an imported cell (unescaped and stripped, None when empty) still says what the product shows:
    the text the export wrote for it read back (CSV or XLSX), or, for a non-text attribute, the same value."""
    text = "" if cell is None else cell
    if not isinstance(text, str):
        return False
    wrote = cell_text(attr, shown)
    if text in {unescape_formula(sheet_cell(wrote, xlsx=x)).strip() for x in (False, True)}:
        return True
    if not text or shown is None or attr.type in _TEXTUAL:
        return False
    try:
        data: Any = text
        if attr.type == AttributeType.price_collection:  # one text, as the mass edit types it (typed_cells reads it so)
            data = prices_text(text)
        elif attr.type == AttributeType.metric and measures is not None:
            data = metric_text(attr, text, measures)
        return bool(normalize(attr, data, options, measures) == shown)
    except ValueProblem:
        return False


# ---------------------------------------------------------------- version
_LINE_ENDS = re.compile(r"\r\n?")


def _canonical(text: str | None) -> str:
    """A cell's text as the import reads it from either format: without the control characters XLSX cannot
    hold, line ends as \n (a spreadsheet may save \r\n), no surrounding space (the importer strips cells)."""
    if not text:
        return ""
    return _LINE_ENDS.sub("\n", _illegal_xlsx().sub("", text)).strip()


#: How the export wrote a cell, by the row's version: the product's own value, or one it inherits from a model.
OWN, INHERITED = "own", "inherited"


def cell_digest(sku: str, column: str, text: str | None, *, inherited: bool = False) -> bytes:
    """64 bits naming the text of one product's cell in one column: a digest copied to another row or
    column does not match there. An inherited cell's digest differs from an own one's, so the version also
    proves that the export showed the model's value there (the import takes an edit of it to the model)."""
    h = hashlib.blake2b(digest_size=DIGEST_BYTES, person=b"pim-sheet")
    for part in (sku, column, _canonical(text), *((INHERITED,) if inherited else ())):
        data = part.encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "big") + data)
    return h.digest()


def version_cell(sku: str, keys: Sequence[str], texts: Sequence[str], inherited: Container[str] = ()) -> str:
    """The version column's text for a row: `v1.` and the digests of its cells (those of the `inherited` keys
    marked so), base64url (plain text, no formula, no character a spreadsheet converts)."""
    digests = b"".join(cell_digest(sku, k, t, inherited=k in inherited) for k, t in zip(keys, texts))
    return VERSION_TAG + base64.urlsafe_b64encode(digests).decode("ascii").rstrip("=")


def read_version(cell: Any) -> frozenset[bytes] | None:
    """The digests a version cell holds; None for an empty or unreadable one (a hand-made row, an edited
    cell), which leaves the row to the comparison with what the product shows."""
    if not isinstance(cell, str) or not cell.strip().startswith(VERSION_TAG):
        return None
    text = cell.strip()[len(VERSION_TAG):]
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    if not raw or len(raw) % DIGEST_BYTES:
        return None
    return frozenset(raw[i:i + DIGEST_BYTES] for i in range(0, len(raw), DIGEST_BYTES))


def untouched(version: frozenset[bytes] | None, sku: str, column: str, cell: str | None) -> bool:
    """Whether an imported cell (unescaped, None when empty) says what the sheet said when it was exported."""
    return exported_as(version, sku, column, cell) is not None


def exported_as(version: frozenset[bytes] | None, sku: str, column: str, text: str | None) -> str | None:
    """How the export wrote `text` in this cell, by the row's version: OWN, INHERITED (the product showed its
    model's value), or None when the sheet held another text there (or no such column, or no version)."""
    if version is None:
        return None
    if cell_digest(sku, column, text) in version:
        return OWN
    return INHERITED if cell_digest(sku, column, text, inherited=True) in version else None


# ---------------------------------------------------------------- Excel's numbers
#: A cell Excel may have read as a number and saved as it shows it: digits, a decimal part, an exponent.
_NUMERIC = re.compile(r"-?[0-9][0-9.,]*(?:[eE][+-]?[0-9]+)?")
#: How Excel saves a number it shows in scientific notation: one digit, its decimals, a signed exponent
#: (4.00638E+12; 4,00638E+12 where the decimal mark is a comma).
_SCIENTIFIC = re.compile(r"(-?)([0-9])(?:[.,]([0-9]+))?[eE]([+-][0-9]{1,3})")
_PLAIN = re.compile(r"-?[0-9]+(?:[.,][0-9]+)?")
_EXPORTED_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_DIGITS = re.compile(r"[0-9]+")
_POINT_ZERO = re.compile(r"([0-9]+)[.,]0+")
#: The significant digits Excel keeps of a number: a longer digit string comes back with zeros after them.
EXCEL_DIGITS = 15
#: Attribute types whose cells are checked for Excel's number conversion (a boolean's 1/0, a date, a list of
#: options are not digit strings Excel could have shortened).
_EXCEL_TYPES = frozenset({AttributeType.text, AttributeType.textarea, AttributeType.identifier,
                          AttributeType.simple_select, AttributeType.number})


def excel_suspect(attr: Attribute, cell: Any) -> bool:
    """Whether an imported cell may be Excel's rendering of a number: the cheap test that keeps every other
    cell off the checks below."""
    return (isinstance(cell, str) and attr.type in _EXCEL_TYPES and cell[:1] in "-0123456789"
            and _NUMERIC.fullmatch(cell) is not None)


def excel_rendering(cell: str, wrote: str) -> bool:
    """Whether `cell` is what Excel saves for the exported text `wrote` (plain digits, maybe with decimals)
    after reading it as a number: scientific notation whose value is `wrote`'s to the digits it shows; the
    same value without the leading zeros, or with a trailing .0 (or ,0); the first 15 significant digits of a
    longer one followed by zeros."""
    if cell == wrote or not _EXPORTED_NUMBER.fullmatch(wrote):
        return False
    exported = Decimal(wrote)
    sci = _SCIENTIFIC.fullmatch(cell)
    if sci:
        sign, digit, decimals, exponent = sci.groups()
        decimals = decimals or ""
        shown = Decimal(f"{sign}{digit}.{decimals or '0'}E{exponent}")
        last_digit = Decimal(1).scaleb(int(exponent) - len(decimals))
        return abs(shown - exported) * 2 <= last_digit
    if not _PLAIN.fullmatch(cell):
        return False
    try:
        value = Decimal(cell.replace(",", "."))
    except InvalidOperation:
        return False
    if value == exported:
        return True
    if len(exported.as_tuple().digits) <= EXCEL_DIGITS or exported != exported.to_integral_value():
        return False
    return abs(value - exported) < Decimal(1).scaleb(exported.adjusted() + 1 - EXCEL_DIGITS)


def zero_padded(cell: str) -> list[str]:
    """The texts a plain number Excel saved may have been: the number with a trailing .0 taken off and with
    leading zeros put back, up to Excel's 15 digits (the cell itself left out); none for a cell that is not
    digits, or digits and .0."""
    point_zero = _POINT_ZERO.fullmatch(cell)
    bare = point_zero.group(1) if point_zero else cell if _DIGITS.fullmatch(cell) else None
    if bare is None:
        return []
    return ([bare] if point_zero else []) + ["0" * zeros + bare for zeros in range(1, max(2, EXCEL_DIGITS - len(bare)))]


def excel_meant(attr: Attribute, cell: str, shown_text: str, version: frozenset[bytes] | None, sku: str,
                column: str) -> str | None:
    """The text a cell Excel retyped stands for: the exported text the row's version names (the cell with its
    leading zeros back, without a trailing .0), else what the product shows now when the cell is Excel's
    rendering of it (a sheet without version: what it showed at the export). None: no text we know."""
    if version is not None and attr.type != AttributeType.number:
        for candidate in zero_padded(cell):
            if untouched(version, sku, column, candidate):
                return candidate
    if shown_text and excel_rendering(cell, shown_text):
        return shown_text
    return None


def excel_mangled(attr: Attribute, cell: str, shown_text: str) -> bool:
    """Whether a cell excel_meant found no text for still reads as Excel's doing rather than the team's edit:
    scientific notation (Excel shows six digits: the number is lost), or, where the product shows a digit
    string, a trailing .0, or fewer digits with the leading zeros gone."""
    if _SCIENTIFIC.fullmatch(cell):
        return True
    if attr.type == AttributeType.number or not _DIGITS.fullmatch(shown_text):
        return False
    if _POINT_ZERO.fullmatch(cell):
        return True
    return (shown_text.startswith("0") and _DIGITS.fullmatch(cell) is not None and not cell.startswith("0")
            and len(cell) < len(shown_text))


def excel_reason(cell: str) -> str:
    """The quarantine's reason for a cell Excel mangled: what it shows, and how to keep Excel from it."""
    return (f"Excel turned this number into {cell} — format the column as Text before saving, or use the .xlsx "
            "download")


# ---------------------------------------------------------------- values
class _Models:
    """code → (parent, values) of the models variants inherit from, read a page at a time and kept (bounded)."""

    def __init__(self) -> None:
        self.known: dict[str, tuple[str | None, dict[str, Any]]] = {}

    def load(self, conn: Connection, codes: Iterable[str]) -> None:
        if len(self.known) > _MODEL_CACHE:  # before, never between, a page's parents and grandparents
            self.known.clear()
        for _ in range(2):  # parents, then grandparents
            missing = sorted({c for c in codes if c and c not in self.known})
            if not missing:
                return
            for code, parent, values in conn.execute(select(MODEL.c.code, MODEL.c.parent, MODEL.c.value_map)
                                                     .where(MODEL.c.code.in_(missing))):
                self.known[code] = (parent, values or {})
            for code in missing:
                self.known.setdefault(code, (None, {}))
            codes = [self.known[c][0] for c in missing if self.known[c][0]]

    def shown(self, values: dict[str, Any], parent: str | None) -> dict[str, Any]:
        """The values a variant shows: its own over its parent's over its grandparent's (pim.product.merged_values),
        as Shown, which names the model of each inherited one (a product without model: its own, as they are)."""
        if not parent:
            return values
        chain: list[tuple[str, dict[str, Any]]] = []
        while parent and len(chain) < 2 and parent in self.known:
            code = parent
            parent, inherited = self.known[code]
            chain.append((code, inherited))
        merged = Shown()
        for code, inherited in reversed(chain):
            merged.update(inherited)
            merged.origins.update(dict.fromkeys(inherited, code))
        merged.update(values)
        for key in values.keys() & merged.origins.keys():
            del merged.origins[key]
        return merged


class Shown(dict[str, Any]):
    """The values a variant shows, and `origins`: value key → the model (parent or grandparent) each value it
    does not hold itself comes from, as the product page shows it (pim.web.ui.value_rows)."""

    def __init__(self) -> None:
        super().__init__()
        self.origins: dict[str, str] = {}


def inherited_from(shown: dict[str, Any]) -> dict[str, str]:
    """Value key → the model a shown value is inherited from (none for a product without model)."""
    return shown.origins if isinstance(shown, Shown) else {}


def _read(store: Store, models: _Models, where: Any) -> list[tuple[int, str, dict[str, Any]]]:
    """(id, identifier, shown values) of the products `where` selects, in id order."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(PRODUCT.c.id, PRODUCT.c.identifier, PRODUCT.c.parent, PRODUCT.c.value_map)
                            .where(where).order_by(PRODUCT.c.id)).all()
        models.load(conn, [r.parent for r in rows if r.parent])
    return [(r.id, r.identifier, models.shown(r.value_map or {}, r.parent)) for r in rows]


def shown_values(store: Store, identifiers: Sequence[str]) -> dict[str, dict[str, Any]]:
    """identifier → the values each product shows (inherited ones included), for the import's comparison."""
    models = _Models()
    out: dict[str, dict[str, Any]] = {}
    for chunk in batched(list(dict.fromkeys(identifiers)), _VALUES_PER_QUERY):
        out.update((ident, values) for _, ident, values in _read(store, models, PRODUCT.c.identifier.in_(chunk)))
    return out


class SheetRow(list[str]):
    """A sheet row (sheet_rows), and `inherited`: column → the model whose value the variant shows there (an
    edit of it belongs on the model: write_xlsx marks those cells)."""

    inherited: dict[str, str]


def sheet_rows(store: Store, s: Structure, pages: Iterable[Sequence[int]], keys: Sequence[str]) -> Iterator[SheetRow]:
    """One row of plain cell texts (not yet escaped) per product id, in the order the pages give them: the
    identifier, one text per key, the version cell (SheetScope.header's columns). A non-empty cell showing a
    model's value is `inherited` (and its digest says so)."""
    attrs = [s.attributes[k.split(":")[0].split("@")[0]] for k in keys]
    models = _Models()
    for ids in pages:
        for chunk in batched(list(ids), _VALUES_PER_QUERY):
            found = {pid: (ident, values) for pid, ident, values in _read(store, models, PRODUCT.c.id.in_(chunk))}
            for pid in chunk:
                if pid in found:
                    ident, values = found[pid]
                    texts = [cell_text(a, values.get(k)) for a, k in zip(attrs, keys)]
                    origins = inherited_from(values)
                    inherited = {k: origins[k] for k, t in zip(keys, texts) if t and k in origins} if origins else {}
                    row = SheetRow([ident, *texts, version_cell(ident, keys, texts, inherited)])
                    row.inherited = inherited
                    yield row


# ---------------------------------------------------------------- files
def can_fail(fmt: SheetFormat) -> bool:
    """Whether writing a sheet in `fmt` may refuse a cell (an encoding that does not carry every text, or no
    formula escaping), so a download is written whole before it is sent."""
    return not fmt.any_text or not fmt.formula_escaped


def _check_cells(header: Sequence[str], row: Sequence[str], cells: Sequence[str], fmt: SheetFormat, *,
                 csv_text: bool) -> None:
    """Refuse what the profile would not read back as the exported text: a cell its encoding cannot carry
    (CSV), a formula-looking cell when the profile does not drop our escape quote. The fast path (the default
    profile) checks nothing."""
    if not fmt.formula_escaped:
        for column, text in zip(header, row):
            if escape_formula(text) != text:
                raise InputError(f"product '{row[0]}': column '{column}' starts like a formula ({text[:20]!r}) and "
                                 "the profile reads cells without formula escapes (formula_escaped: false)",
                                 field=column, hint="set formula_escaped: true in the content profile (the default), "
                                 "or leave that column out")
    if csv_text and not fmt.any_text:
        try:
            "".join(cells).encode(fmt.encoding)
        except UnicodeEncodeError:
            for column, cell in zip(header, cells):
                try:
                    cell.encode(fmt.encoding)
                except UnicodeEncodeError as exc:
                    char = cell[exc.start]
                    raise InputError(f"product '{row[0]}': column '{column}' holds {char!r} (U+{ord(char):04X}), "
                                     f"which {fmt.encoding} cannot carry", field=column,
                                     hint="set encoding: utf-8-sig in the content profile (Excel reads it), or "
                                          "change that text") from None


def _check_header(header: Sequence[str], fmt: SheetFormat) -> None:
    if not fmt.any_text:
        for column in header:
            try:
                column.encode(fmt.encoding)
            except UnicodeEncodeError:
                raise InputError(f"the column name '{column}' cannot be written in {fmt.encoding}", field=column,
                                 hint="set encoding: utf-8-sig in the content profile, or leave that column out") from None


def csv_chunks(header: Sequence[str], rows: Iterable[Sequence[str]], every: int = 500,
               fmt: SheetFormat = DEFAULT_FORMAT) -> Iterator[str]:
    """CSV text in pieces, for a streamed download, with the profile's delimiter: for UTF-8 a byte order mark
    first (so spreadsheets read the accents right; the importer skips it; utf-8-sig and utf-16 encoders write
    their own), escaped cells. InputError for a cell the profile would not read back (_check_cells)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=fmt.delimiter)
    if fmt.codec == "utf-8":
        out.write("\ufeff")
    _check_header(header, fmt)
    writer.writerow(header)
    check = can_fail(fmt)
    for n, row in enumerate(rows, start=1):
        cells = [sheet_cell(c) for c in row]
        if check:
            _check_cells(header, row, cells, fmt, csv_text=True)
        writer.writerow(cells)
        if n % every == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def encoded(chunks: Iterable[str], fmt: SheetFormat = DEFAULT_FORMAT) -> Iterator[bytes]:
    """csv_chunks as bytes in the profile's encoding (one encoder: a BOM it writes comes once)."""
    encoder = codecs.getincrementalencoder(fmt.encoding)(errors="strict")
    for chunk in chunks:
        yield encoder.encode(chunk)
    yield encoder.encode("", final=True)


def write_xlsx(target: Path | IO[bytes], header: Sequence[str], rows: Iterable[Sequence[str]],
               fmt: SheetFormat = DEFAULT_FORMAT) -> int:
    """An XLSX workbook of one sheet (named, and its header on the row, as the profile reads it), written with
    openpyxl's write-only mode (rows go to a temporary file as
    they come); every cell is text, the version column hidden. Returns the rows written. InputError for a
    cell longer than Excel holds: Excel would cut it (and the import would then claim the cut text), so the
    caller drops the half-written file; also for a formula-looking cell when the profile reads no escapes."""
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    from pim.xlsx_save import save_workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=fmt.sheet or "products")
    if VERSION_COLUMN in header:
        ws.column_dimensions[get_column_letter(list(header).index(VERSION_COLUMN) + 1)].hidden = True
    n, places = 0, {column: at for at, column in enumerate(header)}
    try:
        for _ in range(fmt.header_row - 1):  # where the profile reads the column names
            ws.append([])
        ws.append(list(header))
        for row in rows:
            cells = [sheet_cell(c, xlsx=True) for c in row]
            if not fmt.formula_escaped:
                _check_cells(header, row, cells, fmt, csv_text=False)
            for column, cell in zip(header, cells):
                _check_length(cell, row[0], column)
            inherited = getattr(row, "inherited", None)
            ws.append(_marked(ws, places, cells, inherited) if inherited else cells)
            n += 1
        save_workbook(wb, target)  # closes its zip on failure (pim.xlsx_save)
    except BaseException:
        _discard(ws)
        raise
    return n


#: The fill of a cell a variant shows from its model (a light grey, as the product page greys inherited values).
INHERITED_FILL = "FFD9D9D9"


def inherited_note(model: str) -> str:
    """The note on an inherited cell: where the value lives, and how an edit of it is taken."""
    return (f"Inherited from product model '{model}': every variant of it shows this value. To change it, give "
            "the same new text in the rows of all its variants here (the import sets it on the model), or edit "
            "it on the product page.")


def _marked(ws: Any, places: dict[str, int], cells: list[Any], inherited: dict[str, str]) -> list[Any]:
    """The row's cells with those a variant shows from its model grey, with a note naming the model."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.comments import Comment
    from openpyxl.styles import PatternFill

    fill = PatternFill("solid", fgColor=INHERITED_FILL)
    for column, model in inherited.items():
        at = places.get(column)
        if at is not None:
            cell = WriteOnlyCell(ws, value=cells[at])
            cell.fill, cell.comment = fill, Comment(inherited_note(model), "PIM", width=300, height=90)
            cells[at] = cell
    return cells


def _discard(ws: Any) -> None:
    """Close a write-only sheet given up on and remove its temporary file (openpyxl would keep it until the
    process ends: a long-running server would collect one per refused download)."""
    writer = getattr(ws, "_writer", None)
    if writer is None:
        return
    try:
        if not ws.closed:  # a save refused midway may have closed it already
            ws.close()
    except Exception:  # noqa: BLE001  (best effort: the error being raised is the one to report)
        pass
    try:
        writer.cleanup()
    except Exception:  # noqa: BLE001
        pass


def _check_length(cell: str, sku: str, column: str) -> None:
    if len(cell) * 2 <= XLSX_CELL_MAX:  # no text this short can exceed it in UTF-16
        return
    units = len(cell.encode("utf-16-le")) // 2
    if units > XLSX_CELL_MAX:
        raise InputError(f"product '{sku}': column '{column}' holds {units} characters, more than the {XLSX_CELL_MAX} "
                         "an Excel cell can hold", field=column,
                         hint="write the sheet as .csv (no cell limit), or leave that column out (--columns, or "
                              "columns= in the download link)")


def check_out(out: Path) -> str:
    """The file's kind (.csv or .xlsx) from its name; InputError for another name (checked before any reading)."""
    kind = out.suffix.lower()
    if kind not in SUFFIXES:
        raise InputError(f"'{out.name}' is neither .csv nor .xlsx", field="out",
                         hint="name the file products.xlsx (Excel) or products.csv")
    return kind


def write_sheet(out: Path, header: Sequence[str], rows: Iterable[Sequence[str]],
                fmt: SheetFormat = DEFAULT_FORMAT) -> int:
    """The sheet to `out` (.csv or .xlsx) in the profile's format, through `out.part` so a stopped or refused
    export leaves no half file. Returns the rows written."""
    kind = check_out(out)
    tmp = out.with_name(out.name + ".part")
    written = [0]

    def counted() -> Iterator[Sequence[str]]:
        for row in rows:
            written[0] += 1
            yield row

    try:
        if kind == ".xlsx":
            write_xlsx(tmp, header, counted(), fmt)
        else:
            with tmp.open("wb") as fh:
                fh.writelines(encoded(csv_chunks(header, counted(), fmt=fmt), fmt))
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return written[0]
