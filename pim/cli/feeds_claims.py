"""`pim feeds claims [--release RUN]`: which run holds each contract's claim (pim.feed_schedule), whether its
process is alive, and letting go of a run's claims when it is gone for good (its host lost, or a database restart
it could not release them through). Registered onto `pim feeds` (pim.cli.EXTENSION_MODULES)."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.markup import escape

from pim.cli.feeds import app
from pim.cli.output import JsonOption, console, emit_json, table
from pim.errors import PimError


@app.command("claims")
def claims_command(release: str | None = typer.Option(None, "--release", metavar="RUN",
                                                      help="Let go of every claim of this run (HOST:PID:…, as listed) "
                                                           "and mark its unfinished delivery-log rows interrupted. "
                                                           "Refused for a run alive on this host."),
                   as_json: bool = JsonOption) -> None:
    """The standing claims: contract, run, its process (alive, dead, or unknown: another host's), since when,
    until when. A run on this host whose process is gone is taken over by the next `pim feeds deliver` by itself;
    --release is for a run of another host that will not come back."""
    from pim.errors import InputError
    from pim.feed_claims import holder_state, release_run
    from pim.feed_schedule import claims, sending
    from pim.store import Store

    store = Store.from_settings()
    if release is not None:
        try:
            done = release_run(store, release)
        except ValueError as exc:
            _refuse(InputError(str(exc)), as_json)
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
        return
    rows = []
    for contract, held in sorted(claims(store).items()):
        run = sending(store, contract) or held
        rows.append({"contract": contract, "holder": held["holder"], "process": holder_state(held["holder"]),
                     "since": run.get("since"), "job": run.get("job"), "held_until": held["held_until"]})
    if as_json:
        emit_json(rows)
        return
    table("feed claims (UTC)", ["contract", "run", "process", "since", "held until"],
          [(r["contract"], r["holder"], r["process"], (r["since"] or "")[:19].replace("T", " "),
            r["held_until"][:19].replace("T", " ")) for r in rows])


def _refuse(exc: PimError, as_json: bool) -> NoReturn:
    """A refused --release: the message on stderr (and the failure document under --json), exit 2."""
    from pim.cli import print_error
    from pim.cli.imports import failure

    if as_json:
        emit_json(failure(exc))
    print_error(exc)
    raise typer.Exit(exc.exit_code)
