"""A delivery run: one job per contract through the project's Executor (`deliver_all`), each in a worker with its
own store connection and job row (`_deliver_job`), and the run's summary. Split out of pim.feeds, which still
offers every name; the jobs look up pim.feeds' `deliver_contract` and run registry when they run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from pim.contracts import get_contract, get_contracts
from pim.errors import InputError, PimError
from pim.feed_delivery import DeliveryResult
from pim.feed_plan import LEFT_OUT, FeedRefused
from pim.store.store import Store


def _deliver_job(code: str, dry_run: bool, retries: int, backoff: float, token: str, snapshot: bool = True,
                 allow_empty: bool = False) -> dict[str, Any]:
    """One contract, in a worker: its own store connection and job row; failures come back as data. Jobs of
    the same run (token) in the same worker share its FeedRun (with a catalog snapshot when `snapshot`). A held
    feed fails its job with the reason (`--due` then waits for the contract's next scheduled time: pim.feed_schedule);
    a refused one with what it was built from (`--due` waits for a change that matters to it: pim.feed_holds). A
    dry run's job says `dry_run: true` whatever its end, so that the schedule never takes it for a run."""
    import pim.feeds as feeds  # at call time: a worker may load this module first, and tests replace
    # pim.feeds.deliver_contract
    from pim.feed_holds import built_from, refusal_counts

    store = Store.from_settings(migrate_now=False)
    job_id = store.start_job("feed", code)
    dry = {"dry_run": True} if dry_run else {}
    try:
        mark = built_from(store)  # before the build: a change written while it runs lifts the refusal's hold
        result = feeds.deliver_contract(store, code, dry_run=dry_run, retries=retries, backoff=backoff,
                                        run=feeds._run_for(store, token, snapshot), allow_empty=allow_empty)
        counts = {"rows": result.rows, "kind": result.kind, "status": result.status, "left_out": result.left_out,
                  **dry}
        if result.status == "held":
            store.finish_job(job_id, counts, status="failed", error=f"held: {result.error}")
        else:
            store.finish_job(job_id, counts)
        return result.as_dict()
    except FeedRefused as exc:  # fails alike until what it names changes: `--due` holds it
        store.finish_job(job_id, refusal_counts(exc.contract, mark, exc.skus, exc.media) | dry, status="failed",
                         error=exc.describe())
        return DeliveryResult(code, "failed", error=exc.describe()).as_dict()
    except Exception as exc:  # one contract failing must not stop the others
        message = exc.describe() if isinstance(exc, PimError) else f"{type(exc).__name__}: {exc}"
        store.finish_job(job_id, dry, status="failed", error=message)
        built = getattr(exc, "built", None)  # a delivery that failed after the build: its file, rows and kind
        failed = replace(built, status="failed", error=message) if built else DeliveryResult(code, "failed", error=message)
        return failed.as_dict()
    finally:
        store.dispose()


@dataclass
class RunSummary:
    results: list[dict[str, Any]]

    @property
    def failures(self) -> list[dict[str, Any]]:
        return [r for r in self.results if r["status"] == "failed"]

    @property
    def held(self) -> list[dict[str, Any]]:
        return [r for r in self.results if r["status"] == "held"]

    def as_dict(self) -> dict[str, Any]:
        by: dict[str, int] = {}
        left: Counter[str] = Counter()
        for r in self.results:
            by[r["status"]] = by.get(r["status"], 0) + 1
            left.update(r.get("left_out") or {})
        return {"contracts": len(self.results), "by_status": by, "rows": sum(r["rows"] for r in self.results),
                "failures": [{"contract": r["contract"], "error": r["error"]} for r in self.failures],
                "held": [{"contract": r["contract"], "error": r["error"]} for r in self.held],
                "left_out": {k: left[k] for k in LEFT_OUT if left[k]}}


def deliver_all(store: Store, *, contract: str | None = None, dry_run: bool = False, retries: int = 4,
                backoff: float = 1.0, on_done: Callable[[dict[str, Any]], None] | None = None,
                contracts: list[str] | None = None, allow_empty: bool = False) -> RunSummary:
    """One job per contract (`contract`, else `contracts`, else all of them) through the project's Executor;
    the summary lists the failures and the held feeds (`allow_empty` sends empty full feeds instead). `retries`
    counts SFTP connections tried in all (`pim feeds deliver --attempts`), at least 1."""
    import uuid
    from concurrent.futures import as_completed

    import pim.feeds as feeds
    from pim.executor import make_executor
    from pim.settings import get_settings

    if retries < 1:  # it counts attempts: 0 tried nothing and reported "failed after 0 attempts: None"
        raise InputError(f"SFTP attempts must be at least 1, not {retries}", field="retries",
                         hint="1 tries once, without retrying (pim feeds deliver --attempts 1)")
    codes = [contract] if contract else list(contracts) if contracts is not None else [c.code for c in get_contracts(store)]
    if contract:
        get_contract(store, contract)  # unknown code → clear ConfigError before any work
    s = get_settings()
    results: list[dict[str, Any]] = []
    workers = min(s.workers, max(1, len(codes)))
    # A snapshot pays off when a worker builds several contracts; one build per worker reads just its assortment.
    snapshot = len(codes) > workers
    with make_executor(s.executor, workers) as pool:
        token = uuid.uuid4().hex
        futures = {pool.submit(_deliver_job, code, dry_run, retries, backoff, token, snapshot, allow_empty): code
                   for code in codes}
        for fut in as_completed(futures):
            try:
                r = fut.result()
            except Exception as exc:  # the worker itself died
                r = DeliveryResult(futures[fut], "failed", error=f"{type(exc).__name__}: {exc}").as_dict()
            results.append(r)
            if on_done:
                on_done(r)
    feeds._end_run(token)  # thread executors ran in this process: let the snapshot go
    results.sort(key=lambda r: r["contract"])
    return RunSummary(results)
