"""`pim search`: tenant tokens for the storefront's per-customer search, dropping a channel's indexes, and
marking an output folder's search payloads loaded when other tooling than load.sh loaded them (`mark-loaded`).

A channel's pushes are remembered per target (a Meilisearch server or an output folder: the `search_sync`
rows, pim.channel_usage.search_targets), and while one is, the channels page will not let the channel or one
of its locales go: its index would stay live with nothing to update or remove it. `drop` is the way out: it
deletes the indexes at the target, then forgets the push (that locale's alone with --locale: the push state
records its locales, so the channel's other indexes there stay recorded and incremental). The exporter does
the deleting (the core never imports exporters/; this command reaches it the way `token` does)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer

from pim.cli.feeds import ForceOption
from pim.cli.output import JsonOption, console, emit_json
from pim.errors import InputError

app = typer.Typer(no_args_is_help=True)


@app.command("token")
def token(
    customer: str = typer.Option(..., "--customer", help="The customer whose contracted assortment the token allows."),
    scope: str = typer.Option(None, "--scope", help="Structure channel of the indexes (default: ecommerce)."),
    expires_in: int = typer.Option(3600, "--expires-in", help="Seconds until the token expires (0: never)."),
    force: bool = ForceOption,
    as_json: bool = JsonOption,
) -> None:
    """Print a tenant token that restricts searches to the customer's contracted SKUs. A customer code the
    index cannot name is refused, as by `pim feeds token`, unless --force: one no contract names (while there
    are no contracts, one with no price-list entry; another customers provider is not second-guessed).

    Signed with a search API key: MEILI_SEARCH_API_KEY + MEILI_SEARCH_API_KEY_UID, or looked up on MEILI_URL
    with MEILI_MASTER_KEY. The filter names the customer's tag, keyed with PIM_SECRET_KEY as the documents'
    are (channels.search_documents.customer_tag): make tokens with the publisher's PIM_SECRET_KEY."""
    from channels.search import tenant_search_rules
    from exporters.meilisearch import MeiliConfig, search_api_key, tenant_token
    from pim.pipeline import default_scope
    from pim.store import Store

    store = Store.from_settings()
    if not force:
        _check_customer(store, customer)
    scope = scope or default_scope(store.structure())
    key, uid = search_api_key(MeiliConfig.from_env())
    rules = tenant_search_rules(scope, customer)
    expires = datetime.now(UTC) + timedelta(seconds=expires_in) if expires_in else None
    jwt = tenant_token(key, uid, rules, expires)
    if as_json:
        emit_json({"token": jwt, "customer": customer, "searchRules": rules, "apiKeyUid": uid,
                   "expiresAt": expires.isoformat() if expires else None})
        return
    console.print(jwt, highlight=False, soft_wrap=True)


def _check_customer(store: Any, customer: str) -> None:
    """Refuse a code the index's tenant field never holds (pim.portal_people.check_customer's refusal): the
    contracts' provider (pim.contracts.contract_customers) names contract customers, or, while there are no
    contracts, customers with a price-list entry. Another provider (channels.search.CUSTOMERS_PROVIDER)
    decides alone: nothing to check against."""
    import channels.search as search
    from pim.contracts import get_contracts
    from pim.portal_people import check_customer

    if search.CUSTOMERS_PROVIDER != search.CONTRACTS_PROVIDER:
        return
    try:
        check_customer(store, customer)
    except InputError:
        if get_contracts(store) or not _has_prices(store, customer):
            raise


def _has_prices(store: Any, customer: str) -> bool:
    from sqlalchemy import select

    from pim.commerce import PRICE

    with store.engine.connect() as conn:
        return conn.execute(select(PRICE.c.customer).where(PRICE.c.customer == customer).limit(1)).first() is not None


