"""`pim feeds token`, `revoke` and `person …`: who may fetch a customer's feeds from the portal (pim.cli.feeds
mounts them)."""

from __future__ import annotations

import typer
from rich.markup import escape

from pim.cli.feeds_common import ForceOption, _store
from pim.cli.output import JsonOption, console, emit_json, table


def token(customer: str = typer.Option(..., "--customer", help="Customer code, as in the contracts."),
          force: bool = ForceOption) -> None:
    """Issue a portal API token for a customer. Only its hash is stored: copy it now."""
    from pim.delivery_log import issue_token
    from pim.portal_people import check_customer

    store = _store()
    if not force:
        check_customer(store, customer)  # its "did you mean" knows case and prefers a contract's customer
    typer.echo(issue_token(store, customer))


def revoke(customer: str = typer.Option(..., "--customer", help="Customer code, as in the contracts."),
           token_text: str | None = typer.Option(None, "--token", help="The token to revoke (as issued); "
                                                 "without it, every token of the customer.")) -> None:
    """Revoke a customer's portal token(s): the portal refuses them at once (401)."""
    from pim.delivery_log import revoke_tokens

    count = revoke_tokens(_store(), customer, token_text)
    if not count:
        console.print(f"[yellow]no active portal token{' like that' if token_text else ''} for '{escape(customer)}'[/]; "
                      "`pim feeds token --customer …` issues one")
        raise typer.Exit(1)
    console.print(f"revoked {count} portal token{'s' if count != 1 else ''} of '{customer}'")


person_app = typer.Typer(no_args_is_help=True, help="People at a customer who sign in to the portal with e-mail and password.")
PasswordOption = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True,
                              help="At least 10 characters (prompted when not given).")


def _no_such_person(email: str) -> None:
    console.print(f"[red]no portal account for '{escape(email)}'[/]; `pim feeds person list` shows them, "
                  "`pim feeds person add CUSTOMER EMAIL` makes one")
    raise typer.Exit(1)


@person_app.command("add")
def person_add(customer: str = typer.Argument(..., help="Customer code, as in the contracts."),
               email: str = typer.Argument(..., help="The person's e-mail address (their sign-in name)."),
               password: str | None = typer.Option(None, hide_input=True, show_default=False,
                                                   help="At least 10 characters (prompted when not given)."),
               force: bool = ForceOption) -> None:
    """Give a person at a customer their own portal sign-in."""
    from pim.portal_people import add_person, check_customer

    store = _store()
    if not force and customer.strip():
        check_customer(store, customer.strip())  # before the prompt: nobody types a password to be refused
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    person = add_person(store, customer, email, password, force=force)
    console.print(f"{person.email} can sign in to the portal for '{person.customer}'")


@person_app.command("list")
def person_list(customer: str | None = typer.Option(None, "--customer", help="Only this customer's people."),
                as_json: bool = JsonOption) -> None:
    """People with a portal sign-in, per customer."""
    from pim.portal_people import people

    rows = people(_store(), customer)
    if as_json:
        emit_json(rows)
        return
    table("portal people", ["customer", "e-mail", "active", "created", "last sign-in"],
          [(r["customer"], r["email"], "yes" if r["active"] else "disabled", f"{r['created_at']:%Y-%m-%d}",
            f"{r['last_sign_in_at']:%Y-%m-%d %H:%M}" if r["last_sign_in_at"] else "never") for r in rows])


@person_app.command("password")
def person_password(email: str = typer.Argument(...), password: str = PasswordOption) -> None:
    """Set a new password; the person's open portal sessions end."""
    from pim.portal_people import set_password

    if not set_password(_store(), email, password):
        _no_such_person(email)
    console.print(f"new password set for {email}; their open sessions have ended")


@person_app.command("disable")
def person_disable(email: str = typer.Argument(...)) -> None:
    """Stop a person signing in; their open portal sessions end at once. The customer's tokens still work."""
    from pim.portal_people import set_active

    if not set_active(_store(), email, False):
        _no_such_person(email)
    console.print(f"{email} can no longer sign in to the portal")


@person_app.command("enable")
def person_enable(email: str = typer.Argument(...)) -> None:
    """Let a disabled person sign in again."""
    from pim.portal_people import set_active

    if not set_active(_store(), email, True):
        _no_such_person(email)
    console.print(f"{email} can sign in to the portal again")
