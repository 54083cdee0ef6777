"""The field mapper: a catalog declaration's `fields` carried out for one product, locale and currency. Values
are read for the catalog's scope (variants inherit, channels.localize), prices come as a shopper pays them, metric
values in the field's unit, templates render sandboxed; a field the product cannot fill is a reason to block it
on the channel, never a silent gap. Renderers that clean markup subclass it (channels.html)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from channels.asset_refs import is_asset_ref
from channels.declaration import ChannelCatalog, FieldMap
from channels.templates import simple_template, values_read
from channels.units import convert, rounded_amount
from channels.url_codes import in_url
from pim.catalog import Structure
from pim.currencies import price_text, shelf_price
from pim.errors import ConfigError
from pim.measures import UnitError
from pim.product import Product
from pim.published import internal_named, published_codes, refusal
from pim.structure import AttributeType


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
        self.refuse_internal()
        self._paths: dict[tuple[str, str, str], list[str] | None] = {}
        self._units: dict[tuple[str, str | None], str | None] = {}  # (field unit, family) → unit code

    @cached_property
    def _env(self) -> Any:
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        return ImmutableSandboxedEnvironment(autoescape=False)

    @cached_property
    def _templates(self) -> dict[str, Any]:
        out = {f.output: self._env.from_string(f.template) for f in self.catalog.fields if f.template}
        out["__link__"] = simple_template(self.catalog.link_template) or self._env.from_string(self.catalog.link_template)
        return out

    def refuse_internal(self) -> None:
        """A ConfigError, before anything is written, for a field that names an attribute kept for staff
        (`internal: true`, pim.published) as its `attribute`, in its `attributes` or as `values.<code>` in its
        template: publishing it would leak it, leaving it out would hide the mistake."""
        for i, f in enumerate(self.catalog.fields):
            named = [f.attribute, *f.attributes]
            if f.template and (read := values_read(self._env.parse(f.template))):
                named += sorted(read)
            if codes := internal_named(self.s, named):
                message, hint = refusal(f"catalog '{self.catalog.code}': fields[{i}] ({f.output})", codes,
                                        f"map {f.output} to another attribute, or remove the field")
                raise ConfigError(message, hint=hint)

    @cached_property
    def _template_attributes(self) -> list[str]:
        """Attribute codes the field templates read (`values.x`, `values['x']`); every published attribute when
        a template uses `values` any other way (a loop, a computed key): never an internal one."""
        codes: set[str] = set()
        for f in self.catalog.fields:
            if f.template:
                read = values_read(self._env.parse(f.template))
                if read is None:
                    return published_codes(self.s, self.s.attributes)
                codes |= read
        return published_codes(self.s, [c for c in self.s.attributes if c in codes])

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
        if code is None or code not in self.s.attributes or self.s.attributes[code].internal:
            return None  # internal: refused in a mapping (refuse_internal); a family's image never shows one
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
            amount = rounded_amount(amount)
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
            chain = False  # _first publishes the value it picks
            if f.template:
                plain = self.plain(f)
                if plain not in contexts:
                    contexts[plain] = self.context(product, values, locale, plain)
                ctx = in_url(contexts[plain]) if f.builds_url() else contexts[plain]
                value: Any = " ".join(self._templates[f.output].render(ctx).split()) or None
            elif f.attributes and not self.takes_list(f):  # a fallback chain: the first value published
                chain = True
                try:
                    value = self._first(f, product, values, locale, currency)
                except _BadValue as bad:  # one product's stored value, not the catalog: block this product
                    reasons.append(bad.reason)
                    continue
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
            value = value if chain else self.published(f, value)
            if value in ("", []):  # cleaning left nothing (markup only): missing, and said why
                if f.required:
                    reasons.append(f"missing:{f.output}:markup_only")
                continue
            if f.max_length:
                value, too_long = self._limited(f, value)
                if too_long:
                    reasons.append(f"too_long:{f.output}:{too_long}>{f.max_length}")
                    continue
            out[f.output] = value
        if "link" not in out:
            ctx = contexts.get(False) or contexts.get(True) or {
                "identifier": product.identifier, "base_url": self.catalog.base_url, "locale": locale,
                "family": product.family, "parent": product.parent, "values": {}}
            out["link"] = self._templates["__link__"].render(in_url(ctx))
        return out, reasons

    #: Outputs an `attributes:` list publishes as a list; every other such output takes the first value the
    #: list publishes (a fallback chain). None: every `attributes:` output is a list (the storefront's `fields`).
    list_outputs: frozenset[str] | None = None

    def takes_list(self, f: FieldMap) -> bool:
        """Whether `attributes:` on `f` publishes a list rather than its first value."""
        return self.list_outputs is None or f.output in self.list_outputs

    def _first(self, f: FieldMap, product: Product, values: dict[str, Any], locale: str, currency: str) -> Any:
        """The first of `f.attributes` with a value that publishes as something, published (cleaned, so map() checks
        its length as it does a single attribute's); "" when the values found were markup only; None for none."""
        markup_only = False
        for code in f.attributes:
            v = self._one(f, product, values, locale, currency, code)
            if v is None:
                continue
            if v not in ("", [], {}) and (shown := self.published(f, v)) not in ("", []):
                return shown
            markup_only = True  # displayed or cleaned to nothing: the next attribute's value, if any
        return "" if markup_only else None

    def _limited(self, f: FieldMap, value: Any) -> tuple[Any, int]:
        """`value` within f.max_length: a text, or each text of a list; cut when `on_overflow: truncate`, else
        (value, the length over the limit) to block on."""
        limit = f.max_length or 0
        texts = value if isinstance(value, list) else [value]
        if not any(isinstance(v, str) and len(v) > limit for v in texts):
            return value, 0
        if f.on_overflow == "block":
            return value, max(len(v) for v in texts if isinstance(v, str))
        cut = [self.truncated(f, v) if isinstance(v, str) and len(v) > limit else v for v in texts]
        return (cut if isinstance(value, list) else cut[0]), 0

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

    def convention_url(self, ref: str, rendition: str) -> str | None:
        """`<base>/<rendition>/<stem>.<format>` for a path; a URL as it is; None for an asset reference
        (`sha256:<hex>`, an upload: channels.asset_refs): it names no file a CDN serves under the convention, so
        media links it (media/links.py)."""
        if ref.startswith(("http://", "https://")):
            return ref
        if is_asset_ref(ref):
            return None
        from pim.settings import get_settings

        base = self.catalog.media_base_url or get_settings().cdn_base_url or f"{self.catalog.base_url}/media"
        spec = self.catalog.renditions.get(rendition)
        stem = ref.removeprefix("sha256:").strip("/").rsplit(".", 1)[0] if "." in ref.rsplit("/", 1)[-1] else ref.removeprefix("sha256:").strip("/")
        return f"{base.rstrip('/')}/{rendition}/{stem}.{spec.format if spec else 'jpg'}"
