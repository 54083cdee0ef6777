"""`pim publish`: products stream through the stages (the gate among them), then a channel renderer turns
them into files and exporters push those. Each piece is found through pim.registry."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import select

from pim import label_gaps
from pim import publish_baseline as baseline
from pim.catalog import Structure
from pim.errors import ConfigError, GateBlocked
from pim.product import Association, Product, trusted_copy
from pim.protocols import Artifact, PublishContext
from pim.publish_output import output_key
from pim.registry import EXPORTERS, RENDERERS, STAGES, load, lookup
from pim.store import Store
from pim.store.store import JOB, batched

log = logging.getLogger(__name__)
#: Where a publish puts its PublishedTargets in `ctx.options`, for renderers that write association links.
TARGETS = "association_targets"
#: Where a renderer that writes several outputs (Google Merchant: one per target) notes, in `ctx.options`, the
#: products it wrote to at least one of them though it blocked them from others (their reasons are in
#: ctx.blocked): they count as published (`partly_blocked` in the summary), not as blocked.
PARTLY = "partly_published"
#: The publish guard (`refuse_drop`): a publish of a whole channel that more than DROP_SHARE of the products its
#: last one published would leave (held back or swapped for others), and at least DROP_MIN of them, is refused
#: unless told `allow_drop`; so is one that would publish none while at least DROP_MIN were blocked, with or
#: without a last one to compare with. The defaults of PIM_PUBLISH_DROP_SHARE and PIM_PUBLISH_DROP_MIN.
DROP_SHARE = 0.5
DROP_MIN = 50
#: How many block reasons a refused publish names.
DROP_REASONS = 3
#: What a publish job's `published` means, written with it: the products the outputs hold (round 34; before, the
#: products that reached the renderer, its own blocks included). The guard takes only jobs saying so as its
#: baseline, so the first publish after the upgrade is not judged against a count of another kind.
PUBLISHED_COUNTS = "outputs"


def enabled_only(products: Iterable[Product], ctx: PublishContext) -> Iterator[Product]:
    """Disabled products are never published."""
    for p in products:
        if p.enabled:
            yield p
        else:
            ctx.blocked.setdefault(p.identifier, []).append("disabled")


enabled_only.name = "enabled"  # type: ignore[attr-defined]


def held_back(blocked: dict[str, list[str]], partly: Collection[str] = ()) -> dict[str, int]:
    """A run's products held back, as its summary counts them: `disabled` (the enabled stage's only reason) apart
    from `blocked` (a gate or channel rule the team can fix), so a catalog's disabled products do not read as
    blocked ones; `partly_blocked` (when any): those in `blocked` a renderer still wrote to some outputs (PARTLY),
    published, so not among `blocked`."""
    disabled = sum(reasons == ["disabled"] for reasons in blocked.values())
    return {"blocked": len(blocked) - disabled - len(partly), "disabled": disabled,
            **({"partly_blocked": len(partly)} if partly else {})}


@dataclass
class PublishResult:
    channel: str
    scope: str
    published: int
    blocked: dict[str, list[str]]
    artifacts: list[Artifact]
    locations: list[str] = field(default_factory=list)
    job_id: int | None = None
    dropped_links: int = 0
    dropped_link_examples: list[str] = field(default_factory=list)
    catalog: str | None = None  # catalog_key: which catalog the run published, None for the built-in one
    partly: set[str] = field(default_factory=set)  # PARTLY: in `blocked`, yet written to some outputs
    notes: dict[str, Any] = field(default_factory=dict)  # for the job's counts: `label_gaps` (pim.label_gaps)

    def summary(self) -> dict[str, Any]:
        """`files`: each file's name under the target (the same at every exporter; the rendered copies under
        .staging are gone once pushed); `locations`: where the exporter put them (paths, URLs, index names).
        `blocked` counts the products held back for a reason to fix, `disabled` those never published."""
        return {
            "channel": self.channel, "scope": self.scope, "published": self.published,
            **held_back(self.blocked, self.partly),
            "files": [a.name for a in self.artifacts], "locations": self.locations, "job_id": self.job_id,
            **self.links(), **self.mode(), **self.notes,
        }

    def mode(self) -> dict[str, Any]:
        """Whether a renderer that can send changes alone (search) rebuilt or sent changes, and why, as its
        artifacts' meta says: `mode` and `reason`, and `modes` per index when the indexes differ; nothing for
        renderers that always write everything."""
        per: dict[str, dict[str, Any]] = {}
        for a in self.artifacts:
            if "mode" in a.meta:
                per.setdefault(a.meta.get("index") or a.name, {"mode": a.meta["mode"], "reason": a.meta.get("reason")})
        if not per:
            return {}
        first = next(iter(per.values()))
        if all(p == first for p in per.values()):
            return dict(first)
        return {"mode": "mixed", "reason": "; ".join(f"{k}: {p['mode']} ({p['reason']})" for k, p in per.items()),
                "modes": per}

    def baseline(self) -> dict[str, Any]:
        """What the job keeps for the publish guard besides `published`: what that count means and, for a run
        given a catalog, which one (read by people and named in a refusal; the guard compares every catalog's
        runs of the channel and scope with each other: last_published)."""
        return {"published_counts": PUBLISHED_COUNTS, **({"catalog": self.catalog} if self.catalog else {})}

    def links(self) -> dict[str, Any]:
        """The association links left out because their target is not published: the count, and a few examples
        (`product → target (type)`) for the job page; nothing when none were."""
        if not self.dropped_links:
            return {}
        return {"dropped_links": self.dropped_links, "dropped_link_examples": self.dropped_link_examples}


def default_scope(structure: Structure) -> str:
    if not structure.channels:
        raise ConfigError("no channels in the structure", hint="load the structure first: pim structure load DIR")
    return "ecommerce" if "ecommerce" in structure.channels else sorted(structure.channels)[0]


def resolved_scope(structure: Structure, scope: str | None) -> str:
    """`scope`, or the default one; ConfigError when the structure has no such channel."""
    scope = scope or default_scope(structure)
    if scope not in structure.channels:
        raise ConfigError(f"unknown channel scope '{scope}'", hint=f"known: {', '.join(sorted(structure.channels))}")
    return scope


def publish(
    store: Store,
    output_dir: Path,
    *,
    channel: str = "storefront",
    scope: str | None = None,
    exporter: str | None = None,
    full: bool = False,
    options: dict[str, Any] | None = None,
    progress: Any = None,
    allow_drop: bool = False,
) -> PublishResult:
    """Run one publication: stages → renderer → exporter, recorded as a job. `scope` is the structure
    channel whose locales, currencies and gate apply; `channel` names the renderer. Without `exporter`, the
    renderer's `default_exporter` (e.g. meilisearch for search) or local files. Unless `allow_drop`, a run
    that would leave out most of the products the channel's last one published is refused before anything goes
    out (DropRefused). A run that writes the whole channel leaves its products as the next one's baseline, whatever
    its catalog: the next publish of the channel and scope writes over the same output (last_published)."""
    structure = store.structure()
    scope = resolved_scope(structure, scope)
    renderer = lookup(RENDERERS, channel, "channel")()
    exporter = exporter or getattr(renderer, "default_exporter", "local")
    job_id = store.start_job("publish", f"{channel}/{scope}")
    ctx = PublishContext(structure=structure, output_dir=output_dir, channel=scope, job_id=job_id, full=full,
                         options={"renderer": channel, "exporter": exporter, "store": store, **(options or {})})
    targets = ctx.options[TARGETS] = PublishedTargets(store, ctx)
    # A renderer may choose its input (e.g. only products changed since its last push) and be told when the
    # exporter succeeded (e.g. to advance that watermark).
    select = getattr(renderer, "select", None)
    stream: Iterable[Product] = select(store, ctx) if select is not None else store.iter_products()
    if progress is not None:
        stream = progress(stream)
    for ref in STAGES:
        stream = load(ref)(stream, ctx)
    counter = _Counter(stream, ctx.blocked, ctx.options.setdefault(PARTLY, set()))
    catalog = catalog_key(ctx.options)
    source, published = f"{channel}/{scope}", None
    output = output_key(exporter, output_dir)  # the guard compares runs that write the same place
    try:
        narrow_gate(ctx, channel, getattr(renderer, "gate_per_locale", False))  # before the stages run (lazily,
        # as the renderer reads them); a bad catalog fails the job
        notes = label_gaps.publish_warning(ctx)  # locales it writes whose structure labels are missing
        artifacts = renderer.render(counter, ctx, store)
        published = counter.identities() if whole(artifacts) else None
        if not allow_drop:
            refuse_drop(store, source, counter.published(), ctx.blocked, artifacts, catalog, published, output)
        locations = lookup(EXPORTERS, exporter, "exporter")().push(artifacts, ctx)
        if hasattr(renderer, "committed"):
            renderer.committed(ctx, store)
    except DropRefused as exc:  # nothing went out: the rendered files go, the channel's old output stays
        _drop_staging(output_dir, job_id)
        store.finish_job(job_id, {"published": 0, "would_publish": exc.now, "last_published": exc.last,
                                  **({"leaving": exc.left} if exc.left is not None else {}),
                                  **held_back(ctx.blocked, counter.partly)}, status="failed", error=exc.describe())
        raise
    except BaseException as exc:  # a full disk, a lost target, Ctrl-C: what it rendered goes before anything else
        _drop_staging(output_dir, job_id)
        if isinstance(exc, OSError) and exc.filename is None:  # a write on an open file: say where (pim.io_errors)
            exc.filename = str(output_dir)
        if isinstance(exc, Exception):
            store.finish_job(job_id, {"published": counter.published(), **held_back(ctx.blocked, counter.partly)},
                             status="failed", error=repr(exc))
        raise
    result = PublishResult(channel, scope, counter.published(), ctx.blocked, artifacts, locations, job_id,
                           targets.dropped, targets.examples, catalog, counter.partly, notes)
    if published is not None:
        _keep_baseline(store, source, catalog, job_id, published, output)
    store.finish_job(job_id, {"published": result.published, **held_back(ctx.blocked, result.partly),
                              "files": [a.name for a in artifacts], **result.links(), **result.mode(),
                              **result.baseline(), "output": output, **notes})
    return result


def narrow_gate(ctx: PublishContext, renderer: str, per_locale: bool = False) -> None:
    """Tell the gate (pim.gate.LOCALES) which of the scope's locales this run's outputs hold, when not all: a
    catalog of `locales: [en_US]` publishes products complete in en_US whatever their fr_FR copy lacks. Left as
    is when the caller already said (`locale`, LOCALES). `per_locale`: the renderer writes one output per locale
    and keeps a product from those the gate's PARTIAL names (Google Merchant), so the gate passes a product
    some judged locale holds nothing against (pim.gate.PER_LOCALE)."""
    from pim.gate import LOCALES, PER_LOCALE
    from pim.registry import WRITTEN_LOCALES

    if per_locale:
        ctx.options.setdefault(PER_LOCALE, True)
    if LOCALES in ctx.options or ctx.options.get("locale"):
        return
    written = load(WRITTEN_LOCALES)(renderer, ctx.options, ctx.channel, ctx.structure)
    if written is not None:
        ctx.options[LOCALES] = list(written)


def _drop_staging(output_dir: Path, job_id: int) -> None:
    """Remove what a failed publication rendered (`.staging/job-<id>`): on a full disk it holds the room the next
    publication needs, and nothing reads it again. Never raises: the publication's own error is what to report."""
    shutil.rmtree(output_dir / ".staging" / f"job-{job_id}", ignore_errors=True)


