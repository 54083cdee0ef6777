"""Meilisearch document ids from SKUs. Meilisearch accepts only `a-zA-Z0-9-_` and at most 511 bytes, so an SKU
outside that rule is encoded reversibly. Encoded ids start with `_`, a character no raw id is allowed to
start with here, so a raw id and an encoded one can never collide.

- safe SKU not starting with `_`            → the SKU itself
- otherwise, UTF-8 ≤ 381 bytes (every ASCII SKU the model allows) → `_b` + base64url without padding
- longer (only exotic non-ASCII SKUs)       → `_h` + blake2b digest; reversible through the document's `sku`
"""

from __future__ import annotations

import base64
import hashlib
import re

MAX_ID_BYTES = 511
_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")
_B64_MAX_INPUT = (MAX_ID_BYTES - 2) // 4 * 3  # 381 bytes → 508 characters


def is_valid_id(value: str) -> bool:
    return bool(_SAFE.match(value)) and len(value.encode()) <= MAX_ID_BYTES


def encode_id(sku: str) -> str:
    if is_valid_id(sku) and not sku.startswith("_"):
        return sku
    raw = sku.encode("utf-8")
    if len(raw) <= _B64_MAX_INPUT:
        return "_b" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
    return "_h" + hashlib.blake2b(raw, digest_size=32).hexdigest()


def decode_id(doc_id: str) -> str | None:
    """The SKU an id stands for; None for a digest id (read the document's `sku` field instead)."""
    if doc_id.startswith("_b"):
        body = doc_id[2:]
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode("utf-8")
    if doc_id.startswith("_h"):
        return None
    return doc_id
