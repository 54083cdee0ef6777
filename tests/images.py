"""Real image files built in memory for the media tests: every awkward case the pipeline must survive."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

CMYK_ICC = "/usr/share/color/icc/ghostscript/default_cmyk.icc"  # Debian package libgs-common


def _save(img: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **options)
    return out.getvalue()


def jpeg(width: int = 64, height: int = 48, color: tuple[int, int, int] = (200, 30, 30), quality: int = 90) -> bytes:
    return _save(Image.new("RGB", (width, height), color), "JPEG", quality=quality)


def photo_jpeg(width: int = 1200, height: int = 834, seed: int = 0) -> bytes:
    """A ~1-megapixel JPEG with real detail (gradients + noise), so encoders do real work."""
    gradient = Image.linear_gradient("L").resize((width, height))
    noise = Image.effect_noise((width, height), 40 + seed % 20)
    img = Image.merge("RGB", (gradient, noise, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    return _save(img, "JPEG", quality=88)


def png(width: int = 64, height: int = 48, color: tuple[int, int, int] = (20, 120, 220)) -> bytes:
    return _save(Image.new("RGB", (width, height), color), "PNG")


def cmyk_jpeg(icc: bytes | None = None, cmyk: tuple[int, int, int, int] = (0, 255, 255, 0)) -> bytes:
    """Pure red in CMYK terms (no cyan, full magenta and yellow)."""
    options = {"icc_profile": icc} if icc else {}
    return _save(Image.new("CMYK", (40, 30), cmyk), "JPEG", quality=95, **options)


def palette_png(transparent: bool = True) -> bytes:
    img = Image.new("P", (32, 32), 1)
    img.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)
    for x in range(16):
        for y in range(32):
            img.putpixel((x, y), 0)
    return _save(img, "PNG", transparency=0) if transparent else _save(img, "PNG")


def png16(value: int = 32768) -> bytes:
    """A 16-bit greyscale PNG (mode I;16) at mid-grey."""
    return _save(Image.new("I;16", (20, 10), value), "PNG")


def exif_rotated_jpeg(orientation: int = 6) -> bytes:
    """Stored 60×20 with a red left edge; orientation 6 means 'rotate 90° clockwise to display'."""
    img = Image.new("RGB", (60, 20), (255, 255, 255))
    img.paste((255, 0, 0), (0, 0, 10, 20))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _save(img, "JPEG", exif=exif.tobytes(), quality=95)


def animated_gif(frames: int = 3) -> bytes:
    images = [Image.new("P", (30, 20), i + 1) for i in range(frames)]
    for img in images:
        img.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 756)
    return _save(images[0], "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)


def transparent_png() -> bytes:
    """Left half opaque blue, right half fully transparent."""
    img = Image.new("RGBA", (40, 20), (0, 0, 0, 0))
    img.paste((0, 0, 255, 255), (0, 0, 20, 20))
    return _save(img, "PNG")


def truncated_jpeg() -> bytes:
    data = photo_jpeg(200, 150)
    return data[: len(data) // 2]


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG header claiming width×height pixels, with almost no data behind it."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def text_as_jpg() -> bytes:
    return b"sku;name\n1;this is a CSV export, not a picture\n"


def with_metadata_jpeg() -> bytes:
    """A JPEG carrying EXIF (camera model) and a comment: both must be gone from renditions."""
    exif = Image.Exif()
    exif[0x0110] = "SecretCam 3000"
    return _save(Image.new("RGB", (50, 50), (10, 200, 10)), "JPEG", exif=exif.tobytes(), comment=b"internal note")
