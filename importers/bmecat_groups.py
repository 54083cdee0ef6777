"""A BMEcat catalog group system → our categories, and the supplier's group assignments → category claims.

The map's `catalog_groups` says where groups land: `categories` maps a GROUP_ID to an existing category;
with `create_under`, every other group of the file's CATALOG_GROUP_SYSTEM becomes a category
`code_prefix + GROUP_ID` (labels from GROUP_NAME per the map's `languages`, parent from PARENT_ID, the root
group under `create_under`), saved through `Store.put_structure` like a category added on the admin page, so
the structure cache, completeness and the grid index follow. A category that exists already is left as it
is (an admin may have relabelled or moved it).

Categories are a structural field, replaced whole by a record that sets them (pim.merge). A supplier must not
wipe what the ERP or the category managers filed, so its claim covers only *its range*: the categories its map
names and every category below `create_under`. A product's categories outside that range stay; inside it they
become what the file says — a T_NEW_CATALOG states every product's groups (a product of the file with no
assignment leaves the range), a T_UPDATE_PRODUCTS adds (`mode="new"`) or removes (`mode="delete"`) one
assignment at a time, and a deleted product leaves the range. A T_NEW_CATALOG without any group or assignment
changes no product's categories (that export leaves groups out).

The claim is worked out from the file alone (`CategoryClaim`: what leaves the range, what is added, what is
removed) and applied to the product's categories as read inside the follow-up's write transaction, with the
rows locked (importers.bmecat_links.Followups), so a category another writer files meanwhile is kept."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from importers.bmecat_reader import BmecatHeader, CatalogGroup
from pim.catalog import Structure
from pim.errors import InputError
from pim.store import Store
from pim.store.store import QuarantineEntry
from pim.structure import Category

_CODE = re.compile(r"^[A-Za-z0-9_]{1,100}$")


def check_groups_map(cfg: Any, structure: Structure) -> None:
    """Refuse a `create_under` that is no category before anything is imported."""
    if cfg.create_under and cfg.create_under not in structure.categories:
        raise InputError(f"catalog_groups.create_under names '{cfg.create_under}', which is no category",
                         field="catalog_groups.create_under",
                         hint="create that category first (admin → categories, or a structure file), or fix the map")


@dataclass(frozen=True, slots=True)
class CategoryClaim:
    """The supplier's claim on one product's categories: `clear` takes the product out of the supplier's
    range (`span`) first — a whole catalog restating it, or a delete —, then `remove` and `add` apply. Pure, so
    it is applied to what is stored at the moment of the write, not at the moment it was worked out."""

    span: frozenset[str]
    clear: bool = False
    add: tuple[str, ...] = ()
    remove: frozenset[str] = frozenset()

    def apply(self, current: list[str]) -> list[str]:
        gone = self.span if self.clear else self.remove
        return list(dict.fromkeys([c for c in current if c not in gone] + list(self.add)))


class GroupPlacer:
    """Works out, once the file is read, which categories the supplier's groups are and which products go in."""

    def __init__(self, store: Store, cfg: Any, languages: dict[str, str], source: str, file: str) -> None:
        self.store, self.cfg, self.languages, self.source, self.file = store, cfg, languages, source, file
        self.problems: list[QuarantineEntry] = []
        self.created = 0  # categories saved by create_categories, over its calls

    def _problem(self, reason: str, line: int | None, field: str, key: str, raw: dict[str, Any] | None = None) -> None:
        self.problems.append(QuarantineEntry(reason, self.file, line, field, raw, key, self.source, severity="problem"))

    # ------------------------------------------------------------------ the group tree
    def create_categories(self, groups: dict[str, CatalogGroup], *, done: Iterable[str] = ()) -> int:
        """Save the file's unmapped groups as categories under `create_under` (missing ones only). `done`:
        groups an earlier call saw (the group system read ahead of the products), only used as parents now."""
        cfg = self.cfg
        seen = set(done)
        if not cfg.create_under or not groups or seen >= groups.keys():
            return 0
        structure = self.store.structure()
        codes: dict[str, str] = {}
        for gid, group in groups.items():
            if gid in cfg.categories:
                continue
            code = cfg.code_prefix + gid
            if _CODE.match(code):
                codes[gid] = code
            elif gid not in seen:
                self._problem(f"catalog group '{gid}' cannot become category '{code}' (codes are letters, digits and _, "
                              "at most 100): map it under catalog_groups.categories", group.line, "GROUP_ID",
                              f"catalog-group:{gid}")
        new: list[tuple[int, Category]] = []
        locales = set(structure.locales)
        for gid, code in codes.items():
            if code in structure.categories or gid in seen:
                continue
            group = groups[gid]
            labels = {self.languages[lang]: name for lang, name in group.names.items()
                      if self.languages.get(lang) in locales}
            try:
                new.append((_depth(gid, groups), Category(code=code, parent=self._parent(group, groups, codes), labels=labels)))
            except ValidationError as exc:
                self._problem(f"catalog group '{gid}': {exc.errors()[0]['msg']}", group.line, "GROUP_NAME", f"catalog-group:{gid}")
        if new:
            self.store.put_structure("category", [c for _, c in sorted(new, key=lambda x: x[0])])
        self.created += len(new)
        return len(new)

    def _parent(self, group: CatalogGroup, groups: dict[str, CatalogGroup], codes: dict[str, str]) -> str:
        parent = group.parent_id
        if group.type == "root" or not parent or parent == group.group_id or parent not in groups:
            return self.cfg.create_under
        if parent in self.cfg.categories:
            return str(self.cfg.categories[parent])
        return codes.get(parent, self.cfg.create_under)

    # ------------------------------------------------------------------ assignments
    def claims(self, header: BmecatHeader, file_skus: dict[str, str], deleted: Iterable[str],
               lookup: Callable[[Iterable[str]], dict[str, str]], cleared: Iterable[str] = ()) -> dict[str, CategoryClaim]:
        """SKU → the supplier's claim on its categories, for every product the file's groups may move (nothing
        is read from the products here: the follow-up applies each claim to what is stored when it writes).
        `file_skus`: supplier PID → SKU of the file's products; `deleted`: SKUs the file withdrew; `lookup`: PID
        → SKU of stored products, for assignments naming a product outside the file; `cleared`: SKUs the file
        deleted and then sent again — their groups start from the file's assignments, as a new catalog's do."""
        structure = self.store.structure()
        span = frozenset(self._range(structure))
        category_of = self._resolver(structure)
        pids = {a.pid for a in header.assignments}
        outside = lookup(pids - file_skus.keys()) if pids - file_skus.keys() else {}
        added: dict[str, list[str]] = {}
        removed: dict[str, set[str]] = {}
        for a in header.assignments:
            sku = file_skus.get(a.pid) or outside.get(a.pid)
            if sku is None:
                self._problem(f"PRODUCT_TO_CATALOGGROUP_MAP names supplier PID '{a.pid}', which is no product of this "
                              f"file or of ours; its group '{a.group_id}' is skipped", a.line, "PROD_ID", a.pid)
                continue
            code = category_of(a.group_id, a.line, sku)
            if code is None:
                continue
            if a.mode == "delete":
                removed.setdefault(sku, set()).add(code)
            else:
                added.setdefault(sku, []).append(code)
        # a new catalog states every product's groups — when it carries groups at all: a file without any is
        # an export that leaves them out, not one that takes every product out of the supplier's categories
        whole = header.transaction == "new_catalog" and bool(header.groups or header.assignments)
        deleted = set(deleted)
        out: dict[str, CategoryClaim] = {}
        if whole:
            leave = CategoryClaim(span, clear=True)  # shared: most products of a catalog are in no group of it
            out.update(dict.fromkeys(file_skus.values(), leave))
        for sku in deleted:
            out[sku] = CategoryClaim(span, clear=True)
        again = set(cleared) - deleted
        for sku in added.keys() | removed.keys():
            if sku not in deleted:
                out[sku] = CategoryClaim(span, clear=whole or sku in again, add=tuple(dict.fromkeys(added.get(sku, ()))),
                                         remove=frozenset(removed.get(sku, ())))
        for sku in again - added.keys() - removed.keys():
            out[sku] = CategoryClaim(span, clear=True)
        return out

    def _range(self, structure: Structure) -> set[str]:
        span = set(self.cfg.categories.values())
        if self.cfg.create_under:
            span |= structure.subtree(self.cfg.create_under) - {self.cfg.create_under}
        return span

    def _resolver(self, structure: Structure) -> Callable[[str, int, str], str | None]:
        cfg = self.cfg

        def category_of(gid: str, line: int, sku: str) -> str | None:
            code = cfg.categories.get(gid)
            if code is not None and code in structure.categories:
                return str(code)
            if code is not None:
                why = (f"catalog_groups.categories maps group '{gid}' to '{code}', which is no category; "
                       "the assignment is skipped")
            elif cfg.create_under and cfg.code_prefix + gid in structure.categories:
                return str(cfg.code_prefix + gid)
            elif cfg.create_under:
                why = (f"catalog group '{gid}' is not in the file's CATALOG_GROUP_SYSTEM nor a category "
                       f"'{cfg.code_prefix + gid}' yet; the assignment is skipped (import the catalog that defines it)")
            else:
                why = (f"catalog group '{gid}' is not mapped: add it under catalog_groups.categories, or set "
                       "catalog_groups.create_under to create the file's groups; the assignment is skipped")
            self._problem(why, line, "CATALOG_GROUP_ID", sku, {"CATALOG_GROUP_ID": gid})
            return None

        return category_of


def _depth(gid: str, groups: dict[str, CatalogGroup]) -> int:
    """Steps up to the root (a cycle stops the walk), so parents are saved before their children."""
    depth, seen, current = 0, {gid}, groups[gid].parent_id
    while current in groups and current not in seen:
        seen.add(current)
        depth, current = depth + 1, groups[current].parent_id
    return depth
