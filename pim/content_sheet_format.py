"""The content sheet's columns and format (pim.content_sheet): the names of its fixed columns, the attribute
types a cell holds, and SheetFormat, how the content profile the sheet goes back through reads it. Split from
pim.content_sheet, which still offers every name here."""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import Any

from pim.errors import InputError
from pim.structure import AttributeType

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

