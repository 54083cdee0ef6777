"""`pim schemas`: keep schemas/ in step with the models."""

import typer

from pim.cli.output import console

app = typer.Typer(no_args_is_help=True)


@app.command()
def generate() -> None:
    """Write every JSON Schema into schemas/."""
    from pim.schemas import generate as gen

    for path in gen():
        console.print(f"wrote {path}")


@app.command()
def check() -> None:
    """Exit 1 when a checked-in schema differs from its model."""
    from pim.schemas import drift

    stale = drift()
    if stale:
        console.print(f"[red]out of date:[/] {', '.join(stale)}  → run `pim schemas generate`")
        raise typer.Exit(1)
    console.print("schemas are up to date")
