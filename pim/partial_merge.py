"""A stored product read and written back in part, for the merge step of imports.

A source record touches a handful of value keys (an ERP row: GTIN, weight, two prices) of a product that
stores a few kilobytes of values. Decoding the whole value map into Python objects, re-hashing and
re-encoding it cost most of a merge import. Here only the keys the batch touches are read from the stored
value map's JSON text (msgspec.Raw: the parser skips the others without building them) and decoded into a
partial Product for `merge_product`; the changed keys' JSON is then spliced into that text in place, so a
rewrite that changes no value writes the text back as it was (a first ERP merge mostly moves provenance).
All changed keys are spliced in one pass (a content record sets about five), each found by one search when
it stands before the text's first nested object. Where a key's place in the text is not certain, or more keys
changed than are spliced, the map is split into keys and encoded whole; a batch after one that mostly did
so reads its maps whole at once (`read_parts(whole=True)`: one parse of each, not the touched keys and then
all). The small provenance map is split into raw JSON per key and re-encoded. The product row is then
rewritten with an UPDATE; PostgreSQL gets the changed and removed keys alone (ProductRowUpdate.patch) and lays
them over the stored maps (pim.store.jsonb_patch), the whole texts serving SQLite and the listeners.

The stored `content_hash` of a product rewritten this way is chained from its previous hash and the
change, not computed from the whole record, and marked as such (`CHAINED` prefix). That hash only serves
the full-record write's "unchanged" skip (Store.write_products_in), which compares a record against a
chained row by its stored content instead (and stores the real hash then). Merge imports skip unchanged
records by their source fingerprint (pim.merge.SourceFingerprintRow), not by this hash."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import msgspec
import orjson
from sqlalchemy import Connection

from pim.partial_values import PartialDecoder
from pim.product import Product, Provenance, trusted_association, trusted_product, trusted_provenance
from pim.store import Store
from pim.store.raw import raw_table
from pim.store.store import CHAINED, PRODUCT, ProductDelta, ProductRowUpdate, json_text, provenance_json


class _SourceOnly(msgspec.Struct):
    source: str


_RAW_MAP = msgspec.json.Decoder(dict[str, msgspec.Raw])
_SOURCES = msgspec.json.Decoder(dict[str, _SourceOnly])
_ENCODE = msgspec.json.Encoder()
_MISSING = object()
#: Up to this many changed keys a rewrite splices them into the stored text (each a search of it, a whole
#: scan only for a key behind a nested object); more, and splitting the map into keys and encoding it whole
#: costs less (4 KB, 65-key maps, keys drawn at random: 5 keys 13.4 µs spliced against 13.2 µs whole, 8 keys
#: 20 against 14; a content record's 5 keys, mostly before the first nested object: 12 against 15).
_SPLICED_KEYS = 6
_STRUCTURAL = ("family", "parent", "enabled", "categories", "groups", "associations", "source")
_COLUMNS = ("identifier", "family", "parent", "enabled", "categories", "groups", "value_map", "source", "provenance",
            "associations", "content_hash", "seq")


@dataclass(slots=True)
class StoredPart:
    """One stored product as the merge reads it: `product` has the structural fields and only the touched
    value keys; `touched` their stored JSON, `value_text` the whole map's, split into keys only when asked
    (`values`): a rewrite splices its changed keys into the text (`splice_values`)."""

    product: Product
    value_text: str
    touched: dict[str, msgspec.Raw]
    provenance_text: str
    provenance: dict[str, msgspec.Raw]
    content_hash: str
    seq: int
    _split: dict[str, msgspec.Raw] | None = None
    #: Set by a rewrite that changed too many keys to splice: it encoded the whole map (pim.merge.Merger counts)
    encoded_whole: bool = False

    @property
    def values(self) -> dict[str, msgspec.Raw]:
        """Every stored key's raw JSON (split from the text on first use)."""
        if self._split is None:
            self._split = _RAW_MAP.decode(self.value_text)
        return self._split


def touched_keys(records: Iterable[Product]) -> tuple[str, ...]:
    """Every value key a batch of partial records mentions (what the merge must see of stored products)."""
    keys: set[str] = set()
    for r in records:
        keys.update(r.values)
        keys.update(r.provenance)
    return tuple(keys)


