"""Channel catalogs declared as code: which structure channel (scope) they publish, their locales,
currencies and category tree, renditions, and a field mapping from attributes to output fields (unit
conversion, locale/currency choice, sandboxed Jinja2 title templates). A declaration is one YAML file
(schema: schemas/channel_catalog.schema.json); a new channel is one declaration plus, only when its format
is new, one renderer module."""

from __future__ import annotations

import re
from decimal import Decimal, localcontext
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pim.catalog import Structure
from pim.currencies import price_text, shelf_price
from pim.errors import ConfigError, InputError
from pim.measures import Measures, UnitError, builtin
from pim.product import Product
from pim.structure import AttributeType, Code

BUILTIN_DIR = Path(__file__).parent / "catalogs"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Rendition(_Strict):
    """An image size the channel wants; the media area builds it, the catalog only links to it."""

    width: int = Field(gt=0)
    height: int = Field(gt=0)
    format: Literal["jpg", "png", "webp"] = "jpg"
    fit: Literal["contain", "cover"] = "contain"


class FieldMap(_Strict):
    """One output field: from an attribute (resolved for the channel and locale) or a template."""

    output: str = Field(min_length=1)
    attribute: str | None = Field(default=None, description="Attribute code the value comes from.")
    attributes: list[str] = Field(default=[], description="Several attributes → a list (e.g. extra images).")
    template: str | None = Field(default=None, description="Jinja2 (sandboxed): {{ values.name }}, {{ identifier }}.")
    unit: str | None = Field(default=None, description="Convert metric values to this unit of the attribute's "
                             "measurement family (KILOGRAM, or a symbol or alias such as kg; °F converts with offsets).")
    locale: str | None = Field(default=None, description="Always read this locale instead of the output's.")
    currency: str | None = Field(default=None, description="Price collections: pick this currency.")
    option_labels: bool = Field(default=True, description="Select options as their label instead of the code.")
    max_length: int | None = Field(default=None, gt=0)
    on_overflow: Literal["block", "truncate"] = "block"
    required: bool = Field(default=False, description="Missing → the product is blocked on this channel.")


class ChannelCatalog(_Strict):
    """A published catalog: the renderer that writes it and everything that decides what goes in."""

    code: Code
    renderer: str = Field(description="Name in pim.registry.RENDERERS.")
    scope: str | None = Field(default=None, description="Structure channel (locales, currencies, gate rules); the run's scope when unset.")
    locales: list[str] = Field(default=[], description="Subset of the scope's locales; all of them when empty.")
    currencies: list[str] = Field(default=[], description="Subset of the scope's currencies; all when empty.")
    category_tree: str | None = Field(default=None, description="Root category; the scope's tree when unset.")
    gate: str | None = Field(default=None, description="Structure channel whose GateRules apply; the scope when unset.")
    base_url: str = "https://shop.example.com"
    link_template: str = Field(default="{{ base_url }}/p/{{ identifier }}",
                               description="Jinja2 (sandboxed) for the product link. identifier, parent and family "
                               "come percent-encoded as one URL path segment each; values as they are.")
    media_base_url: str | None = Field(default=None, description="Where renditions are served; PIM_CDN_BASE_URL or base_url/media.")
    renditions: dict[str, Rendition] = {}
    fields: list[FieldMap] = []
    category_map: dict[str, str] = Field(default={}, description="Category code → channel taxonomy id (e.g. Google's).")
    options: dict[str, Any] = {}

    def scope_channel(self, run_scope: str, structure: Structure) -> str:
        scope = self.scope or run_scope
        if scope not in structure.channels:
            raise ConfigError(f"catalog '{self.code}' names unknown scope '{scope}'",
                              hint=f"known: {', '.join(sorted(structure.channels))}")
        return scope

    def locales_for(self, scope: str, structure: Structure) -> list[str]:
        return [l for l in structure.channels[scope].locales if not self.locales or l in self.locales]

    def currencies_for(self, scope: str, structure: Structure) -> list[str]:
        return [c for c in structure.channels[scope].currencies if not self.currencies or c in self.currencies]

    def field(self, output: str) -> FieldMap | None:
        return next((f for f in self.fields if f.output == output), None)

    def price_attribute(self, structure: Structure) -> str | None:
        """The list price: the price collection the catalog maps to `price`, else the structure's list price."""
        f = self.field("price")
        attr = structure.attributes.get(f.attribute or "") if f else None
        if attr is not None and attr.type == AttributeType.price_collection:
            return attr.code
        return list_price_attribute(structure)


