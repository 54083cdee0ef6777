"""`pim gate`: owned by the gate area. Commands are added as the area lands."""

import typer

app = typer.Typer(no_args_is_help=True)
