"""Akeneo's flat files — CSV (`;`, `"`, UTF-8, header row) or XLSX (the first sheet, header row; Akeneo's XLSX
exports carry the same columns and texts) — and the structure files: locales, currencies, attribute groups,
attributes, options, categories, channels, families, family variants, association types. A file is named by its
CSV name throughout (`flat_file` finds the .xlsx beside it when the export was made as XLSX).

Reading is strict: a file that is not UTF-8, or whose quoting is broken (importers.csv_records), fails before
anything is written, a malformed row is reported with its file and line, and a structure row that does not fit
our model is quarantined, never dropped."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from importers.csv_records import csv_records
from pim.errors import InputError
from pim.importing import Rejected
from pim.sources import undecodable_at
from pim.structure import (
    AssociationKind,
    AssociationType,
    Attribute,
    AttributeGroup,
    AttributeOption,
    AttributeType,
    Category,
    Channel,
    Currency,
    Family,
    FamilyVariant,
    Locale,
    VariantLevel,
    structure_key,
)

#: Akeneo attribute types → ours. Anything else (reference data, asset collections, tables) is unsupported.
ATTRIBUTE_TYPES: dict[str, AttributeType] = {
    "pim_catalog_identifier": AttributeType.identifier,
    "pim_catalog_text": AttributeType.text,
    "pim_catalog_textarea": AttributeType.textarea,
    "pim_catalog_number": AttributeType.number,
    "pim_catalog_metric": AttributeType.metric,
    "pim_catalog_price_collection": AttributeType.price_collection,
    "pim_catalog_simpleselect": AttributeType.simple_select,
    "pim_catalog_multiselect": AttributeType.multi_select,
    "pim_catalog_boolean": AttributeType.boolean,
    "pim_catalog_date": AttributeType.date,
    "pim_catalog_image": AttributeType.image,
    "pim_catalog_file": AttributeType.file,
}

ASSOCIATION_KINDS: dict[str, AssociationKind] = {
    "X_SELL": AssociationKind.cross_sell,
    "UPSELL": AssociationKind.up_sell,
    "SUBSTITUTION": AssociationKind.substitution,
    "PACK": AssociationKind.pack,
}

Row = dict[str, str]


# ---------------------------------------------------------------- reading
def flat_file(folder: Path, name: str) -> Path:
    """The export's file `name` (a CSV name, e.g. products.csv), or its .xlsx sibling when only that exists.
    Both present is refused: which one is the export would be a guess."""
    given = folder / name
    xlsx = given.with_suffix(".xlsx")
    if not xlsx.exists():
        return given
    if given.exists():
        raise InputError(f"both {given.name} and {xlsx.name} are in the folder", file=str(folder),
                         hint="keep the export you mean to import (CSV or XLSX) and move the other away")
    return xlsx


def check_readable_csv(path: Path) -> None:
    """Fail before any write if `path` is not UTF-8, naming the first bad line (streaming, C speed), or if its
    quoting is broken (a quote that runs over line breaks and never closes properly: importers.csv_records),
    naming the line the quote opened on: from there on, where rows begin would be a guess."""
    found = undecodable_at(path, "utf-8")
    if found and found[2]:
        raise InputError(
            f"not UTF-8 (byte 0x{found[2][0]:02x} cannot be decoded)", file=path.name, line=found[0],
            hint="Akeneo exports are UTF-8: re-export the file, or convert it (iconv -f latin1 -t utf-8)",
        )
    if found:
        raise InputError("not UTF-8 (the file ends inside a character)", file=path.name, line=found[0],
                         hint="the file looks truncated: export it again")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for _ in csv_records(handle, path.name, delimiter=";"):
            pass


@dataclass
class CsvRow:
    line: int  # physical line where the row starts
    cells: Row


@dataclass
class CsvFile:
    """One flat file: its header and a streaming iterator of rows or rejections (ragged rows); broken quoting
    is an InputError (importers.csv_records)."""

    path: Path
    header: list[str] = field(default_factory=list)

    def rows(self) -> Iterator[CsvRow | Rejected]:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return  # Akeneo writes empty files for empty exports (see the "minimal" catalog)
        if self.path.suffix.lower() == ".xlsx":
            yield from self._sheet_rows()
            return
        name = self.path.name
        with self.path.open(encoding="utf-8-sig", newline="") as handle:
            header: list[str] | None = None
            for start, cells in csv_records(handle, name, delimiter=";"):
                if header is None:
                    header = self._header(cells)
                    continue
                if not any(cells):
                    continue
                if len(cells) != len(header):
                    yield Rejected(f"row has {len(cells)} cells but the header has {len(header)} "
                                   "(a ';' inside an unquoted value, or a truncated row?)", name, start,
                                   raw=dict(zip(header, cells)) | {"_cells": len(cells)})  # type: ignore[operator]
                    continue
                yield CsvRow(start, dict(zip(header, cells)))

    def _sheet_rows(self) -> Iterator[CsvRow | Rejected]:
        """The first sheet's rows, each cell as the CSV export writes it (`sheet_text`); the line is the sheet
        row. A row with more filled cells than the header has columns is rejected, as a CSV row would be."""
        from importers.workbook import text_rows

        for header, number, cells in text_rows(self.path, sheet_text, lambda h, _: self._header(_trimmed(h)),
                                               hint=XLSX_HINT):
            extra = [c for c in cells[len(header):] if c.strip()]
            if extra:
                yield Rejected(f"row has {len(header) + len(extra)} filled cells but the header has {len(header)} "
                               "(a value right of the last column?)", self.path.name, number,
                               raw=dict(zip(header, cells)) | {"_cells": len(cells)})  # type: ignore[operator]
                continue
            yield CsvRow(number, dict(zip(header, [*cells, *[""] * (len(header) - len(cells))])))

    def _header(self, cells: list[str]) -> list[str]:
        header = [c.strip() for c in cells]
        seen: set[str] = set()
        for column in header:
            if column in seen:
                raise InputError(f"column '{column}' appears twice in the header", file=self.path.name, line=1,
                                 field=column)
            seen.add(column)
        self.header = header
        return header


XLSX_HINT = "export it from Akeneo again (XLSX or CSV); the first sheet is read, its first row is the header"


def _trimmed(header: list[str]) -> list[str]:
    """A sheet's header without the empty cells right of its last column (sheets report their used width)."""
    end = len(header)
    while end and not header[end - 1]:
        end -= 1
    return header[:end]


