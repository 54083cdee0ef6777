"""`pim structure`: load the catalog structure from YAML files, and show it."""

from pathlib import Path

import typer

from pim.cli.output import JsonOption, console, emit_json, table

app = typer.Typer(no_args_is_help=True)


@app.command()
def load(path: Path = typer.Argument(..., help="A structure .yaml file or a folder of them."),
         dry_run: bool = typer.Option(False, "--dry-run", help="Check only; write nothing."),
         as_json: bool = JsonOption) -> None:
    """Validate the files (file, line, field for each problem) and store the structure."""
    from pim.store import Store
    from pim.structure_files import load_structure_files, save_structure

    store = Store.from_settings()
    merged = load_structure_files(path, store.structure())
    counts = {} if dry_run else save_structure(store, merged)
    if as_json:
        emit_json({"loaded": counts, "dry_run": dry_run})
    else:
        table("structure loaded" if not dry_run else "structure is valid", ["section", "items"],
              sorted(counts.items()) if counts else [("(dry run)", "")])


@app.command()
def show(as_json: bool = JsonOption) -> None:
    """Counts of each kind of structure item."""
    from pim.store import Store

    s = Store.from_settings().structure()
    counts = {"attributes": len(s.attributes), "options": sum(len(o) for o in s.options.values()),
              "families": len(s.families), "family_variants": len(s.family_variants), "channels": len(s.channels),
              "categories": len(s.categories), "association_types": len(s.association_types),
              "measurement_families": len(s.measurement_families)}
    if as_json:
        emit_json(counts)
    else:
        table("structure", ["kind", "count"], counts.items())
        console.print(f"channels: {', '.join(sorted(s.channels)) or '(none)'}")
