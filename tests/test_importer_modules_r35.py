"""Round 35: importers/bmecat_reader.py, supplier_table.py and workbook.py split by job. The split keeps every
name importable from its old module (callers, the registry and tests import them there, and tests lower the
workbook guard's limits and count the BMEcat reader's parses by patching these modules), and keeps each module
of the split small enough to read."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

IMPORTERS = Path(__file__).resolve().parent.parent / "importers"
#: Lines a module of the split may have (docs: modules under ~400 lines are a good sign).
LIMIT = 450

#: Every public name each module had before the split, and the private ones tests patch there.
OLD_NAMES = {
    "importers.bmecat_reader": [
        "BMECAT_12", "DIMENSIONS", "GTIN_TYPES", "TRANSACTIONS", "BmecatHeader", "BmecatProduct", "CatalogGroup",
        "Feature", "FileIdentity", "GroupAssignment", "GtinId", "Mime", "Price", "ProductModes", "deletes_products",
        "parse_assignment", "parse_group", "parse_product", "product_modes", "read_bmecat",
        "safe_iterparse", "check_well_formed",  # patched by tests/test_bmecat_round32.py, test_bmecat_delete_pass.py
    ],
    "importers.supplier_table": [
        "GtinNote", "Headings", "Precedence", "Row", "SupplierTableImporter", "SupplierTableMap", "SupplierTiers",
        "TierColumn", "csv_rows", "file_kind", "import_supplier_table", "load_supplier_map", "source_items",
        "xlsx_rows",
    ],
    "importers.workbook": [
        "Cell", "NumberText", "Row", "SheetLayout", "guard_workbook", "head_kind", "header_places",
        "other_sheets_refused", "sheet_headers", "sheet_layout", "text_rows", "workbook_kind",
        "_BOMB_BYTES", "_MAX_SHARED_STRINGS", "_MAX_STRINGS",  # patched by test_supplier_table, test_hostile_files_r31
    ],
}

#: The split modules: the three old ones and the ones they were split into.
SPLIT = ["bmecat_reader", "bmecat_parse", "bmecat_records", "bmecat_elements", "supplier_table", "supplier_rows",
         "workbook", "workbook_rows", "workbook_layout", "workbook_parts"]


@pytest.mark.parametrize("module", sorted(OLD_NAMES))
def test_every_old_name_is_still_importable_from_its_old_module(module: str) -> None:
    loaded = importlib.import_module(module)
    missing = [name for name in OLD_NAMES[module] if not hasattr(loaded, name)]
    assert missing == []
    assert [name for name in getattr(loaded, "__all__", ()) if not hasattr(loaded, name)] == []


@pytest.mark.parametrize("name", SPLIT)
def test_each_module_of_the_split_is_under_the_line_limit(name: str) -> None:
    lines = len((IMPORTERS / f"{name}.py").read_text(encoding="utf-8").splitlines())
    assert lines <= LIMIT, f"importers/{name}.py has {lines} lines; split it by job"

