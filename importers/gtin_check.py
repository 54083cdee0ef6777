"""GTIN checks every importer shares, so ERP and supplier imports treat a bad GTIN alike: it is left out of
the record (a GTIN stored before stays; nothing wrong reaches feeds or the search index), a supplier's is not
used to match its product to our SKU (a wrong check digit could pick someone else's product) and, without a
cross-reference, the product is refused rather than created apart from ours (`refuse_unlinked`); a record
taken in carries a `problem` entry saying what became of the GTIN and what to do."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from typing import Any, Literal

from pim.importing import Rejected
from pim.product import split_key
from pim.quality import gtin_ok, gtin_problem, is_gtin_attribute
from pim.sources import SourceItem, cross_referenced
from pim.store import Store
from pim.store.store import QuarantineEntry, batched

#: `pim import errors` shows this many characters of a reason: the hint after the problem must fit in them.
REASON_SHOWN = 200
#: Longest gtin_problem text kept in an entry (it quotes the cell, which may be huge).
_SHOWN = 90

#: value key → the field (CSV column, XML path or element) that fills it, for keys of GTIN attributes.
GtinFields = dict[str, str]
#: (field, what is wrong) of a bad GTIN a product was to be matched on, and its own line when it has one (a
#: BMEcat GTIN element's; a table row's GTIN is on the row's line).
BadLink = tuple[str, str] | tuple[str, str, int]


def gtin_keys(targets: Iterable[tuple[str, str]]) -> GtinFields:
    """The (field, value key) pairs whose attribute holds GTINs (`pim.quality.is_gtin_attribute`), in the
    order they are applied: where two fields fill one key the last one's value is stored, so it is named."""
    return {key: field for field, key in targets if _gtin_key(key)}


@lru_cache(maxsize=4096)
def _gtin_key(key: str) -> bool:
    """Whether a value key's attribute holds GTINs, remembered per key: a content import asks it for every key
    of every record (a file's keys repeat; at most 4096 are kept)."""
    return is_gtin_attribute(split_key(key)[0])


def take_bad(values: dict[str, Any], fields: GtinFields, checked: str | None = None) -> list[tuple[str, str]]:
    """Take each GTIN in `values` that `pim.quality.gtin_problem` refuses out of it; (field, problem) for each.

    Checked as it would be stored (a number that lost a leading zero is read as it stands: twelve digits are a
    valid GTIN-12). Left out rather than cleared, so the key is absent and the product keeps the GTIN it has.
    An empty value (None) clears, as any empty cell does, and is no problem. `checked`: a text already found
    good (the GTIN a row is matched on), not checked again."""
    found: list[tuple[str, str]] = []
    for key, field in fields.items():
        value = values.get(key)
        if value is None or value == checked or (isinstance(value, str) and gtin_ok(value.strip())):
            continue
        if problem := gtin_problem(value):
            del values[key]
            found.append((field, problem))
    return found


def gtin_reason(problem: str, hint: str) -> str:
    """`problem; hint`, the problem cut so the whole fits in what `pim import errors` shows: the hint (what
    became of the value, what to do) is never cut off by a huge cell."""
    room = min(_SHOWN, REASON_SHOWN - len(hint) - 3)
    shown = problem if len(problem) <= room else problem[:room] + "…"
    return f"{shown}; {hint}"


def match_gtin(text: str | None) -> tuple[str | None, str | None]:
    """(the GTIN to match a supplier product on, why it is none): a GTIN that is none is not matched on."""
    if not text or gtin_ok(text):
        return text or None, None
    problem = gtin_problem(text)
    return (None, problem) if problem else (text, None)


def is_unit_gtin(gtin: str) -> bool:
    """Whether a valid GTIN names the trade unit itself: its GTIN-14 form has indicator digit 0 (a GTIN-8, -12
    or -13, or a GTIN-14 starting with 0). Digits 1-8 name a pack or case of the unit, 9 a variable-measure
    item: a supplier listing those first must not have them claimed as the product's EAN."""
    return gtin.zfill(14)[0] == "0"


