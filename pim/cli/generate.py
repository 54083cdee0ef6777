"""`pim generate`: deterministic sample catalogs shaped like Akeneo's representative catalogs."""

from pathlib import Path

import typer

from pim.cli.output import console


def register(app: typer.Typer) -> None:
    @app.command()
    def generate(
        profile: str = typer.Option("small", "--profile", help="small (5k), medium (50k) or large (1M products)."),
        seed: int = typer.Option(42, "--seed"),
        out: Path = typer.Option(Path("catalog"), "--out", help="Folder to write into."),
    ) -> None:
        """Write structure files and product JSONL (and source files) for a profile."""
        from pim.generate import generate_catalog

        result = generate_catalog(profile, seed, out, show_progress=True)
        console.print(result.describe(), highlight=False)
