"""`pim feeds`: load contracts, build and deliver customer feeds, issue portal tokens, read the delivery log."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.markup import escape

from pim.cli.output import JsonOption, console, emit_json, err_console, table

if TYPE_CHECKING:
    from pim.feeds import RunSummary
    from pim.store import Store

app = typer.Typer(no_args_is_help=True)


def _store():  # type: ignore[no-untyped-def]
    from pim.store import Store

    return Store.from_settings()


@app.command("load")
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


@app.command("delete")
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


@app.command("list")
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


@app.command("deliver")
def deliver(
    contract: str | None = typer.Option(None, "--contract", help="One contract; all of them by default."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Build the feeds (rows, holds) in a scratch folder, keep "
                                                          "no file, deliver nothing, keep the watermark. "
                                                          "Takes no claims: it may overlap a real run."),
    attempts: int | None = typer.Option(None, "--attempts", min=1, show_default=False,
                                        help="SFTP connections tried per delivery when one drops or cannot be made "
                                             "(1: no retry; 4 by default), waiting 1, 2, 4 s… between them."),
    retries: int | None = typer.Option(None, "--retries", min=0, show_default=False,
                                       help="SFTP retries after the first attempt (0: try once); --retries N is "
                                            "--attempts N+1."),
    due: bool = typer.Option(False, "--due", help="Only the contracts whose schedule is due (run this from a "
                                                  "system timer every few minutes; `pim feeds due` shows them). "
                                                  "A contract another run is sending is skipped."),
    allow_empty: bool = typer.Option(False, "--allow-empty", help="With --contract: deliver its feed even when it "
                                                                  "leaves the customer 0 products (a full feed of 0 "
                                                                  "rows, a delta deleting all they hold: it empties "
                                                                  "their catalog; held otherwise)."),
    as_json: bool = JsonOption,
) -> None:
    """Build and deliver feeds: one job per contract; failures and held feeds are listed and set the exit code."""
    from pim.contracts import get_contracts

    if attempts is not None and retries is not None:
        console.print("[red]--attempts and --retries exclude each other[/]: --retries N is --attempts N+1")
        raise typer.Exit(2)
    tries = attempts if attempts is not None else retries + 1 if retries is not None else 4
    store = _store()
    if due and contract:
        console.print("[red]--due and --contract exclude each other[/]: --due picks the contracts itself")
        raise typer.Exit(2)
    if allow_empty and not contract:
        console.print("[red]--allow-empty goes with --contract[/]: name the one contract whose empty feed the "
                      "customer should get, e.g. `pim feeds deliver --contract CODE --allow-empty`")
        raise typer.Exit(2)
    if contract:
        from pim.contracts import get_contract

        get_contract(store, contract)  # an unknown code: the clear error, before any claim
    named = None if due else [contract] if contract else [c.code for c in get_contracts(store)]
    if dry_run:
        _dry_run(store, tries, as_json, due=due, named=named, allow_empty=allow_empty)
    else:
        _deliver_claimed(store, tries, as_json, due=due, named=named, allow_empty=allow_empty)


def _deliver_claimed(store: Store, retries: int, as_json: bool, *, due: bool, named: list[str] | None,
                     allow_empty: bool = False) -> None:
    """The contracts this run could claim (the due ones, or those named); a contract another run is sending is
    listed as skipped. A run that could claim none of those asked for (or due) exits 1, unless it is a `--due`
    tick and the runs holding them are alive (on this host, or another host running feed jobs): timer ticks
    overlapping a long run, which sends them, exit 0 saying so. A holder not known alive (a lost host) still
    exits 1: its claims stand until their lease ends or `pim feeds claims --release`."""
    from pim.feed_schedule import DueRun

    with DueRun(store) as claims:
        codes = claims.take() if named is None else claims.take_named(named)
        if not as_json:
            for s in claims.skipped:
                console.print(f"[yellow]skipped[/] {escape(s['contract'])}: {escape(s['reason'])}", highlight=False)
        if not codes:
            _nothing_to_deliver(as_json, due, claims.skipped)
            if claims.all_busy and not (due and claims.senders_alive()):  # nothing shows the holder alive
                raise typer.Exit(1)
            if claims.all_busy and not as_json:  # a timer tick overlapping a live run: that run sends them
                err_console.print("nothing to do: every due contract is being sent by another run that is alive "
                                  "(skipped above), which delivers it", markup=False, highlight=False)
            return
        summary = _run(store, len(codes), codes=codes, dry_run=False, retries=retries, as_json=as_json,
                       on_done=lambda r: claims.done(r["contract"]), allow_empty=allow_empty)
    _report(summary, as_json, {"skipped": claims.skipped})


def _dry_run(store: Store, retries: int, as_json: bool, *, due: bool, named: list[str] | None,
             allow_empty: bool = False) -> None:
    """Build the due or named contracts without claiming them: a dry run delivers nothing and keeps the
    watermark, so it may overlap a real run, and a real run started meanwhile must not skip a contract for it."""
    from pim.feed_schedule import due_contracts

    codes = due_contracts(store) if named is None else named
    if not codes:
        _nothing_to_deliver(as_json, due, [])
        return
    _report(_run(store, len(codes), codes=codes, dry_run=True, retries=retries, as_json=as_json,
                 allow_empty=allow_empty), as_json, {"skipped": []})


def _nothing_to_deliver(as_json: bool, due: bool, skipped: list[dict[str, Any]]) -> None:
    if as_json:
        emit_json({"contracts": 0, "by_status": {}, "rows": 0, "failures": [], "held": [], "left_out": {},
                   "results": [], "skipped": skipped})
    elif not skipped:
        console.print("no contract is due; `pim feeds due` shows when each runs next" if due
                      else "no contracts: `pim feeds load CONTRACTS.yaml` adds them")


def _run(store: Store, total: int, *, contract: str | None = None, codes: list[str] | None = None, dry_run: bool,
         retries: int, as_json: bool, on_done: Callable[[dict[str, Any]], None] | None = None,
         allow_empty: bool = False) -> RunSummary:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from pim.feeds import deliver_all

    def finished(r: dict[str, Any]) -> None:
        if on_done:
            on_done(r)
        bar.advance(task)

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console.__class__(stderr=True), transient=True, disable=as_json) as bar:
        task = bar.add_task("delivering feeds", total=total)
        return deliver_all(store, contract=contract, dry_run=dry_run, retries=retries, on_done=finished,
                           contracts=codes, allow_empty=allow_empty)


def left_out_cell(left_out: dict[str, int] | None) -> str:
    """Left-out counts in a table cell, e.g. `gate 3, no price 1`."""
    return ", ".join(f"{k.replace('_', ' ')} {n}" for k, n in (left_out or {}).items())


def _report(summary: RunSummary, as_json: bool, extra: dict[str, Any] | None = None) -> None:
    """The run's results (a table, or JSON with `extra` merged in); failures and held feeds set exit code 5."""
    data = summary.as_dict()
    if as_json:
        emit_json({**data, "results": summary.results, **(extra or {})})
    else:
        table("feeds", ["contract", "status", "kind", "rows", "left out", "file"],
              [(r["contract"], r["status"], r["kind"], r["rows"], left_out_cell(r.get("left_out")), r["file"])
               for r in summary.results])
        for f in data["failures"]:
            console.print(f"[red]failed[/] {escape(f['contract'])}: {escape(str(f['error']))}", highlight=False)
        for h in data["held"]:
            console.print(f"[yellow]held[/] {escape(h['contract'])}: {escape(str(h['error']))}", highlight=False)
        for r in summary.results:
            for w in r.get("warnings") or ():
                console.print(f"[yellow]warning[/] {escape(r['contract'])}: {escape(w)}", highlight=False)
            if r["status"] == "dry-run" and r.get("error"):
                console.print(f"[yellow]dry run[/] {escape(r['contract'])}: {escape(r['error'])}", highlight=False)
            elif r["status"] == "cancelled":  # deleted while the run built it
                console.print(f"[yellow]not sent[/] {escape(r['contract'])}: {escape(r['error'])}", highlight=False)
    if summary.failures or summary.held:
        raise typer.Exit(5)


