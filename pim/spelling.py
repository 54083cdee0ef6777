"""The name a person most likely meant: "did you mean" for map columns, attribute codes, units and profile keys,
shared by the core (profile keys, pim.sources) and the importers."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

_SPELLED_OUT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})


def _folded(name: str) -> str:
    return " ".join(name.split()).casefold().translate(_SPELLED_OUT)


def nearest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate `name` most likely meant: equal but for case, blanks and umlauts written out (`Oeko` for
    `Öko`), else the closest by spelling."""
    pool = list(candidates)
    folded = _folded(name)
    same = [c for c in pool if _folded(c) == folded]
    if same:
        return same[0]
    close = difflib.get_close_matches(folded, {_folded(c): c for c in pool}, n=1, cutoff=0.7)
    return next(c for c in pool if _folded(c) == close[0]) if close else None


def did_you_mean(near: str | None) -> str:
    """` (did you mean 'X'?)` after a refused name, or nothing when no name is near (`nearest`)."""
    return f" (did you mean '{near}'?)" if near else ""


def unknown_key(model: type[BaseModel], loc: tuple[Any, ...]) -> str | None:
    """What to say of a key the profile's model has no field for (`feilds:`, or `untis:` in a rule): the key it
    likely meant, or the keys there are. None when the place cannot be told (pydantic's message then)."""
    keys = _keys_at(model, loc[:-1])
    if not keys:
        return None
    key = str(loc[-1])
    near = nearest(key, keys)
    return (f"'{key}' is not a key here: did you mean '{near}'? Rename it" if near
            else f"'{key}' is not a key here: remove it (the keys: {', '.join(keys)})")


def _keys_at(model: type[BaseModel], path: tuple[Any, ...]) -> list[str] | None:
    """The keys (aliases where given) of the model found at `path` inside `model`: field names step into a
    field's type, list indexes and dict keys into the items' type."""
    ann: Any = model
    for part in path:
        named = next((a for a in _arms(ann) if isinstance(a, type) and a.__name__ == part), None)
        if named is not None:  # pydantic names a union's arm by its class: `columns.Gewicht.ValueRule.unitfrom`
            ann = named
            continue
        cls = _model_in(ann)
        if cls is not None and isinstance(part, str) and part in cls.model_fields:
            ann = cls.model_fields[part].annotation
            continue
        items = [a for a in _arms(ann) if get_origin(a) in (list, tuple, set, frozenset, dict)]
        if not items:
            return None
        ann = get_args(items[0])[-1] if get_args(items[0]) else None
    cls = _model_in(ann)
    return [f.alias or name for name, f in cls.model_fields.items()] if cls is not None else None


def _arms(ann: Any) -> tuple[Any, ...]:
    """A type's alternatives (a union's arms, an Annotated's type), else the type itself."""
    if get_origin(ann) is Annotated:
        return _arms(get_args(ann)[0])
    if get_origin(ann) in (Union, UnionType):
        return tuple(a for arm in get_args(ann) for a in _arms(arm))
    return (ann,)


def _model_in(ann: Any) -> type[BaseModel] | None:
    return next((a for a in _arms(ann) if isinstance(a, type) and issubclass(a, BaseModel)), None)


def literal_hint(error: Mapping[str, Any]) -> str | None:
    """What to say of a pydantic `literal_error` (a key or value outside a fixed list: `fields:
    manufacturer_nme`, `unmatched: creat`): the choice it likely meant, or None for other errors."""
    if error.get("type") != "literal_error" or not isinstance(error.get("ctx"), dict):
        return None
    choices = re.findall(r"'([^']*)'", str(error["ctx"].get("expected", "")))
    loc = error.get("loc", ())
    given = str(loc[-2] if loc and loc[-1] == "[key]" and len(loc) > 1 else error.get("input"))
    near = nearest(given, choices) if choices else None
    if near is None:
        return None
    return f"'{given}' is not one of {', '.join(choices)}: did you mean '{near}'?"
