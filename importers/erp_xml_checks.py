"""Where an ERP XML map and its file do not fit, said instead of importing less than the file holds: records
nested in records of their name, unprefixed paths into a default namespace, a `record` the file lacks, a rule's
unit its attribute's family lacks (errors), and paths that matched in no record while the records hold what they
likely meant (warnings). Split from importers.erp_xml, whose reader calls these."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from lxml import etree

from importers.erp_values import ValueBuilder
from importers.erp_xml_paths import FIRST_STEP, first_tag
from importers.xml_safety import open_for_xml, safe_iterparse
from pim.errors import InputError
from pim.spelling import nearest

if TYPE_CHECKING:
    from importers.erp_xml import CompiledMap, ErpXmlMap


def local_name(elem: Any) -> str | None:
    """An element's local name; None for no element (the root's parent)."""
    return None if elem is None else etree.QName(elem).localname


def outer_record(ancestors: list[Any], local: str, parent: str) -> Any | None:
    """The record an element is inside of, if any: one of its `ancestors` with the record's local name, and the
    record's parent when `record` names one."""
    for node in ancestors:
        tag = node.tag
        if tag.endswith(local) and tag[tag.rfind("}") + 1:] == local and (
                not parent or local_name(node.getparent()) == parent):
            return node
    return None


def nested_records(inner: Any, outer: Any, m: ErpXmlMap, name: str) -> InputError:
    """A record inside a record: read first and freed, the inner one would take the outer one's elements before
    it along, so the outer product would be rejected for want of a SKU or imported without them. Which of them
    are the products the file cannot say: the map names their parent element."""
    local = etree.QName(inner).localname
    steps = [local]  # the inner record's path from the outer one
    for node in inner.iterancestors():
        if node is outer:
            break
        steps.insert(0, etree.QName(node).localname)
    around_outer, around_inner = local_name(outer.getparent()), steps[-2] if len(steps) > 1 else local
    ways = []
    if around_outer and around_outer != around_inner:
        ways.append(f"`record: {around_outer}/{local}` reads the outer ones as products (the inner ones are then "
                    f"part of them, for paths such as {'/'.join(steps)}/…)")
    if around_inner != around_outer:
        ways.append(f"`record: {around_inner}/{local}` reads the inner ones")
    hint = ("say which are the products by their parent element: " + "; ".join(ways) if ways else
            f"both sit in <{around_inner}> elements, so `record` cannot tell them apart: export them under different "
            "names")
    return InputError(f"<{local}> at line {inner.sourceline} is inside the <{local}> of line {outer.sourceline}: "
                      f"`record: {m.record}` takes both for products, and the inner one is read first: freeing it "
                      "frees the outer one's elements before it, so the outer product would be read without them "
                      "(or rejected for want of its SKU)",
                      file=name, line=inner.sourceline, field="record", hint=hint)


def refuse_unknown_units(m: ErpXmlMap, builder: ValueBuilder, name: str) -> None:
    """A value rule whose own unit (`unit`, a `unit_map` target) its attribute's family lacks: a typo in the map,
    which showed as a clash with each record's unit (or an unknown unit per record). Refused before a record is read."""
    for n, rule in enumerate(m.values):
        if (unit := builder.unknown_unit(rule)) is not None:
            field, problem = unit
            raise InputError(f"values[{n}] (path {rule.path}, to {rule.to}): {problem}", file=name,
                             field=f"values.{n}.{field}", hint=f"fix `{field}` of values[{n}] in the map (a unit code, "
                             "symbol or UN/ECE code of the attribute's measurement family); nothing was imported")


def _relative_paths(m: ErpXmlMap) -> list[tuple[str, str]]:
    """(map field, path) of the paths evaluated on the record element itself."""
    paths = [("sku", m.sku)] + [(f"values.{n}.{f}", getattr(r, f)) for n, r in enumerate(m.values)
                                for f in ("path", "unit_from") if getattr(r, f)]
    return paths + ([("stock.path", m.stock.path)] if m.stock else [])


