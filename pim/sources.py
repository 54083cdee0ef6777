"""Plumbing every merged source shares (ERP, supplier, content team): the profile fields that say who the
source is and what to do with records we cannot place, the supplier cross-reference (supplier + supplier
PID → SKU, GTIN as the fallback), and the text-file opening rules (encoding, BOM, empty file)."""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import IO, Annotated, Any, Literal, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import BigInteger, Column, DateTime, Index, String, Table, delete, func, select
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from pim.errors import InputError, PimError
from pim.gc_policy import bulk_allocation
from pim.importing import ImportCounts, Parsed, Rejected, file_warning, stop_if_cancelled
from pim.job_cancel import Cancelled
from pim.merge import Merger, Precedence, home_precedence_path
from pim.product import Product, Provenance
from pim.spelling import literal_hint, unknown_key
from pim.store import Store
from pim.store.store import PRODUCT, QuarantineEntry, batched, now
from pim.validation import identifier_problem

P = TypeVar("P", bound=BaseModel)


class SourceProfile(BaseModel):
    """Fields common to every source mapping profile (ERP column/XPath maps, supplier profiles, content)."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9_]+(:[A-Za-z0-9_.-]+)?$",
                        description="Provenance name, e.g. erp, content, supplier:acme.")
    unmatched: Literal["create", "quarantine"] = Field(
        default="create", description="A record whose SKU is not in the catalog: create the product or quarantine it.")
    precedence: str | None = Field(default=None, description="Precedence YAML file (relative to this profile).")


def load_profile(model: type[P], path: Path) -> P:
    """Read a YAML profile; every mistake names the file and field."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise InputError(f"cannot read the profile: {exc.strerror}", file=str(path)) from exc
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InputError(f"the profile is not valid YAML: {exc}", file=str(path)) from exc
    except ValueError as exc:  # a NUL in the path
        raise InputError(f"cannot read the profile: {exc}", file=repr(str(path))) from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # the deepest error: of a value that may be text or a rule, the rule's own field says what is wrong; at
        # one depth an unknown key before a missing one (a misspelt required key is both)
        first = max(exc.errors(), key=lambda e: (len(e["loc"]), e["type"] == "extra_forbidden"))
        where = ".".join(str(p) for p in first["loc"])
        message = unknown_key(model, first["loc"]) if first["type"] == "extra_forbidden" else literal_hint(first)
        raise InputError(f"invalid profile: {message or first['msg']}", file=str(path), field=where,
                         hint=f"see schemas/ for the {model.__name__} schema") from exc


def merger_for(profile: SourceProfile, base: Path | None, precedence: Path | None = None) -> Merger:
    """The Merger a profile asks for, by the precedence file given on the command line, else the profile's, else
    PIM_HOME/precedence.yaml when there is one (pim.merge.home_precedence_path: what people's edits and
    withdrawals merge by, so an upload or import of the grid's own sheet ranks its values as an edit of them
    does), else the default (content first). A file is checked against the structure when the Merger is bound,
    and its errors and warnings name it (`Merger.precedence_file`); the job's counts do not say which file it
    merged by."""
    chosen = precedence or (base / profile.precedence if base and profile.precedence else None)
    if chosen is None and not profile.precedence and (home := home_precedence_path()).is_file():
        chosen = home
    return Merger(Precedence.load(chosen) if chosen else None, create_missing=profile.unmatched == "create",
                  precedence_file=str(chosen) if chosen else None)


def provenance(source: str, path: Path, line: int | None, at: datetime | None = None) -> Provenance:
    return Provenance(source=source, ref=f"{path.name}:{line}" if line else path.name, at=at or datetime.now(UTC))


def job_label(importer: str, path: Path | str) -> str:
    """An import job's source as `pim import jobs` and the job pages list it: the importer's registry name
    (pim.registry.IMPORTERS: erp_csv, erp_xml, content, bmecat, supplier, jsonl, akeneo) and the file's (or
    folder's) name, the same whether the command line or an upload (pim.upload_imports.enqueue: the name it was
    uploaded under, not the one it is kept under) ran it."""
    return f"{importer}:{Path(path).name}"


# ---------------------------------------------------------------- text files
def _known_codec(name: str) -> str:
    try:
        codecs.lookup(name)
    except LookupError:
        raise ValueError(f"unknown encoding '{name}'; a Python codec name: utf-8, cp1252, latin-1, utf-16…") from None
    return name


#: A profile's file encoding, checked when the profile loads (not when the first file is opened).
Encoding = Annotated[str, AfterValidator(_known_codec)]



