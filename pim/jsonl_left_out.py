"""The JSONL export's sidecar of left-out values (`pim export jsonl OUT --include-left-out`), and the import
that puts them back, so an export imported into the same catalog loses nothing.

An export leaves out the values a family change left outside a record's family (pim.jsonl.LeftOut): no import
takes them in, so a whole-record import of the file would drop them from the store. With the sidecar beside
the file (`catalog.jsonl` → `catalog.left-out.jsonl`), `pim import jsonl catalog.jsonl` reads it first and,
once every batch is written, gives each record back the left-out values it lacks then, with their provenance.
A value the record holds by then (the file's, or one set since) is never overwritten. A sidecar line is no
catalog record (`kind: left_out`): imported by mistake as one, it is refused, never replaces a product."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from pim.errors import InputError

KIND = "left_out"


def sidecar_path(path: Path) -> Path:
    """`catalog.jsonl` → `catalog.left-out.jsonl` (beside it, so the two travel together)."""
    return path.with_name(f"{path.stem}.left-out{path.suffix or '.jsonl'}")


def sidecar_line(model: bool, key: str, values: dict[str, Any], provenance: dict[str, Any]) -> bytes:
    """One record's left-out values (and their provenance, as the record's JSON has them)."""
    return orjson.dumps({"kind": KIND, "record": "product_model" if model else "product", "key": key,
                         "values": values, "provenance": provenance}, option=orjson.OPT_SORT_KEYS) + b"\n"


@dataclass
class Held:
    """The sidecar's values by record: (is a model, key) → (values, provenance)."""

    records: dict[tuple[bool, str], tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.records)


def read_sidecar(path: Path) -> Held:
    """The sidecar, whole (one line per record with values left out: few), read before the import writes
    anything so a broken one stops it with nothing changed."""
    held = Held()
    try:
        lines = path.read_bytes().splitlines()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}", file=str(path)) from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = orjson.loads(line)
            ok = (type(data) is dict and data.get("kind") == KIND and data.get("record") in ("product", "product_model")
                  and type(data.get("key")) is str and type(data.get("values")) is dict
                  and type(data.get("provenance", {})) is dict)
        except orjson.JSONDecodeError:
            ok = False
        if not ok:
            raise InputError(f"{path.name} line {number} is no left-out line of `pim export jsonl --include-left-out`; "
                             f"export again, or move {path.name} away to import without it",
                             file=str(path), line=number)
        held.records[(data["record"] == "product_model", data["key"])] = (data["values"], data.get("provenance", {}))
    return held


def putting_back(store: Any, held: Held) -> Callable[[Any], None]:
    """The import's `before_finish`: each held record, as stored now, gets back the held values it lacks."""
    from pim.product import Provenance

    def put_back(counts: Any) -> None:
        products, models, values = [], [], 0
        for (model, key), (held_values, held_prov) in held.records.items():
            record = store.get_model(key) if model else store.get_product(key)
            missing = {k: v for k, v in held_values.items() if record is not None and k not in record.values}
            if not missing:
                continue
            provenance = {**record.provenance, **{k: Provenance.model_validate(held_prov[k])
                                                  for k in missing if k in held_prov}}
            (models if model else products).append(record.model_copy(update={
                "values": {**record.values, **missing}, "provenance": provenance}))
            values += len(missing)
        if models:
            store.upsert_models(models)
        if products:
            store.upsert_products(products)
        counts.extra["left_out_restored"] = values

    return put_back

