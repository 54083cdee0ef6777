"""REST API under /api/v1 (OpenAPI at /api/v1/openapi.json via the app). Bearer-token auth: every route
needs a token, checked before the body is read (pim.web.api_route); editing values and creating products need
the editor role, deleting a product the admin role. Every refusal answers `{"errors": [{field?, message}]}`
(pim.web.api_errors). The pipeline's routes (uploads, publish, a job's rejected rows, retry) live in
pim.web.api_pipeline and are included here."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field, StrictBool

from pim.errors import ConfigError, InputError
from pim.grid_query import quality_problem, scope_problem
from pim.product import Product, ProductModel, split_key
from pim.structure import STRUCTURE_KINDS
from pim.validation import identifier_problem
from pim import association_claims
from pim.web import api_pipeline, api_quality, api_structure, editing, panels
from pim.web.accounts import User
from pim.web.api_errors import documented, field_errors, refuse, refused
from pim.web.api_models import (
    Change,
    ChangePage,
    JobId,
    RequestBody,
    api_role,
    id_cursor,
    job_json,
    key_cursor,
    parse_key_cursor,
    product_json,
    resolved_json,
    since_cursor,
    utc_iso,
)
from pim.web.api_route import ApiRoute
from pim.web.deps import api_editor, api_user, store_of, structure_of
from pim.web.editing import BULK_MAX, EditResult, apply_bulk, apply_values, history
from pim.web.grid import GridFilter, page

#: Every API route's refusals; a route's own `responses` add its 403, 404 and 409 (and may say more for these).
REFUSALS = documented({
    401: "no bearer token, or an unknown or revoked one (checked before the body is read)",
    422: "a body, query or path parameter that is not what the route takes: each with its field and message",
    429: "this address is throttled after too many failed token checks (whatever token it sends now): wait the "
         "Retry-After seconds",
    503: "the database is unavailable, or stopped the request's transaction for another writer's (a deadlock): "
         "nothing was saved; send it again after the Retry-After seconds"})

router = APIRouter(prefix="/api/v1", tags=["api"], route_class=ApiRoute, responses=REFUSALS)


class GridItem(BaseModel):
    id: int
    identifier: str
    family: str | None
    enabled: bool
    label: str
    completeness: int | None = Field(description="Ratio on the filter's channel × locale, when scored.")
    source: str | None


class ProductPage(BaseModel):
    items: list[GridItem]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null at the end.")


class ValuesPatch(RequestBody):
    values: dict[str, Any] = Field(description="value key (attr[:locale][@channel]) → data; null clears a value.")
    expected: dict[str, Any] | None = Field(default=None, description=(
        "value key → the value your client last read (null: none). A key whose stored value is no longer that is "
        "not written (someone or an import changed it since) and comes back under `stale` with the value stored "
        "now and who stored it; the other keys are written. Leave it out to write without the check."))


def grid_filter(
    q: str | None = None, family: str | None = None, category: str | None = None, enabled: bool | None = None,
    channel: str | None = None, locale: str | None = None,
    completeness: str | None = Query(None, pattern=r"^(complete|incomplete|below:\d{1,3})$"),
    missing: str | None = None, quality: str | None = None, source: str | None = None,
) -> GridFilter:
    return GridFilter(q, family, category, enabled, channel, locale, completeness, missing, quality, source)


@router.get("/products", response_model=ProductPage)
def list_products(request: Request, f: GridFilter = Depends(grid_filter), cursor: str | None = None,
                  limit: int = Query(50, ge=1, le=500), user: User = Depends(api_user)) -> ProductPage:
    after, structure = id_cursor(cursor), structure_of(request)
    if (wrong := scope_problem(f, structure)) is not None:  # else its completeness filters would match anything
        raise refuse(422, wrong[1], f"query.{wrong[0]}")
    if (wrong_quality := quality_problem(f, structure)) is not None:  # else an unknown reason matches nothing
        raise refuse(422, wrong_quality, "query.quality")
    rows, nxt = page(store_of(request), f, structure, after=after, limit=limit)
    return ProductPage(items=[GridItem(id=r.id, identifier=r.identifier, family=r.family, enabled=r.enabled,
                                       label=r.label, completeness=r.ratio, source=r.source) for r in rows],
                       next_cursor=str(nxt) if nxt else None)


def _product_json(request: Request, identifier: str) -> dict[str, Any]:
    product = store_of(request).get_product(identifier)
    if product is None:
        raise HTTPException(404, f"no product '{identifier}'")
    return product_json(product)


@router.get("/products/{identifier}", responses=documented({404: "no such product"}))
def get_product(identifier: str, request: Request, resolved: bool = Query(False, description=(
                    "A variant's values merged with its product models' (what the channels publish), each "
                    "inherited one named in `inherited_from` (value key → `model:<code>`) with its model's "
                    "provenance, and its categories followed by its models' it lacks (parent first). Without "
                    "it, only the values and categories the variant holds itself.")),
                user: User = Depends(api_user)) -> dict[str, Any]:
    store = store_of(request)
    product = store.get_product(identifier)
    if product is None:
        if store.existing_model_codes([identifier]):
            raise HTTPException(404, f"no product '{identifier}': it is a product model; GET "
                                     f"/api/v1/models/{quote(identifier, safe='')}")
        raise HTTPException(404, f"no product '{identifier}'")
    if not resolved:
        return product_json(product)
    return resolved_json(product, store.ancestors(product) if product.parent else [])


@router.get("/models/{code}", responses=documented({404: "no such product model"}))
def get_model(code: str, request: Request, user: User = Depends(api_user)) -> dict[str, Any]:
    """A product model as GET /products/{id} answers a product: its own values (those its variants inherit),
    family variant, parent model, categories, associations and provenance."""
    model = store_of(request).get_model(code)
    if model is None:
        raise HTTPException(404, f"no product model '{code}'")
    return product_json(model)


@router.get("/changes", response_model=ChangePage)
def changes(request: Request, since: str | None = Query(None, description="The last answer's `next_since`; 0 "
                                                           "(or left out) for the whole catalog."),
            limit: int = Query(100, ge=1, le=1000), user: User = Depends(api_user)) -> ChangePage:
    """Products written or deleted after write sequence `since`, oldest first: an integrator's incremental
    sync. Keep `next_since` and ask again (at once while `more`); GET each `upsert`, drop each `delete`. A
    product is listed once, with its latest change (deleted and created again: `upsert`), so a product written
    while a client pages shows up again further on. A product model's write is a write of every variant below
    it (they get a new seq); a model without variants is not listed. Products re-stamped without a new record
    (stock, category or channel tree moves) are listed too, for what the channels publish of them changed."""
    after = since_cursor(since)
    rows = store_of(request).changes_since(after, limit + 1)
    more, rows = len(rows) > limit, rows[:limit]
    return ChangePage(changes=[Change(identifier=ident, seq=seq, action="upsert" if written else "delete")
                               for seq, ident, written in rows],
                      next_since=rows[-1][0] if rows else after, more=more)


class ProductPatch(ValuesPatch):
    values: dict[str, Any] = Field(default_factory=dict, description="value key (attr[:locale][@channel]) → data; "
                                   "null clears a value.")
    enabled: StrictBool | None = Field(None, description="Enable (true) or disable (false) the product (a JSON boolean; "
                                       "\"yes\" is refused); left out: as is.")
    categories: list[str] | None = Field(None, description="The product's own category codes (replacing them; a "
                                         "variant keeps those it inherits from its models); left out: as they are.")


@router.patch("/products/{identifier}", responses=documented({
    403: "viewers may not edit values", 404: "no such product",
    422: "each wrong value as `body.values.<key>` with its message, an unknown category as `body.categories` (or the "
         "body's own problem); nothing changed"}))
def patch_values(identifier: str, body: ProductPatch, request: Request, user: User = Depends(api_editor)) -> Any:
    """Validate every value; on any error nothing changes and each wrong key gets its message. With `expected`, a
    value changed since the client read it is left as it is and listed under `stale` (as the product page does).
    `enabled` and `categories` are checked first and written after the values (pim.web.product_fields)."""
    from pim.web.product_fields import apply_fields, category_errors

    store, structure = store_of(request), structure_of(request)
    if body.categories is not None and (wrong := category_errors(structure, body.categories)):
        return refused(field_errors(wrong))
    result = apply_values(store, identifier, body.values, user.username, structure=structure,
                          expected=body.expected) if body.values else EditResult(store.get_product(identifier))
    if result.product is None:
        raise HTTPException(404, f"no product '{identifier}'")
    if result.errors:  # a value the model holds: name the model's route (pim.web.api_model_hint)
        from pim.web.api_model_hint import with_model_endpoints

        result.errors = with_model_endpoints(store, structure, result.product, result.errors)
    if not result.errors and (body.enabled is not None or body.categories is not None):
        fields = apply_fields(store, identifier, user.username, s=structure, enabled=body.enabled,
                              categories=body.categories)
        if fields.errors:
            return refused(field_errors(fields.errors))
        result.changed += fields.changed
        result.product = fields.product or result.product
    return _edited(result, "product", result.product)


@router.patch("/models/{code}", responses=documented({
    403: "viewers may not edit values", 404: "no such product model",
    422: "each wrong value as `body.values.<key>` with its message (a value of a variant's level, the identifier "
         "attribute, or the body's own problem); nothing changed"}))
def patch_model(code: str, body: ValuesPatch, request: Request, user: User = Depends(api_editor)) -> Any:
    """PATCH /products/{id} for a product model: the values its variants inherit (each variant below it is
    re-listed by GET /changes). The family variant's levels decide which values the model holds; `expected`
    works as for a product; all or nothing, in one transaction. Answers `model` as GET /models/{code} does."""
    from pim.web.editing import apply_model_values

    store, structure = store_of(request), structure_of(request)
    ident = structure.identifier_attribute
    if any(split_key(key)[0] == ident for key, value in body.values.items() if value is not None):
        return refused(field_errors({f"values.{ident}": f"'{ident}' is the identifier attribute: a product model "
                                     "holds no value of it (its key is its code, which cannot be changed); leave "
                                     "it out"}))
    result = apply_model_values(store, code, body.values, user.username, structure=structure,
                                expected=body.expected)
    model = store.get_model(code)
    if model is None:
        raise HTTPException(404, f"no product model '{code}'")
    return _edited(result, "model", model)


def _edited(result: EditResult, kind: str, record: Product | ProductModel) -> Any:
    """A PATCH's answer: the refusal (each wrong key under `body.values.`), or what changed, what another source
    still shows, the `stale` keys (not written) and the record (under `kind`) as it is now."""
    if result.errors:
        return refused(field_errors({f"values.{key}": message for key, message in result.errors.items()}))
    stale = {key: {"now": s.now, "by": s.by, "yours": s.yours} for key, s in result.stale.items()}
    return {"changed": result.changed, "outranked": result.outranked, **({"stale": stale} if stale else {}),
            kind: product_json(record)}


class MassEdit(RequestBody):
    identifiers: list[str] = Field(min_length=1, max_length=BULK_MAX,
                                   description=f"The products to set the values on (at most {BULK_MAX:,}).")
    values: dict[str, Any] = Field(min_length=1, description="value key (attr[:locale][@channel]) → data, as PATCH "
                                   "takes them; null clears (withdraws the content team's claim).")


class MassEditResult(BaseModel):
    changed: int = Field(description="Products whose shown value changed.")
    unchanged: int = Field(description="Products already showing it.")
    outranked: int = Field(description="Products where another source ranks first: the edit is kept as a claim.")
    on_models: int = Field(description="Variants left as they are: their product models hold the attribute (the "
                           "value is shared by every variant of the model). Set it on the models listed in `models`.")
    models: list[str] | None = Field(None, description="Only when `on_models` is above 0: the product models "
                                     "holding the values those variants were left for. Send the same values to PATCH "
                                     "/api/v1/models/{code} for each (every variant below it shows them).")
    missing: list[str] = Field(description="Identifiers not in the catalog.")
    refused: dict[str, str] = Field(description="Identifier → why its edit was refused (a sibling's axis values, "
                                    "an emptied axis); nothing of it was written.")
    emptied: int = Field(0, description="A clear (null): products cleared and now empty (also in `changed`).")
    fell_back: dict[str, int] = Field(default_factory=dict, description="A clear: source → products cleared and "
                                      "now showing that source's value (also in `changed`).")
    not_theirs: int = Field(0, description="A clear: products left showing another source's value, nothing of the "
                            "content team's showed to clear (edit that source, or outrank it).")


@router.post("/products/mass-edit", response_model=MassEditResult, response_model_exclude_none=True,
             responses=documented({
    403: "viewers may not edit values",
    422: "each wrong value as `body.values.<key>` with its message (or the body's own problem); nothing changed"}))
def mass_edit(body: MassEdit, request: Request, user: User = Depends(api_editor)) -> Any:
    """The same values on many products, as the grid's mass edit: validated once (a wrong value changes
    nothing), merged as the content team's claims a batch at a time, each product's outcome counted."""
    result = apply_bulk(store_of(request), body.identifiers, body.values, user.username,
                        structure=structure_of(request))
    if result.errors:
        return refused(field_errors({f"values.{key}": message for key, message in result.errors.items()}))
    return MassEditResult(changed=result.changed, unchanged=result.unchanged, outranked=result.outranked,
                          on_models=result.on_models, models=result.models or None, missing=result.missing, refused=result.refused,
                          emptied=result.emptied, fell_back=result.fell_back, not_theirs=result.not_theirs)


class ProductCreate(RequestBody):
    identifier: str = Field(min_length=1, max_length=255)
    family: str = Field(description="A family code; the values must be its attributes.")
    categories: list[str] = Field(default_factory=list, description="Category codes.")
    values: dict[str, Any] = Field(default_factory=dict, description="value key (attr[:locale][@channel]) → data, "
                                   "as PATCH takes them; the identifier attribute is set from `identifier`.")
    enabled: bool = True


@router.post("/products", status_code=201, responses={
    201: {"description": "the product as GET returns it; `Location` is its URL"},
    **documented({403: "viewers may not create products", 409: "the identifier exists",
                  422: "each wrong field (`body.family`, a value as `body.values.<key>`…) with its message; "
                       "nothing written"})})
def create_product(body: ProductCreate, request: Request, response: Response,
                   user: User = Depends(api_editor)) -> Any:
    """Create one product, validated like an imported record; its values are the content team's claim."""
    from pim.web.product_create import create_product as create

    if (wrong := identifier_problem(body.identifier)) is not None:
        return refused(field_errors({"identifier": f"identifier {body.identifier!r} {wrong}"}))
    result = create(store_of(request), structure_of(request), user.username, identifier=body.identifier,
                    family=body.family, categories=body.categories, values=body.values, enabled=body.enabled)
    if result.exists:
        raise HTTPException(409, f"product '{body.identifier}' exists; change it with PATCH")
    if result.errors or result.product is None:
        return refused(field_errors(result.errors))
    response.headers["Location"] = f"/api/v1/products/{quote(body.identifier, safe='')}"
    return product_json(result.product)


