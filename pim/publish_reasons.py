"""What the publish guard (pim.pipeline.refuse_drop) says blocks the most products, and what to do about it: a
renderer's reasons counted by rule and field, whatever output or value they were met with, and advice for the
rules whose fix is a setting or a catalog option rather than a product's values."""

from __future__ import annotations

from collections import Counter

#: Rules a renderer reports without the output (locale, target, currency) they were met in: the storefront's and
#: search's required-image rules, one reason per attribute whichever locale shows it (channels.storefront).
UNPLACED_RULES = frozenset({"image_link_not_public", "image_not_rendered", "unusable_image"})


def top_reasons(blocked: dict[str, list[str]], renderer: str, n: int = 3) -> list[tuple[str, int]]:
    """The `n` reasons blocking the most products, as the gate report counts them (pim.gate.reason_kind:
    completeness per locale, a finding's kind; `disabled` too), and the renderer's own rules by rule and field
    without the output they were met in or the value (`google_merchant:US-en_US:missing:price:USD` →
    `google_merchant:missing:price`, `…:too_long:title:181>150` → `google_merchant:too_long:title`). A word
    after the field is the rule's variant, kept (`…:missing:brand:identifier_exists`); a rule of UNPLACED_RULES
    comes without an output (`storefront:image_link_not_public:image:<hint>` → `storefront:image_link_not_public:
    image`)."""
    from pim.gate import reason_kind

    counts: Counter[str] = Counter()
    for reasons in blocked.values():
        counts.update({k for k in (_reason_kind(r, renderer) or reason_kind(r) for r in reasons) if k})
    return counts.most_common(n)


def _reason_kind(reason: str, renderer: str) -> str | None:
    """A renderer's reason as top_reasons counts it; None for a reason of the gate's."""
    parts = reason.split(":", 5)
    if parts[0] != renderer or len(parts) < 3:
        return None
    rule = parts[1:] if parts[1] in UNPLACED_RULES else parts[2:]
    variant = rule[2:3] if len(rule) > 2 and rule[2].replace("_", "").isalpha() and rule[2].islower() else []
    return ":".join([renderer, *rule[:2], *variant])


#: What to do about a renderer's rule (top_reasons' kinds, by their ending), for the publish guard's hint.
RULE_ADVICE = {
    ":missing:brand:identifier_exists":
        "Google needs a brand on a product with a GTIN: fill its brand attribute (the built-in catalog maps "
        "`{output: brand, attributes: [brand, manufacturer]}`: add the attribute yours holds the brand in, e.g. "
        "manufacturer), or set `options.require_brand: false` in the catalog for media (books, films, music) and "
        "publish with it (pim publish --catalog FILE)",
    ":image_link_not_public":
        "the images link to no public URL: set PIM_CDN_BASE_URL (or the "
        "catalog's media_base_url) to the URL the media folder is served at, or declare renditions for the channel "
        "in media.yaml and run `pim media renditions --channel {scope}`",
    ":image_not_rendered": "the images have no rendition built yet: run `pim media renditions --channel {scope}`",
}


def reason_advice(top: list[tuple[str, int]], scope: str) -> str:
    """The advice (RULE_ADVICE) for the rules among `top` (top_reasons), each once, as sentences; "" for none."""
    said = [RULE_ADVICE[end].replace("{scope}", scope) for end in RULE_ADVICE
            if any(kind.endswith(end) or f"{end}:" in kind for kind, _ in top)]
    return "".join(f"{s}; " for s in said)
