"""Turn any accepted image into clean sRGB pixels: EXIF orientation applied, CMYK/P/LA/16-bit converted
(through the embedded ICC profile when there is one), metadata gone, transparency kept or flattened."""

from __future__ import annotations

import io
import logging

from PIL import Image, ImageCms, ImageOps

log = logging.getLogger(__name__)
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def normalize(img: Image.Image) -> Image.Image:
    """Return an RGB or RGBA image without metadata, upright, in sRGB. The first frame of animations."""
    if getattr(img, "n_frames", 1) > 1:
        img.seek(0)
    img = ImageOps.exif_transpose(img)
    icc = img.info.get("icc_profile")
    img = _to_srgb(img, icc) if icc else _plain_convert(img)
    clean = img.copy()  # a fresh image carries no info dict (EXIF, XMP, ICC, PNG text)
    clean.info = {}
    return clean


def flatten(img: Image.Image, background: str) -> Image.Image:
    """Composite transparency onto `background` (#rrggbb): JPEG has no alpha channel."""
    if img.mode != "RGBA":
        return img.convert("RGB") if img.mode != "RGB" else img
    base = Image.new("RGB", img.size, background)
    base.paste(img, mask=img.getchannel("A"))
    return base


def _plain_convert(img: Image.Image) -> Image.Image:
    mode = img.mode
    if mode in ("RGB", "RGBA"):
        return img
    if mode.startswith("I;16") or mode in ("I", "F"):
        # 16-bit and 32-bit greyscale: scale to 8 bits instead of clipping everything above 255 to white.
        top = 65535 if mode.startswith("I;16") else (255 if mode == "F" else 65535)
        scaled = img.convert("I").point(lambda v: v * (255 / top)) if mode != "F" else img
        return scaled.convert("L").convert("RGB")
    if mode == "P":
        return img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
    if mode in ("LA", "PA", "La", "RGBa"):
        return img.convert("RGBA")
    if mode == "L" and "transparency" in img.info:
        return img.convert("RGBA")
    return img.convert("RGB")  # CMYK without a profile, L, 1, YCbCr, LAB...


def _to_srgb(img: Image.Image, icc: bytes) -> Image.Image:
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    except (OSError, ImageCms.PyCMSError):
        log.debug("unreadable ICC profile; converting without it")
        return _plain_convert(img)
    alpha = img.getchannel("A") if img.mode in ("RGBA", "LA") else None
    base = img if img.mode in ("RGB", "CMYK", "L") else _plain_convert(img).convert("RGB")
    try:
        out = ImageCms.profileToProfile(base, source, _SRGB, outputMode="RGB")
    except (ImageCms.PyCMSError, ValueError, OSError):
        log.debug("ICC profile does not match the image mode %s; converting without it", base.mode)
        return _plain_convert(img)
    if out is None:  # pragma: no cover - only with inPlace=True
        return _plain_convert(img)
    if alpha is not None:
        out.putalpha(alpha)
    return out