@router.delete("/products/{identifier}", status_code=204, responses=documented({
    403: "only admins delete products", 404: "no such product"}))
def delete_product(identifier: str, request: Request,
                   user: User = Depends(api_role("admin", "delete products"))) -> Response:
    """Delete a product through the store's delete, which leaves a tombstone: incremental publications and
    contract delta feeds send the deletion."""
    if not store_of(request).delete_products([identifier]):
        raise HTTPException(404, f"no product '{identifier}'")
    return Response(status_code=204)


@router.get("/products/{identifier}/completeness", responses=documented({
    404: "no such product", 501: "completeness is not installed"}))
def product_completeness(identifier: str, request: Request, user: User = Depends(api_user)) -> list[dict[str, Any]]:
    _product_json(request, identifier)
    rows = panels.completeness(store_of(request), identifier)
    if rows is None:
        raise HTTPException(501, "completeness is not available in this installation")
    return [{k: r[k] for k in ("channel", "locale", "ratio", "required", "missing")} for r in rows]


@router.get("/products/{identifier}/candidates", responses=documented({404: "no such product"}))
def product_candidates(identifier: str, request: Request, user: User = Depends(api_user)) -> list[dict[str, Any]]:
    """The losing claims kept for the product's values and for the models it inherits from."""
    product = store_of(request).get_product(identifier)
    if product is None:
        raise HTTPException(404, f"no product '{identifier}'")
    others = panels.other_values(store_of(request), identifier, product.parent)
    return [o.as_dict() for keys in others.values() for claims in keys.values() for o in claims]


