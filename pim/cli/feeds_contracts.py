"""`pim feeds load`, `delete`, `list` and `prices`: the contracts and their price lists (pim.cli.feeds mounts them)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.markup import escape

from pim.cli.feeds_common import _print_on_hold, _store
from pim.cli.output import JsonOption, console, emit_json, table

if TYPE_CHECKING:
    from pim.store import Store


def load(contracts_dir: Path = typer.Argument(..., help="A contracts YAML/JSON file, or a folder of them."),
         force: bool = typer.Option(False, "--force", help="Load a customer code that differs only in case from "
                                                           "a known one (`ACME` beside `acme`): it is another "
                                                           "customer. Refused otherwise."),
         as_json: bool = JsonOption) -> None:
    """Validate and store contracts (schema: schemas/contract.schema.json). Nothing is stored if one is bad; every
    problem is named with its file, line and field (--json: a `problems` list). A customer code (or
    pricing.price_list) known only in another case is refused unless --force (exit 2, as bad input; a contract
    that does not fit the catalog, exit 3). Contracts not in the files stay:
    `pim feeds delete CODE` removes one."""
    from pim.contracts import load_contracts
    from pim.errors import InputError, PimError

    try:
        store = _store()
        if not contracts_dir.exists():
            raise InputError("no such file or folder", file=str(contracts_dir),
                             hint="name a contracts .yaml/.json file or a folder of them")
        paths = sorted(p for ext in ("*.yaml", "*.yml", "*.json") for p in contracts_dir.glob(ext)) if contracts_dir.is_dir() else [contracts_dir]
        clashes: list[str] = []
        loaded = load_contracts(store, paths, force=force, notes=clashes)
    except PimError as exc:
        if not as_json:
            raise
        _refused(exc)
    notes = clashes + _unlinked(loaded, store)
    if as_json:
        emit_json({"loaded": len(loaded), "files": len(paths), "contracts": [c.code for c in loaded], "notes": notes})
        return
    console.print(f"loaded {len(loaded)} contracts from {len(paths)} files")
    for note in notes:
        console.print(f"[yellow]note[/] {escape(note)}", highlight=False)


def _refused(exc: Any) -> NoReturn:
    """A refused load under --json: the failure document with every problem (file, line, field, reason), the
    message on stderr, the error's exit code."""
    from dataclasses import asdict

    from pim.cli import print_error
    from pim.cli.imports import failure

    listed = getattr(exc, "problems", None)
    problems = ([asdict(p) for p in listed] if listed is not None else
                [{"file": getattr(exc, "file", None), "line": getattr(exc, "line", None),
                  "field": getattr(exc, "field", None), "reason": str(exc)}])
    emit_json(failure(exc) | {"problems": problems})
    print_error(exc)
    raise typer.Exit(exc.exit_code)


def _unlinked(contracts: list[Any], store: Store) -> list[str]:
    """Contracts whose feeds link images or files while no base URL says where they are served: the customer
    would get paths of this machine."""
    from channels.feed_row import field_codes
    from pim.settings import get_settings
    from pim.structure import AttributeType
    from pim.values import listed

    if get_settings().cdn_base_url:
        return []
    s = store.structure()
    media = (AttributeType.image, AttributeType.file)
    codes = [c.code for c in contracts if not c.media_base_url
             and any((a := s.attributes.get(f)) is not None and a.type in media for f in field_codes(c, s))]
    if not codes:
        return []
    one = len(codes) == 1
    return [f"{'contract' if one else f'{len(codes)} contracts'} {listed(codes)} "
            f"link{'s' if one else ''} images or files, but neither {'its' if one else 'their'} media_base_url nor "
            f"PIM_CDN_BASE_URL says where they are served: {'its customer' if one else 'their customers'} would get "
            "paths they cannot fetch; set media_base_url in the contract (or PIM_CDN_BASE_URL) and load again"]


