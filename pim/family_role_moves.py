"""A family's label or image attribute changed: its products get a new seq in the same structure write, like the
products under a moved category (pim.category_moves) or a channel's new tree (pim.channel_tree_moves). Their
records did not change, but the name and image every channel catalog, search document and customer feed shows
for them did, and incremental exports and contract deltas only re-send what has a newer seq."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from pim.store.store import PRODUCT

ROLES = ("attribute_as_label", "attribute_as_image")


def changed_roles(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The families of a structure write whose label or image attribute changed (a new or deleted family has no
    products to re-send)."""
    return sorted(code for code, new in after.items()
                  if (old := before.get(code)) and new and any(old.get(r) != new.get(r) for r in ROLES))


def family_role_listener(store: Any) -> Any:
    """A structure listener: a family write that changes its label or image attribute gives the family's products
    (variants taking it from their model included) a new seq in the same transaction."""
    from pim.grid_jobs import left_in_write
    from pim.rescore_jobs import of_family

    def on_structure(conn: Connection, kind: str, before: dict[str, Any], after: dict[str, Any]) -> None:
        if kind != "family":
            return
        for family in left_in_write(changed_roles(before, after)):  # a large family's: its queued job (pim.grid_jobs)
            members = conn.execute(select(PRODUCT.c.identifier).where(of_family(family))).scalars()
            store.touch_products(conn, list(members))

    return on_structure