def list_price_attribute(structure: Structure) -> str | None:
    """The price collection that holds the list price: the one coded `price`, else the first by sort order.
    Others (a sale price) are shown beside it, never in its place."""
    prices = sorted((a for a in structure.attributes.values() if a.type == AttributeType.price_collection),
                    key=lambda a: (a.code != "price", a.sort_order, a.code))
    return prices[0].code if prices else None


def load_catalog(path: Path) -> ChannelCatalog:
    """Read one declaration; a mistake comes back as an InputError naming the file, line and field."""
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"not valid YAML: {exc}", file=str(path), line=mark.line + 1 if mark else None) from None
    try:
        return ChannelCatalog.model_validate(data or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        raise InputError(err["msg"], file=str(path), line=_line_of(node, loc), field=".".join(map(str, loc)),
                         hint="see schemas/channel_catalog.schema.json") from None


def _line_of(node: yaml.Node | None, path: tuple[Any, ...]) -> int | None:
    line = node.start_mark.line + 1 if node is not None else None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def catalog_for(renderer: str, options: dict[str, Any]) -> ChannelCatalog:
    """The declaration a run uses: `options["catalog"]` (a path or a ChannelCatalog), else the built-in one."""
    given = options.get("catalog")
    if isinstance(given, ChannelCatalog):
        return given
    if given:
        return load_catalog(Path(given))
    builtin = BUILTIN_DIR / f"{renderer}.yaml"
    if not builtin.exists():
        return ChannelCatalog(code=renderer, renderer=renderer)
    return load_catalog(builtin)


# ---------------------------------------------------------------- unit conversion
#: Decimal places a converted amount is published with.
PLACES = Decimal("0.001")


def convert(amount: str | Decimal, unit: str, to: str, family: str | None = None,
            measures: Measures | None = None) -> Decimal:
    """`amount` in `unit` as `to` (codes, aliases or symbols of one measurement family, temperatures with their
    offsets), rounded to PLACES; ConfigError for an unknown unit or units of different families."""
    try:
        value = (measures or builtin()).convert(amount, unit, to, family)
    except UnitError as exc:
        raise ConfigError(str(exc), hint="a field's unit: must be a unit of its attribute's metric_family") from None
    return _rounded(value)


def _rounded(value: Decimal) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 60  # quantize needs every integer digit
        return value.quantize(PLACES).normalize()


# ---------------------------------------------------------------- field mapping
class _BadValue(Exception):
    """A stored value the field cannot publish (a metric unit outside its attribute's family): the product
    is blocked with `reason`, the rest of the catalog publishes."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class FieldMapper:
    """Turns a product into the catalog's output fields for one locale and currency. Problems (a required
    field missing, a text too long) come back as reasons, so the renderer can block the product.

    Built once per publication: templates are compiled once, the attributes they read are found once
    (`values.name` → only `name` is resolved per product), and category paths are labelled once per locale."""

    def __init__(self, catalog: ChannelCatalog, structure: Structure, resolver: Any, scope: str) -> None:
        self.catalog, self.s, self.resolver, self.scope = catalog, structure, resolver, scope
        self._paths: dict[tuple[str, str, str], list[str] | None] = {}
        self._units: dict[tuple[str, str | None], str | None] = {}  # (field unit, family) → unit code

    @cached_property
    def _env(self) -> Any:
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        return ImmutableSandboxedEnvironment(autoescape=False)

    @cached_property
    def _templates(self) -> dict[str, Any]:
        out = {f.output: self._env.from_string(f.template) for f in self.catalog.fields if f.template}
        out["__link__"] = _simple_template(self.catalog.link_template) or self._env.from_string(self.catalog.link_template)
        return out

    @cached_property
    def _template_attributes(self) -> list[str]:
        """Attribute codes the field templates read (`values.x`, `values['x']`); every attribute when a
        template uses `values` any other way (a loop, a computed key)."""
        codes: set[str] = set()
        for f in self.catalog.fields:
            if f.template:
                read = _values_read(self._env.parse(f.template))
                if read is None:
                    return list(self.s.attributes)
                codes |= read
        return [c for c in self.s.attributes if c in codes]

    def plain(self, f: FieldMap) -> bool:
        """Whether `f` is published as plain text, so the values it reads are their words (a subclass that
        cleans markup says which fields, channels.html); here none is."""
        return False

    def display(self, code: str, value: Any, locale: str, labels: bool = True, plain: bool = False) -> Any:
        """`value` as a field shows it: option labels for selects. `plain`: for a plain-text field."""
        attr = self.s.attributes.get(code)
        if attr is None or not labels:
            return value
        if attr.type == AttributeType.simple_select:
            return self.resolver.option_label(code, value, locale)
        if attr.type == AttributeType.multi_select:
            return [self.resolver.option_label(code, v, locale) for v in value]
        return value

    def _one(self, f: FieldMap, product: Product, values: dict[str, Any], locale: str, currency: str,
             code: str | None = None) -> Any:
        code = code or f.attribute
        if code is None or code not in self.s.attributes:
            return None
        raw = self.resolver.get(values, code, self.scope, f.locale or locale)
        if raw in (None, "", [], {}):
            return None
        kind = self.s.attributes[code].type
        if kind == AttributeType.price_collection:  # what a shopper pays: to the currency's minor units
            currency = f.currency or currency
            amount = raw.get(currency) if isinstance(raw, dict) else None
            return None if amount in (None, "") else {"amount": price_text(shelf_price(str(amount), currency), currency),
                                                      "currency": currency}
        if kind == AttributeType.metric:
            if raw.get("amount") in (None, ""):
                return None
            if f.unit:
                return self._converted(f.unit, code, raw)
            return raw
        return self.display(code, raw, f.locale or locale, f.option_labels, self.plain(f))

    def _converted(self, unit: str, code: str, raw: dict[str, Any]) -> dict[str, str]:
        """A metric value in the field's unit; the field's unit is written as its code (kg → KILOGRAM)."""
        measures, family = self.s.measures, self.s.attributes[code].metric_family
        if (unit, family) not in self._units:  # None (no family, or a unit the family lacks) is kept as well
            self._units[(unit, family)] = measures.resolve(family, unit) if family else None
        target = self._units[(unit, family)]
        if target is not None:  # the field's unit is right, so a failure is this product's stored value
            try:
                amount = measures.convert(raw["amount"], raw["unit"], unit, family)
            except UnitError as exc:
                raise _BadValue(f"unit:{code}:{raw.get('unit')}", str(exc)) from None
            amount = _rounded(amount)
        else:
            amount = convert(raw["amount"], raw["unit"], unit, None, measures)
        return {"amount": format(amount, "f"), "unit": target or unit.upper()}

    def context(self, product: Product, values: dict[str, Any], locale: str, plain: bool = False) -> dict[str, Any]:
        """What templates read; `plain`: for a plain-text field. A value displayed as nothing (markup only, once
        cleaned) is left out like an empty one, so `values.name or identifier` falls back."""
        shown: dict[str, Any] = {}
        get = self.resolver.get
        for code in self._template_attributes:
            v = get(values, code, self.scope, locale)
            if v not in (None, "", [], {}) and (v := self.display(code, v, locale, plain=plain)) not in ("", []):
                shown[code] = v
        return {"values": shown, "identifier": product.identifier, "family": product.family,
                "parent": product.parent, "base_url": self.catalog.base_url, "locale": locale}

    def map(self, product: Product, locale: str, currency: str,
            values: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[str]]:
        """(fields, reasons). `values`: the product's inherited values when the caller has them already."""
        values = self.resolver.values(product) if values is None else values
        contexts: dict[bool, dict[str, Any]] = {}  # plain → the templates' context, built once per map
        out: dict[str, Any] = {}
        reasons: list[str] = []
        for f in self.catalog.fields:
            if f.template:
                plain = self.plain(f)
                if plain not in contexts:
                    contexts[plain] = self.context(product, values, locale, plain)
                ctx = in_url(contexts[plain]) if is_url_field(f.output) else contexts[plain]
                value: Any = " ".join(self._templates[f.output].render(ctx).split()) or None
            else:
                try:
                    value = ([v for a in f.attributes if (v := self._one(f, product, values, locale, currency, a))]
                             or None) if f.attributes else self._one(f, product, values, locale, currency)
                except _BadValue as bad:  # one product's stored value, not the catalog: block this product
                    reasons.append(bad.reason)
                    continue
            if value is None:
                if f.required:
                    reasons.append(f"missing:{f.output}")
                continue
            value = self.published(f, value)
            if value in ("", []):  # cleaning left nothing (markup only): missing, and said why
                if f.required:
                    reasons.append(f"missing:{f.output}:markup_only")
                continue
            if f.max_length and isinstance(value, str) and len(value) > f.max_length:
                if f.on_overflow == "block":
                    reasons.append(f"too_long:{f.output}:{len(value)}>{f.max_length}")
                    continue
                value = self.truncated(f, value)
            out[f.output] = value
        if "link" not in out:
            ctx = contexts.get(False) or contexts.get(True) or {
                "identifier": product.identifier, "base_url": self.catalog.base_url, "locale": locale,
                "family": product.family, "parent": product.parent, "values": {}}
            out["link"] = self._templates["__link__"].render(in_url(ctx))
        return out, reasons

    def published(self, f: FieldMap, value: Any) -> Any:
        """`value` as field `f` publishes it, before its length is checked: as it is here; a subclass cleans
        it (channels.html). "" or [] for a value nothing is left of."""
        return value

    def truncated(self, f: FieldMap, value: str) -> str:
        """`value` cut to f.max_length at a word boundary (`on_overflow: truncate`)."""
        head = value[: f.max_length]
        return head.rsplit(" ", 1)[0] if " " in head else head

    def category_path_labels(self, categories: list[str], locale: str, tree: str) -> list[list[str]]:
        """The labelled paths in `tree` of a product's categories (a variant's are its models', ValueResolver.categories)."""
        paths = []
        for code in categories:
            k = (code, locale, tree)
            if k not in self._paths:
                path = self.s.category_path(code)
                self._paths[k] = ([self.s.categories[c].labels.get(locale, c) for c in path[1:] or path]
                                  if path and path[0] == tree else None)
            if (labels := self._paths[k]) is not None:
                paths.append(list(labels))
        return paths

    #: The media area's links for this publication (media/links.py, set by the renderer), else None.
    links: Any = None

    def media_url(self, ref: str, rendition: str) -> str | None:
        """Where a rendition of an asset is served: the media area's built rendition when media.yaml declares
        renditions for the channel (None for an image media found unusable), else the catalog's URL
        convention, which is also the fallback for an image media has not seen yet. URLs in values pass
        through untouched when media does not know them."""
        if self.links is not None:
            return self.links(ref)
        return self.convention_url(ref, rendition)

    def convention_url(self, ref: str, rendition: str) -> str:
        if ref.startswith(("http://", "https://")):
            return ref
        from pim.settings import get_settings

        base = self.catalog.media_base_url or get_settings().cdn_base_url or f"{self.catalog.base_url}/media"
        spec = self.catalog.renditions.get(rendition)
        stem = ref.removeprefix("sha256:").strip("/").rsplit(".", 1)[0] if "." in ref.rsplit("/", 1)[-1] else ref.removeprefix("sha256:").strip("/")
        return f"{base.rstrip('/')}/{rendition}/{stem}.{spec.format if spec else 'jpg'}"


