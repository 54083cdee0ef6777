"""What a delivery run's catalog snapshot (pim.feeds.FeedRun) keeps of each product, and whether it fits.

A product's values hold every locale, channel and attribute of its family (~11 KB per product as Python objects
on the generated medium catalog), while a run's contracts read a handful: the keys their renderers name
(`reads`: fields and label in the contract's locale and channel, BMEcat's own attributes), the list price, and
every key of an attribute an assortment rule names (rules match any locale and channel). The snapshot keeps
only those (`Diet`). The gate is not fed from the snapshot when it is trimmed: it reads full rows once per
product and run.

Whether a snapshot is held at all is a byte estimate against a limit (`PIM_FEED_SNAPSHOT_MAX_MB`, else
`SNAPSHOT_MAX_BYTES`), not a product count: the same 250k products cost 50 MB or 2.6 GB depending on what the
contracts read."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from pim.catalog import Structure
from pim.contracts import Contract
from pim.product import split_key, value_key
from pim.structure import AttributeType

#: The most a run's snapshot may take per worker process unless PIM_FEED_SNAPSHOT_MAX_MB says (the project aims
#: at 1 GiB peak RSS per worker; the rest goes to the interpreter, rendered rows, gate verdicts, stock and the
#: file being written). A catalog whose snapshot is estimated above the limit is scanned per contract instead.
SNAPSHOT_MAX_BYTES = 512 * 2**20
#: Products read to estimate the snapshot's size, spread over the catalog by id.
SAMPLE = 500
#: Bytes per product besides its values: the row object, identifier, categories, the index's entries and the
#: freed memory reading leaves behind (medium catalog: 2.1 KB per product measured, 2.2 KB estimated).
ROW_BYTES = 1000
#: Bytes of Python objects per byte of a product's values as JSON text (dicts, str headers), as measured on
#: the generated medium catalog's trimmed rows; it errs high for long texts.
OBJECT_BYTES_PER_JSON_BYTE = 3.2
#: Attribute types whose values repeat across products (option codes, units): one string object per text.
_REPEATED = frozenset({AttributeType.simple_select, AttributeType.multi_select, AttributeType.metric})


class Diet:
    """The value keys a snapshot keeps: `keys` exactly, and any key of the `attributes` (rule criteria). Values of
    the `repeated` attributes (option codes, metric units) share one string object per text across products."""

    def __init__(self, keys: Iterable[str], attributes: Iterable[str], repeated: Iterable[str] = ()) -> None:
        self.keys, self.attributes, self.repeated = frozenset(keys), frozenset(attributes), frozenset(repeated)
        self._kept: dict[str, int] = {}  # value key → 0 dropped, 1 kept, 2 kept and shared; keys repeat
        self._strings: dict[str, str] = {}

    def covers(self, other: Diet | None) -> bool:
        """Whether a snapshot on this diet holds everything a build on `other` reads (None: everything)."""
        return other is not None and other.keys <= self.keys and other.attributes <= self.attributes

    def _decide(self, key: str) -> int:
        code = split_key(key)[0]
        self._kept[key] = kept = (2 if code in self.repeated else 1) if key in self.keys or code in self.attributes else 0
        return kept

    def __call__(self, values: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        decided, shared = self._kept, self._strings
        for key, v in values.items():
            kept = decided.get(key)
            if kept is None:
                kept = self._decide(key)
            if kept == 2:
                if type(v) is str:
                    v = shared.setdefault(v, v)
                elif type(v) is list:
                    v = [shared.setdefault(x, x) if type(x) is str else x for x in v]
                elif type(v) is dict and type(unit := v.get("unit")) is str:
                    v = {**v, "unit": shared.setdefault(unit, unit)}
            if kept:
                out[key] = v
        return out


def contract_diet(contract: Contract, structure: Structure, renderer: Any) -> Diet | None:
    """What a build of `contract` reads of a product's values; None when its renderer does not say (`reads`)."""
    reads = getattr(renderer, "reads", None)
    if reads is None:
        return None
    price = contract.pricing.list_price_attribute
    attr = structure.attributes.get(price)
    keys = set(reads(contract, structure)) | {price, value_key(price, None, contract.channel if attr and attr.scopable else None)}
    a = contract.assortment
    ruled = {code for rule in (*a.rules, *a.exclude) for code in rule.attributes}
    ruled |= {a.brand_attribute for rule in (*a.rules, *a.exclude) if rule.brands}
    kept = {split_key(k)[0] for k in keys} | ruled
    repeated = {c for c in kept if (x := structure.attributes.get(c)) is not None and x.type in _REPEATED}
    return Diet(keys, ruled, repeated)


def run_diet(diets: Iterable[Diet | None]) -> Diet | None:
    """One diet for the builds of a run: the union of theirs; None (keep everything) when one reads everything."""
    keys: set[str] = set()
    attributes: set[str] = set()
    repeated: set[str] = set()
    for d in diets:
        if d is None:
            return None
        keys |= d.keys
        attributes |= d.attributes
        repeated |= d.repeated
    return Diet(keys, attributes, repeated)


def estimated_bytes(products: int, sample: list[Any]) -> int:
    """The snapshot's size for `products` rows like the `sample` (rows already on their diet)."""
    if not sample:
        return products * ROW_BYTES
    text = sum(len(orjson.dumps(r.values)) for r in sample) / len(sample)
    return int(products * (ROW_BYTES + OBJECT_BYTES_PER_JSON_BYTE * text))


def snapshot_limit(default: int = SNAPSHOT_MAX_BYTES) -> int:
    """The snapshot's byte limit: PIM_FEED_SNAPSHOT_MAX_MB when set (a host with less or more memory per worker
    than the project's 1 GiB aim), else `default`."""
    from pim.settings import get_settings

    mb = get_settings().feed_snapshot_max_mb
    return default if mb is None else int(mb * 2**20)
