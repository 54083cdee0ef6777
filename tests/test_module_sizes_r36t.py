"""Round 36 (T1): pim/content_sheet.py and pim/contracts.py split into modules with one job each, and the test
doubles round 35 wrote again in several files kept in one helper module each. Every name the old modules
offered still imports from them (the very objects the split's modules define), the patch points tests use
still take effect, the contracts' table and schema registry paths still resolve, and each module of the split
stays under the size the style guide asks for."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 400  # lines (STYLE.md: modules under ~400 lines are a good sign)

#: Every top-level name pim/content_sheet.py defined before the split (private ones included: tests use some).
CONTENT_SHEET_NAMES = [
    "DEFAULT_FORMAT", "DEFAULT_TYPES", "DIGEST_BYTES", "EXCEL_DIGITS", "INHERITED", "INHERITED_FILL", "MODEL_COLUMN",
    "NOTE_COLUMN", "OWN", "SHEET_TYPES", "SKU_COLUMN", "SUFFIXES", "SheetFormat", "SheetRow", "SheetScope", "Shown",
    "VERSION_COLUMN", "VERSION_TAG", "XLSX_CELL_MAX", "_DIGITS", "_EXCEL_TYPES", "_EXPORTED_NUMBER", "_LINE_ENDS",
    "_MODEL_CACHE", "_Models", "_NUMERIC", "_PLAIN", "_POINT_ZERO", "_SCIENTIFIC", "_TEXTUAL", "_UTF",
    "_VALUES_PER_QUERY", "_canonical", "_check_cells", "_check_header", "_check_length", "_checked_keys",
    "_discard", "_illegal_xlsx", "_marked", "_read", "_some", "can_fail", "catalog_families", "cell_digest",
    "cell_text", "check_out", "csv_chunks", "default_keys", "encoded", "excel_mangled", "excel_meant",
    "excel_reason", "excel_rendering", "excel_suspect", "exported_as", "inherited_from", "inherited_note",
    "plain_number", "read_version", "scope", "sheet_cell", "sheet_rows", "shown_values", "unchanged", "untouched",
    "value_column", "version_cell", "write_sheet", "write_xlsx", "zero_padded",
]
#: Every top-level name pim/contracts.py defined before the split.
CONTRACTS_NAMES = [
    "Assortment", "AssortmentIndex", "AssortmentMatcher", "BmecatOptions", "CONTRACT", "CRON", "Contract",
    "ContractConflicts", "ContractFile", "ContractRow", "CsvDialect", "Delivery", "FINGERPRINT", "LOAD_HINT",
    "Placed", "Pricing", "ResolvedPrice", "Rule", "SPECIAL_FIELDS", "STOCK_TIME", "STORED", "SftpTarget",
    "_CRON_FIELD", "_STRING_TYPES", "_Strict", "_VERBATIM", "_accepts", "_declared_renditions",
    "below_tiers_fallback", "contract_customers", "delete_contract", "discounted", "fallback_price", "fit_problems",
    "get_contract", "get_contracts", "list_price", "load_contracts", "put_contracts", "read_contract_file",
    "rendition_problem", "resolve_prices", "undercuts_tiers", "with_assortment_values",
]
SHEET_PARTS = ["pim.content_sheet_format", "pim.content_sheet_columns", "pim.content_sheet_cells",
               "pim.content_sheet_excel", "pim.content_sheet_files"]
CONTRACT_PARTS = ["pim.contracts_model", "pim.contracts_store", "pim.contracts_files", "pim.contracts_assortment",
                  "pim.contracts_pricing"]
SPLIT = ["pim/content_sheet.py", "pim/contracts.py",
         *(f"{m.replace('.', '/')}.py" for m in SHEET_PARTS + CONTRACT_PARTS)]


@pytest.mark.parametrize(("module", "names", "parts"), [("pim.content_sheet", CONTENT_SHEET_NAMES, SHEET_PARTS),
                                                        ("pim.contracts", CONTRACTS_NAMES, CONTRACT_PARTS)],
                         ids=["content_sheet", "contracts"])
def test_every_old_name_still_imports_from_its_old_module_as_the_split_defines_it(
        module: str, names: list[str], parts: list[str]) -> None:
    """An old name that the façade held as a copy of its own would split the patch points (a monkeypatch on one
    would not reach the other): each is the very object one of the split's modules holds, or the façade's own."""
    old = importlib.import_module(module)
    assert [name for name in names if not hasattr(old, name)] == []
    loaded = [importlib.import_module(p) for p in parts]
    for name in names:
        homes = [m for m in loaded if name in vars(m)]
        assert not homes or all(getattr(old, name) is getattr(m, name) for m in homes), name


@pytest.mark.parametrize("path", SPLIT)
def test_each_module_of_the_split_stays_under_the_limit(path: str) -> None:
    lines = len((ROOT / path).read_text(encoding="utf-8").splitlines())
    assert lines < LIMIT, f"{path} has {lines} lines: split it further"


def test_the_patch_points_tests_use_stay_on_pim_content_sheet() -> None:
    """tests/test_content_sheet.py patches content_sheet._MODEL_CACHE (read by the model cache, which stays in
    pim.content_sheet); tests/test_content_sheet_excel.py patches content_sheet.excel_meant, which the importer
    looks up there (importers.content_edits: content_sheet.excel_meant)."""
    import pim.content_sheet as sheet

    assert "_MODEL_CACHE" in sheet._Models.load.__code__.co_names and sheet._Models.__module__ == "pim.content_sheet"
    edits = (ROOT / "importers" / "content_edits.py").read_text(encoding="utf-8")
    assert "content_sheet.excel_meant(" in edits and "import excel_meant" not in edits


def test_the_contracts_table_schema_and_registry_paths_still_resolve() -> None:
    from sqlmodel import SQLModel

    from pim.contracts import CONTRACT, ContractFile, contract_customers
    from pim.registry import load

    assert SQLModel.metadata.tables["feed_contract"] is CONTRACT
    assert load("pim.contracts:ContractFile") is ContractFile
    assert load("pim.contracts:contract_customers") is contract_customers


#: Test file → the doubles round 35 wrote in it again, now in tests/disk_faults.py, tests/s3_double.py and
#: tests/read_only_db.py.
MOVED = {
    "tests/test_explore_mends_r35h.py": {"_FullDisk", "_main", "probe"},
    "tests/test_failures_r35.py": {"_FullDisk", "_main"},
    "tests/test_review_mends_r35a.py": {"NoListBucket", "_publish"},
    "tests/test_review_mends_r35d.py": {"_Bucket", "_publish"},
    "tests/test_ops_r35.py": {"probe"},
    "tests/test_ops_mends_r34.py": {"Disposals", "probe"},
}


@pytest.mark.parametrize("path", sorted(MOVED))
def test_the_round_35_test_doubles_are_defined_once(path: str) -> None:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    assert defined & MOVED[path] == set()
