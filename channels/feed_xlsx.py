"""XLSX feed with openpyxl's write-only workbook (rows go straight to a temp file: memory stays flat).
Every cell is written as text, escaped like CSV, so that nothing a customer opens runs as a formula."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from channels.feed_row import Projector, escape_formula, value_keys_read
from channels.xml_chars import xml_chars
from pim.catalog import Structure
from pim.contracts import Contract
from pim.feeds import FeedItem, FeedPlan


def _cell(text: str) -> str:
    """A cell's text escaped like CSV, without the characters XLSX (XML) cannot carry: openpyxl refused them,
    failing the customer's feed on one value."""
    return xml_chars(escape_formula(text))


class XlsxFeedRenderer:
    name = "feed_xlsx"
    extension = "xlsx"
    content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

    @staticmethod
    def reads(contract: Contract, structure: Structure) -> frozenset[str]:
        """The value keys its rows read (a run's snapshot keeps only those)."""
        return value_keys_read(contract, structure)

    def write(self, items: Iterable[FeedItem], plan: FeedPlan, path: Path) -> int:
        from openpyxl import Workbook

        proj = Projector(plan)
        wb = Workbook(write_only=True)
        ws = wb.create_sheet(title=plan.contract.code[:31])
        ws.append(proj.header())
        rows = 0
        for item in proj.stream(items):
            ws.append(proj.cells(item, _cell))
            rows += 1
        wb.save(path)
        return rows
