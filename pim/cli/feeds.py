"""`pim feeds`: load contracts, build and deliver customer feeds, issue portal tokens, read the delivery log."""

from __future__ import annotations

from pathlib import Path

import typer

from pim.cli.output import JsonOption, console, emit_json, table

app = typer.Typer(no_args_is_help=True)


def _store():  # type: ignore[no-untyped-def]
    from pim.store import Store

    return Store.from_settings()


@app.command("load")
def load(contracts_dir: Path = typer.Argument(..., help="A contracts YAML/JSON file, or a folder of them.")) -> None:
    """Validate and store contracts (schema: schemas/contract.schema.json). Nothing is stored if one is bad."""
    from pim.contracts import load_contracts
    from pim.errors import InputError

    if not contracts_dir.exists():
        raise InputError("no such file or folder", file=str(contracts_dir))
    paths = sorted(p for ext in ("*.yaml", "*.yml", "*.json") for p in contracts_dir.glob(ext)) if contracts_dir.is_dir() else [contracts_dir]
    loaded = load_contracts(_store(), paths)
    console.print(f"loaded {len(loaded)} contracts from {len(paths)} files")


@app.command("list")
def list_contracts(as_json: bool = JsonOption) -> None:
    """Contracts with their format, mode, delivery and last confirmed delivery."""
    from pim.contracts import get_contracts
    from pim.delivery_log import get_watermark

    store = _store()
    rows = []
    for c in get_contracts(store):
        wm = get_watermark(store, c.code)
        where = ", ".join(x for x in ("sftp" if c.delivery.sftp else "", "portal" if c.delivery.portal else "") if x)
        rows.append({"code": c.code, "customer": c.customer, "format": c.format, "mode": c.mode, "delivery": where,
                     "schedule": c.schedule, "version": wm.version if wm else 0, "held": len(wm.delivered) if wm else 0})
    if as_json:
        emit_json(rows)
    else:
        table("contracts", list(rows[0]) if rows else ["code"], [r.values() for r in rows])


@app.command("deliver")
def deliver(
    contract: str | None = typer.Option(None, "--contract", help="One contract; all of them by default."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Build the files, deliver nothing, keep the watermark."),
    retries: int = typer.Option(4, "--retries", help="SFTP attempts per file on a dropped connection."),
    as_json: bool = JsonOption,
) -> None:
    """Build and deliver feeds: one job per contract; failures are listed and set the exit code."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from pim.contracts import get_contracts
    from pim.feeds import deliver_all

    store = _store()
    total = 1 if contract else len(get_contracts(store))
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console.__class__(stderr=True), transient=True, disable=as_json) as bar:
        task = bar.add_task("delivering feeds", total=total)
        summary = deliver_all(store, contract=contract, dry_run=dry_run, retries=retries,
                              on_done=lambda r: bar.advance(task))
    data = summary.as_dict()
    if as_json:
        emit_json({**data, "results": summary.results})
    else:
        table("feeds", ["contract", "status", "kind", "rows", "file"],
              [(r["contract"], r["status"], r["kind"], r["rows"], r["file"]) for r in summary.results])
        for f in data["failures"]:
            console.print(f"[red]failed[/] {f['contract']}: {f['error']}", highlight=False)
    if summary.failures:
        raise typer.Exit(5)


@app.command("token")
def token(customer: str = typer.Option(..., "--customer", help="Customer code, as in the contracts.")) -> None:
    """Issue a portal API token for a customer. Only its hash is stored: copy it now."""
    from pim.delivery_log import issue_token

    typer.echo(issue_token(_store(), customer))


@app.command("revoke")
def revoke(customer: str = typer.Option(..., "--customer", help="Customer code, as in the contracts."),
           token_text: str | None = typer.Option(None, "--token", help="The token to revoke (as issued); "
                                                 "without it, every token of the customer.")) -> None:
    """Revoke a customer's portal token(s): the portal refuses them at once (401)."""
    from pim.delivery_log import revoke_tokens

    count = revoke_tokens(_store(), customer, token_text)
    if not count:
        console.print(f"[yellow]no active portal token{' like that' if token_text else ''} for '{customer}'[/]; "
                      "`pim feeds token --customer …` issues one")
        raise typer.Exit(1)
    console.print(f"revoked {count} portal token{'s' if count != 1 else ''} of '{customer}'")


@app.command("log")
def delivery_log(contract: str | None = typer.Option(None, "--contract"), as_json: bool = JsonOption) -> None:
    """The delivery log: contract, file, checksum, rows, started, finished, status, error."""
    from pim.delivery_log import deliveries

    rows = deliveries(_store(), contract)
    if as_json:
        emit_json(rows)
    else:
        table("deliveries", ["contract", "file", "target", "status", "attempts", "rows", "started", "error"],
              [(r["contract"], r["file"], r["target"], r["status"], r["attempts"], r["rows"], r["started"], r["error"]) for r in rows])


@app.command("prices")
def prices(path: Path = typer.Argument(..., help="JSON Lines of price-list entries (customer, sku, currency, price, min_qty, valid_from).")) -> None:
    """Load contract prices directly (e.g. the generator's contract_prices.jsonl); the ERP importer is the usual way."""
    from pim.commerce import put_price_list, read_price_list_jsonl

    console.print(f"loaded {put_price_list(_store(), read_price_list_jsonl(path))} price-list entries")
