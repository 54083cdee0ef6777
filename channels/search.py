"""The `search` channel: Meilisearch documents and settings, one index per locale, published incrementally.

A publish run is planned in `select` (which products to read: all of them, or those written since the
watermark of the last successful push to the same target), rendered in `render` to exactly the files the
exporter sends (settings.json, documents.ndjson, deletes.json per index), and `committed` advances the
watermark once the exporter has succeeded. The push state records which locales' indexes it describes: a
locale whose index was dropped (`pim search drop --locale`) is rebuilt by the next push while the others stay
incremental. A product goes into each locale's index where the gate passes it (channels.locale_outputs, as the
storefront's files): missing its it_IT copy, it is in the en_US and de_DE indexes, published and partly blocked,
and an incremental push deletes it from the it_IT index alone (sending it there again once it passes). See
docs/search.md.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import IO, Any

import orjson
from sqlalchemy import BigInteger, Column, DateTime, String, Table, Text, select
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from channels.asset_refs import is_asset_ref
from channels.locale_outputs import OutputGate
from channels.localize import ValueResolver
from channels.search_customers import decode_state, provider_revisit, provider_view
from channels.search_documents import DocumentBuilder, customer_tag, raw_image_url
from channels.search_settings import digest_of, index_settings, settings_fingerprint, shape_change, shape_fingerprint
from channels.search_visibility import decode, encode, products_to_revisit, visibility_fingerprint, visibility_snapshot
from pim.gate import aged_between, blocks_on_age
from pim.product import Product
from pim.protocols import Artifact, PublishContext
from pim.registry import load
from pim.store.store import PRODUCT, Store, as_utc, batched, now

#: The contracts' provider: the contracts themselves fingerprint it (channels.search_visibility).
CONTRACTS_PROVIDER = "pim.contracts:contract_customers"
#: Who may see a product (tenant tokens filter on the `customers` field): the customers whose contract
#: assortment holds it (pim/contracts.py). Signature: (store, skus) → {sku: [customer]}. Another provider
#: (here or per run, publish option `search_customers`) is fingerprinted by its answers
#: (channels.search_customers).
CUSTOMERS_PROVIDER = CONTRACTS_PROVIDER
#: The main image's public URL when media has no rendition for it. Signature: (value) → url.
IMAGE_URL = "channels.search:image_url"
#: Rendition links for a channel (media/links.py): (store, channel, fallback) → callable (value) → url with a
#: `prefetch(values)` method and a `state()` (what the links depend on), or None when media.yaml declares none.
IMAGE_LINKS = "media.links:links_for"
CHUNK = 1000
log = logging.getLogger("pim.search")


class SearchSyncRow(SQLModel, table=True):
    """What the last successful push to one target (a Meilisearch URL or an output dir) contained."""

    __tablename__ = "search_sync"

    target: str = SQLField(sa_column=Column(String(600), primary_key=True))
    watermark: int = SQLField(sa_column=Column(BigInteger, nullable=False))
    shape_hash: str = SQLField(sa_column=Column(String(64), nullable=False))
    settings_hash: str = SQLField(sa_column=Column(String(64), nullable=False))
    visibility_hash: str | None = SQLField(default=None, sa_column=Column(String(64), nullable=True))
    visibility_state: str | None = SQLField(default=None, sa_column=Column(Text, nullable=True))
    #: JSON list of the locales whose index this state describes; NULL: unknown (pushed before migration 0031
    #: and its channel gone), so the next push rebuilds every index.
    locales: str | None = SQLField(default=None, sa_column=Column(Text, nullable=True))
    updated_at: datetime = SQLField(sa_column=Column(DateTime(timezone=True), nullable=False))


SYNC: Table = SearchSyncRow.__table__  # type: ignore[assignment]


# ---------------------------------------------------------------- names and tenant rules
def index_prefix() -> str:
    return os.environ.get("MEILI_INDEX_PREFIX", "products")


def index_uid(scope: str, locale: str, prefix: str | None = None) -> str:
    return f"{prefix or index_prefix()}_{scope}_{locale}"


def filter_value(value: str) -> str:
    """A string literal in Meilisearch's filter syntax."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def tenant_filter(customer: str) -> str:
    """The documents hold customer tags, not codes (channels.search_documents.customer_tag)."""
    return f"customers = {filter_value(customer_tag(customer))}"