@app.command("drop")
def drop(
    channel: str = typer.Option(..., "--channel", help="The structure channel whose indexes go."),
    locale: str = typer.Option(None, "--locale", help="Only this locale's index (default: every locale's)."),
    target: str = typer.Option(None, "--target", help="Only this target: a Meilisearch URL or an output folder "
                                                      "(default: every target the channel was pushed to)."),
    yes: bool = typer.Option(False, "--yes", help="Drop without asking first."),
    as_json: bool = JsonOption,
) -> None:
    """Delete a channel's search indexes (<prefix>_<channel>_<locale>) where its pushes went, then forget
    those pushes, so the channel or one of its locales can leave (the channels page names this command).

    At a Meilisearch target each index is deleted and its task awaited (MEILI_MASTER_KEY); at an output
    folder the files the push wrote there are removed. An index already gone is no error. With --locale only
    that locale's push state is forgotten: the next push rebuilds its index (while the channel has the locale)
    and stays incremental for the others. --target also reaches a target no push state names any more (its
    prefix: MEILI_INDEX_PREFIX)."""
    from channels.search import forget
    from pim.store import Store

    store = Store.from_settings()
    chosen = _targets(store, channel, target)
    if not chosen:
        if as_json:
            emit_json({"channel": channel, "locale": locale, "targets": []})
        else:
            console.print(f"No search target holds {channel}'s indexes: nothing to drop.", highlight=False)
        return
    locales = [locale] if locale else _locales(store.structure(), channel)
    if not yes:
        if as_json:
            raise InputError("pim search drop --json does not ask before deleting", hint="add --yes to drop the indexes")
        for t in chosen:
            console.print(f"{t.where}: {', '.join(t.index(loc) for loc in locales)}", highlight=False)
        typer.confirm(f"Delete {channel}'s indexes there and forget those pushes?", abort=True)
    done = []
    for t in chosen:
        dropped = _drop_at(t.where, [t.index(loc) for loc in locales])
        forget(store, f"{t.where}|{t.prefix}|{t.scope}", locale)  # after the indexes: a failed drop is run again
        done.append({"target": t.where, "prefix": t.prefix, "dropped": dropped})
    if as_json:
        emit_json({"channel": channel, "locale": locale, "targets": done})
        return
    for d in done:
        said = ", ".join(d["dropped"]) or "no index was there any more"
        whose = f"the push state of its {locale} index is" if locale else "its push state is"
        console.print(f"{d['target']}: deleted {said}; {whose} forgotten.", highlight=False)
    console.print(_after(store, channel, locale, [t.where for t in chosen]), highlight=False)


@app.command("mark-loaded")
def mark_loaded(
    folder: Path = typer.Option(None, "--folder", help="The output folder whose search/ holds the payloads "
                                                        "(default: PIM_OUTPUT, else PIM_HOME/out)."),
    yes: bool = typer.Option(False, "--yes", help="Mark them without asking first."),
    as_json: bool = JsonOption,
) -> None:
    """Mark the search payloads of an output folder (publishes without MEILI_URL) as loaded, after loading them
    with other tooling than load.sh.

    It does what load.sh does once all is loaded: search/manifest.json and search/pending/ go, so the next
    publish replaces the files instead of keeping them aside (else pending/ grows with every publish). Nothing
    is sent to Meilisearch: payloads not loaded in fact are lost (publish with --full to rebuild). Exit codes:
    0 marked (or nothing to mark), 2 no search output in the folder, --json without --yes, or the runs changed
    while it asked (nothing marked)."""
    from exporters.meili_embedded import mark_loaded as mark, pending_bytes, unloaded
    from pim.settings import get_settings

    folder = (folder or get_settings().output_dir).resolve()
    if not (folder / "search").is_dir():
        raise InputError(f"{folder} has no search/ folder: no search publish wrote its payloads there",
                         field="--folder", hint="name the output folder a publish without MEILI_URL wrote to")
    runs = unloaded(folder)
    size = pending_bytes(folder)
    report = {"folder": str(folder), "marked": bool(runs), "runs": runs or [], "pending_bytes": size}
    if not runs:
        if as_json:
            emit_json(report)
        else:
            console.print(f"Nothing to mark: {folder / 'search'} has no manifest.json, so its payloads count as "
                          "loaded already.", highlight=False)
        return
    if not yes:
        if as_json:
            raise InputError("pim search mark-loaded --json does not ask first", hint="add --yes to mark them loaded")
        for r in runs:
            console.print(f"job {r['job']} ({r['written_at']}): {', '.join(r['indexes']) or 'no index'}",
                          highlight=False)
        typer.confirm(f"Mark these {len(runs)} publish(es) loaded (only if Meilisearch has them), removing "
                      f"{size / 1e6:.1f} MB under pending/?", abort=True)
    if not mark(folder, runs):
        raise InputError(f"{folder / 'search'} changed after its runs were listed (a publish, load.sh or `pim "
                         "search drop` wrote there meanwhile), so what was listed is no longer what would be "
                         "marked: nothing was marked",
                         hint=f"run `pim search mark-loaded --folder {folder}` again to see the runs not loaded now")
    if as_json:
        emit_json(report)
        return
    console.print(f"{folder / 'search'}: {len(runs)} publish(es) marked loaded ({size / 1e6:.1f} MB under pending/ "
                  "removed); the next publish replaces the files instead of keeping them aside.", highlight=False)


