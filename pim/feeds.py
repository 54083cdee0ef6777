"""Building a contract's feed. A build streams the contract's products (full: the whole assortment; delta: only
what changed since the last *confirmed* delivery, chosen by pim.feed_deltas) through assortment, gate and pricing
(pim.feed_members) into a renderer (channels/feed_*); delivery pushes the file to SFTP and/or the portal
(pim.feed_delivery), and only then advances the contract's watermark. `deliver_all` (pim.feed_fanout) fans out one
job per contract through the Executor. The shapes a build makes live in pim.feed_plan; every name this module
offered still imports from here."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from itertools import chain
from pathlib import Path
from typing import Any

from pim import delivery_log as log
from pim.gc_policy import paused
from pim.catalog import Structure
from pim.commerce import Availability, Tier, price_list_tiers, stock_all, stock_for
from pim.contracts import AssortmentIndex, AssortmentMatcher, Contract, get_contracts
from pim.feed_delivery import DeliveryResult, deliver_contract, describe_left_out, feeds_dir  # noqa: F401  # old paths
from pim.feed_names import feed_file_name
from pim.feed_warnings import Undercuts
from pim.feed_reading import CHUNK, SNAPSHOT_PAGE, _Reader, _Row
from pim.feed_snapshot import SAMPLE, SNAPSHOT_MAX_BYTES, Diet, contract_diet, estimated_bytes, run_diet, snapshot_limit
from pim.gate import gate_digest, shared_keys
from pim.registry import RENDERERS, lookup
from pim.stock_sums import stock_keys
from pim.store.store import PRODUCT, Store, batched, now

# The split's modules; their names keep this module's import paths (pim.registry: "pim.feeds:FeedRow").
from pim.feed_plan import (LEFT_OUT, Build, FeedItem, FeedPlan, FeedPrice, FeedRefused, FeedRow,  # noqa: F401
                           FeedStock, FeedTier, Kind)
from pim.feed_members import (GATE_CHUNK, _candidates_full, _could_match, _counting, _items,  # noqa: F401
                              _list_price_text, _run_prices, _without_exclusions)
from pim.feed_fanout import RunSummary, _deliver_job, deliver_all  # noqa: F401

TIER_CACHE = 8  # price lists held per run and worker
#: SKUs whose stock a run reads at once (one Availability each); a larger catalog reads each contract's own. The
#: catalog snapshot has a byte limit of its own (PIM_FEED_SNAPSHOT_MAX_MB, pim.feed_snapshot.snapshot_limit).
STOCK_ALL_LIMIT = 250_000


# ---------------------------------------------------------------------------------------------- the run
class FeedRun:
    """Work shared by the builds of one delivery run in one process: the structure and the catalog snapshot with
    its assortment index (read once), the gate verdict per channel × product (evaluated once, re-evaluated when
    the product's seq moved) and the renderers' per-product output (`rendered`, keyed by the view). A run lives
    only as long as one `deliver_all` (workers key it by the run's token), so nothing decided in an earlier run
    is ever reused. Watermarks record the seq read *before* the snapshot, so a product written meanwhile is sent
    again by the next delta rather than missed."""

    def __init__(self, store: Store, token: str | None = None, *, snapshot: bool = True) -> None:
        import uuid

        self.token = token or uuid.uuid4().hex
        self.snapshot = snapshot  # False: a single build, which reads just its own assortment
        self.structure = store.structure()
        self.seq, self.prices_at = store.current_seq(), now()
        self.gate: dict[tuple[str, str], tuple[Any, bool, bool]] = {}  # (channel, sku) → seq, passed, shared
        self.rendered: dict[Any, Any] = {}
        self._index: AssortmentIndex | None = None  # over the snapshot's rows: `row` finds them through it
        self._decided = False  # whether the snapshot was taken (`_index`) or found too large to hold
        self.diet: Diet | None = None  # what the snapshot's rows kept of their values (None: everything)
        self._lock = threading.Lock()  # thread executors share one run per process
        self._tiers: dict[tuple[str, str, date], dict[str, list[Tier]]] = {}
        self._stock: dict[str, Availability] | None = None
        self._stock_all = False
        self._doubled: dict[str, list[tuple[str, str]]] | None = None
        self.stock_keys = stock_keys()  # PIM_FEED_STOCK_KEYS: `both` has builds name the doubled (pim.stock_sums)

    def tiers(self, store: Store, customer: str, currency: str, day: date) -> dict[str, list[Tier]]:
        """The price list's tiers valid on `day`, read once per run (one query, not one bind per SKU). Only the
        last few price lists are kept: a worker usually builds each customer once."""
        key = (customer, currency, day)
        with self._lock:
            found = self._tiers.get(key)
            if found is None:
                found = price_list_tiers(store, customer, currency, day)
                if len(self._tiers) >= TIER_CACHE:
                    self._tiers.pop(next(iter(self._tiers)))
                self._tiers[key] = found
            return found

    def stock(self, store: Store, skus: list[str]) -> dict[str, Availability]:
        """Stock of every SKU read once per run; catalogs above STOCK_ALL_LIMIT read just `skus`."""
        with self._lock:
            if self._stock is None:
                self._stock = stock_all(store) if store.count_products() <= STOCK_ALL_LIMIT else {}
                self._stock_all = bool(self._stock) or store.count_products() <= STOCK_ALL_LIMIT
            if self._stock_all:
                return self._stock
        return stock_for(store, skus)

    def doubled_stock(self, store: Store, locked: bool = False) -> dict[str, list[tuple[str, str]]]:
        """SKUs with stock under a location alone and under its plant/location key (pim.feed_stock_keys), once per run."""
        from pim.feed_stock_keys import doubled_stock

        if not locked:
            with self._lock:
                return self.doubled_stock(store, locked=True)
        if self._doubled is None:
            self._doubled = doubled_stock(store)
        return self._doubled

    def index(self, store: Store) -> AssortmentIndex | None:
        """The snapshot's assortment index; None when the snapshot is estimated above its limit (each contract
        scans then: PIM_FEED_SNAPSHOT_MAX_MB, else SNAPSHOT_MAX_BYTES). Its rows keep only the value keys the
        store's contracts read (`diet`)."""
        if not self.snapshot:
            return None
        with self._lock:
            if not self._decided:
                self._decided = True
                diet = run_diet(_diet(c, self.structure) for c in get_contracts(store))
                if self.snapshot_bytes(store, diet) > snapshot_limit(SNAPSHOT_MAX_BYTES):
                    return None
                self._index = AssortmentIndex(list(_Reader(store, diet).rows(page=SNAPSHOT_PAGE)), self.structure)
                self.diet = diet
            return self._index

    @staticmethod
    def snapshot_bytes(store: Store, diet: Diet | None) -> int:
        """The snapshot's estimated size: the catalog's count times a sample's rows on the diet."""
        count = store.count_products()
        step = max(1, count // SAMPLE)
        sample = list(_Reader(store, diet).rows(where=[PRODUCT.c.id % step == 0]))
        return estimated_bytes(count, sample)

    def covers(self, contract: Contract) -> bool:
        """Whether the snapshot's rows hold all a build of `contract` reads (a contract loaded since may not)."""
        return self.diet is None or self.diet.covers(_diet(contract, self.structure))

    def row(self, identifier: str) -> _Row:
        assert self._index is not None
        return self._index.products[self._index.order[identifier]]

    def passing(self, store: Store, channel: str, rows: list[Any], locale: str | None = None) -> set[str]:
        """Identifiers among `rows` that pass the channel's gate in `locale` (the contract's: a feed holds one
        language; every locale of the channel without one); each product is evaluated once per run and locale."""
        from pim.gate import blocked_for_sharing, evaluate, needs_records

        key = f"{channel}|{locale}" if locale else channel  # the verdicts' key: one per channel and locale
        todo = [r for r in rows if getattr(r, "seq", None) is None or self.gate.get((key, r.identifier), (None,))[0] != r.seq]
        if todo:
            seqs = {r.identifier: getattr(r, "seq", None) for r in todo}
            # Light rows carry what the gate reads (identity, family, parent, values) unless it needs provenance.
            products: Iterable[Any] = todo
            if needs_records(self.structure, channel):
                products = [p for chunk in batched([r.identifier for r in todo], CHUNK) for p in store.iter_products(identifiers=chunk)]
            elif self.diet is not None:  # snapshot rows lack what the gate may read: it gets those in full, streamed
                trimmed = {id(r) for r in todo if self._index is not None and self._index.order.get(r.identifier) is not None
                           and self.row(r.identifier) is r}
                if trimmed:
                    products = chain(_Reader(store).rows([r.identifier for r in todo if id(r) in trimmed]),
                                     (r for r in todo if id(r) not in trimmed))
            for p, reasons in evaluate(store, self.structure, channel, products, locales=[locale] if locale else None):
                self.gate[(key, p.identifier)] = (seqs[p.identifier], not reasons, blocked_for_sharing(reasons))
            for i in seqs:  # deleted since the snapshot: nothing was read to decide on
                self.gate.setdefault((key, i), (seqs[i], False, False))
        return {r.identifier for r in rows if self.gate[(key, r.identifier)][1]}

    def sharing(self, channel: str, identifiers: Iterable[str], locale: str | None = None) -> Iterator[str]:
        """Those of `identifiers` (decided by `passing`) that the gate blocks for a value another product holds
        too: the watermark keeps them, as their verdict moves with that other product (pim.feed_deltas)."""
        key = f"{channel}|{locale}" if locale else channel
        return (i for i in identifiers if self.gate[(key, i)][2])


def _diet(contract: Contract, structure: Structure) -> Diet | None:
    return contract_diet(contract, structure, lookup(RENDERERS, f"feed_{contract.format}", "feed format")())


_RUN: FeedRun | None = None
_RUN_LOCK = threading.Lock()


def _run_for(store: Store, token: str, snapshot: bool = True) -> FeedRun:
    """The worker's run for this token; a new token (a new deliver_all) drops everything of the last one."""
    global _RUN
    with _RUN_LOCK:
        if _RUN is None or _RUN.token != token:
            _RUN = FeedRun(store, token, snapshot=snapshot)
        return _RUN


def _end_run(token: str) -> None:
    global _RUN
    with _RUN_LOCK:
        if _RUN is not None and _RUN.token == token:
            _RUN = None


def build_feed(store: Store, contract: Contract, out_dir: Path, *, on: date | None = None,
               force_full: bool = False, run: FeedRun | None = None) -> Build:
    """Render the contract's feed into out_dir. Nothing is delivered and no watermark moves here. `run` shares
    the snapshot, gate verdicts and rendered rows with the other builds of a delivery run."""
    from pim.feed_deltas import delta_items  # it builds on this module's reading and deciding

    from pim.feed_chain import chain_start

    # a contract moved to another customer starts that customer's chain: a full feed, numbered on from their own
    wm, base = chain_start(store, contract, log.get_watermark(store, contract.code))
    full = force_full or contract.mode == "full" or wm is None or wm.contract_digest != contract.digest()
    if run is None or not full:
        run = FeedRun(store, snapshot=False)  # one build, or a delta: read live, proportional to the assortment or change
    structure = run.structure
    seq_now, prices_now = run.seq, run.prices_at
    day = on or datetime.now(UTC).date()
    matcher = AssortmentMatcher(contract.assortment, structure)
    delivered = set(wm.delivered) if wm else set()
    counts = {"upsert": 0, "delete": 0}
    left: Counter[str] = Counter()
    now_held: set[str] = set() if full else set(delivered)
    gates = gate_digest(structure, contract.channel)
    held: set[str] = set() if full or wm is None else set(wm.gate_held or ())  # blocked for a shared value

    renderer = lookup(RENDERERS, f"feed_{contract.format}", "feed format")()
    with_stock = contract.include_stock and getattr(renderer, "uses_stock", True)
    if full:
        valued = ((r, r.values) for r in _candidates_full(run, store, contract, matcher, left))
        items: Iterator[FeedItem] = (i for _, _, i in _items(store, structure, contract, valued, day, lambda p, v: True, run,
                                                            shared=True, stock=with_stock, left=left, held=held) if i)
        kind: Kind = "full"
    else:
        assert wm is not None
        # Watermarks from before migration 0041 do not know who was held back for a shared value: decide all once.
        unknown = wm.gate_held is None and bool(shared_keys(structure, contract.channel))
        items, kind = delta_items(store, structure, contract, _Reader(store), matcher, wm, day, run, with_stock, left,
                                  held, sweep=wm.gate_digest != gates or unknown)

    undercut = Undercuts(contract, structure)
    doubled = run.doubled_stock(store) if with_stock and run.stock_keys == "both" else {}
    twice: list[str] = []  # products sent with stock counted twice (pim.feed_stock_keys)

    def tracked(stream: Iterable[FeedItem]) -> Iterator[FeedItem]:
        for item in stream:
            counts[item.action] += 1
            if doubled and item.stock is not None and item.product.identifier in doubled:
                twice.append(item.product.identifier)
            (now_held.add if item.action == "upsert" else now_held.discard)(item.product.identifier)
            if item.price is not None and (len(item.price.tiers) > 1 or item.price.tiers[0].min_qty > 1):
                undercut.check(item)  # contract ladders only: a fallback is one tier from 1 piece
            yield item

    version = base + 1
    plan = FeedPlan(contract, structure, kind, version, base, now(), contract.media_base_url or _cdn(),
                    run.rendered, store)
    name = feed_file_name(contract.code, version, plan.generated_at, kind, renderer.extension)
    path = out_dir / contract.customer / contract.code / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with paused():
        rows = renderer.write(tracked(items), plan, path)
    digest, size = _checksum(path)
    pending = log.Watermark(contract.code, seq_now, prices_now, contract.digest(), version, sorted(now_held), gates,
                            sorted(held))
    warnings = undercut.warnings()
    if twice:
        from pim.feed_stock_keys import doubled_warning

        warnings += [w for w in (doubled_warning(contract, doubled, twice),) if w]
    return Build(contract, plan, path, rows, digest, size, pending, counts,
                 {k: left[k] for k in LEFT_OUT if left[k]}, len(delivered), warnings)


def _checksum(path: Path) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def _cdn() -> str | None:
    from pim.settings import get_settings

    return get_settings().cdn_base_url
