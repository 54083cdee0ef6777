"""The publishing gate: whether a product may be published on a channel, and why not.

CONTRACT (other areas code against this):
- `evaluate(store, structure, channel, products)` yields (product, reasons) for every product; an empty
  reasons list means it passes. Reasons are short machine-readable strings such as
  "completeness:en_US:80<100", "missing:description:en_US", "duplicate_gtin:ean", "invalid:ean", "stale_price:price".
- `gate_stage` is the publish stage (registered in pim.registry.STAGES): it passes products that satisfy
  the channel's GateRules and records the others' reasons in ctx.blocked, and stores every decision
  (`decisions`, table gate_decision) so the UI and the search exporter can read the last one.

Rules: every locale of the channel (or the one in ctx.options["locale"]) must reach `min_completeness`; a
product without a family has no completeness and is blocked ("no_family") unless min_completeness is 0;
findings whose kind (or dimension, e.g. "valid") is in `block_on` block.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, select

from pim.catalog import Structure
from pim.completeness import Requirements
from pim.product import Product
from pim.protocols import PublishContext
from pim.quality import assess, inherited
from pim.scoring_tables import GATE_COUNT, GATE_DECISION
from pim.store.store import batched

BATCH = 500


def reasons_for(product: Product, findings: list[Any], structure: Structure, channel: str,
                locales: list[str] | None, requirements: Requirements, values: dict[str, Any] | None = None) -> list[str]:
    rules = structure.channels[channel].gate
    wanted = locales or structure.channels[channel].locales
    reasons: list[str] = []
    if rules.min_completeness > 0:
        if not product.family or product.family not in structure.families:
            reasons.append("no_family")
        scores = requirements.score(product.family, values if values is not None else product.values,
                                    product.identifier, channels=[channel])
        for s in scores:
            if s.locale in wanted and s.ratio < rules.min_completeness:
                reasons.append(f"completeness:{s.locale}:{s.ratio}<{rules.min_completeness}")
                reasons.extend(f"missing:{attr}:{s.locale}" for attr in s.missing)
    blocking = set(rules.block_on)
    for f in findings:
        if (f.kind in blocking or f.dimension in blocking) and (f.locale is None or f.locale in wanted):
            reasons.append(f.code)
    return list(dict.fromkeys(reasons))


def evaluate(store: Any, structure: Structure, channel: str, products: Iterable[Product], *,
             locales: list[str] | None = None, now: datetime | None = None) -> Iterator[tuple[Product, list[str]]]:
    requirements = Requirements(structure)
    for batch in batched(products, BATCH):
        values = inherited(store, batch)
        found = assess(store, structure, channel, batch, now=now, requirements=requirements, values=values)
        for product in batch:
            yield product, reasons_for(product, found[product.identifier], structure, channel, locales,
                                       requirements, values[product.identifier])


def gate_stage(products: Iterable[Product], ctx: PublishContext) -> Iterator[Product]:
    store = ctx.options.get("store")
    locale = ctx.options.get("locale")
    decided: list[tuple[str, list[str]]] = []
    for product, reasons in evaluate(store, ctx.structure, ctx.channel, products, locales=[locale] if locale else None):
        decided.append((product.identifier, reasons))
        if reasons:
            ctx.blocked.setdefault(product.identifier, []).extend(reasons)
        else:
            yield product
        if store is not None and len(decided) >= BATCH:
            record_decisions(store, ctx.channel, decided)
            decided = []
    if store is not None and decided:
        record_decisions(store, ctx.channel, decided)


gate_stage.name = "gate"  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------- stored decisions
def reason_kind(reason: str) -> str | None:
    """What the report counts a reason under: completeness per locale, the finding kind otherwise; the
    `missing:` details are not counted (the to-do list has them)."""
    parts = reason.split(":")
    if parts[0] == "completeness":
        return ":".join(parts[:2])
    return None if parts[0] == "missing" else parts[0]


def _kinds(reasons: list[str]) -> set[str]:
    kinds = {k for k in map(reason_kind, reasons) if k}
    return kinds | {"*"} if reasons else kinds


def record_decisions(store: Any, channel: str, decisions: list[tuple[str, list[str]]]) -> None:
    """Store the last decision per product × channel and move the blocked counters by the difference."""
    from pim.rescore import increment

    stamp = datetime.now(UTC)
    latest = dict(decisions)
    with store.begin() as conn:
        old = {p: r for p, r in conn.execute(select(GATE_DECISION.c.product, GATE_DECISION.c.reasons).where(
            GATE_DECISION.c.channel == channel, GATE_DECISION.c.product.in_(list(latest))))}
        delta: Counter[str] = Counter()
        for ident, reasons in latest.items():
            delta.update(_kinds(reasons))
            delta.subtract(_kinds(old.get(ident) or []))
        rows = [{"product": i, "channel": channel, "passed": not r, "reasons": r, "decided_at": stamp} for i, r in latest.items()]
        store.upsert_rows(conn, GATE_DECISION, rows, ["product", "channel"])
        increment(conn, GATE_COUNT, ["channel", "kind"],
                  [{"channel": channel, "kind": k, "products": n} for k, n in sorted(delta.items()) if n])


def forget_decisions(conn: Connection, identifiers: list[str]) -> None:
    """Deleted products leave the gate's counts."""
    from pim.rescore import increment

    delta: Counter[tuple[str, str]] = Counter()
    for product, channel, reasons in conn.execute(select(GATE_DECISION.c.product, GATE_DECISION.c.channel, GATE_DECISION.c.reasons)
                                                  .where(GATE_DECISION.c.product.in_(identifiers))):
        for kind in _kinds(reasons or []):
            delta[(channel, kind)] -= 1
    conn.execute(delete(GATE_DECISION).where(GATE_DECISION.c.product.in_(identifiers)))
    increment(conn, GATE_COUNT, ["channel", "kind"], [{"channel": c, "kind": k, "products": n} for (c, k), n in sorted(delta.items())])


def decisions(store: Any, identifiers: list[str], channel: str | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    """(identifier, channel) → {passed, reasons, decided_at}: the last stored decisions."""
    q = select(GATE_DECISION).where(GATE_DECISION.c.product.in_(identifiers))
    if channel:
        q = q.where(GATE_DECISION.c.channel == channel)
    with store.engine.connect() as conn:
        return {(m["product"], m["channel"]): {"passed": m["passed"], "reasons": m["reasons"], "decided_at": m["decided_at"]}
                for m in (r._mapping for r in conn.execute(q))}