def whole(artifacts: list[Artifact]) -> bool:
    """Whether a run wrote the whole channel: not one that sent only changes (search), which the guard does not
    judge and which is no baseline."""
    return {a.meta["mode"] for a in artifacts if "mode" in a.meta} != {"incremental"}


def _keep_baseline(store: Store, source: str, catalog: str | None, job_id: int,
                   published: baseline.Published, output: str | None = None) -> None:
    """The run's products as the channel's baseline. The files are out: a failure is logged, and the next run
    is compared by count with this one (baseline.load finds no row for it)."""
    try:
        baseline.record(store, source, catalog, job_id, published, output)
    except Exception as exc:
        log.warning("could not keep the products publish job %s put out (the next publish of %s is compared with "
                    "it by count only): %s", job_id, source, exc)


class _Counter:
    """The products the stages let through to the renderer (`count`), and those the renderer then blocked
    itself (`held`: a Google or list-price rule), so that `published()` is what the outputs hold; those it
    blocked from some outputs only (`partly`, PARTLY) are published. The renderer's blocks are told apart from
    the stages' by when they happen: ctx.blocked only grows, the stages add to it only while this iterator reads
    from them, and a renderer blocks only products it was given, so the keys added while the renderer has control
    are its own. The identifiers read are kept compressed (`identities()`, for the guard), never as a set."""

    def __init__(self, items: Iterable[Product], blocked: dict[str, list[str]], partly: set[str]) -> None:
        self.items, self.blocked, self.partly, self.count, self.held = items, blocked, partly, 0, 0
        self.mark = len(blocked)  # ctx.blocked's size when control last went to the renderer
        self.seen = baseline.Seen()

    def __iter__(self) -> Iterator[Product]:
        for item in self.items:
            self.count += 1
            self.seen.add(item.identifier)
            self.mark = len(self.blocked)
            yield item
            self.held += len(self.blocked) - self.mark
        self.mark = len(self.blocked)

    def published(self) -> int:
        """The products that reached the renderer and that it did not block from every output."""
        return self.count - self.held - (len(self.blocked) - self.mark) + len(self.partly)

    def identities(self) -> baseline.Published:
        """The products published (once the renderer is done): read, and not blocked from every output."""
        blocked, partly = self.blocked, self.partly
        return self.seen.published(lambda i: i in blocked and i not in partly)


