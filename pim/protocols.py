"""Every extension point of the pipeline, in one short file. An adapter implements one of these; the
registry (pim.registry) names it. The core only ever talks to these protocols."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol, runtime_checkable

from pim.catalog import Structure
from pim.product import Product


@dataclass
class PublishContext:
    """What a publish run knows: the structure, where outputs go, which channel, and the run's job id."""

    structure: Structure
    output_dir: Path
    channel: str
    job_id: int | None = None
    full: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    blocked: dict[str, list[str]] = field(default_factory=dict)  # identifier → reasons (from the gate)


@dataclass
class Artifact:
    """A file a renderer produced, ready for an exporter to push."""

    path: Path
    name: str
    content_type: str
    rows: int = 0
    meta: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Importer(Protocol):
    """Parse one source file into canonical records; quarantine what cannot be used."""

    name: str

    def run(self, path: Path, store: Any, **options: Any) -> dict[str, Any]:
        """Import `path` into `store`; return the job's counts."""


@runtime_checkable
class Stage(Protocol):
    """One step of `pim publish`: takes the stream of products, yields the ones that go on."""

    name: str

    def __call__(self, products: Iterable[Product], ctx: PublishContext) -> Iterator[Product]: ...


@runtime_checkable
class ChannelRenderer(Protocol):
    """Turn the products that passed the gate into the channel's files (streaming)."""

    name: str

    def render(self, products: Iterable[Product], ctx: PublishContext, store: Any) -> list[Artifact]: ...


@runtime_checkable
class Exporter(Protocol):
    """Push artifacts somewhere: local files, S3, SFTP, Meilisearch. One method, so targets swap freely."""

    name: str

    def push(self, artifacts: list[Artifact], ctx: PublishContext) -> list[str]:
        """Return the locations written (paths or URLs)."""


@dataclass(frozen=True)
class StoredObject:
    """One object an asset store holds, as its listing reports it: the key (relative to the store's root or
    prefix), when it was last written (tz-aware) and its size. The orphan sweep of `pim media gc` reads these."""

    key: str
    modified: datetime
    size: int


@runtime_checkable
class AssetStore(Protocol):
    """Content-addressed bytes: local disk or S3."""

    def put(self, key: str, data: BinaryIO, *, content_type: str, size: int | None = None) -> str: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove the object; a key that is already gone is not an error."""

    def url(self, key: str) -> str: ...

    def objects(self, prefix: str = "") -> Iterator[StoredObject]:
        """Stream the objects whose key starts with `prefix`, never anything outside the store's root or prefix,
        so gc can find objects no row names. A generator: a large store is never listed into memory."""
