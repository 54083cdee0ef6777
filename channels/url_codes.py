"""Record codes in URLs: a SKU may hold `/`, `#`, `?`, `&`, `%` or spaces (`E3 a/b#c` must not become a path, a
fragment or a broken link), so URL templates read them percent-encoded."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

#: Context keys holding a record's codes: in a URL they are percent-encoded.
URL_CODES = ("identifier", "parent", "family")
_URL_SAFE = re.compile(r"[A-Za-z0-9_.~-]*")  # what quote(safe="") leaves as it is: most codes, at no cost


def is_url_field(output: str) -> bool:
    """Whether a template field builds a URL by its name (`link`, `*_link`, `*_url`): its record codes come
    percent-encoded. A field's own `url:` says it otherwise (FieldMap.builds_url)."""
    return output == "link" or output.endswith(("_link", "_url"))


def in_url(ctx: dict[str, Any]) -> dict[str, Any]:
    """`ctx` for a URL template: identifier, parent and family percent-encoded as one path segment each (UTF-8,
    nothing but letters, digits and `-._~` left as it is, which is safe in a query value as well)."""
    encoded = {k: quote(v, safe="") for k in URL_CODES
               if isinstance(v := ctx.get(k), str) and not _URL_SAFE.fullmatch(v)}
    return {**ctx, **encoded} if encoded else ctx
