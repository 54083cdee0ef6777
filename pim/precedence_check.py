"""A precedence file checked against the catalog structure before an import relies on it.

A rule for a code the structure does not have (`nmae`, `marketting`) or for a source no import can be named
(`ERP`) loads without complaint and never matches: the attribute falls back to `default` while the file
says otherwise. Imports refuse such a file; a person's edit in the UI does not (a rule left behind by a
deleted attribute must not stop the content team).

A well-formed name may still be misspelt (`suplier:*`, `supplier:acmee`): it matches no source, and the sources
it was meant for rank as unnamed. Only the store can tell, and a supplier not imported yet is no mistake, so
an import warns (`note_unseen_sources`) instead of refusing."""

from __future__ import annotations

import re
from difflib import get_close_matches
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, union

from pim.errors import InputError
from pim.spelling import nearest

if TYPE_CHECKING:
    from pim.catalog import Structure
    from pim.importing import ImportCounts
    from pim.merge import Precedence
    from pim.store import Store

#: A source name (pim.sources.SourceProfile.source) or a pattern of them (`supplier:*`).
SOURCE_OR_PATTERN = re.compile(r"^[a-z0-9_*?\[\]!-]+(:[A-Za-z0-9_.*?\[\]!-]+)?$")


def check_precedence(precedence: Precedence, structure: Structure, file: str | None) -> None:
    """InputError naming the first rule that can never apply."""
    sections = (("attributes", "attribute", structure.attributes),
                ("groups", "attribute group", {*structure.attribute_groups,
                                               *(a.group for a in structure.attributes.values() if a.group)}),
                ("associations", "association type", structure.association_types))
    for section, kind, known in sections:
        for code in getattr(precedence, section):
            if code not in known:
                near = get_close_matches(code, list(known), n=1)
                raise InputError(f"the precedence has a rule for {kind} '{code}', which the catalog does not have",
                                 file=file, field=f"{section}.{code}",
                                 hint=f"did you mean '{near[0]}'?" if near else f"the structure files list the {kind}s")
    for where, order in _rules(precedence).items():
        for name in order:
            if not SOURCE_OR_PATTERN.match(name):
                raise InputError(f"'{name}' is not a source name, so the rule never matches it", file=file,
                                 field=where, hint="sources are written in lower case: erp, content, supplier:acme, "
                                 "or a pattern such as supplier:*")


def _rules(precedence: Precedence) -> dict[str, list[str]]:
    """Where each order of the file is (`default`, `attributes.weight`) → its source names and patterns."""
    return {"default": precedence.default, **{f"{section}.{code}": order
                                              for section in ("attributes", "groups", "associations")
                                              for code, order in getattr(precedence, section).items()}}


def unseen_sources(precedence: Precedence, seen: set[str]) -> dict[str, tuple[str, list[str]]]:
    """name → (the name of a source in `seen` it likely means, where the file has it) for each name that
    matches none of `seen` and is close to one: its kind (`suplier` of `supplier:*`) to a kind of `seen`,
    then its name within the kind (`acmee`) to a name of that kind. A name close to none is a source not
    imported yet, not a typo."""
    out: dict[str, tuple[str, list[str]]] = {}
    for where, order in _rules(precedence).items():
        for name in order:
            if name in out:
                out[name][1].append(where)
            elif not any(fnmatchcase(s, name) for s in seen) and (meant := _meant(name, seen)):
                out[name] = (meant, [where])
    return out


def _meant(name: str, seen: set[str]) -> str | None:
    kind, colon, rest = name.partition(":")
    kinds = sorted({s.partition(":")[0] for s in seen if ":" in s})
    if not colon:  # `contnet`, or a kind alone (`supplier`, meaning `supplier:*`)
        return nearest(name, sorted(s for s in seen if ":" not in s) + [f"{k}:*" for k in kinds])
    kind = kind if kind in kinds else nearest(kind, kinds) or ""
    if not kind:
        return None
    if any(fnmatchcase(s, f"{kind}:{rest}") for s in seen):
        return f"{kind}:{rest}"
    near = nearest(rest, sorted(s.partition(":")[2] for s in seen if s.startswith(f"{kind}:")))
    return f"{kind}:{near}" if near else None


def seen_sources(store: Store) -> set[str]:
    """Every source that merged a record (its fingerprints) or has a cross-reference, in one statement that
    steps from source to source through each table's source-led primary key: a few index reads per source,
    whatever the catalog's size (a DISTINCT would read every fingerprint)."""
    from pim.merge import FINGERPRINT
    from pim.sources import XREF

    with store.engine.connect() as conn:
        return set(conn.execute(union(_each_value(FINGERPRINT.c.source), _each_value(XREF.c.source))).scalars())


def _each_value(column: Any) -> Any:
    """SELECT of the distinct values of an indexed column (a loose index scan, as a recursive CTE)."""
    steps = select(func.min(column).label("value")).cte(f"{column.table.name}_values", recursive=True)
    following = select(func.min(column)).where(column > steps.c.value).scalar_subquery()
    steps = steps.union_all(select(following).where(steps.c.value.is_not(None)))
    return select(steps.c.value).where(steps.c.value.is_not(None))


def note_unseen_sources(store: Store, counts: ImportCounts, source: str, precedence: Precedence, file: str) -> None:
    """One `warning` per import and precedence file naming the file's source names that match no source the
    store has seen (nor the import's own, `source`) but are close to one; the same source's next import with
    the file replaces it, or closes it once the file is clean. Counted as `precedence_unknown_sources`."""
    from pim.importing import file_warning

    key = f"precedence-sources:{file}"
    typos = unseen_sources(precedence, seen_sources(store) | {source})
    if not typos:
        file_warning(store, counts.job_id, source, key, None, file=file)
        return
    counts.extra["precedence_unknown_sources"] = len(typos)
    if len(typos) == 1:
        [(name, (meant, where))] = typos.items()
        said = f"{_places(where)} '{name}', which matches no source imported so far (did you mean '{meant}'?)"
    else:
        said = f"{len(typos)} names match no source imported so far: " + "; ".join(
            f"{_places(where)} '{name}' (did you mean '{meant}'?)" for name, (meant, where) in typos.items())
    file_warning(store, counts.job_id, source, key,
                 f"{said}: the sources meant rank as unnamed, below every named one. Correct the precedence file (a "
                 "source yet to be imported can ignore this)", file=file, field=next(iter(typos.values()))[1][0])


def _places(where: list[str]) -> str:
    """`attributes.weight names`, `default, groups.technical and 3 more name`."""
    if len(where) == 1:
        return f"{where[0]} names"
    more = f" and {len(where) - 2} more" if len(where) > 3 else ""
    return f"{', '.join(where[:2] if more else where)}{more} name"
