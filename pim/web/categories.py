"""The catalog admins' category pages: the category trees, each category's labels and how many products and
product models are classified directly in it; adding a category (under a parent, or as the root of a new
tree), relabelling it per locale, moving it under another parent (pim.category_moves says which), deleting
an unused leaf. New codes and parents go through the structure files' own checks (pim.structure_files), and
every change through Store.put_structure / delete_structure, so the structure cache, completeness and the
grid index follow exactly as after `pim structure load`.

A move re-files the grid rows of every product under the category. Below REINDEX_IN_REQUEST products that
happens in the move's own transaction; a larger subtree's move queues a grid_reindex job in that transaction
instead (pim.grid_jobs), and until it succeeds this page and the grid say that the category filter may still
show those products under their old parents.

A category is deleted only when nothing needs it — no sub-category, no product or product model in it, no
channel using it as its tree, no contract's assortment naming it — since a product's category must exist
(pim.validation) and a contract rule naming a gone category would quietly match nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Connection, text

from pim import category_moves, grid_jobs, structure_deletes
from pim.catalog import Structure
from pim.structure import Category
from pim.structure_deletes import category_blockers as blockers
from pim.structure_deletes import classified_in
from pim.web.accounts import User
from pim.web.admin import admin_user
from pim.web.deps import check_csrf, store_of, structure_of
from pim.web.label_form import relabelled, typed_labels
from pim.web.structure_entry import checked_entry
from pim.web.ui import render

router = APIRouter(prefix="/admin/categories", include_in_schema=False)
#: A move re-filing at least this many products in the grid leaves it to a queued job: below it, the
#: re-index in the request takes up to about half a second (SQLite, ~3-5k products/s).
REINDEX_IN_REQUEST = 2000


@dataclass
class Node:
    """One category in the tree, with what is classified directly in it."""

    category: Category
    products: int = 0
    models: int = 0
    children: list[Node] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------- queries
def _elements(conn: Connection, table: str) -> str:
    """FROM clause pairing each row of `table` with each category code it lists (`c.value`)."""
    if conn.dialect.name == "postgresql":
        return (f"{table} t CROSS JOIN LATERAL jsonb_array_elements_text(CASE WHEN jsonb_typeof(t.categories) "
                f"= 'array' THEN t.categories ELSE '[]'::jsonb END) AS c(value)")
    return f"{table} t, json_each(t.categories) c"


def direct_counts(conn: Connection, table: str) -> dict[str, int]:
    """category → rows of `table` (product, product_model) listing it themselves (not through a sub-category
    or, for a variant, its model). One pass over the table: there is no index on the JSON list."""
    sql = f"SELECT c.value, count(DISTINCT t.id) FROM {_elements(conn, table)} GROUP BY c.value"
    return {str(code): int(n) for code, n in conn.execute(text(sql))}


# ---------------------------------------------------------------------------------------------- rules
def tree(s: Structure, products: dict[str, int], models: dict[str, int]) -> list[Node]:
    """The roots (categories without a declared parent), each with its sub-categories, sorted by code. A
    category only reachable through a cycle is listed as a root rather than lost."""
    nodes = {c: Node(cat, products.get(c, 0), models.get(c, 0)) for c, cat in s.categories.items()}
    children = s.children()
    placed: set[str] = set()

    def attach(code: str) -> Node:
        placed.add(code)
        node = nodes[code]
        node.children = [attach(c) for c in sorted(children.get(code, [])) if c not in placed]
        return node

    roots = [attach(c) for c, cat in sorted(s.categories.items())
             if (cat.parent is None or cat.parent not in s.categories) and c not in placed]
    return roots + [attach(c) for c in sorted(s.categories) if c not in placed]


def new_category(s: Structure, code: str, parent: str | None, labels: dict[str, str]) -> tuple[Category | None, list[str]]:
    """A category checked as a structure file's `categories:` entry would be (code pattern, declared
    parent), and new: an existing code is refused rather than overwritten."""
    category, problems = checked_entry(s, "categories", {"code": code, "parent": parent, "labels": labels},
                                       said=lambda e: f"{e['loc'][-1]}: {e['msg']}")
    if category is None:
        return None, problems
    if parent == code:
        problems.append("parent: a category cannot be its own parent")
    if code in s.categories:
        where = s.categories[code].parent
        problems.append(f"'{code}' is already a category" + (f" (under {where})" if where else " (a root)"))
    return (category if not problems else None), problems


# ---------------------------------------------------------------------------------------------- pages
def _tree_page(request: Request, user: User, *, error: str | None = None, notice: str | None = None,
               status: int = 200, form: dict[str, Any] | None = None) -> HTMLResponse:
    s = structure_of(request)
    with store_of(request).engine.connect() as conn:
        roots = tree(s, direct_counts(conn, "product"), direct_counts(conn, "product_model"))
    paths = sorted((" / ".join(s.category_path(c)) or c, c) for c in s.categories)
    page = render(request, "admin_categories.html", user, roots=roots, locales=s.enabled_locales(), paths=paths,
                  category=None, error=error, notice=notice, form=form or {},
                  grid_reindex=grid_jobs.unsettled(store_of(request)))
    page.status_code = status
    return page


def _category_page(request: Request, user: User, code: str, *, error: str | None = None,
                   notice: str | None = None, status: int = 200, form: dict[str, Any] | None = None) -> HTMLResponse:
    s = structure_of(request)
    cat = s.categories.get(code)
    if cat is None:
        raise HTTPException(404, f"no category '{code}'")
    store = store_of(request)
    with store.engine.connect() as conn:
        products, models = classified_in(conn, "product", code), classified_in(conn, "product_model", code)
    page = render(request, "admin_categories.html", user, category=cat, path=s.category_path(code),
                  children=sorted(s.children().get(code, [])), products=products, models=models,
                  blocked=blockers(store, s, code), locales=s.enabled_locales(), error=error, notice=notice,
                  form=form or {}, parents=category_moves.parent_choices(s, code),
                  tree_of=category_moves.tree_channels(s, code), grid_reindex=grid_jobs.unsettled(store),
                  reindex_threshold=REINDEX_IN_REQUEST)
    page.status_code = status
    return page


@router.get("")
def categories_page(request: Request, user: User = Depends(admin_user)) -> HTMLResponse:
    return _tree_page(request, user)


@router.post("", dependencies=[Depends(check_csrf)])
async def add_category(request: Request, user: User = Depends(admin_user)) -> Any:
    """`code`, `parent` (empty: a new root) and `label:<locale>`; `back` = the category page it came from."""
    s = structure_of(request)
    form = await request.form()
    code, parent = str(form.get("code", "")).strip(), str(form.get("parent", "")).strip() or None
    back = str(form.get("back", "")) or None
    cat, problems = new_category(s, code, parent, typed_labels(form, s.enabled_locales()))
    if cat is None:
        kept = {"code": code, "parent": parent or "", **{k: str(v) for k, v in form.items() if k.startswith("label:")}}
        if back in s.categories:
            return _category_page(request, user, back, error="; ".join(problems), status=422, form=kept)
        return _tree_page(request, user, error="; ".join(problems), status=422, form=kept)
    store_of(request).put_structure("category", [cat])
    where = f"under {parent}" if parent else "as a new root"
    if back in s.categories:
        return _category_page(request, user, back, notice=f"Added {code} {where}.")
    return _tree_page(request, user, notice=f"Added {code} {where}.")


@router.get("/{code}")
def category_page(code: str, request: Request, user: User = Depends(admin_user)) -> HTMLResponse:
    return _category_page(request, user, code)


@router.post("/{code}", dependencies=[Depends(check_csrf)])
async def relabel_category(code: str, request: Request, user: User = Depends(admin_user)) -> Any:
    """`label:<locale>` for the enabled locales; an emptied field drops that label, other locales' stay."""
    s = structure_of(request)
    cat = s.categories.get(code)
    if cat is None:
        raise HTTPException(404, f"no category '{code}'")
    form = await request.form()
    labels = relabelled(cat.labels, form, s.enabled_locales())
    if labels == cat.labels:
        return _category_page(request, user, code, notice="Nothing changed.")
    store_of(request).put_structure("category", [cat.model_copy(update={"labels": labels})])
    return _category_page(request, user, code, notice="Labels saved.")


