"""The native bulk format: one canonical record per line (schemas/product.schema.json,
schemas/product_model.schema.json). Export then import is exact."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson
from pydantic import ValidationError

from pim.errors import InputError
from pim.importing import ImportCounts, Parsed, Rejected, run_import
from pim.product import Product, ProductModel, Provenance
from pim.store import Store


def read_jsonl(path: Path, source: Provenance | None = None, *, only_if: bytes | None = None) -> Iterator[Parsed | Rejected]:
    """Parse lines lazily. A record without provenance gets the file's (source `jsonl`, ref file:line).
    `only_if`: skip, unparsed, every line that does not contain these bytes (a cheap pre-filter)."""
    name = str(path)
    stamp = datetime.now(UTC)
    try:
        handle: IO[bytes] = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}", file=name) from exc
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
                yield Rejected(f"not valid JSON: {exc}", name, number, None, {"line": line[:2000].decode("utf-8", "replace")})
                continue
            if not isinstance(data, dict):
                yield Rejected("a line must be a JSON object", name, number, None, {"line": data})
                continue
            kind = data.get("kind", "product")
            try:
                record: Product | ProductModel = (ProductModel if kind == "product_model" else Product).model_validate(data)
            except ValidationError as exc:
                first = exc.errors()[0]
                field = ".".join(str(p) for p in first["loc"])
                reason = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
                key = data.get("identifier") or data.get("code")
                yield Rejected(reason, name, number, field, data, str(key) if key else None)
                continue
            if record.source is None:
                record.source = source or Provenance(source="jsonl", ref=f"{path.name}:{number}", at=stamp)
            yield Parsed(record, name, number)


class JsonlImporter:
    name = "jsonl"

    def run(self, path: Path, store: Store, **options: Any) -> dict[str, Any]:
        return import_jsonl(path, store, **options).as_dict()


def import_jsonl(path: Path, store: Store, *, source_name: str = "jsonl", on_batch: Any = None,
                 merge: Any = None) -> ImportCounts:
    """Replace each record with the file's (the exact round trip of `pim export jsonl`), or, with `merge`
    (a pim.merge.Merger), treat the file as one more source merged by precedence."""
    items = _models_first(path)
    return run_import(store, source_name, items, label=str(path), on_batch=on_batch, merge=merge)


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


def export_jsonl(store: Store, out: IO[bytes], *, enabled_only: bool = False) -> int:
    count = 0
    for model in store.iter_models():
        out.write(record_line(model))
        count += 1
    for product in store.iter_products(enabled_only=enabled_only):
        out.write(record_line(product))
        count += 1
    return count
