"""The conflict log: a value on which two sources that both own its attribute disagree. The merge writes it;
the UI lists it (`open_conflicts`) and picks a winner (`resolve_conflict`); the quality scorer counts it.

One row per product × value key. `claims` holds the winner's value and those of the owning sources that disagree
with it (source → value; pim.merge.conflict_of, whether an import or a pick writes the row); `winner` is the
source whose value the product shows. A picked winner is *pinned*: later imports keep it winning until someone
picks again or unpins it (`unpin`), and if the claims change the row reopens so a person looks at it again. A
pick no owner disagrees with is a pin on a settled row; `listed_conflicts(status=PINNED)` lists every pin. The pin ends
when its source withdraws its claim on the key (an empty value: `pim import withdraw`, a BMEcat delete or a
T_NEW_CATALOG that no longer sends it, an emptied cell), as an association pick's does: the pick was of that
value, so precedence decides again and the source's next claim ranks as any other (pim.merge.MergeOutcome).

An association type two owners claim differently is a row too, under the key `associations:<TYPE>`
(pim.association_claims, whose claims it holds): picking, resolving and unpinning it go through the association
pick, so the product page's "Show this", the API's association pick and this log agree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, String, Table, and_, func, or_, select
from sqlmodel import Field, SQLModel

from pim.errors import InputError
from pim.store import Store
from pim.store.tables import JSONType

OPEN = "open"  # disagreement nobody has looked at (or that changed since it was resolved)
RESOLVED = "resolved"  # a person picked the winner (`pinned`)
SETTLED = "settled"  # the sources agree again, or one of them withdrew its value
PINNED = "pinned"  # not a status: what a list asks for to get every row a person's pick pins, whatever its status
LISTED = (OPEN, RESOLVED, PINNED)  # what `pim import conflicts --status` and the API's ?status= take


class ConflictRow(SQLModel, table=True):
    __tablename__ = "value_conflict"

    identifier: str = Field(sa_column=Column(String(255), primary_key=True))
    value_key: str = Field(sa_column=Column(String(400), primary_key=True))
    attribute: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    winner: str = Field(sa_column=Column(String(100), nullable=False))
    claims: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    status: str = Field(sa_column=Column(String(20), nullable=False, index=True))
    pinned: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    resolved_by: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    detected_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))


CONFLICT: Table = ConflictRow.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Conflict:
    identifier: str
    value_key: str
    attribute: str
    winner: str
    claims: dict[str, Any]
    status: str
    pinned: str | None
    detected_at: datetime
    updated_at: datetime
    resolved_by: str | None = None  # who picked last (`--by`, the API's user); the pin's time is `updated_at`

    @classmethod
    def from_row(cls, row: Any) -> "Conflict":
        m = row._mapping
        return cls(m["identifier"], m["value_key"], m["attribute"], m["winner"], dict(m["claims"]), m["status"],
                   m["pinned"], m["detected_at"], m["updated_at"], m["resolved_by"])

    def listed_as(self, status: str) -> bool:
        """Whether a list of `status` (one of LISTED) holds this row, as `listed_conflicts` selects."""
        return self.pinned is not None if status == PINNED else self.status == status


def open_conflicts(store: Store, identifiers: list[str] | None = None, *, limit: int | None = None) -> list[Conflict]:
    """Conflicts that need a person: status open, by product and value key (optionally for some products only)."""
    return listed_conflicts(store, identifiers, limit=limit)


def listed_conflicts(store: Store, identifiers: list[str] | None = None, *, status: str = OPEN,
                     limit: int | None = None, after: tuple[str, str] | None = None) -> list[Conflict]:
    """The rows of `status` (OPEN, RESOLVED, or PINNED: every row a pick pins, whatever its status) by product
    and value key, optionally of some products only; `limit` and `after` (the last row's identifier and value
    key) page through them by keyset, so rows picked (and leaving the list) while paging make none skipped."""
    q = _where(select(CONFLICT), identifiers, status).order_by(CONFLICT.c.identifier, CONFLICT.c.value_key)
    if limit:
        q = q.limit(limit)
    if after is not None:
        q = q.where(or_(CONFLICT.c.identifier > after[0],
                        and_(CONFLICT.c.identifier == after[0], CONFLICT.c.value_key > after[1])))
    with store.engine.connect() as conn:
        return [Conflict.from_row(r) for r in conn.execute(q)]


def count_conflicts(store: Store, identifiers: list[str] | None = None, *, status: str = OPEN) -> int:
    """How many rows `listed_conflicts` would list without a limit (for "N of M shown")."""
    with store.engine.connect() as conn:
        return conn.execute(_where(select(func.count()).select_from(CONFLICT), identifiers, status)).scalar() or 0


def _where(q: Any, identifiers: list[str] | None, status: str) -> Any:
    q = q.where(CONFLICT.c.pinned.is_not(None) if status == PINNED else CONFLICT.c.status == status)
    return q if identifiers is None else q.where(CONFLICT.c.identifier.in_(identifiers))


def conflicts_for(store: Store, identifier: str) -> list[Conflict]:
    """Every conflict row of a product, whatever its status (history for the UI)."""
    q = select(CONFLICT).where(CONFLICT.c.identifier == identifier).order_by(CONFLICT.c.value_key)
    with store.engine.connect() as conn:
        return [Conflict.from_row(r) for r in conn.execute(q)]


def model_keys(store: Store, parents: list[str]) -> dict[str, list[str]]:
    """parent model code → the conflict identifiers (`model:<code>`) of it and its own parent: where a
    variant's inherited values are decided."""
    from pim.merge import MODEL_KEY
    from pim.store.store import MODEL

    codes = sorted(set(parents))
    if not codes:
        return {}
    with store.engine.connect() as conn:
        grand = dict(conn.execute(select(MODEL.c.code, MODEL.c.parent).where(MODEL.c.code.in_(codes))).all())
    return {c: [MODEL_KEY + c] + ([MODEL_KEY + grand[c]] if grand.get(c) else []) for c in codes}