@router.get("/products/{identifier}/associations", responses=documented({404: "no such product"}))
def product_associations(identifier: str, request: Request, user: User = Depends(api_user)) -> list[dict[str, Any]]:
    """Per association type: the targets that show, the source they come from, and the other sources' claims
    waiting behind them (settled by the precedence's `associations`); the product's types, then those of the
    models it inherits from (`target`: where each is decided, the SKU or `model:<code>`)."""
    store = store_of(request)
    product = store.get_product(identifier)
    if product is None:
        raise HTTPException(404, f"no product '{identifier}'")
    return association_claims.overview(store, product, store.ancestors(product))


class AssociationPick(RequestBody):
    source: str = Field(description="The source whose waiting claim should show, e.g. `supplier:acme`.")
    target: str | None = Field(default=None, description="`model:<code>` for an association type of a model the "
                               "product inherits from; the product itself when unset.")


@router.post("/products/{identifier}/associations/{assoc_type}", responses=documented({
    403: "viewers may not pick", 404: "no such product",
    422: "no source claims that association type on the target, the source claims none of it, or a target the "
         "product does not inherit from"}))
def pick_association(identifier: str, assoc_type: str, body: AssociationPick, request: Request,
                     user: User = Depends(api_editor)) -> dict[str, Any]:
    """Show a source's claim on an association type instead of the one precedence shows, on the product or
    (`target`) a model it inherits from. The pick is pinned (later imports keep it until that source
    withdraws its claim, or someone picks again); answers the type as the associations list shows it."""
    store = store_of(request)
    target = _target(store, identifier, body.target)
    try:
        log = editing.ChoiceLog(target, editing.ASSOCIATION_KEY + assoc_type, user.username, body.source)
        association_claims.pick(store, target, assoc_type, body.source, by=user.username, log=log)
    except InputError as exc:
        raise refuse(422, exc.in_one_line(), "body.source" if exc.field == "source" else "path.assoc_type") from None
    product = store.get_product(identifier)
    rows = association_claims.overview(store, product, store.ancestors(product))  # type: ignore[arg-type]
    return next(row for row in rows if row["target"] == target and row["type"] == assoc_type)


