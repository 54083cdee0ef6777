"""The product page's image upload (pim.web.ui.upload), apart from the route: which value key may take the image,
which level holds it (a variant's model, as the value's text form edits it), what the page showed for it (the
stale check), and the ingest that builds the image's renditions at once, so the next publish links it."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import HTTPException

from pim.product import split_key
from pim.registry import load
from pim.structure import AttributeType
from pim.web import panels
from pim.web.editing import check_key

#: Builds an upload's renditions on every channel (media.renditions), found by registry string as panels' are.
UPLOAD_RENDITIONS = "media.renditions:build_for_assets"
#: The upload form's field for what the page showed for each image key it offers: `shown[<key>]` (JSON).
SHOWN_FIELD = "shown[{key}]"
log = logging.getLogger("pim.media")


def key_problem(key: str, s: Any) -> str | None:
    """Why the upload form's `key` cannot take an image (no value key of this structure, or not an image
    attribute's), or None. Asked before the bytes are stored."""
    if problem := check_key(key, s):
        return f"{problem}: choose one of the upload form's image attributes"
    attr = s.attributes[split_key(key)[0]]
    if attr.type != AttributeType.image:
        return (f"'{attr.code}' is a {attr.type.value} attribute, not an image: choose one of the upload form's "
                "image attributes")
    return None


def expected(form: Any) -> dict[str, Any] | None:
    """What the page showed for the form's chosen key, as the text form's `shown` field says it (pim.web.editing
    refuses the edit as stale when the value changed since); None for a form without it (no stale check)."""
    key = str(form.get("key", ""))
    field = SHOWN_FIELD.format(key=key)
    raw = form.get(field)
    if raw is None:
        return None
    try:
        return {key: json.loads(str(raw))}
    except ValueError:
        raise HTTPException(422, f"the form's '{field}' field is not the JSON the page writes: reload the product "
                                 "page and upload again") from None


def holder(store: Any, s: Any, product: Any, key: str) -> str | None:
    """The code of the product model that holds `key`'s attribute for this variant (its model, or that model's
    parent: pim.variant_levels), where the upload goes as the text form's edit does; None when the product
    holds it itself."""
    from pim.variant_levels import VariantLevels, below, model_placement

    chain = store.ancestors(product) if product.parent else []
    if not chain:
        return None
    at = below(model_placement(chain[0].family_variant, chain[0].parent))
    return VariantLevels(s).holder(at, split_key(key)[0], [m.code for m in chain])


def ingest(store: Any, data: bytes, name: str) -> dict[str, Any]:
    """Ingest the bytes (panels.upload_media), then build a valid image's renditions before it is set, so no
    publish after the edit meets a bare `sha256:` ref. A rendition that fails to build does not refuse the
    upload: the channels leave the image out until `pim media renditions` builds it (media.links), and the log
    says so. Returns the ingest's result row (sha256, status, problem)."""
    result = panels.upload_media(store, data, name)
    if not result.get("problem") and result.get("sha256"):
        try:
            load(UPLOAD_RENDITIONS)(store, [result["sha256"]])
        except Exception as exc:  # the asset store or media.yaml: the upload itself is kept
            log.warning("renditions of uploaded image sha256:%s not built (%s): run `pim media renditions --channel "
                        "C` for each channel in media.yaml", result["sha256"], exc)
    return result
