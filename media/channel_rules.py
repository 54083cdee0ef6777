"""The channels' image rules as completeness sees them: an image counts as filled on a channel only when it is a
stored, valid asset that meets that channel's size and aspect rules (media.yaml). This module reads those rules
(parsed again only when the file changed: the completeness hook runs inside every product write), says why an
image does not count (the product page and the to-do show it), and notices when the rules changed since the
stored scores were computed, so the families requiring an image on those channels are rescored."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from typing import Any

import orjson

log = logging.getLogger(__name__)

#: sequence rows keeping the rules each channel's stored scores were computed with (a 62-bit digest)
_SEEN = "media_rules"  # present once any digest was recorded: before that, scores predate the rules check
#: `_SEEN`'s value in a database that had scored nothing when it was created or upgraded (migration
#: 0050_media_rules_fresh): its scores are all this release's, computed before media came into use (a new
#: catalog starts without uploads), so its first check compares with the channels' digests for media not in use
FRESH = 2
_PREFIX = "media_rules:"

_CACHE: dict[str, Any] = {}


def channel_rules() -> dict[str, Any]:
    """channel → ChannelMedia of PIM_HOME/media.yaml, parsed again only when the file's bytes changed (a small
    file read per call: its time stamp can miss an edit within its resolution). A broken file leaves the last
    good rules in force (or none) and logs why: a product write must not fail for it (`pim media problems`
    reports the file's error)."""
    from media.errors import MediaConfigError
    from media.settings import default_path, load_media_file

    path = default_path()
    try:
        stamp: Any = (str(path), path.read_bytes())
    except OSError:
        stamp = (str(path), None)
    if _CACHE.get("stamp") != stamp:
        try:
            _CACHE["rules"] = dict(load_media_file().channels) if stamp[1] is not None else {}
        except MediaConfigError as exc:
            log.warning("media.yaml not read, image rules unchanged: %s", exc)
            _CACHE.setdefault("rules", {})
        _CACHE["stamp"] = stamp
    return _CACHE["rules"]  # type: ignore[no-any-return]


def size_rule(rules: Any) -> tuple[Any, ...]:
    return (rules.min_width, rules.min_height, rules.min_aspect_ratio, rules.max_aspect_ratio) if rules else ()


def digest(rules: Any, in_use: bool = True) -> int:
    """A channel's size/aspect rules, and whether image values must be assets yet (media.assets.media_in_use), as
    a number that fits a sequence row (renditions do not change scores)."""
    # once in use, the digest also names how URL values count (round 35: an http(s) URL nobody ingested counts),
    # so catalogs scored before that get their rescore jobs queued
    raw = orjson.dumps([size_rule(rules), in_use, *(["urls-count"] if in_use else [])])
    return int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "big") >> 2


def _key(channel: str) -> str:
    return _PREFIX + hashlib.blake2b(channel.encode(), digest_size=8).hexdigest()


def why_not_counted(store: Any, refs: Iterable[str], channel: str) -> dict[str, str]:
    """ref → why this image value does not count as filled on `channel` ("image not uploaded", "image too
    small for ecommerce (120×120 < 500×500)", "image rejected: …"); refs that count are left out."""
    from media.assets import VALID, _failed_reasons, get_assets, is_url, resolve

    refs = [r for r in dict.fromkeys(refs) if isinstance(r, str) and r]
    mapping = resolve(store, refs)
    assets = get_assets(store, [s for s in mapping.values() if s])
    unread = _failed_reasons(store, [r for r, sha in mapping.items() if sha is None])
    rules = channel_rules().get(channel)
    out: dict[str, str] = {}
    for ref in refs:
        asset = assets.get(mapping.get(ref) or "")
        if asset is None:
            if ref in unread:
                out[ref] = f"image unreadable: {unread[ref]}"
            elif mapping.get(ref) is not None or not is_url(ref):  # a URL nobody ingested counts (asset_validity)
                out[ref] = "image not uploaded: upload it here, or have pim media ingest read it"
        elif asset["status"] != VALID:
            out[ref] = f"image rejected: {asset['problem']}"
        elif rules is not None and (issues := rules.problems(asset["width"], asset["height"])):
            size = f"{asset['width']}×{asset['height']}"
            want = f"{rules.min_width or '-'}×{rules.min_height or '-'}"
            small = bool((rules.min_width and asset["width"] < rules.min_width)
                         or (rules.min_height and asset["height"] < rules.min_height))
            out[ref] = (f"image too small for {channel} ({size} < {want})" if small
                        else f"image does not fit {channel}'s rules ({'; '.join(issues)})")
    return out


