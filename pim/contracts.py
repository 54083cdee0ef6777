"""Customer contracts as code: which products a customer gets (assortment), at which price (contract price,
tiers, fallback to list price), in which locale, currency, fields and format, and how it is delivered.
Declared in YAML/JSON (schema: schemas/contract.schema.json), stored in the `feed_contract` table."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from sqlalchemy import Column, DateTime, String, Table, delete, exists, select
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from pim.catalog import Structure
from pim.commerce import Tier, contract_tiers
from pim.currencies import rounded
from pim.delivery_log import CLAIM
from pim.errors import ConfigError
from pim.product import Product, merged_values, value_key
from pim.store.store import Store, now
from pim.store.tables import JSONType
from pim.structure import AttributeType

if TYPE_CHECKING:
    from pim.structure_files import StructureProblem

FINGERPRINT = r"^SHA256:[A-Za-z0-9+/]{43}=?$"
# Five cron fields (minute hour day-of-month month day-of-week), or an @-macro.
_CRON_FIELD = r"(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*|[A-Za-z]{3}(-[A-Za-z]{3})?"
CRON = re.compile(rf"^(@(hourly|daily|weekly|monthly|yearly)|({_CRON_FIELD})(\s+({_CRON_FIELD})){{4}})$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Rule(_Strict):
    """Products matching every criterion given here (an empty criterion matches all)."""

    categories: list[str] = Field(default=[], description="In one of these categories or below them.")
    families: list[str] = []
    brands: list[str] = Field(default=[], description="Option codes or values of the assortment's brand attribute.")
    attributes: dict[str, list[str]] = Field(default={}, description="attribute code → accepted values (any).")

    @model_validator(mode="after")
    def _not_empty(self) -> "Rule":
        if not (self.categories or self.families or self.brands or self.attributes):
            raise ValueError("a rule needs at least one of categories, families, brands, attributes")
        return self


class Assortment(_Strict):
    """Explicit SKUs and/or rules, minus exclusions. Exclusions always win."""

    skus: list[str] = []
    rules: list[Rule] = []
    exclude_skus: list[str] = []
    exclude: list[Rule] = []
    brand_attribute: str = "brand"
    enabled_only: bool = True

    @model_validator(mode="after")
    def _something(self) -> "Assortment":
        if not (self.skus or self.rules):
            raise ValueError("an assortment needs skus and/or rules")
        return self


class Pricing(_Strict):
    """Contract prices come from the customer's price list; `fallback` says what a SKU without one gets."""

    price_list: str | None = Field(default=None, description="Price-list customer code; the contract's customer by default.")
    fallback: Literal["list_price", "list_price_discount", "exclude"] = "list_price"
    discount_percent: Decimal = Field(default=Decimal(0), ge=0, lt=100)
    list_price_attribute: str = "price"


class SftpTarget(_Strict):
    host: str
    port: int = Field(default=22, ge=1, le=65535)
    user: str
    private_key: Path = Field(description="Path to the client's private key (OpenSSH format).")
    host_key_fingerprint: str = Field(pattern=FINGERPRINT, description="Pinned server key, as `ssh-keygen -lf` prints it.")
    remote_dir: str = "/"


class Delivery(_Strict):
    sftp: SftpTarget | None = None
    portal: bool = False

    @model_validator(mode="after")
    def _somewhere(self) -> "Delivery":
        if self.sftp is None and not self.portal:
            raise ValueError("delivery needs an sftp target and/or portal: true")
        return self


#: Validation context for contracts read back from the store: checks added since they were loaded do not apply
#: there (the contract must stay listable and deletable); the renderer refuses what it cannot write.
STORED = {"stored": True}


