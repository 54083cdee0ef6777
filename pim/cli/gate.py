"""`pim gate`: completeness, quality and the publishing gate (report, rescore, check)."""

from __future__ import annotations

import csv
import sys

import typer

from pim.cli.output import JsonOption, console, emit_json, table

app = typer.Typer(no_args_is_help=True)


def _channel(store: object, channel: str) -> None:
    from pim.errors import ConfigError

    known = store.structure().channels  # type: ignore[attr-defined]
    if channel not in known:
        raise ConfigError(f"unknown channel '{channel}'", hint=f"known: {', '.join(sorted(known)) or '(none: load the structure)'}")


@app.command()
def report(channel: str = typer.Option(..., "--channel", "-c", help="Structure channel, e.g. ecommerce."),
           locale: str | None = typer.Option(None, "--locale", "-l"),
           limit: int | None = typer.Option(None, "--limit", help="Show only the largest to-do items."),
           as_json: bool = JsonOption,
           as_csv: bool = typer.Option(False, "--csv", help="Print the to-do list as CSV.")) -> None:
    """Counts per locale (complete, blocked, by reason), then the to-do list by attribute and family."""
    from pim.completeness import report as build
    from pim.store import Store

    store = Store.from_settings()
    _channel(store, channel)
    r = build(store, channel, locale, todo_limit=limit)
    if as_json:
        emit_json(r.model_dump())
        return
    if as_csv:
        out = csv.writer(sys.stdout)
        out.writerow(["channel", "locale", "family", "attribute", "products"])
        for t in r.todo:
            out.writerow([t.channel, t.locale, t.family, t.attribute, t.products])
        return
    table(f"completeness on {channel} (enabled products; disabled ones are never published)",
          ["locale", "products", "complete", "incomplete", "disabled"],
          [(c.locale, c.products, c.complete, c.incomplete, c.disabled) for c in r.locales])
    table(f"blocked on {channel} (last gate run): {r.blocked}", ["reason", "products"], sorted(r.blocked_by_reason.items()))
    if not r.todo:
        console.print("nothing to do")
    for t in r.todo:
        console.print(f"• {t.sentence()}", highlight=False, markup=False)


@app.command()
def rescore(
    workers: int = typer.Option(2, "--workers", "-w", min=1, help="Processes scoring id ranges while this one "
                                "writes (pim.executor); a catalog of one range (20k products) is scored in-process."),
    as_json: bool = JsonOption,
) -> None:
    """Recompute every product's completeness (after restoring a backup, an import run without the
    listeners, or to check the counters). One transaction: readers see the old scores until it commits.
    Recorded as a job (kind rescore, source *): it settles family rescores that failed or were interrupted.
    The grid index is rebuilt too, which settles grid re-index jobs left failed (the grid's notice goes)."""
    from pim.grid_index import rebuild as rebuild_grid
    from pim.completeness_rebuild import rebuild
    from pim.rescore_jobs import ALL, KIND
    from pim.store import Store

    store = Store.from_settings()
    job = store.start_job(KIND, ALL)  # succeeded, it settles every family rescore left failed or interrupted
    try:
        done = rebuild(store, workers=workers)
        # The bulk rebuild runs no product listeners: refresh the grid's missing / completeness filters too.
        rebuild_grid(store)
    except BaseException as exc:
        store.finish_job(job, {}, status="failed", error=f"{type(exc).__name__}: {exc}")
        raise
    store.finish_job(job, {"rescored": done})
    emit_json({"rescored": done}) if as_json else console.print(f"rescored {done} products")


@app.command()
def check(channel: str = typer.Option(..., "--channel", "-c"),
          locale: str | None = typer.Option(None, "--locale", "-l"),
          as_json: bool = JsonOption) -> None:
    """Run the gate over the catalog without publishing; store the decisions (the report's blocked counts).
    With --locale, a verdict on that locale only is not the channel's, so it is printed and not stored (as a
    publish judging some locales only, pim.gate), unless the channel has no other locale.
    Exits 6 when any product is blocked (after printing the result), 0 when every product passes: a script can
    hold a publish back on it."""
    from pim.errors import GateBlocked
    from pim.gate import evaluate, record_decisions
    from pim.store import Store
    from pim.store.store import batched

    from pim.completeness import check_locale

    store = Store.from_settings()
    _channel(store, channel)
    if locale:
        check_locale(store, channel, locale)
    structure = store.structure()
    passed, blocked, disabled = 0, {}, 0
    # the stored decision (the UI's, `pim gate report`'s) is the channel's: one judging some locales is not
    whole = not locale or set(structure.channels[channel].locales) <= {locale}
    stream = evaluate(store, structure, channel, store.iter_products(), locales=[locale] if locale else None)
    for chunk in batched(stream, 500):
        if whole:
            record_decisions(store, channel, [(p.identifier, r) for p, r in chunk])
        for p, reasons in chunk:
            if not p.enabled:  # never published, whatever the gate says: counted apart, as a publish counts them
                disabled += 1
            elif reasons:
                blocked[p.identifier] = reasons
            else:
                passed += 1
    if as_json:
        emit_json({"channel": channel, "passed": passed, "blocked": blocked, "disabled": disabled,
                   **({"locale": locale, "recorded": whole} if locale else {})})  # with --locale: stored or not
    else:
        table(f"gate on {channel}{f' ({locale} only)' if locale else ''}", ["", ""],
              [("passed", passed), ("blocked", len(blocked)), ("disabled", disabled)])
        if not whole:
            console.print(f"judged on {locale} only: not stored (the stored verdicts, which `pim gate report` and "
                          f"the web show, judge all of {channel}'s locales; run without --locale to update them)",
                          highlight=False, markup=False)
        for ident, reasons in list(blocked.items())[:50]:
            console.print(f"{ident}: {', '.join(reasons)}", highlight=False, markup=False)
    if blocked:
        raise GateBlocked(f"{len(blocked)} product(s) blocked by the gate on {channel} (exit 6)",
                          hint=f"`pim gate report --channel {channel}` lists what they miss; fix those values, "
                               "or publish anyway: `pim publish` sends only the products that pass")
