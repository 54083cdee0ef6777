"""The content import's profile: where the content team's convenience fields go, and how its CSV/XLSX
files are read (importers.content)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pim.sources import Encoding, SourceProfile


class ContentProfile(SourceProfile):
    """Where the content team's convenience fields go. Every other key of a JSON record's `values` (and
    every other CSV column) is a value key as is: name:en_US, description:de_DE@ecommerce."""

    source: str = "content"
    unmatched: Literal["create", "quarantine"] = "quarantine"
    sku_field: str = "sku"
    model_field: str = Field(default="model", description="A record naming a product model here (and no SKU) "
                             "enriches that model: its variants show the values unless they hold their own.")
    fields: dict[str, str] = Field(
        default={"name": "name", "description": "description", "seo_title": "seo_title",
                 "seo_description": "seo_description"},
        description="JSON field → attribute code; the field holds {locale: text} or a plain value.")
    bullets: str | list[str] = Field(default="bullets", description="One textarea receiving the bullets joined "
                                     "by newlines, or one attribute per bullet (bullet_1, bullet_2…).")
    images: list[str] = Field(default=["image"], description="Attributes receiving the image paths, in order.")
    channels: list[str] = Field(default=[], description="Channels a scopable attribute's value is written to "
                                "(default: every channel).")
    list_separator: str = Field(default="|", min_length=1, description="CSV/XLSX: separates bullets, images, "
                                "associated SKUs (so do line breaks in the cell).")
    encoding: Encoding = "utf-8"
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    formula_escaped: bool = Field(default=True, description="CSV/XLSX: a leading quote before = + - @ tab CR is "
                                  "a formula escape (as our exports write them) and is dropped.")
    sheet: str | None = Field(default=None, pattern=r"^[^\[\]:*?/\\]{1,31}$", description="XLSX: the sheet to read, "
                              "by name; the first sheet when unset. `pim export sheet` names its sheet so.")
    header_row: int = Field(default=1, ge=1, le=1000, description="XLSX: the row holding the column names (rows "
                            "above it, a title or notes, are not read). `pim export sheet` writes them there.")
    claim_unchanged: bool = Field(default=False, description="CSV/XLSX: a cell saying what the product shows now "
                                  "(from any source) is a content claim too. Off: it changes nothing, so a sheet "
                                  "from `pim export sheet` brought back takes over only the cells edited. Either "
                                  "way a cell the sheet's `_sheet` column shows untouched since the export claims "
                                  "nothing once the product shows something else (newer data is not overwritten).")
