"""Image files for a generated catalog's image values, so the demo can run the media area (ingest, checks,
renditions) and the channels link real renditions. A small pool of distinct pictures is drawn once and every
ref is a hard link to one of them (a copy where links are not possible): thousands of refs cost a few
megabytes, and the same bytes under many refs is what ingest deduplicates anyway.

A few refs get a picture below the demo channel's minimum size, and a few a truncated file, so the demo shows
what `pim media problems` and the Google Merchant `unusable_image` block look like."""

from __future__ import annotations

import hashlib
import io
import os
import random
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

POOL = 48
SIZE = 640  # above the demo media.yaml's 500 px minimum
SMALL_EVERY = 97  # about 1 % of refs: a 240 px picture (too small for the channel)
BROKEN_EVERY = 211  # about 0.5 %: a truncated JPEG (rejected at ingest)


@dataclass
class WrittenImages:
    refs: int = 0
    small: int = 0
    broken: int = 0
    skipped: list[str] = field(default_factory=list)  # refs that are not a safe relative path (URLs, ../)

    def as_dict(self) -> dict[str, int]:
        return {"image files": self.refs, "too small": self.small, "truncated": self.broken,
                "not a relative path": len(self.skipped)}


def _picture(rng: random.Random, size: int) -> bytes:
    from PIL import Image, ImageDraw

    background = tuple(rng.randint(215, 250) for _ in range(3))
    img = Image.new("RGB", (size, size), background)  # type: ignore[arg-type]
    draw = ImageDraw.Draw(img)
    for _ in range(rng.randint(2, 5)):
        x0, y0 = rng.randint(0, size * 2 // 3), rng.randint(0, size * 2 // 3)
        x1, y1 = x0 + rng.randint(size // 8, size // 3), y0 + rng.randint(size // 8, size // 3)
        colour = tuple(rng.randint(20, 200) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)  # type: ignore[arg-type]
    out = io.BytesIO()
    img.save(out, "JPEG", quality=82)
    return out.getvalue()


def _pool(root: Path, seed: int) -> tuple[list[Path], Path, Path]:
    """The pool's files under `root/.pool`: POOL pictures, one too small, one truncated."""
    rng = random.Random(seed)
    folder = root / ".pool"
    folder.mkdir(parents=True, exist_ok=True)
    pictures = []
    for n in range(POOL):
        path = folder / f"{n:02d}.jpg"
        path.write_bytes(_picture(rng, SIZE))
        pictures.append(path)
    small = folder / "small.jpg"
    small.write_bytes(_picture(rng, 240))
    broken = folder / "broken.jpg"
    whole = _picture(rng, SIZE)
    broken.write_bytes(whole[: len(whole) // 3])
    return pictures, small, broken


def _safe(ref: str) -> PurePosixPath | None:
    path = PurePosixPath(ref)
    if "://" in ref or path.is_absolute() or ".." in path.parts or not path.parts:
        return None
    return path


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:  # another file system, or links not allowed: a copy does the same
        shutil.copyfile(source, target)


def write_images(root: Path, refs: Iterable[str], seed: int = 42) -> WrittenImages:
    """A file under `root` for every relative ref (streamed; deterministic for a seed: a hash of the ref picks
    the picture)."""
    pictures, small, broken = _pool(root, seed)
    done = WrittenImages()
    for ref in refs:
        rel = _safe(ref)
        if rel is None:
            done.skipped.append(ref)
            continue
        pick = int.from_bytes(hashlib.blake2b(ref.encode(), digest_size=8).digest(), "big")
        if pick % BROKEN_EVERY == 0:
            source, done.broken = broken, done.broken + 1
        elif pick % SMALL_EVERY == 0:
            source, done.small = small, done.small + 1
        else:
            source = pictures[pick % len(pictures)]
        _link(source, root / rel)
        done.refs += 1
    return done