def sheet_text(value: Any) -> str:
    """A typed XLSX cell as Akeneo's CSV export writes it: whole numbers without a decimal point (an EAN stays
    its digits), booleans 1/0, dates ISO 8601."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def read_header(path: Path) -> list[str]:
    """The header alone (empty for an empty file)."""
    if not path.exists() or path.stat().st_size == 0:
        return []
    if path.suffix.lower() == ".xlsx":
        from importers.workbook import text_rows

        found: list[str] = []
        rows = text_rows(path, sheet_text, lambda h, _: found.extend(_trimmed(h)) or found, hint=XLSX_HINT)
        next(rows, None)  # stops at the first row below the header
        rows.close()
        return found
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return [c.strip() for c in next(csv.reader(handle, delimiter=";", quotechar='"'), [])]


# ---------------------------------------------------------------- mapping helpers
def labels(row: Row) -> dict[str, str]:
    return {k[6:]: v for k, v in row.items() if k.startswith("label-") and v}


def codes(cell: str | None) -> list[str]:
    return [c.strip() for c in (cell or "").split(",") if c.strip()]


def flag(cell: str | None, default: bool = False) -> bool:
    return default if cell in (None, "") else cell.strip() in ("1", "true", "yes")


def number(cell: str | None) -> float | None:
    return None if cell in (None, "") else float(cell.replace(",", "."))  # type: ignore[union-attr]


def integer(cell: str | None) -> int | None:
    return None if cell in (None, "") else int(float(cell))  # type: ignore[arg-type]


# ---------------------------------------------------------------- one builder per file
def attribute(row: Row) -> Attribute:
    akeneo_type = row.get("type", "")
    kind = ATTRIBUTE_TYPES.get(akeneo_type)
    if kind is None:
        raise ValueError(f"attribute type '{akeneo_type}' is not supported "
                         f"(supported: {', '.join(sorted(ATTRIBUTE_TYPES))})")
    return Attribute(
        code=row["code"], type=kind, group=row.get("group") or "other", labels=labels(row),
        localizable=flag(row.get("localizable")), scopable=flag(row.get("scopable")),
        available_locales=codes(row.get("available_locales")), unique=flag(row.get("unique")),
        sort_order=integer(row.get("sort_order")) or 0, filterable=flag(row.get("useable_as_grid_filter")),
        max_characters=integer(row.get("max_characters")), number_min=number(row.get("number_min")),
        number_max=number(row.get("number_max")), decimals_allowed=flag(row.get("decimals_allowed"), True),
        negative_allowed=flag(row.get("negative_allowed"), True), metric_family=row.get("metric_family") or None,
        default_unit=row.get("default_metric_unit") or None,
        allowed_extensions=codes(row.get("allowed_extensions")),
        validation_regexp=row.get("validation_regexp") or None,
    )


def attribute_option(row: Row) -> AttributeOption:
    return AttributeOption(attribute=row["attribute"], code=row["code"], labels=labels(row),
                           sort_order=integer(row.get("sort_order")) or 0)


def attribute_group(row: Row) -> AttributeGroup:
    return AttributeGroup(code=row["code"], labels=labels(row), sort_order=integer(row.get("sort_order")) or 0)


def category(row: Row) -> Category:
    return Category(code=row["code"], parent=row.get("parent") or None, labels=labels(row))


def channel(row: Row) -> Channel:
    return Channel(code=row["code"], labels=labels(row), locales=codes(row.get("locales")),
                   currencies=codes(row.get("currencies")), category_tree=row.get("tree", ""))


def family(row: Row) -> Family:
    requirements = {k[len("requirements-"):]: codes(v) for k, v in row.items() if k.startswith("requirements-")}
    return Family(code=row["code"], labels=labels(row), attributes=codes(row.get("attributes")),
                  attribute_as_label=row.get("attribute_as_label") or None,
                  attribute_as_image=row.get("attribute_as_image") or None,
                  requirements={c: r for c, r in requirements.items() if r})


def family_variant(row: Row) -> FamilyVariant:
    levels = []
    for n in (1, 2):
        axes = codes(row.get(f"variant-axes_{n}"))
        if axes:
            levels.append(VariantLevel(axes=axes, attributes=codes(row.get(f"variant-attributes_{n}"))))
    return FamilyVariant(code=row["code"], family=row.get("family", ""), labels=labels(row), levels=levels)


def association_type(row: Row) -> AssociationType:
    code = row["code"]
    return AssociationType(code=code, kind=ASSOCIATION_KINDS.get(code.upper(), AssociationKind.other),
                           labels=labels(row), quantified=flag(row.get("is_quantified")),
                           two_way=flag(row.get("is_two_way")))


#: file → (kind, builder), in load order: later kinds refer to earlier ones.
STRUCTURE_FILES: list[tuple[str, str, Callable[[Row], BaseModel]]] = [
    ("attribute_groups.csv", "attribute_group", attribute_group),
    ("attributes.csv", "attribute", attribute),
    ("attribute_options.csv", "attribute_option", attribute_option),
    ("categories.csv", "category", category),
    ("channels.csv", "channel", channel),
    ("families.csv", "family", family),
    ("family_variants.csv", "family_variant", family_variant),
    ("association_types.csv", "association_type", association_type),
]


@dataclass
class StructureRead:
    items: dict[str, list[BaseModel]] = field(default_factory=dict)
    lines: dict[str, list[int]] = field(default_factory=dict)
    rejects: list[Rejected] = field(default_factory=list)


def read_structure(folder: Path) -> StructureRead:
    """Every structure file of the export (a missing file is an empty one). Locales and currencies keep
    only what Akeneo activates: a locale is active when a channel uses it, a currency when activated=1."""
    out = StructureRead()
    for file, kind, build in STRUCTURE_FILES:
        out.items[kind], out.lines[kind] = _build_all(flat_file(folder, file), build, out.rejects)
    used = {loc for ch in out.items["channel"] for loc in ch.locales}  # type: ignore[attr-defined]
    out.items["locale"] = [Locale(code=c, enabled=True) for c in _codes_in(flat_file(folder, "locales.csv"), out.rejects)
                           if c in used]
    out.items["currency"] = [Currency(code=r.cells["code"], enabled=True)
                             for r in _rows(flat_file(folder, "currencies.csv"), out.rejects)
                             if flag(r.cells.get("activated"))]
    return out


def _rows(path: Path, rejects: list[Rejected]) -> Iterator[CsvRow]:
    for row in CsvFile(path).rows():
        if isinstance(row, Rejected):
            rejects.append(row)
        else:
            yield row


def _codes_in(path: Path, rejects: list[Rejected]) -> list[str]:
    return [r.cells.get("code", "") for r in _rows(path, rejects)]


def _build_all(path: Path, build: Callable[[Row], BaseModel],
               rejects: list[Rejected]) -> tuple[list[BaseModel], list[int]]:
    items, lines = [], []
    for row in _rows(path, rejects):
        try:
            items.append(build(row.cells))
            lines.append(row.line)
        except ValidationError as exc:
            first = exc.errors()[0]
            column = str(first["loc"][0]) if first["loc"] else None
            reason = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'row'}: {e['msg']}" for e in exc.errors()[:5])
            rejects.append(Rejected(reason, path.name, row.line, column, row.cells, row_key(path.name, row.cells)))
        except (ValueError, KeyError) as exc:
            column = exc.args[0] if isinstance(exc, KeyError) else None
            reason = f"missing column '{column}'" if isinstance(exc, KeyError) else str(exc)
            rejects.append(Rejected(reason, path.name, row.line, column, row.cells, row_key(path.name, row.cells)))
    return items, lines


def row_key(file: str, cells: Row) -> str:
    """Quarantine key of a structure row, `attributes.csv:weight`: closed once that row imports cleanly."""
    code = cells.get("code", "")
    return f"{file}:{cells.get('attribute', '')}.{code}" if file == "attribute_options.csv" else f"{file}:{code}"


def accepted_keys(read: StructureRead) -> list[str]:
    return [f"{file}:{structure_key(kind, item)}" for file, kind, _ in STRUCTURE_FILES for item in read.items[kind]]


def changed_items(kind: str, stored: list[BaseModel], items: list[BaseModel]) -> list[BaseModel]:
    """The items that differ from what is stored, so that a re-import writes nothing."""
    before = {structure_key(kind, i): i.model_dump(mode="json") for i in stored}
    return [i for i in items if before.get(structure_key(kind, i)) != i.model_dump(mode="json")]


def dangling_options(read: StructureRead, known_attributes: set[str]) -> None:
    """An option of an attribute declared neither in attributes.csv nor in the store would dangle."""
    kept, lines = [], []
    for option, line in zip(read.items["attribute_option"], read.lines["attribute_option"]):
        if option.attribute in known_attributes:  # type: ignore[attr-defined]
            kept.append(option)
            lines.append(line)
        else:
            read.rejects.append(Rejected(f"option of unknown attribute '{option.attribute}'",  # type: ignore[attr-defined]
                                         "attribute_options.csv", line, "attribute", option.model_dump(mode="json"),
                                         f"attribute_options.csv:{structure_key('attribute_option', option)}"))
    read.items["attribute_option"], read.lines["attribute_option"] = kept, lines