# ---------------------------------------------------------------- links
#: Context keys holding a record's codes: in a URL they are percent-encoded, since a SKU may hold `/`, `#`, `?`,
#: `&`, `%` or spaces (`E3 a/b#c` must not become a path, a fragment or a broken link).
URL_CODES = ("identifier", "parent", "family")
_URL_SAFE = re.compile(r"[A-Za-z0-9_.~-]*")  # what quote(safe="") leaves as it is: most codes, at no cost


def is_url_field(output: str) -> bool:
    """Whether a template field builds a URL (`link`, `*_link`, `*_url`): its record codes come percent-encoded."""
    return output == "link" or output.endswith(("_link", "_url"))


def in_url(ctx: dict[str, Any]) -> dict[str, Any]:
    """`ctx` for a URL template: identifier, parent and family percent-encoded as one path segment each (UTF-8,
    nothing but letters, digits and `-._~` left as it is, which is safe in a query value as well)."""
    encoded = {k: quote(v, safe="") for k in URL_CODES
               if isinstance(v := ctx.get(k), str) and not _URL_SAFE.fullmatch(v)}
    return {**ctx, **encoded} if encoded else ctx


# ---------------------------------------------------------------- template analysis
_PLAIN = re.compile(r"\{\{\s*(base_url|identifier|locale|family|parent)\s*\}\}")


class _Simple:
    """A template made only of text and `{{ name }}` of the context's plain keys, rendered without Jinja
    (the same output: Jinja prints a value with str())."""

    def __init__(self, parts: list[tuple[bool, str]]) -> None:
        self.parts = parts

    def render(self, ctx: dict[str, Any]) -> str:
        return "".join(str(ctx[text]) if is_var else text for is_var, text in self.parts)


def _simple_template(source: str) -> _Simple | None:
    parts: list[tuple[bool, str]] = []
    pos = 0
    for m in _PLAIN.finditer(source):
        parts += [(False, source[pos:m.start()]), (True, m.group(1))]
        pos = m.end()
    parts.append((False, source[pos:]))
    if source.endswith("\n") or any(not is_var and ("{" in text or "}" in text) for is_var, text in parts):
        return None
    return _Simple([p for p in parts if p[1]])


def _values_read(tree: Any) -> set[str] | None:
    """Keys of `values` a template reads with a constant name, or None when it reads `values` otherwise."""
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
