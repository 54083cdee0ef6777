"""Moving a category under another parent, or making it a root: what `pim structure load` allows (any
declared parent, in any tree), minus what would corrupt the tree or break a channel. Refused: an unknown
parent, the category itself or one of its descendants (a cycle: its products would belong to no root), and
moving a channel's category tree under anything (a channel's tree is a root: its feeds and storefront keep
only the categories whose root it is, so it would publish no category at all).

The move itself is a structure write (Store.put_structure), so the grid index re-indexes the products under
the category with their new ancestors and the contracts and channel trees read the new parent the next time
they resolve. Those products also get a new seq in the same transaction (`resequence_listener`, whichever way
the move was made): nothing in their records changed, but their category paths did, and incremental exports
and contract deltas only re-send what has a newer seq."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, select

from pim.catalog import Structure
from pim.store.store import PRODUCT, batched


@dataclass
class MoveEffects:
    """What a move changes beyond the category row, said on the page so nothing moves silently."""

    old_tree: str | None
    new_tree: str | None
    channels_left: list[str] = field(default_factory=list)
    channels_joined: list[str] = field(default_factory=list)
    contracts: list[str] = field(default_factory=list)

    def sentence(self) -> str:
        parts = []
        if self.old_tree != self.new_tree:
            parts.append(f"It is now in the {self.new_tree} tree instead of {self.old_tree}.")
            for channels, verb in ((self.channels_left, "no longer show"), (self.channels_joined, "now show")):
                if channels:
                    many = len(channels) > 1
                    parts.append(f"Channel{'s' if many else ''} {', '.join(channels)} {verb}{'' if many else 's'} it.")
        if self.contracts:
            parts.append(f"The assortment of contract {', '.join(self.contracts)} changes with it.")
        return " ".join(parts)


def tree_channels(s: Structure, code: str) -> list[str]:
    """The channels whose category tree `code` is."""
    return sorted(c for c, ch in s.channels.items() if ch.category_tree == code)


def parent_choices(s: Structure, code: str) -> list[tuple[str, str]]:
    """(path shown, code) of every category `code` may move under: all but itself and its descendants."""
    below = s.subtree(code)
    return sorted((" / ".join(s.category_path(c)) or c, c) for c in s.categories if c not in below)


def move_problems(s: Structure, code: str, parent: str | None) -> list[str]:
    """Why `code` cannot move under `parent` (None: become a root); empty when it can."""
    if parent is None:
        return []
    if parent not in s.categories:
        return [f"parent category '{parent}' is not declared"]
    if parent == code:
        return [f"{code} cannot be its own parent"]
    if parent in s.subtree(code):
        return [f"{parent} is below {code} ({' / '.join(s.category_path(parent))}): moving {code} under it "
                "would make a cycle"]
    channels = tree_channels(s, code)
    if channels:
        return [f"{code} is the category tree of channel {', '.join(channels)}; a channel's tree must stay a root "
                f"(point the channel at another tree first, with `pim structure load`)"]
    return []


def effects(s: Structure, code: str, parent: str | None, contracts: list[Any]) -> MoveEffects:
    """Trees, channels and contract assortments the move changes. A contract changes when its assortment
    names an ancestor the category leaves or joins (one naming the category itself keeps the same products)."""
    old_above = set(s.category_path(code)[:-1])
    new_above = set(s.category_path(parent)) if parent else set()
    old_tree = s.tree_of(code)
    new_tree = (s.tree_of(parent) if parent else code)
    shifted = old_above ^ new_above
    named = sorted(c.code for c in contracts
                   if any(shifted & set(r.categories) for r in [*c.assortment.rules, *c.assortment.exclude]))
    out = MoveEffects(old_tree, new_tree, contracts=named)
    if old_tree != new_tree:
        out.channels_left = tree_channels(s, old_tree) if old_tree else []
        out.channels_joined = tree_channels(s, new_tree) if new_tree else []
    return out


def moved(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The categories of a structure write whose parent changed (a new category counts: it has no products)."""
    return sorted(c for c in after if (before.get(c) or {}).get("parent") != (after.get(c) or {}).get("parent"))


def resequence_listener(store: Any) -> Any:
    """A structure listener (registered with the grid index, whose category rows it reads, after it): a
    category write that moves categories gives every product under them a new seq in the same transaction,
    however the move was made (the admin page or `pim structure load`)."""

    def on_structure(conn: Connection, kind: str, before: dict[str, Any], after: dict[str, Any]) -> None:
        if kind == "category":
            touch_under(store, conn, [c for c in moved(before, after) if before.get(c)])

    return on_structure


def touch_under(store: Any, conn: Connection, codes: list[str]) -> int:
    """Give every product indexed under `codes` (their own, their sub-categories', their models') a new seq,
    so incremental exports and contract deltas send them again with their new category paths."""
    done = 0
    for chunk in batched(codes, 1000):
        done += store.touch_products(conn, _under(conn, chunk))
    return done


def products_under(store: Any, code: str) -> int:
    """How many products the grid index files under `code` (sub-categories and models included)."""
    from pim.grid_index import GRID_CATEGORY

    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count(func.distinct(GRID_CATEGORY.c.product_id)))
                                .where(GRID_CATEGORY.c.category == code)).scalar_one())


def _under(conn: Connection, codes: list[str]) -> list[str]:
    from pim.grid_index import GRID_CATEGORY

    return sorted(conn.execute(select(PRODUCT.c.identifier).where(PRODUCT.c.id.in_(
        select(GRID_CATEGORY.c.product_id).where(GRID_CATEGORY.c.category.in_(codes))))).scalars())
