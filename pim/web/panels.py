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
    """The product's stored scores; each row's `why` says, for a missing image, why its value does not count
    ("image not uploaded", "image too small for ecommerce (120×120 < 500×500)"), so the page does not just say
    "missing" next to a field that shows a value."""
    mod = _module("pim.completeness")
    if mod is None or not hasattr(mod, "stored_completeness"):
        return None
    rows = mod.stored_completeness(store, identifier)
    for row in rows:
        row["why"] = {}
    if any(row["missing"] for row in rows):
        _image_reasons(store, identifier, rows)
    return rows


def _image_reasons(store: Any, identifier: str, rows: list[dict[str, Any]]) -> None:
    """Fill the rows' `why` for missing image/file attributes whose value is set (media.channel_rules)."""
    rules = _module("media.channel_rules")
    product = store.get_product(identifier)
    if rules is None or product is None:
        return
    from pim.product import value_key
    from pim.quality import inherited
    from pim.structure import AttributeType
    from pim.structure_cache import cached_structure

    with store.engine.connect() as conn:
        s = cached_structure(conn)
    values = inherited(store, [product])[identifier]
    for row in rows:
        wanted: dict[str, str] = {}
        for code in row["missing"]:
            attr = s.attributes.get(code)
            if attr is None or attr.type not in (AttributeType.image, AttributeType.file):
                continue
            ref = values.get(value_key(code, row["locale"] if attr.localizable else None,
                                       row["channel"] if attr.scopable else None))
            if isinstance(ref, str) and ref:
                wanted[code] = ref
        if wanted:
            why = rules.why_not_counted(store, set(wanted.values()), row["channel"])
            row["why"] = {code: why[ref] for code, ref in wanted.items() if ref in why}


def gate_report(store: Any, channel: str, locale: str | None = None, todo_limit: int | None = 100) -> Any:
    """The channel's gate report with its `todo_limit` largest to-do items (None: all of them), or None when
    completeness is not installed. A locale the channel does not publish is a ConfigError (pim.completeness)."""
    mod = _module("pim.completeness")
    if mod is None or not hasattr(mod, "report"):
        return None
    return mod.report(store, channel, locale, todo_limit=todo_limit)


#: to-do items the dashboard lists at first, and how many more each "show more" adds
TODO_PAGE = 100


def dashboard_report(store: Any, channel: str, locale: str | None, shown: str | None) -> Any:
    """The dashboard's gate report: its to-do lists a non-localizable attribute once with the locales it blocks,
    and `shown` (the page's `todo` parameter: a number, or "all") of its largest items, TODO_PAGE by default;
    the page says "N of TOTAL" and links to more."""
    mod = _module("pim.completeness")
    if mod is None or not hasattr(mod, "report"):
        return None
    limit: int | None = TODO_PAGE
    if shown == "all":
        limit = None
    elif shown and shown.isdigit() and int(shown) > 0:
        limit = int(shown)
    return mod.report(store, channel, locale, todo_limit=limit, merge_locales=True)


def gate_decision(store: Any, identifier: str) -> list[dict[str, Any]]:
    """Per channel, the gate's verdict on the product now (`passed`, `reasons`: decided as a publish would,
    from the stored scores) and, under `last`, the one the last publish stored with its `decided_at`: an edit
    since may have changed it, so the page labels it with its date instead of showing it as current. `notes`:
    the findings that block only where a channel names them (`rounded_price`), blocking there or not."""
    t = tables()
    if t is None or not hasattr(t, "GATE_DECISION"):
        return []
    from sqlalchemy import select

    with store.engine.connect() as conn:
        last = {r.channel: dict(r._mapping) for r in conn.execute(
            select(t.GATE_DECISION).where(t.GATE_DECISION.c.product == identifier))}
    product = store.get_product(identifier)
    if product is None:
        now, notes = {}, {}
    else:  # the product and the structure are read once for both
        from pim.structure_cache import cached_structure

        with store.engine.connect() as conn:
            s = cached_structure(conn)
        now, notes = _verdicts_now(store, s, product), _notes_by_channel(store, s, product)
    return [{"channel": ch, **now.get(ch, {"passed": None, "reasons": []}), "last": last.get(ch),
             "notes": notes.get(ch, [])} for ch in sorted(set(now) | set(last))]


def _notes_by_channel(store: Any, s: Any, product: Any) -> dict[str, list[dict[str, Any]]]:
    """channel → the product's quality notes there (quality_notes): `notes` of each gate_decision row."""
    out: dict[str, list[dict[str, Any]]] = {}
    for note in quality_notes(store, s, product):
        out.setdefault(note["channel"], []).append(note)
    return out


def _verdicts_now(store: Any, s: Any, product: Any) -> dict[str, dict[str, Any]]:
    gate = _module("pim.gate")
    if gate is None:
        return {}
    out = {}
    for channel in sorted(s.channels):
        for _, reasons in gate.evaluate(store, s, channel, [product]):
            out[channel] = {"passed": not reasons, "reasons": reasons}
    return out


def quality_notes(store: Any, structure: Any, product: Any) -> list[dict[str, Any]]:
    """Findings that block only where a channel names them (`rounded_price`), per channel, each saying whether it
    blocks there (pim.quality_notes): the gate panel shows only the blocking ones. Empty when quality is absent."""
    mod = _module("pim.quality_notes")
    return [] if mod is None else mod.quality_notes(store, structure, product)


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
    """Ingest uploaded bytes through media/ under the workspace's media.yaml (its `allowed_formats` and
    `max_pixels` refuse an upload as they refuse `pim media ingest`); returns its result row (sha256, status,
    problem). A media.yaml that cannot be read refuses the upload (503) rather than fall back to the defaults."""
    from fastapi import HTTPException

    from pim.errors import ConfigError

    try:
        media = load("media.settings:load_media_file")()
    except ConfigError as exc:
        raise HTTPException(503, f"uploads follow the workspace's media.yaml, which cannot be read ({exc}): fix it "
                                 "(schemas/media.schema.json describes it) and upload again") from exc
    asset_store = load("media.storage:open_asset_store")(media=media)
    return load("media.ingest:ingest_bytes")(store, data, name, asset_store=asset_store, media=media, source="upload")


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
