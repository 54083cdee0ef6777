"""A channel pointed at another category tree: the products that leave its tree or join it get a new seq in
the same structure write, like the products under a moved category (pim.category_moves.resequence_listener).
Nothing in their records changed, but the category paths a channel's catalogs and search documents give
them did, and incremental exports and contract deltas only re-send what has a newer seq. Products in both
trees (or in neither) keep theirs.

Whichever way the tree changes (the channels page or `pim structure load`), the write runs this listener; it
reads the grid index's category rows (GRID_CATEGORY: a product is filed under every ancestor of its own and
its models' categories, so the tree's root row covers all of them)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from pim.store.store import PRODUCT


def tree_moves(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[str, str]]:
    """(old tree, new tree) of each channel of a structure write whose tree changed; a channel that appeared
    or went has no products to re-send (a new one's first export is a full one)."""
    found = []
    for code, new in after.items():
        old = before.get(code)
        if old and new and old.get("category_tree") != new.get("category_tree"):
            found.append((str(old.get("category_tree")), str(new.get("category_tree"))))
    return found


def under_one(old: str, new: str) -> Any:
    """(product_id, root) of each product filed under exactly one of the two roots: a grouped read on the grid
    index. The channels page counts it per root (pim.channel_usage.tree_change); this module re-sequences it."""
    from pim.grid_index import GRID_CATEGORY

    g = GRID_CATEGORY.c
    return (select(g.product_id, func.min(g.category).label("root")).where(g.category.in_([old, new]))
            .group_by(g.product_id).having(func.count(func.distinct(g.category)) == 1).subquery())


def leaving_or_joining(conn: Connection, old: str, new: str) -> list[str]:
    """The identifiers of the products filed under exactly one of the two roots."""
    either = select(under_one(old, new).c.product_id)
    return list(conn.execute(select(PRODUCT.c.identifier).where(PRODUCT.c.id.in_(either))).scalars())


def tree_resequence_listener(store: Any) -> Any:
    """A structure listener (registered with the grid index, whose category rows it reads): a channel write
    that changes a channel's tree gives every product leaving or joining it a new seq in the same transaction."""

    def on_structure(conn: Connection, kind: str, before: dict[str, Any], after: dict[str, Any]) -> None:
        if kind != "channel":
            return
        moved: set[str] = set()
        for old, new in tree_moves(before, after):
            moved.update(leaving_or_joining(conn, old, new))
        store.touch_products(conn, sorted(moved))

    return on_structure