class DropRefused(GateBlocked):
    """A publish that most of the channel's last one's products would leave, or that publishes none of many (exit
    6, as the gate's): refused before anything is written or swapped, naming what blocks the products. `last`:
    the last publish's count, None when there is none to compare with; `left`: how many of its products would
    leave, None when only the counts were compared."""

    def __init__(self, message: str, *, hint: str, now: int, last: int | None, left: int | None = None) -> None:
        super().__init__(message, hint=hint)
        self.now, self.last, self.left = now, last, left


def catalog_key(options: dict[str, Any]) -> str | None:
    """Which catalog a run publishes, as its job keeps it: None for the channel's built-in one, a catalog file's
    resolved path (`pim publish --catalog` and the API's name under PIM_HOME both come as that path), a catalog
    object's code. A path, not a digest of the file: editing a catalog (a new locale) keeps its baseline."""
    given = options.get("catalog")
    if not given:
        return None
    code = getattr(given, "code", None)
    return str(code) if code is not None else str(Path(given).resolve())


def last_published(store: Store, source: str, output: str | None = None) -> tuple[int, int, str | None] | None:
    """(job id, products published, its catalog) of the last succeeded publish of `source` ("<channel>/<scope>")
    that wrote the whole channel and counted `published` as the outputs hold (PUBLISHED_COUNTS), whatever its
    catalog: every publish of a channel and scope writes the same output (the renderer's files named by the scope,
    at PIM_OUTPUT or the exporter's target, those the last one wrote and this one does not removed:
    exporters.published), so a first run of a new or moved catalog file replaces what the last run of another
    wrote and is judged against it (round 37; before, each catalog file had its own baseline). Incremental runs
    (search sending changes) publish only what changed and are skipped, and so are runs that wrote another
    `output` (pim.publish_output: another folder, bucket or prefix, whose files this run does not replace; a run
    kept before the job recorded its output counts as this one's). None: no such publish yet (a first publish, or
    the first since round 34, is judged only by refuse_drop's rule for a run publishing none)."""
    q = (select(JOB.c.id, JOB.c.counts).where(JOB.c.kind == "publish", JOB.c.source == source,
                                             JOB.c.status == "succeeded").order_by(JOB.c.id.desc()).limit(200))
    with store.engine.connect() as conn:
        for job_id, counts in conn.execute(q):
            counts = counts or {}
            if counts.get("mode") == "incremental" or output is not None and counts.get("output", output) != output:
                continue
            if counts.get("published_counts") != PUBLISHED_COUNTS:
                return None  # the newest whole run counted otherwise: no baseline until one counts as this one
            if isinstance(counts.get("published"), int):
                return int(job_id), counts["published"], counts.get("catalog")
    return None


