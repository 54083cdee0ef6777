"""Normalisation and rendering: upright, sRGB, no metadata, transparency flattened for JPEG, sizes right."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from media.normalize import normalize
from media.renditions import render
from media.settings import RenditionSpec
from tests import images
from tests.services.binaries import require


def opened(data: bytes) -> Image.Image:
    return normalize(Image.open(io.BytesIO(data)))


def rendered(data: bytes, **spec: object) -> Image.Image:
    [(_, body, _)] = render(data, [RenditionSpec(name="r", **spec)])  # type: ignore[arg-type]
    return Image.open(io.BytesIO(body))


def test_exif_orientation_is_applied() -> None:
    img = opened(images.exif_rotated_jpeg(6))
    assert img.size == (20, 60)
    assert img.getpixel((10, 2))[0] > 200 and img.getpixel((10, 2))[1] < 60  # red edge is now on top
    assert img.getpixel((10, 55)) > (200, 200, 200)


def test_cmyk_without_profile_becomes_rgb() -> None:
    img = opened(images.cmyk_jpeg())
    assert img.mode == "RGB"
    r, g, b = img.getpixel((5, 5))
    assert r > 240 and g < 20 and b < 20


def test_cmyk_with_embedded_icc_profile_is_converted_through_it() -> None:
    icc = Path(require(images.CMYK_ICC, "apt-get install -y libgs-common")).read_bytes()
    img = opened(images.cmyk_jpeg(icc=icc))
    naive = opened(images.cmyk_jpeg())
    assert img.mode == "RGB" and "icc_profile" not in img.info
    r, g, b = img.getpixel((5, 5))
    assert r > 200 and g < 80 and b < 80  # still red...
    assert (r, g, b) != naive.getpixel((5, 5))  # ...but as the profile says, not the naive formula


def test_palette_png_with_transparency_becomes_rgba() -> None:
    img = opened(images.palette_png(transparent=True))
    assert img.mode == "RGBA"
    assert img.getpixel((2, 2))[3] == 0 and img.getpixel((30, 2)) == (0, 200, 0, 255)


def test_sixteen_bit_greyscale_is_scaled_not_clipped() -> None:
    img = opened(images.png16(32768))
    assert img.mode == "RGB"
    assert 120 <= img.getpixel((3, 3))[0] <= 135


def test_animated_gif_renders_its_first_frame() -> None:
    img = rendered(images.animated_gif(), max_width=30, max_height=20, format="PNG")
    assert img.getpixel((5, 5))[:3] == (255, 0, 0)


def test_transparent_png_to_jpeg_is_flattened_onto_the_declared_background() -> None:
    img = rendered(images.transparent_png(), max_width=40, max_height=20, format="JPEG", background="#ff00ff")
    assert img.mode == "RGB"
    r, g, b = img.getpixel((35, 10))
    assert r > 240 and g < 20 and b > 240
    assert img.getpixel((5, 10))[2] > 240


def test_transparent_png_to_webp_keeps_alpha() -> None:
    img = rendered(images.transparent_png(), max_width=40, max_height=20, format="WEBP")
    assert img.mode == "RGBA" and img.getpixel((35, 10))[3] == 0


def test_renditions_carry_no_exif_icc_or_comment() -> None:
    img = rendered(images.with_metadata_jpeg(), max_width=50, max_height=50, format="JPEG")
    assert not img.getexif() and "icc_profile" not in img.info and "comment" not in img.info


def test_fit_keeps_the_whole_image_inside_the_box() -> None:
    assert rendered(images.photo_jpeg(1200, 800), max_width=300, max_height=300).size == (300, 200)


def test_crop_fills_the_box_exactly() -> None:
    assert rendered(images.photo_jpeg(1200, 800), max_width=300, max_height=300, fit="crop").size == (300, 300)


def test_small_images_are_never_upscaled() -> None:
    assert rendered(images.jpeg(64, 48), max_width=1000, max_height=1000).size == (64, 48)


def test_spec_hash_ignores_the_name_but_not_the_pixels() -> None:
    a = RenditionSpec(name="thumb", max_width=200, max_height=200)
    assert a.spec_hash == RenditionSpec(name="small", max_width=200, max_height=200).spec_hash
    assert a.spec_hash != RenditionSpec(name="thumb", max_width=200, max_height=200, quality=70).spec_hash
