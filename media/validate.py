"""Is this really an image we accept? A real decode (verify, then load), a format allow list and a
decompression-bomb guard. Every failure is an `AssetRejected` with a reason a person can act on."""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from media.errors import AssetRejected, NotAnImage


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int
    frames: int = 1


def inspect(data: bytes, *, allowed_formats: list[str] | tuple[str, ...], max_pixels: int) -> ImageInfo:
    """Decode `data` fully; return what it is, or raise AssetRejected saying why it is not usable."""
    if not data:
        raise NotAnImage("empty file")
    with warnings.catch_warnings():
        # Pillow warns above MAX_IMAGE_PIXELS and raises above twice that; we want one rule: reject.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return _inspect(data, allowed_formats, max_pixels)
        except AssetRejected:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise AssetRejected(f"decompression bomb guard: {exc}") from exc
        except UnidentifiedImageError as exc:
            raise NotAnImage("not an image (no known image format recognised)") from exc
        except (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, TypeError) as exc:
            raise AssetRejected(f"corrupt image: {exc}") from exc


def _inspect(data: bytes, allowed: list[str] | tuple[str, ...], max_pixels: int) -> ImageInfo:
    with Image.open(io.BytesIO(data)) as img:
        fmt = img.format or "?"
        width, height = img.size
        frames = getattr(img, "n_frames", 1)
        if fmt not in allowed:
            raise AssetRejected(f"format {fmt} is not accepted", hint=f"accepted: {', '.join(allowed)}")
        if width * height > max_pixels:
            raise AssetRejected(f"decompression bomb guard: {width}×{height} = {width * height} pixels, "
                                f"more than {max_pixels}")
        if width <= 0 or height <= 0:
            raise AssetRejected(f"image has no pixels ({width}×{height})")
        img.verify()
    # verify() leaves the image unusable and does not decode pixel data; load() catches truncation.
    with Image.open(io.BytesIO(data)) as img:
        img.load()
    return ImageInfo(format=fmt, width=width, height=height, frames=frames)
