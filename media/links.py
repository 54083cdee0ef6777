"""Image values → the URL of their listing rendition, for search documents and the storefront catalog.

A channel's listing rendition is the one media.yaml names as `listing` for it (else its first rendition).
Per image value the link is:
- the rendition's URL, when the value is a valid asset and that rendition has been built (`pim media
  renditions`): stable, content-addressed, behind the channel catalog's `media_base_url` or else
  PIM_CDN_BASE_URL when set; without either, the local asset store's file:// URL, which nobody outside this
  machine can fetch: the first such link of a publication logs a warning saying what to set (Google Merchant
  blocks the items: channels.google_merchant);
- nothing, when the value is known not to be usable (unreadable, rejected, or below the channel's size
  rules): no broken or unfit image is listed;
- the value as it was linked before (the caller's fallback), when media has not seen it yet (never ingested,
  or its rendition not built): a catalog without media ingest keeps its links;
- nothing, for a `sha256:<hex>` value (an upload) whose rendition is not built: that ref names an asset, not a
  place anyone can fetch, so it is never linked as it is (nor through a catalog's URL convention); the first
  such value of a publication logs a warning naming `pim media renditions` (uploads build theirs at once:
  media.renditions.build_for_assets).
`why(value)` says why a value links to nothing (UNUSABLE, NOT_RENDERED), for channels that block on it (Google).
A channel whose media.yaml declares no renditions gets media.original_links.OriginalLinks: its values link as
they are, but a `sha256:` value links the stored original behind the public base URL, or nothing.

Links are looked up in batches (`prefetch`, a few queries per batch of products), not one query per value."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import select

from media.assets import RENDITION, SHA_REF, _connect, invalid_refs, rendition_key, resolve
from media.original_links import UNUSABLE, OriginalLinks
from media.renditions import public_url
from media.settings import RenditionSpec, load_media_file

_NOT_SEEN = object()
#: why(value) for a `sha256:` value whose rendition is not built (UNUSABLE: media found the image unusable).
NOT_RENDERED = "not_rendered"
log = logging.getLogger("pim.media")
#: What the file:// warning tells the operator to set: the channels' way; a caller whose base URL is set
#: elsewhere (a feed contract) passes its own `local_hint`.
LOCAL_HINT = ("set PIM_CDN_BASE_URL to the public URL the media folder is served at, or media_base_url in the "
              "channel's catalog (pim publish --catalog FILE), and publish again")


class RenditionLinks:
    """`links(value)` → URL (see the module doc); call `prefetch(values)` first for a batch."""

    def __init__(self, store: Any, channel: str, spec: RenditionSpec, asset_store: Any,
                 fallback: Callable[[str], str | None], *, media: Any = None, cdn_base_url: str | None = None,
                 local_hint: str = LOCAL_HINT) -> None:
        self.store, self.channel, self.spec, self.asset_store, self.fallback = store, channel, spec, asset_store, fallback
        self.media, self.local_hint = media, local_hint
        self.cdn = cdn_base_url.rstrip("/") if cdn_base_url else None
        self._known: dict[str, Any] = {}  # value → URL, None (unusable) or _NOT_SEEN
        self._why: dict[str, str] = {}  # value linked to None → why (UNUSABLE, NOT_RENDERED)
        self._local_warned = self._unbuilt_warned = False

    def prefetch(self, values: Iterable[str]) -> None:
        wanted = [v for v in dict.fromkeys(values) if isinstance(v, str) and v and v not in self._known]
        if not wanted:
            return
        if len(self._known) > 100_000:  # a stream of products: keep memory flat
            self._known.clear()
            self._why.clear()
        # unreadable, rejected, or below the channel's size rules: not linked at all
        shas = resolve(self.store, wanted)
        bad = invalid_refs(self.store, wanted, channel=self.channel, media=self.media, strict=False, resolved=shas)
        found = sorted({s for v, s in shas.items() if s and v not in bad})
        built: set[str] = set()
        with _connect(self.store) as conn:
            for start in range(0, len(found), 1000):
                built.update(conn.execute(select(RENDITION.c.sha256).where(
                    RENDITION.c.sha256.in_(found[start:start + 1000]), RENDITION.c.spec_hash == self.spec.spec_hash)).scalars())
        for value in wanted:
            sha = shas[value]
            if value in bad:
                self._known[value], self._why[value] = None, UNUSABLE
            elif sha in built:
                key = rendition_key(sha, self.spec.spec_hash, self.spec.extension)  # type: ignore[arg-type]
                self._known[value] = url = public_url(self.asset_store, key, self.cdn)
                if url.startswith("file:") and not self._local_warned:
                    self._warn_local(url)
            elif SHA_REF.match(value):  # a valid upload's `sha256:` ref: it names no place to fetch it from
                self._known[value], self._why[value] = None, NOT_RENDERED
                if not self._unbuilt_warned:
                    self._warn_unbuilt(value)
            else:  # never ingested, or its rendition not built yet
                self._known[value] = _NOT_SEEN

    def _warn_local(self, url: str) -> None:
        """Once per publication (one RenditionLinks each), not per product."""
        self._local_warned = True
        log.warning("channel %s links its images as file:// URLs of this machine's media folder (e.g. %s), which "
                    "no shop, feed reader or search page can fetch: %s", self.channel, url, self.local_hint)

    def _warn_unbuilt(self, value: str) -> None:
        """Once per publication: an uploaded image (`sha256:` ref) left out as its rendition is not built."""
        self._unbuilt_warned = True
        log.warning("channel %s leaves out images that have no '%s' rendition yet (e.g. %s; their items go without "
                    "an image, or are blocked where an image is required): run `pim media renditions --channel %s` "
                    "and publish again", self.channel, self.spec.name, value, self.channel)

    def state(self) -> list[Any]:
        """What the links depend on besides the values and their assets: the spec and the CDN base. A rendition
        built later does not belong here: it gives the products showing it a new seq (media.renditions), so
        incremental exports send them again."""
        return [self.spec.spec_hash, self.cdn]

    def why(self, value: str) -> str | None:
        """Why `value` links to nothing (UNUSABLE, NOT_RENDERED); None when it links (or falls back)."""
        if value not in self._known:
            self.prefetch([value])
        return self._why.get(value)

    def __call__(self, value: str) -> str | None:
        if value not in self._known:
            self.prefetch([value])
        hit = self._known.get(value, _NOT_SEEN)
        return self.fallback(value) if hit is _NOT_SEEN else hit


def links_for(store: Any, channel: str, fallback: Callable[[str], str | None],
              rendition: str | None = None, base_url: str | None = None,
              local_hint: str = LOCAL_HINT) -> RenditionLinks | OriginalLinks:
    """Registry entry for channels (channels.search.IMAGE_LINKS): the channel's links to its rendition named
    `rendition` when media.yaml declares one by that name, else to its listing rendition; when media.yaml declares
    no renditions for the channel, OriginalLinks (values linked as they are, `sha256:` values to their stored
    original behind the base URL, or left out; its `spec` is None). `base_url` is where this
    channel's renditions are served (its catalog's `media_base_url`), over PIM_CDN_BASE_URL; `local_hint` is what
    the file:// warning advises setting (where the caller takes its base URL from)."""
    from media.storage import open_asset_store
    from pim.settings import get_settings

    media = load_media_file()
    rules = media.channels.get(channel)
    base = base_url or get_settings().cdn_base_url
    if rules is None or not rules.renditions:
        return OriginalLinks(store, channel, open_asset_store(media=media), fallback, media=media, base_url=base)
    named = next((r for r in rules.renditions if rendition is not None and r.name == rendition), None)
    spec = named or (rules.rendition(rules.listing) if rules.listing else rules.renditions[0])
    return RenditionLinks(store, channel, spec, open_asset_store(media=media), fallback, media=media,
                          cdn_base_url=base, local_hint=local_hint)
