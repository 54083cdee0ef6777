"""What the UI shows from other areas: completeness and the gate report (pim.completeness), conflicts
(pim.conflicts), media upload (media/, found by registry string). Each is optional: when its module is not
there, its panel is hidden rather than broken."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from pim.registry import load


def _module(name: str) -> Any:
    try:
        return import_module(name)
    except ImportError:
        return None


def tables() -> Any:
    """pim.scoring_tables (completeness, gate decisions), or None."""
    return _module("pim.scoring_tables")


def completeness(store: Any, identifier: str) -> list[dict[str, Any]] | None:
    mod = _module("pim.completeness")
    if mod is None or not hasattr(mod, "stored_completeness"):
        return None
    return mod.stored_completeness(store, identifier)


def gate_report(store: Any, channel: str, locale: str | None = None, todo_limit: int | None = 100) -> Any:
    """The channel's gate report with its `todo_limit` largest to-do items (None: all of them), or None when
    completeness is not installed. A locale the channel does not publish is a ConfigError (pim.completeness)."""
    mod = _module("pim.completeness")
    if mod is None or not hasattr(mod, "report"):
        return None
    return mod.report(store, channel, locale, todo_limit=todo_limit)


def gate_decision(store: Any, identifier: str) -> list[dict[str, Any]]:
    t = tables()
    if t is None or not hasattr(t, "GATE_DECISION"):
        return []
    from sqlalchemy import select

    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(t.GATE_DECISION).where(t.GATE_DECISION.c.product == identifier))]


def conflicts(store: Any, identifier: str, parent: str | None = None) -> list[Any] | None:
    """Open conflicts of the product and of the models it inherits from (their identifier is `model:<code>`)."""
    mod = _module("pim.conflicts")
    if mod is None:
        return None
    return [_readable(c) for c in mod.conflicts_of_product(store, identifier, parent) if c.status == "open"]


def _readable(conflict: Any) -> Any:
    """An association type's conflict (`associations:<TYPE>`) with each claim as the line of targets the history
    shows (`b ×2, model m, group g`) instead of its stored form; a value's as it is."""
    from dataclasses import replace
    from types import SimpleNamespace

    from pim.association_claims import type_of_key
    from pim.product import trusted_association
    from pim.web.editing import ASSOCIATION_KEY, shown_of

    kind = type_of_key(conflict.value_key)
    if kind is None:
        return conflict
    return replace(conflict, claims={source: shown_of(SimpleNamespace(associations={kind: trusted_association(claim)}),
                                                      ASSOCIATION_KEY + kind) for source, claim in conflict.claims.items()})


def other_values(store: Any, identifier: str, parent: str | None = None) -> dict[str, Any]:
    """target (the product or `model:<code>`) → value key → losing claims kept for it (pim.conflicts)."""
    mod = _module("pim.conflicts")
    if mod is None or not hasattr(mod, "other_values"):
        return {}
    return mod.other_values(store, identifier, parent)  # type: ignore[no-any-return]


def use_other_value(store: Any, identifier: str, parent: str | None, target: str, key: str, source: str, by: str,
                    log: Any = None) -> None:
    mod = _module("pim.conflicts")
    if mod is None or not hasattr(mod, "use_other_value"):
        raise NotImplementedError("candidates are not available in this installation")
    mod.use_other_value(store, identifier, parent, target, key, source, by=by, log=log)


def resolve_conflict(store: Any, identifier: str, key: str, source: str, by: str, log: Any = None) -> Any:
    mod = _module("pim.conflicts")
    if mod is None:
        return None
    return mod.resolve_conflict(store, identifier, key, source, by=by, log=log)


def media_available() -> bool:
    return _module("media.ingest") is not None and _module("media.storage") is not None


def upload_media(store: Any, data: bytes, name: str) -> dict[str, Any]:
    """Ingest uploaded bytes through media/; returns its result row (sha256, status, problem)."""
    asset_store = load("media.storage:open_asset_store")()
    return load("media.ingest:ingest_bytes")(store, data, name, asset_store=asset_store, source="upload")


def deliveries(store: Any, limit: int = 50) -> list[dict[str, Any]] | None:
    """Feed deliveries, if the feeds area's delivery log exists."""
    from sqlalchemy import MetaData, Table, select
    from sqlalchemy.exc import NoSuchTableError

    for name in ("feed_delivery", "delivery_log", "delivery"):
        try:
            table = Table(name, MetaData(), autoload_with=store.engine)
        except NoSuchTableError:
            continue
        order = table.c.id.desc() if "id" in table.c else list(table.c)[0]
        with store.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(table).order_by(order).limit(limit))]
    return None
