"""Which attributes may leave the PIM: every one but those marked `internal: true` (pim.structure.Attribute), which
staff keep (a purchase price, a supplier's own code) and no output publishes. The one place the channels (the
storefront's values, search documents, field mappings), the customer feed writers and `pim feeds load` ask, so
that a new output cannot forget the rule: an output that writes "every attribute" leaves internal ones out
(`published_codes`), and a mapping or contract that names one is refused (`internal_named`, `refusal`), since
sending it would leak it and dropping it silently would hide the mistake."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pim.catalog import Structure

#: What to do about a refusal, for every output's message: `fix` is the output's own way out.
UNMARK_HINT = ("{fix}; if customers may see it after all, set `internal: false` on the attribute in the structure "
               "(pim structure load, or the attribute's settings page)")


def internal_codes(s: Structure) -> frozenset[str]:
    """The attributes no output publishes."""
    return frozenset(code for code, a in s.attributes.items() if a.internal)


def is_published(s: Structure, code: str | None) -> bool:
    """Whether an output may write `code`'s values (an unknown code is no attribute: nothing of it is internal)."""
    attr = s.attributes.get(code or "")
    return attr is None or not attr.internal


def published_codes(s: Structure, codes: Iterable[str]) -> list[str]:
    """`codes` without the internal attributes, in their order: what an output writing "every attribute" writes."""
    hidden = internal_codes(s)
    return [c for c in codes if c not in hidden]


def internal_named(s: Structure, codes: Iterable[str | None]) -> list[str]:
    """The internal attributes among `codes` (a mapping's, a contract's fields), each once, in their order."""
    hidden = internal_codes(s)
    return list(dict.fromkeys(c for c in codes if c and c in hidden))


def refusal(what: str, codes: list[str], fix: str = "remove {codes} from it") -> tuple[str, str]:
    """(message, hint) refusing `what` (e.g. "contract 'x': fields") for naming the internal attributes `codes`;
    `fix`: what the hint suggests first ({codes}: their names)."""
    names = ", ".join(codes)
    many = len(codes) > 1
    return (f"{what} names {'the internal attributes' if many else 'the internal attribute'} {names}, which "
            f"{'are' if many else 'is'} kept for staff and never published",
            UNMARK_HINT.format(fix=fix.format(codes=names)))


def contract_internal_fields(contract: Any, s: Structure) -> list[tuple[str, list[str]]]:
    """(field of the contract, the internal attributes it names) for each place a customer contract names one: its
    `fields`, its `pricing.list_price_attribute` (set or the default `price`: the price a customer without a price
    list pays; unread under `fallback: exclude`), and the BMEcat options it sets itself (their defaults, e.g.
    `gtin_attribute: ean`, are left out of the feed when internal, as "every attribute" is, rather than refused)."""
    out: list[tuple[str, list[str]]] = []
    if named := internal_named(s, contract.fields):
        out.append(("fields", named))
    pricing = contract.pricing
    if pricing.fallback != "exclude" and (named := internal_named(s, [pricing.list_price_attribute])):
        out.append(("pricing.list_price_attribute", named))
    if contract.format == "bmecat":
        opts = contract.bmecat
        for name in sorted(opts.model_fields_set):
            value = getattr(opts, name)
            if name.endswith("_attribute") and isinstance(value, str) and (named := internal_named(s, [value])):
                out.append((f"bmecat.{name}", named))
    return out
