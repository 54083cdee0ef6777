"""When `deliver --due` holds a contract back after a refusal, and what lifts the hold.

A run refused for its data (pim.feeds.FeedRefused: text the contract's encoding cannot carry, a CSV dialect nobody
can read back) or for media.yaml (the rendition the contract names is no longer declared) would fail the same way
at every tick. Its job keeps what it was built from (`refusal_counts`), and the contract stays on hold until
something that can matter to that refusal changes (`lifted`):

- always: the contract (its digest);
- a data refusal: the structure (option labels, attributes), or one of the products it named (written, stock
  included, or deleted). A catalog write elsewhere, such as a stock import touching other products, does not
  lift it. A refusal naming more than `NAMED_SKUS` products, or kept by a run before round 34, is lifted by any
  catalog write;
- a media refusal: media.yaml (its bytes).
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select

from pim.contracts import Contract
from pim.registry import load
from pim.store.store import PRODUCT, Store, batched, sequence_value, structure_version

#: A run that failed for its data (or media.yaml): `--due` does not try the contract again while what it was
#: built from is unchanged.
REFUSED = "refused"
#: Products a refusal keeps by SKU; one naming more is lifted by any catalog write.
NAMED_SKUS = 1000


def built_from(store: Store) -> dict[str, int]:
    """What a build reads besides its contract, as two counters that move with every write: the catalog's write
    sequence (products, models, stock) and the structure version. Read before a build, kept with its refusal."""
    with store.engine.connect() as conn:
        return {"catalog_seq": sequence_value(conn, "catalog"), "structure_version": structure_version(conn)}


def media_digest() -> str:
    """media.yaml's bytes as a digest ("absent" without one): a media refusal waits for it to change."""
    path = load("media.settings:default_path")()
    return hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest() if path.is_file() else "absent"


def refusal_counts(contract: Contract, mark: dict[str, int], skus: list[str] | None, media: bool) -> dict[str, Any]:
    """The refused job's counts: what the hold compares against. `skus`: the products the refusal named ([] for
    none, None when it cannot say); `media`: refused for media.yaml rather than the data."""
    counts: dict[str, Any] = {"status": REFUSED, "contract_digest": contract.digest(), **mark}
    if media:
        counts["media_yaml"] = media_digest()
    elif skus is not None and len(skus) <= NAMED_SKUS:
        counts["skus"] = sorted(skus)
    return counts


def lifted(store: Store, refusal: dict[str, Any], contract: Contract, mark: dict[str, int]) -> bool:
    """Whether something that can matter to the refusal changed since its run (see the module's docstring)."""
    if refusal.get("contract_digest") != contract.digest():
        return True
    if "media_yaml" in refusal:
        return refusal["media_yaml"] != media_digest()
    if refusal.get("structure_version") != mark["structure_version"]:
        return True
    if "skus" not in refusal:
        return refusal.get("catalog_seq") != mark["catalog_seq"]
    return _written_since(store, refusal["skus"], refusal.get("catalog_seq") or 0)


def _written_since(store: Store, skus: list[str], seq: int) -> bool:
    """Whether one of `skus` was written after `seq`, or is gone."""
    found = 0
    with store.engine.connect() as conn:
        for chunk in batched(skus, 500):
            rows = conn.execute(select(PRODUCT.c.seq).where(PRODUCT.c.identifier.in_(chunk))).scalars().all()
            if any(s > seq for s in rows):
                return True
            found += len(rows)
    return found < len(set(skus))


def why_held(refusal: dict[str, Any], contract: Contract) -> str:
    """The hold's reason and what to do, for `pim feeds due`, `list` and `deliver --due`."""
    why, waits = (("for media.yaml", "media.yaml or the contract changes") if "media_yaml" in refusal else
                  ("for its data", "the contract, the structure or a product it named changes") if "skus" in refusal
                  else ("for its data", "the contract or the catalog changes"))
    return (f"its run of {refusal['at']:%Y-%m-%d %H:%M} UTC was refused {why} and is not tried again until "
            f"{waits}: {refusal['error']}\n  → to try it now anyway: pim feeds deliver --contract {contract.code}")
