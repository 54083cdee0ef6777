"""Import an Akeneo CSV or XLSX export folder: structure first (locales … association types), then product models
(roots before sub-models) and products through the shared import loop, so validation and quarantine are
the same as for every other source. See docs/akeneo.md."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import Any

from importers.akeneo_products import SOURCE, RowReader
from importers.akeneo_structure import (
    STRUCTURE_FILES,
    StructureRead,
    accepted_keys,
    changed_items,
    check_readable_csv,
    dangling_options,
    flat_file,
    read_header,
    read_structure,
)
from pim.errors import InputError
from pim.structure_files import SECTION_KIND, StructureErrors, StructureFile
from pim.catalog_gtins import keep_stored_gtins
from pim.importing import Parsed, Rejected, run_import
from pim.store import Store

#: Structure kinds in load order, with the count names they report under.
_KIND_COUNTS = {
    "locale": "locales", "currency": "currencies", "attribute_group": "attribute_groups",
    "attribute": "attributes", "attribute_option": "attribute_options", "category": "categories",
    "channel": "channels", "family": "families", "family_variant": "family_variants",
    "association_type": "association_types",
}
_DATA_FILES = ["locales.csv", "currencies.csv", *(f for f, _, _ in STRUCTURE_FILES), "product_models.csv", "products.csv"]


class AkeneoImporter:
    """Registry entry `akeneo`: `path` is the export folder."""

    name = "akeneo"

    def run(self, path: Path, store: Store, **options: Any) -> dict[str, Any]:
        return import_akeneo(Path(path), store, **options)


def import_akeneo(folder: Path, store: Store, *, on_batch: Any = None) -> dict[str, Any]:
    """Import the export in `folder` into `store`; return the job's counts (read, created, updated,
    unchanged, rejected, problems, job_id, structure item counts and `structure_changed`).
    Re-importing the same folder changes nothing."""
    folder = Path(folder)
    _check_folder(folder)
    stamp = datetime.now(UTC)
    read = read_structure(folder)
    stored = {kind: store.get_structure(kind) for kind in _KIND_COUNTS}
    dangling_options(read, {a.code for a in chain(read.items["attribute"], stored["attribute"])})  # type: ignore[attr-defined]
    _check_headers(folder, read, stored)
    _check_stored_values(store, folder, read)
    changed = _put_structure(store, read, stored)
    reader = RowReader(folder, store.structure(), store, stamp)
    items: Iterator[Parsed | Rejected] = chain(read.rejects, reader.model_items(), reader.product_items())
    items = keep_stored_gtins(items, store)  # a bad GTIN left out does not clear the stored one
    counts = run_import(store, SOURCE, items, structure=reader.structure, label=str(folder), on_batch=on_batch)
    store.resolve_quarantine(SOURCE, accepted_keys(read))
    result: dict[str, Any] = {**counts.as_dict(), "job_id": counts.job_id}
    result.update({name: len(read.items[kind]) for kind, name in _KIND_COUNTS.items()})
    result.update(structure_changed=changed, **reader.counts)
    return result


def _check_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise InputError("not a folder", file=str(folder),
                         hint="give the folder that holds the export's attributes.csv, products.csv …")
    if not flat_file(folder, "products.csv").is_file():
        raise InputError("products.csv is missing (products.xlsx for an XLSX export): this is not an Akeneo export folder",
                         file=str(folder / "products.csv"),
                         hint="export products (and product models) from Akeneo as CSV or XLSX into this folder")
    for name in _DATA_FILES:  # every CSV file is UTF-8 and quoted soundly, or nothing is written (XLSX is always Unicode)
        path = flat_file(folder, name)
        if path.is_file() and path.suffix == ".csv":
            check_readable_csv(path)


def _check_headers(folder: Path, read: StructureRead, stored: dict[str, list[Any]]) -> None:
    """Header mistakes stop the import before anything is written: a repeated column, no identifier column."""
    identifiers = [a.code for a in chain(read.items["attribute"], stored["attribute"]) if a.type == "identifier"]  # type: ignore[attr-defined]
    for name, required in (("product_models.csv", "code"), ("products.csv", identifiers[0] if identifiers else "sku")):
        path = flat_file(folder, name)
        header = read_header(path)
        if not header:
            continue
        repeated = sorted({c for c in header if header.count(c) > 1})
        if repeated:
            raise InputError(f"column '{repeated[0]}' appears twice in the header", file=path.name, line=1,
                             field=repeated[0])
        if required not in header:
            raise InputError(f"{path.name} has no '{required}' column", file=path.name, line=1, field=required,
                             hint="the first column of an Akeneo export is the product identifier or model code")


def _check_stored_values(store: Store, folder: Path, read: StructureRead) -> None:
    """An attribute or family variant whose change stored values cannot follow stops the import before anything
    is written, as `pim structure load` does (pim.structure_value_checks): values are never rewritten by a
    structure change, so the product import would leave them keyed or shaped wrong."""
    from pim.structure_value_checks import stored_value_problems

    section_of = {kind: section for section, kind in SECTION_KIND.items()}
    files = {kind: name for name, kind, _ in STRUCTURE_FILES} | {"locale": "locales.csv", "currency": "currencies.csv"}
    located = [(flat_file(folder, files[kind]), StructureFile.model_construct(**{section_of[kind]: read.items[kind]}),
                {section_of[kind]: read.lines.get(kind, [])}) for kind in _KIND_COUNTS if read.items[kind]]
    problems = stored_value_problems(store, store.structure(), located)
    if problems:
        raise StructureErrors(problems, hint="nothing was imported; move the values as said (or change the export "
                                             "back) and run `pim import akeneo` again")


def _put_structure(store: Store, read: StructureRead, stored: dict[str, list[Any]]) -> int:
    """Write only what changed, every kind in load order in one transaction (a failure leaves the old
    structure); return how many items changed."""
    fresh = [(kind, items) for kind in _KIND_COUNTS if (items := changed_items(kind, stored[kind], read.items[kind]))]
    return sum(store.put_structures(fresh).values()) if fresh else 0
