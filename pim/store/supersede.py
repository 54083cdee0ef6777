"""Closing quarantine entries that a newer judgement replaced.

A rejected row is judged again on every run of its file: rows never get a source fingerprint while they are
rejected, so nothing skips them. So once a run of a file is through, every row of it that is still wrong has a
new entry, and an older open entry is either repeated by a new one, about a row that was fixed, or about a row
that is gone. Those older entries are closed and marked `superseded_by` the run, so `pim import errors` lists
each problem once and an entry that names no record (an empty SKU, a row too broken to key) does not stay open
for ever. Entries of severity `problem` (a value left out of a record taken in) go the same way by file: the
records taken in (or skipped as unchanged) have all their open entries of the source closed by
`Store.resolve_quarantine`, and the run notes the problems that still hold again (pim.importing), so an older
problem of the file still open after a run is about a record that left the file, and is closed with it.

A missing-axis problem (pim.variant_levels) is also closed by any write that fills the axis, whatever its
source (`close_gaps`): the record no longer lacks the value. It was fixed, not replaced, so it is closed as
resolved, like a clean import's entries, and names no job.

A clean import of a record judges only what it carried: a rejection naming a field (a price cell of a filled
to-do sheet) stays open when a later clean record of the source leaves that field out (a content file of texts),
as the product still lacks what was rejected (`held_open`). So does a partial record with problems of its source
about topics it did not restate (`ABOUT`, `Carried.holds_problem`): a BMEcat T_UPDATE_PRICES closes its catalog's
price problems, not those about its features or references."""

from __future__ import annotations

from collections.abc import Callable, Collection, Container, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, and_, or_, select, update

from pim.product import split_key
from pim.store.tables import JobRow, QuarantineRow

JOB: Table = JobRow.__table__  # type: ignore[assignment]
QUARANTINE: Table = QuarantineRow.__table__  # type: ignore[assignment]

#: Severities a run reports again whenever they still hold: a newer entry replaces an older one.
REPEATED = ("rejected", "warning")
#: Severities every run of a file judges again for each of its rows: what an earlier run of it left open is
#: about a row that is gone once this one is through (warnings may be about the whole file: they stay).
JUDGED_AGAIN = ("rejected", "problem")


#: The kind of a missing-axis problem (pim.importing notes it, QuarantineRow.kind): other problems of a record
#: may name the same field (a BMEcat feature left out), and a value filling the axis fixes none of them.
MISSING_AXIS = "missing_axis"
#: The kind prefix of a problem about one topic of a record (an attribute code, `prices`, `associations`): a
#: partial record (a BMEcat T_UPDATE_PRICES) closes only those about what it restates (`Carried.holds_problem`).
ABOUT = "about:"
#: The key of a partial record's `raw` (pim.importing.Parsed) listing the topics it restates (`Carried.restates`).
RESTATES = "_restates"
#: The longest record key an entry keeps (Store.quarantine clips longer ones so, with an ellipsis).
_KEY_LENGTH = 255


def close_gaps(conn: Connection, filled: Mapping[str, Collection[str]], detached: Collection[str],
               axes: Collection[str], stamp: datetime) -> int:
    """Close the open missing-axis problems of `filled` (axis → the record keys a write gave a value of it) and
    of `detached` (record keys a write took from under their model: no axis is missing any more), from every
    source, as resolved at `stamp`. One statement on the record key index; returns how many. Only missing-axis
    problems are of kind MISSING_AXIS, so the severity is not asked: SQLite, which keeps no statistics here,
    would otherwise walk every problem by the severity index."""
    groups = [and_(QUARANTINE.c.field == axis, QUARANTINE.c.record_key.in_(_clip(keys)))
              for axis, keys in sorted(filled.items()) if keys]
    if detached and axes:
        groups.append(and_(QUARANTINE.c.field.in_(sorted(axes)), QUARANTINE.c.record_key.in_(_clip(detached))))
    if not groups:
        return 0
    return conn.execute(
        update(QUARANTINE)
        .where(or_(*groups), QUARANTINE.c.resolved_at.is_(None), QUARANTINE.c.kind == MISSING_AXIS)
        .values(resolved_at=stamp)).rowcount or 0


#: A record's fields besides its values that a rejection may name and a partial record may leave out
#: (pim.product): held open as a value's attribute is (`Carried`).
STRUCTURAL = frozenset({"family", "family_variant", "categories", "enabled", "parent", "groups", "associations"})


@dataclass(frozen=True)
class Carried:
    """What a batch's clean records carried (pim.importing): `fields(key)` the attribute codes and STRUCTURAL
    fields the record of a key set, asked only for keys an open rejection names a field of; `attributes` the
    structure's attribute codes. A field naming neither (a file's column, an XML path, the identifier) is not
    matched to what a record carries: a clean import closes it, as it closes a whole-row rejection."""

    fields: Callable[[str], Collection[str]]
    attributes: Container[str]
    #: The topics (ABOUT kinds without the prefix) a partial record of a key restates, None for a whole one
    #: (`holds_problem`): a price-only update restates prices, not the features its catalog had problems with.
    restates: Callable[[str], Collection[str] | None] = lambda key: None

    def holds_problem(self, key: str, kind: str | None) -> bool:
        """Whether an open problem of `kind` about the record of `key` stays open: it names a topic (`ABOUT`) its
        clean record is partial about and did not restate. A whole record closes every problem, as before."""
        if not kind or not kind.startswith(ABOUT):
            return False
        restated = self.restates(key)
        return restated is not None and kind.removeprefix(ABOUT) not in restated

    def carries(self, key: str, field: str) -> bool:
        """Whether the clean record of `key` judged again the field a rejection of it names."""
        name = field_name(field)
        if name not in STRUCTURAL and name not in self.attributes:
            return True
        return name in self.fields(key)