def _targets(store: Any, channel: str, target: str | None) -> list[Any]:
    """The targets to drop at: those the channel's pushes recorded (pim.channel_usage.search_targets), or
    the one --target names, recorded or not (a drop forgot it, a restored database never had it)."""
    from channels.search import index_prefix
    from pim.channel_usage import SearchTarget, search_targets

    with store.engine.connect() as conn:
        known = search_targets(conn, channel)
    if target is None:
        return known
    where = _where(target)
    return [t for t in known if t.where == where] or [SearchTarget(where, index_prefix(), channel)]


def _where(given: str) -> str:
    """A --target as the push records it: "meili:<url>" or "files:<absolute folder>"."""
    if given.startswith(("meili:", "files:")):
        kind, _, rest = given.partition(":")
        return f"meili:{rest.rstrip('/')}" if kind == "meili" else f"files:{Path(rest).resolve()}"
    if given.startswith(("http://", "https://")):
        return "meili:" + given.rstrip("/")
    return f"files:{Path(given).resolve()}"


def _locales(s: Any, channel: str) -> list[str]:
    """Every locale `channel` may have an index for: its own, then any other declared or used one (an index
    of a locale removed some other way is still this channel's: `<prefix>_<channel>_<locale>`)."""
    own = list(s.channels[channel].locales) if channel in s.channels else []
    others = {*s.locales, *(loc for ch in s.channels.values() for loc in ch.locales)} - set(own)
    return own + sorted(others)


def _drop_at(where: str, uids: list[str]) -> list[str]:
    """Delete `uids` at one target; the indexes (or index folders) that were there."""
    from exporters.meilisearch import MeiliConfig, drop_embedded, drop_indexes

    kind, _, rest = where.partition(":")
    if kind == "meili":
        cfg = MeiliConfig.from_env()
        cfg.url = rest
        return drop_indexes(cfg, uids)
    if kind == "files":
        return drop_embedded(Path(rest), uids)
    raise InputError(f"unknown search target {where}", hint="a target is meili:<url> or files:<folder>")


def _after(store: Any, channel: str, locale: str | None, dropped_at: list[str]) -> str:
    """What the drop made possible, or which targets still hold the channel's indexes."""
    from pim.channel_usage import search_targets

    with store.engine.connect() as conn:
        left = [t.where for t in search_targets(conn, channel) if locale is None or t.holds(locale)]
    what = f"{channel}'s {locale} index" if locale else f"{channel}'s indexes"
    if left:
        return f"{', '.join(left)} still hold{'s' if len(left) == 1 else ''} {what} (not named by --target)."
    if locale:
        return (f"{locale} can leave {channel} now. The next push to {', '.join(dropped_at)} rebuilds a {locale} "
                f"index only while {channel} has {locale}, and stays incremental for the other indexes recorded there.")
    return f"No search target holds {channel}'s indexes now: the channel can be deleted."
