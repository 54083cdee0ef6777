"""`pim structure`: load the catalog structure from YAML files, show it, and delete an attribute, category,
channel, family or family variant nothing uses (the admin pages' rules, pim.structure_deletes)."""

from pathlib import Path

import typer
from rich.console import Console

from pim.cli.output import JsonOption, console, emit_json, table

app = typer.Typer(no_args_is_help=True)


@app.command()
def load(path: Path = typer.Argument(..., help="A structure .yaml file or a folder of them."),
         dry_run: bool = typer.Option(False, "--dry-run", help="Check only and say what the load would change; "
                                      "write nothing."),
         as_json: bool = JsonOption) -> None:
    """Validate the files (file, line, field for each problem) and store the structure. Per section: the items
    saved, and how many of them are new or changed (a dry run says the same, writing nothing)."""
    from pim.store import Store
    from pim.structure_files import load_counts, load_structure_files, save_structure, structure_changes

    store = Store.from_settings()
    before = store.structure()
    merged = load_structure_files(path, before, store)
    changes = structure_changes(store, merged)
    counts = load_counts(merged) if dry_run else save_structure(store, merged)
    warnings = [] if dry_run else load_warnings(store, before)
    if as_json:
        emit_json({"loaded": counts, "changes": changes, "dry_run": dry_run, **({"warnings": warnings} if warnings else {})})
        return
    rows = [(section, items, changes[section]["new"], changes[section]["changed"])
            for section, items in sorted(counts.items())]
    table("structure loaded" if not dry_run else "structure is valid; a load would save (dry run: nothing written)",
          ["section", "items", "new", "changed"], rows or [("(no items)", 0, 0, 0)])
    for w in warnings:
        console.print(f"warning: {w}", style="yellow", highlight=False, markup=False)


def load_warnings(store: object, before: object) -> list[str]:
    """What a load left to do: channel locales lacking labels (pim.label_gaps), Google feeds in a locale that
    left a channel, which the next publish removes (pim.google_feed_usage)."""
    from pim.google_feed_usage import leaving_notes
    from pim.label_gaps import label_gaps

    after = store.structure()  # type: ignore[attr-defined]
    return ([f"labels missing: {g.said()}" for g in label_gaps(after)] + leaving_notes(store, before, after)
            + internal_contract_notes(store, after))


def internal_contract_notes(store: object, after: object) -> list[str]:
    """Stored contracts naming an attribute the structure now keeps internal: their next delivery is refused and
    then held (`--due` skips it), so the load names them with the fix (round 37, found upgrading)."""
    from pim.contracts_store import get_contracts
    from pim.published import contract_internal_fields, internal_codes

    if not internal_codes(after):  # type: ignore[arg-type]
        return []
    notes = []
    for contract in get_contracts(store):  # type: ignore[arg-type]
        for field, codes in contract_internal_fields(contract, after):
            notes.append(f"contract '{contract.code}' ({contract.customer}) names the internal attribute(s) "
                         f"{', '.join(codes)} in {field}: its next delivery is refused and then held; remove them "
                         "from the contract file and `pim feeds load` it again (or set internal: false)")
    return notes


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


#: What the CLI calls the option lifting a blocker, said with the blocker when a delete is refused.
_OPTION_WORDS = {"drop_requirements": "pass --drop-requirements to remove those requirements with the channel"}


@app.command()
def delete(section: str = typer.Argument(..., help="attributes, categories, channels, families or family_variants."),
           code: str = typer.Argument(..., help="The code to delete."),
           dry_run: bool = typer.Option(False, "--dry-run", help="Say what blocks it or what would go; delete nothing."),
           drop_requirements: bool = typer.Option(False, "--drop-requirements", help="Channels: remove the "
                                                  "families' requirements on it with it (otherwise they block)."),
           as_json: bool = JsonOption) -> None:
    """Delete one attribute (with its select options), category, channel, family or family variant, refused
    with exit code 2 while anything uses it (each blocker is listed). Rescores run here, as after `pim structure load`."""
    from pim.store import Store
    from pim.structure_deletes import DeleteRefused, delete

    store = Store.from_settings()
    try:
        done = delete(store, section, code, dry_run=dry_run, drop_requirements=drop_requirements,
                      defer_rescores=False, structure=store.structure())
    except DeleteRefused as exc:
        lines = exc.lines(_OPTION_WORDS)
        if as_json:
            emit_json({"deleted": False, "dry_run": dry_run, "section": section, "code": code, "blockers": lines,
                       "hint": exc.hint})
        else:
            err = Console(stderr=True, soft_wrap=True)
            err.print(f"[bold red]{code} was not deleted[/]; it is still used:", highlight=False)
            for line in lines:
                err.print(f"  - {line}", highlight=False, markup=False)
            err.print(f"  → {exc.hint} (`pim structure delete {section} {code} --dry-run` checks again)",
                      highlight=False, markup=False)
        raise typer.Exit(2) from None
    if as_json:
        emit_json({"deleted": not done.dry_run, "dry_run": done.dry_run, "items": done.items(),
                   "requirements_dropped": done.requirements_dropped, "gate_decisions": done.gate_decisions,
                   "jobs": done.jobs, "notice": done.notice})
    else:
        console.print(done.notice, highlight=False, markup=False)