def tenant_search_rules(scope: str, customer: str, prefix: str | None = None) -> dict[str, Any]:
    """searchRules for a tenant token: every locale index of the scope, only the customer's contracted SKUs."""
    return {f"{prefix or index_prefix()}_{scope}_*": {"filter": tenant_filter(customer)}}


# ---------------------------------------------------------------- hooks
def image_url(value: str) -> str | None:
    from pim.settings import get_settings

    base = get_settings().cdn_base_url
    if not value or "://" in value or not base or is_asset_ref(value):  # raw_image_url leaves a ref out
        return raw_image_url(value)
    return base.rstrip("/") + "/" + value.lstrip("/")


# ---------------------------------------------------------------- state
def sync_target(ctx: PublishContext) -> str:
    """Watermarks are per target: files in one output dir are not the same thing as a server's index."""
    url = os.environ.get("MEILI_URL")
    if ctx.options.get("exporter") == "meilisearch" and url:
        where = "meili:" + url.rstrip("/")
    else:
        where = "files:" + str(Path(ctx.output_dir).resolve())
    return f"{where}|{index_prefix()}|{ctx.channel}"


def load_state(store: Store, target: str) -> dict[str, Any] | None:
    with store.engine.connect() as conn:
        row = conn.execute(select(SYNC).where(SYNC.c.target == target)).first()
    return dict(row._mapping) if row else None


def save_state(store: Store, target: str, watermark: int, shape: str, settings: str, visibility: str | None = None,
               decided_at: datetime | None = None, contracts: str | None = None,
               locales: list[str] | None = None) -> None:
    """`updated_at` is the instant the push's gate decisions hold for (its plan's time): age rules measure
    the next push's window from it. `contracts` is the visibility state the push was planned with (a
    contract snapshot or a customers provider's answers); `locales` the locales whose index it pushed."""
    with store.begin() as conn:
        store.upsert_rows(conn, SYNC, [{"target": target, "watermark": watermark, "shape_hash": shape,
                                        "settings_hash": settings, "visibility_hash": visibility,
                                        "visibility_state": contracts, "updated_at": decided_at or now(),
                                        "locales": None if locales is None else orjson.dumps(locales).decode()}],
                          ["target"])


def state_locales(state: dict[str, Any]) -> list[str] | None:
    """The locales whose index a push state describes; None when unknown (see SearchSyncRow.locales)."""
    return orjson.loads(state["locales"]) if state.get("locales") else None


def forget(store: Store, target: str, locale: str | None = None) -> None:
    """Forget the push state of `locale`'s index at `target` (every locale's without one), after the index
    was deleted there: its next push rebuilds that index and stays incremental for the others. A state
    whose locales are unknown, or left with none, is forgotten whole."""
    from sqlalchemy import delete, update

    with store.begin() as conn:
        row = conn.execute(select(SYNC.c.locales).where(SYNC.c.target == target)).first()
        if row is None:
            return
        held = state_locales({"locales": row[0]}) if locale is not None else None
        rest = [loc for loc in held or [] if loc != locale]
        if rest:
            conn.execute(update(SYNC).where(SYNC.c.target == target).values(locales=orjson.dumps(rest).decode()))
        else:
            conn.execute(delete(SYNC).where(SYNC.c.target == target))


def customers_provider(ctx: PublishContext) -> Callable[[Any, list[str]], dict[str, list[str]]] | None:
    """The provider deciding customers when it is not the contracts' own: the run's, or another hook."""
    given = ctx.options.get("search_customers")
    if given is not None:
        return given  # type: ignore[no-any-return]
    return None if CUSTOMERS_PROVIDER == CONTRACTS_PROVIDER else load(CUSTOMERS_PROVIDER)


def written_since(store: Store, since: int) -> set[str]:
    """The identifiers of the products written after `since` (the narrow column only)."""
    with store.engine.connect() as conn:
        return set(conn.execute(select(PRODUCT.c.identifier).where(PRODUCT.c.seq > since)).scalars())


