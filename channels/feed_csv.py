"""CSV feed: the contract's dialect, a header row, one row per item, written as the items stream in.
Cells that a spreadsheet would run as formulas are escaped (OWASP CSV injection)."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from channels.feed_row import Projector, escape_formula
from pim.feeds import FeedItem, FeedPlan


class CsvFeedRenderer:
    name = "feed_csv"
    extension = "csv"
    content_type = "text/csv"

    def write(self, items: Iterable[FeedItem], plan: FeedPlan, path: Path) -> int:
        d = plan.contract.csv
        proj = Projector(plan)
        escape = escape_formula if d.escape_formulas else None
        rows = 0
        with path.open("w", encoding=d.encoding, newline="", errors="replace") as fh:
            out = csv.writer(fh, delimiter=d.delimiter, quotechar=d.quotechar, lineterminator=d.lineterminator,
                             quoting=csv.QUOTE_ALL if d.quoting == "all" else csv.QUOTE_MINIMAL)
            out.writerow(proj.header())
            for item in items:
                out.writerow(proj.cells(item, escape))
                rows += 1
        return rows
