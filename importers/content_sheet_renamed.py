"""A column of a downloaded content sheet whose header someone typed over (`name:it_IT` renamed `name:de_DE`):
its cells hold the texts the export wrote under the old header, so each would read as an edit made on an older
value (importers.content_sheet_edits: `stale`), one problem per row. The sheet's version names each cell's text
with its product and column (pim.content_sheet.cell_digest), so a cell whose text the version names under
another column proves the rename: the column's cells are not stored, and one problem says which column it was
exported as."""

from __future__ import annotations

from typing import Any

from pim import content_sheet
from pim.catalog import Structure
from pim.product import value_key


class RenamedColumns:
    """The columns of one sheet found renamed, across its batches (column → the column it was exported as)."""

    def __init__(self, structure: Structure) -> None:
        self._structure = structure
        self._keys: list[str] | None = None
        self.renamed: dict[str, str] = {}
        self.said: set[str] = set()  # columns whose one problem was noted

    def keys(self) -> list[str]:
        """Every value key the structure offers (the columns a sheet may have been exported with), built once."""
        if self._keys is None:
            s = self._structure
            self._keys = [value_key(code, locale, channel) for code, attr in s.attributes.items()
                          for locale in (list(s.locales) if attr.localizable else [None])
                          for channel in (list(s.channels) if attr.scopable else [None])]
        return self._keys

    def note(self, version: frozenset[bytes], sku: str, column: str, cell: Any, header: set[str]) -> None:
        """Learn from one edited cell whose text the version does not name in its column: a text it names in
        a column not in the sheet's `header` (a rename leaves the old name out) proves the rename."""
        if column in self.renamed or not isinstance(cell, str) or not cell.strip():
            return
        for key in self.keys():
            if key not in header and content_sheet.exported_as(version, sku, key, cell) is not None:
                self.renamed[column] = key
                return

    def reason(self, column: str) -> str:
        was = self.renamed[column]
        return (f"not stored: column '{column}' was exported as '{was}' (the sheet's version says its cells are "
                f"the '{was}' texts): its header was changed, so none of its cells were taken in — rename the "
                f"header back to '{was}'; to fill '{column}', download a sheet with that column (pim export sheet "
                "--columns) and type into it")