def read_parts(store: Store, conn: Connection, ids: list[str], keys: tuple[str, ...], *,
               whole: bool = False) -> dict[str, StoredPart]:
    """identifier → StoredPart for the stored products among `ids` (one query). `whole`: split each value map
    into keys at once, for rewrites expected to change more keys than are spliced (one parse, not two)."""
    rows = raw_table(store, conn, PRODUCT).select(conn, _COLUMNS, "identifier", ids, as_text=("value_map", "provenance"))
    provs: dict[tuple[Any, ...], Provenance] = {}  # a batch's records share a few provenance entries: build each once

    def prov(d: dict[str, Any] | None) -> Provenance | None:
        if d is None:
            return None
        key = (d["source"], d.get("ref"), d.get("at"))
        hit = provs.get(key)
        if hit is None:
            at = key[2]
            hit = provs[key] = trusted_provenance(key[0], key[1], datetime.fromisoformat(at) if isinstance(at, str) else at)
        return hit

    out: dict[str, StoredPart] = {}
    touched = None if whole else _touched_decoder(keys)
    for ident, family, parent, enabled, categories, groups, value_text, source, prov_text, associations, digest, seq in rows:
        value_text = value_text or "{}"
        split = None
        if touched is not None:
            raw = touched.raw(value_text)  # only the touched keys' JSON: the rest of the map stays text
        else:
            split = _RAW_MAP.decode(value_text)
            raw = {k: split[k] for k in keys if k in split}
        prov_text = prov_text or "{}"
        prov_raw = _RAW_MAP.decode(prov_text)
        partial_values = {k: msgspec.json.decode(v) for k, v in raw.items()}
        partial_prov = {k: prov(msgspec.json.decode(prov_raw[k])) for k in keys if k in prov_raw}
        product = trusted_product(
            ident, family=family, parent=parent, enabled=bool(enabled), categories=categories or [],
            groups=groups or [], values=partial_values, source=prov(source), provenance=partial_prov,  # type: ignore[arg-type]
            associations={k: trusted_association(v) for k, v in associations.items()} if associations else {},
        )
        out[ident] = StoredPart(product, value_text, raw, prov_text, prov_raw, digest, seq, split)
    return out


@lru_cache(maxsize=64)
def _touched_decoder(keys: tuple[str, ...]) -> PartialDecoder | None:
    """A batch's touched keys' decoder, kept for the next batches of a file (they touch the same keys); None
    for a key msgspec cannot name a field by (a quote, a backslash, a control character): the map is split."""
    try:
        return PartialDecoder(keys, raw=True)
    except ValueError:
        return None


def _source_of(p: Product, key: str) -> str | None:
    prov = p.provenance.get(key, p.source)
    return prov.source if prov is not None else None


