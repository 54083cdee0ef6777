"""Akeneo product and product-model rows → canonical records.

A value column is `attr`, `attr-<locale>`, `attr-<channel>` or `attr-<locale>-<channel>`, plus a suffix for
prices (`price-EUR`) and metric units (`weight-unit`). Codes never contain '-', so the attribute's own
localizable/scopable flags say how to read the parts. The header is planned once; each row is then a loop
over the plan. Records are checked here with the shared RecordValidator so that a rejection names the CSV
column (run_import checks them again; normalised values pass straight through). A bad GTIN is left out of its
row, which is taken in with a `problem` naming the column; the record keeps the GTIN it had (`_gtins`, then
pim.catalog_gtins.keep_stored_gtins over the items, as import_akeneo runs them).

In merge mode (`merged`) a row is a partial record of its source: a filled cell is a claim, an empty cell of an
attribute of the record's family withdraws the source's value, and a structural field (family, parent, enabled,
categories, groups) is set only by a filled cell; each association type with a column is the source's claim on
it (empty: withdrawn). See docs/akeneo.md, "Merging with other sources"."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from importers.akeneo_structure import CsvFile, CsvRow, codes, flat_file
from importers.erp_values import refusal
from importers.gtin_check import gtin_reason, problem_notes, take_bad
from pim.catalog import Structure
from pim.errors import InputError
from pim.importing import Parsed, Rejected
from pim.merge import MODEL_KEY
from pim.product import Association, Product, ProductModel, Provenance, value_key
from pim.quality import is_gtin_attribute
from pim.store import Store
from pim.store.store import QuarantineEntry
from pim.structure import Attribute, AttributeType
from pim.validation import Problem, RecordValidator

SOURCE = "akeneo"
PRODUCT_META = {"categories", "enabled", "family", "parent", "groups"}
MODEL_META = {"code", "family_variant", "parent", "categories"}
_ASSOCIATED = ("products", "product_models", "groups")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_MEDIA = (AttributeType.image, AttributeType.file)
#: What became of a bad GTIN in an Akeneo export, and what to do.
GTIN_HINT = "left out (a stored GTIN stays); correct it in Akeneo and export again"


@dataclass
class ValueSpec:
    """Where one value key's data sits in a row: one column, or amount+unit, or one column per currency."""

    key: str
    attribute: Attribute
    column: str
    unit: str | None = None
    currencies: dict[str, str] = field(default_factory=dict)

    def read(self, row: dict[str, str]) -> Any:
        kind = self.attribute.type
        if kind == AttributeType.price_collection:
            prices = {cur: row[col] for cur, col in self.currencies.items() if row[col] != ""}
            return prices or None
        cell = row[self.column] if self.column else ""
        if cell == "":
            return None
        if kind == AttributeType.metric:
            return {"amount": cell, "unit": (row[self.unit] if self.unit else "") or None}
        if kind == AttributeType.multi_select:
            return codes(cell)
        return cell


@dataclass
class ColumnPlan:
    """The header of products.csv or product_models.csv, read once against the structure."""

    values: list[ValueSpec] = field(default_factory=list)
    associations: dict[str, dict[str, str]] = field(default_factory=dict)  # type → part → column
    bad: dict[str, str] = field(default_factory=dict)  # column → why it cannot be read
    gtins: dict[str, str] = field(default_factory=dict)  # value key → its column, for GTIN attributes

    def column_of(self, key: str) -> str:
        if key == "associations" and self.associations:
            return next(iter(next(iter(self.associations.values())).values()))
        for spec in self.values:
            if spec.key == key:
                return spec.column or next(iter(spec.currencies.values()), key)
        return key


def plan_columns(header: list[str], structure: Structure, meta: set[str]) -> ColumnPlan:
    plan = ColumnPlan()
    specs: dict[str, ValueSpec] = {}
    lowered = {code.lower(): a for code, a in structure.attributes.items()}
    for column in header:
        if column in meta:
            continue
        parts = column.split("-")
        if len(parts) >= 2 and parts[1] in _ASSOCIATED:
            if parts[0] not in structure.association_types:
                plan.bad[column] = f"unknown association type '{parts[0]}'; declare it in association_types.csv"
            else:
                plan.associations.setdefault(parts[0], {})["-".join(parts[1:])] = column
            continue
        attr = structure.attributes.get(parts[0]) or lowered.get(parts[0].lower())
        if attr is None:
            plan.bad[column] = f"unknown attribute '{parts[0]}'; declare it in attributes.csv"
            continue
        try:
            key, part = _value_key(attr, parts[1:])
        except ValueError as exc:
            plan.bad[column] = str(exc)
            continue
        spec = specs.setdefault(key, ValueSpec(key, attr, ""))
        if attr.type == AttributeType.price_collection:
            spec.currencies[part] = column  # type: ignore[index]
        elif part == "unit":
            spec.unit = column
        else:
            spec.column = column
    plan.values = list(specs.values())
    plan.gtins = {s.key: s.column for s in plan.values if s.column and is_gtin_attribute(s.attribute.code)}
    return plan


