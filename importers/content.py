"""Content-team bulk enrichment: JSON (an array, or one object per line), CSV and XLSX with localized names
and descriptions, bullet points, SEO fields, image paths and associations. Merged as source `content`, which
wins by default (pim.merge.Precedence). A field that is absent changes nothing; null or an empty cell
clears the content team's value (see docs/importers.md). Unknown SKUs are quarantined unless the profile
says `unmatched: create`.

A spreadsheet (CSV, XLSX) is often a sheet `pim export sheet` wrote, edited and brought back: a cell its
`_sheet` column says is untouched since the export, or that still says what the product shows, is no claim
(pim.content_sheet.untouched, unchanged), so only the edited cells take over, values other sources hold
stay theirs, and values they changed after the export are not overwritten with the sheet's older text: an
edited cell whose value changed since the export is not written either, but noted as a problem of its row.
An edit of a cell a variant showed from its model goes to the model when every variant row of the model in
the file gives the same text (as the product page edits an inherited value), else one problem of the model
names the rows (SheetEdits).
A number Excel retyped (4.00638E+12, leading zeros gone, a trailing .0) counts as the text it stands for when
that is the exported (or shown) text; otherwise its row is quarantined with what Excel did and how to avoid
it, so Excel's rendering is never stored (pim.content_sheet.excel_meant, excel_mangled). So with Excel's
dates (01.03.2024, 3/1/2024, 2024-03-01 00:00:00: pim.excel_dates), and with a SKU Excel retyped (00123 as
123, an EAN as 4.00638E+12: pim.excel_skus): its row goes to the product the `_sheet` version proves, or is
rejected when Excel's doing is plain and nothing proves the product (never a product named 4.00638E+12).

This module runs the import; the work lives beside it: the profile (content_profile), a record → a product
(content_mapper), reading JSON (content_json) and CSV/XLSX (content_spreadsheet), and the sheet's edits
(content_edits). Their names stay importable from here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from importers.content_checks import ASSOC_PREFIX, CSV_SUFFIXES, SPREADSHEET_SUFFIXES, attribute_of, check_kind
from importers.content_edits import (  # noqa: F401  # keep_edits' helpers: their old import path
    _any_excel_suspect,
    _Checked,
    _excel,
    _excel_date,
    _fix_skus,
    _no_claim,
    keep_edits,
)
from importers.content_json import JSON_UTF8, _breaks, _documents, _no_constant, _whole, read_json  # noqa: F401
from importers.content_mapper import (  # noqa: F401  # their old import path
    _LINE_BREAK,
    ContentMapper,
    FieldRefused,
    NoChannelTakes,
    _one,
    _record_key,
    _skus,
    _split,
)
from importers.content_model_values import model_values_noted
from importers.content_profile import ContentProfile
from importers.content_spreadsheet import (  # noqa: F401  # their old import path
    _XLSX_HINT,
    _cells_by_name,
    _csv_record,
    _named,
    _no_header,
    _xlsx_text,
    read_csv,
    read_xlsx,
)
from importers.gtin_check import gtin_keys, gtin_reason, problem_notes, take_bad
from pim.catalog import Structure
from pim.importing import ImportCounts, Parsed, Rejected, record_identity, run_import
from pim.product import Product, ProductModel
from pim.sources import job_label, merger_for
from pim.store import Store
from pim.store.store import batched
from pim.structure import Attribute, AttributeType
from pim.values import ValueProblem, metric_text, prices_text


def import_content(path: Path, store: Store, profile: ContentProfile | None = None, *,
                   profile_dir: Path | None = None, precedence: Path | None = None) -> ImportCounts:
    p = profile or ContentProfile()
    structure = store.structure()
    suffix = path.suffix.lower()
    reader = read_xlsx if suffix in SPREADSHEET_SUFFIXES else read_csv if suffix in CSV_SUFFIXES else read_json
    mapper = ContentMapper(p, structure, sheet=reader is not read_json)
    check_kind(path, reader is read_xlsx, {p.sku_field, p.model_field})
    items = reader(path, mapper, p.source)
    if reader is not read_json:
        items = keep_edits(items, store, structure, claim_unchanged=p.claim_unchanged, sku_field=p.sku_field)
        items = typed_cells(items, structure)
    items = model_values_noted(items, store, structure, p.model_field)
    items = self_links_left_out(gtins_checked(items, p.source), p.source)
    return run_import(store, p.source, models_named(items, store, p.model_field),
                      structure=structure, label=job_label("content", path), merge=merger_for(p, profile_dir, precedence))


def typed_cells(items: Iterator[Parsed | Rejected], structure: Structure) -> Iterator[Parsed | Rejected]:
    """A sheet's price and metric cells read as the grid's mass edit reads them: `EUR 19.99, USD 21` (either order,
    decimal point or comma) and `12.5 KILOGRAM`, `12,5 kg` (or `12.5` in the default unit): a cell holds text,
    the value is {currency: amount} or {amount, unit}. Run after keep_edits, which compares cells as text. A cell
    in neither form rejects its row with the form to use, as a value of the wrong shape did before."""
    typed: dict[str, Attribute | None] = {}  # value key → its attribute when a cell of it is read so (the header's keys)
    for item in items:
        if isinstance(item, Parsed) and isinstance(item.record, (Product, ProductModel)) and item.record.values:
            values, wrong = item.record.values, None
            for key, cell in values.items():
                if not isinstance(cell, str):
                    continue
                if key not in typed:
                    attr = attribute_of(structure, key)
                    typed[key] = attr if attr is not None and attr.type in _TEXT_TYPED else None
                if (attr := typed[key]) is not None:
                    try:
                        values[key] = (prices_text(cell) if attr.type == AttributeType.price_collection
                                       else metric_text(attr, cell, structure.measures))
                    except ValueProblem as exc:
                        wrong = (key, str(exc))
                        break
            if wrong is not None:
                item = Rejected(f"{wrong[0]}: {wrong[1]}", item.file, item.line, wrong[0], item.raw,
                                record_identity(item.record))
        yield item


#: Attribute types whose sheet cell is one text the mass edit's parsers read (pim.values.prices_text, metric_text).
_TEXT_TYPED = frozenset({AttributeType.price_collection, AttributeType.metric})


def models_named(items: Iterator[Parsed | Rejected], store: Store, model_field: str, batch: int = 500
                 ) -> Iterator[Parsed | Rejected]:
    """Reject a product record whose SKU is a product model's code and no product's: it would be quarantined as
    an unknown product (or created as a product beside the model), when the team meant the model. One query
    per `batch` records."""
    for chunk in batched(items, batch):
        ids = [i.record.identifier for i in chunk if isinstance(i, Parsed) and isinstance(i.record, Product)]
        models = store.existing_model_codes(ids) if ids else set()
        if models and (models := models - store.existing_identifiers(sorted(models))):
            for n, item in enumerate(chunk):
                if isinstance(item, Parsed) and isinstance(item.record, Product) and item.record.identifier in models:
                    code = item.record.identifier
                    chunk[n] = Rejected(f"'{code}' is a product model, not a product: name it in the '{model_field}' "
                                        f"field (column) instead, so its variants show what it holds", item.file,
                                        item.line, model_field, item.raw, code)
        yield from chunk


#: What became of a bad GTIN in a content file, and what to do (the value is the team's own).
CONTENT_GTIN_HINT = "left out (a stored GTIN stays); correct it in the file and import it again"


def gtins_checked(items: Iterator[Parsed | Rejected], source: str) -> Iterator[Parsed | Rejected]:
    """Product records' GTINs checked as the ERP's and suppliers' are (importers.gtin_check), after the
    spreadsheet's Excel repairs: a bad one (a typo in the sheet, a number Excel cut) is left out of the record
    and noted as a problem of it, the rest of the record taken in."""
    for item in items:
        if isinstance(item, Parsed) and isinstance(item.record, Product) and item.record.values:
            keys = gtin_keys((key, key) for key in item.record.values)
            if keys and (bad := take_bad(item.record.values, keys)):
                for key, _ in bad:
                    item.record.provenance.pop(key, None)
                item.problems = [*item.problems, *problem_notes(
                    [(key, gtin_reason(problem, CONTENT_GTIN_HINT)) for key, problem in bad], item.file, item.line,
                    item.raw, item.record.identifier, source)]
        yield item


def self_links_left_out(items: Iterator[Parsed | Rejected], source: str) -> Iterator[Parsed | Rejected]:
    """A product named among its own association targets is left out of them and noted as a problem of its
    record, the rest of the record taken in: a product is no association of its own (the storefront would link
    its page to itself). A type left with no target is left out whole, so what is stored for it stays."""
    for item in items:
        if isinstance(item, Parsed) and isinstance(item.record, Product) and item.record.associations:
            record, found = item.record, []
            for kind, links in list(record.associations.items()):
                if record.identifier in links.products:
                    found.append((f"{ASSOC_PREFIX}{kind}", f"{kind} links {record.identifier} to itself: left out (a "
                                  f"product is no association of its own); take {record.identifier} out of its {kind} "
                                  "list and import the file again"))
                    rest = [t for t in links.products if t != record.identifier]
                    if rest:
                        record.associations[kind] = links.model_copy(update={"products": rest})
                    else:
                        del record.associations[kind]
            if found:
                item.problems = [*item.problems, *problem_notes(found, item.file, item.line, item.raw,
                                                                record.identifier, source)]
        yield item


class ContentImporter:
    name = "content"

    def run(self, path: Path, store: Store, **options: Any) -> dict[str, Any]:
        from pim.sources import load_profile

        prof = Path(options["profile"]) if options.get("profile") else None
        profile = load_profile(ContentProfile, prof) if prof else None
        return import_content(path, store, profile, profile_dir=prof.parent if prof else None).as_dict()