class SourcePick(RequestBody):
    source: str = Field(description="The source whose value should show, e.g. `erp` or `supplier:acme`.")
    target: str | None = Field(default=None, description="`model:<code>` for a value the product inherits from "
                               "that model; the product itself when unset.")


def _conflict_json(c: Any) -> dict[str, Any]:
    return {"identifier": c.identifier, "value_key": c.value_key, "attribute": c.attribute, "winner": c.winner,
            "claims": c.claims, "status": c.status, "pinned": c.pinned, "resolved_by": c.resolved_by,
            "detected_at": utc_iso(c.detected_at), "updated_at": utc_iso(c.updated_at)}


_PAGED = {"headers": {
    "X-Total-Count": {"description": "How many rows match the query, on every page.", "schema": {"type": "integer"}},
    "Link": {"description": 'The next page, `<url>; rel="next"` (its ?cursor=); absent on the last page.',
             "schema": {"type": "string"}}}}


@router.get("/conflicts", responses={200: _PAGED, **documented({404: "no product `identifier`"})})
def conflicts(request: Request, response: Response, identifier: str | None = None,
              status: Literal["open", "resolved", "pinned"] = "open", cursor: str | None = None,
              limit: int = Query(100, ge=1, le=1000), user: User = Depends(api_user)) -> list[dict[str, Any]]:
    """Open conflicts (two owning sources disagree on a value), oldest product first; of one product (and the
    models it inherits from) with `identifier`. `status`: `resolved` (a person picked) or `pinned` (every pick
    still pinned, whatever its status, with `resolved_by`). The body stays a bare list (as before paging); a cut
    one says so in its headers: `X-Total-Count`, and `Link` with the next page's ?cursor= (a keyset: rows picked
    while a client pages leave the list without making it skip any)."""
    from pim.conflicts import conflicts_of_product, count_conflicts, listed_conflicts

    store, after = store_of(request), parse_key_cursor(cursor)  # keyset: a pick while paging skips no row
    if identifier is not None:
        product = store.get_product(identifier)
        if product is None:
            raise HTTPException(404, f"no product '{identifier}'")
        every = [c for c in conflicts_of_product(store, identifier, product.parent) if c.listed_as(status)]

        def order(ident: str, key: str) -> tuple[bool, str, str]:  # conflicts_of_product's order
            return ident != identifier, ident, key

        rows = [c for c in every if after is None or order(c.identifier, c.value_key) > order(*after)][:limit + 1]
        total = len(every)
    else:
        rows = listed_conflicts(store, status=status, limit=limit + 1, after=after)
        total = count_conflicts(store, status=status) if after or len(rows) > limit else len(rows)
    more, rows = len(rows) > limit, rows[:limit]
    response.headers["X-Total-Count"] = str(total)
    if more:
        nxt = request.url.include_query_params(cursor=key_cursor(rows[-1].identifier, rows[-1].value_key))
        response.headers["Link"] = f'<{nxt.path}?{nxt.query}>; rel="next"'
    return [_conflict_json(c) for c in rows]


