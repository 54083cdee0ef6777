"""The native bulk format: one canonical record per line (schemas/product.schema.json,
schemas/product_model.schema.json). Export then import is exact, except that a bad GTIN is not taken in: a
record's value that is no GTIN is left out with a `problem` entry and the product keeps the GTIN it had
(`gtins_checked`), as every other importer does (importers.gtin_check), and that the export leaves out the values
a family change left outside a product's family (`LeftOut`: named in its warning, kept in the store), which no
import takes in."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson
from pydantic import ValidationError

from pim.catalog import Structure
from pim.catalog_gtins import gtins_checked
from pim.errors import InputError
from pim.importing import ImportCounts, Parsed, Rejected, nul_at, nul_rejected, run_import
from pim.product import Association, Product, ProductModel, Provenance, split_key
from pim.store import Store
from pim.structure import AttributeType


def _record_key(data: dict[str, Any]) -> str | None:
    """A refused line's quarantine key: its SKU, or `model:<code>` (pim.importing.record_identity)."""
    from pim.merge import MODEL_KEY

    if data.get("kind") == "product_model":
        code = data.get("code")
        return MODEL_KEY + str(code) if code else None
    key = data.get("identifier") or data.get("code")
    return str(key) if key else None


def read_jsonl(path: Path, source: Provenance | None = None, *, only_if: bytes | None = None) -> Iterator[Parsed | Rejected]:
    """Parse lines lazily. A record without provenance gets the file's (source `jsonl`, ref file:line).
    `only_if`: skip, unparsed, every line that does not contain these bytes (a cheap pre-filter)."""
    name = path.name  # quarantine entries name the file as every importer's do, whatever directory it is read from
    stamp = datetime.now(UTC)
    for item in json_objects(path, _record_key, only_if=only_if):
        if isinstance(item, Rejected):
            yield item
            continue
        number, data = item
        kind = data.get("kind", "product")
        try:
            record: Product | ProductModel | None = canonical_record(data)
            if record is None:
                record = (ProductModel if kind == "product_model" else Product).model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            reason = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
            yield Rejected(reason, name, number, field, data, _record_key(data))
            continue
        if record.source is None:
            record.source = source or Provenance(source="jsonl", ref=f"{path.name}:{number}", at=stamp)
        yield Parsed(record, name, number)


def json_objects(path: Path, record_key: Callable[[dict[str, Any]], str | None], *,
                 only_if: bytes | None = None) -> Iterator[tuple[int, dict[str, Any]] | Rejected]:
    """(line number, object) for each line of a JSON Lines file, lazily, past a UTF-8 byte order mark and blank
    lines; a line that is no JSON object, or holds U+0000, is rejected naming the file (its name) and line, with
    the quarantine key `record_key` gives it. `only_if`: as read_jsonl's. Catalog records and price lists
    (importers.erp_csv.import_price_list_jsonl) read their lines through it."""
    name = path.name
    try:
        handle: IO[bytes] = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}", file=str(path)) from exc
    with handle:
        head = handle.read(3)
        if head != b"\xef\xbb\xbf":
            handle.seek(0)
        for number, line in enumerate(handle, start=1):
            if not line.strip() or (only_if is not None and only_if not in line):
                continue
            try:
                data = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                text = line.decode("utf-8", "replace")
                yield Rejected(broken_json_line(text, exc), name, number, None, {"line": text[:2000]})
                continue
            if not isinstance(data, dict):
                yield Rejected("a line must be a JSON object", name, number, None, {"line": data})
                continue
            if b"\\u0000" in line and (where := nul_at(data)) is not None:  # JSON writes U+0000 escaped
                yield nul_rejected(f"'{where}'", name, number, where, data, record_key(data))
                continue
            yield number, data


_CODE = re.compile(r"[A-Za-z0-9_]{1,100}")
_PRODUCT_FIELDS = frozenset(Product.model_fields)
_MODEL_FIELDS = frozenset(ProductModel.model_fields)


def _is_text_list(v: Any) -> bool:
    return type(v) is list and all(type(x) is str for x in v)


def _provenances(data: dict[str, Any]) -> tuple[Provenance | None, dict[str, Provenance]]:
    source = data.get("source")
    prov = data.get("provenance") or {}
    if type(prov) is not dict:
        raise TypeError
    return (None if source is None else Provenance.model_validate(source),
            {k: Provenance.model_validate(v) for k, v in prov.items()})


