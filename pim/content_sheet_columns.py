"""Which columns a content sheet has (pim.content_sheet): the filter checked, the value keys chosen (those
given, or the families' text attributes for the channel and locales). Split from pim.content_sheet, which still
offers every name here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select

from pim.catalog import Structure
from pim.content_sheet_format import (DEFAULT_FORMAT, DEFAULT_TYPES, SHEET_TYPES, VERSION_COLUMN, SheetFormat,
                                      value_column)
from pim.errors import InputError
from pim.product import value_key
from pim.store import Store
from pim.store.store import PRODUCT
from pim.structure import AttributeType
from pim.validation import RecordValidator


@dataclass
class SheetScope:
    """The channel and locales a sheet's value keys are for, and the family and category it is filtered by."""

    channel: str | None
    locales: list[str]
    family: str | None = None
    category: str | None = None
    keys: list[str] = field(default_factory=list)
    fmt: SheetFormat = DEFAULT_FORMAT

    @property
    def header(self) -> list[str]:
        """The identifier column (the profile's name for it), the value keys, and the version column (the rows
        sheet_rows gives)."""
        return [self.fmt.sku_column, *self.keys, VERSION_COLUMN]


def scope(s: Structure, *, family: str | None = None, category: str | None = None, channel: str | None = None,
          locales: Sequence[str] = (), columns: Sequence[str] = (), catalog_families: Iterable[str] | None = None,
          fmt: SheetFormat = DEFAULT_FORMAT) -> SheetScope:
    """Check the filter and choose the columns: `columns` as given, else the text and textarea attributes of
    `family` (or of `catalog_families`, the families products are in) for the channel and locales. The
    channel defaults to the first one (as in the grid), the locales to the channel's. `fmt`: the profile's
    format, whose identifier and model columns no value key may take."""
    if family and family not in s.families:
        raise InputError(f"no family '{family}'", field="family", hint=f"families: {_some(s.families)}")
    if category and category not in s.categories:
        raise InputError(f"no category '{category}'", field="category", hint=f"categories: {_some(s.categories)}")
    if channel and channel not in s.channels:
        raise InputError(f"no channel '{channel}'", field="channel", hint=f"channels: {_some(s.channels)}")
    channel = channel or next(iter(sorted(s.channels)), None)
    allowed = s.channels[channel].locales if channel else s.enabled_locales()
    wanted = [code for given in locales for code in given.split(",") if code.strip()]
    unknown = [code.strip() for code in wanted if code.strip() not in allowed]
    if unknown:
        raise InputError(f"locale '{unknown[0]}' is not one of {'channel ' + channel if channel else 'the catalog'}'s",
                         field="locale", hint=f"locales: {', '.join(allowed)}")
    out = SheetScope(channel, list(dict.fromkeys(c.strip() for c in wanted)) or list(allowed), family, category, fmt=fmt)
    keys = [k for given in columns for k in given.split(",") if k.strip()]
    if keys:
        out.keys = _checked_keys(s, [k.strip() for k in keys], fmt)
    else:
        families = [family] if family else [f for f in (catalog_families or s.families) if f in s.families]
        out.keys = [k for k in default_keys(s, families, out.channel, out.locales) if value_column(k, fmt)]
    return out


def default_keys(s: Structure, families: Iterable[str], channel: str | None, locales: Sequence[str]) -> list[str]:
    """The families' text and textarea attributes, in attribute group and sort order (then the family's own
    order), one key per locale."""
    listed = {c: n for n, c in enumerate(dict.fromkeys(c for f in families for c in s.families[f].attributes))}
    groups = {g: a.sort_order for g, a in s.attribute_groups.items()}
    attrs = sorted((s.attributes[c] for c in listed if c in s.attributes and s.attributes[c].type in DEFAULT_TYPES),
                   key=lambda a: (groups.get(a.group, 999), a.sort_order, listed[a.code]))
    keys: list[str] = []
    for attr in attrs:
        if attr.scopable and not channel:
            continue
        for locale in (locales if attr.localizable else [None]):
            if locale and attr.available_locales and locale not in attr.available_locales:
                continue
            key = value_key(attr.code, locale, channel if attr.scopable else None)
            if value_column(key):
                keys.append(key)
    return keys


def _checked_keys(s: Structure, keys: list[str], fmt: SheetFormat = DEFAULT_FORMAT) -> list[str]:
    check = RecordValidator(s).check_key
    for key in keys:
        problem = check(key)
        if problem:
            raise InputError(f"column '{key}': {problem.reason}", field="columns",
                             hint="name value keys as the import reads them: name:en_US, description:de_DE@ecommerce")
        attr = s.attributes[key.split(":")[0].split("@")[0]]
        if attr.type == AttributeType.identifier:
            raise InputError(f"column '{key}': the '{fmt.sku_column}' column names the product already", field="columns",
                             hint="leave the identifier out of --columns")
        if attr.type not in SHEET_TYPES:
            raise InputError(f"column '{key}': a {attr.type.value} value does not fit in one cell the content import "
                             "reads back", field="columns", hint="leave it out; edit it on the product page or import it "
                             "from its source")
        if not value_column(key, fmt):
            raise InputError(f"column '{key}': the content import reads a '{key}' column as its own field, not as "
                             "this value", field="columns", hint="leave it out; edit it on the product page")
    return list(dict.fromkeys(keys))


def _some(codes: Iterable[str]) -> str:
    names = sorted(codes)
    return ", ".join(names[:20]) + (f" … ({len(names)})" if len(names) > 20 else "")


def catalog_families(store: Store) -> list[str]:
    """The families products are in (an index read), for the default columns of an unfiltered sheet."""
    with store.engine.connect() as conn:
        return sorted(f for f in conn.execute(select(PRODUCT.c.family).distinct()).scalars() if f)
