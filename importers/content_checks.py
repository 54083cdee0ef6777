"""The content import's checks of a file before its records are read: that it is the kind its name says, and
that its header names what the import can read (no column twice, none unnamed with text under it, each an
attribute's value key), each refusal naming the fix. Split from importers.content, whose readers call these."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from importers.erp_csv import refuse_repeated
from importers.workbook import head_kind
from pim import content_sheet
from pim.catalog import Structure
from pim.errors import InputError
from pim.product import split_key, value_key
from pim.spelling import did_you_mean, nearest
from pim.structure import Attribute

if TYPE_CHECKING:
    from importers.content import ContentMapper, ContentProfile

SPREADSHEET_SUFFIXES = (".xlsx", ".xlsm")
#: A column `associations:<type>` lists the SKUs a product is associated to by that type.
ASSOC_PREFIX = "associations:"
CSV_SUFFIXES = (".csv", ".tsv", ".txt")


def header_cells(line: str) -> set[str]:
    """A line's cells split at any usual CSV delimiter, unquoted."""
    return {cell.strip().strip('"').strip() for cell in re.split(r"[;,\t|]", line)}


def attribute_of(structure: Structure, key: str) -> Attribute | None:
    """The attribute a value key (`name:de_DE@print`) belongs to."""
    return structure.attributes.get(key.split(":")[0].split("@")[0])


#: The hint of a column the import cannot read: what a column may be.
_COLUMNS_HINT = ("a column is a value key as the import reads it (name:de_DE, description:de_DE@<channel>), or sku, "
                 "images, bullets[:locale], associations:<type>: rename it, or delete a column that is not for import")
#: A column naming an attribute and a locale another way: `name-de_DE`, `Name DE`, `name (de-DE)`.
_LOCALE_SUFFIX = re.compile(r"^(?P<code>.+?)[\s_\-./(\[]+(?P<language>[A-Za-z]{2})"
                            r"(?:[_\-](?P<country>[A-Za-z]{2}))?[)\]]?$")


def check_columns(header: list[str], mapper: ContentMapper, name: str, line: int, *, xlsx: bool) -> None:
    """Refuse a header naming a column twice (the last one silently won; in XLSX merged header cells name
    every column they span) or a column that is no attribute's value key (each row would be rejected with
    advice to change the structure, when the column's name is what is wrong)."""
    p = mapper.p
    merged = "unmerge merged header cells (each column needs its own name), or " if xlsx else ""
    refuse_repeated(header, {h for h in header if h}, name, line, hint=f"{merged}rename or remove one of them, then re-run")
    fmt = content_sheet.SheetFormat(sku_column=p.sku_field, model_column=p.model_field)
    unknown = [h for h in header if h and content_sheet.value_column(h, fmt) and attribute_of(mapper.s, h) is None]
    if unknown:
        named = ", ".join(f"'{h}'" + did_you_mean(suggest(h, mapper.s))
                          for h in unknown[:5])
        raise InputError(f"{'column' if len(unknown) == 1 else 'columns'} {named}{' …' if len(unknown) > 5 else ''} "
                         f"{'names' if len(unknown) == 1 else 'name'} no attribute", file=name, line=line,
                         field=unknown[0], hint=_COLUMNS_HINT)
    _refuse_unknown_places(header, mapper.s, fmt, name, line)


def _refuse_unknown_places(header: list[str], s: Structure, fmt: content_sheet.SheetFormat, name: str,
                           line: int) -> None:
    """Refuse a header naming a locale, channel or association type the structure has none of (`name:de-DE`,
    `description:en_US@ecomerce`, `associations:x_sell`): each row would be rejected for it, when the column's
    name is what is wrong. A locale the structure declares but no channel publishes is no typo: its column may
    still clear values stored before (pim.validation lets such a clear through), so it is left to the rows."""
    places = (set(s.locales) | set(s.enabled_locales()), s.enabled_locales())
    wrong = [(column, what) for column in header if column and (what := _unknown_place(column, s, fmt, *places))]
    if wrong:
        named = "; ".join(f"'{column}' names {what}" for column, what in wrong[:5])
        raise InputError(f"{named}{' …' if len(wrong) > 5 else ''}, which the structure does not have: every row "
                         "would be rejected", file=name, line=line, field=wrong[0][0],
                         hint=f"rename the column{'s' if len(wrong) > 1 else ''} and import again (nothing was "
                              f"imported); locales: {', '.join(places[1]) or 'none'}; channels: "
                              f"{', '.join(sorted(s.channels)) or 'none'}; association types: "
                              f"{', '.join(sorted(s.association_types)) or 'none'}")