def open_text(path: Path, encoding: str, *, fixed: str | None = None) -> IO[str]:
    """Open a text source with its declared encoding. An empty file, an image, PDF or ZIP picked by mistake, a
    UTF-16 BOM under a byte encoding or a wrong encoding each get a clear InputError before any row is read; a
    UTF-8 BOM is skipped. Under a
    single-byte encoding (cp1252, latin-1…) a file that reads as UTF-8 is refused before the block showing it
    is decoded (`Utf8Watch`): it would be stored as mojibake. `fixed`: why the format, not the profile, sets
    the encoding ("JSON is read as UTF-8"), so the hint is to re-save the file, not to change the profile."""
    name = str(path)
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}", file=name) from exc
    if not head.strip(b" \t\r\n\xef\xbb\xbf"):
        raise InputError("the file is empty", file=name, hint="export it again; nothing was imported")
    if what := _binary_kind(head):
        kind = path.suffix.lstrip(".").upper() or "text"
        raise InputError(f"this is {what}, not a {kind} file", file=name,
                         hint=f"choose the {kind} file itself and import it again")
    codec = codecs.lookup(encoding).name
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and not codec.startswith("utf-16"):
        if fixed:
            raise InputError(f"the file starts with a UTF-16 byte order mark, but {fixed}", file=name,
                             hint="save the file as UTF-8 and import it again")
        raise InputError(f"the file starts with a UTF-16 byte order mark but the profile says {encoding}",
                         file=name, hint="set encoding: utf-16 in the profile, or export as UTF-8")
    if codec == "utf-8" and head.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    if not _one_byte_each(codec) or head.startswith(codecs.BOM_UTF8):  # the callers handle a UTF-8 BOM's file
        return path.open("r", encoding=encoding, newline="", errors="strict")
    return io.TextIOWrapper(Utf8Watch(io.FileIO(path), name, encoding), encoding=encoding, newline="",
                            errors="strict")


#: The first bytes of files picked by mistake for a text source, and what each is. A ZIP archive may be an XLSX
#: workbook, which the readers that take one tell apart (`_binary_kind`).
_BINARY_HEADS = {b"\x89PNG\r\n\x1a\n": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"GIF87a": "a GIF image",
                 b"GIF89a": "a GIF image", b"%PDF-": "a PDF document", b"PK\x03\x04": "a ZIP archive"}


def _binary_kind(head: bytes) -> str | None:
    """What a file's first bytes say it is when it is no text ("a PNG image"), else None. An XLSX's ZIP (its
    parts named in the first entries) is left alone: its own checks name it (importers.content_checks)."""
    what = next((kind for magic, kind in _BINARY_HEADS.items() if head.startswith(magic)), None)
    if what == "a ZIP archive" and (b"[Content_Types].xml" in head or b"xl/" in head):
        return None
    return what


@cache
def _one_byte_each(codec: str) -> bool:
    """Whether every byte is one character in `codec` (cp1252, latin-1, iso-8859-15, mac_roman…): there UTF-8's
    multi-byte sequences do not fail to decode, they turn into two or three characters each."""
    if codec.startswith("utf"):
        return False
    try:
        return len(bytes(range(256)).decode(codec, errors="replace")) == 256
    except (LookupError, UnicodeError):  # no text codec (rot13) or one refusing the bytes as a whole
        return False


class Utf8Watch(io.BufferedReader):
    """A file read in a single-byte encoding, each block checked before it is decoded: one holding non-ASCII
    text while everything up to it decodes cleanly as UTF-8 refuses the file. Text in cp1252 or latin-1
    practically never forms valid UTF-8 sequences (`Ã¤` pairs), so a UTF-8 file is told from it at its first
    umlaut (everything before it was ASCII, read alike in both); the first block that fails to decode as UTF-8
    ends the watch, so a file in its right encoding costs a UTF-8 decode of its blocks up to its first umlaut."""

    def __init__(self, raw: io.RawIOBase, name: str, encoding: str) -> None:
        super().__init__(raw)
        self.file, self.encoding = name, encoding
        self.utf8: codecs.IncrementalDecoder | None = codecs.getincrementaldecoder("utf-8")()
        self.lines = 0  # line breaks before the next block, while the file is ASCII

    def read(self, size: int | None = -1) -> bytes:
        return self._looked_at(super().read(size))

    def read1(self, size: int = -1) -> bytes:
        return self._looked_at(super().read1(size))

    def _looked_at(self, block: bytes) -> bytes:
        if self.utf8 is None or not block:
            return block
        try:
            text = self.utf8.decode(block)
        except UnicodeDecodeError:
            self.utf8 = None  # not UTF-8: the profile's encoding stands
            return block
        if not text.isascii():
            raise _read_as_utf8(self.file, self.encoding, text, self.lines)
        self.lines += text.count("\n")
        return block


#: What ends a word quoted from a file: a space or a CSV delimiter or quote.
_WORD_END = re.compile(r"[\s;,|\"']")


def _read_as_utf8(name: str, encoding: str, text: str, lines: int) -> InputError:
    """The refusal of a file in UTF-8 under a single-byte `encoding`: the first word with a non-ASCII letter
    in `text` (which follows `lines` line breaks of the file), and what it would have been stored as."""
    at = next((n for n, char in enumerate(text) if not char.isascii()), 0)
    word = _WORD_END.split(text[max(0, at - 20):at])[-1] + _WORD_END.split(text[at:at + 20], maxsplit=1)[0]
    line = lines + text.count("\n", 0, at) + 1
    garbled = word.encode("utf-8").decode(encoding, errors="replace")
    return InputError(f"the file reads as UTF-8 (e.g. line {line}: '{word}'), not {encoding} as its map or "
                      f"profile says: its text would be stored garbled ('{garbled}')", file=name, line=line,
                      field="encoding", hint=f"set `encoding: utf-8` in the map or profile, or re-save the file "
                      f"as {encoding}, and import it again")