class CsvDialect(_Strict):
    """A dialect a reader can parse back: delimiter and quotechar are one character each, differ from each other
    and are no line break."""

    delimiter: str = Field(default=",", min_length=1, max_length=1)
    quotechar: str = Field(default='"', min_length=1, max_length=1, validate_default=True)  # checked against the delimiter
    quoting: Literal["minimal", "all"] = "minimal"
    lineterminator: Literal["\r\n", "\n"] = "\r\n"
    encoding: Literal["utf-8", "utf-8-sig", "cp1252"] = "utf-8"
    escape_formulas: bool = Field(default=True, description="Prefix cells starting = + - @ tab CR with a quote (OWASP).")

    @field_validator("delimiter", "quotechar")
    @classmethod
    def _not_a_line_break(cls, v: str, info: ValidationInfo) -> str:
        if v in ("\r", "\n") and info.context != STORED:
            raise ValueError("a line break cannot separate or quote fields: every reader ends the row there; "
                             "use e.g. delimiter ';' and quotechar '\"'")
        return v

    @field_validator("quotechar")
    @classmethod
    def _not_the_delimiter(cls, v: str, info: ValidationInfo) -> str:
        if v == info.data.get("delimiter") and info.context != STORED:
            raise ValueError(f"the delimiter and the quote character are both {v!r}: a reader cannot tell where a "
                             f"field ends; give them different characters (e.g. delimiter ';', quotechar '\"')")
        return v


class BmecatOptions(_Strict):
    """Which attributes carry the BMEcat-specific data."""

    reference_system: Literal["ETIM-8.0", "ETIM-9.0", "ECLASS-9.0", "ECLASS-12.0", "ECLASS-13.0"] = "ECLASS-12.0"
    class_attribute: str = Field(default="eclass_class", description="Holds the product's ECLASS/ETIM class id.")
    gtin_attribute: str = "ean"
    manufacturer_attribute: str = "brand"
    order_unit_attribute: str = "order_unit"
    pack_attribute: str = "pack_size"
    moq_attribute: str = "min_order_qty"
    default_order_unit: str = "C62"
    supplier_name: str = "PIM"


class Contract(_Strict):
    """One customer's contracted feed."""

    code: str = Field(pattern=r"^[A-Za-z0-9_-]+$", max_length=100)
    customer: str = Field(pattern=r"^[A-Za-z0-9_-]+$", max_length=100)
    name: str = ""
    assortment: Assortment
    pricing: Pricing = Pricing()
    locale: str = Field(pattern=r"^[a-z]{2,3}(_[A-Za-z0-9]+){0,2}$")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    channel: str = Field(description="The channel whose gate, scope and category tree apply.")
    fields: list[str] = Field(default=[], description="Attribute codes to include; the family's attributes when empty.")
    include_stock: bool = True
    format: Literal["csv", "xlsx", "jsonl", "bmecat"] = "csv"
    mode: Literal["full", "delta"] = "full"
    csv: CsvDialect = CsvDialect()
    bmecat: BmecatOptions = BmecatOptions()
    media_base_url: str | None = Field(default=None, description=(
        "Public URL the feed's media is served at; PIM_CDN_BASE_URL when unset. It must serve two trees: originals "
        "under their refs, `<base>/<ref>` (file attributes, and images without a built rendition), and the contract "
        "channel's built renditions, `<base>/renditions/<sha256[:2]>/<sha256>/<spec hash[:20]>.<ext>` (the media "
        "store's renditions/ folder). Refs that are URLs go out unchanged."))
    rendition: str | None = Field(default=None, description=(
        "The rendition the feed's image links use, one media.yaml declares for the contract's channel (e.g. a JPEG "
        "`zoom` for BMEcat tooling); the channel's listing rendition when unset. Checked at `pim feeds load`."))
    delivery: Delivery
    schedule: str | None = Field(default=None, description="Cron expression (5 fields or @daily, UTC): when `pim feeds deliver --due` sends this feed.")

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is not None and not CRON.match(v.strip()):
            raise ValueError("not a cron expression: use 5 fields (minute hour day month weekday) or @daily")
        return v

    @property
    def price_customer(self) -> str:
        return self.pricing.price_list or self.customer

    def digest(self) -> str:
        """Changes when what the customer gets changes (not when the schedule or delivery target moves)."""
        # An unset rendition stays out, so that contracts stored before the field existed keep their digest (a new
        # digest would send each of them a full feed).
        left = {"schedule", "delivery", "name"} | ({"rendition"} if self.rendition is None else set())
        body = self.model_dump(mode="json", exclude=left)
        return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


class ContractFile(_Strict):
    """A contracts file: one or many contracts."""

    contracts: list[Contract]


