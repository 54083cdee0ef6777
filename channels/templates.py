"""What the field mapper learns from a catalog's templates before it renders any: whether one is only text and
plain context keys (the link template, usually; rendered without Jinja), and which attributes one reads (so only
those are resolved per product)."""

from __future__ import annotations

import re
from typing import Any

_PLAIN = re.compile(r"\{\{\s*(base_url|identifier|locale|family|parent)\s*\}\}")


class SimpleTemplate:
    """A template made only of text and `{{ name }}` of the context's plain keys, rendered without Jinja
    (the same output: Jinja prints a value with str())."""

    def __init__(self, parts: list[tuple[bool, str]]) -> None:
        self.parts = parts

    def render(self, ctx: dict[str, Any]) -> str:
        return "".join(str(ctx[text]) if is_var else text for is_var, text in self.parts)


def simple_template(source: str) -> SimpleTemplate | None:
    """`source` as a SimpleTemplate, or None when it needs Jinja."""
    parts: list[tuple[bool, str]] = []
    pos = 0
    for m in _PLAIN.finditer(source):
        parts += [(False, source[pos:m.start()]), (True, m.group(1))]
        pos = m.end()
    parts.append((False, source[pos:]))
    if source.endswith("\n") or any(not is_var and ("{" in text or "}" in text) for is_var, text in parts):
        return None
    return SimpleTemplate([p for p in parts if p[1]])


def values_read(tree: Any) -> set[str] | None:
    """Keys of `values` a parsed template reads with a constant name, or None when it reads `values` otherwise."""
    from jinja2 import nodes

    read: set[str] = set()
    direct = 0
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        inner = node.node
        if isinstance(inner, nodes.Name) and inner.name == "values":
            if isinstance(node, nodes.Getattr):
                if hasattr(dict, node.attr):  # values.items(), values.get(...): could read anything
                    return None
                read.add(node.attr)
            elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                read.add(node.arg.value)
            else:
                return None
            direct += 1
    uses = sum(1 for n in tree.find_all(nodes.Name) if n.name == "values")
    return read if uses == direct else None
