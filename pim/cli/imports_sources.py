"""`pim import erp|erp-xml|content|conflicts|resolve`: the merged sources (ERP, content team) and the
conflict log. Supplier commands live in pim.cli.imports_supplier."""

from enum import Enum
from pathlib import Path
from typing import Any

import typer

from pim.cli.imports import NoWaitOption, StrictOption, app, exclusive, json_failure, partial_exit, report
from pim.cli.output import JsonOption, console, emit_json, table

PrecedenceOption = typer.Option(None, "--precedence", help=(
    "Precedence YAML (default: the profile's, else PIM_HOME/precedence.yaml, else content first)."))


@app.command("erp")
def erp(path: Path, map_file: Path = typer.Option(..., "--map", help="Column map YAML (schemas/erp_csv_map.schema.json)."),
        precedence: Path | None = PrecedenceOption, as_json: bool = JsonOption, strict: bool = StrictOption,
        no_wait: bool = NoWaitOption) -> None:
    """Import an ERP CSV export (products, price list or stock, as the map's `kind` says). A product SKU on
    several rows: the first row is imported, the later ones are rejected. It waits while another import of the
    map's source (e.g. an upload of the same ERP for a worker) runs."""
    from importers.erp_csv import ErpCsvMap, import_erp_csv
    from pim.sources import load_profile
    from pim.store import Store

    with json_failure(as_json, path):
        store, m = Store.from_settings(), load_profile(ErpCsvMap, map_file)
        counts = exclusive(store, "erp_csv", path, lambda: import_erp_csv(path, store, m, map_dir=map_file.parent,
                                                                          precedence=precedence),
                           args=["erp", str(path), "--map", str(map_file), *_named(precedence)],
                           options={"map": map_file}, no_wait=no_wait)
    row = {**counts.as_dict(), "job_id": counts.job_id}
    report(row, as_json, f"imported {path.name}")
    _unread_note(counts.extra.get("unread_map_fields", 0), counts.job_id, as_json)
    if strict:
        partial_exit([row])


@app.command("erp-xml")
def erp_xml(path: Path, map_file: Path | None = typer.Option(None, "--map", help="XPath map YAML (default: SAP MATMAS)."),
            precedence: Path | None = PrecedenceOption, as_json: bool = JsonOption, strict: bool = StrictOption,
            no_wait: bool = NoWaitOption) -> None:
    """Import ERP material master XML (SAP IDoc MATMAS-style by default), streaming. It waits while another
    import of the map's source runs."""
    from importers.erp_xml import MAPS, import_erp_xml, load_xml_map
    from pim.store import Store

    with json_failure(as_json, path):
        store, m = Store.from_settings(), load_xml_map(map_file)
        counts = exclusive(store, "erp_xml", path, lambda: import_erp_xml(path, store, m,
                                                                          map_dir=(map_file or MAPS / "x").parent,
                                                                          precedence=precedence),
                           args=["erp-xml", str(path), *_named(map_file, "--map"), *_named(precedence)],
                           options={"map": map_file}, no_wait=no_wait)
    row = {**counts.as_dict(), "job_id": counts.job_id}
    report(row, as_json, f"imported {path.name}")
    _unread_note(counts.extra.get("unread_map_fields", 0), counts.job_id, as_json)
    if strict:
        partial_exit([row])


def _named(value: Path | None, option: str = "--precedence") -> list[str]:
    """`[option, value]` when the option was given: the command's own arguments, to run it again."""
    return [option, str(value)] if value is not None else []


def _unread_note(unread: int, job_id: int | None, as_json: bool) -> None:
    """Point at the warning naming map fields the file lacks (a typo in a column name imports nothing for it)."""
    if unread and not as_json:
        console.print(f"[yellow]{unread} map field(s) read nothing in this file (a typo in the map?):[/] "
                      f"pim import errors {job_id} --severity warning")