def decode_guard(lines: Iterator[Any], name: str, encoding: str) -> Iterator[Any]:
    """Turn a decoding failure in the middle of a file into an InputError naming the encoding and the line of
    the first byte that does not decode (`name` is the file's path: it is read again to find it, so reading a
    good file costs nothing more)."""
    try:
        yield from lines
    except UnicodeDecodeError as exc:
        raise undecodable_error(name, encoding, exc) from None
    except UnicodeError as exc:  # a codec refusing the stream as a whole: UTF-16 without its byte order mark
        raise InputError(f"the file is not {encoding}: {exc}", file=name,
                         hint="set `encoding:` in the profile to what the file is written in (e.g. utf-8)") from None


_CHUNK = 1 << 20


def undecodable_at(path: Path, encoding: str) -> tuple[int, int, bytes] | None:
    """The first bytes of `path` that do not decode as `encoding`: (line, byte offset, the bytes; empty when
    the file ends inside a character), or None. Streams the file at the codec's speed."""
    decoder = codecs.getincrementaldecoder(encoding)()
    newlines = consumed = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            kept = len(getattr(decoder, "buffer", b""))  # bytes of a character the last chunk ended inside
            try:
                newlines += decoder.decode(chunk).count("\n")
            except UnicodeDecodeError as exc:
                good = decoder.decode(exc.object[kept:exc.start]) if exc.start > kept else ""
                return newlines + good.count("\n") + 1, consumed - kept + exc.start, exc.object[exc.start:exc.end]
            consumed += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            return newlines + 1, consumed - len(exc.object) + exc.start, b""
    return None


def undecodable_error(name: str, encoding: str, exc: UnicodeDecodeError, *, path: Path | None = None,
                      hint: str = "set `encoding:` in the profile (e.g. cp1252, latin-1, utf-8)") -> InputError:
    """The InputError for a file of `encoding` that `exc` found not to decode, naming the line and byte offset
    of the first bad byte (the file, `path` or else `name`, is read again for them: a decoder reports the
    offset within its chunk). `hint`: what to do, for a format whose encoding is not the profile's to say."""
    bad, where, line = exc.object[exc.start:exc.start + 1], "", None
    try:
        found = undecodable_at(path or Path(name), encoding)
    except (OSError, ValueError, LookupError):  # unreadable since, or a codec refusing the stream as a whole
        found = None
    if found:
        line, offset, text = found
        bad, where = text[:1] or bad, f" on line {line} (byte offset {offset})"
    return InputError(f"the file is not {encoding}: byte {bad!r}{where} cannot be decoded", file=name, line=line,
                      hint=hint)


# ---------------------------------------------------------------- supplier cross-reference


#: The longest supplier product id the cross-reference keeps (its column's length).
MAX_PID = 255


class CrossReferenceRow(SQLModel, table=True):
    """supplier + supplier product id → our SKU. Filled by hand, by a profile, or by a GTIN match."""

    __tablename__ = "source_xref"

    source: str = SQLField(sa_column=Column(String(100), primary_key=True))
    source_pid: str = SQLField(sa_column=Column(String(MAX_PID), primary_key=True))
    sku: str = SQLField(sa_column=Column(String(255), nullable=False, index=True))
    matched_by: str = SQLField(default="manual", sa_column=Column(String(20), nullable=False))
    updated_at: datetime = SQLField(sa_column=Column(DateTime(timezone=True), nullable=False))


XREF: Table = CrossReferenceRow.__table__  # type: ignore[assignment]


def put_cross_references(store: Store, source: str, pairs: Iterable[tuple[str, str]],
                         matched_by: str = "manual") -> list[tuple[str, str, str]]:
    """Record supplier PID → SKU pairs (replacing earlier ones for the same PID). Returns (PID, earlier SKU,
    new SKU) for each PID that stood for another SKU: that product keeps what the source gave it through the
    old match, which is not withdrawn here (a person may have mapped two PIDs to it on purpose), so the
    caller says so. One indexed read of the earlier SKUs per batch, in the write's transaction."""
    stamp = now()
    rows = [{"source": source, "source_pid": pid, "sku": sku, "matched_by": matched_by, "updated_at": stamp}
            for pid, sku in pairs]
    moved: list[tuple[str, str, str]] = []
    with store.begin() as conn:
        for chunk in batched(rows, store.batch_size):
            earlier = dict(conn.execute(select(XREF.c.source_pid, XREF.c.sku).where(
                XREF.c.source == source, XREF.c.source_pid.in_([r["source_pid"] for r in chunk]))).all())
            moved.extend((r["source_pid"], earlier[r["source_pid"]], r["sku"]) for r in chunk
                         if earlier.get(r["source_pid"], r["sku"]) != r["sku"])
            store.upsert_rows(conn, XREF, chunk, ["source", "source_pid"])
    return moved


