"""A content sheet's cells (pim.content_sheet): a value as the text the content import reads back, whether an
imported cell still says what the product shows, and the version column's digests that tell an untouched cell
from an edited one. Split from pim.content_sheet, which still offers every name here."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Container, Sequence
from decimal import Decimal
from typing import Any

from pim.content_sheet_format import _TEXTUAL, DIGEST_BYTES, VERSION_TAG, _illegal_xlsx
from pim.spreadsheet import escape_formula, unescape_formula
from pim.structure import Attribute, AttributeType
from pim.values import ValueProblem, metric_text, normalize, prices_text


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
