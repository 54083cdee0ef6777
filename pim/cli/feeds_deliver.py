"""`pim feeds deliver` and `due`: a delivery run (claimed, or a dry run) and its report, and the schedules
(pim.cli.feeds mounts them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from pim.cli.feeds_common import _print_on_hold, _store, left_out_cell
from pim.cli.output import JsonOption, console, emit_json, err_console, table

if TYPE_CHECKING:
    from pim.feeds import RunSummary
    from pim.store import Store


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
