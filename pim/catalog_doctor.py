"""What a catalog stored before a newer rule still holds that the rule now refuses, with what to do about it
(`pim doctor`): product identifiers and model codes with '/' (refused for new ones since round 34; the REST API
reaches them only URL-encoded, `%2F`), attributes coded with a reserved code (pim.structure), and image or file
values starting `sha256:` without the 64 hex digits of an asset (refused for new ones since round 35: pim.values).
Also a note, not something to rename: image values that count as filled whatever they name, because the media
area is not in use yet (`images_unchecked`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Text, cast, func, select

#: How many offending identifiers a finding names; `count` says how many there are in all.
SHOWN = 50


@dataclass
class Finding:
    """One kind of leftover: how many, the first `SHOWN` of them, and the advice."""

    kind: str
    count: int
    shown: list[str] = field(default_factory=list)
    advice: str = ""
    #: a note: worth knowing, nothing stored against a rule (`pim doctor` exits 0 for notes alone)
    note: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "count": self.count, "shown": self.shown, "advice": self.advice, "note": self.note}


def _slashed(conn: Any, column: Any) -> tuple[int, list[str]]:
    hit = column.contains("/", autoescape=True)
    count = int(conn.execute(select(func.count()).where(hit)).scalar_one())
    shown = [r[0] for r in conn.execute(select(column).where(hit).order_by(column).limit(SHOWN))] if count else []
    return count, shown


def slashed_identifiers(store: Any) -> list[Finding]:
    """Products and product models whose key holds '/' (one scan of the keys: a check run by hand, not a page)."""
    from pim.store.store import MODEL, PRODUCT

    out = []
    with store.engine.connect() as conn:
        for kind, column, advice in (("product identifier with '/'", PRODUCT.c.identifier, _RENAME_PRODUCT),
                                     ("product model code with '/'", MODEL.c.code, _RENAME_MODEL)):
            count, shown = _slashed(conn, column)
            if count:
                out.append(Finding(kind, count, shown, advice))
    return out


_RENAME_PRODUCT = ("new ones are refused; the REST API reaches these only with '/' sent as %2F "
                   "(/api/v1/products/a%2Fb). Rename each: export it (pim export jsonl), import it under an "
                   "identifier without '/', then delete the old one (DELETE /api/v1/products/a%2Fb)")
_RENAME_MODEL = ("new ones are refused; the REST API reaches these only with '/' sent as %2F (/api/v1/models/a%2Fb). "
                 "Rename each: create the model under a code without '/', give its variants that parent, then "
                 "delete the old one")


def reserved_attributes(store: Any) -> list[Finding]:
    """Attributes stored before their code was reserved (they still read, so the catalog opens)."""
    from pim.structure import RESERVED_ATTRIBUTE_CODES

    held = sorted(RESERVED_ATTRIBUTE_CODES & set(store.structure().attributes))
    if not held:
        return []
    return [Finding("attribute with a reserved code", len(held), held, (
        "a product's associations are keyed associations:<TYPE>; add an attribute under another code (e.g. "
        f"{held[0]}_text), move the values to it, then delete this one (pim structure delete attributes "
        f"{held[0]})"))]


def _bad_refs(conn: Any, key_column: Any, values: Any, assets: set[str]) -> tuple[int, list[str]]:
    """(how many, the first SHOWN as `key attribute=value`) of malformed `sha256:` values among the rows whose
    stored values mention `sha256:` at all (the database narrows the scan; pim.values judges each value)."""
    from pim.values import ref_problem

    mentions = func.lower(cast(values, Text)).contains("sha256:", autoescape=True)
    count, shown = 0, []
    rows = conn.execution_options(yield_per=1000).execute(
        select(key_column, values).where(mentions).order_by(key_column))
    for key, value_map in rows:
        for value_key, data in sorted((value_map or {}).items()):
            if value_key.split(":", 1)[0].split("@", 1)[0] in assets and ref_problem(data):
                count += 1
                if len(shown) < SHOWN:
                    shown.append(f"{key} {value_key}={data[:80]}")
    return count, shown


def malformed_asset_refs(store: Any) -> list[Finding]:
    """Image and file values stored before round 35 refused a `sha256:` value that is no asset reference
    (`sha256:abc123`): channels link only well-formed refs through media, so these went out as text."""
    from pim.store.store import MODEL, PRODUCT
    from pim.structure import AttributeType

    assets = {code for code, a in store.structure().attributes.items()
              if a.type in (AttributeType.image, AttributeType.file)}
    if not assets:
        return []
    out = []
    with store.engine.connect() as conn:
        for kind, key, values in (("product image/file value that is no sha256 asset ref", PRODUCT.c.identifier,
                                   PRODUCT.c.value_map),
                                  ("product model image/file value that is no sha256 asset ref", MODEL.c.code,
                                   MODEL.c.value_map)):
            count, shown = _bad_refs(conn, key, values, assets)
            if count:
                out.append(Finding(kind, count, shown, _REUPLOAD))
    return out


_REUPLOAD = ("new ones are refused: `sha256:` must be followed by the 64 hex digits of an uploaded image. Channels "
             "send these as text (bare on the storefront, a made-up path on Google). Upload the image on the "
             "product page (or import its path or URL) to replace each value, or clear it")


def images_unchecked(store: Any) -> list[Finding]:
    """Until the media area is in use (no image ingested or uploaded yet: media.assets.media_in_use), completeness
    counts any text in an image value as filled, a path that points at nothing included: checking each value
    against disk or a CDN inside every product write is not done, `pim media ingest` is that check. An http(s) URL
    counts even afterwards (channels link it as it is), so only other values are named. Reads the image index."""
    from media.assets import is_url, media_in_use
    from media.image_index import MODELS, USE, image_attributes, refreshed

    if not image_attributes(store):
        return []
    with store.engine.connect() as conn:
        if media_in_use(conn):
            return []
    refreshed(store)
    count, shown = 0, []
    with store.engine.connect() as conn:
        rows = conn.execution_options(yield_per=1000).execute(
            select(USE.c.kind, USE.c.owner, USE.c.ref).distinct().order_by(USE.c.kind.desc(), USE.c.owner, USE.c.ref))
        for kind, owner, ref in rows:
            if is_url(ref):
                continue
            count += 1
            if len(shown) < SHOWN:
                shown.append(f"{'model ' if kind == MODELS else ''}{owner} {ref[:80]}")
    if not count:
        return []
    return [Finding("image value counted as filled unchecked (the media area is not in use yet)", count, shown,
                    _UNCHECKED, note=True)]


_UNCHECKED = ("until the first `pim media ingest` or upload, completeness counts any text in an image value as a "
              "filled image, a path that points at nothing included. Run `pim media ingest` to read them: from "
              "then on only stored, valid images (and http(s) URLs) count, so completeness may drop for these "
              "products (ingest rescores those showing an image it read; `pim gate rescore` afterwards settles all)")


PER_KIND = 5  # missing labels named per kind (option, category, attribute, family)


def missing_labels(store: Any) -> list[Finding]:
    """A note per channel locale lacking structure labels another of its locales has (pim.label_gaps): its
    outputs show codes there."""
    from pim.label_gaps import ADVICE, label_gaps

    return [Finding(f"structure labels missing in {g.locale} (channel {', '.join(g.channels)}: {g.counted()})",
                    g.count, [f"{kind} {code}" for kind, codes in g.missing.items() for code in codes[:PER_KIND]],
                    f"outputs in {g.locale} show these codes instead. {ADVICE.format(locale=g.locale)}", note=True)
            for g in label_gaps(store.structure())]


def diagnose(store: Any) -> list[Finding]:
    """Findings to act on, then notes (`Finding.note`)."""
    return (slashed_identifiers(store) + reserved_attributes(store) + malformed_asset_refs(store)
            + images_unchecked(store) + missing_labels(store))