def canonical_record(data: dict[str, Any]) -> Product | ProductModel | None:
    """The record for a line that is already in the exact shape pydantic would accept unchanged (the common
    case: what `pim export jsonl` and the generator write), built without re-validating its values dict;
    None when anything is unusual, so that pydantic validates it and explains what is wrong. The checks mirror
    the model's field types and constraints (tests/test_jsonl_fastpath.py compares both paths)."""
    kind = data.get("kind", "product")
    model = kind == "product_model"
    if not (model or kind == "product") or not (_MODEL_FIELDS if model else _PRODUCT_FIELDS).issuperset(data):
        return None
    key = data.get("code" if model else "identifier")
    family, parent = data.get("family"), data.get("parent")
    categories, values, assoc = data.get("categories", []), data.get("values", {}), data.get("associations", {})
    if (type(key) is not str or not 1 <= len(key) <= 255 or (family is not None and (type(family) is not str or not _CODE.fullmatch(family)))
            or (parent is not None and type(parent) is not str) or not _is_text_list(categories) or type(values) is not dict
            or type(assoc) is not dict or not all(type(a) is dict for a in assoc.values())):
        return None
    try:
        source, provenance = _provenances(data)
        associations = {k: Association.model_validate(a) for k, a in assoc.items()}
    except (ValidationError, TypeError):
        return None
    fields: dict[str, Any] = {"categories": categories, "values": values, "source": source, "provenance": provenance}
    if model:
        fv = data.get("family_variant")
        if type(fv) is not str or not _CODE.fullmatch(fv):
            return None
        fields.update(kind=kind, code=key, family_variant=fv, family=family, parent=parent, associations=associations)
        return _construct(ProductModel, fields, data)
    enabled, groups = data.get("enabled", True), data.get("groups", [])
    if type(enabled) is not bool or not _is_text_list(groups):
        return None
    fields.update(kind=kind, identifier=key, family=family, parent=parent, enabled=enabled, groups=groups,
                  associations=associations)
    return _construct(Product, fields, data)


def _construct(cls: type[Any], fields: dict[str, Any], data: dict[str, Any]) -> Any:
    """What pydantic's model_construct does, without its per-field default handling (every field is given)."""
    record = cls.__new__(cls)
    object.__setattr__(record, "__dict__", {name: fields[name] for name in cls.model_fields})
    object.__setattr__(record, "__pydantic_fields_set__", set(data))
    object.__setattr__(record, "__pydantic_extra__", None)
    object.__setattr__(record, "__pydantic_private__", None)
    return record


class JsonlImporter:
    name = "jsonl"

    def run(self, path: Path, store: Store, **options: Any) -> dict[str, Any]:
        return import_jsonl(path, store, **options).as_dict()


def import_jsonl(path: Path, store: Store, *, source_name: str = "jsonl", on_batch: Any = None,
                 merge: Any = None) -> ImportCounts:
    """Replace each record with the file's (the exact round trip of `pim export jsonl`), or, with `merge`
    (a pim.merge.Merger), treat the file as one more source merged by precedence. Either way a bad GTIN is
    left out and noted (`gtins_checked`). A whole-record import puts back the values the export left out when
    its left-out file lies beside `path` and was written with it (pim.jsonl_left_out: `left_out_restored` counts
    them); a left-out file beside it that was not written with it stops the import before its first batch."""
    structure = store.structure()
    items = gtins_checked(_models_first(path), store, structure, source_name, whole=merge is None)
    from pim.jsonl_left_out import putting_back, read_sidecar, sidecar_path
    from pim.sources import job_label

    side = sidecar_path(path)  # the values the export left out (--include-left-out), put back once all is in
    held = read_sidecar(side, path, store) if merge is None and side != path and side.is_file() else None
    return run_import(store, source_name, items, structure=structure, label=job_label("jsonl", path), on_batch=on_batch,
                      merge=merge, before_finish=putting_back(store, held) if held else None)


def _models_first(path: Path) -> Iterator[Parsed | Rejected]:
    """Models before products, so variants find their parents: two streaming passes, no buffering."""
    # A model's line must say "product_model" (its kind), so the first pass parses only those lines.
    for item in read_jsonl(path, only_if=b"product_model"):
        if isinstance(item, Parsed) and isinstance(item.record, ProductModel):
            yield item
    for item in read_jsonl(path):
        if not (isinstance(item, Parsed) and isinstance(item.record, ProductModel)):
            yield item


def record_line(record: Product | ProductModel) -> bytes:
    """Keys sorted at every level: the same record gives the same bytes whichever backend stored it
    (PostgreSQL's jsonb does not keep key order)."""
    data = record.model_dump(mode="json", exclude_defaults=True)
    data["kind"] = record.kind
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS) + b"\n"