def _written_before_media(conn: Any) -> bool:
    """Whether some product was last written (and scored) before the first image was stored: its score then
    counted any text as an image. A product rescored since without a write is counted too (the safe side)."""
    from sqlalchemy import func, select

    from media.assets import ASSET
    from pim.store.store import PRODUCT

    first = conn.execute(select(func.min(ASSET.c.created_at))).scalar_one_or_none()
    return first is not None and conn.execute(
        select(PRODUCT.c.id).where(PRODUCT.c.updated_at < first).limit(1)).first() is not None


def settle(store: Any, *, everything: bool = False) -> list[int]:
    """When a channel's image rules changed since its stored scores were computed (or the media area came into
    use, or went out of it: media.assets.media_in_use), queue a rescore job
    (pim.rescore_jobs: until it succeeds the gate scores those products itself and the pages say the figures
    are being recalculated) of each family requiring an image or file on that channel, and remember the rules.
    Returns the jobs queued. The first call after an upgrade (nothing recorded: the scores predate this check)
    takes those scores as computed before the media area was in use (any text counted; size rules apply to stored
    assets only): when media is in use by then, the families requiring an image that have products get their
    jobs, so nobody has to run `pim gate rescore` by hand; otherwise it only records. On a catalog that had scored
    nothing at its upgrade or creation (`FRESH`) the first call takes the scores as this release's with media not
    in use (`digest(rules, False)` per channel) when some product was written before the first image was stored:
    if media came into use before that call (the first upload), the families requiring an image that have
    products get their jobs, as for any later change (products all written since the first upload were scored
    with media in use: nothing to queue). A call made with
    `everything` (a full rebuild is about to score every product) only records. Cheap when nothing changed:
    the rules file is cached, one query reads the stored digests."""
    from sqlalchemy import select

    from media.assets import media_in_use
    from pim.rescore_jobs import family_sizes, record
    from pim.store.store import SEQUENCE
    from pim.structure import AttributeType
    from pim.structure_cache import cached_structure

    rules = channel_rules()
    with store.engine.connect() as conn:
        structure = cached_structure(conn)
        in_use = media_in_use(conn)
        wanted = {ch: digest(rules.get(ch), in_use) for ch in structure.channels}
        names = {_key(ch): ch for ch in wanted}
        seen = dict(conn.execute(select(SEQUENCE.c.name, SEQUENCE.c.value)
                                 .where(SEQUENCE.c.name.in_([_SEEN, *names]))).all())
        fresh = seen.get(_SEEN) == FRESH
        # a fresh catalog's scores were computed with media not in use unless every product was written since
        # the first image was stored (then they already are this state's)
        started_in_use = fresh and in_use and not _written_before_media(conn)
    first = _SEEN not in seen or fresh
    if _SEEN not in seen:  # scores from before this check: any text counted, size rules bite on stored assets only
        changed = set(wanted) if in_use else set()
    else:  # a channel not recorded yet was added since: scored anew, but rescoring it is the safe side; in a
        # fresh catalog its scores were computed with the current rules, media not in use (its start)
        start = {k: digest(rules.get(ch), started_in_use) for k, ch in names.items()} if fresh else {}
        changed = {ch for k, ch in names.items() if seen.get(k, start.get(k)) != wanted[ch]}
    if not first and not changed:
        return []
    assets = {c for c, a in structure.attributes.items() if a.type in (AttributeType.image, AttributeType.file)}
    jobs: list[int] = []
    with store.begin() as conn:
        if changed and not everything:
            by_family: dict[str, set[str]] = {}
            for code, fam in structure.families.items():
                hit = {ch for ch in changed if assets & set(fam.requirements.get(ch, ()))}
                if hit:
                    by_family[code] = hit
            sizes = family_sizes(conn, set(by_family)) if by_family else {}
            if first:  # nothing scored as a family without products: nothing to wait for
                by_family = {f: chs for f, chs in by_family.items() if sizes.get(f, 0)}
            jobs = [record(conn, f, chs, sizes.get(f, 0)) for f, chs in sorted(by_family.items())]
        rows = [{"name": k, "value": wanted[ch]} for k, ch in names.items()] + [{"name": _SEEN, "value": 1}]
        store.upsert_rows(conn, SEQUENCE, rows, ["name"])
    if jobs and first and not fresh:
        log.warning("image completeness on %s was scored by a release before the image checks (an upgrade): %d "
                    "rescore job(s) queued; a `pim worker` runs them (or `pim gate rescore` does it all at once)",
                    ", ".join(sorted(changed)), len(jobs))
    elif jobs:
        log.info("image rules changed on %s: %d rescore job(s) queued", ", ".join(sorted(changed)), len(jobs))
    return jobs
