"""Which files a renderer's last publication of a scope wrote to a target, so the next one can remove those it no
longer writes (a locale that left the channel, per-locale Google feeds replaced by per-target ones) and nothing
else: a small JSON manifest per renderer and scope, `.published/<renderer>.<scope>.json` under the target (the
local output folder, the S3 prefix, the SFTP folder), kept by the exporter that wrote the files. What a renderer's
stale files get is channels.framework.STALE_OUTPUTS: "remove" or "report"; renderers not named there (customer
feeds, whose every file the customer may still need) keep every file and keep no manifest. The rules are here;
each exporter reads, removes and writes at its own target."""

from __future__ import annotations

import logging
import posixpath
from typing import Any

import orjson

from pim.protocols import PublishContext

#: The folder of manifests under a target.
PUBLISHED = ".published"


def stale_mode(ctx: PublishContext | None) -> tuple[str, str] | None:
    """(renderer, "remove" or "report") for a publication whose renderer's stale files are looked after; None for
    anything else (a feed delivery, a renderer that keeps every file)."""
    from channels.framework import STALE_OUTPUTS

    renderer = None if ctx is None else ctx.options.get("renderer")
    mode = STALE_OUTPUTS.get(str(renderer)) if renderer else None
    return None if mode is None else (str(renderer), mode)


def manifest_name(renderer: str, scope: str) -> str:
    """The manifest's name under the target."""
    return f"{PUBLISHED}/{renderer}.{scope}.json"


def listed(data: bytes | None) -> list[str]:
    """The names a manifest lists that are safe to touch: relative, no `..`, no empty part (a hand-edited
    manifest cannot reach beyond the target); none for a missing or unreadable manifest."""
    try:
        files = orjson.loads(data).get("files", []) if data else []
    except (ValueError, AttributeError):
        return []
    return [f for f in files if isinstance(f, str) and _relative(f)]


def _relative(name: str) -> bool:
    parts = name.split("/")
    return bool(name) and not name.startswith("/") and "\\" not in name and all(p not in ("", ".", "..") for p in parts)


def stale(listed_names: list[str], names: list[str], mode: str) -> list[str]:
    """The listed names this publication, which wrote `names`, did not write; for "report" (search), only those of
    an index it did not write (a push that sends no deletes.json to an index it still writes is no news)."""
    def unit(n: str) -> str:
        return n if mode == "remove" else n.rpartition("/")[0]

    written = {unit(n) for n in names}
    return sorted(n for n in set(listed_names) - set(names) if unit(n) not in written)


def manifest(renderer: str, ctx: PublishContext, names: list[str], gone: list[str], mode: str) -> bytes:
    """The new manifest: the files written, and for "report" the stale ones too (reported again until they go)."""
    return orjson.dumps({"renderer": renderer, "scope": ctx.channel, "job": ctx.job_id,
                         "files": sorted({*names, *(gone if mode == "report" else ())})})


def emptied_folders(name: str) -> list[str]:
    """The folders of `name` under the target, deepest first: a removal tries them while they are empty."""
    folders, folder = [], posixpath.dirname(name)
    while folder:
        folders.append(folder)
        folder = posixpath.dirname(folder)
    return folders


def say_removed(log: logging.Logger, renderer: str, ctx: PublishContext, gone: list[str], where: str) -> None:
    log.info("removed %d file(s) the last %s publication of %s wrote to %s and this one does not: %s", len(gone),
             renderer, ctx.channel, where, ", ".join(gone))


def report_indexes(ctx: PublishContext, gone: list[str], where: Any) -> None:
    """Search: the indexes whose files the last push to `where` wrote and this one did not (their locale left the
    channel): kept, since only `pim search drop` deletes an index, and named with that command."""
    say = logging.getLogger("pim.search")
    for uid in sorted({name.split("/")[1] for name in gone if name.count("/") >= 2}):
        locale = uid.rpartition(f"_{ctx.channel}_")[2]
        say.warning("search index %s in %s is no longer published (channel %s does not have %s now): its files "
                    "stay, and an index loaded from them stays at Meilisearch; if the locale left for good, delete "
                    "both with `pim search drop --channel %s --locale %s`", uid, where, ctx.channel, locale,
                    ctx.channel, locale)