def row_update(part: StoredPart, after: Product) -> tuple[ProductRowUpdate, ProductDelta] | None:
    """The new row of a stored product the merge turned into `after` (partial, as `part.product`), and what
    changed for the listeners; None when nothing the store keeps changed (values, each value's source,
    structural fields) — a new row reference or import time alone is not a change, as for full writes."""
    before = part.product
    was_values, now_values, was_prov, now_prov = before.values, after.values, before.provenance, after.provenance
    changed: list[str] = []
    reprov: list[str] = []
    for key, value in now_values.items():  # one pass per side, not over a set union (run per merged product)
        if was_values.get(key, _MISSING) != value:
            changed.append(key)
        if (was := was_prov.get(key)) is not (now := now_prov.get(key)) and was != now:
            reprov.append(key)
    for key in was_values:
        if key not in now_values:
            changed.append(key)
            if (was := was_prov.get(key)) is not (now := now_prov.get(key)) and was != now:
                reprov.append(key)
    now_source: dict[str, str | None] = {}  # each re-sourced key's source after, looked up once (the hash needs it too)
    source_moved = []
    for k in reprov:
        now_source[k] = source = _source_of(after, k)
        if _source_of(before, k) != source:
            source_moved.append(k)
    structural = [n for n in _STRUCTURAL if (b := getattr(before, n)) is not (a := getattr(after, n)) and b != a]
    if not changed and not source_moved and not structural:
        return None
    value_text = part.value_text if not changed else \
        splice_values(part, changed, now_values) if len(changed) <= _SPLICED_KEYS else None
    values = None
    if value_text is None:  # many keys changed, or one the splice cannot place: split and encode it all
        part.encoded_whole = True
        values = dict(part.values)
        for key in changed:
            if key in now_values:
                values[key] = msgspec.Raw(orjson.dumps(now_values[key], option=orjson.OPT_NON_STR_KEYS))
            else:
                values.pop(key, None)
        value_text = _ENCODE.encode(values).decode()
    kept_sources = _SOURCES.decode(part.provenance_text) if part.provenance_text != "{}" else {}
    provenance_text, sources_after = part.provenance_text, None
    if reprov:
        prov_raw = dict(part.provenance)
        now_sources = {k: p.source for k, p in kept_sources.items()}
        dumped: dict[int, msgspec.Raw] = {}  # a record's keys share one Provenance: serialised once
        for key in reprov:
            p = now_prov.get(key)
            if p is not None:
                raw = dumped.get(id(p))
                if raw is None:
                    raw = dumped[id(p)] = msgspec.Raw(orjson.dumps(provenance_json(p)))
                prov_raw[key] = raw
                now_sources[key] = p.source
            else:
                prov_raw.pop(key, None)
                now_sources.pop(key, None)
        provenance_text = _ENCODE.encode(prov_raw).decode()
        sources_after = _with_default(after.source, now_sources.values())
    change = sorted((k, now_values.get(k), now_source[k] if k in now_source else _source_of(after, k))
                    for k in {*changed, *source_moved})
    body = orjson.dumps([part.content_hash, change, {n: getattr(after, n) for n in structural}],
                        option=orjson.OPT_NON_STR_KEYS, default=_plain)
    fields = None
    if structural:
        fields = (after.family, after.parent, after.enabled, json_text(after.categories), json_text(after.groups),
                  json_text(provenance_json(after.source)),
                  json_text({k: v.model_dump(exclude_defaults=True) for k, v in after.associations.items()}))
    row = ProductRowUpdate(after.identifier, value_text, provenance_text,
                           CHAINED + hashlib.blake2b(body, digest_size=16).hexdigest(), fields,
                           (*_patch(changed, now_values.get, _value_json),
                            *_patch(reprov, lambda k, d: d if (p := now_prov.get(k)) is None else p,
                                    lambda p: bytes(dumped[id(p)]).decode())))
    sources_before = _with_default(before.source, (p.source for p in kept_sources.values()))
    if sources_after is None:
        sources_after = _with_default(after.source, (p.source for p in kept_sources.values())) \
            if after.source != before.source else sources_before
    return row, ProductDelta(before=before, after=after, sources=(sources_before, sources_after),
                             values=RawValues(values, value_text))


def _patch(keys: list[str], now: Any, as_json: Any) -> tuple[str | None, str | None]:
    """A map's change as PostgreSQL applies it (pim.store.jsonb_patch): the JSON object of the `keys` set
    (`now(key)` not None, `as_json` its JSON text) and the JSON array of those removed; None for either
    when empty."""
    if not keys:
        return None, None
    set_, removed = [], []
    for key in keys:
        value = now(key, _MISSING)
        if value is _MISSING:
            removed.append(key)
        else:
            set_.append(f"{_key_head(key)}{as_json(value)}")
    return ("{" + ",".join(set_) + "}" if set_ else None), (orjson.dumps(removed).decode() if removed else None)