@dataclass
class Plan:
    full: bool
    since: int
    start_seq: int
    target: str
    shape: str
    settings: str
    reason: str
    visibility: str | None = None
    decided_at: datetime | None = None
    aged: set[str] = field(default_factory=set)  # unwritten products to send as well: aged readings, new customers
    contracts: str | None = None  # the visibility state (contract snapshot or provider answers), kept for the next push
    locales: list[str] = field(default_factory=list)  # every locale's index this push leaves current
    rebuild: dict[str, str] = field(default_factory=dict)  # locale → why its index alone is rebuilt in an incremental run
    fresh: set[str] | None = None  # when some locales are rebuilt: the products the incremental ones are sent

    def mode(self, locale: str) -> str:
        return "full" if self.full or locale in self.rebuild else "incremental"


def _say_orphaned(target: str, scope: str, locales: list[str]) -> None:
    """Warn about the indexes a server holds for locales the channel no longer has: a push never deletes an
    index (an output folder's are reported by exporters.local, which sees their files)."""
    where = target.partition("|")[0]
    if not where.startswith("meili:"):
        return
    for locale in locales:
        log.warning("search index %s at %s is no longer published (channel %s does not have %s now) and keeps its "
                    "documents; if the locale left for good, delete it with `pim search drop --channel %s --locale "
                    "%s --target %s`", index_uid(scope, locale), where[6:], scope, locale, scope, locale, where[6:])


def _written_and(store: Store, since: int, aged: set[str]) -> Iterator[Product]:
    """The products written since the watermark, then the aged ones not among them (each once)."""
    rest = set(aged)
    for product in store.iter_products(since_seq=since):
        rest.discard(product.identifier)
        yield product
    for chunk in batched(sorted(rest), 1000):
        yield from store.iter_products(identifiers=chunk)


def _shape(builder: DocumentBuilder, version: int | None = None, stock: str | None = None) -> str:
    """What the documents contain (shape_fingerprint), with what their image links depend on when the media
    area's links say (another listing rendition or CDN: every document links anew)."""
    shape = shape_fingerprint(builder, version, stock)
    links_state = getattr(builder.image_url, "state", None)
    return shape if links_state is None else digest_of([shape, links_state()])


# ---------------------------------------------------------------- renderer
def _deletes(store: Store, plan: Plan, blocked: dict[str, list[str]], partly: set[str],
             kept_from: list[set[str]]) -> list[list[str]]:
    """Each index's deletes in an incremental run: the products deleted since the watermark, those blocked
    everywhere, and those the gate keeps from that locale alone (written to the others): a product missing its
    it_IT copy leaves the it_IT index only, and comes back with the push after it passes there. With some
    locales rebuilt (plan.fresh), only the fresh products' verdicts are news; the others were decided before."""
    from channels.search_documents import document_id

    fresh = plan.fresh
    deleted = set(store.deleted_since(plan.since))
    everywhere = set(blocked) - partly
    out = []
    for kept in kept_from:
        gone = everywhere | kept
        if fresh is not None:
            gone &= fresh
        out.append(sorted({document_id(sku) for sku in gone | deleted}))
    return out


