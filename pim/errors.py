"""One error hierarchy, so callers catch at the level they care about and the CLI maps each to an exit code."""

from __future__ import annotations


class PimError(Exception):
    """Base of every error the pipeline raises on purpose."""

    exit_code = 1
    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    def describe(self) -> str:
        text = str(self)
        return f"{text}\n  → {self.hint}" if self.hint else text

    def in_one_line(self) -> str:
        """The message and its hint as one line, for a form field's error or a JSON answer."""
        return f"{self}; {self.hint}" if self.hint else str(self)


class InputError(PimError):
    """A bad file, row or value. Carries where it was found so that it can be fixed and re-imported."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.file = file
        self.line = line
        self.field = field

    def location(self) -> str:
        parts = [p for p in (self.file, str(self.line) if self.line else None) if p]
        where = ":".join(parts)
        if self.field:
            where = f"{where} [{self.field}]" if where else f"[{self.field}]"
        return where

    def describe(self) -> str:
        where = self.location()
        text = f"{where}: {self}" if where else str(self)
        return f"{text}\n  → {self.hint}" if self.hint else text


class UnsupportedInput(InputError):
    """Input we recognise but deliberately do not support (e.g. a BMEcat 1.2 ARTICLE catalog)."""


class ConfigError(PimError):
    """Settings or declarative files that make no sense together."""

    exit_code = 3


class StoreError(PimError):
    """The database is unreachable, not migrated, or refused a write."""

    exit_code = 4


class DeliveryError(PimError):
    """A push to a target (SFTP, S3, Meilisearch) failed. `retryable` tells the caller whether to try again."""

    exit_code = 5

    def __init__(self, message: str, *, retryable: bool = False, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retryable = retryable


class GateBlocked(PimError):
    """Products may not be published on a channel: `pim gate check` exits with this when any is blocked."""

    exit_code = 6