def targets_of(store: Store, identifier: str, parent: str | None) -> list[str]:
    """Where a product's shown values are decided: the product itself, then (`model:<code>`) the models it
    inherits from. The only keys a page or API call about this product may touch."""
    return [identifier] + (model_keys(store, [parent]).get(parent, []) if parent else [])


def targets_of_named(store: Store, named: list[str]) -> list[str]:
    """`targets_of` for many at once: each product named, then the models it inherits from; a model named
    `model:<code>`, then its parent model (one read of the products' parents, one of the models')."""
    from pim.merge import MODEL_KEY
    from pim.store.store import PRODUCT

    skus = [n for n in dict.fromkeys(named) if not n.startswith(MODEL_KEY)]
    parents: dict[str, str | None] = {}
    if skus:
        with store.engine.connect() as conn:
            parents = dict(conn.execute(select(PRODUCT.c.identifier, PRODUCT.c.parent)
                                        .where(PRODUCT.c.identifier.in_(skus))).all())
    models = [n[len(MODEL_KEY):] for n in named if n.startswith(MODEL_KEY)] + [p for p in parents.values() if p]
    above = model_keys(store, models)
    keys: list[str] = []
    for n in named:
        keys.append(n)
        code = n[len(MODEL_KEY):] if n.startswith(MODEL_KEY) else parents.get(n)
        keys.extend(above.get(code, []) if code else [])
    return list(dict.fromkeys(keys))


def check_target(store: Store, identifier: str, parent: str | None, target: str) -> None:
    """Refuse (InputError) a pick on anything but the product or a model it inherits from."""
    if target not in targets_of(store, identifier, parent):
        raise InputError(f"'{target}' is neither {identifier} nor a model it inherits from", field="target",
                         hint="leave the target out for the product itself")


def conflicts_of_product(store: Store, identifier: str, parent: str | None) -> list[Conflict]:
    """The product's own conflict rows, then those of the models it inherits from."""
    keys = targets_of(store, identifier, parent)
    q = select(CONFLICT).where(CONFLICT.c.identifier.in_(keys)).order_by(CONFLICT.c.identifier, CONFLICT.c.value_key)
    with store.engine.connect() as conn:
        rows = [Conflict.from_row(r) for r in conn.execute(q)]
    return sorted(rows, key=lambda c: (c.identifier != identifier, c.identifier, c.value_key))


def count_open_conflicts(store: Store, identifiers: list[str]) -> dict[str, int]:
    """identifier → number of open conflicts (for the quality scorer)."""
    out: dict[str, int] = {}
    for c in open_conflicts(store, identifiers):
        out[c.identifier] = out.get(c.identifier, 0) + 1
    return out


def resolve_conflict(store: Store, identifier: str, value_key: str, source: str, *, by: str = "ui",
                     log: Any = None) -> Conflict:
    """Pick `source`'s value as the winner of a conflict and pin it. The product is rewritten in one
    transaction with the candidates and the log (and `log`, a pim.merge.RecordHook: the history row), so
    what the UI shows and what publishes agree; the conflict and its claims are checked in it too."""
    from pim.merge import pick_winner

    if _association_type(value_key) is not None:
        return _pick_association(store, identifier, value_key, source, by=by, log=log, recorded=True)[0]
    pick_winner(store, identifier, value_key, source, by=by, log=log, recorded=True)
    return _logged(store, identifier, value_key)  # type: ignore[return-value]


def _association_type(value_key: str) -> str | None:
    from pim.association_claims import type_of_key

    return type_of_key(value_key)


def _pick_association(store: Store, identifier: str, value_key: str, source: str, *, by: str, log: Any,
                      recorded: bool = False) -> tuple[Conflict, bool]:
    """A conflict's (or, unless `recorded`, any claiming source's) association shown and pinned by the
    association pick; returns the row as it leaves it and whether the source was not among the row's claims."""
    from pim.association_claims import pick

    logged = _logged(store, identifier, value_key)
    if recorded and logged is None:
        raise InputError(f"no conflict recorded for {identifier} {value_key}", field=value_key,
                         hint="reload the page: an import may have settled it")
    if recorded and source not in logged.claims:  # type: ignore[union-attr]
        raise InputError(f"'{source}' is not one of the claims of {identifier} {value_key}", field=value_key,
                         hint=f"pick one of: {', '.join(sorted(logged.claims))}")  # type: ignore[union-attr]
    pick(store, identifier, value_key.partition(":")[2], source, by=by, log=log)
    return _logged(store, identifier, value_key), logged is None or source not in logged.claims  # type: ignore[return-value]


