"""Configuration from the environment (PIM_*), with embedded defaults that need nothing installed."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

#: Lets `make demo` and the tests run without setup; `pim serve` and the web app warn loudly while it is in use.
DEFAULT_SECRET_KEY = "dev-insecure-change-me"
DEFAULT_SECRET_WARNING = ("PIM_SECRET_KEY is not set: session cookies and CSRF tokens are signed with the public "
                          "default key, so anyone can forge them. Set PIM_SECRET_KEY to a long random value (e.g. "
                          "the output of `python -c 'import secrets; print(secrets.token_urlsafe(48))'`) before "
                          "anyone but you uses this server.")


class Settings(BaseSettings):
    """Everything a run needs to know about where things live. Defaults: SQLite and local files under PIM_HOME."""

    model_config = SettingsConfigDict(env_prefix="PIM_", extra="ignore")

    home: Path = Field(default=Path(".pim"), description="Workspace: database, media and outputs by default.")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; SQLite in PIM_HOME when unset.")
    output: Path | None = Field(default=None, description="Where publish writes; PIM_HOME/out when unset.")
    publish_drop_share: float | None = Field(default=None, gt=0, le=1, description="The publish guard refuses a "
                                             "whole-channel publish that more than this share of the products the "
                                             "channel's last publish put out would leave (swapped for others or "
                                             "held back), and at least PIM_PUBLISH_DROP_MIN of them; unset: 0.5.")
    publish_drop_min: int | None = Field(default=None, ge=0, description="How many products at least must leave a "
                                         "channel for the publish guard to refuse (PIM_PUBLISH_DROP_SHARE); unset: "
                                         "50.")
    media_dir: Path | None = Field(default=None, description="Local asset store; PIM_HOME/media when unset.")
    media_roots: Annotated[list[Path], NoDecode] = Field(default=[], description="Folders `pim media ingest` may "
                                                        "read image refs from besides its --base folder (absolute "
                                                        "refs, e.g. a shared photo folder): paths separated by "
                                                        "':' or a JSON list. A ref resolving anywhere else is "
                                                        "refused unread.")
    media_allow_private_urls: bool = Field(default=False, description="Let `pim media ingest` fetch image URLs "
                                           "whose host resolves to a loopback, private, link-local, multicast or "
                                           "reserved address (an intranet media server); off, such URLs are "
                                           "refused unfetched, so an image value cannot reach internal services.")
    media_upload_max_bytes: int = Field(default=50 * 1024 * 1024, gt=0, description="Largest image the product "
                                        "page's upload takes (bytes); a larger one is refused with 413 before it "
                                        "is read.")
    workers: int = Field(default=max(1, (os.cpu_count() or 2)), ge=1, description="Executor workers for fan-out.")
    executor: str = Field(default="process", description="'process', 'thread', or 'dask:<scheduler-address>'.")
    batch_size: int = Field(default=2000, ge=1, description="Rows per database write batch.")
    import_workers: int = Field(default=1, ge=1, description="Processes (through PIM_EXECUTOR) merging a merged "
                                "source's batches while this one writes them; 1 merges in-process.")
    job_heartbeat_seconds: float = Field(default=30.0, ge=0, description="How often a running job stamps its "
                                         "heartbeat; a job silent for 4 intervals shows as interrupted on other "
                                         "hosts. Set it alike everywhere; 0 turns it off.")
    web_workers: int = Field(default=1, ge=0, description="Queue workers (`pim worker`) `pim serve` starts beside "
                             "the web server and stops with it; 0: none (run `pim worker` elsewhere).")
    worker_read_only_wait: float = Field(default=600.0, ge=0, description="How long a `pim worker` waits, in "
                                         "seconds, for a database that takes no writes (a replica, a server in "
                                         "recovery), connecting anew at each try so a failover is followed, before "
                                         "it exits 4 (PIM_DATABASE_URL then most likely names a replica).")
    quarantine_retention_days: int | None = Field(default=None, description="Quarantine entries closed more "
                                                  "than this many days ago go at each maintenance pass (`pim "
                                                  "maintain`); also the default of `pim import prune "
                                                  "--closed-older-than DAYS`. Unset: kept (at least 1; checked by "
                                                  "the pass and the command).")
    download_log_retention_days: int | None = Field(default=None, description="Portal download-log rows older than "
                                                    "this many days go at each maintenance pass (`pim maintain`); "
                                                    "also the age `pim feeds downloads --prune` cuts at when "
                                                    "--prune-older-than is not given. Unset: kept (at least 1; "
                                                    "checked by the pass and the command).")
    upload_retention_days: int | None = Field(default=None, description="Files under PIM_HOME/uploads go at each "
                                              "maintenance pass once their import job ended this many days ago "
                                              "(never while it is queued or running, or has open quarantine "
                                              "entries); unset: kept (at least 1; checked by the pass).")
    feed_retention_days: int | None = Field(default=None, description="Feed files built more than this many days "
                                            "ago go at each maintenance pass, by the rules of `pim feeds prune "
                                            "--older-than DAYS` (every delivered file from a contract's newest "
                                            "delivered full feed on stays; the log keeps their rows); unset: kept "
                                            "(at least 1; checked by the pass).")
    feed_snapshot_max_mb: float | None = Field(default=None, ge=0, description="The most a feed delivery run's "
                                               "catalog snapshot may take per worker, in MB (estimated before it is "
                                               "read: pim.feed_snapshot); a catalog above it is scanned per contract "
                                               "instead. Unset: 512; 0: never hold a snapshot.")
    feed_stock_keys: str = Field(default="both", pattern="^(both|plant|location)$", description="Which stock "
                                 "reading counts for a SKU stored under a storage location alone (`0001`, an "
                                 "older ERP stock CSV) and under its plant and location (`1000/0001`, SAP MATMAS), "
                                 "in every output alike (feeds, search documents, Google Merchant, the gate's stock "
                                 "age: pim.stock_sums): both (summed; feed builds warn, naming them), plant or "
                                 "location.")
    maintenance_interval_hours: float = Field(default=24.0, ge=0, description="How often one of the `pim worker` "
                                              "processes runs the maintenance pass (`pim maintain`) while idle; "
                                              "0 turns it off (run `pim maintain` from a timer instead).")
    secret_key: str = Field(default=DEFAULT_SECRET_KEY, description="Signs web sessions and CSRF tokens; the web "
                            "app and `pim serve` warn at start while it is the default.")
    cookie_secure: bool | None = Field(default=None, description="Mark the session cookies `Secure`, so browsers "
                                       "send them over HTTPS only. Unset: on when PIM_PUBLIC_URL starts with "
                                       "https://.")
    forwarded_allow_ips: Annotated[list[str], NoDecode] = Field(default=[], description="The reverse proxies (IP "
                                                               "addresses or networks, comma-separated; '*' for "
                                                               "any) whose X-Forwarded-For and X-Forwarded-Proto "
                                                               "`pim serve` believes. Unset: none; every request's "
                                                               "client address is the connecting one (a proxy's "
                                                               "own), which the sign-in throttle counts by.")
    cdn_base_url: str | None = Field(default=None, description="Public base URL for media renditions.")
    public_url: str | None = Field(default=None, description="Base URL people reach the web app at (links in "
                                   "e-mails, e.g. https://pim.example.com). Unset: no password-reset mail is sent "
                                   "(a link never follows the request's Host header), but to localhost on this "
                                   "machine.")
    smtp_host: str | None = Field(default=None, description="Mail server for password-reset mails; unset: no mail "
                                  "is sent and the portal offers no reset.")
    smtp_port: int = Field(default=587, ge=1, le=65535, description="Port of PIM_SMTP_HOST.")
    smtp_starttls: bool = Field(default=True, description="Upgrade the SMTP connection with STARTTLS (port 587).")
    smtp_user: str | None = None
    smtp_password: str | None = None
    mail_from: str = Field(default="pim@localhost", description="Sender address of the mails sent from here.")
    s3_bucket: str | None = None
    s3_prefix: str = ""
    s3_endpoint_url: str | None = None

    @field_validator("media_roots", mode="before")
    @classmethod
    def _path_list(cls, value: Any) -> Any:
        """PIM_MEDIA_ROOTS as the shell writes a PATH (`/srv/photos:/mnt/dam`), or as a JSON list."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            import json

            try:
                return json.loads(text)
            except ValueError:
                raise ValueError(f"PIM_MEDIA_ROOTS {text!r} is not a JSON list; write folders separated by "
                                 f"'{os.pathsep}' (/srv/photos{os.pathsep}/mnt/dam) or a JSON list "
                                 '(["/srv/photos"])') from None
        return [part.strip() for part in text.split(os.pathsep) if part.strip()]

    @field_validator("forwarded_allow_ips", mode="before")
    @classmethod
    def _proxies(cls, value: Any) -> Any:
        """A comma list of addresses and networks, checked here: uvicorn takes a typo (or a network with host bits
        set) as a name that never matches."""
        import ipaddress

        parts = [p.strip() for p in value.split(",") if p.strip()] if isinstance(value, str) else value
        if not isinstance(parts, list):
            return parts
        try:
            return [p if p == "*" else str(ipaddress.ip_network(p, strict=False)) if "/" in p
                    else str(ipaddress.ip_address(p)) for p in parts]
        except ValueError as exc:
            raise ValueError(f"PIM_FORWARDED_ALLOW_IPS: {exc}; write the proxies' IP addresses or networks "
                             "separated by commas (10.0.0.5,10.1.0.0/16), or '*' for any") from None

    @property
    def secure_cookies(self) -> bool:
        """Whether session cookies carry `Secure`: PIM_COOKIE_SECURE, else whether PIM_PUBLIC_URL is https."""
        if self.cookie_secure is not None:
            return self.cookie_secure
        return (self.public_url or "").lower().startswith("https://")

    @property
    def default_secret(self) -> bool:
        return self.secret_key == DEFAULT_SECRET_KEY

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'pim.db').resolve()}"

    @property
    def output_dir(self) -> Path:
        return self.output if self.output is not None else self.home / "out"

    @property
    def media_root(self) -> Path:
        return self.media_dir if self.media_dir is not None else self.home / "media"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings, read once. A bad PIM_* value is a ConfigError (exit 3) naming the variable, its value and
    what it takes, raised here so that the CLI, the web app and the workers all refuse to start alike."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        from pim.errors import ConfigError

        problems = [_described(e) for e in exc.errors()]
        raise ConfigError(f"bad setting{'s' if len(problems) > 1 else ''}: {'; '.join(problems)}",
                          hint="fix or unset the variable in the environment and run again") from None


def _described(error: Any) -> str:
    """One pydantic error as `PIM_NAME='value' should be …` (or the validator's own sentence, which names it)."""
    name = "PIM_" + str(error["loc"][0]).upper() if error["loc"] else "PIM_*"
    message = str(error["msg"]).removeprefix("Value error, ")
    if message.startswith(name):
        return message
    return f"{name}={error.get('input')!r} " + (message.replace("Input should", "should", 1)
                                                  if message.startswith("Input should") else f"is not valid: {message}")


def reset_settings() -> None:
    """Tests change the environment; this drops the cached settings."""
    get_settings.cache_clear()
