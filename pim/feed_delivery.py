"""Delivering a contract's built feed (pim.feeds.build_feed): to SFTP and/or the portal, holding a feed that
would empty the customer's catalog, cancelling one whose contract was deleted before any target had it (once one
has, the delivery ends delivered there, off the portal), and only then advancing the contract's watermark.
pim.feeds keeps the names it always offered (`deliver_contract`, `DeliveryResult`, `feeds_dir`,
`describe_left_out`) and fans deliveries out over the Executor (`deliver_all`)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from pim import delivery_log as log
from pim.contracts import Contract, get_contract, get_contracts
from pim.errors import DeliveryError, PimError
from pim.protocols import Artifact, PublishContext
from pim.registry import EXPORTERS, lookup
from pim.store.store import Store

if TYPE_CHECKING:  # pim.feeds imports this module for its old names: build_feed is imported where it is called
    from pim.feeds import Build, FeedRun


@dataclass
class DeliveryResult:
    contract: str
    status: str  # delivered | dry-run | nothing | held | cancelled | failed
    file: str | None = None
    rows: int = 0
    kind: str | None = None
    error: str | None = None  # a held feed's (or a dry run's would-be-held) reason and what to do, too
    locations: list[str] = field(default_factory=list)
    left_out: dict[str, int] = field(default_factory=dict)  # Build.left_out
    warnings: list[str] = field(default_factory=list)  # Build.warnings

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def feeds_dir() -> Path:
    from pim.settings import get_settings

    return get_settings().home / "feeds"


def deliver_contract(store: Store, code: str, *, dry_run: bool = False, out_dir: Path | None = None,
                     retries: int = 4, backoff: float = 1.0, progress: Callable[[int, int], None] | None = None,
                     run: FeedRun | None = None, allow_empty: bool = False) -> DeliveryResult:
    """Build, then push to every target; the watermark advances only when all of them confirmed. A full feed
    with no rows, or a delta deleting every product, is held (built, not sent, watermark kept) while the customer
    holds products from the last delivery, unless `allow_empty`: their importer would empty its catalog on it. A dry run builds (rows, holds,
    refusals) into a scratch folder inside the feeds folder (`out_dir`), removed after, leaving nothing among the
    delivered files nor in the log."""
    from pim.feeds import build_feed  # looked up at call time, as pim.feeds' tests and callers replace it

    contract = get_contract(store, code)
    if dry_run:
        folder = out_dir or feeds_dir()
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".dry-run-", dir=folder) as scratch:  # the same disk
            result = _dry_run(store, contract, Path(scratch), run, allow_empty)
        result.file = None  # gone with the scratch folder
        return result
    build = build_feed(store, contract, out_dir or feeds_dir(), run=run)
    assert build.path is not None and build.pending is not None
    if _deleted(store, code):  # deleted while it was built (`pim feeds delete --force`)
        return _cancelled(store, build)
    if build.plan.kind != "full" and build.rows == 0:
        build.path.unlink(missing_ok=True)
        # nothing went out, so the delivery counter stays: the next file's previous_version is the last one sent
        log.advance_watermark(store, replace(build.pending, version=build.plan.prev_version))
        return DeliveryResult(code, "nothing", kind=build.plan.kind, left_out=build.left_out)
    hold = None if allow_empty else _hold_reason(build)
    manifest_path, file_id = _record(store, build, "held" if hold else "built")
    result = DeliveryResult(code, "dry-run", str(build.path), build.rows, build.plan.kind, left_out=build.left_out,
                            warnings=build.warnings)
    if hold:
        log.log_held(store, contract=code, file_id=file_id, file=build.path.name, targets=_targets(contract),
                     checksum=build.sha256, left_out=build.left_out, reason=hold)
        result.status, result.error = "held", hold
        return result
    try:
        if contract.delivery.sftp is not None:
            if _deleted(store, code):  # before the upload starts: nothing lands remote
                return _cancelled(store, build, file_id, manifest_path)
            sent = _push_sftp(store, build, manifest_path, file_id, retries, backoff, progress)
            if sent is None:  # deleted during the upload: the exporter removed what it had put there
                return _cancelled(store, build, file_id, manifest_path, logged=[_sftp_where(contract)])
            result.locations += sent
        if contract.delivery.portal:
            if _deleted(store, code):  # before the portal lists it
                if not result.locations:  # no target has it yet: cancel outright
                    return _cancelled(store, build, file_id, manifest_path)
                return _delivered_without_portal(store, build, file_id, result)
            lid = log.log_start(store, contract=code, file_id=file_id, file=build.path.name, target="portal",
                                checksum=build.sha256, rows=build.rows, left_out=build.left_out)
            log.set_file_status(store, file_id, "delivered", portal=True)
            log.log_finish(store, lid, "delivered", attempts=1)
            result.locations.append(f"portal:{file_id}")
    except PimError as exc:
        log.set_file_status(store, file_id, "failed")
        exc.built = result  # type: ignore[attr-defined]  # the file was built and logged: the report names it
        raise
    log.set_file_status(store, file_id, "delivered")
    log.advance_watermark(store, build.pending)
    result.status = "delivered"
    return result


def _record(store: Store, build: Build, status: str) -> tuple[Path, int]:
    """Write the file's manifest beside it and record the file in the log: the manifest's path and the file's id."""
    assert build.path is not None
    c = build.contract
    manifest = build.path.with_name(build.path.name + ".manifest.json")
    manifest.write_bytes(orjson.dumps(build.manifest(), option=orjson.OPT_INDENT_2))
    file_id = log.record_file(store, contract=c.code, customer=c.customer, name=build.path.name, path=str(build.path),
                              format=c.format, kind=build.plan.kind, sha256=build.sha256, bytes=build.bytes,
                              rows=build.rows, generated_at=build.plan.generated_at, status=status, portal=False,
                              encoding=c.csv.encoding if c.format == "csv" else None, version=build.plan.version,
                              previous_version=build.plan.prev_version)
    return manifest, file_id


