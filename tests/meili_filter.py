"""TEST DOUBLE support — NOT MEILISEARCH. Meilisearch's filter expression syntax, compiled to a predicate over a
document: `=`, `!=`, `>`, `>=`, `<`, `<=`, `a TO b`, `IN [...]`, `NOT IN`, `EXISTS`, `IS NULL`, `IS EMPTY`
(each with NOT), `NOT`, `AND`, `OR`, parentheses, and the array form (outer AND of inner ORs). String
equality ignores case, as in Meilisearch. Attributes must be filterable, else FilterError."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Predicate = Callable[[dict[str, Any]], bool]
_TOKEN = re.compile(r'\s*(?:(")((?:[^"\\]|\\.)*)"|(\')((?:[^\'\\]|\\.)*)\'|(!=|>=|<=|=|>|<|\(|\)|\[|\]|,)|([^\s=!<>()\[\],]+))')
KEYWORDS = {"AND", "OR", "NOT", "IN", "TO", "EXISTS", "IS", "NULL", "EMPTY"}


class FilterError(ValueError):
    pass


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise FilterError(f"Was expecting a value but found `{text[pos:]}`.")
        pos = m.end()
        if m.group(1) or m.group(3):
            raw = m.group(2) if m.group(1) else m.group(4)
            out.append(("str", re.sub(r"\\(.)", r"\1", raw)))
        elif m.group(5):
            out.append(("op", m.group(5)))
        else:
            word = m.group(6)
            out.append(("kw", word.upper()) if word.upper() in KEYWORDS else ("word", word))
    return out


def _get(doc: dict[str, Any], path: str) -> Any:
    if path in doc:
        return doc[path]
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _values(doc: dict[str, Any], attr: str) -> list[Any]:
    v = _get(doc, attr)
    return v if isinstance(v, list) else ([] if v is None else [v])


def _num(x: Any) -> float | None:
    if isinstance(x, bool):
        return None
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def _eq(doc_value: Any, literal: str) -> bool:
    if isinstance(doc_value, bool):
        return str(doc_value).lower() == literal.lower()
    a, b = _num(doc_value), _num(literal)
    if a is not None and b is not None and not isinstance(doc_value, str):
        return a == b
    return str(doc_value).lower() == literal.lower()


def _cmp(op: str, doc_value: Any, literal: str) -> bool:
    a, b = _num(doc_value), _num(literal)
    if a is None or b is None:
        return False
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


class _Parser:
    def __init__(self, text: str, filterable: list[str]) -> None:
        self.toks, self.i, self.filterable = _tokens(text), 0, filterable

    def peek(self, n: int = 0) -> tuple[str, str] | None:
        return self.toks[self.i + n] if self.i + n < len(self.toks) else None

    def take(self, kind: str | None = None, value: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (kind and tok[0] != kind) or (value and tok[1] != value):
            raise FilterError(f"Was expecting {value or kind or 'a token'} but found `{tok[1] if tok else 'end of filter'}`.")
        self.i += 1
        return tok[1]

    def value(self) -> str:
        tok = self.peek()
        if tok is None or tok[0] not in ("str", "word"):
            raise FilterError(f"Was expecting a value but found `{tok[1] if tok else 'end of filter'}`.")
        self.i += 1
        return tok[1]

    def parse(self) -> Predicate:
        pred = self.or_()
        if self.peek() is not None:
            raise FilterError(f"Found unexpected characters at the end of the filter: `{self.peek()[1]}`.")  # type: ignore[index]
        return pred

    def or_(self) -> Predicate:
        parts = [self.and_()]
        while self.peek() == ("kw", "OR"):
            self.i += 1
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else (lambda d: any(p(d) for p in parts))

    def and_(self) -> Predicate:
        parts = [self.not_()]
        while self.peek() == ("kw", "AND"):
            self.i += 1
            parts.append(self.not_())
        return parts[0] if len(parts) == 1 else (lambda d: all(p(d) for p in parts))

    def not_(self) -> Predicate:
        if self.peek() == ("kw", "NOT"):
            self.i += 1
            inner = self.not_()
            return lambda d: not inner(d)
        if self.peek() == ("op", "("):
            self.i += 1
            inner = self.or_()
            self.take("op", ")")
            return inner
        return self.condition()

    def _attr(self) -> str:
        attr = self.value()
        if not ("*" in self.filterable or any(attr == a or attr.startswith(a + ".") for a in self.filterable)):
            raise FilterError(f"Attribute `{attr}` is not filterable. Available filterable attributes are: "
                              f"`{', '.join(sorted(self.filterable))}`.")
        return attr

    def _list(self) -> list[str]:
        self.take("op", "[")
        items = []
        while self.peek() != ("op", "]"):
            items.append(self.value())
            if self.peek() == ("op", ","):
                self.i += 1
        self.take("op", "]")
        return items

    def condition(self) -> Predicate:
        attr = self._attr()
        tok = self.peek()
        negate = False
        if tok == ("kw", "NOT"):
            negate, _ = True, self.take()
            tok = self.peek()
        pred: Predicate
        if tok == ("kw", "IN"):
            self.i += 1
            items = self._list()
            pred = lambda d: any(_eq(v, x) for v in _values(d, attr) for x in items)  # noqa: E731
        elif tok == ("kw", "EXISTS"):
            self.i += 1
            pred = lambda d: _get(d, attr) is not None or attr in d  # noqa: E731
        elif tok == ("kw", "IS"):
            self.i += 1
            if self.peek() == ("kw", "NOT"):
                negate, _ = not negate, self.take()
            what = self.take("kw")
            if what == "NULL":
                pred = lambda d: attr in d and d[attr] is None  # noqa: E731
            elif what == "EMPTY":
                pred = lambda d: _get(d, attr) in ("", [], {})  # noqa: E731
            else:
                raise FilterError(f"Was expecting NULL or EMPTY but found `{what}`.")
        elif tok is not None and tok[0] == "op" and tok[1] in ("=", "!=", ">", ">=", "<", "<="):
            op = self.take()
            lit = self.value()
            if op == "=":
                pred = lambda d: any(_eq(v, lit) for v in _values(d, attr))  # noqa: E731
            elif op == "!=":
                pred = lambda d: not any(_eq(v, lit) for v in _values(d, attr))  # noqa: E731
            else:
                pred = lambda d: any(_cmp(op, v, lit) for v in _values(d, attr))  # noqa: E731
        elif tok is not None and tok[0] in ("word", "str"):
            low = self.value()
            self.take("kw", "TO")
            high = self.value()
            pred = lambda d: any(_cmp(">=", v, low) and _cmp("<=", v, high) for v in _values(d, attr))  # noqa: E731
        else:
            raise FilterError(f"Was expecting an operation `=`, `!=`, `>=`, `>`, `<=`, `<`, `IN`, `NOT IN`, `TO`, "
                              f"`EXISTS`, `IS NULL`, `IS EMPTY` but found `{tok[1] if tok else 'end of filter'}`.")
        if negate:
            inner = pred
            return lambda d: not inner(d)
        return pred


def compile_filter(expr: Any, filterable: list[str]) -> Predicate:
    if isinstance(expr, str):
        return _Parser(expr, filterable).parse()
    if isinstance(expr, list):
        parts = [compile_filter(e, filterable) if isinstance(e, str) else
                 (lambda ps: (lambda d: any(p(d) for p in ps)))([compile_filter(x, filterable) for x in e]) for e in expr]
        return lambda d: all(p(d) for p in parts)
    raise FilterError("Invalid syntax for the filter parameter: expected a string or an array.")