@router.post("/{code}/move", dependencies=[Depends(check_csrf)])
async def move_category(code: str, request: Request, user: User = Depends(admin_user)) -> Any:
    """`parent`: the new parent's code (empty: make it a root). Its products are re-indexed under the new
    ancestors (the grid listener) and re-sent by incremental exports (category_moves.resequence_listener)."""
    from pim.contracts import get_contracts

    store, s = store_of(request), structure_of(request)
    cat = s.categories.get(code)
    if cat is None:
        raise HTTPException(404, f"no category '{code}'")
    form = await request.form()
    parent = str(form.get("parent", "")).strip() or None
    if parent == cat.parent:
        return _category_page(request, user, code, notice="Nothing changed.")
    problems = category_moves.move_problems(s, code, parent)
    if problems:
        return _category_page(request, user, code, error=f"{code} was not moved: {'; '.join(problems)}.", status=422)
    said = category_moves.effects(s, code, parent, get_contracts(store)).sentence()
    with grid_jobs.deferred(REINDEX_IN_REQUEST) as deferral:  # a large subtree: its grid re-index is queued
        store.put_structure("category", [cat.model_copy(update={"parent": parent})])  # re-sequences its products
    touched = category_moves.products_under(store, code)
    where = f"under {parent}" if parent else "to the top (a new root)"
    resent = f" {touched} product{'s' if touched != 1 else ''} under it will be sent again by incremental exports." \
        if touched else ""
    later = (f" Products under {code} are being re-filed in the grid (job {', '.join(map(str, deferral.jobs))}): until "
             "that finishes, the grid's category filter may still show them under their old parent categories."
             ) if deferral.jobs else ""
    return _category_page(request, user, code, notice=f"Moved {code} {where}. {said}".strip() + resent + later)


@router.post("/{code}/delete", dependencies=[Depends(check_csrf)])
def delete_category(code: str, request: Request, user: User = Depends(admin_user)) -> Any:
    """The rules are pim.structure_deletes' (the API and `pim structure delete` share them)."""
    try:
        done = structure_deletes.delete_category(store_of(request), code, structure=structure_of(request))
    except structure_deletes.NotFound:
        raise HTTPException(404, f"no category '{code}'") from None
    except structure_deletes.DeleteRefused as exc:
        return _category_page(request, user, code, error=str(exc), status=409)
    return _tree_page(request, user, notice=done.notice)