# ---------------------------------------------------------------------------------------------- storage
class ContractRow(SQLModel, table=True):
    __tablename__ = "feed_contract"

    code: str = SQLField(sa_column=Column(String(100), primary_key=True))
    customer: str = SQLField(sa_column=Column(String(100), nullable=False, index=True))
    data: dict[str, Any] = SQLField(sa_column=Column(JSONType, nullable=False))
    updated_at: Any = SQLField(sa_column=Column(DateTime(timezone=True), nullable=False))


CONTRACT: Table = ContractRow.__table__  # type: ignore[assignment]


def put_contracts(store: Store, contracts: Iterable[Contract]) -> int:
    stamp = now()
    rows = [{"code": c.code, "customer": c.customer, "data": c.model_dump(mode="json"), "updated_at": stamp}
            for c in contracts]
    with store.begin() as conn:
        store.upsert_rows(conn, CONTRACT, rows, ["code"])
    return len(rows)


def delete_contract(store: Store, code: str, *, force: bool = False) -> bool:
    """Whether the contract was deleted. Unless `force`, not while a delivery run holds its claim
    (pim.feed_schedule): the check is part of the statement, so a run claiming it meanwhile cannot slip between a
    check and the delete (the caller says who holds it: pim.feed_schedule.refuse_while_sending)."""
    q = delete(CONTRACT).where(CONTRACT.c.code == code)
    if not force:
        q = q.where(~exists().where(CLAIM.c.contract == code, CLAIM.c.held_until > now()))
    with store.begin() as conn:
        return bool(conn.execute(q).rowcount)


def get_contracts(store: Store, code: str | None = None, customer: str | None = None) -> list[Contract]:
    q = select(CONTRACT.c.data).order_by(CONTRACT.c.code)
    if code is not None:
        q = q.where(CONTRACT.c.code == code)
    if customer is not None:
        q = q.where(CONTRACT.c.customer == customer)
    with store.engine.connect() as conn:
        return [Contract.model_validate(d, context=STORED) for d in conn.execute(q).scalars()]


def get_contract(store: Store, code: str) -> Contract:
    found = get_contracts(store, code=code)
    if not found:
        raise ConfigError(f"no contract '{code}'", hint="list them with: pim feeds list; load with: pim feeds load DIR")
    return found[0]


# ---------------------------------------------------------------------------------------------- files
LOAD_HINT = "fix the contract and load again: pim feeds load DIR"


@dataclass(frozen=True)
class Placed:
    """A contract and where it is declared, so that a problem found later still names file, line and field."""

    contract: Contract
    file: str
    node: Any  # the file's YAML node tree
    loc: tuple[Any, ...]  # the contract's place in it: ("contracts", 0), or () for a file that is one bare contract

    def problem(self, field: str, reason: str) -> StructureProblem:
        from pim.structure_files import StructureProblem, _line_of

        loc = (*self.loc, field)
        return StructureProblem(self.file, _line_of(self.node, loc), ".".join(map(str, loc)), reason)


class ContractConflicts(ConfigError):
    """Contracts that read well but do not fit the catalog or each other; `problems` lists every one."""

    def __init__(self, problems: list[StructureProblem]) -> None:
        from pim.structure_files import problem_listing

        super().__init__(problem_listing(problems, "with the contracts"),
                         hint="fix the contracts (or load the structure they name first) and load again: "
                              "pim feeds load DIR")
        self.problems = problems