def delete(code: str = typer.Argument(..., help="The contract's code (`pim feeds list`)."),
           yes: bool = typer.Option(False, "--yes", help="Delete without asking first."),
           force: bool = typer.Option(False, "--force", help="Delete even while a delivery run is sending the "
                                                             "contract (its file may still go out)."),
           as_json: bool = JsonOption) -> None:
    """Delete a contract: it is no longer built, delivered or scheduled, and the portal stops showing it among the
    customer's contracts. Kept: its delivery log, its delivered files (the portal still lists and serves them until
    `pim feeds prune` lets them go) and its watermark, so a contract loaded again under this code goes on from its
    last delivery. Refused (exit 1) while a delivery run is sending it, unless --force."""
    from pim.contracts import delete_contract, get_contract
    from pim.delivery_log import feed_files, get_watermark
    from pim.errors import InputError
    from pim.feed_schedule import refuse_while_sending

    store = _store()
    c = get_contract(store, code)  # an unknown code: the clear error with the list hint
    if not force:
        refuse_while_sending(store, code)  # before asking: a yes would be refused anyway
    wm = get_watermark(store, code)
    kept = {"portal_files": len(feed_files(store, customer=c.customer, contract=code, portal_only=True,
                                           limit=10**9)),
            "watermark_version": wm.version if wm else None}
    if not yes:
        if as_json:
            raise InputError("pim feeds delete --json does not ask before deleting",
                             hint=f"add --yes: pim feeds delete {code} --yes --json")
        console.print(_kept_text(c, kept), highlight=False)
        typer.confirm(f"Delete contract {code} of {c.customer}?", abort=True)
    deleted = delete_contract(store, code, force=force)
    if not deleted and not force:
        refuse_while_sending(store, code)  # a run claimed it while we asked
    done = {"deleted": deleted, "contract": code, "customer": c.customer, "kept": kept}
    if as_json:
        emit_json(done)
        return
    console.print(f"deleted contract {code} of {c.customer}: it is no longer built, delivered or scheduled",
                  highlight=False)
    if yes:
        console.print(_kept_text(c, kept), highlight=False)


def _kept_text(c: Any, kept: dict[str, Any]) -> str:
    files = kept["portal_files"]
    version = kept["watermark_version"]
    return (f"Kept: its delivery log (pim feeds log --contract {c.code})"
            + (f"; its {files} delivered file{'s' if files != 1 else ''}, which {c.customer}'s portal still lists "
               f"and serves (pim feeds prune --contract {c.code} removes older ones; the newest full feed and what "
               f"follows it stay)" if files else "")
            + (f"; its watermark (version {version}): a contract loaded again as {c.code} goes on from there "
               f"(unchanged and in delta mode, it sends only what changed since)" if version else "") + ".")


def list_contracts(as_json: bool = JsonOption) -> None:
    """Contracts with their format, mode, delivery and last confirmed delivery (`held`: the products the customer
    holds from it), and why `deliver --due` holds one back (`on_hold`: its last run was refused for its data)."""
    from pim.contracts import get_contracts
    from pim.delivery_log import get_watermark
    from pim.feed_chain import chain_start
    from pim.feed_schedule import schedules

    store = _store()
    on_hold = {d.contract: d.on_hold for d in schedules(store)}
    rows = []
    for c in get_contracts(store):
        wm, version = chain_start(store, c, get_watermark(store, c.code))  # moved to another customer: theirs
        where = ", ".join(x for x in ("sftp" if c.delivery.sftp else "", "portal" if c.delivery.portal else "") if x)
        rows.append({"code": c.code, "customer": c.customer, "format": c.format, "mode": c.mode, "delivery": where,
                     "schedule": c.schedule, "version": version, "held": len(wm.delivered) if wm else 0,
                     "on_hold": on_hold.get(c.code)})
    if as_json:
        emit_json(rows)
    else:
        columns = [k for k in rows[0] if k != "on_hold"] if rows else ["code"]
        table("contracts", columns, [[r[k] for k in columns] for r in rows])
        _print_on_hold({r["code"]: r["on_hold"] for r in rows})


def prices(path: Path = typer.Argument(..., help="JSON Lines of price-list entries (customer, sku, currency, price, min_qty, valid_from)."),
           as_json: bool = JsonOption) -> None:
    """Load contract prices directly (e.g. the generator's contract_prices.jsonl); the ERP importer is the usual
    way. Checked as an ERP price list is: a line that does not read, or repeats a key with another price, goes to
    the quarantine; inverted tiers and prices of 0 are noted as problems. Then, for the customers whose prices it
    changed, the tier ladders a feed build would warn about (stderr, and `warnings` with --json)."""
    from importers.erp_csv import import_price_list_jsonl
    from pim.cli.imports import json_failure, report
    from pim.cli.output import err_console
    from pim.commerce import customers_priced_since
    from pim.feed_warnings import price_list_warnings
    from pim.store.store import now

    with json_failure(as_json, path):
        store, started = _store(), now()
        counts = import_price_list_jsonl(path, store)
        # the file's own warning first: rows for a customer no contract names (`Acme` for `acme`), which only
        # counted as uncontracted_rows here before
        warnings = [r["reason"] for r in store.quarantined(counts.job_id, severity="warning", limit=20)
                    if str(r.get("record_key") or "").startswith("uncontracted-customers:")]
        warnings += price_list_warnings(store, customers_priced_since(store, started))
    said = {"warnings": warnings} if as_json else {}  # the table shows counts; the warnings follow it
    report({**counts.as_dict(), "job_id": counts.job_id, **said}, as_json, f"loaded {path.name}")
    for w in warnings:
        err_console.print(f"[yellow]warning[/] {escape(w)}", highlight=False)