class SearchRenderer:
    name = "search"
    default_exporter = "meilisearch"
    gate_per_locale = True  # one index per locale: the gate passes a product some index may hold (OutputGate)

    def _builder(self, ctx: PublishContext, store: Store) -> DocumentBuilder:
        builder = ctx.options.get("search_builder")
        if builder is None:
            image = ctx.options.get("search_image_url")
            if image is None:  # the media area's rendition links, else the value behind the CDN base
                plain = load(IMAGE_URL)
                image = load(IMAGE_LINKS)(store, ctx.channel, plain) or plain
            builder = ctx.options["search_builder"] = DocumentBuilder(ctx.structure, ctx.channel, image_url=image)
        return builder

    def plan(self, store: Store, ctx: PublishContext) -> Plan:
        builder = self._builder(ctx, store)
        target = sync_target(ctx)
        state = load_state(store, target)
        shape, settings = _shape(builder), settings_fingerprint(builder)
        provider = customers_provider(ctx)
        if provider is None:  # the contracts (or, without any, the price lists) decide who sees what
            snapshot = visibility_snapshot(store)
            visibility, kept = visibility_fingerprint(store, snapshot), encode(snapshot)
        else:  # another provider: what it answers now (channels.search_customers)
            view = provider_view(store, provider)
            visibility, kept = view.fingerprint(), view.encoded()
        start = store.current_seq()  # read before the products: later writes are sent next time, never lost
        locales = [p.locale for p in builder.plans]
        held = state_locales(state) if state is not None else None
        _say_orphaned(target, ctx.channel, sorted(set(held or []) - set(locales)))
        if ctx.full:
            full, reason = True, "--full"
        elif state is None:
            full, reason = True, "first push to this target"
        elif held is None:
            full, reason = True, "the target's push state does not say which locales' indexes it holds"
        elif state["shape_hash"] != shape:
            full, reason = True, shape_change(state["shape_hash"], lambda version, stock=None: _shape(builder, version, stock))
        elif not set(locales) & set(held):
            full, reason = True, "no index of this channel is recorded at this target"
        else:
            full, reason = False, "changes since the last push"
        rebuild = {} if full else {loc: "its index was dropped since the last push to this target (pim search drop)"
                                   for loc in locales if loc not in (held or [])}
        revisit: set[str] = set()
        if not full and state.get("visibility_hash") != visibility:  # type: ignore[union-attr]
            if provider is None:
                found = products_to_revisit(store, decode(state.get("visibility_state")), snapshot)  # type: ignore[union-attr]
                why = "contracts or price lists changed which customers may see which products"
                what = "products whose customers may have changed with the contracts"
            else:
                found = provider_revisit(decode_state(state.get("visibility_state")), view,  # type: ignore[union-attr]
                                         lambda: written_since(store, int(state["watermark"])))  # type: ignore[index]
                why = "the customers provider changed which customers may see which products"
                what = "products whose customers the customers provider changed"
            if found is None:
                full, reason, rebuild = True, why, {}
            elif found:
                revisit = found
                reason += f", and {len(found)} {what}"
        decided_at = ctx.options.get("as_of") or datetime.now(UTC)  # the gate's `now` for this run
        aged: set[str] = set()
        if not full and blocks_on_age(ctx.structure, ctx.channel):
            aged = aged_between(store, ctx.structure, ctx.channel, as_utc(state["updated_at"]), decided_at)  # type: ignore[index]
            if aged:
                reason += f", and {len(aged)} products whose price or stock reading aged past the channel's limit"
        plan = Plan(full, 0 if full else int(state["watermark"]), start, target, shape, settings, reason,  # type: ignore[index]
                    visibility, decided_at, aged | revisit, kept, locales, rebuild)
        ctx.options["search_plan"] = plan
        return plan

    def select(self, store: Store, ctx: PublishContext) -> Iterable[Product]:
        """The products this run reads: every product for a full rebuild, else those written since the watermark.
        When only some locales are rebuilt, every product, and the others are sent the fresh ones alone."""
        plan = self.plan(store, ctx)
        if plan.full:
            return store.iter_products()
        if plan.rebuild:
            plan.fresh = written_since(store, plan.since) | plan.aged
            return store.iter_products()
        return _written_and(store, plan.since, plan.aged) if plan.aged else store.iter_products(since_seq=plan.since)

    def render(self, products: Iterable[Product], ctx: PublishContext, store: Any) -> list[Artifact]:
        plan: Plan = ctx.options.get("search_plan") or self.plan(store, ctx)
        builder = self._builder(ctx, store)
        customers_of: Callable[[Any, list[str]], dict[str, list[str]]] = (
            ctx.options.get("search_customers") or load(CUSTOMERS_PROVIDER))
        staging = ctx.output_dir / ".staging" / f"job-{ctx.job_id}" / "search"
        shutil.rmtree(staging, ignore_errors=True)
        uids = [index_uid(ctx.channel, p.locale) for p in builder.plans]
        handles: list[IO[bytes]] = []
        counts = [0] * len(uids)
        fresh = plan.fresh  # None: every product read goes to every index
        every = [fresh is None or plan.mode(p.locale) == "full" for p in builder.plans]
        gate = OutputGate(ctx)  # which locales' indexes the gate keeps each product from (pim.gate.PER_LOCALE)
        kept_from: list[set[str]] = [set() for _ in uids]  # per index: products written to other indexes only
        try:
            for uid in uids:
                (staging / uid).mkdir(parents=True, exist_ok=True)
                handles.append((staging / uid / "documents.ndjson").open("wb"))
            for sku, docs in self._documents(products, builder, store, customers_of, ctx.blocked, gate):
                wrote, held = 0, []
                for n, doc in enumerate(docs):
                    if against := gate.against(sku, builder.plans[n].locale):  # the gate's, naming the locale
                        held += against
                        if not plan.full:  # only an incremental run sends deletes
                            kept_from[n].add(sku)
                        continue
                    wrote += 1
                    if every[n] or sku in fresh:  # type: ignore[operator]
                        handles[n].write(orjson.dumps(doc) + b"\n")
                        counts[n] += 1
                gate.settle(sku, wrote, held)  # in some indexes only: published (PARTLY)
        finally:
            for fh in handles:
                fh.close()
        deletes: list[list[str]] = [[] for _ in uids]
        if not plan.full:
            deletes = _deletes(store, plan, ctx.blocked, gate.partly, kept_from)
        artifacts: list[Artifact] = []
        for locale_plan, uid, count, gone in zip(builder.plans, uids, counts, deletes):
            mode = plan.mode(locale_plan.locale)
            meta = {"index": uid, "locale": locale_plan.locale, "mode": mode,
                    "reason": plan.rebuild.get(locale_plan.locale, plan.reason)}
            settings_path = staging / uid / "settings.json"
            settings_path.write_bytes(orjson.dumps(index_settings(builder, locale_plan.locale), option=orjson.OPT_INDENT_2))
            artifacts.append(Artifact(settings_path, f"search/{uid}/settings.json", "application/json", 0,
                                      {**meta, "kind": "settings"}))
            artifacts.append(Artifact(staging / uid / "documents.ndjson", f"search/{uid}/documents.ndjson",
                                      "application/x-ndjson", count, {**meta, "kind": "documents"}))
            if mode == "incremental":
                path = staging / uid / "deletes.json"
                path.write_bytes(orjson.dumps(gone))
                artifacts.append(Artifact(path, f"search/{uid}/deletes.json", "application/json", len(gone),
                                          {**meta, "kind": "deletes"}))
        return artifacts

    def _documents(self, products: Iterable[Product], builder: DocumentBuilder, store: Store,
                   customers_of: Callable[[Any, list[str]], dict[str, list[str]]],
                   blocked: dict[str, list[str]],
                   gate: OutputGate | None = None) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """Each product's documents, one per locale; one whose list price or required image the storefront
        blocks goes to `blocked` instead (DocumentBuilder.checks), with what the gate holds against it in some
        locales (it is in no index)."""
        from pim.commerce import stock_for

        resolver = ValueResolver(store, builder.structure)
        prices = builder.checks(resolver)
        prefetch = getattr(builder.image_url, "prefetch", None)
        it = iter(products)
        while chunk := list(islice(it, CHUNK)):
            skus = [p.identifier for p in chunk]
            stock = stock_for(store, skus)
            customers = customers_of(store, skus)
            resolved = [(p, resolver.ancestors(p) if p.parent else [], resolver.values(p)) for p in chunk]
            if prefetch is not None:  # the chunk's image links in a few queries
                prefetch(resolver.image_values(values for _, _, values in resolved))
            for p, chain, values in resolved:
                if reasons := prices.reasons(p, values):
                    gate_said = gate.everywhere(p.identifier) if gate is not None else []
                    blocked.setdefault(p.identifier, []).extend(reasons + gate_said)
                    continue
                yield p.identifier, builder.build(p.identifier, p.family, resolver.categories(p, chain), values,
                                                  model=chain[-1].code if chain else None,
                                                  availability=stock.get(p.identifier),
                                                  customers=customers.get(p.identifier))

    def committed(self, ctx: PublishContext, store: Store) -> None:
        """Called by the pipeline after the exporter succeeded: only now does the watermark move."""
        plan: Plan | None = ctx.options.get("search_plan")
        if plan is not None:
            save_state(store, plan.target, plan.start_seq, plan.shape, plan.settings, plan.visibility, plan.decided_at,
                       plan.contracts, plan.locales)
