"""What still uses an attribute or one of its select options: the structure (families, their requirements,
variant axes, channel text limits), the channel catalogs' field mappings, contracts, and the values products
and product models hold. The admin pages refuse a deletion while any of it remains, naming each blocker with a
count and a few examples, since a value or a reference left naming a gone code is quarantined, rejected on the
next load or silently empty.

The channel catalogs belong to the channels area, which the core never imports: the declaration each renderer
publishes with is asked of pim.registry.CHANNEL_CATALOG, and an area that is not installed maps nothing.

Values live in each row's JSON `value_map` keyed `attribute[:locale][@channel]`; no index covers the keys,
so each question is one pass over the table in SQL (no row is decoded in Python): a LIKE on the JSON text
first keeps only rows containing the quoted code, and only those are expanded (`json_each`, `jsonb_each`)
to match keys exactly. Count and examples come from the same pass, and a structure load reads the values of
all its changed attributes in one pass per table (held_values_of). Measured on 20k products of ~1 KB values
with no holder: SQLite ~30 ms, PostgreSQL ~130 ms (the JSONB → text cast dominates), linear in the table.
The attribute page therefore counts values only once nothing in the structure names the attribute."""


from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, text

from pim.catalog import Structure
from pim.errors import ConfigError
from pim.store import Store
from pim.structure import AttributeType

EXAMPLES = 5
HOLDERS = {"product": "identifier", "product_model": "code"}  # table → the key shown in a refusal
_WHAT = {"product": ("product", "products"), "product_model": ("product model", "product models")}


# ---------------------------------------------------------------------------------------------- values
#: Above this many codes a pass over their values skips the LIKE prefilter: each pattern is one more scan of
#: every row's JSON text, the expansion of every row costs a fixed amount. Measured on 20k products of 30 values
#: none held: the prefilter wins up to ~8 codes on SQLite and ~4 on PostgreSQL, then costs up to 10x.
PREFILTER_MAX = 4


def _of_attributes(conn: Connection, attributes: list[str]) -> tuple[str, str, dict[str, Any]]:
    """FROM item, condition and its parameters matching a row's non-null values of any of `attributes`
    (`v.value`: the value): a key that is the code, or starts with the code and `:` (locale) or `@` (channel)."""
    params: dict[str, Any] = {}
    by_length: dict[int, list[str]] = {}
    for i, attribute in enumerate(attributes):
        params |= {f"a{i}": attribute, f"a{i}_loc": attribute + ":", f"a{i}_ch": attribute + "@"}
        by_length.setdefault(len(attribute) + 1, []).extend((f":a{i}_loc", f":a{i}_ch"))
    exact = ", ".join(f":a{i}" for i in range(len(attributes)))
    prefixed = [f"substr(v.key, 1, {n}) IN ({', '.join(names)})" for n, names in sorted(by_length.items())]
    key = f"(v.key IN ({exact}) OR {' OR '.join(prefixed)})"
    if conn.dialect.name == "postgresql":
        return "jsonb_each(t.value_map) v", f"{key} AND jsonb_typeof(v.value) <> 'null'", params
    return "json_each(t.value_map) v", f"{key} AND v.type <> 'null'", params


def _as_text(conn: Connection) -> str:
    return "CAST(t.value_map AS text)" if conn.dialect.name == "postgresql" else "t.value_map"


def _holding(conn: Connection, table: str, attribute: str, condition: str, params: dict[str, Any],
             fragment: str) -> tuple[int, list[str]]:
    """How many rows of `table` meet `condition` (over their values of `attribute`), and the keys of the first
    few; only rows whose JSON text contains `fragment` are expanded (most rows never reach the expansion)."""
    key = HOLDERS[table]
    source, base, matched = _of_attributes(conn, [attribute])
    where = f"{_as_text(conn)} LIKE :quoted ESCAPE '!' AND EXISTS (SELECT 1 FROM {source} WHERE {base}{condition})"
    sql = f"SELECT t.{key}, count(*) OVER () FROM {table} t WHERE {where} ORDER BY t.{key} LIMIT {EXAMPLES}"
    rows = conn.execute(text(sql), params | matched | {"quoted": _containing(fragment)}).all()
    return (int(rows[0][1]) if rows else 0), [str(r[0]) for r in rows]


