"""The grid's text rows (pim.grid_index): search tokens, and which label keys a write changed.

A product's text rows are word tokens of its identifier (locale "") and of its family's label attribute per
locale (a variant without its own label uses its model's). A merge's partial rewrite is diffed over just the
locales whose label changed (`_label_change`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pim.catalog import Structure
from pim.grid_tables import TOKEN_LENGTH
from pim.product import split_key, value_key

_WORD = re.compile(r"\w+", re.UNICODE)
#: A product's text rows a write removed and added, as (locale, token) pairs (`_label_change`).
TextDiff = tuple[set[tuple[str, str]], set[tuple[str, str]]]


def tokens(text: Any) -> set[str]:
    """The searchable words of a text, lowercase and capped in length: each whitespace-separated piece
    ("runner-red") and each run of word characters in it ("runner", "red")."""
    if not isinstance(text, str) or not text:
        return set()
    folded = text.casefold()
    pieces = folded.split()
    out = set(pieces)
    for piece in pieces:  # whitespace is never a word character: the runs of the text are its pieces' runs
        if not piece.isalnum():  # an alphanumeric piece is one run (\w is isalnum() or "_"): no regex needed
            out.update(_WORD.findall(piece))
    if len(folded) > TOKEN_LENGTH and any(len(w) > TOKEN_LENGTH for w in out):
        return {w[:TOKEN_LENGTH] for w in out}
    return out


def query_words(q: str | None) -> list[str]:
    """A search's words: its whitespace-separated pieces, lowercase, longest (likely rarest) first; every
    one must start a token of the product."""
    return sorted({w[:TOKEN_LENGTH] for w in (q or "").casefold().split()}, key=len, reverse=True)


def prefix_range(word: str) -> tuple[str, str]:
    """[low, high) of the tokens that start with `word` (code point order = byte order of UTF-8)."""
    return word, word + "\U0010ffff"


def _same_frame(old: Any, new: Any, structure: Structure) -> bool:
    """True when a write left a product's category and text rows as they were: same family, parent and
    categories, and the same values of its family's label attribute."""
    if (old.family, old.parent, old.categories) != (new.family, new.parent, new.categories):
        return False
    before, after = old.values, new.values
    if before is after:
        return True
    keys: Iterable[str] = _label_keys(structure, new.family)
    if len(before) + len(after) < len(keys):  # a partial record (a merge's delta): look at its own keys
        labels = _label_set(structure, new.family)
        keys = [k for k in (*before, *after) if k in labels]
    return all(before.get(k) == after.get(k) for k in keys)


def _label_set(structure: Structure, family: str | None) -> frozenset[str]:
    cache = structure.__dict__.setdefault("_grid_label_sets", {})
    hit = cache.get(family)
    if hit is None:
        hit = cache[family] = frozenset(_label_keys(structure, family))
    return hit


_ABSENT = object()


def _label_locale(key: str) -> str:
    """The text-row locale of a label value key ("" for a non-localizable label, as _text_tokens files it)."""
    return split_key(key)[1] or ""


def _keys_of(code: str, keys: Iterable[str]) -> list[str]:
    """The value keys among `keys` of attribute `code` (itself, `code:…`, `code@…`; not `code_other`)."""
    n = len(code)
    return [k for k in keys if k.startswith(code) and (len(k) == n or k[n] in ":@")]


def _label_change(identifier: str, delta: Any, structure: Structure) -> TextDiff | None:
    """The (locale, token) text rows a merge's partial rewrite (pim.store.store.ProductDelta) of a product
    without a model removed and added; None when its label did not change. Only the row locales of the label
    keys that changed are looked at: their keys the write left alone (from the delta's whole value map, still
    raw JSON: only those are decoded) and, for locale "", the identifier give the tokens both sides keep, so a
    token another key still gives is not deleted. A label key is any key _text_tokens reads (also of a locale
    or channel the structure no longer declares, which the rebuild indexes too)."""
    fam = structure.families.get(delta.after.family or "")
    code = fam.attribute_as_label if fam else None
    if not code:
        return None
    before, after = delta.before.values, delta.after.values
    changed = [k for k in _keys_of(code, before.keys() | after.keys()) if before.get(k, _ABSENT) != after.get(k, _ABSENT)]
    if not changed:
        return None
    groups: dict[str, tuple[set[str], set[str], set[str]]] = {}  # row locale → tokens before, after, kept by both
    for k in changed:
        locale = _label_locale(k)[:20]  # truncated as _text_tokens files it
        was, now, _ = groups.get(locale) or groups.setdefault(locale, (set(), set(), set()))
        if k in before:
            was |= tokens(before[k])
        if k in after:
            now |= tokens(after[k])
    if "" in groups:
        groups[""][2].update(tokens(identifier))
    whole, moved = delta.values, set(changed)
    for k in _keys_of(code, whole):  # the other keys of those locales: the same both sides
        if k not in moved:
            group = groups.get(_label_locale(k)[:20])
            if group is not None:
                group[2].update(tokens(whole[k]))
    lost = {(locale, t) for locale, (was, now, kept) in groups.items() for t in was - now - kept}
    found = {(locale, t) for locale, (was, now, kept) in groups.items() for t in now - was - kept}
    return lost, found


def _label_moved(delta: Any, codes: Iterable[str]) -> bool:
    """Whether a partial rewrite changed a value of any of the label attributes `codes` (any key _text_tokens
    reads of them)."""
    before, after = delta.before.values, delta.after.values
    keys = before.keys() | after.keys()
    return any(before.get(k, _ABSENT) != after.get(k, _ABSENT) for c in codes for k in _keys_of(c, keys))


def _label_codes(structure: Structure, family: str | None) -> frozenset[str]:
    """The label attribute a product of `family` can take its text from: its family's, or for a variant without
    a family of its own every family's (it takes its model's). Cached per structure."""
    cache = structure.__dict__.setdefault("_grid_label_codes", {})
    hit = cache.get(family)
    if hit is None:
        fams = [structure.families.get(family)] if family else list(structure.families.values())
        hit = cache[family] = frozenset(f.attribute_as_label for f in fams if f is not None and f.attribute_as_label)
    return hit


def _label_keys(structure: Structure, family: str | None) -> tuple[str, ...]:
    """Every value key the family's label attribute can have (any locale, any channel), cached per structure."""
    cache = structure.__dict__.setdefault("_grid_label_keys", {})
    hit = cache.get(family)
    if hit is None:
        fam = structure.families.get(family or "")
        code = fam.attribute_as_label if fam else None
        locales, channels = [None, *structure.locales], [None, *structure.channels]
        hit = cache[family] = tuple(value_key(code, loc, ch) for loc in locales for ch in channels) if code else ()
    return hit


def _text_tokens(identifier: str, family: str | None, values: dict[str, Any], chain: list[dict[str, Any]],
                 structure: Structure) -> set[tuple[str, str]]:
    out = {("", t) for t in tokens(identifier)}
    fam = structure.families.get(family or "")
    code = fam.attribute_as_label if fam else None
    if not code:
        return out
    label: dict[str, Any] = {}  # the label's keys only, a variant's own over its models'
    for source in [*(m["values"] for m in reversed(chain)), values]:
        label.update((k, source[k]) for k in _keys_of(code, source))
    for key, value in label.items():
        locale = _label_locale(key)
        out.update((locale[:20], t) for t in tokens(value))
    return out
