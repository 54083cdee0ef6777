"""The JSONL export's sidecar of left-out values (`pim export jsonl OUT --include-left-out`), and the import
that puts them back, so an export imported into the same catalog loses nothing.

An export leaves out the values a family change left outside a record's family (pim.jsonl.LeftOut): no import
takes them in, so a whole-record import of the file would drop them from the store. With the sidecar beside
the file (`catalog.jsonl` → `catalog.left-out.jsonl`), `pim import jsonl catalog.jsonl` reads it first and,
once every batch is written, gives each record back the left-out values it lacks then, with their provenance.
A value the record holds by then (the file's, or one set since) is never overwritten. A sidecar line is no
catalog record (`kind: left_out`): imported by mistake as one, it is refused, never replaces a product.

The sidecar is tied to its export: each line carries the sha256 of the export file it was written with
(`export_sha256`), and the sidecar is put in place before the export, so it is never older than its export. A
sidecar beside another file (an older export's, one left by a crash between the two replacements, or one an
export of the same content written since without the option, `pim export jsonl > catalog.jsonl`, found newer)
would put back stale values; imported without them, a whole-record import would delete those values from the
store. So the import refuses (InputError, exit 2) before its first batch, naming the two ways out: delete the
left-out file to import without it, or export again with `--include-left-out`."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from pim.errors import InputError

KIND = "left_out"
#: The key of a sidecar line that names (by its sha256) the export file the line belongs to.
SEAL = "export_sha256"


def sidecar_path(path: Path) -> Path:
    """`catalog.jsonl` → `catalog.left-out.jsonl` (beside it, so the two travel together)."""
    return path.with_name(f"{path.stem}.left-out{path.suffix or '.jsonl'}")


def sidecar_line(model: bool, key: str, values: dict[str, Any], provenance: dict[str, Any]) -> bytes:
    """One record's left-out values (and their provenance, as the record's JSON has them)."""
    return orjson.dumps({"kind": KIND, "record": "product_model" if model else "product", "key": key,
                         "values": values, "provenance": provenance}, option=orjson.OPT_SORT_KEYS) + b"\n"


class Hashing:
    """Writes through to `out` and hashes (sha256) what it writes: the export file's seal for its sidecar."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out, self.sha = out, hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        return self.out.write(data)


def seal(raw: Path, sealed: Path, export_sha256: str) -> None:
    """`raw`'s sidecar lines, each with the sha256 of the export they were written with, into `sealed` (known
    only once the export is complete, so the lines are written unsealed first; there are few)."""
    with raw.open("rb") as src, sealed.open("wb") as dst:
        for line in src:
            dst.write(orjson.dumps({**orjson.loads(line), SEAL: export_sha256}, option=orjson.OPT_SORT_KEYS) + b"\n")


def file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            sha.update(block)
    return sha.hexdigest()


@dataclass
class Held:
    """The sidecar's values by record: (is a model, key) → (values, provenance)."""

    records: dict[tuple[bool, str], tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.records)

    def __bool__(self) -> bool:
        return bool(self.records)


def read_sidecar(path: Path, export: Path, store: Any = None) -> Held:
    """The sidecar, whole (one line per record with values left out: few), read before the import writes
    anything so a broken one stops it with nothing changed. One not sealed to `export` (its sha256, and not older
    than it) stops it too: its values are another export's, and importing without them would delete them. An
    older sidecar sealed to `export` is taken when `store` holds every one of its values as it says them
    (`_as_stored`): a copy that wrote the left-out file first, into the catalog it came from (round 36)."""
    held, seals = Held(), set()
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
                  and type(data.get("provenance", {})) is dict and type(data.get(SEAL, "")) is str)
        except orjson.JSONDecodeError:
            ok = False
        if not ok:
            raise InputError(f"{path.name} line {number} is no left-out line of `pim export jsonl --include-left-out`; "
                             f"export again, or move {path.name} away to import without it",
                             file=str(path), line=number)
        held.records[(data["record"] == "product_model", data["key"])] = (data["values"], data.get("provenance", {}))
        seals.add(data.get(SEAL))
    why = _not_its_export(path, export, seals) if held.records else None
    older = why is not None and why.startswith(_OLDER)
    if why is not None and not (older and _as_stored(held, store)):
        copied = (f" If a copy wrote {path.name} before {export.name} and the two are one export's, give {path.name} "
                  f"a later time (`touch {path.name}`) and import again." if older else "")
        raise InputError(f"{path.name} {why}, so its {len(held)} record(s) of left-out values cannot be put back, "
                         f"and importing {export.name} without them would delete them from the store. Nothing was "
                         f"imported. Either delete {path.name} to import {export.name} without those values, or "
                         f"export again with `pim export jsonl {export.name} --include-left-out` and import that.{copied}",
                         file=str(path))
    return held


def _as_stored(held: Held, store: Any) -> bool:
    """Whether `store` holds every left-out value of the sidecar as the sidecar says it: then the sidecar is not
    stale, whatever its file time (a stale one, beside a later export of the same content, holds values cleared
    since; the export cannot tell, its content being the same). Into another catalog it cannot be told: False."""
    if store is None:
        return False
    for (model, key), (values, _) in held.records.items():
        record = store.get_model(key) if model else store.get_product(key)
        if record is None or any(k not in record.values or _canon(record.values[k]) != _canon(v) for k, v in values.items()):
            return False
    return True


def _canon(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str)


def _not_its_export(side: Path, export: Path, seals: set[str | None]) -> str | None:
    """Why the sidecar is not `export`'s own; None when it is. The seal tells another export's content; an
    export file newer than its sidecar (the export writes it first) is a later export of the same content, made
    without the option (`pim export jsonl > FILE`): its sidecar holds values that may have been cleared since."""
    if seals == {None}:
        return "was written by a pim that did not tie it to its export"
    if seals != {file_sha256(export)}:
        return (f"belongs to another export than the {export.name} there now (an older one, or one an interrupted "
                "export left)")
    if export.stat().st_mtime_ns > side.stat().st_mtime_ns:
        return (f"{_OLDER} {export.name}, which was written again since (as by `pim export jsonl > FILE`, which writes "
                "no left-out file, or by a copy that wrote the left-out file first), and the catalog does not hold "
                "its values as it says them")
    return None


_OLDER = "is older than"


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