def cross_references(store: Store, source: str, limit: int = 1000) -> list[dict[str, Any]]:
    """A source's cross-reference rows (supplier PID → SKU, how each was matched), by PID."""
    q = select(XREF).where(XREF.c.source == source).order_by(XREF.c.source_pid).limit(limit)
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


@dataclass
class SourceItem:
    """A parsed source record keyed by the source's own id. `record.identifier` is the SKU when the source
    knows it (then no lookup happens); otherwise `pid` and the GTINs are used to find it: `gtins`, the record's
    valid GTINs in the source's order, or `gtin` alone when `gtins` is empty."""

    record: Product
    file: str
    line: int | None = None
    raw: dict[str, Any] | None = None
    pid: str | None = None
    gtin: str | None = None
    gtins: tuple[str, ...] = ()
    extras: list[Any] = field(default_factory=list)  # carried to the Parsed record (pim.importing.Parsed.extras)

    @property
    def tried_gtins(self) -> tuple[str, ...]:
        """The GTINs SKU matching tries, in order."""
        return self.gtins or ((self.gtin,) if self.gtin else ())


@dataclass
class NoSku(Rejected):
    """match_skus' refusal of a record it found no SKU for (`unmatched: quarantine`): its caller may say more
    (why a bad GTIN was not matched on, that a price update never creates), whatever field the refusal names.
    `why`: the reason without its next step, for a caller that gives its own."""

    why: str = ""


#: (field, line) a refusal about one of an item's GTINs names (its own element's), or None for the default.
GtinAt = Callable[[SourceItem, str], tuple[str, int] | None]
#: The line a source's product id was read on in the file being imported, or None.
LineOf = Callable[[str], int | None]


@dataclass(frozen=True, slots=True)
class Placed:
    """A cross-reference pair `match_skus(defer=True)` found, carried in its record's `Parsed.extras`."""

    pid: str
    sku: str
    matched_by: str


def put_placed_in(store: Store, conn: Any, source: str, rows: Iterable[Any]) -> int:
    """Write the `Placed` pairs among a batch's extras (the other rows are the importer's) in the batch's
    transaction `conn`; returns how many."""
    stamp = now()
    pairs = list({r.pid: {"source": source, "source_pid": r.pid, "sku": r.sku, "matched_by": r.matched_by,
                          "updated_at": stamp} for r in rows if isinstance(r, Placed)}.values())  # one row per PID
    store.upsert_rows(conn, XREF, pairs, ["source", "source_pid"])
    return len(pairs)