@app.command("due")
def due_list(as_json: bool = JsonOption) -> None:
    """Scheduled contracts: last successful run, next run (UTC), whether `deliver --due` would send it now, and
    which run is sending it at the moment (its claim)."""
    from pim.feed_schedule import claims, schedules

    store = _store()
    rows, held = schedules(store), claims(store)
    if as_json:
        emit_json([d.as_dict() | {"sending": held.get(d.contract)} for d in rows])
        return
    table("feed schedules (UTC)", ["contract", "schedule", "last success or hold", "next run", "due", "sending"],
          [(d.contract, d.schedule, f"{d.last_success:%Y-%m-%d %H:%M}" if d.last_success else "never",
            f"{d.next_run:%Y-%m-%d %H:%M}", "yes" if d.due else "on hold" if d.on_hold else "",
            held.get(d.contract, {}).get("holder")) for d in rows])
    _print_on_hold({d.contract: d.on_hold for d in rows})


def _print_on_hold(on_hold: dict[str, str | None]) -> None:
    """Under a table: each contract `--due` holds back (its last run was refused for its data), why and what to do."""
    for code, reason in on_hold.items():
        if reason:
            console.print(f"[yellow]on hold[/] {escape(code)}: {escape(reason)}", highlight=False)


@app.command("prune")
def prune(keep: int | None = typer.Option(None, "--keep", min=1, show_default=False,
                                          help="Newest files kept per contract (10 when --older-than is not "
                                               "given either)."),
          older_than: int | None = typer.Option(None, "--older-than", min=1, metavar="DAYS",
                                                help="Only files built more than DAYS days ago go; with --keep, a "
                                                     "file goes only when both rules let it go."),
          contract: str | None = typer.Option(None, "--contract", help="One contract; all of them by default."),
          dry_run: bool = typer.Option(False, "--dry-run", help="List what would go; delete nothing."),
          as_json: bool = JsonOption) -> None:
    """Delete old feed files, by count (--keep) and/or age (--older-than); every delivered file from the newest
    delivered full feed on always stays. Rows stay in the log, marked pruned; the portal stops listing them."""
    from datetime import timedelta

    from pim.feed_retention import prune_feeds

    age = timedelta(days=older_than) if older_than is not None else None
    result = prune_feeds(_store(), keep=keep, older_than=age, contract=contract, dry_run=dry_run)
    if as_json:
        emit_json(result.as_dict() | {"dry_run": dry_run})
        return
    verb = "would delete" if dry_run else "deleted"
    console.print(f"{verb} {result.files} feed file{'s' if result.files != 1 else ''} "
                  f"({result.bytes / 1e6:.1f} MB)")


