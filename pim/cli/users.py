"""`pim users`: web UI accounts and API tokens."""

from __future__ import annotations

import typer

from pim.cli.output import JsonOption, console

app = typer.Typer(no_args_is_help=True, help="Web UI users and API tokens.")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="users", help="Web UI users (viewer, editor, admin) and API tokens.")


@app.command("add")
def add(username: str, role: str = typer.Option("editor", help="viewer, editor (content editor) or admin (catalog admin)"),
        password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True),
        email: str | None = typer.Option(None, "--email", help="Where a password-reset link goes (optional; unique).")) -> None:
    """Create a user who can log in to `pim serve`."""
    from pim.store import Store
    from pim.web.accounts import add_user

    user = add_user(Store.from_settings(), username, password, role, email=email)
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


@app.command("list")
def list_accounts(as_json: bool = JsonOption) -> None:
    """Every account: e-mail, role, whether it may sign in, how many API tokens it holds."""
    from pim.cli.output import emit_json, table
    from pim.store import Store
    from pim.web.accounts import ROLE_LABELS, list_users

    rows = list_users(Store.from_settings())
    if as_json:
        emit_json(rows)
        return
    table("users", ["user", "e-mail", "role", "status", "API tokens"],
          [(r["username"], r["email"] or "", ROLE_LABELS[str(r["role"])], "active" if r["active"] else "disabled",
            r["tokens"]) for r in rows])


@app.command("email")
def email(username: str,
          address: str | None = typer.Argument(None, metavar="ADDRESS", help="The new address (leave it out with --remove)."),
          remove: bool = typer.Option(False, "--remove", help="Take the address off the account.")) -> None:
    """Set or change the address a password-reset link goes to (unique, any case); links sent before stop working."""
    from pim.store import Store
    from pim.web.accounts import set_email

    if (address is None) == (not remove):
        raise typer.BadParameter("give an ADDRESS, or --remove to take it off (not both)", param_hint="ADDRESS")
    stored = set_email(Store.from_settings(), username, None if remove else address)
    console.print(f"{username}'s e-mail is now {stored}" if stored else f"{username} has no e-mail now")


@app.command("password")
def password(username: str,
             new: str = typer.Option(..., "--password", prompt="New password", hide_input=True,
                                     confirmation_prompt=True)) -> None:
    """Set a new password; the user's open sessions end (API tokens stay)."""
    from pim.store import Store
    from pim.web.accounts import set_password

    set_password(Store.from_settings(), username, new)
    console.print(f"new password set for {username}; their open sessions have ended")


@app.command("role")
def role(username: str, new_role: str = typer.Argument(..., metavar="ROLE", help="viewer, editor or admin")) -> None:
    """Change a user's role (the last active admin keeps theirs)."""
    from pim.store import Store
    from pim.web.accounts import set_role

    set_role(Store.from_settings(), username, new_role)
    console.print(f"{username} is now {new_role}")


@app.command("disable")
def disable(username: str) -> None:
    """Stop a user signing in; their sessions and API tokens stop working at once."""
    from pim.store import Store
    from pim.web.accounts import set_active

    set_active(Store.from_settings(), username, False)
    console.print(f"{username} is disabled")


@app.command("enable")
def enable(username: str) -> None:
    from pim.store import Store
    from pim.web.accounts import set_active

    set_active(Store.from_settings(), username, True)
    console.print(f"{username} is enabled")
