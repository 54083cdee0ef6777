"""`pim search`: tenant tokens for the storefront's per-customer search."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import typer

from pim.cli.output import JsonOption, console, emit_json

app = typer.Typer(no_args_is_help=True)


@app.command("token")
def token(
    customer: str = typer.Option(..., "--customer", help="The customer whose contracted assortment the token allows."),
    scope: str = typer.Option(None, "--scope", help="Structure channel of the indexes (default: ecommerce)."),
    expires_in: int = typer.Option(3600, "--expires-in", help="Seconds until the token expires (0: never)."),
    as_json: bool = JsonOption,
) -> None:
    """Print a tenant token that restricts searches to the customer's contracted SKUs.

    Signed with a search API key: MEILI_SEARCH_API_KEY + MEILI_SEARCH_API_KEY_UID, or looked up on MEILI_URL
    with MEILI_MASTER_KEY."""
    from channels.search import tenant_search_rules
    from exporters.meilisearch import MeiliConfig, search_api_key, tenant_token
    from pim.pipeline import default_scope
    from pim.store import Store

    scope = scope or default_scope(Store.from_settings().structure())
    key, uid = search_api_key(MeiliConfig.from_env())
    rules = tenant_search_rules(scope, customer)
    expires = datetime.now(UTC) + timedelta(seconds=expires_in) if expires_in else None
    jwt = tenant_token(key, uid, rules, expires)
    if as_json:
        emit_json({"token": jwt, "customer": customer, "searchRules": rules, "apiKeyUid": uid,
                   "expiresAt": expires.isoformat() if expires else None})
        return
    console.print(jwt, highlight=False, soft_wrap=True)
