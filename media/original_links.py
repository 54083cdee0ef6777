"""Image links for a channel whose media.yaml declares no renditions (media.links.links_for returns these).

Such a channel links its image values as they are (the caller's fallback), except a `sha256:<hex>` value (an
upload through the product page, or a catalog value rewritten to its asset): that names an asset, not a place
anyone can fetch, so it is never linked bare (nor through a catalog's URL convention). It links the stored
original (`originals/<sha[:2]>/<sha>.<ext>`, docs/media.md) behind the public base URL the media store is
served at — the channel catalog's or contract's `media_base_url`, else PIM_CDN_BASE_URL — and is left out when
no base is set (the first such value of a publication logs what to set), or when the asset is missing,
rejected or below the channel's size rules. `why(value)` says which, for channels that block on it (Google)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from media.assets import SHA_REF, VALID, get_assets
from media.renditions import public_url

log = logging.getLogger("pim.media")
#: why(value) answers: the value is not a usable asset; or it is, but no public base URL is set to link it behind.
UNUSABLE, NOT_PUBLIC = "unusable", "not_public"
#: What an asset reference value (SHA_REF) starts with.
REF = "sha256:"


class OriginalLinks:
    """`links(value)` → URL or None, as media.links.RenditionLinks; only `sha256:` values cost queries."""

    #: No rendition is linked (feeds check a contract's named rendition against this).
    spec = None

    def __init__(self, store: Any, channel: str, asset_store: Any, fallback: Callable[[str], str | None], *,
                 media: Any, base_url: str | None) -> None:
        self.store, self.channel, self.asset_store, self.fallback = store, channel, asset_store, fallback
        self.rules = media.channels.get(channel)
        self.base = base_url.rstrip("/") if base_url else None
        self._known: dict[str, str | None] = {}
        self._why: dict[str, str] = {}
        self._warned = False

    def prefetch(self, values: Iterable[str]) -> None:
        wanted = [v for v in dict.fromkeys(values) if isinstance(v, str) and SHA_REF.match(v) and v not in self._known]
        if not wanted:
            return
        if len(self._known) > 100_000:  # a stream of products: keep memory flat
            self._known.clear()
            self._why.clear()
        assets = get_assets(self.store, [v[len(REF):] for v in wanted])
        for value in wanted:
            asset = assets.get(value[len(REF):])
            if (asset is None or asset["status"] != VALID or not asset["key"]
                    or (self.rules is not None and self.rules.problems(asset["width"], asset["height"]))):
                self._known[value], self._why[value] = None, UNUSABLE
            elif self.base is None:
                self._known[value], self._why[value] = None, NOT_PUBLIC
                if not self._warned:
                    self._warn(value)
            else:
                self._known[value] = public_url(self.asset_store, asset["key"], self.base)

    def _warn(self, value: str) -> None:
        """Once per publication, not per product."""
        self._warned = True
        log.warning("channel %s cannot link uploaded images (e.g. %s): media.yaml declares no renditions for it and "
                    "no public URL is set for the media store's originals, so a product is blocked where the image "
                    "is required (its family's required image; Google's main image: image_link_not_public) and "
                    "other uploaded images are left out; set media_base_url in the channel's "
                    "catalog or PIM_CDN_BASE_URL to the URL the media folder is served at (or declare renditions "
                    "for the channel in media.yaml and run `pim media renditions --channel %s`), and publish again",
                    self.channel, value, self.channel)

    def state(self) -> list[Any]:
        """What the links depend on besides the values and their assets (as RenditionLinks.state): no spec, and
        the public base URL, so that setting media_base_url or PIM_CDN_BASE_URL after a publication that left
        uploads out sends the documents again (channels.search folds this into its shape)."""
        return [None, self.base]

    def why(self, value: str) -> str | None:
        """Why `value` links to nothing (UNUSABLE or NOT_PUBLIC), None when it links."""
        if value not in self._known:
            self.prefetch([value])
        return self._why.get(value)

    def __call__(self, value: str) -> str | None:
        if not SHA_REF.match(value):
            return self.fallback(value)
        if value not in self._known:
            self.prefetch([value])
        return self._known.get(value)
