"""Disabled products in the per-locale completeness counts: they are never published, so the counts leave
them out and name them apart, as the to-do does (`pim.completeness.report`).

The stored counters (`completeness_count`) count every scored product; this reads the scores of the disabled
ones alone, starting from the product table's disabled rows, so the cost follows the disabled products, not the
catalog."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select


def disabled_by_locale(conn: Any, channel: str, locale: str | None = None) -> dict[str, tuple[int, int]]:
    """locale → (disabled products scored on `channel`, how many of them are complete)."""
    from pim.scoring_tables import COMPLETENESS as C
    from pim.scoring_tables import COMPLETENESS_COUNT as CC
    from pim.store.store import PRODUCT as P

    # the families scored on the channel, or a variant's taking its model's: so the product table's family ×
    # enabled index finds the disabled products (as the to-do's count does), not a scan of every score
    families = select(CC.c.family).where(CC.c.channel == channel).distinct()
    scored = P.c.family.in_(families) | (P.c.family.is_(None) & P.c.parent.is_not(None))
    q = (select(C.c.locale, func.count(), func.sum(case((C.c.ratio == 100, 1), else_=0)))
         .select_from(P.join(C, C.c.product == P.c.identifier))
         .where(scored, P.c.enabled.is_(False), C.c.channel == channel).group_by(C.c.locale))
    if locale:
        q = q.where(C.c.locale == locale)
    return {loc: (int(n), int(done or 0)) for loc, n, done in conn.execute(q)}
