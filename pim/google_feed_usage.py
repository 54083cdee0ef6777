"""The Google Merchant feeds a channel's last publish put out in a locale, for a locale leaving the channel
(pim.channel_usage): Merchant Center keeps fetching a published feed file until it is removed, and a catalog
file whose target (or `locales:`) names the locale fails every later publish ("locale 'it_IT' is not one of
channel 'ecommerce'"), so the old feed, with its old prices, would stay served for good. Such a locale may not
leave until that catalog is changed and published again (as a contract delivering in it must change first); a
feed the next publish simply stops writing (one per channel locale) is only said, to publish after the load.
Read from the publish jobs by SQL and the catalog file as plain YAML: the core never imports `channels`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from pim.store.store import JOB

RENDERER = "google_merchant"


@dataclass(frozen=True)
class LiveFeed:
    """A feed file in `locale` the last succeeded publish of the scope wrote."""

    name: str  # as the job lists it: google_merchant/feed.<scope>.<label>.xml
    job: int
    catalog: str | None  # the catalog file (None: the built-in one)
    names_locale: bool  # the catalog file itself names the locale (a target, `locales:`): its next publish fails

    def said(self, scope: str, locale: str) -> str:
        cmd = f"pim publish --channel {RENDERER}" + (f" --catalog {self.catalog}" if self.catalog else "")
        if self.names_locale:
            return (f"Google Merchant feed {self.name} (publish job {self.job}, catalog {self.catalog}) is served in "
                    f"{locale}, and that catalog names {locale} (a target or its locales): remove it there and run "
                    f"`{cmd}`, which removes the old feed, before {locale} leaves {scope}")
        return (f"Google Merchant feed {self.name} (publish job {self.job}) stays where Merchant Center fetches it "
                f"until the next publish: run `{cmd}` after this load, which removes it")


def live_feeds(store: Any, scope: str, locale: str) -> list[LiveFeed]:
    """The feeds in `locale` that the last succeeded Google publish of `scope` (whatever its catalog: every
    publish of a scope replaces the same files) wrote."""
    q = (select(JOB.c.id, JOB.c.counts).where(JOB.c.kind == "publish", JOB.c.source == f"{RENDERER}/{scope}",
                                             JOB.c.status == "succeeded").order_by(JOB.c.id.desc()).limit(1))
    with store.engine.connect() as conn:
        row = conn.execute(q).first()
    if row is None:
        return []
    job, counts = int(row[0]), row[1] or {}
    catalog = counts.get("catalog")
    files = [f for f in counts.get("files") or [] if isinstance(f, str) and _in_locale(f, locale)]
    names = bool(files) and _catalog_names(catalog, locale)
    return [LiveFeed(f, job, catalog, names) for f in files]


def _in_locale(name: str, locale: str) -> bool:
    """feed.<scope>.<locale>.xml (one per locale) or feed.<scope>.<CC>-<locale>.xml (one per target)."""
    return name.endswith((f".{locale}.xml", f"-{locale}.xml"))


def _catalog_names(catalog: str | None, locale: str) -> bool:
    """Whether the catalog file names `locale` in its `locales` or a target; a missing or unreadable file, or
    the built-in catalog (checked by pim.channel_usage.catalog_needs), does not."""
    if not catalog or not Path(catalog).is_file():
        return False
    try:
        data = yaml.safe_load(Path(catalog).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return False
    if not isinstance(data, dict):
        return False
    if locale in (data.get("locales") or []):
        return True
    targets = (data.get("options") or {}).get("targets") if isinstance(data.get("options"), dict) else None
    return any(isinstance(t, dict) and t.get("locale") == locale for t in targets or [])


def leaving_notes(store: Any, before: Any, after: Any) -> list[str]:
    """After a structure load (`before` and `after` pim.catalog.Structure): the Google feeds published in a locale
    that left a channel and that the next publish removes, said so it is run (the others refused the load)."""
    notes = []
    for code, old in sorted(before.channels.items()):
        new = after.channels.get(code)
        for loc in [loc for loc in old.locales if new is not None and loc not in new.locales]:
            notes += [f"{loc} left {code}: {f.said(code, loc)}" for f in live_feeds(store, code, loc)
                      if not f.names_locale]
    return notes