def supplier_hint(*, stored: bool, matched: bool) -> str:
    """What became of a supplier's bad GTIN: left out of the values (`stored`: a GTIN attribute was to get it)
    and/or not used for matching (`matched`); without a cross-reference the product is then refused, whatever
    the profile's `unmatched` rule (`refuse_unlinked`: created, it could duplicate one of ours)."""
    parts = []
    if stored:
        parts.append("left out (a stored GTIN stays)")
    if matched:
        parts.append("not used for matching (no cross-reference: quarantined)")
    return ", ".join(parts) + "; ask the supplier to fix it"


def instead_hint(gtin: str, where: str) -> str:
    """What became of a bad GTIN of a product that also carries a valid one (`where`: its element and line):
    the valid one is matched on and stored, the bad one only noted."""
    return f"the valid GTIN {gtin} ({where}) is used instead; ask the supplier to fix it"


def unmatched_reason(problem: str, source: str, pid: str, unmatched: Literal["create", "quarantine"],
                     hint: bool = True) -> str:
    """Why a product whose GTIN was given but bad, and that the cross-reference does not know, is refused:
    the GTIN's problem first (match_skus' own text would say `GTIN none`), then why, then what to do (`hint`).
    Under `unmatched: create` it says why it was not created: with no cross-reference and no GTIN to match on,
    it may be one of ours (a mistyped GTIN is no proof that it is new)."""
    if unmatched == "create":  # kept within what `pim import errors` shows, for a short source name and PID
        said = f"{problem}; not created: it may be one of ours"
        return (f"{said}. Correct the GTIN in the file or run `pim import xref {source} {pid} SKU`, then import "
                "again") if hint else said
    said = f"{problem}; a bad GTIN is not matched on, and {source} product '{pid}' is not in the cross-reference"
    return f"{said}: ask the supplier to fix it, or add it with `pim import xref {source} {pid} SKU`" if hint else said


def refuse_unlinked(store: Store, source: str, items: Iterable[SourceItem | Rejected],
                    bad_of: Callable[[SourceItem], BadLink | None]) -> Iterator[SourceItem | Rejected]:
    """Under `unmatched: create`, ahead of pim.sources.match_skus: a product with no valid GTIN whose given one
    is bad (`bad_of`: its (field, problem), and the line of that field when it is not the product's) and that
    the cross-reference does not know is refused under that field, not created under the supplier's id: it may
    be one of ours with a mistyped GTIN, and created apart it would be a duplicate. One the cross-reference
    knows gets its SKU here (match_skus keeps a SKU it is given). One cross-reference query per batch that
    holds such products; order and streaming are kept."""
    for chunk in batched(items, store.batch_size):
        bad = {n: b for n, i in enumerate(chunk) if isinstance(i, SourceItem) and i.pid and not i.tried_gtins
               and not i.record.identifier.strip() and (b := bad_of(i)) is not None}
        known = cross_referenced(store, source, [chunk[n].pid or "" for n in bad]) if bad else {}
        for n, item in enumerate(chunk):
            if n in bad and isinstance(item, SourceItem):
                pid = item.pid or ""
                if pid in known:
                    item.record.identifier = known[pid]
                else:
                    field, problem, *at = bad[n]
                    item = Rejected(unmatched_reason(problem, source, pid, "create"), item.file,
                                    at[0] if at else item.line, field, item.raw, pid)
            yield item


def problem_notes(found: list[tuple[str, str]], file: str, line: int | None, raw: dict[str, Any] | None, key: str,
                  source: str) -> list[QuarantineEntry]:
    """(field, reason) pairs as the record's `Parsed.problems`: quarantined as `problem` once it is taken in,
    closed when a later import takes the record in without them (pim.importing)."""
    return [QuarantineEntry(reason, file, line, field, raw, key, source, severity="problem") for field, reason in found]
