"""A content sheet's edits that are not written as they stand: cells changed since the export (stale), and
cells a variant showed from its model (to the model when every variant row agrees). Split from
importers.content, whose `keep_edits` notes the rows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from importers.content_sheet_renamed import RenamedColumns
from importers.gtin_check import problem_notes
from pim import content_sheet
from pim.attribute_changes import shown_value
from pim.catalog import Structure
from pim.importing import Parsed, Rejected
from pim.merge import MODEL_KEY
from pim.product import EMPTY, Product, Provenance, partial_model
from pim.store.store import QuarantineEntry, Store
from pim.structure import Attribute


class SheetRow:
    """What keep_edits learns of a row with a version (a sheet the export wrote) whose product is known."""

    def __init__(self, n: int, record: Product, version: frozenset[bytes], origins: dict[str, str]) -> None:
        self.n, self.record, self.version = n, record, version  # n: its place in the batch
        self.origins = origins  # value key → the model the product inherits it from (content_sheet.inherited_from)
        #: columns whose cell, or the text the product shows now, the version names: exported, for sure
        self.matched: set[str] = set()
        #: (key, cell, text shown now) of edits whose shown text the version does not name: made on an older
        #: value, or in a column the editor added (SheetEdits.stale tells them apart)
        self.unplaced: list[tuple[str, Any, str]] = []
        self.to_model: list[tuple[str, Any, str]] = []  # (key, cell, model): edits of inherited cells
        self.model_text: list[tuple[str, str]] = []  # (key, model): inherited cells left saying what they show
        self.cleared: list[tuple[str, Any]] = []  # (key, value shown): emptied cells of the product's own values
        self.columns: set[str] = set()  # the row's columns (its cells' keys)

    def cell(self, attr: Attribute, key: str, cell: Any, shown: Any, *, same: bool, edit: bool) -> None:
        """Note one cell: `same`, untouched since the export; `edit`, kept as a claim that differs from what the
        product shows."""
        origin = self.origins.get(key)
        self.columns.add(key)
        if same:
            self.matched.add(key)
        if same or not edit:
            if origin:
                self.model_text.append((key, origin))
            return
        shown_text = content_sheet.cell_text(attr, shown)
        how = content_sheet.exported_as(self.version, self.record.identifier, key, shown_text)
        if how is None:
            self.unplaced.append((key, cell, shown_text))
            return
        self.matched.add(key)
        if origin and (how == content_sheet.INHERITED or not shown_text):
            # an empty cell a model holds (no value there yet) is the model's too in a sheet exported before
            # such cells were marked (content_sheet_held)
            self.to_model.append((key, cell, origin))
        elif cell in EMPTY and shown not in EMPTY and not origin:
            self.cleared.append((key, shown))


class SheetEdits:
    """A sheet's edits that are not written as they stand, across its batches.

    An edit of a cell whose value changed since the export (another source, or someone on the product page)
    is left out, and noted as a problem of its row: it was made on the older text, and would silently undo
    the newer one. The version names each exported cell's text, not its column, so an edit whose shown text
    it does not name is one made on an older value when its column is one the sheet was exported with: a
    column some row's version names (`proven`), or, in a row whose version names more cells than its row
    accounts for, one of those (a column the editor added is neither).

    An edit of a cell the variant showed from its model (the version says so: content_sheet.INHERITED) goes to
    the model, as the product page edits an inherited value, when every variant row of the model in the file
    gives that same text (_ModelEdits).

    An emptied cell withdraws the content team's value only: one whose shown value another source gave stays
    as it is, and is noted as a problem of its row (with `store` to read who gave it), not counted silently
    as unchanged."""

    def __init__(self, store: Store | None = None, structure: Structure | None = None) -> None:
        self.proven: set[str] = set()
        self.models = _ModelEdits()
        self.store = store
        self.renamed = RenamedColumns(structure) if structure is not None else None

    def settle(self, rows: list[SheetRow], chunk: list[Parsed | Rejected]) -> None:
        for row in rows:
            self.proven |= row.matched
        self._renamed(rows, chunk)
        for row in rows:
            item = chunk[row.n]
            if not isinstance(item, Parsed):  # never: a row is noted only for a record taken in
                continue
            stale = self.stale(row)
            for key in [key for key, _, _ in stale] + [key for key, _, _ in row.to_model]:
                del row.record.values[key]
                row.record.provenance.pop(key, None)
            where = (item.file, item.line, row.record.identifier)
            for key, cell, model in row.to_model:
                self.models.edit(model, key, cell, where, row.record.source)
            for key, model in row.model_text:
                self.models.add(model, key, _KEPT, where)
            if stale:
                source = row.record.source.source if row.record.source else ""
                item.problems = [*item.problems, *problem_notes(
                    [(key, _stale_reason(now, cell)) for key, cell, now in stale], item.file, item.line, item.raw,
                    row.record.identifier, source)]
        self._not_cleared(rows, chunk)

    def _renamed(self, rows: list[SheetRow], chunk: list[Parsed | Rejected]) -> None:
        """Take the cells of columns whose header was typed over (RenamedColumns) out of their rows, noting one
        problem per such column (on the first row it takes a cell of)."""
        if self.renamed is None:
            return
        header = set().union(self.proven, *(row.columns for row in rows))
        for row in rows:
            for key, cell, _ in row.unplaced:
                if key not in self.proven:
                    self.renamed.note(row.version, row.record.identifier, key, cell, header)
        if not self.renamed.renamed:
            return
        for row in rows:
            item = chunk[row.n]
            gone = [key for key, _, _ in row.unplaced if key in self.renamed.renamed]
            if not gone or not isinstance(item, Parsed):
                continue
            row.unplaced = [edit for edit in row.unplaced if edit[0] not in self.renamed.renamed]
            for key in gone:
                row.record.values.pop(key, None)
                row.record.provenance.pop(key, None)
            first = [key for key in dict.fromkeys(gone) if key not in self.renamed.said]
            self.renamed.said.update(first)
            if first:
                source = row.record.source.source if row.record.source else ""
                item.problems = [*item.problems, *problem_notes(
                    [(key, self.renamed.reason(key)) for key in first], item.file, item.line, item.raw,
                    row.record.identifier, source)]

    def _not_cleared(self, rows: list[SheetRow], chunk: list[Parsed | Rejected]) -> None:
        """Note the emptied cells whose value another source gave: the clear leaves them showing it. One read
        of the batch's products that have such cells."""
        cleared = [row for row in rows if row.cleared and isinstance(chunk[row.n], Parsed)]
        if not cleared or self.store is None:
            return
        stored = {p.identifier: p for p in self.store.iter_products(identifiers=[r.record.identifier for r in cleared])}
        for row in cleared:
            item, product = chunk[row.n], stored.get(row.record.identifier)
            # the row's own source (a profile's `source`, "content" by default): its value is one the clear withdraws
            source = row.record.source.source if row.record.source else ""
            theirs = [(key, shown, prov.source) for key, shown in row.cleared
                      if product is not None and (prov := product.provenance_of(key))
                      and prov.source != (source or "content")]
            if theirs and isinstance(item, Parsed):
                item.problems = [*item.problems, *problem_notes(
                    [(key, _not_cleared_reason(shown, by)) for key, shown, by in theirs], item.file, item.line,
                    item.raw, row.record.identifier, source)]

    def stale(self, row: SheetRow) -> list[tuple[str, Any, str]]:
        """The row's edits made on a value that changed since the export; none when the version vouches for no
        cell of the row (pasted from another row: its cells are compared with what the product shows)."""
        if not row.matched:
            return []
        stale = [edit for edit in row.unplaced if edit[0] in self.proven]
        rest = [edit for edit in row.unplaced if edit[0] not in self.proven]
        if rest and len(rest) <= len(row.version) - len(row.matched) - len(stale):
            stale += rest
        return stale