def match_skus(store: Store, source: str, items: Iterable[SourceItem | Rejected], *, gtin_attribute: str = "ean",
               unmatched: Literal["create", "quarantine"] = "quarantine",
               gtin_at: GtinAt | None = None, line_of: LineOf | None = None,
               defer: bool = False) -> Iterator[Parsed | Rejected]:
    """Resolve SKUs batch by batch: the cross-reference first, then every GTIN of the record in its order (one
    query each per batch). The product its GTINs name is the match, remembered in the cross-reference; a GTIN
    several products carry, or GTINs naming different products, refuse the record: it must never silently
    pick one (`_gtin_refusal`). Nor does a GTIN naming a product another PID of the source stands for (in the
    cross-reference, or matched earlier in the file: a unit and its pack sharing an EAN), which merged both
    into one product, the last row winning on every import (`_claimed`). Unmatched: create under the PID, or
    quarantine (`NoSku`, saying when our product of that code exists). A product created under its PID is
    remembered too, so the next import of the file finds it by PID, not by a GTIN that may since have become
    ambiguous (two supplier products sharing an EAN); one whose PID makes no SKU (pim.validation.identifier_problem,
    refused by pim.importing) is not, so it names no product and a later import still tries its GTINs. A refusal
    about a GTIN names the field and line `gtin_at` gives for it (else `gtin`, or `pid` for NoSku, at the record's
    line); one naming another PID gives its line in the file when `line_of` knows it. One query each per batch.

    `defer`: a pair is not written here but carried in its record's `Parsed.extras` as a `Placed`, for the
    import's extras writer (`put_placed_in`): written in the record's batch transaction, only if the record is
    taken in, so a product refused for another reason leaves no pair; a later record of the PID in this run
    finds the pair its earlier record was given."""
    placed: dict[str, Placed] = {}  # `defer`: PID → the pair given earlier in this run (maybe not yet written)
    # `defer`: SKU → the PID and line a GTIN matched it to in this run, as the pairs of batches not yet written
    # are not in the cross-reference that `_claimants` reads
    matched: dict[str, tuple[str, int | None]] = {}
    for chunk in batched(items, store.batch_size):
        wanted = [i for i in chunk if isinstance(i, SourceItem) and not i.record.identifier.strip() and i.pid]
        stored = by_pid = _xref(store, source, [i.pid for i in wanted if i.pid])
        if placed:
            by_pid = {**{i.pid: placed[i.pid].sku for i in wanted if i.pid in placed}, **stored}  # type: ignore[index]
        gtins = [g for i in wanted if i.pid not in by_pid for g in i.tried_gtins]
        owners_of = _gtin_owners(store, gtin_attribute, gtins) if gtins else {}
        claims = _claimants(store, source, {owners[0] for owners in owners_of.values() if len(owners) == 1}
                            ) if owners_of else {}
        fresh: dict[str, tuple[str, int | None]] = matched if defer else {}  # SKU → the PID and line a GTIN
        # matched it to in this batch
        learned: list[tuple[str, str]] = []
        created: list[tuple[str, str]] = []
        unplaced = [i.pid for i in wanted if i.pid not in by_pid and not any(g in owners_of for g in i.tried_gtins)]
        taken = store.existing_identifiers(unplaced) if unplaced else set()
        for item in chunk:
            if isinstance(item, Rejected):
                yield item
                continue
            pair = len(learned), len(created)
            sku = item.record.identifier.strip() or by_pid.get(item.pid or "")
            found = [(g, owners_of[g]) for g in item.tried_gtins if g in owners_of] if not sku and owners_of else []
            if found:
                refusal = _gtin_refusal(source, item, found, gtin_at)
                if refusal is not None:
                    yield refusal
                    continue
                sku = found[0][1][0]
                if item.pid and (other := _claimer(item.pid, claims.get(sku), fresh.get(sku), line_of)):
                    yield _claimed(source, item, found[0][0], sku, other, gtin_at)
                    continue
                if item.pid:
                    learned.append((item.pid, sku))
                    fresh.setdefault(sku, (item.pid, item.line))
            if not sku and unmatched == "create" and item.pid in taken:
                # creating it would merge this supplier's product into ours of the same code, unasked
                yield Rejected(
                    f"{source} product '{item.pid}' is not in the cross-reference and no product has its GTIN, but our "
                    f"product '{item.pid}' has its code: not merged into it; if it is that product, run `pim import "
                    f"xref {source} {item.pid} {item.pid}` and import again", item.file, item.line, "pid", item.raw,
                    item.pid)
                continue
            if not sku and unmatched == "create" and item.pid:
                sku = item.pid
                if identifier_problem(sku) is None:  # else pim.importing._addressable refuses the new product
                    created.append((item.pid, sku))
            if not sku:
                tried = item.tried_gtins
                field_name, line = _where(item, tried[0], "pid", gtin_at) if tried else ("pid", item.line)
                said = f"GTINs {', '.join(tried)}" if len(tried) > 1 else f"GTIN {tried[0] if tried else 'none'}"
                why = (f"no SKU for {source} product '{item.pid}' ({said}): not in the cross-reference "
                       f"and no product has {'any of them' if len(tried) > 1 else 'that GTIN'}")
                hint = _placing_hint(source, item.pid or "", item.pid in taken)
                yield NoSku(f"{why}; {hint}", item.file, line, field_name, item.raw, item.pid, why=why)
                continue
            item.record.identifier = sku
            extras = item.extras
            if defer and item.pid and item.pid not in stored:  # each record taken in writes its pair
                if pair != (len(learned), len(created)):
                    placed[item.pid] = Placed(item.pid, sku, "gtin" if len(learned) > pair[0] else "created")
                if (given := placed.get(item.pid)) is not None and given.sku == sku:
                    extras = [*extras, given]
            yield Parsed(item.record, item.file, item.line, item.raw, extras=extras)
        if learned and not defer:
            put_cross_references(store, source, learned, matched_by="gtin")
        if created and not defer:
            put_cross_references(store, source, created, matched_by="created")


def _placing_hint(source: str, pid: str, ours: bool) -> str:
    """What to do with a product no SKU was found for under `unmatched: quarantine`: pair it with our SKU, as
    a price update's refusal says, or create it; `ours`: our product of the PID's code exists, maybe it."""
    if ours:
        return f"our product '{pid}' has its code: if it is that one, run `pim import xref {source} {pid} {pid}`"
    return f"run `pim import xref {source} {pid} SKU` to place it, or set `unmatched: create`"


def _claimants(store: Store, source: str, skus: set[str]) -> dict[str, list[str]]:
    """SKU → the source's PIDs the cross-reference pairs with it, sorted, for `skus` (one query per 5000)."""
    found: dict[str, list[str]] = {}
    with store.engine.connect() as conn:
        for part in batched(sorted(skus), 5000):
            q = select(XREF.c.sku, XREF.c.source_pid).where(XREF.c.source == source, XREF.c.sku.in_(part))
            for sku, pid in conn.execute(q):
                found.setdefault(sku, []).append(pid)
    return {sku: sorted(pids) for sku, pids in found.items()}


