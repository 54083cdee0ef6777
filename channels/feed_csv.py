"""CSV feed: the contract's dialect, a header row, one row per item, written as the items stream in.
Cells that a spreadsheet would run as formulas are escaped (OWASP CSV injection).

A contract's encoding may lack characters the catalog holds (cp1252 has no `Ł`, `☃` or `日`). Such text is never
replaced: the feed is refused, naming the SKUs and columns, and nothing is sent (see `Unencodable`)."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from channels.feed_row import Projector, escape_formula, value_keys_read
from pim.catalog import Structure
from pim.contracts import Contract, CsvDialect
from pim.feeds import FeedItem, FeedPlan, FeedRefused

#: Encodings that carry every character: their rows need no check.
_UNICODE = frozenset({"utf-8", "utf-8-sig"})
SHOWN = 10  # SKUs a refusal names; it counts the rest


class Unencodable:
    """Rows whose text the contract's encoding cannot carry: per SKU, the columns and the first character each
    lacks. A row of plain ASCII costs one `isascii` per cell."""

    def __init__(self, encoding: str, header: list[str]) -> None:
        self.encoding, self.header = encoding, header
        self.found: dict[str, list[str]] = {}

    def check(self, sku: str, cells: list[str]) -> bool:
        """Whether the row can be written as it is; if not, notes why."""
        wrong = []
        for column, cell in zip(self.header, cells):
            if not cell.isascii():
                try:
                    cell.encode(self.encoding)
                except UnicodeEncodeError as exc:
                    wrong.append(f"{column} {exc.object[exc.start:exc.end]!r}")
        if wrong:
            self.found[sku] = wrong
        return not wrong

    def error(self, plan: FeedPlan) -> FeedRefused:
        c = plan.contract
        named = "; ".join(f"{sku} ({', '.join(cols)})" for sku, cols in list(self.found.items())[:SHOWN])
        more = f"; and {len(self.found) - SHOWN} more" if len(self.found) > SHOWN else ""
        return FeedRefused(
            c, f"contract '{c.code}': {len(self.found)} product(s) hold text that {self.encoding} cannot carry, so the "
            f"feed was not built and nothing was sent (characters are never replaced): {named}{more}",
            hint=f"write the feed in UTF-8 (csv: {{encoding: utf-8}}, or utf-8-sig for Excel) and `pim feeds load` "
                 f"the contract again, or change those values; then `pim feeds deliver --contract {c.code}`",
            skus=list(self.found))


def readable(plan: FeedPlan) -> CsvDialect:
    """The contract's dialect, checked again: one stored before `pim feeds load` refused unreadable dialects
    (delimiter equal to the quote character, a line break) would write a file nobody can parse."""
    d = plan.contract.csv
    try:
        return CsvDialect.model_validate(d.model_dump())
    except ValidationError as exc:
        reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['ctx']['error'] if 'ctx' in e else e['msg']}"
                            for e in exc.errors())
        raise FeedRefused(plan.contract, f"contract '{plan.contract.code}': its csv dialect cannot be read back "
                          f"({reasons}), so the feed was not built and nothing was sent",
                          hint="fix csv: in the contract file and `pim feeds load` it again", skus=[]) from exc


class CsvFeedRenderer:
    name = "feed_csv"
    extension = "csv"
    content_type = "text/csv"

    @staticmethod
    def reads(contract: Contract, structure: Structure) -> frozenset[str]:
        """The value keys its rows read (a run's snapshot keeps only those)."""
        return value_keys_read(contract, structure)

    def write(self, items: Iterable[FeedItem], plan: FeedPlan, path: Path) -> int:
        """The rows written; a FeedRefused (no file left) when the encoding cannot carry some row's text."""
        d = readable(plan)
        proj = Projector(plan)
        escape = escape_formula if d.escape_formulas else None
        header = proj.header()
        narrow = None if d.encoding in _UNICODE else Unencodable(d.encoding, header)
        rows = 0
        with path.open("w", encoding=d.encoding, newline="") as fh:
            out = csv.writer(fh, delimiter=d.delimiter, quotechar=d.quotechar, lineterminator=d.lineterminator,
                             quoting=csv.QUOTE_ALL if d.quoting == "all" else csv.QUOTE_MINIMAL)
            out.writerow(header)
            for item in proj.stream(items):
                cells = proj.cells(item, escape)
                if narrow is not None and (not narrow.check(item.product.identifier, cells) or narrow.found):
                    continue  # the feed is refused: the other rows are only looked at, to name them all
                out.writerow(cells)
                rows += 1
        if narrow is not None and narrow.found:
            path.unlink(missing_ok=True)
            raise narrow.error(plan)
        return rows