def _unknown_place(column: str, s: Structure, fmt: content_sheet.SheetFormat, locales: set[str],
                   enabled: list[str]) -> str | None:
    """What of `column` the structure lacks (`locale 'de-DE' (did you mean 'name:de_DE'?)`), or None. Only the
    parts the column's attribute takes are looked at: a locale on an attribute that has none is a row's problem."""
    if column.startswith(ASSOC_PREFIX):
        kind = column[len(ASSOC_PREFIX):]
        if kind in s.association_types:
            return None
        near = nearest(kind, s.association_types)
        return f"association type '{kind}'{did_you_mean(near and ASSOC_PREFIX + near)}"
    bullets = column.split(":")[0] == "bullets"
    attr = None if bullets or not content_sheet.value_column(column, fmt) else attribute_of(s, column)
    if not bullets and attr is None:
        return None
    code, locale, channel = split_key(column)
    bad_locale = locale is not None and locale not in locales and (bullets or attr.localizable)  # type: ignore[union-attr]
    bad_channel = channel is not None and channel not in s.channels and not bullets and attr.scopable  # type: ignore[union-attr]
    if not (bad_locale or bad_channel):
        return None
    meant_locale = nearest(locale, enabled) if bad_locale else locale  # type: ignore[arg-type]
    meant_channel = nearest(channel, s.channels) if bad_channel else channel  # type: ignore[arg-type]
    said = " and ".join(what for what, bad in ((f"locale '{locale}'", bad_locale), (f"channel '{channel}'", bad_channel))
                        if bad)
    near = (meant_locale or not bad_locale) and (meant_channel or not bad_channel)
    return said + did_you_mean(value_key(code, meant_locale, meant_channel) if near else None)


def check_profile(p: ContentProfile, s: Structure, *, then: str = "import again (nothing was imported)") -> None:
    """Refuse a profile whose `fields`, `bullets` or `images` name no attribute, or whose `channels` name no
    channel, before any record is read: each record using it was rejected with the same reason, when the
    profile is what is wrong. Only the keys the profile sets are checked: the default profile's attributes
    (name, bullets, image…) need not all be in the structure, a record using one is rejected as before.
    `then`: what to do once it is fixed (`pim export sheet` checks it too, before it writes a sheet that the
    profile's import would refuse)."""
    given = p.model_fields_set
    named: list[tuple[str, str, str]] = []  # (the profile key, how it names the attribute, the code)
    if "fields" in given:
        named += [(f"fields.{field}", f"`fields` sends '{field}' to", code) for field, code in p.fields.items()]
    if "bullets" in given:
        bullets = [p.bullets] if isinstance(p.bullets, str) else p.bullets
        named += [("bullets", "`bullets` names", code) for code in bullets]
    if "images" in given:
        named += [("images", "`images` names", code) for code in p.images]
    wrong = [(key, f"{how} '{code}', {_no_attribute(code, s)}") for key, how, code in named if code not in s.attributes]
    if "channels" in given:
        wrong += [("channels", f"`channels` names '{code}', which is not a channel{did_you_mean(nearest(code, s.channels))}")
                  for code in p.channels if code not in s.channels]
    if wrong:
        raise InputError(f"the content profile's {'; its '.join(reason for _, reason in wrong)}", field=wrong[0][0],
                         hint=f"fix the content profile and {then}: `fields`, `bullets` "
                              "and `images` name attribute codes of the catalog's structure, `channels` its channels "
                              f"({', '.join(sorted(s.channels)) or 'none'}; leave it out for every channel)")


def _no_attribute(code: str, s: Structure) -> str:
    """Why a code the profile names is no attribute: a value key in its place, or a typo (the nearest code)."""
    attr = attribute_of(s, code)
    if attr is not None:
        return f"a value key where the profile names an attribute: write '{attr.code}' (a record gives its locales)"
    return f"which is not an attribute{did_you_mean(nearest(code, s.attributes))}"


def suggest(column: str, s: Structure) -> str | None:
    """The value key a column that names no attribute probably means: `name-de_DE` → name:de_DE, `nmae:en_US`
    → name:en_US (scopable ones for a channel publishing the locale)."""
    codes = {code.casefold(): code for code in s.attributes}
    if m := _LOCALE_SUFFIX.match(column):
        code = codes.get(m["code"].strip().casefold())
        language = m["language"].casefold()
        wanted = f"{language}_{m['country'].casefold()}" if m["country"] else None
        locales = [loc for loc in s.enabled_locales()
                   if (loc.casefold() == wanted if wanted else loc.casefold().startswith(language + "_"))]
        if code and len(locales) == 1:
            channel = next((c for c in sorted(s.channels) if locales[0] in s.channels[c].locales), None)
            scope = f"@{channel}" if s.attributes[code].scopable and channel else ""
            return f"{code}:{locales[0]}{scope}" if s.attributes[code].localizable else f"{code}{scope}"
    head, tail = re.match(r"([^:@]*)(.*)", column).groups()  # type: ignore[union-attr]
    close = nearest(head, s.attributes)
    return close + _fixed_tail(tail, s) if close else None