def _claimer(pid: str, paired: list[str] | None, fresh: tuple[str, int | None] | None,
             line_of: LineOf | None) -> tuple[str, int | None] | None:
    """(another PID, its line in the file or None) that already stands for the SKU a GTIN matched `pid` to:
    matched earlier in this batch (`fresh`), or paired in the cross-reference (`paired`); else None."""
    if fresh is not None and fresh[0] != pid:
        return fresh
    other = next((p for p in paired or () if p != pid), None)
    if other is None:
        return None
    return other, line_of(other) if line_of is not None else None


def _claimed(source: str, item: SourceItem, gtin: str, sku: str, other: tuple[str, int | None],
             gtin_at: GtinAt | None) -> Rejected:
    """The refusal of a record whose GTIN names a product another PID of the source stands for."""
    field_name, line = _where(item, gtin, "gtin", gtin_at)
    pid, at = other
    return Rejected(
        f"GTIN {gtin} names {sku}, which {source} product '{pid}' "
        f"{f'(line {at})' if at else '(cross-referenced)'} already stands for: not matched; run `pim import xref "
        f"{source} {item.pid} SKU` with the right SKU, then import again", item.file, line, field_name, item.raw,
        item.pid)


def _where(item: SourceItem, gtin: str, default: str, gtin_at: GtinAt | None) -> tuple[str, int | None]:
    """The field and line a refusal about `gtin` of `item` names."""
    return (gtin_at(item, gtin) if gtin_at is not None else None) or (default, item.line)


def _gtin_refusal(source: str, item: SourceItem, found: list[tuple[str, list[str]]],
                  gtin_at: GtinAt | None) -> Rejected | None:
    """Why a record whose GTINs name products of ours (`found`: (GTIN, its products), in the record's order) is
    not matched to one: a GTIN several products carry (the first such), or GTINs naming different products
    (filed at the first GTIN that names one, the entry's one field; the reason gives each GTIN's line, so the
    other is found too). None when they all name one product: a pack GTIN we do not carry beside the unit's
    GTIN that we do is no conflict."""
    for gtin, owners in found:
        if len(owners) > 1:
            field_name, line = _where(item, gtin, "gtin", gtin_at)
            return Rejected(
                f"GTIN {gtin} of {source} product '{item.pid}' belongs to {len(owners)} products "
                f"({', '.join(owners[:5])}): not matched; fix the duplicate GTIN or add a cross-reference for this "
                "supplier product id", item.file, line, field_name, item.raw, item.pid)
    first: dict[str, str] = {}  # SKU → the first GTIN naming it
    for gtin, (sku,) in found:
        first.setdefault(sku, gtin)
    if len(first) == 1:
        return None
    field_name, line = _where(item, found[0][0], "gtin", gtin_at)
    named = ", ".join(_naming(item, gtin, sku, gtin_at) for sku, gtin in list(first.items())[:5])
    return Rejected(
        f"{named}: not matched; run `pim import xref {source} {item.pid} SKU` with the right SKU, or correct the "
        "wrong GTIN, then import again", item.file, line, field_name, item.raw, item.pid)


def _naming(item: SourceItem, gtin: str, sku: str, gtin_at: GtinAt | None) -> str:
    """`GTIN … (line …) names SKU`: one side of a conflict, at its own line when it has one."""
    line = _where(item, gtin, "gtin", gtin_at)[1]
    return f"GTIN {gtin} (line {line}) names {sku}" if line else f"GTIN {gtin} names {sku}"


def cross_referenced(store: Store, source: str, pids: Iterable[str]) -> dict[str, str]:
    """supplier PID → SKU for the PIDs the cross-reference knows (nothing is matched or learned here): what
    an importer needs to translate the PIDs a source names besides its own records' (reference targets,
    deletes). One query per 1000 PIDs."""
    found: dict[str, str] = {}
    for chunk in batched(dict.fromkeys(pids), 1000):
        found.update(_xref(store, source, chunk))
    return found


def paired_pids(store: Store, source: str, skus: Iterable[str]) -> dict[str, list[str]]:
    """SKU → the source's PIDs the cross-reference pairs with it, sorted, for the SKUs that have any: who else
    already stands for a SKU an importer made of a PID (importers.bmecat_matching.refuse_pid_twins)."""
    wanted = {sku for sku in skus if sku}
    return _claimants(store, source, wanted) if wanted else {}


def zero_led_widths(store: Store, source: str) -> set[int]:
    """The lengths of the source's cross-referenced PIDs that start with a zero: what a PID Excel read as a
    number (00123 → 123) may be padded back to (`zero_led_pids`). One query, over those PIDs' stretch of the
    cross-reference's key."""
    q = select(func.length(XREF.c.source_pid)).distinct().where(
        XREF.c.source == source, XREF.c.source_pid >= "0", XREF.c.source_pid < "1")
    with store.engine.connect() as conn:
        return set(conn.execute(q).scalars())