def _deleted(store: Store, code: str) -> bool:
    """Whether the contract is gone (`pim feeds delete --force` while this run works on it): asked after the build
    and again before each delivery step, so a step never starts for a contract deleted meanwhile."""
    return not get_contracts(store, code=code)


def _cancelled(store: Store, build: Build, file_id: int | None = None, manifest: Path | None = None,
               logged: list[str] | None = None) -> DeliveryResult:
    """A build whose contract was deleted before any target had the whole file: the file (and its manifest) go,
    no target gets it, the watermark stays (nothing carries this version), its log record (`file_id`) says
    `cancelled`, and the delivery log says why for each target. `logged`: targets whose own log row already says
    `cancelled` (an SFTP upload stopped part way, which removed what it had put there)."""
    assert build.path is not None
    c = build.contract
    build.path.unlink(missing_ok=True)
    if manifest is not None:
        manifest.unlink(missing_ok=True)
    if file_id is not None:
        log.set_file_status(store, file_id, "cancelled")
    reason = _cancel_reason(c)
    targets = [t for t in _targets(c) if t not in (logged or [])]
    log.log_held(store, contract=c.code, file_id=file_id, file=build.path.name, targets=targets, checksum=build.sha256,
                 left_out=build.left_out, reason=reason, status="cancelled")
    return DeliveryResult(c.code, "cancelled", None, build.rows, build.plan.kind, error=reason, left_out=build.left_out)


def _delivered_without_portal(store: Store, build: Build, file_id: int, result: DeliveryResult) -> DeliveryResult:
    """The contract was deleted after a target (SFTP) got the whole file, before the portal step: the customer holds
    this version, so it stays delivered there (file kept, status `delivered`, not on the portal) and the watermark
    advances. Cancelling it instead would let the next delivery carry the same version number, leaving the
    customer two different files that both claim it. The portal's log row says `cancelled`, and why."""
    assert build.path is not None and build.pending is not None
    c = build.contract
    reason = (f"contract deleted: '{c.code}' was deleted (pim feeds delete --force) after {_sftp_where(c)} got the "
              f"whole file (version {build.plan.version}), so the portal does not list it; load the contract again "
              f"(pim feeds load) for its customer to get feeds on the portal")
    log.log_held(store, contract=c.code, file_id=file_id, file=build.path.name, targets=["portal"],
                 checksum=build.sha256, left_out=build.left_out, reason=reason, status="cancelled")
    log.set_file_status(store, file_id, "delivered", portal=False)
    log.advance_watermark(store, build.pending)
    result.status = "delivered"
    result.warnings = [*result.warnings, reason]  # a copy: the list is the build's
    return result


def _cancel_reason(c: Contract) -> str:
    return (f"contract '{c.code}' was deleted while this run built its feed or delivered it (pim feeds delete "
            f"--force), so nothing was sent; load it again (pim feeds load) for its customer to get feeds")