ForceOption = typer.Option(False, "--force", help="Allow a customer code no contract names yet (its contracts come later).")


@app.command("token")
def token(customer: str = typer.Option(..., "--customer", help="Customer code, as in the contracts."),
          force: bool = ForceOption) -> None:
    """Issue a portal API token for a customer. Only its hash is stored: copy it now."""
    from pim.delivery_log import issue_token
    from pim.portal_people import check_customer

    store = _store()
    if not force:
        check_customer(store, customer)  # its "did you mean" knows case and prefers a contract's customer
    typer.echo(issue_token(store, customer))


@app.command("revoke")
def revoke(customer: str = typer.Option(..., "--customer", help="Customer code, as in the contracts."),
           token_text: str | None = typer.Option(None, "--token", help="The token to revoke (as issued); "
                                                 "without it, every token of the customer.")) -> None:
    """Revoke a customer's portal token(s): the portal refuses them at once (401)."""
    from pim.delivery_log import revoke_tokens

    count = revoke_tokens(_store(), customer, token_text)
    if not count:
        console.print(f"[yellow]no active portal token{' like that' if token_text else ''} for '{escape(customer)}'[/]; "
                      "`pim feeds token --customer …` issues one")
        raise typer.Exit(1)
    console.print(f"revoked {count} portal token{'s' if count != 1 else ''} of '{customer}'")


@app.command("log")
def delivery_log(contract: str | None = typer.Option(None, "--contract"), as_json: bool = JsonOption) -> None:
    """The delivery log: contract, file, target, status (delivered, failed, held), attempts, rows, the products
    the build left out and why, started, error."""
    from pim.delivery_log import deliveries

    rows = deliveries(_store(), contract)
    if as_json:
        emit_json(rows)
    else:
        table("deliveries", ["contract", "file", "target", "status", "attempts", "rows", "left out", "started", "error"],
              [(r["contract"], r["file"], r["target"], r["status"], r["attempts"], r["rows"], left_out_cell(r["left_out"]),
                r["started"], r["error"]) for r in rows])


@app.command("prices")
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


person_app = typer.Typer(no_args_is_help=True, help="People at a customer who sign in to the portal with e-mail and password.")
app.add_typer(person_app, name="person")
PasswordOption = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True,
                              help="At least 10 characters (prompted when not given).")


def _no_such_person(email: str) -> None:
    console.print(f"[red]no portal account for '{escape(email)}'[/]; `pim feeds person list` shows them, "
                  "`pim feeds person add CUSTOMER EMAIL` makes one")
    raise typer.Exit(1)


@person_app.command("add")
def person_add(customer: str = typer.Argument(..., help="Customer code, as in the contracts."),
               email: str = typer.Argument(..., help="The person's e-mail address (their sign-in name)."),
               password: str | None = typer.Option(None, hide_input=True, show_default=False,
                                                   help="At least 10 characters (prompted when not given)."),
               force: bool = ForceOption) -> None:
    """Give a person at a customer their own portal sign-in."""
    from pim.portal_people import add_person, check_customer

    store = _store()
    if not force and customer.strip():
        check_customer(store, customer.strip())  # before the prompt: nobody types a password to be refused
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    person = add_person(store, customer, email, password, force=force)
    console.print(f"{person.email} can sign in to the portal for '{person.customer}'")


