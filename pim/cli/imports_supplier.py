"""`pim import bmecat` (and supplier CSV/XLSX): supplier catalogs through a declarative map."""

from pathlib import Path

import typer

from pim.cli.imports import app, report
from pim.cli.output import JsonOption


@app.command("bmecat")
def bmecat(
    files: list[Path] = typer.Argument(..., help="BMEcat 2005 XML files (T_NEW_CATALOG, T_UPDATE_PRODUCTS, T_UPDATE_PRICES)."),
    map_path: Path = typer.Option(..., "--map", help="The supplier's BMEcat map (schemas/bmecat_map.schema.json)."),
    as_json: bool = JsonOption,
) -> None:
    """Import supplier BMEcat catalogs: details, ETIM/ECLASS features, tier prices, images, references."""
    from importers.bmecat import import_bmecat, load_map
    from pim.store import Store

    store = Store.from_settings()
    m = load_map(map_path)
    for path in files:
        counts = import_bmecat(path, store, m, map_dir=map_path.parent)
        report({**counts.as_dict(), "job_id": counts.job_id}, as_json, f"imported {path.name}")


@app.command("supplier")
def supplier(
    files: list[Path] = typer.Argument(..., help="Supplier CSV or XLSX files."),
    map_path: Path = typer.Option(..., "--map", help="The supplier's profile (schemas/supplier_table_map.schema.json)."),
    precedence: Path = typer.Option(None, "--precedence", help="Precedence file (overrides the profile's)."),
    as_json: bool = JsonOption,
) -> None:
    """Import supplier CSV/XLSX files: rows matched to SKUs by cross-reference, then GTIN; merged by precedence."""
    from importers.supplier_table import import_supplier_table, load_supplier_map
    from pim.store import Store

    store = Store.from_settings()
    m = load_supplier_map(map_path)
    for path in files:
        counts = import_supplier_table(path, store, m, map_dir=map_path.parent, precedence=precedence)
        report({**counts.as_dict(), "job_id": counts.job_id}, as_json, f"imported {path.name}")
