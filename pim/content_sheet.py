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

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, select

from pim.catalog import Structure
# The split's modules: every name this module offered still imports from here.
from pim.content_sheet_cells import (INHERITED, OWN, _canonical, _LINE_ENDS, cell_digest, cell_text,  # noqa: F401
                                     exported_as, plain_number, read_version, sheet_cell, unchanged, untouched,
                                     version_cell)
from pim.content_sheet_columns import (SheetScope, _checked_keys, _some, catalog_families,  # noqa: F401
                                       default_keys, scope)
from pim.content_sheet_excel import (_DIGITS, _EXCEL_TYPES, _EXPORTED_NUMBER, _NUMERIC, _PLAIN,  # noqa: F401
                                     _POINT_ZERO, _SCIENTIFIC, EXCEL_DIGITS, excel_mangled, excel_meant,
                                     excel_reason, excel_rendering, excel_suspect, zero_padded)
from pim.content_sheet_files import (INHERITED_FILL, _check_cells, _check_header, _check_length,  # noqa: F401
                                     _discard, _marked, can_fail, check_out, csv_chunks, encoded,
                                     inherited_note, write_sheet, write_xlsx)
from pim.content_sheet_held import HeldCells
from pim.content_sheet_format import (_TEXTUAL, _UTF, DEFAULT_FORMAT, DEFAULT_TYPES, DIGEST_BYTES,  # noqa: F401
                                      MODEL_COLUMN, NOTE_COLUMN, SHEET_TYPES, SKU_COLUMN, SUFFIXES, VERSION_COLUMN,
                                      VERSION_TAG, XLSX_CELL_MAX, SheetFormat, _illegal_xlsx, value_column)
from pim.store import Store
from pim.store.store import MODEL, PRODUCT, batched

_VALUES_PER_QUERY = 500
_MODEL_CACHE = 4096


# ---------------------------------------------------------------- values
class _Models:
    """code → (parent, values) of the models variants inherit from, read a page at a time and kept (bounded)."""

    def __init__(self) -> None:
        self.known: dict[str, tuple[str | None, dict[str, Any]]] = {}
        self.variants: dict[str, str] = {}  # code → its family variant (which levels hold what: content_sheet_held)

    def load(self, conn: Connection, codes: Iterable[str]) -> None:
        if len(self.known) > _MODEL_CACHE:  # before, never between, a page's parents and grandparents
            self.known.clear()
            self.variants.clear()
        for _ in range(2):  # parents, then grandparents
            missing = sorted({c for c in codes if c and c not in self.known})
            if not missing:
                return
            for code, parent, values, fv in conn.execute(select(MODEL.c.code, MODEL.c.parent, MODEL.c.value_map,
                                                                MODEL.c.family_variant).where(MODEL.c.code.in_(missing))):
                self.known[code] = (parent, values or {})
                self.variants[code] = fv
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
        merged.lineage = [(code, self.variants.get(code, ""), self.known[code][0]) for code, _ in chain]
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
        #: the models above the variant, nearest first: (code, family variant, parent) (pim.content_sheet_held)
        self.lineage: list[tuple[str, str, str | None]] = []


def inherited_from(shown: dict[str, Any], keys: Iterable[str] = (), held: HeldCells | None = None) -> dict[str, str]:
    """Value key → the model a shown value is inherited from (none for a product without model); with `held`,
    also each of `keys` a model holds by its family variant's levels while it has no value there yet (a new
    locale): the variant's own values excepted."""
    if not isinstance(shown, Shown):
        return {}
    if held is None or not shown.lineage:
        return shown.origins
    own = shown.keys() - shown.origins.keys()
    return {**held.origins(shown.lineage, keys, own), **shown.origins}


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
    identifier, one text per key, the version cell (SheetScope.header's columns). A cell showing a
    model's value is `inherited` (and its digest says so)."""
    attrs = [s.attributes[k.split(":")[0].split("@")[0]] for k in keys]
    models = _Models()
    held = HeldCells(s)
    for ids in pages:
        for chunk in batched(list(ids), _VALUES_PER_QUERY):
            found = {pid: (ident, values) for pid, ident, values in _read(store, models, PRODUCT.c.id.in_(chunk))}
            for pid in chunk:
                if pid in found:
                    ident, values = found[pid]
                    texts = [cell_text(a, values.get(k)) for a, k in zip(attrs, keys)]
                    origins = inherited_from(values, keys, held)
                    inherited = {k: origins[k] for k in keys if k in origins} if origins else {}
                    row = SheetRow([ident, *texts, version_cell(ident, keys, texts, inherited)])
                    row.inherited = inherited
                    yield row