def zero_led_pids(store: Store, source: str, numbers: Collection[str], widths: Collection[int]) -> dict[str, list[str]]:
    """number → the source's cross-referenced PIDs that are it with leading zeros put back to one of `widths`,
    sorted, for the numbers that are no PID of the source themselves. One query per 5000 numbers and padded
    forms (a batch's, for a source whose PIDs have one or two lengths)."""
    padded = {number.zfill(width): number for number in numbers for width in widths if width > len(number)}
    if not padded:
        return {}
    known: set[str] = set()
    with store.engine.connect() as conn:
        for part in batched([*numbers, *padded], 5000):
            known.update(conn.execute(select(XREF.c.source_pid).where(XREF.c.source == source,
                                                                      XREF.c.source_pid.in_(part))).scalars())
    found: dict[str, list[str]] = {}
    for pid in sorted(known & padded.keys()):
        if padded[pid] not in known:
            found.setdefault(padded[pid], []).append(pid)
    return found


def _xref(store: Store, source: str, pids: list[str]) -> dict[str, str]:
    if not pids:
        return {}
    with store.engine.connect() as conn:
        q = select(XREF.c.source_pid, XREF.c.sku).where(XREF.c.source == source, XREF.c.source_pid.in_(pids))
        return {pid: sku for pid, sku in conn.execute(q)}


class GtinIndexRow(SQLModel, table=True):
    """GTIN attribute value → product, indexed by value: the supplier GTIN fallback reads it instead of
    scanning the product JSON. Refreshed incrementally from `product.seq` before each lookup."""

    __tablename__ = "source_gtin"
    __table_args__ = (Index("ix_source_gtin_gtin", "attribute", "gtin"),)

    attribute: str = SQLField(sa_column=Column(String(100), primary_key=True))
    identifier: str = SQLField(sa_column=Column(String(255), primary_key=True))
    gtin: str = SQLField(sa_column=Column(String(255), nullable=False))


class GtinMarkRow(SQLModel, table=True):
    """Up to which catalog `seq` the GTIN index of an attribute is current."""

    __tablename__ = "source_gtin_mark"

    attribute: str = SQLField(sa_column=Column(String(100), primary_key=True))
    seq: int = SQLField(sa_column=Column(BigInteger, nullable=False))


GTIN: Table = GtinIndexRow.__table__  # type: ignore[assignment]
GTIN_MARK: Table = GtinMarkRow.__table__  # type: ignore[assignment]


def refresh_gtin_index(store: Store, attribute: str, page: int = 10000) -> int:
    """Bring the GTIN index of `attribute` up to the catalog's current seq: products written or deleted
    since the last refresh are re-read (one indexed range query per page). Returns the products re-read.
    The first call on a catalog reads every product once."""
    top = store.current_seq()
    with store.engine.connect() as conn:
        mark = conn.execute(select(GTIN_MARK.c.seq).where(GTIN_MARK.c.attribute == attribute)).scalar_one_or_none() or 0
    if mark >= top:
        return 0
    gone = store.deleted_since(mark)
    col = PRODUCT.c.value_map[attribute].as_string()
    seen = 0
    with store.begin() as conn:
        for chunk in batched(gone, 1000):
            conn.execute(delete(GTIN).where(GTIN.c.attribute == attribute, GTIN.c.identifier.in_(chunk)))
        last = mark
        while True:
            rows = conn.execute(select(PRODUCT.c.seq, PRODUCT.c.identifier, col).where(PRODUCT.c.seq > last)
                                .order_by(PRODUCT.c.seq).limit(page)).all()
            if not rows:
                break
            last, seen = rows[-1][0], seen + len(rows)
            empty = [ident for _, ident, gtin in rows if not gtin]
            if empty:
                conn.execute(delete(GTIN).where(GTIN.c.attribute == attribute, GTIN.c.identifier.in_(empty)))
            store.upsert_rows(conn, GTIN, [{"attribute": attribute, "identifier": ident, "gtin": gtin[:255]}
                                           for _, ident, gtin in rows if gtin], ["attribute", "identifier"])
        store.upsert_rows(conn, GTIN_MARK, [{"attribute": attribute, "seq": max(top, last)}], ["attribute"])
    return seen


def _gtin_forms(gtins: Iterable[str]) -> dict[str, set[str]]:
    """Each way a stored GTIN may write the GTINs given → the GTINs given it stands for. A GTIN-13 written as
    GTIN-14 (`04006381333948`), or a UPC-A as EAN-13, is the same number padded with zeros."""
    forms: dict[str, set[str]] = {}
    for gtin in gtins:
        forms.setdefault(gtin, set()).add(gtin)
        core = gtin.lstrip("0")
        if gtin.isdigit() and gtin.isascii() and core:
            for width in (8, 12, 13, 14):
                if len(core) <= width:
                    forms.setdefault(core.zfill(width), set()).add(gtin)
    return forms