def _containing(fragment: str, escape: str = "!") -> str:
    """A LIKE pattern for text containing `fragment` (codes hold letters, digits and _, which LIKE would read as
    any character). SQLite's LIKE ignores ASCII case: the pattern only narrows, the key match decides."""
    return "%" + "".join(escape + c if c in (escape, "_", "%") else c for c in fragment) + "%"


def value_holders(conn: Connection, table: str, attribute: str) -> tuple[int, list[str]]:
    """Rows of `table` (product, product_model) holding a value of `attribute` in any locale or channel."""
    return _holding(conn, table, attribute, "", {}, f'"{attribute}')


def option_holders(conn: Connection, table: str, attribute: str, option: str) -> tuple[int, list[str]]:
    """Rows of `table` whose `attribute` value is `option` (simple select) or a list containing it (multi)."""
    if conn.dialect.name == "postgresql":
        held = (" AND (v.value = to_jsonb(CAST(:o AS text)) OR (jsonb_typeof(v.value) = 'array'"
                " AND v.value @> jsonb_build_array(CAST(:o AS text))))")
    else:
        held = (" AND ((v.type = 'text' AND v.value = :o) OR (v.type = 'array'"
                " AND EXISTS (SELECT 1 FROM json_each(v.value) o WHERE o.value = :o)))")
    return _holding(conn, table, attribute, held, {"o": option}, f'"{option}"')  # rarer than the attribute's


def _prefilter(conn: Connection, attributes: list[str]) -> tuple[str, dict[str, Any]]:
    """A LIKE condition keeping only rows whose JSON text contains a quoted code of `attributes` (a code
    another starts with covers both: `"size` for size_eu), or none above PREFILTER_MAX codes."""
    kept: list[str] = []
    for attribute in sorted(set(attributes)):
        if not kept or not attribute.startswith(kept[-1]):  # sorted: a prefix comes right before its extensions
            kept.append(attribute)
    if len(kept) > PREFILTER_MAX:
        return "", {}
    pg = conn.dialect.name == "postgresql"  # LIKE ANY takes no ESCAPE: there the default one, a backslash
    params = {f"q{i}": _containing(f'"{attribute}', "\\" if pg else "!") for i, attribute in enumerate(kept)}
    if pg:  # one cast of the JSONB to text, however many patterns
        listed = ", ".join(f"CAST(:{name} AS text)" for name in params)
        return f"{_as_text(conn)} LIKE ANY (ARRAY[{listed}]) AND ", params
    likes = " OR ".join(f"{_as_text(conn)} LIKE :{name} ESCAPE '!'" for name in params)
    return f"({likes}) AND ", params


def held_values_of(conn: Connection, table: str, attributes: list[str]) -> Iterator[tuple[str, str, str, Any]]:
    """Every non-null value of any of `attributes` in `table` as (row key, attribute, value key, value), ordered
    by row key and value key: one streamed pass for them all, filtered like value_holders, that decodes only
    the matching values (for the settings checks of a whole structure load)."""
    if not attributes:
        return
    key = HOLDERS[table]
    source, base, params = _of_attributes(conn, attributes)
    prefilter, patterns = _prefilter(conn, attributes)
    pg = conn.dialect.name == "postgresql"
    kind = "jsonb_typeof(v.value)" if pg else "v.type"
    sql = (f"SELECT t.{key}, v.key, v.value, {kind} FROM {table} t, {source} "
           f"WHERE {prefilter}{base} ORDER BY t.{key}, v.key")
    rows = conn.execution_options(stream_results=True).execute(text(sql), params | patterns)
    for row_key, value_key, value, json_type in rows:
        value_key = str(value_key)
        attribute = value_key.split(":", 1)[0].split("@", 1)[0]  # codes hold neither (pim.structure.Code)
        yield str(row_key), attribute, value_key, value if pg else _sqlite_value(value, json_type)