def _dry_run(store: Store, contract: Contract, out: Path, run: FeedRun | None, allow_empty: bool) -> DeliveryResult:
    """What a delivery would do (rows, kind, left out, a hold it would meet), built into `out` (a scratch folder);
    the watermark stays and the log records nothing."""
    from pim.feeds import build_feed

    build = build_feed(store, contract, out, run=run)
    assert build.path is not None
    if build.plan.kind != "full" and build.rows == 0:
        build.path.unlink(missing_ok=True)
        return DeliveryResult(contract.code, "nothing", kind=build.plan.kind, left_out=build.left_out)
    hold = None if allow_empty else _hold_reason(build)
    return DeliveryResult(contract.code, "dry-run", str(build.path), build.rows, build.plan.kind,
                          error=f"would be held: {hold}" if hold else None, left_out=build.left_out,
                          warnings=build.warnings)


def _push_sftp(store: Store, build: Build, manifest: Path, file_id: int, retries: int, backoff: float,
               progress: Callable[[int, int], None] | None) -> list[str] | None:
    """The file and its manifest uploaded, logged under the SFTP target: their locations, or None when the
    contract was deleted during the upload (asked before each file, every second while it goes up — exporters.sftp
    WANTED_EVERY — and before it takes its name: nothing stays remote)."""
    c = build.contract
    target = c.delivery.sftp
    assert target is not None and build.path is not None
    where = _sftp_where(c)
    lid = log.log_start(store, contract=c.code, file_id=file_id, file=build.path.name, target=where,
                        checksum=build.sha256, rows=build.rows, left_out=build.left_out)
    exporter = lookup(EXPORTERS, "sftp", "exporter")(target, retries=retries, backoff=backoff, progress=progress,
                                                     wanted=lambda: not _deleted(store, c.code))
    ctx = PublishContext(structure=build.plan.structure, output_dir=build.path.parent, channel=c.channel)
    artifacts = [Artifact(build.path, build.path.name, "application/octet-stream", build.rows),
                 Artifact(manifest, manifest.name, "application/json")]
    try:
        locations = exporter.push(artifacts, ctx)
    except DeliveryError as exc:
        if getattr(exporter, "unwanted", False):
            log.log_finish(store, lid, "cancelled", attempts=exporter.attempts, error=_cancel_reason(c))
            return None
        log.log_finish(store, lid, "failed", attempts=getattr(exporter, "attempts", 0), error=str(exc))
        raise
    log.log_finish(store, lid, "delivered", attempts=exporter.attempts)
    return locations


def _sftp_where(c: Contract) -> str:
    target = c.delivery.sftp
    assert target is not None
    return f"sftp://{target.user}@{target.host}:{target.port}{target.remote_dir}"


def _targets(c: Contract) -> list[str]:
    """The delivery log's names of the contract's targets."""
    return ([_sftp_where(c)] if c.delivery.sftp is not None else []) + (["portal"] if c.delivery.portal else [])


def _hold_reason(build: Build) -> str | None:
    """Why this build must not go out, or None: a full feed with no rows, or a delta deleting every product the
    customer holds, leaves them nothing, which is never what a B2B importer should do unasked."""
    if not build.held_before:
        return None
    if build.plan.kind == "full" and not build.rows:
        what = "a full feed with 0 rows"
    elif build.plan.kind != "full" and build.pending is not None and not build.pending.delivered:
        what = f"a delta deleting all {build.held_before} products, leaving 0"
    else:
        return None
    c = build.contract
    return (f"{what}, while {c.customer} holds {build.held_before} products from version "
            f"{build.plan.prev_version}: their importer would empty its catalog. {describe_left_out(build.left_out, c)} "
            f"Fix that and deliver again, or send the empty feed on purpose: "
            f"pim feeds deliver --contract {c.code} --allow-empty")


def describe_left_out(left_out: dict[str, int], c: Contract) -> str:
    """Left-out counts in words, each with where to look; for the held message and the CLI."""
    from pim.feeds import LEFT_OUT

    if not left_out:
        return "No product of the assortment is in the catalog."
    words = {"unknown_sku": f"{left_out.get('unknown_sku')} SKUs of the contract not in the catalog",
             "excluded": f"{left_out.get('excluded')} dropped by the assortment's exclusions or disabled",
             "gate": f"{left_out.get('gate')} blocked by the gate of channel {c.channel} (`pim gate check "
                     f"--channel {c.channel}`, then `pim gate report --channel {c.channel}` says why)",
             "no_price": f"{left_out.get('no_price')} without a price in {c.currency} (no contract price for "
                         f"{c.price_customer} and pricing fallback {c.pricing.fallback})"}
    return "Left out: " + "; ".join(words[k] for k in LEFT_OUT if left_out.get(k)) + "."