@router.post("/products/{identifier}/conflicts/{value_key}", responses=documented({
    403: "viewers may not pick", 404: "no such product",
    422: "no conflict on that value key, a source without a value in it, or a target the product does not "
         "inherit from"}))
def resolve(identifier: str, value_key: str, body: SourcePick, request: Request,
            user: User = Depends(api_editor)) -> dict[str, Any]:
    """Pick the winner of a conflict; the pick is pinned (later imports keep it until someone picks again)."""
    store = store_of(request)
    target = _target(store, identifier, body.target)
    try:
        conflict = panels.resolve_conflict(store, target, value_key, body.source, user.username,
                                           log=editing.ChoiceLog(target, value_key, user.username, body.source))
    except InputError as exc:
        raise _pick_refused(exc) from None
    return _conflict_json(conflict)


@router.post("/products/{identifier}/candidates/{value_key}", responses=documented({
    403: "viewers may not pick", 404: "no such product",
    422: "a source with no other value kept for that key, or a target the product does not inherit from"}))
def use_candidate(identifier: str, value_key: str, body: SourcePick, request: Request,
                  user: User = Depends(api_editor)) -> dict[str, Any]:
    """Show another source's kept value instead of the winner (pinned, like a conflict pick)."""
    store = store_of(request)
    product = store.get_product(identifier)
    if product is None:
        raise HTTPException(404, f"no product '{identifier}'")
    target = body.target or identifier
    try:
        panels.use_other_value(store, identifier, product.parent, target, value_key, body.source, user.username,
                               log=editing.ChoiceLog(target, value_key, user.username, body.source))
    except InputError as exc:
        raise _pick_refused(exc) from None
    return _product_json(request, identifier)