def held_values(conn: Connection, table: str, attribute: str) -> Iterator[tuple[str, str, Any]]:
    """Every non-null value of `attribute` in `table` as (row key, value key, value), ordered by row key."""
    for row_key, _, value_key, value in held_values_of(conn, table, [attribute]):
        yield row_key, value_key, value


def _sqlite_value(value: Any, json_type: str) -> Any:
    """json_each's SQL value as the JSON value it is (booleans come as 1/0, objects and arrays as JSON text)."""
    if json_type in ("true", "false"):
        return json_type == "true"
    return json.loads(value) if json_type in ("object", "array") else value


def counted(table: str, count: int) -> str:
    """"3 products", "1 product model": `count` rows of `table` (a HOLDERS key)."""
    one, many = _WHAT[table]
    return f"{count} {one if count == 1 else many}"


def rows_said(table: str, count: int, examples: list[str], verb: tuple[str, str]) -> str:
    """"3 products hold it (a, b, c)": `count` rows of `table` (a HOLDERS key), `verb` singular and plural."""
    more = ", …" if count > len(examples) else ""
    return f"{counted(table, count)} {verb[count != 1]} it ({', '.join(examples)}{more})"


# ---------------------------------------------------------------------------------------------- references
def structure_references(s: Structure, code: str) -> list[str]:
    """Where the structure names `code`: families (members, requirements, label/image), family variants (axes,
    variant-level attributes), channel gates (text limits)."""
    found: list[str] = []
    families = sorted(f for f, fam in s.families.items()
                      if code in fam.attributes or code in (fam.attribute_as_label, fam.attribute_as_image)
                      or any(code in req for req in fam.requirements.values()))
    if families:
        found.append(f"famil{'ies' if len(families) != 1 else 'y'} {', '.join(families)} "
                     f"list{'s' if len(families) == 1 else ''} it (remove it on the family page first)")
    axes = sorted(fv.code for fv in s.family_variants.values() if any(code in lv.axes for lv in fv.levels))
    if axes:
        found.append(f"it is a variant axis of {', '.join(axes)}")
    levels = sorted(fv.code for fv in s.family_variants.values()
                    if fv.code not in axes and any(code in lv.attributes for lv in fv.levels))
    if levels:
        found.append(f"it is a variant-level attribute of {', '.join(levels)}")
    limits = sorted(c for c, ch in s.channels.items() if code in ch.gate.text_limits)
    if limits:
        found.append(f"the gate of channel {', '.join(limits)} limits its text length")
    return found


def channel_catalogs() -> list[Any]:
    """The declaration each renderer (pim.registry.RENDERERS) publishes with when a run names none, those that
    map fields (a channels.framework.ChannelCatalog each); none when the channels area is not installed."""
    from pim.registry import CHANNEL_CATALOG, RENDERERS, load

    try:
        catalog_for = load(CHANNEL_CATALOG)
    except ConfigError:
        return []
    return [catalog for name in sorted(RENDERERS) if (catalog := catalog_for(name, {})).fields]


def reading_fields(catalog: Any, code: str) -> list[Any]:
    """The fields of `catalog` that read attribute `code`: by name, in a list, or in a template as `values.code`
    or `values['code']` (a template reading `values` by a computed key is not seen)."""
    name = re.escape(code)
    read = re.compile(rf"\bvalues\s*(?:\.\s*{name}\b|\[\s*['\"]{name}['\"]\s*\]|\.get\(\s*['\"]{name}['\"])")
    return [f for f in catalog.fields
            if f.attribute == code or code in f.attributes or (f.template and read.search(f.template))]


