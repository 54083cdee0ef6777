"""Feed file names that sort in delivery order. A customer replaying an SFTP folder by name must apply files in
the order they were delivered; names that began with the kind (`-delta_prices-` before `-delta_products-`
before `-full-`) did not, and brought deleted products and stale prices back. A name now reads
`{contract}-v{version:06}-{UTC stamp}Z-{kind}.{ext}`: the contract's delivery counter first (a clock on another
host cannot reorder it), then the build's UTC time (a version built again after a failure or a hold sorts after
the earlier try). Files named before round 34 keep their names."""

from __future__ import annotations

from datetime import UTC, datetime

VERSION_DIGITS = 6


def feed_file_name(contract: str, version: int, generated_at: datetime, kind: str, extension: str) -> str:
    """The name of the file carrying `version` of the contract's feed, built at `generated_at`."""
    stamp = generated_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{contract}-v{version:0{VERSION_DIGITS}d}-{stamp}-{kind}.{extension}"