@app.command("content")
def content(path: Path, profile: Path | None = typer.Option(None, "--profile", help="Content profile YAML."),
            precedence: Path | None = PrecedenceOption, as_json: bool = JsonOption, strict: bool = StrictOption,
            no_wait: bool = NoWaitOption) -> None:
    """Import content-team enrichment (JSON array, JSON Lines, CSV or XLSX). It waits while another import of
    the profile's source (content by default) runs."""
    from importers.content import ContentProfile, import_content
    from pim.sources import load_profile
    from pim.store import Store

    with json_failure(as_json, path):
        prof = load_profile(ContentProfile, profile) if profile else None
        store = Store.from_settings()
        counts = exclusive(store, "content", path, lambda: import_content(
            path, store, prof, profile_dir=profile.parent if profile else None, precedence=precedence),
            args=["content", str(path), *_named(profile, "--profile"), *_named(precedence)],
            options={"profile": profile}, no_wait=no_wait)
    report({**counts.as_dict(), "job_id": counts.job_id}, as_json, f"imported {path.name}", strict=strict)


class ConflictStatus(str, Enum):
    """What `pim import conflicts --status` lists (pim.conflicts.LISTED)."""

    open = "open"
    resolved = "resolved"
    pinned = "pinned"


@app.command("conflicts")
def conflicts(sku: list[str] = typer.Argument(None, help="Only these SKUs (and the models they inherit from), or "
                                                         "models as model:<code>."),
              status: ConflictStatus = typer.Option(ConflictStatus.open, help=(
                  "open: needs a person; resolved: a person picked the winner; pinned: every pick still pinned "
                  "(also one on a value no owner disputes), with who picked and when.")),
              limit: int | None = typer.Option(None, show_default=False, help=(
                  "At most this many rows (0: all of them). Default: 200 in the table; with --json every row.")),
              as_json: bool = JsonOption) -> None:
    """List open conflicts: two sources that own an attribute disagree on a value. A variant's list has the
    conflicts of the models it inherits from too (identifier `model:<code>`), as its page and the API show.
    A cut list says so ("3 of 157 … shown", on stderr with --json); undo a pin with `pim import resolve SKU
    KEY --unpin`."""
    from pim.cli.output import err_console
    from pim.conflicts import count_conflicts, listed_conflicts, targets_of_named
    from pim.store import Store

    shown = limit if limit is not None else 0 if as_json else 200
    with json_failure(as_json):
        store = Store.from_settings()
        keys = targets_of_named(store, sku) if sku else None
        rows = listed_conflicts(store, keys, status=status.value, limit=shown)
        total = count_conflicts(store, keys, status=status.value) if shown and len(rows) == shown else len(rows)
    noun = "value(s)" if status is ConflictStatus.pinned else "conflict(s)"
    more = (f"{len(rows)} of {total} {status.value} {noun} shown: `--limit 0` lists them all"
            if total > len(rows) else None)
    if as_json:
        emit_json([r.__dict__ for r in rows])
    elif status is ConflictStatus.open:
        table(f"{len(rows)} of {total} open conflict(s)" if more else f"{len(rows)} open conflict(s)",
              ["sku", "value", "winner", "claims"], [(c.identifier, c.value_key, c.winner, _claims(c)) for c in rows])
    else:
        table(f"{len(rows)}{f' of {total}' if more else ''} {status.value} {noun}",
              ["sku", "value", "pinned", "status", "by", "at", "claims"],
              [(c.identifier, c.value_key, c.pinned, c.status, c.resolved_by, f"{c.updated_at:%Y-%m-%d %H:%M}",
                _claims(c)) for c in rows])
    if more:
        err_console.print(more, highlight=False, markup=False)


def _claims(c: Any) -> str:
    return "; ".join(f"{s}={v}" for s, v in c.claims.items())[:200]