def catalog_channels(s: Structure, catalog: Any) -> list[str]:
    """The structure channels a catalog publishes for: its scope, or any channel when it names none."""
    return [c for c in ([catalog.scope] if catalog.scope else sorted(s.channels)) if c in s.channels]


def catalog_mappings(code: str) -> list[tuple[Any, list[Any]]]:
    """(catalog, its fields reading `code`) for each built-in channel catalog that maps the attribute."""
    return [(catalog, fields) for catalog in channel_catalogs() if (fields := reading_fields(catalog, code))]


def catalog_references(s: Structure, code: str) -> list[str]:
    """The built-in channel catalogs whose *required* fields are `code` alone, on a channel of the structure:
    without the attribute every product would be blocked there. A field that is optional, or that reads it
    among others or in a template, publishes without it, so it is said on the page but does not block."""
    found = []
    for catalog, reading in catalog_mappings(code):
        fields = [f for f in reading if f.required and (f.attribute == code or f.attributes == [code])]
        if fields and (channels := catalog_channels(s, catalog)):
            outputs = ", ".join(f.output for f in fields)
            found.append(f"the built-in {catalog.code} catalog reads it for channel {', '.join(channels)} "
                         f"(field{'s' if len(fields) != 1 else ''} {outputs})")
    return found


def contract_roles(contract: Any, code: str) -> list[str]:
    """What `code` does in `contract` (a pim.contracts.Contract): only the roles that contract actually uses,
    so a default such as `brand_attribute: brand` counts only when a rule asks for brands."""
    a = contract.assortment
    rules = [*a.rules, *a.exclude]
    roles = []
    if code in contract.fields:
        roles.append("fields")
    if any(code in r.attributes for r in rules):
        roles.append("assortment rules")
    if a.brand_attribute == code and any(r.brands for r in rules):
        roles.append("brand attribute")
    if contract.pricing.list_price_attribute == code and contract.pricing.fallback != "exclude":
        roles.append("list price")
    if contract.format == "bmecat":
        b = contract.bmecat
        names = {"class_attribute": b.class_attribute, "gtin_attribute": b.gtin_attribute,
                 "manufacturer_attribute": b.manufacturer_attribute, "order_unit_attribute": b.order_unit_attribute,
                 "pack_attribute": b.pack_attribute, "moq_attribute": b.moq_attribute}
        roles += [f"bmecat.{name}" for name, value in names.items() if value == code]
    return roles


def contract_references(store: Store, code: str) -> list[str]:
    from pim.contracts import get_contracts

    named = [(c.code, roles) for c in get_contracts(store) if (roles := contract_roles(c, code))]
    return [f"contract {c} names it ({', '.join(roles)})" for c, roles in named]


# ---------------------------------------------------------------------------------------------- blockers
def blockers(store: Store, s: Structure, code: str, *, values: bool = True) -> list[str]:
    """What keeps attribute `code` from being deleted, said so an admin knows what to change first. With
    `values=False` the products' values are counted only when nothing else blocks (they cost a table pass)."""
    attr = s.attributes.get(code)
    found = ["it is the identifier: every product has one"] if attr and attr.type == AttributeType.identifier else []
    found += structure_references(s, code) + catalog_references(s, code) + contract_references(store, code)
    if found and not values:
        return found
    with store.engine.connect() as conn:
        for table in HOLDERS:
            count, examples = value_holders(conn, table, code)
            if count:
                found.append(rows_said(table, count, examples, ("holds a value of", "hold a value of")))
    return found


def option_blockers(store: Store, attribute: str, option: str) -> list[str]:
    """What keeps option `option` of `attribute` from being removed: the products and models holding it."""
    found = []
    with store.engine.connect() as conn:
        for table in HOLDERS:
            count, examples = option_holders(conn, table, attribute, option)
            if count:
                found.append(rows_said(table, count, examples, ("holds", "hold")))
    return found
