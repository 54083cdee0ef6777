"""`pim doctor`: what the catalog stored before a newer rule and should now be renamed (pim.catalog_doctor)."""

from __future__ import annotations

import typer

from pim.cli.output import JsonOption, console, emit_json


def register(app: typer.Typer) -> None:
    app.command()(doctor)


def doctor(as_json: bool = JsonOption) -> None:
    """List stored product identifiers and model codes with '/' and attributes with a reserved code, each with
    what to do. Exit 1 when there is any (so a deploy script can warn), 0 when the catalog is clean; notes (image
    values counted unchecked until the media area is in use) are listed but do not fail it."""
    from pim.catalog_doctor import diagnose
    from pim.store import Store

    findings = diagnose(Store.from_settings())
    if as_json:
        emit_json([f.as_dict() for f in findings])
    else:
        for f in findings:
            more = f" (and {f.count - len(f.shown)} more)" if f.count > len(f.shown) else ""
            console.print(f"{f.count} {f.kind}: {', '.join(f.shown)}{more}\n  → {f.advice}", highlight=False,
                          markup=False)
        if not any(not f.note for f in findings):
            console.print("nothing to rename")
    if any(not f.note for f in findings):  # notes alone (images not checked yet) leave the catalog clean
        raise typer.Exit(1)
