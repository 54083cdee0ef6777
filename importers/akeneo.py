"""Import an Akeneo CSV or XLSX export folder: structure first (locales … association types), then product models
(roots before sub-models) and products through the shared import loop, so validation and quarantine are
the same as for every other source. With `merge=True` the export is one more source merged by precedence
(`_merger`, `wider_families`) instead of a whole-record catalog. See docs/akeneo.md."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import Any

from pydantic import ValidationError

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
from pim.importing import ImportCounts, Parsed, Rejected, file_warning, run_import
from pim.merge import Merger
from pim.store import Store
from pim.structure import Family

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


def import_akeneo(folder: Path, store: Store, *, on_batch: Any = None, merge: bool = False, source: str = SOURCE,
                  precedence: Path | None = None) -> dict[str, Any]:
    """Import the export in `folder` into `store`; return the job's counts (read, created, updated,
    unchanged, rejected, problems, job_id, structure item counts and `structure_changed`).
    Re-importing the same folder changes nothing. Without `merge` each product and model is replaced by its
    row; with it each row is `source`'s partial record, merged by `precedence` as the ERP's and suppliers' are
    (pim.sources.merger_for: else PIM_HOME/precedence.yaml, else the default), and families are never narrowed
    (`wider_families`)."""
    folder = Path(folder)
    if not merge and (source != SOURCE or precedence is not None):
        raise InputError("--source and --precedence are for merge mode", field="--source" if source != SOURCE
                         else "--precedence", hint="add --merge, or leave them out to replace each product whole")
    merger = _merger(source, precedence) if merge else None
    _check_folder(folder)
    stamp = datetime.now(UTC)
    read = read_structure(folder)
    stored = {kind: store.get_structure(kind) for kind in _KIND_COUNTS}
    dangling_options(read, {a.code for a in chain(read.items["attribute"], stored["attribute"])})  # type: ignore[attr-defined]
    _check_headers(folder, read, stored)
    _check_stored_values(store, folder, read)
    widened = wider_families(read, stored["family"]) if merge else {}  # type: ignore[arg-type]
    changed = _put_structure(store, read, stored)
    reader = RowReader(folder, store.structure(), store, stamp, source=source, merged=merge)
    items: Iterator[Parsed | Rejected] = chain(read.rejects, reader.model_items(), reader.product_items())
    if not merge:  # a whole record would clear a bad GTIN it leaves out; a partial one just makes no claim there
        items = keep_stored_gtins(items, store)
    from pim.sources import job_label

    counts = run_import(store, source, items, structure=reader.structure, label=job_label("akeneo", folder), on_batch=on_batch,
                        merge=merger, before_finish=lambda c: _note_widened(store, c, source, folder, widened))
    store.resolve_quarantine(source, accepted_keys(read))
    result: dict[str, Any] = {**counts.as_dict(), "job_id": counts.job_id}
    result.update({name: len(read.items[kind]) for kind, name in _KIND_COUNTS.items()})
    result.update(structure_changed=changed, **reader.counts)
    return result


def _merger(source: str, precedence: Path | None) -> Merger:
    """The merge of `source`'s records, by the precedence the other imports take theirs from."""
    from pim.sources import SourceProfile, merger_for

    try:
        profile = SourceProfile(source=source)
    except ValidationError as exc:
        raise InputError(f"'{source}' is no source name", field="--source",
                         hint="lower-case letters, digits and _, optionally :name (akeneo, akeneo:eu); the name "
                              "precedence files rank") from exc
    return merger_for(profile, None, precedence)


def wider_families(read: StructureRead, stored: list[Family]) -> dict[str, list[str]]:
    """Merge mode: each family of the export keeps the attributes its stored version has beyond the export's
    (with their channel requirements), so values other sources hold there stay inside the family and their next
    imports are not refused. Changes `read` in place; returns family code → the attributes kept."""
    before = {f.code: f for f in stored}
    kept: dict[str, list[str]] = {}
    families = []
    for family in read.items["family"]:
        old = before.get(family.code)  # type: ignore[attr-defined]
        extra = [a for a in old.attributes if a not in family.attributes] if old else []  # type: ignore[attr-defined]
        if extra:
            required = dict(family.requirements)  # type: ignore[attr-defined]
            for channel, codes in old.requirements.items():  # type: ignore[union-attr]
                if still := [c for c in codes if c in extra]:
                    required[channel] = [*required.get(channel, []), *still]
            family = family.model_copy(update={"attributes": [*family.attributes, *extra],  # type: ignore[attr-defined]
                                               "requirements": required})
            kept[family.code] = extra  # type: ignore[attr-defined]
        families.append(family)
    read.items["family"] = families
    return kept


def _note_widened(store: Store, counts: ImportCounts, source: str, folder: Path, kept: dict[str, list[str]]) -> None:
    """One `warning` naming the families merge mode kept wider than the export (the next run replaces or closes
    it); counted as `families_kept_wider`."""
    reason = None
    if kept:
        counts.extra["families_kept_wider"] = len(kept)
        said = "; ".join(f"{code}: {', '.join(attrs)}" for code, attrs in sorted(kept.items()))
        reason = (f"the export's families leave out attributes they have here, kept in merge mode ({said}), so "
                  "the values other sources hold there stay inside the family. An attribute of this catalog's own "
                  "needs nothing; one Akeneo took out of the family on purpose: remove it here too (the family's "
                  "page, or `pim structure load`)")
    file_warning(store, counts.job_id, source, f"akeneo-families-kept:{folder.name}", reason,
                 file=flat_file(folder, "families.csv").name, field="attributes")


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