def read_contract_file(path: Path) -> tuple[list[Placed], list[StructureProblem]]:
    """A YAML or JSON file with `contracts: [...]` (or one contract): its contracts, or every problem it has, each
    naming file, line and field."""
    from pim.structure_files import StructureProblem, _line_of

    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except UnicodeDecodeError as exc:
        return [], [StructureProblem(name, None, "-", f"not UTF-8 ({exc.reason}); save the file as UTF-8")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return [], [StructureProblem(name, mark.line + 1 if mark else None, "-",
                                     f"not valid YAML: {getattr(exc, 'problem', exc)}")]
    wrapped = isinstance(data, dict) and "contracts" not in data
    try:
        contracts = ContractFile.model_validate({"contracts": [data]} if wrapped else data).contracts
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            loc = tuple(e["loc"][2:]) if wrapped else tuple(e["loc"])
            reason = ("unknown field (see schemas/contract.schema.json)" if e["type"] == "extra_forbidden"
                      else str(e["ctx"]["error"]) if e["type"] == "value_error" else e["msg"])
            problems.append(StructureProblem(name, _line_of(node, loc), ".".join(map(str, loc)) or "-", reason))
        return [], problems
    return [Placed(c, name, node, () if wrapped else ("contracts", n)) for n, c in enumerate(contracts)], []


def load_contracts(store: Store, paths: Iterable[Path]) -> list[Contract]:
    """Every file must read and every contract must fit the catalog (a known channel, one of its locales, known
    fields, a code of its own) before anything is stored. Every problem of every file is reported at once:
    StructureErrors for what the files say, ContractConflicts for what does not fit."""
    from pim.structure_files import StructureErrors

    placed: list[Placed] = []
    problems: list[StructureProblem] = []
    for path in paths:
        found, wrong = read_contract_file(path)
        placed += found
        problems += wrong
    if problems:
        raise StructureErrors(problems, LOAD_HINT, files="contract files")
    conflicts = fit_problems(placed, store.structure(), _declared_renditions(placed))
    if conflicts:
        raise ContractConflicts(conflicts)
    contracts = [p.contract for p in placed]
    put_contracts(store, contracts)
    return contracts


def fit_problems(placed: list[Placed], s: Structure,
                 renditions: dict[str, list[str]] | None = None) -> list[StructureProblem]:
    """What does not fit: a code declared twice, a channel, locale or field the catalog lacks, a rendition the
    channel does not declare (`renditions`: channel → rendition names, as media.yaml declares them)."""
    seen: set[str] = set()
    out: list[StructureProblem] = []
    for p in placed:
        c = p.contract
        if c.code in seen:
            out.append(p.problem("code", f"contract '{c.code}' is declared twice; contract codes must be unique"))
        seen.add(c.code)
        if c.channel not in s.channels:
            known = ", ".join(sorted(s.channels)) or "none (load the structure first)"
            out.append(p.problem("channel", f"contract '{c.code}': unknown channel '{c.channel}'; known: {known}"))
            continue
        ch = s.channels[c.channel]
        if c.locale not in ch.locales:
            out.append(p.problem("locale", f"contract '{c.code}': locale {c.locale} is not one of channel "
                                           f"{c.channel}'s locales {ch.locales}"))
        unknown = [f for f in c.fields if f not in s.attributes and f not in SPECIAL_FIELDS]
        if unknown:
            out.append(p.problem("fields", f"contract '{c.code}': unknown fields {unknown}; use attribute codes or "
                                           + ", ".join(SPECIAL_FIELDS)))
        if STOCK_TIME in c.fields and STOCK_TIME not in s.attributes and not c.include_stock:
            out.append(p.problem("fields", f"contract '{c.code}': field {STOCK_TIME} says when the stock was "
                                           f"measured, but include_stock is false; set include_stock: true or "
                                           f"drop {STOCK_TIME} from fields"))
        if c.rendition is not None and c.rendition not in (declared := (renditions or {}).get(c.channel, [])):
            out.append(p.problem("rendition", rendition_problem(c, declared)))
    return out


def rendition_problem(c: Contract, declared: list[str]) -> str:
    """Why the contract's rendition cannot be linked, and what to do; for `pim feeds load` and the renderers."""
    if not declared:
        return (f"contract '{c.code}': rendition '{c.rendition}', but media.yaml declares no renditions for channel "
                f"{c.channel}; declare it under channels.{c.channel}.renditions in media.yaml (then `pim media "
                f"renditions`), or leave rendition out to link the channel's listing rendition")
    from pim.spelling import did_you_mean, nearest

    return (f"contract '{c.code}': rendition '{c.rendition}'{did_you_mean(nearest(c.rendition or '', declared))} is "
            f"not one of channel {c.channel}'s renditions in media.yaml ({', '.join(declared)}); name one of them, or "
            f"leave rendition out to link the listing one")


def _declared_renditions(placed: list[Placed]) -> dict[str, list[str]]:
    """Channel → its rendition names in media.yaml, read only when a contract names a rendition (through the
    registry: the core does not import the media area)."""
    if not any(p.contract.rendition for p in placed):
        return {}
    from pim.registry import load

    media = load("media.settings:load_media_file")()
    return {code: [r.name for r in rules.renditions] for code, rules in media.channels.items()}


#: Opt-in field: when the stock a row carries was measured (CSV/XLSX column after in_stock; JSON Lines always
#: has stock.updated_at). Opt-in so that existing contracts keep their columns and digests.
STOCK_TIME = "stock_updated_at"
SPECIAL_FIELDS = ("label", "family", "categories", STOCK_TIME)


# ---------------------------------------------------------------------------------------------- assortment
# Attributes whose stored values are JSON strings (or lists of them), and the characters no JSON encoder escapes.
_STRING_TYPES = frozenset({AttributeType.text, AttributeType.identifier, AttributeType.simple_select, AttributeType.multi_select})
_VERBATIM = re.compile(r"^[A-Za-z0-9 _.,:;+=()#%!?*'-]+$")


def _accepts(v: Any, accepted: frozenset[str]) -> bool:
    return any(str(x) in accepted for x in v) if isinstance(v, list) else str(v) in accepted


@dataclass
class AssortmentMatcher:
    """Decides membership from a product's own and inherited values (pure, no I/O)."""

    assortment: Assortment
    structure: Structure

    def __post_init__(self) -> None:
        self.skus = set(self.assortment.skus)
        self.excluded = set(self.assortment.exclude_skus)
        self._subtree = {code: self.structure.subtree(code)
                         for r in [*self.assortment.rules, *self.assortment.exclude] for code in r.categories}
        self._sets: dict[int, frozenset[str]] = {}  # id of a rule's accepted list (the assortment keeps it alive) → set

    def _hits(self, values: dict[str, Any], attribute: str, listed: list[str]) -> bool:
        """Whether a value of `attribute`, in any locale or channel (list items one by one), is accepted. The
        plain key is tried first: most attributes are neither localizable nor scopable."""
        accepted = self._sets.get(id(listed))
        if accepted is None:
            accepted = self._sets[id(listed)] = frozenset(listed)
        if attribute in values and _accepts(values[attribute], accepted):
            return True
        scoped = (attribute + ":", attribute + "@")
        return any(_accepts(values[k], accepted) for k in [k for k in values if k.startswith(scoped)])

    def _rule(self, rule: Rule, p: Product, values: dict[str, Any]) -> bool:
        if rule.families and p.family not in rule.families:
            return False
        if rule.categories and not any(set(p.categories) & self._subtree[c] for c in rule.categories):
            return False
        if rule.brands and not self._hits(values, self.assortment.brand_attribute, rule.brands):
            return False
        return all(self._hits(values, a, accepted) for a, accepted in rule.attributes.items())

    def needles(self) -> list[list[tuple[str, ...]]] | None:
        """A cheap necessary condition on a product's own stored value JSON, for scanning a catalog without
        decoding every row: per rule, per criterion, values one of which must occur in the text for the rule to
        accept the product (explicit SKUs, and variants, which inherit values, are the caller's to keep). None
        when some rule cannot be checked this way.

        Brand and attribute criteria on text, select and identifier attributes are checked: their stored values
        are JSON strings. Only values no JSON encoder escapes are looked for; a rule with any other value, or
        without any such criterion, turns the filter off."""
        alternatives: list[list[tuple[str, ...]]] = []
        for rule in self.assortment.rules:
            criteria = [(self.assortment.brand_attribute, rule.brands)] if rule.brands else []
            criteria += list(rule.attributes.items())
            needles = [tuple(accepted) for attribute, accepted in criteria if self._textual(attribute, accepted)]
            if not needles:
                return None
            alternatives.append(needles)
        return alternatives or None

    def _textual(self, attribute: str, accepted: list[str]) -> bool:
        attr = self.structure.attributes.get(attribute)
        return (attr is not None and attr.type in _STRING_TYPES
                and all(_VERBATIM.match(v) and v not in ("True", "False", "None") for v in accepted))

    def matches(self, p: Product, values: dict[str, Any] | None = None) -> bool:
        if p.identifier in self.excluded or (self.assortment.enabled_only and not p.enabled):
            return False
        values = p.values if values is None else values
        if any(self._rule(r, p, values) for r in self.assortment.exclude):
            return False
        return p.identifier in self.skus or any(self._rule(r, p, values) for r in self.assortment.rules)


# ---------------------------------------------------------------------------------------------- pricing
@dataclass(frozen=True)
class ResolvedPrice:
    """What the customer pays: tiers (lowest quantity first) and where they came from."""

    tiers: tuple[Tier, ...]
    source: Literal["contract", "list", "list_discount"]

    @property
    def unit_price(self) -> Decimal:
        return self.tiers[0].price


def list_price(values: dict[str, Any], pricing: Pricing, currency: str, channel: str, s: Structure) -> Decimal | None:
    attr = s.attributes.get(pricing.list_price_attribute)
    key = value_key(pricing.list_price_attribute, None, channel if attr is not None and attr.scopable else None)
    raw = (values.get(key) or values.get(pricing.list_price_attribute) or {})
    amount = raw.get(currency) if isinstance(raw, dict) else None
    try:
        return Decimal(str(amount)) if amount not in (None, "") else None
    except InvalidOperation:
        return None


def discounted(base: Decimal, percent: Decimal, currency: str) -> Decimal:
    """A list price less `percent`, rounded (pim.currencies.ROUNDING, half to even) to the decimals of `base`, at
    least the currency's minor units: KWD 12.345 less 3 % is 11.975, JPY 1234 less 3 % is 1197, EUR 0.0123 less
    3 % is 0.0119."""
    return rounded(base * (100 - percent) / 100, currency, like=base)


def resolve_prices(
    store: Store, contract: Contract, structure: Structure, products: list[tuple[Product, dict[str, Any]]],
    on: date | None = None,
) -> dict[str, ResolvedPrice]:
    """Contract tiers valid on `on`, else the declared fallback. SKUs with no price at all are absent."""
    tiers = contract_tiers(store, contract.price_customer, [p.identifier for p, _ in products], contract.currency, on)
    out: dict[str, ResolvedPrice] = {}
    for p, values in products:
        if p.identifier in tiers and tiers[p.identifier]:
            out[p.identifier] = ResolvedPrice(tuple(tiers[p.identifier]), "contract")
        elif (fallback := fallback_price(values, contract, structure)) is not None:
            out[p.identifier] = fallback
    return out


def fallback_price(values: dict[str, Any], contract: Contract, structure: Structure) -> ResolvedPrice | None:
    """The contract's `fallback` for a product without contract tiers, from 1 piece: its list price, or that less
    `discount_percent`; None under `exclude` or without a list price in the contract's currency."""
    rule = contract.pricing
    if rule.fallback == "exclude":
        return None
    base = list_price(values, rule, contract.currency, contract.channel, structure)
    if base is None:
        return None
    if rule.fallback == "list_price_discount":
        return ResolvedPrice((Tier(Decimal(1), discounted(base, rule.discount_percent, contract.currency)),), "list_discount")
    return ResolvedPrice((Tier(Decimal(1), base),), "list")


def below_tiers_fallback(price: ResolvedPrice | None, values: dict[str, Any], contract: Contract,
                         structure: Structure) -> ResolvedPrice | None:
    """What one piece pays under contract tiers that start above 1 (`100:60.00` does not price a smaller order):
    the contract's fallback, whose source says which (`list` or `list_discount`, never `contract`). None for
    every other price, and without a fallback (`exclude`, no list price): the first tier's price stands then, the
    customer buying at least its quantity. The one rule of a feed's `price` and price source, and of a BMEcat
    feed's extra tier at 1 (channels.feed_bmecat)."""
    if price is None or price.source != "contract" or price.tiers[0].min_qty <= 1:
        return None
    return fallback_price(values, contract, structure)


def undercuts_tiers(price: ResolvedPrice, one: ResolvedPrice | None) -> bool:
    """Whether the one-piece fallback `one` costs less per piece than the first contract tier of `price`: a
    customer buying 1 would pay less than one buying the tier's quantity, which is worth a warning (a discount
    fallback on a list price near the contract's)."""
    return one is not None and one.unit_price < price.tiers[0].price


class AssortmentIndex:
    """Set-based assortment resolution over a catalog snapshot: postings per family, category and attribute
    value, built once and shared by every contract of a run. `members` gives exactly what
    `AssortmentMatcher.matches` would accept (tests hold the two to the same answers)."""

    def __init__(self, products: list[Any], structure: Structure) -> None:
        self.products, self.structure = products, structure
        self.order = {p.identifier: n for n, p in enumerate(products)}
        self.families: dict[str | None, set[str]] = {}
        self.categories: dict[str, set[str]] = {}
        self.disabled = {p.identifier for p in products if not p.enabled}
        for p in products:
            self.families.setdefault(p.family, set()).add(p.identifier)
            for c in p.categories:
                self.categories.setdefault(c, set()).add(p.identifier)
        self._values: dict[str, dict[str, set[str]]] = {}

    def _postings(self, attribute: str) -> dict[str, set[str]]:
        if attribute not in self._values:
            out: dict[str, set[str]] = {}
            local, scoped = attribute + ":", attribute + "@"
            for p in self.products:
                for key, v in p.values.items():
                    if key == attribute or key.startswith(local) or key.startswith(scoped):
                        for x in (v if isinstance(v, list) else [v]):
                            out.setdefault(str(x), set()).add(p.identifier)
            self._values[attribute] = out
        return self._values[attribute]

    def _any(self, postings: dict[Any, set[str]], keys: Iterable[Any]) -> set[str]:
        out: set[str] = set()
        for k in keys:
            out |= postings.get(k, set())
        return out

    def _rule(self, rule: Rule, a: Assortment, matcher: AssortmentMatcher) -> set[str] | None:
        found: set[str] | None = None

        def narrow(s: set[str]) -> None:
            nonlocal found
            found = s if found is None else found & s

        if rule.families:
            narrow(self._any(self.families, rule.families))
        if rule.categories:
            narrow(self._any(self.categories, {c for root in rule.categories for c in matcher._subtree[root]}))
        if rule.brands:
            narrow(self._any(self._postings(a.brand_attribute), rule.brands))
        for attribute, accepted in rule.attributes.items():
            narrow(self._any(self._postings(attribute), accepted))
        return found

    def members(self, a: Assortment) -> list[str]:
        """Identifiers in the assortment, explicit SKUs first (sorted), then rule matches in catalog order."""
        matcher = AssortmentMatcher(a, self.structure)
        ruled: set[str] = set()
        for rule in a.rules:
            ruled |= self._rule(rule, a, matcher) or set()
        out_ = set(a.exclude_skus) | (self.disabled if a.enabled_only else set())
        for rule in a.exclude:
            out_ |= self._rule(rule, a, matcher) or set()
        explicit = sorted(s for s in set(a.skus) if s in self.order and s not in out_)
        rest = sorted(ruled - out_ - set(explicit), key=self.order.__getitem__)
        return explicit + rest


# ---------------------------------------------------------------------------------------------- tenants
def with_assortment_values(store: Store, products: Iterable[Product]) -> Iterator[tuple[Product, dict[str, Any]]]:
    """Each product with the values an assortment rule sees: a variant's own merged over its models'."""
    for product in products:
        yield product, merged_values(product, store.ancestors(product)) if product.parent else product.values


def contract_customers(store: Store, skus: list[str]) -> dict[str, list[str]]:
    """SKU → customers whose contracted assortment holds it (the search index's tenant field).
    Without any contract, falls back to customers holding a contract price for the SKU."""
    contracts = get_contracts(store)
    if not contracts:
        from pim.commerce import PRICE

        out: dict[str, list[str]] = {}
        with store.engine.connect() as conn:
            for sku, customer in conn.execute(select(PRICE.c.sku, PRICE.c.customer).where(PRICE.c.sku.in_(skus)).distinct()):
                out.setdefault(sku, []).append(customer)
        return out
    structure = store.structure()
    matchers = [(c.customer, AssortmentMatcher(c.assortment, structure)) for c in contracts]
    found: dict[str, set[str]] = {}
    for product, values in with_assortment_values(store, store.iter_products(identifiers=skus)):
        for customer, matcher in matchers:
            if matcher.matches(product, values):
                found.setdefault(product.identifier, set()).add(customer)
    return {sku: sorted(c) for sku, c in found.items()}