def _stale_reason(now: str, cell: Any) -> str:
    return (f"not stored: the value changed since the sheet was downloaded — download the sheet again and re-apply "
            f"the edit, or edit it on the product page (it shows {_quoted(now)} now; the sheet says {_quoted(cell)})")


def _not_cleared_reason(shown: Any, source: str) -> str:
    return (f"not cleared: the value it shows ({_quoted(shown)}) comes from source '{source}', not from the content "
            "team, and an empty cell withdraws only the content team's own value — change it in that source, or "
            "type the text that should show instead")


def _quoted(text: Any) -> str:
    return shown_value(text) if text not in (None, "") else "nothing"


_KEPT = object()  # a variant row whose inherited cell still says the model's text
_NAMED = 3  # rows named per text in a problem
_Where = tuple[str, int | None, str]  # a row: its file, line and SKU
_Said = dict[Any, tuple[int, list[tuple[int | None, str]]]]  # text (or _KEPT) → rows saying it: how many, the first few


class _ModelEdits:
    """The edits of inherited cells, per model and value key, with the rows that leave such a cell as it is.
    Each (model, key) whose rows all give one new text is set on the model; the others of a model are one
    problem of it, naming the rows (the model keeps its value)."""

    def __init__(self) -> None:
        self.cells: dict[str, dict[str, _Said]] = {}
        #: model → where its first edit is (file, line) and that row's provenance, the model record's
        self.edited: dict[str, tuple[str, int | None, Provenance | None]] = {}

    def edit(self, model: str, key: str, text: Any, where: _Where, prov: Provenance | None) -> None:
        """A row (file, line, SKU) giving `text` for the model's `key`."""
        self.edited.setdefault(model, (where[0], where[1], prov))
        self.add(model, key, text, where)

    def add(self, model: str, key: str, text: Any, where: _Where) -> None:
        """A row saying `text` (or _KEPT: the model's) for the model's `key`."""
        texts = self.cells.setdefault(model, {}).setdefault(key, {})
        count, named = texts.get(text, (0, []))
        texts[text] = (count + 1, named if len(named) >= _NAMED else [*named, (where[1], where[2])])

    def records(self) -> Iterator[Parsed]:
        """One record per edited model: the values its rows agree on, and a problem for those they do not."""
        for model, (file, line, prov) in self.edited.items():
            edited = {key: texts for key, texts in self.cells[model].items() if texts.keys() - {_KEPT}}
            agreed = {key: next(iter(texts)) for key, texts in edited.items() if len(texts) == 1}
            differ = {key: texts for key, texts in edited.items() if key not in agreed}
            problems = [QuarantineEntry(_differing_reason(model, differ), file, line, next(iter(differ)),
                                        {"model": model, **{k: _rows_said(t) for k, t in differ.items()}},
                                        MODEL_KEY + model, prov.source if prov else "", severity="problem")
                        ] if differ else []
            yield Parsed(partial_model(model, agreed, prov, {}), file, line,  # type: ignore[arg-type]
                         {"model": model, "values": agreed}, problems=problems)


def _rows_said(texts: _Said) -> str:
    """Which rows say what: `rows 4, 9 (P1, P2) say "text"`, the rest counted."""
    parts = []
    for text, (count, named) in texts.items():
        rows, skus = ", ".join(str(line) for line, _ in named), ", ".join(sku for _, sku in named)
        more = f" and {count - len(named)} more" if count > len(named) else ""
        verb = ("keep", "say") if count > 1 else ("keeps", "says")
        said = f"{verb[0]} the model's text" if text is _KEPT else f"{verb[1]} {_quoted(text)}"
        parts.append(f"row{'s' if count > 1 else ''} {rows} ({skus}){more} {said}")
    return "; ".join(parts)


def _differing_reason(model: str, differ: dict[str, _Said]) -> str:
    keys = ", ".join(f"'{key}'" for key in differ)
    said = " — ".join(f"{key}: {_rows_said(texts)}" for key, texts in differ.items())
    return (f"not stored: {keys} {'is' if len(differ) == 1 else 'are'} inherited from model '{model}' and its "
            "variants' rows here differ — give them all the same text to change the model (a cell left as "
            f"it was counts as another text), or give it once in a row with '{model}' in a 'model' column, or edit "
            f"it on the product page. {said}")