@app.command("resolve")
def resolve(sku: str, value_key: str, source: str | None = typer.Argument(None, show_default=False),
            by: str = typer.Option("cli", "--by"),
            unpin: bool = typer.Option(False, "--unpin", help="Undo the pick instead (no SOURCE): precedence "
                                                              "decides again; a disagreement is open again.")) -> None:
    """Pick SOURCE's value for SKU's VALUE_KEY and pin it: later imports keep it until SOURCE withdraws that
    value, or --unpin undoes it. SOURCE is one of the conflict's claims, or a source whose value is kept as a
    candidate (one that does not own the attribute is in no conflict). A pick that changes what shows is in the
    product's history, under --by. `pim import conflicts --status pinned` lists the pins."""
    from pim.conflicts import pick_claim
    from pim.errors import InputError
    from pim.store import Store
    from pim.web.editing import ChoiceLog

    if unpin == (source is not None):
        raise InputError("name the SOURCE to pick, or --unpin without a SOURCE to undo a pick", field="source",
                         hint=f"pim import resolve {sku} {value_key} SOURCE, or pim import resolve {sku} {value_key} --unpin")
    store = Store.from_settings()
    if unpin:
        _unpin(store, sku, value_key, by)
        return
    c, kept = pick_claim(store, sku, value_key, source, by=by, log=ChoiceLog(sku, value_key, by, source))  # type: ignore[arg-type]
    console.print(f"{sku} {value_key}: {source} wins ({c.claims[source]}), pinned", markup=False)
    if kept:
        console.print(f"(a kept candidate: {source} does not own {c.attribute} in the precedence, so no conflict "
                      "named it)", markup=False)


def _unpin(store: Any, sku: str, value_key: str, by: str) -> None:
    """`pim import resolve SKU KEY --unpin`; the history row names the source that shows afterwards."""
    from pim.conflicts import unpin
    from pim.merge import home_precedence_path
    from pim.product import source_of
    from pim.web.editing import ChoiceLog

    def log(conn: Any, before: Any, after: Any) -> None:
        ChoiceLog(sku, value_key, by, source_of(after.provenance_of(value_key)))(conn, before, after)

    c, shows = unpin(store, sku, value_key, by=by, log=log)
    used = ("PIM_HOME/precedence.yaml" if home_precedence_path().is_file()
            else "the default precedence, content first (PIM_HOME/precedence.yaml decides once you write one)")
    console.print(f"{sku} {value_key}: unpinned; by {used}, {shows}'s value shows"
                  + (", the conflict is open again" if c.status == "open" else ""), markup=False)


@app.command("withdraw")
def withdraw(source: str = typer.Argument(..., help="The source whose values leave, e.g. supplier:acme."),
             sku: list[str] = typer.Argument(..., help="The products (SKUs), and product models as model:<code>."),
             precedence: Path | None = typer.Option(None, "--precedence", help=(
                 "The precedence YAML the imports use: it decides which claim takes over (default: "
                 "PIM_HOME/precedence.yaml, as people's edits; else content first).")),
             as_json: bool = JsonOption) -> None:
    """Withdraw every value SOURCE claims on these products (or models, named model:<code>), as if it had sent
    them empty: the next-ranked claim takes over, or the value goes. Applies a supplier's PRODUCT mode="delete"
    after review."""
    from pim.merge import MODEL_KEY, Precedence, home_precedence, home_precedence_path
    from pim.store import Store
    from pim.withdraw import claimed, withdraw_claims

    wanted = list(dict.fromkeys(sku))
    with json_failure(as_json):
        store = Store.from_settings()
        nothing = [s for s, (keys, kinds) in claimed(store, source, wanted).items() if not keys and not kinds]
        ranked = Precedence.load(precedence) if precedence else home_precedence()
        counts = withdraw_claims(store, source, wanted, ranked)
    what = "product(s)" if not any(w.startswith(MODEL_KEY) for w in wanted) else "product(s) and model(s)"
    used = (str(precedence) if precedence else f"PIM_HOME/precedence.yaml ({home_precedence_path()})" if ranked
            else "the default: content first; pass --precedence FILE, the one your imports use")
    report({**counts.as_dict(), "job_id": counts.job_id, "nothing_to_withdraw": nothing, "precedence": used}, as_json,
           f"withdrew {source} from {len(wanted) - len(nothing) - counts.rejected} of {len(wanted)} {what}")
    if nothing and not as_json:
        console.print(f"{len(nothing)} of them hold nothing from {source} (an unknown SKU or model, or no value of "
                      f"that source): {', '.join(nothing[:20])}{' …' if len(nothing) > 20 else ''}", markup=False)
    if len(nothing) == len(wanted):
        raise typer.Exit(1)
