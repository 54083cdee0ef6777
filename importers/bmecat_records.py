"""The plain records the BMEcat reader (importers.bmecat_reader) yields: a product, its features, prices and
media, the catalog header and its group tree. No parsing here: importers.bmecat_parse fills them, and
importers.bmecat_mapper turns them into our attributes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


@dataclass
class Feature:
    code: str  # FNAME, or FT_ID (ECLASS/ETIM IRDI) in the ontology dialect
    name: str | None
    values: list[str]
    unit: str | None = None
    value_ref: str | None = None  # VALUE_IDREF: an ECLASS value IRDI
    value_details: str | None = None
    #: FVALUE per language (ISO 639-2, lower case; the first of each), only when an FVALUE has `lang`: one
    #: without is in the catalog's default language (`BmecatProduct.language`).
    langs: dict[str, str] | None = None
    line: int = 0
    fid: str | None = None  # FID and FPARENT_ID: the feature tree of ECLASS Advanced files (`bmecat_parse._nest`)
    parent: str | None = None
    depth: int = 0  # levels below the top of that tree: 0 at the top, and for every feature of a file without one


@dataclass
class Price:
    price_type: str
    amount: str | None
    currency: str | None
    lower_bound: str | None
    valid_from: str | None = None
    valid_to: str | None = None
    line: int = 0  # its PRODUCT_PRICE's, for the problems that name it
    quantity: str | None = None  # PRICE_QUANTITY: how many order units the amount is for (1 when absent)


@dataclass
class Mime:
    type: str | None
    source: str | None
    purpose: str | None
    descr: str | None = None


#: INTERNATIONAL_PID types that are GTINs (the XSD names ean, gtin and upc, and allows any other word, such as
#: a supplier's own scheme, which is no GTIN). One without a type is read as a GTIN, as the EAN element it replaces.
GTIN_TYPES = frozenset({"gtin", "ean", "upc"})


class GtinId(NamedTuple):
    """One GTIN a product's details carry: an EAN (1.2, or 2005 in place of INTERNATIONAL_PID), or an
    INTERNATIONAL_PID of a GTIN type; `line` is its element's, for problems that name it."""

    text: str
    element: str
    line: int


@dataclass
class BmecatProduct:
    supplier_pid: str
    line: int
    transaction: str
    mode: str = "new"  # PRODUCT@mode: new | update | delete
    short: dict[str, str] = field(default_factory=dict)  # lang (ISO 639-2, e.g. deu) → text
    long: dict[str, str] = field(default_factory=dict)
    keywords: dict[str, list[str]] = field(default_factory=dict)
    gtins: list[GtinId] = field(default_factory=list)  # every one, in file order (importers.bmecat picks one)
    manufacturer_pid: str | None = None
    manufacturer_name: str | None = None
    manufacturer_type: str | None = None
    feature_system: str | None = None
    feature_class: str | None = None
    features: list[Feature] = field(default_factory=list)
    language: str = "eng"  # the language of its texts without `lang`: the catalog's default
    prices: list[Price] = field(default_factory=list)
    order_unit: str | None = None
    content_unit: str | None = None
    pack_size: str | None = None  # NO_CU_PER_OU
    min_quantity: str | None = None
    mime: list[Mime] = field(default_factory=list)
    #: (type, PROD_ID_TO, quantity, line of the PROD_ID_TO: what a problem about the target names)
    references: list[tuple[str, str, str | None, int]] = field(default_factory=list)
    customs_number: str | None = None  # the first CUSTOMS_TARIFF_NUMBER/CUSTOMS_NUMBER
    country_of_origin: str | None = None  # the first COUNTRY_OF_ORIGIN
    dimensions: dict[str, str] = field(default_factory=dict)  # PRODUCT_DIMENSIONS: VOLUME, WEIGHT, LENGTH… → text

    @property
    def ean(self) -> str | None:
        """The first GTIN the details carry, valid or not."""
        return self.gtins[0].text if self.gtins else None


@dataclass(slots=True)
class CatalogGroup:
    """One CATALOG_STRUCTURE of the CATALOG_GROUP_SYSTEM: the supplier's own group tree."""

    group_id: str
    parent_id: str | None
    type: str  # root | node | leaf
    names: dict[str, str] = field(default_factory=dict)  # lang (ISO 639-2) → GROUP_NAME
    order: int | None = None
    line: int = 0


@dataclass(slots=True)
class GroupAssignment:
    """One PRODUCT_TO_CATALOGGROUP_MAP: a supplier PID in a group (mode delete: out of it, in an update)."""

    pid: str
    group_id: str
    mode: str
    line: int


@dataclass
class BmecatHeader:
    version: str | None = None
    languages: list[str] = field(default_factory=list)
    currency: str | None = None
    supplier: str | None = None
    catalog_id: str | None = None
    transaction: str | None = None  # new_catalog | update_products | update_prices, once its element starts
    #: Filled only when read_bmecat is asked for groups: GROUP_ID → group, and the assignments in file order.
    groups: dict[str, CatalogGroup] = field(default_factory=dict)
    assignments: list[GroupAssignment] = field(default_factory=list)
