"""GTIN checks every importer shares, so ERP and supplier imports treat a bad GTIN alike: it is left out of
the record (a GTIN stored before stays; nothing wrong reaches feeds or the search index), a supplier's is not
used to match its product to our SKU (a wrong check digit could pick someone else's product), and the record
carries a `problem` entry saying what became of it and what to do."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pim.product import split_key
from pim.quality import gtin_ok, gtin_problem, is_gtin_attribute
from pim.store.store import QuarantineEntry

#: `pim import errors` shows this many characters of a reason: the hint after the problem must fit in them.
REASON_SHOWN = 200
#: Longest gtin_problem text kept in an entry (it quotes the cell, which may be huge).
_SHOWN = 90

#: value key → the field (CSV column, XML path or element) that fills it, for keys of GTIN attributes.
GtinFields = dict[str, str]


def gtin_keys(targets: Iterable[tuple[str, str]]) -> GtinFields:
    """The (field, value key) pairs whose attribute holds GTINs (`pim.quality.is_gtin_attribute`), in the
    order they are applied: where two fields fill one key the last one's value is stored, so it is named."""
    return {key: field for field, key in targets if is_gtin_attribute(split_key(key)[0])}


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


def supplier_hint(*, stored: bool, matched: bool, unmatched: Literal["create", "quarantine"]) -> str:
    """What became of a supplier's bad GTIN: left out of the values (`stored`: a GTIN attribute was to get it)
    and/or not used for matching (`matched`); without a cross-reference the product then goes the way of one
    without a GTIN, by the profile's `unmatched` rule."""
    parts = []
    if stored:
        parts.append("left out (a stored GTIN stays)")
    if matched:
        fate = "created under the supplier id" if unmatched == "create" else "quarantined"
        parts.append(f"not used for matching (no cross-reference: {fate})")
    return ", ".join(parts) + "; ask the supplier to fix it"


def unmatched_reason(reason: str, problem: str, source: str, pid: str, unmatched: Literal["create", "quarantine"],
                     hint: bool = True) -> str:
    """Why matching (pim.sources.match_skus) refused a product whose bad GTIN was not matched on. Under
    `unmatched: quarantine` it found no SKU: said anew, the GTIN's problem first (match_skus' own text says
    `GTIN none`), then what to do (`hint`). Under `create` it refused to create the product under a code one of
    ours has: its reason stands, and says what to do; the GTIN is added."""
    if unmatched == "create":
        return f"{reason} (its GTIN was not matched on: {problem})"
    said = f"{problem}; a bad GTIN is not matched on, and {source} product '{pid}' is not in the cross-reference"
    return f"{said}: ask the supplier to fix it, or add it with `pim import xref {source} {pid} SKU`" if hint else said


def problem_notes(found: list[tuple[str, str]], file: str, line: int | None, raw: dict[str, Any] | None, key: str,
                  source: str) -> list[QuarantineEntry]:
    """(field, reason) pairs as the record's `Parsed.problems`: quarantined as `problem` once it is taken in,
    closed when a later import takes the record in without them (pim.importing)."""
    return [QuarantineEntry(reason, file, line, field, raw, key, source, severity="problem") for field, reason in found]
