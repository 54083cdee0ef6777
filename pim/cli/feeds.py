"""`pim feeds`: load contracts, build and deliver customer feeds, issue portal tokens, read the delivery log.

The commands live in modules with one job each (pim.cli.feeds_contracts, feeds_deliver, feeds_portal, feeds_logs;
what they share in feeds_common); this module mounts them on `app` in the order `pim feeds --help` lists them,
and every name it offered still imports from here (pim.cli.feeds_claims adds `claims` onto `app`)."""

from __future__ import annotations

import typer

from pim.cli.feeds_common import ForceOption, _print_on_hold, _store, left_out_cell  # noqa: F401  # old paths
from pim.cli.feeds_contracts import (_kept_text, _refused, _unlinked, delete, list_contracts, load,  # noqa: F401
                                     prices)
from pim.cli.feeds_deliver import (_deliver_claimed, _dry_run, _nothing_to_deliver, _report, _run,  # noqa: F401
                                   deliver, due_list)
from pim.cli.feeds_logs import _prune_downloads, delivery_log, downloads_list, prune  # noqa: F401
from pim.cli.feeds_portal import (PasswordOption, _no_such_person, person_add, person_app,  # noqa: F401
                                  person_disable, person_enable, person_list, person_password, revoke, token)
from pim.cli.output import JsonOption, console, emit_json, err_console, table  # noqa: F401  # old paths

app = typer.Typer(no_args_is_help=True)

app.command("load")(load)
app.command("delete")(delete)
app.command("list")(list_contracts)
app.command("deliver")(deliver)
app.command("due")(due_list)
app.command("prune")(prune)
app.command("token")(token)
app.command("revoke")(revoke)
app.command("log")(delivery_log)
app.command("prices")(prices)
app.add_typer(person_app, name="person")
app.command("downloads")(downloads_list)