def top_reasons(blocked: dict[str, list[str]], renderer: str, n: int = DROP_REASONS) -> list[tuple[str, int]]:
    """The `n` reasons blocking the most products, by rule and field (pim.publish_reasons.top_reasons)."""
    from pim.publish_reasons import top_reasons as counted

    return counted(blocked, renderer, n)


def reason_advice(top: list[tuple[str, int]], scope: str) -> str:
    """What to do about the renderer's rules among `top` (pim.publish_reasons.reason_advice); "" for none."""
    from pim.publish_reasons import reason_advice as advice

    return advice(top, scope)


def drop_thresholds() -> tuple[float, int]:
    """(share, minimum) of the publish guard: PIM_PUBLISH_DROP_SHARE and PIM_PUBLISH_DROP_MIN, else DROP_SHARE
    and DROP_MIN."""
    from pim.settings import get_settings

    s = get_settings()
    return (s.publish_drop_share if s.publish_drop_share is not None else DROP_SHARE,
            s.publish_drop_min if s.publish_drop_min is not None else DROP_MIN)


def refuse_drop(store: Store, source: str, now: int, blocked: dict[str, list[str]],
                artifacts: list[Artifact], catalog: str | None = None,
                published: baseline.Published | None = None, output: str | None = None) -> None:
    """DropRefused when a run writing the whole channel would leave out more than the guard's share
    (drop_thresholds) of the products the last one published, of whichever catalog (the same output:
    last_published), and at least its minimum (a whole catalog blocked by a new locale's missing copy, which would
    empty every file and index; a catalog swapped for another of the same size, or for a catalog file publishing
    far fewer); runs that send only changes are not judged. With `published` (this
    run's products) and the last run's kept (pim.publish_baseline), the products leaving are counted one by one;
    else, from the counts (last − now). A run that would publish none while at least the minimum were blocked
    (by the gate or the renderer) is refused without a baseline too, so the first publish after an upgrade (no
    baseline yet) cannot empty the channel; unless the last one published none as well (an empty channel
    someone allowed)."""
    if not whole(artifacts):
        return
    share, least = drop_thresholds()
    previous = last_published(store, source, output)
    job, last, was = previous if previous is not None else (None, None, None)
    before = baseline.load(store, source, job) if published is not None and job is not None else None
    left, gone = baseline.departures(before, published) if before is not None and published is not None else (
        None if last is None else last - now, [])
    stopped = held_back(blocked)["blocked"]  # disabled products never reach the gate: not counted
    if last is not None and left is not None and left >= least and left > last * share:
        other = "" if was == catalog else f", catalog {was}" if was else ", the built-in catalog"  # swapped
        said = f" where its last publish (job {job}{other}) published {last}" + (
            f", {left} of which would leave it (e.g. {', '.join(gone)})" if before is not None else "")
    elif now == 0 and stopped >= least and last != 0:
        said = f": all {stopped} that reached the gate are blocked, there or by the renderer"
    else:
        return
    channel, _, scope = source.partition("/")
    why = "; ".join(f"{reason} ({n} product{'s' if n != 1 else ''})" for reason, n in top_reasons(blocked, channel))
    named = f", catalog {catalog}" if catalog else ""
    again = f" --catalog {catalog}" if catalog and Path(catalog).is_absolute() else ""  # a file: the command's too
    raise DropRefused(
        f"{channel} ({scope}{named}) would publish {now} products{said}; nothing was published and the "
        f"channel's previous output stays. What blocks the most products: "
        f"{why or 'nothing (they are gone from the catalog)'}",
        now=now, last=last, left=left if before is not None else None,
        hint=f"{reason_advice(top_reasons(blocked, channel), scope)}"  # what to do about a renderer's rule
             f"{_other_catalog(was, catalog) if job is not None and was != catalog else ''}"
             f"fix what blocks them (`pim gate report --channel {scope}` lists the values the gate misses), or publish "
             f"anyway with `pim publish --channel {channel} --scope {scope}{again} --allow-drop` (API: "
             '"allow_drop": true in POST /api/v1/publish)')