def _pick_refused(exc: InputError) -> HTTPException:
    """A refused pick: the target named when it is the target that is wrong (the message names the rest)."""
    return refuse(422, exc.in_one_line(), "body.target" if exc.field == "target" else None)


def _target(store: Any, identifier: str, target: str | None) -> str:
    """The product, or a model it inherits from (never another product's)."""
    from pim.conflicts import check_target

    product = store.get_product(identifier)
    if product is None:
        raise HTTPException(404, f"no product '{identifier}'")
    target = target or identifier
    try:
        check_target(store, identifier, product.parent, target)
    except InputError as exc:
        raise _pick_refused(exc) from None
    return target


@router.get("/products/{identifier}/history", responses=documented({404: "no such product"}))
def product_history(identifier: str, request: Request, user: User = Depends(api_user)) -> list[dict[str, Any]]:
    if store_of(request).get_product(identifier) is None:  # as every other sub-route, not an empty list
        raise HTTPException(404, f"no product '{identifier}'")
    return [{**h, "at": utc_iso(h["at"])} for h in history(store_of(request), identifier)]


@router.get("/completeness/{channel}", responses=documented({
    404: "no such channel", 422: "a locale the channel does not publish", 501: "completeness is not installed"}))
def completeness_report(channel: str, request: Request, locale: str | None = None,
                        limit: int = Query(100, ge=1, le=10_000, description="The largest to-do items to list."),
                        user: User = Depends(api_user)) -> dict[str, Any]:
    """Counts per locale, blocked products by reason and the to-do list, largest first: `limit` items of
    `todo_total` (`todo_truncated` when some were left out; the CLI's `pim gate report` lists them all)."""
    channels = structure_of(request).channels
    if channel not in channels:
        raise HTTPException(404, f"no channel '{channel}'")
    try:
        report = panels.gate_report(store_of(request), channel, locale, todo_limit=limit)  # cut and counted in SQL
    except ConfigError as exc:
        raise refuse(422, f"{exc}; {exc.hint}" if exc.hint else str(exc), "query.locale") from None
    if report is None:
        raise HTTPException(501, "completeness is not available in this installation")
    return {**report.model_dump(mode="json"), "todo_truncated": report.todo_total > len(report.todo)}