def pick_claim(store: Store, identifier: str, value_key: str, source: str, *, by: str,
               log: Any = None) -> tuple[Conflict, bool]:
    """`pim import resolve`: a conflict's claim (`resolve_conflict`), or a kept candidate of a source the log
    does not name for the key (one that does not own the attribute is never in a conflict) picked as the product
    page and the API's candidates route pick it (`use_other_value`). Returns the row as the pick leaves it and
    whether a kept candidate was picked."""
    from pim.merge import candidates_for

    if _association_type(value_key) is not None:
        return _pick_association(store, identifier, value_key, source, by=by, log=log)
    logged = _logged(store, identifier, value_key)
    kept = candidates_for(store, identifier).get(value_key, {})
    if (logged is None or source not in logged.claims) and source in kept:
        use_other_value(store, identifier, None, identifier, value_key, source, by=by, log=log)
        return _logged(store, identifier, value_key), True  # type: ignore[return-value]
    if logged is None and kept:
        raise InputError(f"'{source}' has no value for {identifier} {value_key}, and no conflict is recorded for it",
                         field=value_key, hint=f"pick one of the values kept: {', '.join(sorted(kept))}")
    return resolve_conflict(store, identifier, value_key, source, by=by, log=log), False


def unpin(store: Store, identifier: str, value_key: str, *, by: str, log: Any = None) -> tuple[Conflict, str]:
    """`pim import resolve SKU KEY --unpin`: undo a pick (pim.merge.unpin_winner). Returns the row as it leaves
    it (open again when owners still disagree, else settled) and the source whose value shows now."""
    from pim.association_claims import unpin as unpin_association
    from pim.merge import unpin_winner
    from pim.product import source_of

    kind = _association_type(value_key)
    if kind is not None:
        shows = unpin_association(store, identifier, kind, by=by, log=log)
        row = _logged(store, identifier, value_key)
        if row is None:  # a pick made before the log kept associations, that no owner disputes: nothing logged
            at = datetime.now(UTC)
            row = Conflict(identifier, value_key, "associations", shows, {}, SETTLED, None, at, at)
        return row, shows
    record = unpin_winner(store, identifier, value_key, by=by, log=log)
    return _logged(store, identifier, value_key), source_of(record.provenance_of(value_key))  # type: ignore[return-value]


def _logged(store: Store, identifier: str, value_key: str) -> Conflict | None:
    with store.engine.connect() as conn:
        row = conn.execute(select(CONFLICT).where(CONFLICT.c.identifier == identifier,
                                                  CONFLICT.c.value_key == value_key)).first()
    return Conflict.from_row(row) if row is not None else None


@dataclass(frozen=True)
class OtherValue:
    """A losing claim on a value the product shows: `target` is the product or the model (`model:<code>`)
    the value is decided on, so a variant page can offer the candidates of an inherited value too."""

    target: str
    value_key: str
    source: str
    value: Any
    ref: str | None
    at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "value_key": self.value_key, "source": self.source, "value": self.value,
                "ref": self.ref, "at": self.at.isoformat() if self.at else None}


def other_values(store: Store, identifier: str, parent: str | None) -> dict[str, dict[str, list[OtherValue]]]:
    """target → value key → the losing claims kept for it, for the product and the models it inherits from
    (one query). The UI picks the target a row's value comes from."""
    from pim.merge import load_candidates

    with store.engine.connect() as conn:
        stored = load_candidates(conn, targets_of(store, identifier, parent))
    out: dict[str, dict[str, list[OtherValue]]] = {}
    for target, keys in stored.items():
        for key, claims in keys.items():
            out.setdefault(target, {})[key] = sorted(
                (OtherValue(target, key, source, c.value, c.prov.ref if c.prov else None, c.prov.at if c.prov else None)
                 for source, c in claims.items()), key=lambda o: o.source)
    return out


def use_other_value(store: Store, identifier: str, parent: str | None, target: str, value_key: str, source: str,
                    *, by: str, log: Any = None) -> None:
    """Make a kept candidate the shown value and pin it, as picking a conflict's winner does. `target` must be
    the product or a model it inherits from, so a page cannot reach another product's values."""
    from pim.merge import pick_winner

    check_target(store, identifier, parent, target)
    claims = other_values(store, identifier, parent).get(target, {}).get(value_key, [])
    if not any(o.source == source for o in claims):
        raise InputError(f"'{source}' has no other value for {value_key} on {target}", field=value_key,
                         hint="reload the page: an import may have changed the candidates")
    pick_winner(store, target, value_key, source, by=by, log=log)
