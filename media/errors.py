"""The media area's errors, placed in the project's hierarchy so callers catch at the level they care about."""

from __future__ import annotations

from pim.errors import ConfigError, DeliveryError, InputError

__all__ = ["AssetRejected", "BaseFolderMissing", "FetchFailed", "MediaConfigError", "NotAnImage", "RefRefused",
           "StoreUnavailable"]


class AssetRejected(InputError):
    """The bytes are not an image we accept (corrupt, wrong format, too many pixels, too small...).
    Recorded as an asset problem with this message as its reason; never a crash."""


class NotAnImage(AssetRejected):
    """The bytes are no image at all (empty, or no image format recognised): their rejection keeps nothing in the
    quarantine (media.rejected), as nothing there would help a person fix an image, and a text file, a key or a
    process's environment must never become downloadable."""


class FetchFailed(InputError):
    """A local path or URL could not be read (missing, timeout, too large, too many redirects, HTTP error)."""


class RefRefused(FetchFailed):
    """A ref the server must not read: a path outside the media roots, a URL to an internal address. Refused
    unread; bytes an earlier run kept for it leave the quarantine (media.rejected)."""


class BaseFolderMissing(FetchFailed):
    """A relative local ref with no --base folder to read it from (the current folder is never one): a setting
    missing, not a bad ref, so ingest skips it and records nothing, and a forgotten --base does not mark a
    catalog's images unreadable nor drop what the quarantine kept for them."""


class MediaConfigError(ConfigError):
    """media.yaml or the renditions asked for make no sense (unknown channel, unknown rendition...)."""


class StoreUnavailable(DeliveryError):
    """The asset store refused or failed a write or read (missing bucket, network, interrupted upload)."""