@person_app.command("list")
def person_list(customer: str | None = typer.Option(None, "--customer", help="Only this customer's people."),
                as_json: bool = JsonOption) -> None:
    """People with a portal sign-in, per customer."""
    from pim.portal_people import people

    rows = people(_store(), customer)
    if as_json:
        emit_json(rows)
        return
    table("portal people", ["customer", "e-mail", "active", "created", "last sign-in"],
          [(r["customer"], r["email"], "yes" if r["active"] else "disabled", f"{r['created_at']:%Y-%m-%d}",
            f"{r['last_sign_in_at']:%Y-%m-%d %H:%M}" if r["last_sign_in_at"] else "never") for r in rows])


@person_app.command("password")
def person_password(email: str = typer.Argument(...), password: str = PasswordOption) -> None:
    """Set a new password; the person's open portal sessions end."""
    from pim.portal_people import set_password

    if not set_password(_store(), email, password):
        _no_such_person(email)
    console.print(f"new password set for {email}; their open sessions have ended")


@person_app.command("disable")
def person_disable(email: str = typer.Argument(...)) -> None:
    """Stop a person signing in; their open portal sessions end at once. The customer's tokens still work."""
    from pim.portal_people import set_active

    if not set_active(_store(), email, False):
        _no_such_person(email)
    console.print(f"{email} can no longer sign in to the portal")


@person_app.command("enable")
def person_enable(email: str = typer.Argument(...)) -> None:
    """Let a disabled person sign in again."""
    from pim.portal_people import set_active

    if not set_active(_store(), email, True):
        _no_such_person(email)
    console.print(f"{email} can sign in to the portal again")


@app.command("downloads")
def downloads_list(customer: str | None = typer.Option(None, "--customer", help="Only this customer's downloads."),
                   limit: int = typer.Option(50, "--limit", min=1, help="How many, newest first."),
                   prune_older_than: int | None = typer.Option(None, "--prune-older-than", metavar="DAYS",
                                                               show_default=False,
                                                               help="Instead of listing, delete the log rows older "
                                                                    "than DAYS days (with --customer, only theirs)."),
                   prune: bool = typer.Option(False, "--prune", help="Instead of listing, delete the log rows "
                                                                     "older than PIM_DOWNLOAD_LOG_RETENTION_DAYS "
                                                                     "days (--prune-older-than overrides it)."),
                   dry_run: bool = typer.Option(False, "--dry-run", help="With --prune or --prune-older-than: count "
                                                                         "what would go; delete nothing."),
                   as_json: bool = JsonOption) -> None:
    """Who fetched which feed file from the portal: a person (e-mail) or the customer's token, newest first.
    With --prune or --prune-older-than, old rows of this log go instead (the maintenance pass, `pim maintain`,
    does the same with PIM_DOWNLOAD_LOG_RETENTION_DAYS). Listing never deletes: the setting alone prunes nothing
    here."""
    if prune or prune_older_than is not None:
        _prune_downloads(prune_older_than, customer, dry_run, as_json)
        return
    if dry_run:
        console.print("[red]--dry-run goes with --prune-older-than DAYS or --prune[/]; listing never deletes "
                      "anything")
        raise typer.Exit(2)
    from pim.portal_downloads import downloads

    rows = downloads(_store(), customer=customer, limit=limit)
    if as_json:
        emit_json(rows)
        return
    table("portal downloads", ["at (UTC)", "customer", "by", "contract", "file"],
          [(f"{r['at']:%Y-%m-%d %H:%M}", r["customer"], r["person"], r["contract"], r["name"]) for r in rows])


def _prune_downloads(given: int | None, customer: str | None, dry_run: bool, as_json: bool) -> None:
    """--prune-older-than, else PIM_DOWNLOAD_LOG_RETENTION_DAYS, as `pim import prune` takes its age."""
    from datetime import timedelta

    from pim.cli.imports import json_failure
    from pim.maintenance import command_days
    from pim.portal_downloads import prune_downloads

    with json_failure(as_json):
        days = command_days("download_log_retention_days", given, "--prune-older-than",
                            "pim feeds downloads --prune-older-than 365 --dry-run")
    if days < 1:
        console.print(f"[red]--prune-older-than must be at least 1 day, not {days}[/]: "
                      "e.g. `pim feeds downloads --prune-older-than 365 --dry-run` shows what a year's cut removes")
        raise typer.Exit(2)
    result = prune_downloads(_store(), timedelta(days=days), customer=customer, dry_run=dry_run)
    if as_json:
        emit_json(result.as_dict() | {"older_than_days": days, "customer": customer, "dry_run": dry_run})
        return
    verb = "would delete" if dry_run else "deleted"
    whose = f" of '{customer}'" if customer else ""
    console.print(f"{verb} {result.rows} portal download{'s' if result.rows != 1 else ''}{whose} older than {days} "
                  f"day{'s' if days != 1 else ''} (before {result.before:%Y-%m-%d %H:%M} UTC)", highlight=False)