def _value_key(attr: Attribute, rest: list[str]) -> tuple[str, str | None]:
    rest = list(rest)
    locale = channel = part = None
    if attr.localizable:
        if not rest:
            raise ValueError(f"'{attr.code}' is localizable: the column needs a locale ({attr.code}-en_US)")
        locale = rest.pop(0)
    if attr.scopable:
        if not rest:
            raise ValueError(f"'{attr.code}' is scopable: the column needs a channel ({attr.code}-ecommerce)")
        channel = rest.pop(0)
    if attr.type == AttributeType.price_collection:
        if not rest or not _CURRENCY.match(rest[0]):
            raise ValueError(f"a price column ends with a currency code ({attr.code}-EUR)")
        part = rest.pop(0)
    elif attr.type == AttributeType.metric and rest == ["unit"]:
        part = rest.pop(0)
    if rest:
        raise ValueError(f"cannot read column suffix '-{'-'.join(rest)}' for attribute '{attr.code}' "
                         f"(localizable={attr.localizable}, scopable={attr.scopable})")
    return value_key(attr.code, locale, channel), part


@dataclass
class RowReader:
    """Shared state of one import: the structure, validator, known models and where media files live."""

    folder: Path
    structure: Structure
    store: Store
    stamp: datetime
    source: str = SOURCE
    merged: bool = False  # rows are partial records merged by precedence (import_akeneo's merge mode)
    validator: RecordValidator = field(init=False)
    models: dict[str, str] = field(default_factory=dict)  # lower-cased code → code (Akeneo codes ignore case)
    model_variants: dict[str, str] = field(default_factory=dict)  # model code → family variant
    counts: dict[str, int] = field(default_factory=lambda: {"products": 0, "product_models": 0})
    _media: dict[str, bool] = field(default_factory=dict)
    _seen: dict[str, dict[str, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validator = RecordValidator(self.structure)

    # ------------------------------------------------------------ models
    def model_items(self) -> Iterator[Parsed | Rejected]:
        """Root models first, then sub-models, so each sub-model finds its parent (two streaming passes)."""
        path = flat_file(self.folder, "product_models.csv")
        csv_file = CsvFile(path)
        header_checked = False
        for second_pass in (False, True):
            plan: ColumnPlan | None = None
            for row in csv_file.rows():
                if isinstance(row, Rejected):
                    if not second_pass:
                        yield row
                    continue
                if plan is None:
                    if not header_checked and "code" not in csv_file.header:
                        raise InputError(f"{path.name} has no 'code' column", file=path.name, line=1)
                    header_checked = True
                    plan = plan_columns(csv_file.header, self.structure, MODEL_META)
                if bool(row.cells.get("parent")) == second_pass:
                    yield self._model(plan, row, path.name)

    def _model(self, plan: ColumnPlan, row: CsvRow, file: str) -> Parsed | Rejected:
        cells = row.cells
        code = cells["code"].strip()
        if not code:
            return self._reject("empty code", file, row, "code", None)
        key = MODEL_KEY + code  # its quarantine entries' key (pim.importing.record_identity)
        parent = self._parent(cells.get("parent", ""))
        if parent is False:
            return self._reject(f"parent product model '{cells['parent']}' does not exist", file, row, "parent", key)
        if not cells.get("family_variant"):
            return self._reject("empty family_variant", file, row, "family_variant", key)
        seen = self._first_seen(code, row.line, "model")
        if seen:
            return self._reject(f"product model '{code}' already appears on line {seen}", file, row, "code", key)
        bad = self._bad_cell(plan, cells)
        if bad:
            return self._reject(bad[1], file, row, bad[0], key)
        family = self.structure.family_of_variant(cells["family_variant"])
        values, notes = self._values(plan, row, file, key, self._clears(family))
        gtins = self._gtins(plan, row, file, key, values, notes)
        fields = self._stated({"categories": codes(cells.get("categories"))}, cells)
        try:
            record = ProductModel(code=code, family_variant=cells["family_variant"], parent=parent or None,
                                  values=values, source=self._provenance(file, row), **fields)
        except ValidationError as exc:  # a code over its length, a family variant or category that is no code
            where, reason = refusal(exc)
            return self._reject(reason, file, row, where, key)
        problems = self.validator.check_model(record)
        if problems:
            return self._problems(plan, problems, file, row, key)
        self.models[code.lower()] = code
        self.model_variants[code] = record.family_variant
        self.counts["product_models"] += 1
        return Parsed(record, file, row.line, problems=notes, kept=() if self.merged else gtins)

    # ------------------------------------------------------------ products
    def product_items(self) -> Iterator[Parsed | Rejected]:
        path = flat_file(self.folder, "products.csv")
        csv_file = CsvFile(path)
        identifier = self.structure.identifier_attribute
        plan: ColumnPlan | None = None
        for row in csv_file.rows():
            if isinstance(row, Rejected):
                yield row
                continue
            if plan is None:
                if identifier not in csv_file.header:
                    raise InputError(f"{path.name} has no '{identifier}' column (the identifier attribute)",
                                     file=path.name, line=1, field=identifier,
                                     hint="the first column of an Akeneo product export is the identifier")
                plan = plan_columns(csv_file.header, self.structure, PRODUCT_META | {identifier})
            yield self._product(plan, row, path.name, identifier)

    def _product(self, plan: ColumnPlan, row: CsvRow, file: str, identifier_attr: str) -> Parsed | Rejected:
        cells = row.cells
        identifier = cells[identifier_attr].strip()
        if not identifier:
            return self._reject("empty identifier", file, row, identifier_attr, None)
        parent = self._parent(cells.get("parent", ""))
        if parent is False:
            return self._reject(f"parent product model '{cells['parent']}' does not exist", file, row, "parent",
                                identifier)
        seen = self._first_seen(identifier, row.line, "product")
        if seen:
            return self._reject(f"identifier '{identifier}' already appears on line {seen}", file, row,
                                identifier_attr, identifier)
        enabled = cells.get("enabled", "").strip()
        if enabled not in ("", "0", "1"):
            return self._reject(f"enabled is '{enabled}': use 1 or 0", file, row, "enabled", identifier)
        bad = self._bad_cell(plan, cells)
        if bad:
            return self._reject(bad[1], file, row, bad[0], identifier)
        family = cells.get("family") or self._family_of(parent)
        values, notes = self._values(plan, row, file, identifier, self._clears(family))
        values[identifier_attr] = identifier
        gtins = self._gtins(plan, row, file, identifier, values, notes)
        try:
            associations = self._associations(plan, cells)
        except ValueError as exc:
            return self._reject(exc.args[0], file, row, exc.args[1], identifier)
        fields = self._stated({"family": family, "parent": parent or None, "enabled": enabled != "0",
                               "categories": codes(cells.get("categories")), "groups": codes(cells.get("groups"))},
                              cells)
        try:
            record = Product(identifier=identifier, values=values, associations=associations,
                             source=self._provenance(file, row), **fields)
        except ValidationError as exc:  # an identifier over 255 characters, a family or category that is no code
            where, reason = refusal(exc, identifier_attr)
            return self._reject(reason, file, row, where, identifier)
        problems = self.validator.check_product(record)
        if problems:
            return self._problems(plan, problems, file, row, identifier)
        self.counts["products"] += 1  # `kept`: a whole record would clear what it leaves out: the GTIN is put back
        return Parsed(record, file, row.line, problems=notes, kept=() if self.merged else gtins)

    # ------------------------------------------------------------ shared
    def _provenance(self, file: str, row: CsvRow) -> Provenance:
        return Provenance(source=self.source, ref=f"{file}:{row.line}", at=self.stamp)

    def _clears(self, family: str | None) -> set[str] | None:
        """Merge mode: the attributes whose empty cell withdraws the source's value, the record's family's. An
        export has a column for every attribute of every family, so an empty cell of another family's attribute
        says nothing (and the merge would refuse it as outside the family); a row naming no family clears none."""
        return self.validator.family_attrs.get(family) if self.merged and family else None

    def _stated(self, fields: dict[str, Any], cells: dict[str, str]) -> dict[str, Any]:
        """The structural fields a record sets: all of them for a whole record; in merge mode those whose cell is
        filled (a variant's family is its model's when its own cell is empty), so an empty cell leaves what is
        stored: these fields are no source's claim, and another source may have set them."""
        if not self.merged:
            return fields
        return {name: value for name, value in fields.items()
                if cells.get(name, "").strip() or (name == "family" and value)}

    def _first_seen(self, key: str, line: int, kind: str) -> int | None:
        """The line a key first appeared on, if this row repeats it (Akeneo keys ignore case). Writing a
        key twice in one batch would also make the database refuse the whole batch."""
        seen = self._seen.setdefault(kind, {})
        first = seen.setdefault(key.lower(), line)
        return first if first != line else None

    def _parent(self, cell: str) -> str | bool:
        """'' for no parent, the stored spelling of the parent's code, or False when it does not exist.
        Akeneo compares codes case-insensitively: the demo catalog's variants say 'Model-tshirt-divided-blue'
        for the model 'model-tshirt-divided-blue'."""
        code = cell.strip()
        if not code:
            return ""
        if code.lower() in self.models:
            return self.models[code.lower()]
        stored = self.store.get_model(code)
        if stored is not None:
            self.models[code.lower()] = stored.code
            self.model_variants[stored.code] = stored.family_variant
            return stored.code
        return False

    def _family_of(self, parent: str | bool) -> str | None:
        if not parent:
            return None
        return self.structure.family_of_variant(self.model_variants.get(parent, ""))  # type: ignore[arg-type]

    def _values(self, plan: ColumnPlan, row: CsvRow, file: str, key: str,
                clears: set[str] | None = None) -> tuple[dict[str, Any], list[QuarantineEntry]]:
        """The row's values; an empty cell is no value, or None (a withdrawal) for the attributes in `clears`."""
        values: dict[str, Any] = {}
        notes: list[QuarantineEntry] = []
        for spec in plan.values:
            data = spec.read(row.cells)
            if data is None:
                if clears is not None and spec.attribute.code in clears:
                    values[spec.key] = None
                continue
            values[spec.key] = data
            if spec.attribute.type in _MEDIA and not self._media_exists(data):
                notes.append(QuarantineEntry(f"media file not found: {data}", file, row.line, spec.column, None, key,
                                             self.source, severity="problem"))
        return values, notes

    def _gtins(self, plan: ColumnPlan, row: CsvRow, file: str, key: str, values: dict[str, Any],
               notes: list[QuarantineEntry]) -> tuple[str, ...]:
        """Take the row's bad GTINs out of `values` (importers.gtin_check.take_bad), note a problem naming the
        column of each, and return their keys (`Parsed.kept`, once the record is taken in)."""
        if not plan.gtins:
            return ()
        fields = {k: column for k, column in plan.gtins.items() if k in values}
        bad = take_bad(values, fields) if fields else []
        if not bad:
            return ()
        raw = {k: v for k, v in row.cells.items() if v != ""}
        notes.extend(problem_notes([(column, gtin_reason(problem, GTIN_HINT)) for column, problem in bad], file,
                                   row.line, raw, key, self.source))
        return tuple(k for k in fields if k not in values)

    def _media_exists(self, ref: str) -> bool:
        if ref not in self._media:
            try:
                self._media[ref] = "://" in ref or (self.folder / ref).is_file()
            except (OSError, ValueError):  # a name too long for the file system, a NUL: no such file
                self._media[ref] = False
        return self._media[ref]

    def _associations(self, plan: ColumnPlan, cells: dict[str, str]) -> dict[str, Association]:
        """The row's associations by type; in merge mode a type whose cells are empty is stated empty, which
        withdraws the source's claim on it (pim.association_claims)."""
        out: dict[str, Association] = {}
        for type_code, parts in plan.associations.items():
            lists = {p: codes(cells[c]) for p, c in parts.items() if p in _ASSOCIATED}
            if not any(lists.values()):
                if self.merged:
                    out[type_code] = Association()
                continue
            quantities: dict[str, int] = {}
            for part in ("products", "product_models"):
                column = parts.get(f"{part}-quantity")
                if column and cells[column]:
                    amounts = [q.strip() for q in re.split(r"[|,]", cells[column]) if q.strip()]
                    if not all(q.isdigit() for q in amounts):
                        raise ValueError(f"quantities must be whole numbers, got '{cells[column]}'", column)
                    quantities.update(zip(lists.get(part, []), (int(q) for q in amounts)))
            out[type_code] = Association(**lists, quantities=quantities)
        return out

    @staticmethod
    def _bad_cell(plan: ColumnPlan, cells: dict[str, str]) -> tuple[str, str] | None:
        for column, reason in plan.bad.items():
            if cells.get(column, "") != "":
                return column, reason
        return None

    @staticmethod
    def _reject(reason: str, file: str, row: CsvRow, column: str | None, key: str | None) -> Rejected:
        raw = {k: v for k, v in row.cells.items() if v != ""}
        return Rejected(reason, file, row.line, column, raw, key)

    def _problems(self, plan: ColumnPlan, problems: list[Problem], file: str, row: CsvRow, key: str) -> Rejected:
        reason = "; ".join(f"{plan.column_of(p.field)}: {p.reason}" for p in problems)
        return self._reject(reason, file, row, plan.column_of(problems[0].field), key)