def splice_values(part: StoredPart, changed: list[str], now: Mapping[str, Any]) -> str | None:
    """The stored value map's text with the `changed` keys set to their value in `now` (removed when absent
    there), the rest of the text kept as stored; a key new to the map goes last, as a dict update puts it.
    None when a key's place in the text is not certain: the caller splits and re-encodes the map then.

    One pass over the keys, each found by one search: before the text's first nested object ("{" past the
    map's own) a key head is at the map's top level, so only a key found behind it is searched for again."""
    text, touched = part.value_text, part.touched
    find = text.find
    nested = find("{", 1)
    if nested < 0:
        nested = len(text)
    cuts: list[tuple[int, int, str]] = []  # (start, end, what replaces text[start:end])
    added: list[str] = []
    for key in changed:
        head = _key_head(key)
        at = find(head)
        old = touched.get(key)
        if old is None:
            if key in now:
                if at >= 0:  # a key the read did not take (or a nested one): not sure
                    return None
                added.append(f"{head}{_value_json(now[key])}")
            continue
        span = _place(text, head, old, at, nested)
        if span is None:
            return None
        start, end = span
        if key in now:
            cuts.append((start, end, f"{head}{_value_json(now[key])}"))
            continue
        if text[start - 1] == ",":  # a removed key takes one comma beside it along
            start -= 1
        elif text[start - 2:start] == ", ":
            start -= 2
        elif text[end:end + 1] == ",":
            end += 2 if text[end + 1:end + 2] == " " else 1
        cuts.append((start, end, ""))
    cuts.sort()
    pieces, at = [], 0
    for start, end, new in cuts:
        if start < at:  # two removed neighbours claimed one comma
            return None
        pieces += (text[at:start], new)
        at = end
    pieces.append(text[at:])
    out = "".join(pieces)
    if added:
        body = out.rstrip()
        if not body.endswith("}"):
            return None
        body = body[:-1].rstrip()
        out = f"{body}{'' if body.endswith('{') else ','}{','.join(added)}}}"
    return out


def _place(text: str, head: str, old: msgspec.Raw, at: int, nested: int) -> tuple[int, int] | None:
    """Where `"key":<old>` stands in a value map's text (`head`: the key as JSON, then a colon; `at`: where
    the head is first found), if sure: at a key position, followed by its stored value (after a space in
    PostgreSQL's text), and either before the first nested object (`nested`: nothing before it is nested, so
    the head is the top-level key's) or found only once in the whole text (a nested object's key of the same
    name makes it unsure)."""
    if at < 0 or text[at - 1:at] not in _BEFORE_KEY:
        return None
    start = at + len(head)
    if at > nested and text.find(head, start) >= 0:
        return None
    value = bytes(old).decode()
    if text[start:start + 1] == " ":
        start += 1
    return (at, start + len(value)) if text.startswith(value, start) else None


def _value_json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


_BEFORE_KEY = frozenset("{, ")


@lru_cache(maxsize=4096)
def _key_head(key: str) -> str:
    """A key as JSON text and the colon after it, as it heads its entry in a stored map's text."""
    return orjson.dumps(key).decode() + ":"


class RawValues(Mapping[str, Any]):
    """A value map kept as raw JSON per key, decoded per key on access. Pickled as its JSON text (a merge
    prepared in a worker process sends it to the writer), split into keys again only when read."""

    __slots__ = ("_raw", "_text")

    def __init__(self, raw: dict[str, msgspec.Raw] | None, text: str | None = None) -> None:
        self._raw, self._text = raw, text

    @property
    def raw(self) -> dict[str, msgspec.Raw]:
        if self._raw is None:
            self._raw = _RAW_MAP.decode(self._text or "{}")
        return self._raw

    def __getitem__(self, key: str) -> Any:
        return msgspec.json.decode(self.raw[key])

    @property
    def unsplit_text(self) -> str | None:
        """The map's JSON text while it has not been split into keys (a pickled map), else None: a reader
        wanting a few keys decodes those from the text (pim.partial_values.PartialDecoder does)."""
        return self._text if self._raw is None else None

    def __contains__(self, key: object) -> bool:
        return key in self.raw

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)

    def __reduce__(self) -> Any:
        return RawValues, (None, self._text if self._text is not None else _ENCODE.encode(self._raw).decode())


def _with_default(default: Provenance | None, sources: Iterable[str]) -> frozenset[str]:
    """The record-level source and every per-value provenance source (as the grid's source filter keeps them):
    the per-value ones read from the provenance text once per rewrite, the rewrite's changes applied to them."""
    found = set(sources)
    if default is not None:
        found.add(default.source)
    return frozenset(found)


def _plain(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", exclude_defaults=True)
    return str(value)
