"""`pim import bmecat` (and supplier CSV/XLSX): supplier catalogs through a declarative map."""

from pathlib import Path

import typer

from pim.cli.imports import app, import_each
from pim.cli.output import JsonOption, console, emit_json, table


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
    import_each(files, lambda path: import_bmecat(path, store, m, map_dir=map_path.parent), as_json)


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
    import_each(files, lambda path: import_supplier_table(path, store, m, map_dir=map_path.parent,
                                                          precedence=precedence), as_json)


@app.command("xref")
def xref(
    source: str = typer.Argument(..., help="The supplier source, e.g. supplier:acme."),
    pid: str | None = typer.Argument(None, help="The supplier's product id."),
    sku: str | None = typer.Argument(None, help="Our SKU the product id stands for."),
    as_json: bool = JsonOption,
) -> None:
    """The supplier cross-reference: with PID and SKU, map that supplier product id to our SKU (replacing an
    earlier match, e.g. a wrong GTIN match); with the source alone, list its mappings."""
    from pim.sources import MAX_PID, cross_references, put_cross_references
    from pim.store import Store

    store = Store.from_settings()
    if pid is None:
        rows = cross_references(store, source)
        if as_json:
            emit_json(rows)
        else:
            table(f"cross-reference of {source}", ["supplier pid", "sku", "matched by", "updated"],
                  [(r["source_pid"], r["sku"], r["matched_by"], r["updated_at"]) for r in rows])
        return
    if sku is None or not pid.strip() or not sku.strip() or len(pid) > MAX_PID:
        console.print(f"give SOURCE PID SKU (a product id of 1–{MAX_PID} characters and our SKU), or SOURCE alone "
                      "to list the mappings", markup=False)
        raise typer.Exit(2)
    if store.get_product(sku) is None:
        console.print(f"no product '{sku}': map the supplier product id to a SKU the catalog has", markup=False)
        raise typer.Exit(2)
    put_cross_references(store, source, [(pid, sku)])
    emit_json({"source": source, "pid": pid, "sku": sku}) if as_json else console.print(
        f"{source} product '{pid}' is our {sku}; the next import of the source merges it there", markup=False)
