"""`pim publish`: products stream through the stages (the gate among them), then a channel renderer turns
them into files and exporters push those. Each piece is found through pim.registry."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pim.catalog import Structure
from pim.errors import ConfigError
from pim.product import Product
from pim.protocols import Artifact, PublishContext
from pim.registry import EXPORTERS, RENDERERS, STAGES, load, lookup
from pim.store import Store


def enabled_only(products: Iterable[Product], ctx: PublishContext) -> Iterator[Product]:
    """Disabled products are never published."""
    for p in products:
        if p.enabled:
            yield p
        else:
            ctx.blocked.setdefault(p.identifier, []).append("disabled")


enabled_only.name = "enabled"  # type: ignore[attr-defined]


@dataclass
class PublishResult:
    channel: str
    scope: str
    published: int
    blocked: dict[str, list[str]]
    artifacts: list[Artifact]
    locations: list[str] = field(default_factory=list)
    job_id: int | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "channel": self.channel, "scope": self.scope, "published": self.published, "blocked": len(self.blocked),
            "files": [str(a.path) for a in self.artifacts], "locations": self.locations, "job_id": self.job_id,
        }


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
) -> PublishResult:
    """Run one publication: stages → renderer → exporter, recorded as a job. `scope` is the structure
    channel whose locales, currencies and gate apply; `channel` names the renderer. Without `exporter`, the
    renderer's `default_exporter` (e.g. meilisearch for search) or local files."""
    structure = store.structure()
    scope = resolved_scope(structure, scope)
    renderer = lookup(RENDERERS, channel, "channel")()
    exporter = exporter or getattr(renderer, "default_exporter", "local")
    job_id = store.start_job("publish", f"{channel}/{scope}")
    ctx = PublishContext(structure=structure, output_dir=output_dir, channel=scope, job_id=job_id, full=full,
                         options={"renderer": channel, "exporter": exporter, "store": store, **(options or {})})
    # A renderer may choose its input (e.g. only products changed since its last push) and be told when the
    # exporter succeeded (e.g. to advance that watermark).
    select = getattr(renderer, "select", None)
    stream: Iterable[Product] = select(store, ctx) if select is not None else store.iter_products()
    if progress is not None:
        stream = progress(stream)
    for ref in STAGES:
        stream = load(ref)(stream, ctx)
    counter = _Counter(stream)
    try:
        artifacts = renderer.render(counter, ctx, store)
        locations = lookup(EXPORTERS, exporter, "exporter")().push(artifacts, ctx)
        if hasattr(renderer, "committed"):
            renderer.committed(ctx, store)
    except Exception as exc:
        store.finish_job(job_id, {"published": counter.count, "blocked": len(ctx.blocked)}, status="failed", error=repr(exc))
        raise
    result = PublishResult(channel, scope, counter.count, ctx.blocked, artifacts, locations, job_id)
    store.finish_job(job_id, {"published": counter.count, "blocked": len(ctx.blocked),
                              "files": [str(a.path) for a in artifacts]})
    return result


class _Counter:
    def __init__(self, items: Iterable[Product]) -> None:
        self.items, self.count = items, 0

    def __iter__(self) -> Iterator[Product]:
        for item in self.items:
            self.count += 1
            yield item