def refuse_unprefixed(elem: Any, m: ErpXmlMap, name: str) -> None:
    """A file with a default namespace (xmlns="…") and a map writing its paths without a prefix: XPath names
    without a prefix match only elements in no namespace, so every such path read nothing and the import
    reported success. Refused at the first record whose child the path names in a namespace."""
    spaced = {}  # local name → namespace of the record's namespaced children
    for child in elem:
        tag = child.tag
        if isinstance(tag, str) and tag.startswith("{"):
            spaced.setdefault(tag[tag.rfind("}") + 1:], tag[1:tag.rfind("}")])
    if not spaced:
        return
    plain = {child.tag for child in elem if isinstance(child.tag, str)}
    for where, path in _relative_paths(m):
        first = first_tag(path, None)  # None for a prefixed path
        if first is not None and first not in plain and first in spaced:
            uri = spaced[first]
            prefix = next((p for p, u in m.namespaces.items() if u == uri), None)
            hint = (f"write it with the prefix the map declares for that namespace: {prefix}:{first}" if prefix else
                    f"declare the namespace in the map (namespaces: {{x: '{uri}'}}) and write each name in the path "
                    f"with its prefix: x:{first}")
            raise InputError(f"{where} '{path}' names <{first}> in no namespace, but the file's <{first}> is in the "
                             f"namespace '{uri}': a name without a prefix in an XPath matches only elements in no "
                             "namespace, so this path would read nothing", file=name, line=elem.sourceline,
                             field=where, hint=hint)


def unread_paths(m: ErpXmlMap, c: CompiledMap) -> list[tuple[str, str]]:
    """(map field, note) of the value and stock paths that matched in no record of the file while the records
    hold what the path likely meant: its element in another namespace, or an element no path reads whose name
    is spelled nearly alike (a typo). An element the file simply lacks is no mistake: MATMAS segments are
    optional, and a map reads the superset."""
    seen = [(tag[1:tag.rfind("}")] if tag.startswith("{") else "", tag[tag.rfind("}") + 1:]) for tag in c.names
            if isinstance(tag, str)]
    firsts = {step.group(2) for _, path in _relative_paths(m) if (step := FIRST_STEP.match(path))}
    spare = sorted({local for _, local in seen} - firsts)
    missed = [(f"values.{n}.path", f"values[{n}] path '{r.path}' (to {r.to})", r.path)
              for n, (r, hit) in enumerate(zip(m.values, c.hit)) if not hit]
    if m.stock and not c.stock_hit:
        missed.append(("stock.path", f"stock path '{m.stock.path}'", m.stock.path))
    out = []
    for field, what, path in missed:
        step = FIRST_STEP.match(path)
        if step is None:
            continue
        prefix, local = step.group(1, 2)
        meant = m.namespaces.get(prefix, "") if prefix else ""
        elsewhere = sorted(ns for ns, name in seen if name == local and ns != meant)
        if elsewhere:
            where = f"the namespace '{elsewhere[0]}'" if elsewhere[0] else "no namespace"
            out.append((field, f"{what} matched in no record, but the records' <{local}> is in {where}"))
        elif near := nearest(local, spare):
            out.append((field, f"{what} matched in no record (the records have <{near}>, which no path reads)"))
    timed, after = c.timed
    if m.stock and m.stock.updated_at and ((timed == 0 and c.stock_hit) or (timed == 1 and after)):
        out.append(("stock.updated_at", _untimed(m.stock.updated_at, after)))
    return out


def _untimed(path: str, after: int) -> str:
    """Stock times read in no record, or in a file's first record only (most likely a path up to a document
    header, which the streaming read frees with the first record): the readings took the import's time."""
    if not after:
        return (f"stock updated_at '{path}' matched in no record, so the readings took the control record's time or "
                "the import's (the path is relative to the stock element)")
    return (f"stock updated_at '{path}' read a time in the first record only, and none in the {after} after it, "
            "whose readings took the control record's time or the import's: a path out of the record sees a "
            "document header only until the first record is freed (the file is read as it streams); for a "
            "header's time use `control` with `control_time`")


def no_records(path: Path, m: ErpXmlMap) -> InputError:
    """A map whose `record` names no element of the file would import nothing and report success: say so,
    naming the elements the file does start with (read again, the first few only: this is the error path)."""
    names: list[str] = []
    with open_for_xml(path) as handle:
        for _, elem in safe_iterparse(handle, str(path), events=("start",)):
            if (name := etree.QName(elem).localname) not in names:
                names.append(name)
            if len(names) >= 8:
                break
    parent, _, local = m.record.rpartition("/")
    return InputError(f"no <{local}> element {f'inside a <{parent}> ' if parent else ''}in the file, so no product "
                      f"was read (it starts with {', '.join(f'<{n}>' for n in names)})", file=path.name, field="record",
                      hint="set the map's `record` to the local name of the element that holds one product "
                           "(E1MARAM in a MATMAS IDoc)")
