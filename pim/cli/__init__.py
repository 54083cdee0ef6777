"""The `pim` command. Each area owns one sub-app module below; this file only mounts them and maps
PimError to a clear message and exit code (never a traceback for a user's mistake)."""

from __future__ import annotations

import sys
from importlib import import_module

import typer
from rich.console import Console
from rich.markup import escape

from pim.errors import PimError

app = typer.Typer(
    name="pim",
    help="Product information management and catalog publishing pipeline.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err = Console(stderr=True, soft_wrap=True)

#: (command name, module with a typer `app`, help). One line per area.
SUBAPPS: list[tuple[str, str, str]] = [
    ("structure", "pim.cli.structure", "Load and inspect the catalog structure (attributes, families, channels...)."),
    ("import", "pim.cli.imports", "Import products from a source file, and list rejected rows."),
    ("export", "pim.cli.exports", "Export canonical records."),
    ("schemas", "pim.cli.schemas", "Generate or check the JSON Schemas in schemas/."),
    ("gate", "pim.cli.gate", "Completeness, quality and the publishing gate."),
    ("media", "pim.cli.media", "Ingest images, build renditions, list asset problems."),
    ("search", "pim.cli.search", "Search index helpers: tenant tokens, dropping a channel's indexes."),
    ("feeds", "pim.cli.feeds", "Customer-contracted feeds: build and deliver."),
]
#: Modules that add top-level commands (generate, publish, demo, serve, init, worker and the `jobs` queue commands).
COMMAND_MODULES: list[str] = ["pim.cli.core", "pim.cli.generate", "pim.cli.serve", "pim.cli.users", "pim.cli.worker",
                              "pim.cli.doctor"]

# Extra command modules that register onto an existing sub-app (e.g. more importers on `import`).
EXTENSION_MODULES: list[str] = ["pim.cli.imports_sources", "pim.cli.imports_supplier", "pim.cli.feeds_claims"]


_mounted = False


def _mount() -> None:
    """Register every command on `app`, once: a second call added them all again, and each invocation then walked
    every copy (tests that mount per test made a long pytest worker's CLI calls seconds slower each)."""
    global _mounted
    if _mounted:
        return
    for module in COMMAND_MODULES:
        import_module(module).register(app)
    for module in EXTENSION_MODULES:
        try:
            import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    for name, module, help_text in SUBAPPS:
        try:
            sub = import_module(module).app
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        app.add_typer(sub, name=name, help=help_text)
    _mounted = True


def print_error(exc: PimError) -> None:
    """A PimError as the command line shows it: on stderr, its message and hint."""
    err.print(f"[bold red]error:[/] {escape(exc.describe())}", highlight=False)


def _asked_for_json(args: list[str]) -> bool:
    """Whether the command line asks for --json. Every command that takes it prints one JSON document, also when
    it fails: a PimError reaching main gets `{"error", "exit_code"}` (pim.cli.imports.failure) unless the command
    printed its own (pim.cli.imports.json_failure adds the file it was importing). After `--` it is an argument."""
    return "--json" in (args[:args.index("--")] if "--" in args else args)


def _fail(exc: PimError) -> None:
    """Exit with `exc`'s message and code (and its failure document under --json)."""
    from pim.cli import output

    if _asked_for_json(sys.argv[1:]) and not output.json_begun:
        from pim.cli.imports import failure

        output.emit_json(failure(exc))
    print_error(exc)
    sys.exit(exc.exit_code)


def _database_failure(exc: Exception) -> PimError | None:
    """A lost database or a deadlock met mid-run, as a StoreError (pim.store.database.database_failure)."""
    if "sqlalchemy" not in sys.modules:  # no database was used: `pim --help` loads none of it
        return None
    from pim.store.database import database_failure

    return database_failure(exc)


def _local_io_failure(exc: Exception) -> PimError | None:
    """A full disk, a read-only mount or a missing permission on a local file, as a one-line error naming the path
    and what to do (pim.io_errors), instead of a traceback."""
    from pim.io_errors import local_io_failure

    return local_io_failure(exc)


def main() -> None:
    _mount()
    try:
        app()
    except PimError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:
        mapped = _database_failure(exc) or _local_io_failure(exc)
        if mapped is None:
            raise
        _fail(mapped)