StructureKind = Literal[tuple(STRUCTURE_KINDS)]  # type: ignore[valid-type]


@router.get("/structure/{kind}")
def structure(kind: StructureKind, request: Request, user: User = Depends(api_user)) -> list[dict[str, Any]]:
    return [item.model_dump(mode="json") for item in store_of(request).get_structure(kind)]


@router.get("/jobs")
def jobs(request: Request, kind: str | None = None, limit: int = Query(50, ge=1, le=500),
         user: User = Depends(api_user)) -> list[dict[str, Any]]:
    return [job_json(j) for j in store_of(request).jobs(kind, limit)]


@router.get("/jobs/{job_id}", responses=documented({404: "no such job"}))
def job(job_id: JobId, request: Request, user: User = Depends(api_user)) -> dict[str, Any]:
    store = store_of(request)
    found = store.job(job_id)
    if found is None:
        raise HTTPException(404, f"no job {job_id}")
    quarantined = store.quarantined(job_id, open_only=False, limit=500)
    return {**job_json(found), "quarantined": [
        {k: q[k] for k in ("file", "line", "field", "reason", "record_key", "severity")} for q in quarantined]}


router.include_router(api_pipeline.router)
router.include_router(api_structure.router)
router.include_router(api_quality.router)  # a product's notes: sub-cent prices on every channel
