"""Validation: a real decode, a format allow list, a decompression-bomb guard; rejections carry reasons."""

from __future__ import annotations

import pytest

from media.errors import AssetRejected
from media.settings import ChannelMedia
from media.validate import inspect
from tests import images

ALLOWED = ["JPEG", "PNG", "WEBP", "GIF"]


def check(data: bytes, allowed: list[str] = ALLOWED, max_pixels: int = 50_000_000):
    return inspect(data, allowed_formats=allowed, max_pixels=max_pixels)


def test_a_good_jpeg_reports_format_and_size() -> None:
    info = check(images.jpeg(64, 48))
    assert (info.format, info.width, info.height) == ("JPEG", 64, 48)


def test_animated_gif_is_accepted_with_its_frame_count() -> None:
    assert check(images.animated_gif(3)).frames == 3


def test_truncated_jpeg_is_rejected_as_corrupt() -> None:
    with pytest.raises(AssetRejected, match="corrupt image: image file is truncated"):
        check(images.truncated_jpeg())


def test_text_file_named_jpg_is_rejected_as_not_an_image() -> None:
    with pytest.raises(AssetRejected, match="not an image"):
        check(images.text_as_jpg())


def test_empty_file_is_rejected() -> None:
    with pytest.raises(AssetRejected, match="empty file"):
        check(b"")


def test_header_claiming_ten_billion_pixels_is_rejected_by_the_bomb_guard() -> None:
    with pytest.raises(AssetRejected, match="decompression bomb"):
        check(images.bomb_png(100_000, 100_000))


def test_image_over_our_own_pixel_limit_is_rejected_before_decoding() -> None:
    with pytest.raises(AssetRejected, match="64000000 pixels, more than 50000000"):
        check(images.bomb_png(8000, 8000))


def test_format_outside_the_allow_list_is_rejected_with_the_list() -> None:
    with pytest.raises(AssetRejected, match="format GIF is not accepted") as caught:
        check(images.animated_gif(), allowed=["JPEG", "PNG"])
    assert caught.value.hint == "accepted: JPEG, PNG"


def test_channel_minimum_size_and_aspect_ratio_give_reasons() -> None:
    rules = ChannelMedia(min_width=500, min_height=500, min_aspect_ratio=0.9, max_aspect_ratio=1.1)
    assert rules.problems(800, 800) == []
    assert rules.problems(400, 800) == ["width 400px < 500px", "aspect ratio 0.500 < 0.9"]
    assert rules.problems(1600, 800) == ["aspect ratio 2.000 > 1.1"]
