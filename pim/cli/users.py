"""`pim users`: web UI accounts and API tokens."""

from __future__ import annotations

import typer

from pim.cli.output import console

app = typer.Typer(no_args_is_help=True, help="Web UI users and API tokens.")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="users", help="Web UI users (viewer, editor, admin) and API tokens.")


@app.command("add")
def add(username: str, role: str = typer.Option("editor", help="viewer, editor (content editor) or admin (catalog admin)"),
        password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True)) -> None:
    """Create a user who can log in to `pim serve`."""
    from pim.store import Store
    from pim.web.accounts import add_user

    user = add_user(Store.from_settings(), username, password, role)
    console.print(f"user {user.username} ({user.role}) created")


@app.command("token")
def token(username: str, label: str = "") -> None:
    """Make an API token for a user (shown once; only its hash is stored)."""
    from sqlalchemy import select

    from pim.errors import InputError
    from pim.store import Store
    from pim.web.accounts import User, create_token
    from pim.web.tables import USER

    store = Store.from_settings()
    with store.engine.connect() as conn:
        row = conn.execute(select(USER).where(USER.c.username == username)).first()
    if row is None:
        raise InputError(f"no user '{username}'", field="username", hint="create one with: pim users add NAME")
    print(create_token(store, User(row.id, row.username, row.role), label))
