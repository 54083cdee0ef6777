"""`pim import bmecat` (and supplier CSV/XLSX): supplier catalogs through a declarative map."""

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from pim.cli.imports import NoWaitOption, StrictOption, app, exclusive, import_each
from pim.cli.output import JsonOption, console, emit_json, table

if TYPE_CHECKING:
    from pim.store import Store


@app.command("bmecat")
def bmecat(
    files: list[Path] = typer.Argument(..., help="BMEcat 2005 XML files (T_NEW_CATALOG, T_UPDATE_PRODUCTS, T_UPDATE_PRICES)."),
    map_path: Path = typer.Option(..., "--map", help="The supplier's BMEcat map (schemas/bmecat_map.schema.json)."),
    as_json: bool = JsonOption,
    strict: bool = StrictOption,
    no_wait: bool = NoWaitOption,
) -> None:
    """Import supplier BMEcat catalogs: details, ETIM/ECLASS features, tier prices, images, references. Each file
    waits while another import of the supplier runs (e.g. an upload for a worker)."""
    from importers.bmecat import import_bmecat, load_map
    from pim.store import Store

    store = Store.from_settings()
    m = load_map(map_path)
    import_each(files, lambda path: exclusive(
        store, "bmecat", path, lambda: import_bmecat(path, store, m, map_dir=map_path.parent),
        args=["bmecat", str(path), "--map", str(map_path)], options={"map_path": map_path}, no_wait=no_wait),
        as_json, strict)


@app.command("supplier")
def supplier(
    files: list[Path] = typer.Argument(..., help="Supplier CSV or XLSX files."),
    map_path: Path = typer.Option(..., "--map", help="The supplier's profile (schemas/supplier_table_map.schema.json)."),
    precedence: Path = typer.Option(None, "--precedence", help="Precedence file (overrides the profile's)."),
    as_json: bool = JsonOption,
    strict: bool = StrictOption,
    no_wait: bool = NoWaitOption,
) -> None:
    """Import supplier CSV/XLSX files: rows matched to SKUs by cross-reference, then GTIN; merged by precedence.
    Each file waits while another import of the supplier runs (e.g. an upload for a worker)."""
    from importers.supplier_table import import_supplier_table, load_supplier_map
    from pim.store import Store

    store = Store.from_settings()
    m = load_supplier_map(map_path)
    import_each(files, lambda path: exclusive(
        store, "supplier", path, lambda: import_supplier_table(path, store, m, map_dir=map_path.parent,
                                                               precedence=precedence),
        args=["supplier", str(path), "--map", str(map_path), *(["--precedence", str(precedence)] if precedence else [])],
        options={"map_path": map_path}, no_wait=no_wait), as_json, strict)


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
    moved = [_move(store, source, *m) for m in put_cross_references(store, source, [(pid, sku)])]
    if as_json:
        emit_json({"source": source, "pid": pid, "sku": sku, "moved": moved})
        return
    was = f" (it was {moved[0]['from']})" if moved else ""
    console.print(f"{source} product '{pid}' is our {sku}{was}; the next import of the source merges it there",
                  markup=False)
    for m in (m for m in moved if m["still_claimed"]):
        keys = f"{', '.join(m['keys'][:5])}{', …' if len(m['keys']) > 5 else ''}"
        old, also = m["from"], ", ".join(f"'{p}'" for p in m["also_mapped"])
        console.print(
            f"{old} still holds what {source} gave it through the old match ({keys}). It is not withdrawn here, as "
            f"{old} may carry it on purpose; to remove it: {m['withdraw']}" if not also else
            f"{old} holds values of {source} ({keys}) and is still its product {also}, so which of them came "
            f"through the old match cannot be told. Nothing is withdrawn here; to start {old} afresh: {m['withdraw']}, "
            f"then import {source} again (the values of {also} come back)", markup=False)


def _move(store: "Store", source: str, pid: str, old: str, new: str) -> dict[str, Any]:
    """A PID re-pointed from SKU `old` to `new`: whether `old` still holds claims of the source (which the
    cross-reference no longer explains, unless another PID of the source maps there too: `also_mapped`), and
    the command that withdraws them."""
    from sqlalchemy import select

    from pim.sources import XREF
    from pim.withdraw import product_claims

    keys, kinds = product_claims(store, source, [old])[old]
    with store.engine.connect() as conn:
        also = conn.execute(select(XREF.c.source_pid).where(XREF.c.source == source, XREF.c.sku == old)
                            .order_by(XREF.c.source_pid).limit(5)).scalars().all()
    held = bool(keys or kinds)
    return {"pid": pid, "from": old, "to": new, "still_claimed": held,
            "keys": sorted(keys) + [f"associations.{k}" for k in sorted(kinds)], "also_mapped": list(also),
            "withdraw": f"pim import withdraw {shlex.quote(source)} {shlex.quote(old)}" if held else None}
