"""What a media run is told: per-channel renditions and image rules, fetch limits, accepted formats.

Users write these in media.yaml (PIM_HOME/media.yaml by default); the channel declaration framework can
pass its own `RenditionSpec`s to the API instead. Schema: schemas/media.schema.json."""

from __future__ import annotations

import hashlib
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from media.errors import MediaConfigError

#: Bumped when the rendering code changes in a way that changes output bytes; part of every spec hash,
#: so a bump regenerates every rendition on the next run (and only then).
RENDER_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Fit(StrEnum):
    fit = "fit"    # scale down to fit inside the box, keep the whole image
    crop = "crop"  # fill the box exactly, cropping the overflow around the centre


class OutputFormat(StrEnum):
    WEBP = "WEBP"
    JPEG = "JPEG"
    PNG = "PNG"


CONTENT_TYPES = {"WEBP": "image/webp", "JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif",
                 "TIFF": "image/tiff", "BMP": "image/bmp"}
EXTENSIONS = {"WEBP": "webp", "JPEG": "jpg", "PNG": "png", "GIF": "gif", "TIFF": "tif", "BMP": "bmp"}


class RenditionSpec(_Strict):
    """One derived image a channel wants: e.g. `thumb`, 200×200, crop, WebP at quality 80."""

    name: str = Field(pattern=r"^[a-z0-9_][a-z0-9_-]*$", description="Name channels ask for, e.g. 'thumb'.")
    max_width: int = Field(gt=0, le=20000)
    max_height: int = Field(gt=0, le=20000)
    fit: Fit = Fit.fit
    format: OutputFormat = OutputFormat.WEBP
    quality: int = Field(default=85, ge=1, le=100, description="JPEG/WebP quality; ignored for PNG.")
    background: str = Field(default="#ffffff", pattern=r"^#[0-9a-fA-F]{6}$",
                            description="Colour transparent pixels are flattened onto when the format is JPEG.")

    @property
    def spec_hash(self) -> str:
        """What the output depends on (not the name, so renaming a rendition does not regenerate it)."""
        body = self.model_dump(mode="json", exclude={"name"}) | {"v": RENDER_VERSION}
        return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format.value]

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format.value]


class ChannelMedia(_Strict):
    """A channel's image rules and renditions."""

    renditions: list[RenditionSpec] = []
    listing: str | None = Field(default=None, description=(
        "The rendition search documents and the storefront catalog link to (default: the first one)."))
    min_width: int | None = Field(default=None, gt=0)
    min_height: int | None = Field(default=None, gt=0)
    min_aspect_ratio: float | None = Field(default=None, gt=0, description="Lowest width/height allowed.")
    max_aspect_ratio: float | None = Field(default=None, gt=0, description="Highest width/height allowed.")

    @model_validator(mode="after")
    def _unique_names(self) -> "ChannelMedia":
        names = [r.name for r in self.renditions]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"rendition names must be unique per channel: {', '.join(dupes)}")
        if self.listing is not None and self.listing not in names:
            raise ValueError(f"listing names no declared rendition: '{self.listing}' (declared: {', '.join(names) or 'none'})")
        return self

    def rendition(self, name: str) -> RenditionSpec:
        for spec in self.renditions:
            if spec.name == name:
                return spec
        known = ", ".join(r.name for r in self.renditions) or "none declared"
        raise MediaConfigError(f"unknown rendition '{name}'", hint=f"declared: {known}")

    def problems(self, width: int, height: int) -> list[str]:
        """Why an image of this size may not be used on the channel (empty: it may)."""
        out = []
        if self.min_width and width < self.min_width:
            out.append(f"width {width}px < {self.min_width}px")
        if self.min_height and height < self.min_height:
            out.append(f"height {height}px < {self.min_height}px")
        ratio = width / height if height else 0.0
        if self.min_aspect_ratio and ratio < self.min_aspect_ratio:
            out.append(f"aspect ratio {ratio:.3f} < {self.min_aspect_ratio}")
        if self.max_aspect_ratio and ratio > self.max_aspect_ratio:
            out.append(f"aspect ratio {ratio:.3f} > {self.max_aspect_ratio}")
        return out


class FetchLimits(_Strict):
    timeout_seconds: float = Field(default=10.0, gt=0)
    max_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    max_redirects: int = Field(default=5, ge=0)


class MediaFile(_Strict):
    """media.yaml: which images are accepted and what each channel gets."""

    allowed_formats: list[str] = Field(default=["JPEG", "PNG", "WEBP", "GIF", "TIFF"],
                                       description="Pillow format names accepted on ingest.")
    max_pixels: int = Field(default=50_000_000, gt=0, description="Decompression-bomb guard: reject larger images.")
    fetch: FetchLimits = FetchLimits()
    cache_control: str = "public, max-age=31536000, immutable"
    channels: dict[str, ChannelMedia] = {}

    def channel(self, code: str) -> ChannelMedia:
        if code not in self.channels:
            known = ", ".join(sorted(self.channels)) or "none"
            raise MediaConfigError(f"channel '{code}' declares no media rules",
                                   hint=f"add it under 'channels:' in media.yaml (declared: {known})")
        return self.channels[code]


def default_path() -> Path:
    from pim.settings import get_settings

    return get_settings().home / "media.yaml"


def load_media_file(path: Path | None = None) -> MediaFile:
    """Read media.yaml; defaults when no path is given and PIM_HOME/media.yaml does not exist."""
    import yaml

    target = path or default_path()
    if not target.exists():
        if path is not None:
            raise MediaConfigError(f"{target}: no such file")
        return MediaFile()
    try:
        data: Any = yaml.safe_load(target.read_text(encoding="utf-8")) or {}
        return MediaFile.model_validate(data)
    except yaml.YAMLError as exc:
        raise MediaConfigError(f"{target}: not valid YAML: {exc}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise MediaConfigError(f"{target} [{where}]: {first['msg']}",
                               hint="see schemas/media.schema.json") from exc