def field_name(field: str) -> str:
    """The attribute or record field a rejection's `field` is about, however the importer wrote it: a value key
    (`name:de_DE`, a sheet's column), a model's error path (`values.price`, `categories.0`), a JSON path
    (`name.en_US`)."""
    attribute = split_key(field.removeprefix("values."))[0]
    return attribute.split(".", 1)[0].split("[", 1)[0]


def held_open(conn: Connection, source: str, keys: Mapping[str, str], where: Collection[Any],
              carried: Carried) -> list[int]:
    """The ids of the open rejections by `source` of `keys` (as entries clip them → as the batch names them) that
    name a field their clean record did not carry (`Carried`), and of its open problems about a topic a partial
    record did not restate (`Carried.holds_problem`), among entries matching `where` too: one query per
    batch. It asks the record key's index only (source and severity are told here): SQLite, which keeps no
    statistics here, would otherwise walk every open entry of the source, five times slower with 45,000 open."""
    rows = conn.execute(select(QUARANTINE.c.id, QUARANTINE.c.source, QUARANTINE.c.severity, QUARANTINE.c.record_key,
                               QUARANTINE.c.field, QUARANTINE.c.kind)
                        .where(QUARANTINE.c.record_key.in_(list(keys)), QUARANTINE.c.resolved_at.is_(None),
                               QUARANTINE.c.field.is_not(None), *where))
    return [n for n, of, severity, key, field, kind in rows if of == source and field and (
        (severity == "rejected" and not carried.carries(keys.get(key, key), field))
        or (severity == "problem" and carried.holds_problem(keys.get(key, key), kind)))]


def _clip(keys: Collection[str]) -> list[str]:
    """Record keys as entries hold them (a model's `model:<code>` may pass the column's length)."""
    return sorted({k if len(k) <= _KEY_LENGTH else k[:_KEY_LENGTH - 1] + "…" for k in keys})


def _close(conn: Connection, job_id: int, stamp: datetime, column: Any, values: list[Any], *where: Any) -> int:
    """Close, as superseded by job `job_id`, the open entries of other jobs matching `where` whose `column` is
    one of `values` (1,000 at a time); returns how many."""
    closed = 0
    for start in range(0, len(values), 1000):
        closed += conn.execute(
            update(QUARANTINE)
            .where(column.in_(values[start:start + 1000]), *where, QUARANTINE.c.resolved_at.is_(None),
                   or_(QUARANTINE.c.job_id.is_(None), QUARANTINE.c.job_id != job_id))
            .values(resolved_at=stamp, superseded_by=job_id)).rowcount or 0
    return closed


def _started(conn: Connection, job_id: int) -> datetime | None:
    return conn.execute(select(JOB.c.started_at).where(JOB.c.id == job_id)).scalar()


def supersede_records(conn: Connection, job_id: int, rows: list[dict[str, Any]], stamp: datetime) -> int:
    """Close the older open entries of the records `rows` (quarantine rows job `job_id` just wrote) name again,
    by source, record key and severity: the newest judgement of a record by a source is the one that stands,
    as a clean import of it closes its entries from every file."""
    groups: dict[tuple[str, str], set[str]] = {}
    for r in rows:
        if r["record_key"] and r["severity"] in REPEATED:
            groups.setdefault((r["source"], r["severity"]), set()).add(r["record_key"])
    return sum(_close(conn, job_id, stamp, QUARANTINE.c.record_key, sorted(keys), QUARANTINE.c.source == source,
                      QUARANTINE.c.severity == severity) for (source, severity), keys in groups.items())


def supersede_files(conn: Connection, job_id: int, source: str, files: Iterable[str], stamp: datetime) -> int:
    """After job `job_id` of `source` read `files` (by the names entries give them) through: close the open
    rejections and problems of those files recorded before the job started, and, for an upload, those of the
    earlier uploads of the same file (`earlier_uploads`)."""
    names = sorted({f for f in files if f})
    started = _started(conn, job_id)
    if started is None:
        return 0
    judged = QUARANTINE.c.severity.in_(JUDGED_AGAIN)
    closed = _close(conn, job_id, stamp, QUARANTINE.c.file, names, QUARANTINE.c.source == source, judged,
                    QUARANTINE.c.created_at < started)
    return closed + _close(conn, job_id, stamp, QUARANTINE.c.job_id, earlier_uploads(conn, job_id), judged,
                           QUARANTINE.c.created_at < started)


#: What makes two uploads the same file: the name it was uploaded under, the importer and its profile (the
#: keys pim.upload_imports.enqueue puts in the job's payload).
UPLOAD_IDENTITY = ("name", "importer", "options")


def earlier_uploads(conn: Connection, job_id: int) -> list[int]:
    """The import jobs of earlier uploads of the same file as job `job_id`, when it is an upload's. Each
    upload is kept under a name of its own, so a file's runs are told by UPLOAD_IDENTITY instead."""
    mine = conn.execute(select(JOB.c.payload).where(JOB.c.id == job_id)).scalar() or {}
    if not mine.get("name") or not mine.get("importer"):
        return []
    rows = conn.execute(select(JOB.c.id, JOB.c.payload).where(
        JOB.c.kind == "import", JOB.c.id != job_id, JOB.c.source.startswith(f"{mine['importer']}:", autoescape=True)))
    return sorted(i for i, payload in rows if all((payload or {}).get(k) == mine.get(k) for k in UPLOAD_IDENTITY))