def _other_catalog(was: str | None, catalog: str | None) -> str:
    """The hint's word on a run whose catalog is not the last publish's: it writes over that one's files."""
    last = f"catalog {was}" if was else "the built-in catalog"
    return (f"this run's catalog writes over the files the last publish wrote with {last} (the same channel and "
            "scope: one output); publish with that catalog to keep them, or ")


class PublishedTargets:
    """Which association targets are part of this publish, for a renderer that writes links: stored products
    that pass this run's stages (enabled, the gate) as the products linking to them did, so a link never
    points at a product the channel does not have. Asked per chunk of products: the targets a chunk names are
    read in one query (per 1,000) and decided in one pass through the stages. Answers are remembered across
    chunks up to `keep` (a few accessories are linked from many products), then forgotten: the catalog is
    never held. It knows nothing of a renderer's own `select` (an incremental one publishes only changes),
    so it suits renderers that write the whole catalog, as the storefront does."""

    EXAMPLES = 10

    def __init__(self, store: Any, ctx: PublishContext, stages: list[str] | None = None, keep: int = 100_000) -> None:
        self.store, self.ctx, self.keep = store, ctx, keep
        self.stages = STAGES if stages is None else stages
        self.known: dict[str, bool] = {}
        self.dropped = 0
        self.examples: list[str] = []

    def trimmed(self, chunk: list[Product]) -> list[Product]:
        """The chunk's products (all of them passed this run's stages) with only the association targets this
        run publishes, a product itself never among them; each product target left out is counted once."""
        verdicts = self._decide(chunk)
        return [self._trim(p, verdicts) for p in chunk]

    def _decide(self, chunk: list[Product]) -> dict[str, bool]:
        verdicts = {p.identifier: True for p in chunk}  # they reached the renderer: published
        partly = self.ctx.options.get(PARTLY, ())
        todo: list[str] = []
        for p in chunk:
            for a in p.associations.values():
                for t in a.products:
                    if t in verdicts:
                        continue
                    if t in self.known or t in self.ctx.blocked:  # blocked: decided earlier in this run, unless
                        # the renderer wrote it to some outputs (PARTLY): linked to there (channels.locale_outputs)
                        verdicts[t] = (t not in self.ctx.blocked or t in partly) and self.known.get(t, True)
                    else:
                        verdicts[t] = False
                        todo.append(t)
        for ids in batched(todo, 1000):
            for passed in self._passing(ids):
                verdicts[passed] = True
        if len(self.known) + len(verdicts) > self.keep:
            self.known.clear()
        if len(verdicts) <= self.keep:
            self.known.update(verdicts)
        return verdicts

    def _passing(self, identifiers: list[str]) -> Iterator[str]:
        """The stored products among `identifiers` that this run's stages let through; what they block is not
        this run's to report (the products are judged again, and counted, where the stream reaches them)."""
        side = replace(self.ctx, blocked={})
        stream: Iterable[Product] = self.store.iter_products(identifiers=identifiers)
        for ref in self.stages:
            stream = load(ref)(stream, side)
        for p in stream:
            yield p.identifier

    def _trim(self, p: Product, verdicts: dict[str, bool]) -> Product:
        kept: dict[str, Association] = {}
        for code, a in p.associations.items():
            gone = [t for t in a.products if t == p.identifier or not verdicts.get(t, False)]  # never to itself
            if not gone:
                kept[code] = a
                continue
            self.dropped += len(gone)
            room = max(0, self.EXAMPLES - len(self.examples))
            self.examples.extend(f"{p.identifier} → {t} ({code})" for t in gone[:room])
            left = set(gone)
            kept[code] = trusted_copy(a, {"products": [t for t in a.products if t not in left],
                                          "quantities": {t: q for t, q in a.quantities.items() if t not in left}})
        return p if all(kept[c] is a for c, a in p.associations.items()) else trusted_copy(p, {"associations": kept})
