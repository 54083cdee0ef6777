"""`pim feeds claims [--release RUN]`: which run holds each contract's claim (pim.feed_schedule), whether its
process is alive, and letting go of a run's claims when it is gone for good (its host lost, or a database restart
it could not release them through). Registered onto `pim feeds` (pim.cli.EXTENSION_MODULES)."""

from __future__ import annotations

from typing import Any, NoReturn

import typer
from rich.markup import escape

from pim.cli.feeds import app
from pim.cli.output import JsonOption, console, emit_json
from pim.errors import PimError


@app.command("claims")
def claims_command(release: str | None = typer.Option(None, "--release", metavar="RUN",
                                                      help="Let go of every claim of this run (HOST:PID:…, as listed) "
                                                           "and mark its unfinished delivery-log rows interrupted. "
                                                           "Refused for a run alive on this host."),
                   as_json: bool = JsonOption) -> None:
    """The standing claims: contract, run, its process (alive, dead, or unknown: another host's), since when,
    until when. A run on this host whose process is gone is taken over by the next `pim feeds deliver` by itself;
    --release is for a run of another host that will not come back. A contract whose feed job still runs in a
    live process (a pool worker that outlived the run) keeps its claim: --release names that pid."""
    from pim.errors import InputError
    from pim.feed_claims import claimed_at, holder_state, release_run
    from pim.feed_schedule import claims, sending
    from pim.store import Store

    store = Store.from_settings()
    if release is not None:
        try:
            done = release_run(store, release)
        except ValueError as exc:
            _refuse(InputError(str(exc)), as_json)
        kept = done.get("kept") or {}
        if not done["released"] and kept:
            _refuse(InputError(f"run {release}'s contracts are still being sent: {_still_sending(kept)}",
                               hint="wait for those processes to finish (pim jobs list), or stop them (kill PID) "
                                    "and release again"), as_json)
        if not done["released"]:
            held = sorted({c["holder"] for c in claims(store).values()})
            _refuse(InputError(f"run {release} holds no claim",
                               hint=f"the runs holding claims: {', '.join(held)}" if held else "no claim stands"),
                    as_json)
        if as_json:
            emit_json(done)
        else:
            console.print(f"released {len(done['released'])} claim(s) of {escape(release)}: "
                          f"{escape(', '.join(done['released']))}; {done['interrupted_rows']} delivery row(s) marked "
                          "interrupted", highlight=False)
            if kept:
                console.print(f"kept {len(kept)} claim(s) still being sent: {escape(_still_sending(kept))} (wait for "
                              "them, or stop them and release again)", highlight=False)
        return
    rows = []
    for contract, held in sorted(claims(store).items()):
        run = sending(store, contract) or held
        state = holder_state(held["holder"], claimed_at(held["held_until"]))  # as the takeover judges it
        rows.append({"contract": contract, "run": held["holder"], "holder": held["holder"], "process": state,
                     "since": run.get("since"), "job": run.get("job"), "held_until": held["held_until"]})
    if as_json:
        emit_json(rows)  # `holder`: the run's name before round 35 g, kept for scripts that read it
        return
    _claims_table(rows)


def _claims_table(rows: list[dict[str, Any]]) -> None:
    """The claims as a table whose run (and contract) column is never cut: the run is pasted into --release. On a
    terminal too narrow for it the run folds onto the next line rather than losing characters; the times wrap."""
    from rich.table import Table
    from rich.text import Text

    def whole(key: str) -> dict[str, Any]:
        return {"no_wrap": True, "overflow": "fold", "min_width": max((len(r[key]) for r in rows), default=3)}

    t = Table(title="feed claims (UTC)")
    t.add_column("contract", **whole("contract"))
    t.add_column("run", **whole("run"))
    t.add_column("process", min_width=7)  # unknown
    for name in ("since", "held until"):
        t.add_column(name)
    for r in rows:
        t.add_row(*(Text(v) for v in (r["contract"], r["run"], r["process"], (r["since"] or "")[:19].replace("T", " "),
                                      r["held_until"][:19].replace("T", " "))))
    console.print(t)


def _still_sending(kept: dict[str, int]) -> str:
    return ", ".join(f"{contract} (feed job pid {pid} alive)" for contract, pid in sorted(kept.items()))


def _refuse(exc: PimError, as_json: bool) -> NoReturn:
    """A refused --release: the message on stderr (and the failure document under --json), exit 2."""
    from pim.cli import print_error
    from pim.cli.imports import failure

    if as_json:
        emit_json(failure(exc))
    print_error(exc)
    raise typer.Exit(exc.exit_code)
