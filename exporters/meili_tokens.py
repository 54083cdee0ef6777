"""Tenant tokens: HS256 JWTs signed with a search API key (Meilisearch's documented payload), whose searchRules
filter every search made with them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from datetime import UTC, datetime
from typing import Any

import orjson

from exporters.meili_client import MeiliClient, MeiliConfig
from pim.errors import ConfigError


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def tenant_token(api_key: str, api_key_uid: str, search_rules: dict[str, Any] | list[str],
                 expires_at: datetime | None = None) -> str:
    """A JWT (HS256) that Meilisearch verifies with the API key `api_key_uid` names and whose searchRules filter
    every search made with it. Never sign with the master key (Meilisearch refuses it)."""
    header = _b64(orjson.dumps({"alg": "HS256", "typ": "JWT"}))
    claims: dict[str, Any] = {"searchRules": search_rules, "apiKeyUid": api_key_uid}
    if expires_at is not None:
        claims["exp"] = int(expires_at.timestamp())
    payload = _b64(orjson.dumps(claims))
    signature = hmac.new(api_key.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def search_api_key(cfg: MeiliConfig) -> tuple[str, str]:
    """(key, uid) of a key allowed to search: MEILI_SEARCH_API_KEY(+_UID), else looked up with the master key."""
    key, uid = os.environ.get("MEILI_SEARCH_API_KEY"), os.environ.get("MEILI_SEARCH_API_KEY_UID")
    if key and uid:
        return key, uid
    if not cfg.url:
        raise ConfigError("no search API key to sign tenant tokens with",
                          hint="set MEILI_SEARCH_API_KEY and MEILI_SEARCH_API_KEY_UID, or MEILI_URL and MEILI_MASTER_KEY")
    client = MeiliClient(cfg)
    try:
        keys = client.request("GET", "/keys", params={"limit": 1000})["results"]
    finally:
        client.close()
    usable = [k for k in keys if ("search" in k["actions"] or "*" in k["actions"])
              and (k.get("expiresAt") is None or k["expiresAt"] > datetime.now(UTC).isoformat())]
    usable.sort(key=lambda k: k["actions"] != ["search"])  # prefer a search-only key
    if not usable:
        raise ConfigError("Meilisearch has no API key with the search action",
                          hint="create one: POST /keys {\"actions\": [\"search\"], \"indexes\": [\"*\"], \"expiresAt\": null}")
    return usable[0]["key"], usable[0]["uid"]