def _fixed_tail(tail: str, s: Structure) -> str:
    """A column's `:locale@channel` with a locale the structure has written another way (`IT_it`, `it-it`) as it
    has it (`it_IT`), so a suggestion is a column the import reads; a channel by its nearest code."""
    locale, _, channel = tail.lstrip(":").partition("@") if tail.startswith(":") else ("", "", tail.lstrip("@"))
    if locale and locale not in s.locales:
        parts = re.split(r"[_\-]", locale.casefold())
        found = [loc for loc in s.locales if loc.casefold().split("_") in (parts, parts[::-1])]
        locale = found[0] if len(found) == 1 else locale
    if channel and channel not in s.channels:
        channel = nearest(channel, s.channels) or channel
    return (f":{locale}" if locale else "") + (f"@{channel}" if channel else "")


def unnamed_text(header: list[str], cells: list[str], *, xlsx: bool, line: int) -> str | None:
    """Why a row is rejected when it holds text under a column the header gives no name (None when it does
    not): which value would that be? An unnamed column that is empty (Excel's trailing `;;`) is no problem."""
    for n, (column, cell) in enumerate(zip(header, cells)):
        if not column and cell.strip():
            from openpyxl.utils.cell import get_column_letter

            where = f"cell {get_column_letter(n + 1)}{line}" if xlsx else f"column {n + 1}"
            return (f"{where} holds '{cell.strip()[:40]}' but the header gives that column no name: name it (a value "
                    "key such as name:de_DE) or clear it")
    return None


BOM_NOTE = " (as Excel's \"CSV UTF-8\" writes it) but the profile reads another encoding: its text would read garbled"


def misread(header: list[str], p: ContentProfile, bom: bool) -> str:
    """What a header without the SKU column says about the file: a UTF-8 file read in another encoding, another
    delimiter, or JSON in a CSV's name."""
    if bom:
        return f": the file starts with a UTF-8 byte order mark{BOM_NOTE}"
    first = header[0] if header else ""
    if first.startswith(("[", "{")):
        return " (the file holds JSON: name it .json or .jsonl)"
    for delimiter in (";", ",", "\t", "|"):
        if delimiter != p.delimiter and any(p.sku_field in c.split(delimiter) or p.model_field in c.split(delimiter)
                                            for c in header):
            return (f" (the header reads as {len(header)} column(s): the file is separated by {delimiter!r}, "
                    f"the profile says {p.delimiter!r}; set delimiter: {delimiter!r} in the content profile)")
    return ""


#: Spreadsheets the import does not read, by name: each would otherwise be read as JSON.
_OTHER_SHEETS = {".xls": "an Excel 97-2003 workbook", ".xlsb": "a binary Excel workbook",
                 ".ods": "an OpenDocument spreadsheet", ".numbers": "a Numbers spreadsheet"}


def check_kind(path: Path, xlsx: bool, columns: set[str]) -> None:
    """Refuse a file whose bytes say it is another kind than its name has it read as: a workbook named .json or
    .csv (read as text it gives undecodable bytes), an .xls or .ods, a CSV named .json (each line would be
    rejected as broken JSON). `columns`: the SKU and model columns a CSV header names."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return  # the reader names the problem
    fix, suffix = "save it as .xlsx (Excel Workbook) or as CSV UTF-8 and import that", path.suffix.lower()
    kind = head_kind(head)  # the bytes read above: the file is not opened again
    if kind == "ole2":
        raise InputError("the file is an Excel 97-2003 workbook (.xls), which the content import does not read",
                         file=path.name, hint=fix)
    if kind == "xlsx" and not xlsx:
        if suffix in _OTHER_SHEETS and suffix != ".xls":
            raise InputError(f"the file is {_OTHER_SHEETS[suffix]}, which the content import does not read",
                             file=path.name, hint=fix)
        raise InputError(f"the file is an XLSX workbook (a ZIP archive) named {path.suffix or 'without .xlsx'}, "
                         f"which is read as {'CSV' if suffix in CSV_SUFFIXES else 'JSON'}", file=path.name,
                         hint="name it .xlsx and import it again")
    if suffix in _OTHER_SHEETS:
        raise InputError(f"'{path.suffix}' is {_OTHER_SHEETS[suffix]}, which the content import does not read",
                         file=path.name, hint=fix)
    first = head.lstrip(b"\xef\xbb\xbf \t\r\n").split(b"\n", 1)[0].decode("latin-1")
    if not xlsx and suffix not in CSV_SUFFIXES and not first.startswith(("{", "[")) and columns & header_cells(first):
        raise InputError("the first line reads as a CSV header, but the file's name has it read as JSON",
                         file=path.name, line=1, hint="name a CSV file .csv and import it again")
