"""What an asset reference image value looks like: `sha256:<64 hex>`, the value an upload through the product page
sets (pim.web.image_upload). It names an asset in the media store, not a place anyone can fetch, so a channel
links it through media (media/links.py: its rendition, or its stored original behind the public base URL) and
never sends it as it is, nor builds a URL from it. Mirrors media.assets.SHA_REF without importing media."""

from __future__ import annotations

import re
from typing import Any

_REF = re.compile(r"^sha256:[0-9a-f]{64}$")


def is_asset_ref(value: Any) -> bool:
    return isinstance(value, str) and _REF.match(value) is not None
