"""Structure labels a channel locale lacks: an option, category, attribute or family labelled in another locale
of a channel but not in this one shows its code in that locale's outputs (a Google title "brand_026 Articolo",
a search family_label "family_005", a storefront brand {"code": "brand_026", "label": "brand_026"}). The
structure declares no fallback language, so nothing is made up: the gaps are said, by `pim structure load`,
`pim doctor` and each publish writing such a locale (one grouped warning on its job). Counted from the
structure alone (never per product), so it is cheap enough to run on every publish. An item labelled in no
locale at all is left out: its code is its name everywhere, not a missing translation."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from pim.catalog import Structure

log = logging.getLogger("pim.labels")

#: How many codes of each kind a message names.
SHOWN = 3
#: The kinds, in the order they are said (singular, plural).
KINDS = (("option", "options"), ("category", "categories"), ("attribute", "attributes"), ("family", "families"))


@dataclass
class LocaleGaps:
    """One locale's missing labels: kind → codes (options as attribute.option)."""

    locale: str
    channels: list[str]
    missing: dict[str, list[str]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(len(codes) for codes in self.missing.values())

    def counted(self) -> str:
        """"262 option, 200 category, 100 attribute and 20 family labels"."""
        parts = [f"{len(self.missing[kind])} {kind}" for kind, _ in KINDS if self.missing.get(kind)]
        return (", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]) + " labels"

    def examples(self) -> str:
        return "; ".join(f"{plural} {', '.join(self.missing[kind][:SHOWN])}"
                         + (", …" if len(self.missing[kind]) > SHOWN else "")
                         for kind, plural in KINDS if self.missing.get(kind))

    def said(self) -> str:
        return (f"{self.locale} (channel {', '.join(self.channels)}) lacks {self.counted()} that another of its "
                f"locales has (e.g. {self.examples()}): outputs in {self.locale} show those codes instead. "
                f"{ADVICE.format(locale=self.locale)}")


ADVICE = ("Add `{locale}: …` under each one's `labels` in the structure files and run `pim structure load` "
          "(or label them on the admin pages)")


def label_gaps(s: Structure, locales: list[str] | None = None, channel: str | None = None) -> list[LocaleGaps]:
    """Per channel locale (of `channel` only, when given; of `locales` only, when given), the labels missing in
    it that another locale of one of its channels has. Locales with no gap are left out."""
    owners: dict[str, list[str]] = {}
    for code, ch in sorted(s.channels.items()):
        if channel is None or code == channel:
            for loc in ch.locales:
                owners.setdefault(loc, []).append(code)
    found = []
    for loc, chans in owners.items():
        if locales is not None and loc not in locales:
            continue
        others = {o for c in chans for o in s.channels[c].locales if o != loc}
        gaps = LocaleGaps(loc, chans)
        for kind, items in _labelled(s):
            codes = [code for code, labels in items if loc not in labels and others & set(labels)]
            if codes:
                gaps.missing[kind] = codes
        if gaps.missing:
            found.append(gaps)
    return found


def _labelled(s: Structure) -> list[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    """(kind, [(code, labels)]) for the structure items outputs label; internal attributes (never published)
    and their options are left out."""
    public = {c: a for c, a in sorted(s.attributes.items()) if not getattr(a, "internal", False)}
    options = [(f"{attr}.{code}", _filled(o.labels)) for attr in public for code, o in sorted(s.options.get(attr, {}).items())]
    return [("option", options),
            ("category", [(c, _filled(x.labels)) for c, x in sorted(s.categories.items())]),
            ("attribute", [(c, _filled(a.labels)) for c, a in public.items()]),
            ("family", [(c, _filled(f.labels)) for c, f in sorted(s.families.items())])]


def _filled(labels: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (labels or {}).items() if isinstance(v, str) and v.strip()}


def publish_warning(ctx: Any) -> dict[str, Any]:
    """For a publish: one grouped warning (logged, and returned for its job's counts as `label_gaps`) naming the
    locales it writes that lack labels; nothing when none does. Never fails the publish."""
    from pim.gate import judged_locales

    try:
        gaps = label_gaps(ctx.structure, judged_locales(ctx) or ctx.structure.channels[ctx.channel].locales,
                          channel=ctx.channel)
    except Exception as exc:  # a warning's own failure is no reason to stop a publish
        log.debug("label gaps not worked out: %s", exc)
        return {}
    if not gaps:
        return {}
    text = "; ".join(g.said() for g in gaps)
    log.warning("labels missing: %s", text)
    return {"label_gaps": {g.locale: {kind: len(codes) for kind, codes in g.missing.items()} for g in gaps}}