def _gtin_owners(store: Store, attribute: str, gtins: list[str]) -> dict[str, list[str]]:
    """GTIN given → the products carrying it, sorted, through the GTIN index (refreshed first), whatever zero
    padding either side writes (one query per 5000 forms; sorted here: an ORDER BY identifier made SQLite walk
    the primary key instead of the GTIN index)."""
    refresh_gtin_index(store, attribute)
    out: dict[str, set[str]] = {}
    forms = _gtin_forms(gtins)
    with store.engine.connect() as conn:
        for part in batched(sorted(forms), 5000):
            q = select(GTIN.c.gtin, GTIN.c.identifier).where(GTIN.c.attribute == attribute, GTIN.c.gtin.in_(part))
            for stored, ident in conn.execute(q):
                for given in forms[stored]:
                    out.setdefault(given, set()).add(ident)
    return {g: sorted(ids) for g, ids in out.items()}


# ---------------------------------------------------------------- non-product rows (price lists, stock)


@dataclass
class RowItem:
    """A parsed non-product row (a PriceListEntry, a StockLevel) with the key its quarantine entry uses, and the
    `problem` entries of a row written as sent (an ATP above its quantity)."""

    row: BaseModel
    key: str
    problems: list[QuarantineEntry] = field(default_factory=list)


def run_rows_import(store: Store, source: str, label: str, items: Iterable[RowItem | Rejected],
                    put: Callable[[Store, list[Any]], int],
                    after: Callable[[ImportCounts], None] | None = None, files: Iterable[str] = ()) -> ImportCounts:
    """The job/quarantine loop for rows that are not products: `put` writes one batch in one transaction
    (upserts, so re-running is safe). Counts: read, created (rows written under new keys, when `put` says, as
    pim.price_lists.Written does), updated (the other rows written), rejected. `after` runs once every row is
    in, before the job is recorded (it may add counts). `files`: the names of the files the rows come from (as
    their entries give them), whose older rejections a run that gets through supersedes."""
    counts = ImportCounts(job_id=store.start_job("import", label))
    unknown = UnknownSkus(store)
    try:
        with bulk_allocation():
            for chunk in batched(items, store.batch_size):
                counts.read += len(chunk)
                good = [i for i in chunk if isinstance(i, RowItem)]
                rejects = [QuarantineEntry(r.reason, r.file, r.line, r.field, r.raw, r.record_key, source)
                           for r in chunk if isinstance(r, Rejected)]
                written = put(store, [g.row for g in good]) if good else 0
                created = getattr(written, "created", 0)  # pim.price_lists.Written: new keys among them
                counts.created += created
                counts.updated += written - created
                counts.unchanged += len(good) - written  # e.g. stock readings older than the stored ones
                counts.rejected += store.quarantine(counts.job_id, rejects)
                store.resolve_quarantine(source, [g.key for g in good], job_id=counts.job_id)  # not this run's own
                problems = [p for g in good for p in g.problems]  # noted after the resolve, which would close them
                counts.problems += store.quarantine(counts.job_id, problems)
                unknown.note([g.row for g in good])
                stop_if_cancelled(store, counts)  # the job ended cancelled: `after` does not run
        if after is not None:
            after(counts)
        unknown.report(counts, source, files)
        store.supersede_quarantine(counts.job_id, source, files)  # type: ignore[arg-type]
    except Cancelled:
        raise
    except PimError as exc:
        store.finish_job(counts.job_id, counts.as_dict(), status="failed", error=exc.describe())  # type: ignore[arg-type]
        raise
    except Exception as exc:
        store.finish_job(counts.job_id, counts.as_dict(), status="failed", error=repr(exc))  # type: ignore[arg-type]
        raise
    store.finish_job(counts.job_id, counts.as_dict(), status=counts.status)  # type: ignore[arg-type]
    return counts


class UnknownSkus:
    """Price-list and stock rows naming a SKU no product has. They are kept — an ERP holds articles the PIM
    does not manage, and a product imported later finds its prices and stock waiting — but counted, and one
    warning per file names the first few, so a mistyped SKU does not go unseen."""

    SHOWN = 10

    def __init__(self, store: Store) -> None:
        self.store = store
        self.rows = 0
        self.first: list[str] = []
        self.more = False

    def note(self, rows: list[Any]) -> None:
        skus = sorted({r.sku for r in rows})
        if not skus:
            return
        missing = set(skus) - self.store.existing_identifiers(skus)
        if missing:
            self.rows += sum(1 for r in rows if r.sku in missing)
            new, room = sorted(missing - set(self.first)), self.SHOWN - len(self.first)
            self.more = self.more or len(new) > room
            self.first.extend(new[:room])

    def report(self, counts: ImportCounts, source: str, files: Iterable[str]) -> None:
        """The count, and a warning that the file's next run replaces (or closes, when every SKU is known)."""
        names = list(files)
        reason = None
        if self.rows:
            counts.extra["unknown_skus"] = self.rows
            more = ", ..." if self.more else ""
            reason = (f"{self.rows} row(s) name SKUs no product has (first: {', '.join(self.first)}{more}); they are "
                      "kept and apply once those products are imported: check the SKUs if the products should exist "
                      "already")
        file_warning(self.store, counts.job_id, source, f"unknown-skus:{names[0] if names else ''}", reason,
                     file=names[0] if names else "")
