"""Characters XML 1.0 cannot carry (C0 controls but tab, LF and CR; lone surrogates; U+FFFE/U+FFFF).

Product text may hold them (a supplier's vertical tab, a stray backspace from a copied cell): validation keeps
them, since they are the source's text. A feed written as XML (Google Merchant, BMEcat) or XLSX, whose writers
refuse them, drops them instead of failing every publish of the channel on one value."""

from __future__ import annotations

import re

_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_chars(text: str) -> str:
    """`text` without the characters XML 1.0 cannot carry (cheap when it has none: most text is printable)."""
    if not text.isprintable() and _INVALID_XML.search(text):
        return _INVALID_XML.sub("", text)
    return text