class LeftOut:
    """The values an export left out because the record's family lacks their attribute: a family change keeps
    them in the store (a PATCH to null clears them), but no import takes them in (pim.validation refuses a
    value outside the family), so a file holding them would not import back. Counted, with the first records'
    keys (`shown`), for the exporter's warning; the store keeps them."""

    SHOWN = 10

    def __init__(self, structure: Structure, sidecar: IO[bytes] | None = None) -> None:
        self.structure = structure
        self.sidecar = sidecar  # where the left-out values are kept, when asked (pim.jsonl_left_out)
        self.values = 0
        self.records = 0
        self.models = 0  # of `records`: product models (cleared by another route than products)
        self.shown: list[tuple[str, list[str]]] = []  # (SKU or model:<code>, its value keys left out)
        self._held: dict[str | None, dict[str, bool]] = {}  # family → value key → whether the family holds it

    def strays(self, family: str | None, values: dict[str, Any]) -> list[str]:
        """The keys of `values` whose attribute `family` lacks (never the identifier; none without a family or
        for one the structure does not declare, as validation reads them). Decided once per family and key."""
        s = self.structure
        if family not in s.families:
            return []
        held = self._held.get(family)
        if held is None:
            held = self._held[family] = {}
        out = []
        for key in values:
            ok = held.get(key)
            if ok is None:
                attr = s.attributes.get(split_key(key)[0])
                ok = held[key] = (attr is None or attr.type == AttributeType.identifier  # unknown: validation's to name
                                  or attr.code in s.families[family].attributes)  # type: ignore[index]
            if not ok:
                out.append(key)
        return out

    def kept(self, record: Product | ProductModel, family: str | None) -> Product | ProductModel:
        """`record` without its values outside `family` (and their provenance), counted; itself when none."""
        strays = self.strays(family, record.values)
        if not strays:
            return record
        self.values += len(strays)
        self.records += 1
        self.models += isinstance(record, ProductModel)
        from pim.merge import MODEL_KEY

        key = record.identifier if isinstance(record, Product) else MODEL_KEY + record.code
        if len(self.shown) < self.SHOWN:
            self.shown.append((key, strays))
        if self.sidecar is not None:
            from pim.jsonl_left_out import sidecar_line

            self.sidecar.write(sidecar_line(
                isinstance(record, ProductModel), record.identifier if isinstance(record, Product) else record.code,
                {k: record.values[k] for k in strays},
                {k: p.model_dump(mode="json") for k, p in record.provenance.items() if k in strays}))
        return record.model_copy(update={
            "values": {k: v for k, v in record.values.items() if k not in strays},
            "provenance": {k: v for k, v in record.provenance.items() if k not in strays}})

    def warning(self) -> str | None:
        """What the exporter says when values were left out, and what to do; None when none were."""
        if not self.values:
            return None
        listed = "; ".join(f"{key} ({', '.join(keys)})" for key, keys in self.shown)
        more = f" and {self.records - len(self.shown)} more" if self.records > len(self.shown) else ""
        if self.sidecar is not None:
            return (f"left out {self.values} value(s) of {self.records} record(s) whose family lacks their attribute "
                    f"(left behind by a family change): {listed}{more}. They are kept in the left-out file beside "
                    "the export, which `pim import jsonl` of the export puts back: keep the two files together")
        products, models = "PATCH /api/v1/products/{sku}", "PATCH /api/v1/models/{code}"
        route = (products if not self.models else models if self.models == self.records
                 else f"{products} for a product; {models} for a product model, listed as model:<code>")
        return (f"left out {self.values} value(s) of {self.records} record(s) whose family lacks their attribute "
                f"(left behind by a family change): {listed}{more}. They stay in the store, but no import takes them "
                "in, and importing this file replaces those records without them. To keep them, add the attributes "
                f"to the family; to drop them, clear them with the value null ({route}); then "
                "export again")


def export_jsonl(store: Store, out: IO[bytes], *, enabled_only: bool = False, left_out: LeftOut | None = None) -> int:
    """Every model, then every product, as one line each. Values of an attribute the record's family lacks are
    left out (so the file imports back: `pim import jsonl` refuses them) and counted in `left_out`."""
    left_out = left_out or LeftOut(store.structure())
    fv_family = {code: fv.family for code, fv in left_out.structure.family_variants.items()}
    count = 0
    for model in store.iter_models():
        out.write(record_line(left_out.kept(model, fv_family.get(model.family_variant, model.family))))
        count += 1
    for product in store.iter_products(enabled_only=enabled_only):
        out.write(record_line(left_out.kept(product, product.family)))
        count += 1
    return count


def broken_json_line(line: str, exc: orjson.JSONDecodeError) -> str:
    """Why a JSON line does not parse, at its character (counted from 1, as an editor's column): orjson counts
    lines and columns in the text it was given, the one line, whose own number the entry carries (its "line 2
    column 1" meant past the line's end). Shared by the catalog's JSONL and the content team's JSON Lines."""
    text = line.rstrip()
    what = "object" if text.lstrip().startswith("{") else "value"
    if exc.pos >= len(text):
        return f"not valid JSON (the line ends before the JSON {what} is complete, at character {len(text) + 1})"
    return f"not valid JSON ({exc.msg}, at character {exc.pos + 1})"
