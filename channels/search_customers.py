"""Who may see which products when a customers provider decides it instead of the contracts: the publish option
`search_customers`, or a `channels.search.CUSTOMERS_PROVIDER` hook naming another function.

The contracts' own provider is fingerprinted by the contracts (channels.search_visibility). Any other provider
is asked about every SKU of the catalog at each push, and its answers are kept with the push state as one
short digest per SKU: the next push re-sends exactly the products whose customers changed (or rebuilds when
that is most of the catalog, as a contract change does), and nobody has to remember `--full`. A provider that
knows when its answers change can say so instead, cheaply: a `version` attribute (a string, or a callable
(store) → string). Then the catalog is not asked, and a new version rebuilds the index, since which products
changed is not known."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import select

from channels import search_visibility
from channels.search_settings import digest_of
from pim.store.store import PRODUCT, Store

#: Bytes kept per SKU: a changed answer goes unnoticed with odds of about catalog size / 2^48.
DIGEST_BYTES = 6
#: SKUs per provider call (the renderer asks in chunks of the same size).
PAGE = 1000

Provider = Callable[[Any, list[str]], dict[str, list[str]]]


@dataclass
class ProviderView:
    """What a provider answers now: its declared version, or each SKU's digest of its sorted customers."""

    version: str | None = None
    digests: dict[str, bytes] | None = None

    def state(self) -> dict[str, str]:
        if self.version is not None:
            return {"version": self.version}
        return {"answers": base64.b64encode(b"".join(sorted((self.digests or {}).values()))).decode("ascii")}

    def encoded(self) -> str:
        """For `search_sync.visibility_state` (a contract snapshot there is a JSON list, this an object)."""
        return orjson.dumps(self.state()).decode()

    def fingerprint(self) -> str:
        return digest_of(["customers provider", self.state()])


def answer_digest(sku: str, customers: list[str]) -> bytes:
    return hashlib.blake2b(orjson.dumps([sku, sorted(set(customers))]), digest_size=DIGEST_BYTES).digest()


def provider_view(store: Store, provider: Provider) -> ProviderView:
    """The provider's declared version, else its answer for every SKU of the catalog, digested."""
    version = getattr(provider, "version", None)
    if version is not None:
        return ProviderView(version=str(version(store) if callable(version) else version))
    digests: dict[str, bytes] = {}
    for chunk in _identifiers(store):
        answers = provider(store, chunk)
        for sku in chunk:
            digests[sku] = answer_digest(sku, list(answers.get(sku) or ()))
    return ProviderView(digests=digests)


def decode_state(text: str | None) -> dict[str, str]:
    """A provider's kept state; empty for a contract snapshot (a list) or none."""
    data = orjson.loads(text) if text else None
    return data if isinstance(data, dict) else {}


def provider_revisit(before: dict[str, str], now: ProviderView, written: Callable[[], set[str]]) -> set[str] | None:
    """The SKUs whose answer is not among those the last push kept, except those `written` since (new ones
    among them: they are sent anyway). None, to rebuild, when there is nothing to compare (a version, or the
    contracts decided last time) or when most of the catalog changed (search_visibility.REBUILD_SHARE)."""
    if now.digests is None or "answers" not in before:
        return None
    raw = base64.b64decode(before["answers"])
    kept = {raw[i:i + DIGEST_BYTES] for i in range(0, len(raw), DIGEST_BYTES)}
    found = {sku for sku, digest in now.digests.items() if digest not in kept}
    if found:
        found -= written()
    return None if found and len(found) > search_visibility.REBUILD_SHARE * len(now.digests) else found


def _identifiers(store: Store) -> Iterator[list[str]]:
    """Every product identifier, a page at a time (keyset paging on the narrow column)."""
    c = PRODUCT.c
    last = 0
    while True:
        with store.engine.connect() as conn:
            rows = conn.execute(select(c.id, c.identifier).where(c.id > last).order_by(c.id).limit(PAGE)).all()
        if not rows:
            return
        yield [str(identifier) for _, identifier in rows]
        last = rows[-1][0]
