"""Supplier ids a workbook held as numbers lost their leading zeros (00123 typed into a General cell is 123):
matched back to the supplier's cross-referenced ids, once per batch. Split from importers.supplier_table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from pim.content_sheet import EXCEL_DIGITS
from pim.importing import ImportCounts, Rejected, file_warning
from pim.sources import SourceItem, zero_led_pids, zero_led_widths
from pim.store import Store
from pim.store.store import batched

if TYPE_CHECKING:
    from importers.supplier_table import SupplierTableMap


class LostZeros:
    """Supplier ids a workbook held as numbers, which keep no leading zeros (00123 typed into a General cell is
    123): one the cross-reference does not know, when exactly one of the supplier's cross-referenced ids is it
    with zeros in front, is that id (one warning per file says which); when two are, the row is refused
    naming both. The lengths of the supplier's ids that start with 0 are read once per file, and only if
    there are such ids, the candidates once per batch (pim.sources.zero_led_widths, zero_led_pids)."""

    SHOWN = 3

    def __init__(self, store: Store, m: SupplierTableMap, numbered: set[int]) -> None:
        self.store, self.m, self.numbered = store, m, numbered
        self.widths: set[int] | None = None
        self.count = 0
        self.first: list[str] = []

    def matched(self, items: Iterator[SourceItem | Rejected]) -> Iterator[SourceItem | Rejected]:
        for chunk in batched(items, self.store.batch_size):
            if not self.numbered:  # a CSV, or a workbook whose ids are text
                yield from chunk
                continue
            numbers = {i.pid for i in chunk if isinstance(i, SourceItem) and i.pid and i.line in self.numbered}
            found = self._padded(numbers) if numbers else {}
            for item in chunk:
                if item.line in self.numbered:
                    self.numbered.discard(item.line)
                    if isinstance(item, SourceItem) and (pids := found.get(item.pid or "")):
                        item = self._take(item, pids)
                yield item

    def _padded(self, numbers: set[str]) -> dict[str, list[str]]:
        if self.widths is None:
            self.widths = {w for w in zero_led_widths(self.store, self.m.source) if w <= EXCEL_DIGITS}
        return zero_led_pids(self.store, self.m.source, numbers, self.widths) if self.widths else {}

    def _take(self, item: SourceItem, pids: list[str]) -> SourceItem | Rejected:
        m, number = self.m, item.pid or ""
        if len(pids) > 1:
            return Rejected(f"supplier id {number} was a number, which keeps no leading zeros: it may be "
                            f"{' or '.join(pids[:3])}; format the '{m.pid_column}' column as Text and type the zeros, "
                            f"or run `pim import xref {m.source} {number} SKU`", item.file, item.line, m.pid_column,
                            item.raw, number)
        self.count += 1
        if len(self.first) < self.SHOWN:
            self.first.append(f"{number} → {pids[0]}")
        item.pid = pids[0]
        return item

    def report(self, counts: ImportCounts, file: str) -> None:
        """The file's warning, which its next run replaces (or closes, when no id needed its zeros)."""
        reason = None
        if self.count:
            counts.extra["ids_matched_by_zeros"] = self.count
            more = ", …" if self.count > len(self.first) else ""
            reason = (f"{self.count} supplier product id(s) typed as numbers were matched to the cross-reference's ids "
                      f"by their leading zeros, which Excel drops ({', '.join(self.first)}{more}); format the "
                      f"'{self.m.pid_column}' column as Text so the file says them")
        file_warning(self.store, counts.job_id, self.m.source, f"excel-zeros:{file}", reason, file=file,
                     field=self.m.pid_column)
